//! Where an object URL points: the bucket, the key and (when the host says
//! so) UFile's region label, from the URL forms UFile uses; whether the URL
//! already carries a signature and when it expires; the URL to request when
//! a base URL redirects object requests (path-style `{base}/BUCKET/KEY`);
//! and the presigned URL handed to ImportCustomImage.
//!
//! A URL may hold a signature, which is a credential for that object: the
//! `Debug` and `Display` forms here show it as `***`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use url::Url;

use super::sign::{Credentials, StringToSign};
use crate::ucloud::secret::redact_url;

/// The query parameters of a presigned UFile URL.
pub const SIGNATURE_PARAMS: [&str; 3] = ["UCloudPublicKey", "Signature", "Expires"];

/// An object URL mapped to a UFile object.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// As the user wrote it (normalised by URL parsing).
    given: Url,
    /// What to send requests to: `given`, or its path-style form under the base URL.
    request: Url,
    bucket: String,
    key: String,
    host_region: Option<String>,
    presigned: Option<Presigned>,
}

/// The signature a URL already carries (the signature itself stays in the URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presigned {
    pub public_key: String,
    /// Unix seconds; UFile refuses the URL from then on.
    pub expires: u64,
}

impl Presigned {
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(self.expires)
    }

    /// Whether the URL is no longer valid at `t`.
    pub fn expired_at(&self, t: SystemTime) -> bool {
        t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) >= self.expires
    }
}

/// Why an object URL does not name a UFile object this client can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{url}` is not a URL: {reason}")]
    Invalid { url: String, reason: String },
    #[error("`{url}` uses the scheme `{scheme}`; UFile objects are read over http or https")]
    Scheme { url: String, scheme: String },
    /// A custom domain, an IP address or another service: only UFile's own
    /// host names say which bucket they serve.
    #[error(
        "the host `{host}` is not a UFile endpoint (BUCKET.REGION.ufileos.com, BUCKET.ufile.ucloud.cn, ...), so the bucket is unknown"
    )]
    UnknownHost { host: String },
    #[error("`{url}` names a bucket but no object (the path after the bucket is empty)")]
    NoKey { url: String },
    #[error("`{url}`: the object key is not valid UTF-8 once percent-decoded")]
    KeyNotUtf8 { url: String },
    /// UFile would refuse it, and the client must not add a second signature.
    #[error(
        "`{url}` carries {present} but not {missing}: a presigned UFile URL has all of UCloudPublicKey, Signature and Expires"
    )]
    IncompleteSignature {
        url: String,
        present: String,
        missing: String,
    },
    #[error("`{url}`: Expires={value} is not a unix time in seconds")]
    BadExpires { url: String, value: String },
    #[error("the UFile base URL `{url}` is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
}

impl UrlError {
    /// The URL is certainly wrong (as opposed to merely not mappable by this
    /// client, like a custom domain that UCloud itself may well read).
    pub fn is_definite(&self) -> bool {
        !matches!(self, UrlError::UnknownHost { .. } | UrlError::BaseUrl { .. })
    }
}

/// Parses the UFile base URL: http(s), no query; a trailing `/` is ignored.
pub fn parse_base_url(raw: &str) -> Result<Url, UrlError> {
    let fail = |reason: &str| UrlError::BaseUrl {
        url: redact_url(raw),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw.trim()).map_err(|e| fail(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(fail("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(fail("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(fail("it must not have a query or fragment"));
    }
    Ok(url)
}

impl ObjectUrl {
    /// Maps `raw` to its object. With `base` (from [`parse_base_url`]),
    /// requests go path-style to `{base}/BUCKET/KEY`, and a URL that is
    /// already under `base` is read as path-style itself.
    pub fn parse(raw: &str, base: Option<&Url>) -> Result<ObjectUrl, UrlError> {
        let shown = redact_url(raw);
        let given = Url::parse(raw.trim()).map_err(|e| UrlError::Invalid {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(given.scheme(), "http" | "https") {
            return Err(UrlError::Scheme {
                url: shown,
                scheme: given.scheme().to_owned(),
            });
        }
        let presigned = presigned_of(&given, &shown)?;
        let host = given.host_str().unwrap_or_default().to_ascii_lowercase();

        let under_base = base.and_then(|b| path_under(b, &given));
        let (bucket, raw_key, host_region) = if let Some(rest) = under_base {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            (bucket.to_owned(), key.to_owned(), None)
        } else {
            let (bucket, host_region) = map_host(&host).ok_or_else(|| UrlError::UnknownHost { host: host.clone() })?;
            let key = given.path().strip_prefix('/').unwrap_or(given.path()).to_owned();
            (bucket, key, host_region)
        };
        let key = percent_decode(&raw_key).ok_or_else(|| UrlError::KeyNotUtf8 { url: shown.clone() })?;
        if bucket.is_empty() || key.is_empty() {
            return Err(UrlError::NoKey { url: shown });
        }

        let request = match base {
            Some(b) if under_base.is_none() => {
                let mut r = b.clone();
                let prefix = b.path().trim_end_matches('/');
                r.set_path(&format!("{prefix}/{}/{}", encode_path(&bucket), encode_path(&key)));
                r.set_query(given.query());
                r
            }
            _ => {
                let mut r = given.clone();
                r.set_fragment(None);
                r
            }
        };
        Ok(ObjectUrl {
            given,
            request,
            bucket,
            key,
            host_region,
            presigned,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key, percent-decoded (as it is signed).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// UFile's region label from a `BUCKET.REGION.ufileos.com` host. Not the
    /// UHost region (`cn-bj` hosts `cn-bj2` buckets): only `DescribeBucket`
    /// knows that.
    pub fn host_region(&self) -> Option<&str> {
        self.host_region.as_deref()
    }

    /// The signature the URL carries, if any: such a URL is used as given.
    pub fn presigned(&self) -> Option<&Presigned> {
        self.presigned.as_ref()
    }

    /// The resource part of the string to sign: `/BUCKET/KEY`, key raw.
    pub fn resource(&self) -> String {
        format!("/{}/{}", self.bucket, self.key)
    }

    /// The URL object requests go to. It may carry a signature: never log it
    /// (log [`ObjectUrl`]'s `Display` instead).
    pub fn request_url(&self) -> &Url {
        &self.request
    }

    /// The URL ImportCustomImage should fetch: this one as given when it is
    /// already signed, otherwise the given URL presigned for GET until
    /// `expires` (unix seconds), as UCloud's Packer plugin does for private
    /// buckets.
    pub fn presigned_for_import(&self, credentials: &Credentials, expires: u64) -> SignedUrl {
        if self.presigned.is_some() {
            return SignedUrl(self.given.clone());
        }
        SignedUrl(presign(&self.given, &self.bucket, &self.key, credentials, expires))
    }
}

/// Appends `UCloudPublicKey`, `Expires` and `Signature` (for GET) to `url`,
/// keeping its other query parameters.
pub fn presign(url: &Url, bucket: &str, key: &str, credentials: &Credentials, expires: u64) -> Url {
    let expires = expires.to_string();
    let signature = credentials.sign(&StringToSign::presigned("GET", bucket, key, &expires));
    let mut out = url.clone();
    out.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !SIGNATURE_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    out.set_query(None);
    {
        let mut q = out.query_pairs_mut();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("UCloudPublicKey", credentials.public_key())
            .append_pair("Expires", &expires)
            .append_pair("Signature", signature.expose());
    }
    out
}

/// A URL that carries a signature. `Debug`/`Display` show it as `***`;
/// [`SignedUrl::expose`] gives the real one, for the one request that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedUrl(Url);

impl SignedUrl {
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn into_url(self) -> Url {
        self.0
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedUrl({})", redact_url(self.0.as_str()))
    }
}

impl fmt::Display for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0.as_str()))
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.given.as_str()))
    }
}

impl fmt::Debug for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectUrl")
            .field("given", &redact_url(self.given.as_str()))
            .field("request", &redact_url(self.request.as_str()))
            .field("object", &format_args!("{}/{}", self.bucket, self.key))
            .field("host_region", &self.host_region)
            .field("presigned", &self.presigned)
            .finish()
    }
}

/// The signature parameters `url` carries: none, all (a presigned URL), or
/// some (an error: UFile would refuse it).
fn presigned_of(url: &Url, shown: &str) -> Result<Option<Presigned>, UrlError> {
    let mut found: [Option<String>; 3] = [None, None, None];
    for (k, v) in url.query_pairs() {
        if let Some(i) = SIGNATURE_PARAMS.iter().position(|p| *p == k) {
            found[i] = Some(v.into_owned());
        }
    }
    let present: Vec<&str> = (0..3)
        .filter(|&i| found[i].is_some())
        .map(|i| SIGNATURE_PARAMS[i])
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    let [Some(public_key), Some(_), Some(expires)] = found else {
        let missing: Vec<&str> = (0..3)
            .filter(|&i| found[i].is_none())
            .map(|i| SIGNATURE_PARAMS[i])
            .collect();
        return Err(UrlError::IncompleteSignature {
            url: shown.to_owned(),
            present: present.join(", "),
            missing: missing.join(", "),
        });
    };
    let expires = expires.trim().parse::<u64>().map_err(|_| UrlError::BadExpires {
        url: shown.to_owned(),
        value: expires.clone(),
    })?;
    Ok(Some(Presigned { public_key, expires }))
}

/// The still-encoded path of `url` below `base` (same origin, path prefix).
fn path_under<'a>(base: &Url, url: &'a Url) -> Option<&'a str> {
    if base.scheme() != url.scheme()
        || base.host_str().map(str::to_ascii_lowercase) != url.host_str().map(str::to_ascii_lowercase)
        || base.port_or_known_default() != url.port_or_known_default()
    {
        return None;
    }
    let prefix = base.path().trim_end_matches('/');
    url.path().strip_prefix(prefix)?.strip_prefix('/')
}

/// Bucket and region label of a UFile host name, or `None` for hosts that do
/// not name their bucket (custom domains, IP addresses, other services).
fn map_host(host: &str) -> Option<(String, Option<String>)> {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let bucket = *labels.first()?;
    if !is_bucket_name(bucket) {
        return None;
    }
    let rest = &labels[1..];
    let region = match rest {
        // BUCKET.cn-bj.ufileos.com, BUCKET.internal-cn-sh2-01.ufileos.com
        [region, "ufileos", "com"] => Some(internal_region(region)),
        // BUCKET.ufile.ucloud.cn, BUCKET.ufile.ucloud.com.cn (legacy)
        ["ufile", "ucloud", "cn"] | ["ufile", "ucloud", "com", "cn"] => None,
        // BUCKET.ufile.cn-north-02.ucloud.cn (internal, irregular labels)
        ["ufile", _, "ucloud", "cn"] | ["ufile", _, "ucloud", "com", "cn"] => None,
        _ => return None,
    };
    Some((bucket.to_owned(), region))
}

/// `internal-cn-sh2-01` -> `cn-sh2` (an inference from UFile's internal host
/// names); public labels unchanged.
fn internal_region(label: &str) -> String {
    let Some(inner) = label.strip_prefix("internal-") else {
        return label.to_owned();
    };
    match inner.rsplit_once('-') {
        Some((region, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => region.to_owned(),
        _ => inner.to_owned(),
    }
}

/// UFile bucket names: 3-63 of `a-z 0-9 -`, not starting or ending with `-`.
fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Percent-decodes `s` into UTF-8 (`+` stays `+`: this is a path).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| hex_value(*c)),
                bytes.get(i + 2).and_then(|c| hex_value(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes a key for a URL path: everything but unreserved
/// characters and `/`.
pub(super) fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ucloud::Secret;

    fn parse(raw: &str) -> ObjectUrl {
        ObjectUrl::parse(raw, None).unwrap()
    }

    #[test]
    fn maps_ufile_host_forms() {
        let o = parse("https://images.cn-bj.ufileos.com/linux/disk.qcow2");
        assert_eq!(
            (o.bucket(), o.key(), o.host_region()),
            ("images", "linux/disk.qcow2", Some("cn-bj"))
        );
        assert_eq!(o.resource(), "/images/linux/disk.qcow2");
        assert_eq!(
            o.request_url().as_str(),
            "https://images.cn-bj.ufileos.com/linux/disk.qcow2"
        );

        let o = parse("http://my-bucket.internal-cn-sh2-01.ufileos.com/a.vmdk");
        assert_eq!((o.bucket(), o.host_region()), ("my-bucket", Some("cn-sh2")));
        let o = parse("http://abc.ufile.cn-north-02.ucloud.cn/a.vhd");
        assert_eq!((o.bucket(), o.key(), o.host_region()), ("abc", "a.vhd", None));
        let o = parse("https://abc.ufile.ucloud.cn/a.raw");
        assert_eq!(o.bucket(), "abc");
        let o = parse("https://ABC.UFILE.UCLOUD.COM.CN/Disk.RAW");
        assert_eq!((o.bucket(), o.key()), ("abc", "Disk.RAW"));
    }

    #[test]
    fn decodes_the_key_for_signing_and_keeps_plus() {
        let o = parse("https://b-1.hk.ufileos.com/dir/disk%20image%2B1+2.raw");
        assert_eq!(o.key(), "dir/disk image+1+2.raw");
        let o = parse("https://b-1.hk.ufileos.com/%E9%95%9C%E5%83%8F.raw");
        assert_eq!(o.key(), "镜像.raw");
        assert!(matches!(
            ObjectUrl::parse("https://b-1.hk.ufileos.com/%FF.raw", None),
            Err(UrlError::KeyNotUtf8 { .. })
        ));
    }

    #[test]
    fn refuses_what_it_cannot_map() {
        for (raw, definite) in [
            ("https://images.example.com/disk.raw", false),
            ("https://cn-bj.ufileos.com/disk.raw", false),
            ("https://10.0.0.1/b/disk.raw", false),
            ("ftp://images.cn-bj.ufileos.com/disk.raw", true),
            ("https://images.cn-bj.ufileos.com/", true),
            ("not a url", true),
        ] {
            let e = ObjectUrl::parse(raw, None).unwrap_err();
            assert_eq!(e.is_definite(), definite, "{raw}: {e}");
        }
    }

    #[test]
    fn base_url_gives_path_style_requests_with_the_same_resource() {
        let base = parse_base_url("http://127.0.0.1:8080/ufile/").unwrap();
        let o = ObjectUrl::parse("https://images.cn-bj.ufileos.com/dir/a%20b.qcow2?x=1", Some(&base)).unwrap();
        assert_eq!(
            o.request_url().as_str(),
            "http://127.0.0.1:8080/ufile/images/dir/a%20b.qcow2?x=1"
        );
        assert_eq!(o.resource(), "/images/dir/a b.qcow2");
        assert_eq!(o.host_region(), Some("cn-bj"));

        // A URL already under the base is path-style itself.
        let o = ObjectUrl::parse("http://127.0.0.1:8080/ufile/images/k.raw", Some(&base)).unwrap();
        assert_eq!((o.bucket(), o.key()), ("images", "k.raw"));
        assert_eq!(o.request_url().as_str(), "http://127.0.0.1:8080/ufile/images/k.raw");
        assert!(parse_base_url("http://h/?q=1").is_err());
        assert!(parse_base_url("file:///tmp").is_err());
    }

    #[test]
    fn detects_a_signature_and_hides_it() {
        let raw =
            "https://b-1.cn-bj.ufileos.com/k.raw?UCloudPublicKey=pub&Expires=1700000300&Signature=c2VjcmV0%2Bc2ln";
        let o = parse(raw);
        let p = o.presigned().unwrap();
        assert_eq!((p.public_key.as_str(), p.expires), ("pub", 1_700_000_300));
        assert!(p.expired_at(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_300)));
        assert!(!p.expired_at(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_299)));
        let shown = format!("{o} {o:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("k.raw?***"), "{shown}");
        // Used as given, also for the import.
        let creds = Credentials::new("other", Secret::new("k")).unwrap();
        assert_eq!(o.presigned_for_import(&creds, 1).expose(), raw);

        for bad in [
            "https://b-1.cn-bj.ufileos.com/k?UCloudPublicKey=pub&Signature=x",
            "https://b-1.cn-bj.ufileos.com/k?Signature=x",
        ] {
            let e = ObjectUrl::parse(bad, None).unwrap_err();
            assert!(matches!(e, UrlError::IncompleteSignature { .. }), "{e}");
            assert!(!e.to_string().contains("Signature=x"), "{e}");
        }
        assert!(matches!(
            ObjectUrl::parse(
                "https://b-1.cn-bj.ufileos.com/k?UCloudPublicKey=p&Signature=x&Expires=soon",
                None
            ),
            Err(UrlError::BadExpires { .. })
        ));
    }

    #[test]
    fn presigns_the_given_url_and_keeps_other_parameters() {
        let creds = Credentials::new("pub@example.com", Secret::new("priv")).unwrap();
        let o = parse("https://b-1.cn-bj.ufileos.com/dir/a%20b.raw?v=2");
        let signed = o.presigned_for_import(&creds, 1_700_000_300);
        let url = Url::parse(signed.expose()).unwrap();
        let q: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
        let want_sig = creds.sign(&StringToSign::presigned("GET", "b-1", "dir/a b.raw", "1700000300"));
        assert_eq!(
            q,
            [
                ("v".into(), "2".into()),
                ("UCloudPublicKey".into(), "pub@example.com".into()),
                ("Expires".into(), "1700000300".into()),
                ("Signature".into(), want_sig.expose().to_owned()),
            ]
        );
        assert_eq!(url.path(), "/dir/a%20b.raw");
        assert!(!format!("{signed} {signed:?}").contains(want_sig.expose()));
        // The presigned URL parses back as presigned, for the same object.
        let back = parse(signed.expose());
        assert_eq!((back.bucket(), back.key()), ("b-1", "dir/a b.raw"));
        assert_eq!(back.presigned().map(|p| p.expires), Some(1_700_000_300));
    }
}
