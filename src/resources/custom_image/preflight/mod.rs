//! The check before ImportCustomImage: read the object behind `ufile_url`
//! (at most 3 requests, see [`ufile::ObjectReader::probe`]), judge its bytes
//! against `format` ([`verdict::check`]), and decide which URL the import
//! sends.
//!
//! The outcome, as diagnostics on `ufile_url` or `format`:
//! - a definite problem (missing, refused, empty, wrong format, compressed,
//!   incomplete, a signature that expires too soon) is an error, and no
//!   import is started;
//! - a check that could not be made is a warning ("check skipped because
//!   ..."), and the import goes on;
//! - notable facts (GPT, a bucket that seems to be in another region) are
//!   warnings, and the import goes on.
//!
//! The state keeps the URL as the user wrote it; the import sends a URL
//! presigned with the provider's key pair when the URL names a UFile object
//! and carries no signature of its own.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::model::CustomImageModel;
use crate::framework::timeouts::Op;
use crate::framework::{AttrPath, Context, Diagnostic, Diagnostics, Maybe};
use crate::images::{format, human};
use crate::provider_data::{ENV_UFILE_BASE_URL, ProviderData};
use crate::ucloud::ImageFormat;
use crate::ucloud::ufile::{Credentials, ObjectUrl, Probe, ProbeError, SignedUrl, UrlError};
use crate::{attr_name, attr_path};

pub mod verdict;

pub use verdict::{Attribute, Finding, FindingKind, Severity, Verdict, check};

type M = CustomImageModel;

/// What the create needs to know about the image file.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// As the user wrote it (and the state keeps it).
    pub ufile_url: &'a str,
    pub format: ImageFormat,
    /// Where the image is imported.
    pub region: &'a str,
    /// `verify_source`: read the object first.
    pub verify: bool,
    /// How long the import may take: a presigned URL must outlive it.
    pub create_timeout: Duration,
}

/// The URL ImportCustomImage fetches. `Debug` and `Display` hide signatures.
#[derive(Clone, PartialEq, Eq)]
pub enum ImportUrl {
    /// Presigned by the provider for the duration of the create.
    Presigned(SignedUrl),
    /// The user's URL, unchanged: signed already, or not a UFile object the
    /// provider can sign for.
    AsGiven(String),
}

impl ImportUrl {
    /// The URL itself, for the one request that sends it.
    pub fn expose(&self) -> &str {
        match self {
            ImportUrl::Presigned(s) => s.expose(),
            ImportUrl::AsGiven(s) => s,
        }
    }
}

impl fmt::Display for ImportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::ucloud::redact_url(self.expose()))
    }
}

impl fmt::Debug for ImportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportUrl::Presigned(_) => write!(f, "Presigned({self})"),
            ImportUrl::AsGiven(_) => write!(f, "AsGiven({self})"),
        }
    }
}

/// A file that passed (or skipped) the check.
#[derive(Debug)]
pub struct Source {
    pub import_url: ImportUrl,
    /// `source_size`: known when the check read the object.
    pub size: Maybe<i64>,
    /// For the create's result, whatever the import does.
    pub warnings: Diagnostics,
}

/// Runs the check for `req`. `Err` holds the errors (and any warnings found
/// with them): the import must not start.
pub async fn check_source(ctx: &Context, data: &ProviderData, req: &Request<'_>) -> Result<Source, Diagnostics> {
    let Some(reader) = data.ufile.as_ref() else {
        // Only data without an API client lacks a reader, and create needs
        // the client first: nothing to check with, nothing to sign with.
        return Ok(Source {
            import_url: ImportUrl::AsGiven(req.ufile_url.to_owned()),
            size: Maybe::Null,
            warnings: Diagnostics::new(),
        });
    };
    let object = reader.object(req.ufile_url);
    let now = SystemTime::now();
    if let Ok(o) = &object
        && let Some(d) = signature_window(o, now, req.create_timeout)
    {
        return Err(d.into());
    }
    let import_url = import_url(
        req.ufile_url,
        &object,
        reader.credentials().ok(),
        now,
        req.create_timeout,
    );
    if !req.verify {
        tracing::debug!(target: "tpu::ufile", url = %import_url, "source check off");
        return Ok(Source {
            import_url,
            size: Maybe::Null,
            warnings: Diagnostics::new(),
        });
    }
    let probed = match &object {
        Ok(o) => reader.probe(o, format::ENDS, &ctx.cancel).await,
        Err(e) => Err(ProbeError::Url(e.clone())),
    };
    let judged = judge(req, object.as_ref().ok(), probed)?;
    Ok(Source {
        import_url,
        size: judged.size,
        warnings: judged.warnings,
    })
}

/// What [`judge`] decides for a file the import may go on with.
#[derive(Debug, PartialEq)]
pub struct Judged {
    pub size: Maybe<i64>,
    pub warnings: Diagnostics,
}

/// The diagnostics for a probe's outcome: pure, so every branch is tested
/// without a network.
pub fn judge(
    req: &Request<'_>,
    object: Option<&ObjectUrl>,
    probed: Result<Probe, ProbeError>,
) -> Result<Judged, Diagnostics> {
    let shown = crate::ucloud::redact_url(req.ufile_url);
    let probe = match probed {
        Ok(p) => p,
        Err(ProbeError::Cancelled) => {
            return Err(Diagnostic::error(
                "Custom image import not started",
                "The provider was told to stop while it was checking the image file. No import was started.",
            )
            .into());
        }
        Err(e) if e.is_definite() => return Err(definite(&e, object).into()),
        Err(e) => {
            return Ok(Judged {
                size: Maybe::Null,
                warnings: skipped(&e, &shown).into(),
            });
        }
    };
    tracing::debug!(
        target: "tpu::ufile",
        url = %shown,
        size = probe.size,
        requests = probe.requests,
        "source read for the check"
    );
    let (mut errors, mut warnings) = judged_bytes(req.format, &probe, &shown, attr_path!(M, ufile_url));
    if let Some(d) = object.and_then(|o| region_mismatch(o, req.region)) {
        warnings.push(d);
    }
    if errors.has_errors() {
        errors.extend(warnings);
        return Err(errors);
    }
    Ok(Judged {
        size: i64::try_from(probe.size).map_or(Maybe::Null, Maybe::Known),
        warnings,
    })
}

/// The check of a local file before it is uploaded: the same verdict, on
/// the file's own bytes, with findings about the file at `file_at`.
/// `Err` holds the errors (and warnings found with them).
pub fn check_local_file(path: &str, format: ImageFormat, file_at: AttrPath) -> Result<Diagnostics, Diagnostics> {
    use std::io::{Read, Seek, SeekFrom};
    let read = || -> std::io::Result<Probe> {
        let mut f = std::fs::File::open(path)?;
        let size = f.metadata()?.len();
        let mut head = Vec::new();
        (&mut f).take(format::ENDS.head as u64).read_to_end(&mut head)?;
        let tail_len = size.min(format::ENDS.tail as u64);
        f.seek(SeekFrom::Start(size - tail_len))?;
        let mut tail = Vec::new();
        f.take(tail_len).read_to_end(&mut tail)?;
        Ok(Probe {
            size,
            head,
            tail,
            requests: 0,
            session_id: None,
            storage_class: None,
            content_type: None,
        })
    };
    let probe = read().map_err(|e| {
        Diagnostics::from(
            Diagnostic::error(
                "Cannot read the image file",
                format!("{path}: {e}. No upload was started."),
            )
            .at(file_at.clone()),
        )
    })?;
    if probe.size == 0 {
        return Err(Diagnostic::error(
            "Image file is empty",
            format!("{path} is empty (0 bytes). No upload was started."),
        )
        .at(file_at)
        .into());
    }
    let (mut errors, warnings) = judged_bytes(format, &probe, path, file_at);
    let errors_found = errors.has_errors();
    errors.extend(warnings);
    if errors_found { Err(errors) } else { Ok(errors) }
}

/// A verdict's findings as diagnostics: (errors, warnings). Findings about
/// the file land on `file_at`, those about the format on `format`.
fn judged_bytes(format: ImageFormat, probe: &Probe, shown: &str, file_at: AttrPath) -> (Diagnostics, Diagnostics) {
    let verdict = check(format, probe.size, &probe.head, &probe.tail);
    let verify_source = attr_name!(M, verify_source);
    let mut errors = Diagnostics::new();
    let mut warnings = Diagnostics::new();
    for f in &verdict.findings {
        let path = match f.attribute {
            Attribute::UfileUrl => file_at.clone(),
            Attribute::Format => attr_path!(M, format),
        };
        match f.severity {
            Severity::Error => errors.push(
                Diagnostic::error(
                    capitalized(&f.summary),
                    format!(
                        "{shown}: {}. No import was started. If the check is wrong about this file, set \
                         {verify_source} = false to import it unchecked.",
                        f.detail
                    ),
                )
                .at(path),
            ),
            Severity::Warning => warnings.push(
                Diagnostic::warning(
                    capitalized(&f.summary),
                    format!("{shown}: {}. The import goes on.", f.detail),
                )
                .at(path),
            ),
        }
    }
    (errors, warnings)
}

/// An error for a URL whose own signature expires before the import could
/// end: UCloud would be refused the file part way, after minutes.
pub fn signature_window(object: &ObjectUrl, now: SystemTime, create_timeout: Duration) -> Option<Diagnostic> {
    let p = object.presigned()?;
    let name = attr_name!(M, ufile_url);
    let expires_at = humantime::format_rfc3339_seconds(p.expires_at());
    let advice = "Sign it again for longer, or give the plain URL without a query: the provider then signs one \
                  itself, with its key pair, for the whole create timeout. No import was started.";
    if p.expired_at(now) {
        return Some(
            Diagnostic::error(
                format!("Signed {name} has expired"),
                format!(
                    "The signature of {object} expired at {expires_at} (Expires={}). {advice}",
                    p.expires
                ),
            )
            .at(attr_path!(M, ufile_url)),
        );
    }
    let deadline = now + create_timeout;
    let deadline_secs = deadline.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if p.expires >= deadline_secs {
        return None;
    }
    let left = p.expires_at().duration_since(now).unwrap_or_default();
    let create = format!("{}.{}", attr_name!(M, timeouts), Op::Create.as_str());
    Some(
        Diagnostic::error(
            format!("Signed {name} expires before the import could end"),
            format!(
                "The signature of {object} expires at {expires_at}, in {}, but the import may take up to the \
                 create timeout ({}, {create}), and UCloud reads the file while it imports. Lower {create} below \
                 {} if the import is surely quicker. {advice}",
                human(left),
                human(create_timeout),
                human(left),
            ),
        )
        .at(attr_path!(M, ufile_url)),
    )
}

/// The longest a URL the provider presigns for an import stays valid. It is
/// signed with the account's key pair, which can only be revoked by rotating
/// it, and it reaches UCloud's logs and whoever the import request is shown
/// to: a day covers the longest imports (minutes to hours) without handing
/// out a credential for a month. A longer create timeout warns at plan.
pub const MAX_PRESIGNED_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// The URL ImportCustomImage sends: presigned until the create timeout ends
/// (at most [`MAX_PRESIGNED_VALIDITY`]) when `raw` names a UFile object
/// without a signature and the key pair can sign, else `raw` unchanged.
pub fn import_url(
    raw: &str,
    object: &Result<ObjectUrl, UrlError>,
    credentials: Option<&Credentials>,
    now: SystemTime,
    create_timeout: Duration,
) -> ImportUrl {
    match (object, credentials) {
        (Ok(o), Some(c)) if o.presigned().is_none() => {
            let expires = (now + create_timeout.min(MAX_PRESIGNED_VALIDITY))
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            ImportUrl::Presigned(o.presigned_for_import(c, expires))
        }
        _ => ImportUrl::AsGiven(raw.to_owned()),
    }
}

/// A definite failure of the probe, as an error on `ufile_url`.
fn definite(e: &ProbeError, object: Option<&ObjectUrl>) -> Diagnostic {
    let signed = object.is_some_and(|o| o.presigned().is_some());
    let url = attr_name!(M, ufile_url);
    let (summary, advice) = match e {
        ProbeError::NotFound { .. } => (
            "Image file not found".to_owned(),
            format!("Check the bucket and the key in {url}, and that the upload has finished."),
        ),
        ProbeError::Denied { .. } if signed => (
            "Image file not readable".to_owned(),
            format!(
                "UFile refused the signature that {url} carries: sign the URL again with a key that can read the \
                 bucket, or give the plain URL and let the provider sign it."
            ),
        ),
        ProbeError::Denied { .. } => (
            "Image file not readable".to_owned(),
            "The provider reads the file with its own key pair (public_key, private_key), and signs the import's \
             URL with it: give that key pair read access to the bucket, or give a URL signed by a key that has it."
                .to_owned(),
        ),
        ProbeError::Empty { .. } => (
            "Image file is empty".to_owned(),
            "Upload the disk image again and check that the upload finished.".to_owned(),
        ),
        ProbeError::Expired { .. } => (
            format!("Signed {url} has expired"),
            "Sign it again, or give the plain URL and let the provider sign it.".to_owned(),
        ),
        _ => (format!("Invalid {url}"), String::new()),
    };
    let advice = if advice.is_empty() {
        advice
    } else {
        format!(" {advice}")
    };
    Diagnostic::error(
        summary,
        format!("{}.{advice} No import was started.", capitalized(&e.to_string())),
    )
    .at(attr_path!(M, ufile_url))
}

/// A check that could not be made, as a warning on `ufile_url`.
fn skipped(e: &ProbeError, shown: &str) -> Diagnostic {
    let verify_source = attr_name!(M, verify_source);
    let hint = match e {
        ProbeError::Url(UrlError::UnknownHost { .. }) => format!(
            "Only UFile's own host names say which bucket a URL reads; set {verify_source} = false to import \
             from this host without this warning."
        ),
        ProbeError::Unreachable { .. } | ProbeError::Timeout { .. } | ProbeError::Network { .. } => format!(
            "If UFile is reached through another endpoint here, set ufile_base_url in the provider block (or \
             {}); set {verify_source} = false to skip the check.",
            ENV_UFILE_BASE_URL
        ),
        _ => format!("Set {verify_source} = false to skip the check."),
    };
    Diagnostic::warning(
        "Image file not checked before the import",
        format!(
            "Check skipped because {e}. The import of {shown} goes on; if the file is unreadable or not in the \
             declared format, UCloud reports it only when the import fails. {hint}"
        ),
    )
    .at(attr_path!(M, ufile_url))
}

/// A warning when the bucket's host names another region than the image's.
/// UFile's host labels are not UHost region names (`cn-bj` serves `cn-bj2`),
/// so only the part before a trailing number is compared: an inference,
/// which is why it only warns.
pub fn region_mismatch(object: &ObjectUrl, image_region: &str) -> Option<Diagnostic> {
    let host_region = object.host_region()?;
    let family = |r: &str| {
        r.trim()
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_ascii_lowercase()
    };
    if family(host_region) == family(image_region) {
        return None;
    }
    Some(
        Diagnostic::warning(
            "The image file seems to be in another region",
            format!(
                "The host of {object} is in UFile's region {host_region}, and the image is imported in region \
                 {image_region} ({}). An import across regions may be slow or fail: keep the bucket in the \
                 image's region, or import where the bucket is and copy the image. Judged from the host name \
                 only, so the import goes on.",
                attr_name!(M, region)
            ),
        )
        .at(attr_path!(M, ufile_url)),
    )
}

/// The first letter upper-cased: findings and errors are written to follow
/// a colon, summaries stand alone. An attribute name stays as it is.
fn capitalized(s: &str) -> String {
    let first = s.split([' ', ':']).next().unwrap_or_default();
    if [attr_name!(M, format), attr_name!(M, ufile_url)].contains(&first) {
        return s.to_owned();
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Severity as Level;
    use crate::ucloud::Secret;
    use crate::ucloud::ufile::Answer;

    const URL: &str = "https://images.cn-bj.ufileos.com/linux/c7.qcow2";

    fn req(format: ImageFormat) -> Request<'static> {
        Request {
            ufile_url: URL,
            format,
            region: "cn-bj2",
            verify: true,
            create_timeout: Duration::from_secs(3600),
        }
    }

    fn object(raw: &str) -> ObjectUrl {
        ObjectUrl::parse(raw, None).expect("a UFile URL")
    }

    fn probe(size: u64, head: Vec<u8>, tail: Vec<u8>) -> Probe {
        Probe {
            size,
            head,
            tail,
            requests: 2,
            session_id: Some("sess-1".into()),
            storage_class: None,
            content_type: None,
        }
    }

    /// A real qcow2 file's first 1 KiB and last 1.5 KiB, and its size.
    fn qcow2() -> Probe {
        let bin = include_bytes!("../../../../tests/fixtures/formats/qcow2-v3.bin");
        probe(196_616, bin[..1024].to_vec(), bin[1024..].to_vec())
    }

    fn paths(d: &Diagnostics) -> Vec<(Level, String)> {
        d.iter()
            .map(|d| {
                (
                    d.severity,
                    d.attribute.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn a_matching_file_passes_with_its_size() {
        let o = object(URL);
        let judged = judge(&req(ImageFormat::Qcow2), Some(&o), Ok(qcow2())).expect("importable");
        assert_eq!(judged.size, Maybe::Known(196_616));
        assert!(judged.warnings.is_empty(), "{}", judged.warnings);
    }

    #[test]
    fn another_format_is_an_error_on_format_naming_what_was_found() {
        let o = object(URL);
        let errors = judge(&req(ImageFormat::Raw), Some(&o), Ok(qcow2())).expect_err("mismatch");
        assert_eq!(paths(&errors), [(Level::Error, "format".to_string())]);
        let text = errors.to_string();
        assert!(
            text.contains("format is \"RAW\" but the file is a qcow2 image"),
            "{text}"
        );
        assert!(text.contains("set format = \"qcow2\""), "{text}");
        assert!(text.contains("No import was started"), "{text}");
        assert!(text.contains("verify_source = false"), "{text}");
    }

    #[test]
    fn compressed_files_are_an_error_on_ufile_url() {
        let mut gz = vec![0x1f, 0x8b, 8, 0];
        gz.resize(600, 0);
        let errors = judge(
            &req(ImageFormat::Raw),
            Some(&object(URL)),
            Ok(probe(600, gz.clone(), gz)),
        )
        .expect_err("gzip");
        assert_eq!(paths(&errors)[0], (Level::Error, "ufile_url".to_string()));
        assert!(errors.to_string().contains("decompress it first"), "{errors}");
    }

    #[test]
    fn gpt_and_another_region_warn_and_go_on() {
        let mut disk = vec![0u8; 4096];
        disk[510] = 0x55;
        disk[511] = 0xAA;
        disk[446 + 4] = 0xEE;
        disk[512..520].copy_from_slice(b"EFI PART");
        let o = object("https://images.cn-sh2.ufileos.com/disk.raw");
        let p = probe(4096, disk[..1024].to_vec(), disk[4096 - 1536..].to_vec());
        let judged = judge(&req(ImageFormat::Raw), Some(&o), Ok(p)).expect("warnings only");
        let text = judged.warnings.to_string();
        assert!(text.contains("GPT partition table"), "{text}");
        assert!(
            text.contains("UFile's region cn-sh2") && text.contains("region cn-bj2"),
            "{text}"
        );
        assert!(judged.warnings.iter().all(|d| d.severity == Level::Warning), "{text}");
        assert_eq!(judged.size, Maybe::Known(4096));
    }

    #[test]
    fn region_labels_compare_by_city_not_by_zone() {
        assert!(region_mismatch(&object(URL), "cn-bj2").is_none(), "cn-bj serves cn-bj2");
        assert!(region_mismatch(&object("https://b-1.hk.ufileos.com/a.raw"), "hk").is_none());
        assert!(region_mismatch(&object("https://b-1.internal-cn-sh2-01.ufileos.com/a"), "cn-sh2").is_none());
        assert!(region_mismatch(&object("https://b-1.hk.ufileos.com/a.raw"), "cn-bj2").is_some());
        assert!(
            region_mismatch(&object("https://b-1.ufile.ucloud.cn/a.raw"), "cn-bj2").is_none(),
            "unknown"
        );
    }

    #[test]
    fn definite_probe_failures_are_errors_on_ufile_url() {
        let answer = Answer {
            status: 404,
            session_id: Some("sess-9".into()),
            ret_code: Some(-148654),
            message: Some("file not exist".into()),
            ..Answer::default()
        };
        let e = ProbeError::NotFound {
            object: "images/linux/c7.qcow2".into(),
            answer,
        };
        let errors = judge(&req(ImageFormat::Qcow2), Some(&object(URL)), Err(e)).expect_err("missing");
        assert_eq!(paths(&errors), [(Level::Error, "ufile_url".to_string())]);
        let d = errors.iter().next().expect("one");
        assert_eq!(d.summary, "Image file not found");
        assert!(
            d.detail.contains("RetCode -148654") && d.detail.contains("sess-9"),
            "{}",
            d.detail
        );
        assert!(d.detail.starts_with("The object images/linux/c7.qcow2"), "{}", d.detail);

        let denied = ProbeError::Denied {
            object: "images/a".into(),
            answer: Answer {
                status: 403,
                session_id: Some("s".into()),
                ..Answer::default()
            },
        };
        let signed = object("https://images.cn-bj.ufileos.com/a?UCloudPublicKey=p&Expires=9999999999&Signature=x");
        let text = judge(&req(ImageFormat::Raw), Some(&signed), Err(denied.clone()))
            .expect_err("denied")
            .to_string();
        assert!(text.contains("refused the signature that ufile_url carries"), "{text}");
        let text = judge(&req(ImageFormat::Raw), Some(&object(URL)), Err(denied))
            .expect_err("denied")
            .to_string();
        assert!(text.contains("its own key pair"), "{text}");

        let cancelled = judge(&req(ImageFormat::Raw), None, Err(ProbeError::Cancelled)).expect_err("stopped");
        assert!(cancelled.to_string().contains("No import was started"));
    }

    #[test]
    fn inconclusive_failures_warn_that_the_check_was_skipped() {
        let e = ProbeError::Unreachable {
            endpoint: "http://127.0.0.1:9".into(),
            detail: "connection refused".into(),
        };
        let judged = judge(&req(ImageFormat::Raw), Some(&object(URL)), Err(e)).expect("goes on");
        assert_eq!(judged.size, Maybe::Null);
        assert_eq!(paths(&judged.warnings), [(Level::Warning, "ufile_url".to_string())]);
        let text = judged.warnings.to_string();
        assert!(
            text.contains("Check skipped because cannot connect to http://127.0.0.1:9"),
            "{text}"
        );
        assert!(text.contains("ufile_base_url"), "{text}");

        let e = ProbeError::Url(UrlError::UnknownHost {
            host: "cdn.example.com".into(),
        });
        let judged = judge(&req(ImageFormat::Raw), None, Err(e)).expect("goes on");
        assert!(judged.warnings.to_string().contains("not a UFile endpoint"));
    }

    #[test]
    fn a_signature_must_outlive_the_create_timeout() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let hour = Duration::from_secs(3600);
        let at = |expires: u64| {
            object(&format!(
                "https://images.cn-bj.ufileos.com/a.raw?UCloudPublicKey=p&Expires={expires}&Signature=c2ln"
            ))
        };
        assert!(signature_window(&object(URL), now, hour).is_none(), "unsigned");
        assert!(
            signature_window(&at(1_700_003_600), now, hour).is_none(),
            "just long enough"
        );

        let d = signature_window(&at(1_700_000_600), now, hour).expect("too short");
        assert_eq!(d.attribute, Some(attr_path!(M, ufile_url)));
        assert!(
            d.summary.contains("expires before the import could end"),
            "{}",
            d.summary
        );
        assert!(
            d.detail.contains("in 10m") && d.detail.contains("(1h, timeouts.create)"),
            "{}",
            d.detail
        );
        assert!(!d.detail.contains("c2ln"), "{}", d.detail);

        let d = signature_window(&at(1_699_999_999), now, hour).expect("expired");
        assert!(d.summary.contains("has expired"), "{}", d.summary);
        assert!(d.detail.contains("2023-11-14T22:13:19Z"), "{}", d.detail);
    }

    #[test]
    fn the_import_gets_a_url_presigned_for_the_create_timeout() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let hour = Duration::from_secs(3600);
        let creds = Credentials::new("pub", Secret::new("priv")).expect("credentials");
        let plain = ObjectUrl::parse(URL, None);
        let url = import_url(URL, &plain, Some(&creds), now, hour);
        let ImportUrl::Presigned(signed) = &url else {
            panic!("{url:?}")
        };
        let back = object(signed.expose());
        assert_eq!(back.presigned().map(|p| p.expires), Some(1_700_003_600));
        assert_eq!((back.bucket(), back.key()), ("images", "linux/c7.qcow2"));
        let sig = url::Url::parse(url.expose())
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "Signature")
            .map(|(_, v)| v.into_owned())
            .expect("signature");
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains(&sig) && shown.contains("c7.qcow2?***"), "{shown}");

        // A create timeout of 30 days still signs for a day at most.
        let url = import_url(URL, &plain, Some(&creds), now, 720 * hour);
        assert_eq!(
            object(url.expose()).presigned().map(|p| p.expires),
            Some(1_700_000_000 + 24 * 3600)
        );

        // Used as given: signed already, unmappable, or nothing to sign with.
        let given = "https://images.cn-bj.ufileos.com/a.raw?UCloudPublicKey=p&Expires=1&Signature=x";
        for (raw, creds) in [
            (given, Some(&creds)),
            ("https://cdn.example.com/a.raw", Some(&creds)),
            (URL, None),
        ] {
            let url = import_url(raw, &ObjectUrl::parse(raw, None), creds, now, hour);
            assert_eq!(url, ImportUrl::AsGiven(raw.to_owned()), "{raw}");
        }
    }
}
