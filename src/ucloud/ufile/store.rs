//! The object operations an upload needs, as one trait: [`Store`]. The UFile
//! client implements it over HTTP; the transfer logic (resume, part checks,
//! the buffer pool) is written against the trait, so its tests run on a
//! store in memory under a paused clock, and the HTTP code is tested on its
//! own against a scripted server.
//!
//! Objects are named by bucket and key only: where a bucket is served (its
//! host, or a base URL path-style) is the implementation's business.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::reader::Answer;
use super::sign::CredentialsError;

/// One object: bucket and key (the key as UFile stores it, not encoded).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

impl ObjectRef {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.bucket, self.key)
    }
}

/// What HEAD says of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    /// UFile's ETag (see `etag.rs`), without quotes; `None` when UFile sent none.
    pub etag: Option<String>,
}

/// A multipart upload begun (or found unfinished).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multipart {
    pub upload_id: String,
    /// The part size UFile chose: every part but the last is exactly this long.
    pub blk_size: u64,
}

/// A part UFile holds for an unfinished upload. Part numbers start at 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartInfo {
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

/// An unfinished multipart upload, as the listing of a bucket gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfinished {
    pub upload_id: String,
    pub key: String,
    /// Unix seconds, when UFile says.
    pub started: Option<u64>,
}

/// A failed UFile request, after the client's own retries. No variant
/// carries a signature, a key or a presigned query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UfileError {
    /// UFile answered with an error status (RetCode, ErrMsg and X-SessionId in `answer`).
    #[error("UFile {op} of {object} failed ({answer})")]
    Status {
        op: &'static str,
        object: String,
        answer: Answer,
    },
    #[error("UFile {op} of {object}: {endpoint} did not answer within {}", humantime::format_duration(*.after))]
    Timeout {
        op: &'static str,
        object: String,
        endpoint: String,
        after: Duration,
    },
    #[error("UFile {op} of {object}: the connection to {endpoint} failed: {detail}")]
    Network {
        op: &'static str,
        object: String,
        endpoint: String,
        detail: String,
    },
    /// An answer that cannot be used (bad JSON, a missing ETag, ...).
    #[error("UFile {op} of {object}: unusable answer: {detail}")]
    Protocol {
        op: &'static str,
        object: String,
        detail: String,
    },
    #[error("cannot sign UFile requests: {0}")]
    CannotSign(CredentialsError),
    /// The bucket's host could not be found (DescribeBucket failed or named none).
    #[error("cannot find where bucket {bucket} is served: {detail}")]
    Bucket { bucket: String, detail: String },
    #[error("cancelled")]
    Cancelled,
}

impl UfileError {
    /// UFile's session id for the failed request, when it sent one.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            UfileError::Status { answer, .. } => answer.session_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status UFile answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            UfileError::Status { answer, .. } => Some(answer.status),
            _ => None,
        }
    }
}

/// The operations an upload, its resume and its clean-up need. Every call
/// is one logical request: implementations retry transient failures (5xx,
/// resets, timeouts) themselves, and return at once when `cancel` fires.
#[async_trait]
pub trait Store: Send + Sync {
    /// The object's size and ETag, or `None` when there is no such object.
    async fn head(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<Option<ObjectMeta>, UfileError>;

    /// PutFile: the whole object in one request, streamed from `body`
    /// (`len` bytes, re-opened by the implementation for each attempt).
    /// Returns the ETag UFile answered.
    async fn put_file(
        &self,
        object: &ObjectRef,
        body: &std::path::Path,
        len: u64,
        cancel: &CancellationToken,
    ) -> Result<String, UfileError>;

    async fn initiate(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<Multipart, UfileError>;

    /// UploadPart: returns the part's ETag as UFile answered it.
    async fn upload_part(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        number: u32,
        data: Bytes,
        cancel: &CancellationToken,
    ) -> Result<String, UfileError>;

    /// FinishMultipartUpload with the part ETags in part order; returns the
    /// object's ETag as answered.
    async fn finish(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        etags: &[String],
        cancel: &CancellationToken,
    ) -> Result<String, UfileError>;

    async fn abort(&self, object: &ObjectRef, upload_id: &str, cancel: &CancellationToken) -> Result<(), UfileError>;

    /// Every part of an unfinished upload (all pages), by part number.
    async fn list_parts(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<PartInfo>, UfileError>;

    /// Every unfinished upload in `bucket` whose key starts with `prefix` (all pages).
    async fn list_unfinished(
        &self,
        bucket: &str,
        prefix: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<Unfinished>, UfileError>;

    /// DeleteFile; deleting an object that does not exist is not an error.
    async fn delete(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<(), UfileError>;

    /// The URL of the object as ImportCustomImage should be given it
    /// (unsigned; the caller presigns it).
    async fn object_url(&self, object: &ObjectRef, cancel: &CancellationToken) -> Result<url::Url, UfileError>;
}
