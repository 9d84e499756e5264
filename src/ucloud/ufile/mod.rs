//! UFile, UCloud's object storage, as far as importing an image needs it:
//! mapping a `ufile_url` to its bucket and key ([`ObjectUrl`]), UFile's
//! request signature and presigned URLs ([`sign`]), reading the size and the
//! first and last bytes of an object ([`ObjectReader`]), and judging from
//! those bytes whether the file can be imported as the declared format
//! ([`check`], built on the pure detector [`detect`]).

mod reader;
pub mod sign;
mod url;

pub use reader::{
    Answer, DEFAULT_TIMEOUT, Ends, ObjectReader, Outcome, Probe, ProbeError, ReaderConfig, ReaderConfigError,
    SESSION_ID_HEADER, STORAGE_CLASS_HEADER,
};
pub use sign::{Credentials, CredentialsError, StringToSign};
pub use url::{ObjectUrl, Presigned, SIGNATURE_PARAMS, SignedUrl, UrlError, parse_base_url, presign, redact};

/// The environment variable for the provider's `ufile_base_url`: object
/// requests go path-style to `{base}/BUCKET/KEY`.
pub const ENV_BASE_URL: &str = "UCLOUD_UFILE_BASE_URL";
