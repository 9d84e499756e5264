//! UFile, UCloud's object storage, as far as importing an image needs it:
//! mapping a `ufile_url` to its bucket and key ([`ObjectUrl`]) and UFile's
//! request signature and presigned URLs ([`sign`]).

pub mod sign;
mod url;

pub use sign::{Credentials, CredentialsError, StringToSign};
pub use url::{ObjectUrl, Presigned, SIGNATURE_PARAMS, SignedUrl, UrlError, parse_base_url, presign, redact};
