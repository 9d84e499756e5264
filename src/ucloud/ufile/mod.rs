//! UFile, UCloud's object storage, as far as importing an image needs it:
//! mapping an object URL to its bucket and key ([`ObjectUrl`]), UFile's
//! request signature and presigned URLs ([`sign`]), reading the size and
//! the first and last bytes of an object ([`ObjectReader`]), UFile's ETags
//! computed locally ([`file_etag`]), the object operations of an upload
//! over HTTP ([`UfileClient`], a [`Store`]), all through one HTTP exchange
//! (`http`), and taking a local file to an object through a [`Store`]
//! ([`upload`], [`clean`]). It returns facts and typed errors; what they
//! mean for an import is decided above it (the format detector in
//! `images::format`, the verdict next to the resource).

mod bucket;
mod client;
mod etag;
mod http;
mod reader;
pub mod sign;
mod store;
mod transfer;
mod url;

pub use bucket::{BucketDomains, BucketInfo, DescribeBucket, DescribeBucketResponse};
pub use client::{DEFAULT_RETRIES, PART_TIMEOUT, REQUEST_TIMEOUT, UfileClient, UfileClientConfig};
pub use etag::{ETAG_BLOCK, EtagHasher, Fingerprint, Inode, LocalFile, file_etag, part_etag};
pub use reader::{
    Answer, DEFAULT_TIMEOUT, Ends, ObjectReader, Outcome, Probe, ProbeError, ReaderConfig, ReaderConfigError,
    SESSION_ID_HEADER, STORAGE_CLASS_HEADER,
};
pub use sign::{Credentials, CredentialsError, StringToSign};
pub use store::{Multipart, ObjectMeta, ObjectRef, PartInfo, Store, UfileError, Unfinished};
pub use transfer::{
    Cleaned, DEFAULT_CONCURRENCY, DEFAULT_SINGLE_PUT_LIMIT, MAX_CONCURRENCY, Progress, TransferError, UploadRequest,
    Uploaded, clean, upload,
};
pub use url::{ObjectUrl, Presigned, SIGNATURE_PARAMS, SignedUrl, UrlError, parse_base_url, presign};
