//! UFile's object signature, the one place that knows the rule:
//! `Base64(HMAC-SHA1(private key, StringToSign))`, standard alphabet, where
//! `StringToSign = Verb \n Content-MD5 \n Content-Type \n Date-or-Expires \n /bucket/key`
//! with the key raw (percent-decoded). The client signs with it; `ucloud-sim`
//! verifies with it; both are checked against vectors from UCloud's Python SDK.
//!
//! `X-UCloud-*` headers are deliberately unsupported: UCloud's SDKs disagree
//! on how they enter the string, so the client sends none.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::super::secret::Secret;

type HmacSha1 = Hmac<Sha1>;

/// What a signature covers. Absent headers are empty strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringToSign<'a> {
    /// `GET`, `HEAD`, ...: a signature for one verb is refused for another.
    pub verb: &'a str,
    pub content_md5: &'a str,
    pub content_type: &'a str,
    /// The `Date` header for a header signature, the `Expires` unix time for
    /// a presigned URL.
    pub date: &'a str,
    pub bucket: &'a str,
    /// The object key, percent-decoded.
    pub key: &'a str,
}

impl<'a> StringToSign<'a> {
    /// The string for a request that sends no Content-MD5, Content-Type or
    /// Date.
    pub fn bare(verb: &'a str, bucket: &'a str, key: &'a str) -> Self {
        StringToSign {
            verb,
            content_md5: "",
            content_type: "",
            date: "",
            bucket,
            key,
        }
    }

    /// The string for a request that sends a `Date` header, which this client
    /// does: the signature then covers the time it was made, and UFile
    /// refuses it once that time is too far away, so a captured header
    /// cannot be replayed for ever.
    pub fn dated(verb: &'a str, bucket: &'a str, key: &'a str, date: &'a str) -> Self {
        StringToSign {
            date,
            ..StringToSign::bare(verb, bucket, key)
        }
    }

    /// The string a presigned URL's signature covers: `Expires` in Date's place.
    pub fn presigned(verb: &'a str, bucket: &'a str, key: &'a str, expires: &'a str) -> Self {
        StringToSign {
            date: expires,
            ..StringToSign::bare(verb, bucket, key)
        }
    }
}

impl fmt::Display for StringToSign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n{}\n{}\n{}\n/{}/{}",
            self.verb, self.content_md5, self.content_type, self.date, self.bucket, self.key
        )
    }
}

/// A key pair that can sign UFile requests: the account's API key pair or a
/// UFile token. `Debug` never shows the private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    public_key: String,
    private_key: Secret,
}

/// Why a key pair cannot sign for UFile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("no public key is configured")]
    NoPublicKey,
    #[error("no private key is configured")]
    NoPrivateKey,
    /// It would have to travel in an HTTP header and a URL query.
    #[error("the public key contains characters an HTTP header cannot carry (control characters or non-ASCII)")]
    PublicKeyNotHeaderSafe,
}

impl Credentials {
    pub fn new(public_key: impl Into<String>, private_key: Secret) -> Result<Self, CredentialsError> {
        let public_key = public_key.into();
        if public_key.trim().is_empty() {
            return Err(CredentialsError::NoPublicKey);
        }
        if private_key.is_empty() {
            return Err(CredentialsError::NoPrivateKey);
        }
        if !public_key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(CredentialsError::PublicKeyNotHeaderSafe);
        }
        Ok(Credentials {
            public_key,
            private_key,
        })
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The signature of `sts` under this private key.
    pub fn sign(&self, sts: &StringToSign<'_>) -> Secret {
        signature(&self.private_key, &sts.to_string())
    }

    /// The `Authorization` header value for a request described by `sts`:
    /// `UCloud <public key>:<signature>`. It is a secret: whoever holds it can
    /// repeat the request.
    pub fn authorization(&self, sts: &StringToSign<'_>) -> Secret {
        Secret::new(format!("UCloud {}:{}", self.public_key, self.sign(sts).expose()))
    }
}

/// `Base64(HMAC-SHA1(private_key, string_to_sign))`, standard alphabet.
pub fn signature(private_key: &Secret, string_to_sign: &str) -> Secret {
    Secret::new(STANDARD.encode(mac(private_key, string_to_sign).finalize().into_bytes()))
}

/// Whether `claimed` (standard Base64) is the signature of `string_to_sign`,
/// compared in constant time: for the simulator's verifier.
pub fn verify(private_key: &Secret, string_to_sign: &str, claimed: &str) -> bool {
    let Ok(claimed) = STANDARD.decode(claimed.trim()) else {
        return false;
    };
    mac(private_key, string_to_sign).verify_slice(&claimed).is_ok()
}

fn mac(private_key: &Secret, string_to_sign: &str) -> HmacSha1 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha1::new_from_slice(private_key.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(string_to_sign.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_string_to_sign_has_four_empty_positions() {
        assert_eq!(
            StringToSign::bare("HEAD", "bucket", "dir/key").to_string(),
            "HEAD\n\n\n\n/bucket/dir/key"
        );
        assert_eq!(
            StringToSign::presigned("GET", "b", "k", "1700000300").to_string(),
            "GET\n\n\n1700000300\n/b/k"
        );
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        // RFC 2202 test case 2.
        let sig = signature(&Secret::new("Jefe"), "what do ya want for nothing?");
        assert_eq!(
            sig.expose(),
            STANDARD.encode(hex::decode("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap())
        );
        assert!(verify(
            &Secret::new("Jefe"),
            "what do ya want for nothing?",
            sig.expose()
        ));
        assert!(!verify(
            &Secret::new("Jefe"),
            "what do ya want for nothing!",
            sig.expose()
        ));
        assert!(!verify(&Secret::new("Jefe"), "x", "not base64!"));
    }

    #[test]
    fn credentials_refuse_what_cannot_sign_and_hide_the_key() {
        assert_eq!(
            Credentials::new("", Secret::new("p")),
            Err(CredentialsError::NoPublicKey)
        );
        assert_eq!(
            Credentials::new("pub", Secret::default()),
            Err(CredentialsError::NoPrivateKey)
        );
        assert_eq!(
            Credentials::new("pub\nX-Evil: 1", Secret::new("p")),
            Err(CredentialsError::PublicKeyNotHeaderSafe)
        );
        let c = Credentials::new("pub", Secret::new("hunter2-private")).unwrap();
        let auth = c.authorization(&StringToSign::bare("GET", "b", "k"));
        assert!(auth.expose().starts_with("UCloud pub:"));
        let shown = format!("{c:?} {auth:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&auth.expose()[11..]), "{shown}");
    }
}
