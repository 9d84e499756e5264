//! How an upload fails: each case says what happened to the object and
//! what the next run will do, since a failed upload is retried by a person.

use std::io;
use std::path::PathBuf;

use crate::ucloud::ufile::store::UfileError;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("cannot upload {object}: {detail}")]
    Invalid { object: String, detail: String },
    #[error(
        "{} changed {when}: its size, modification time or inode differ from when it was hashed",
        .path.display()
    )]
    Changed { path: PathBuf, when: &'static str },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Boxed: UFile's answer is large, and every step returns this error.
    #[error(transparent)]
    Store(Box<UfileError>),
    #[error("UFile answered ETag {answered} for part {number} of {object} {sends} times; its bytes have ETag {local}")]
    PartEtag {
        object: String,
        number: u32,
        local: String,
        answered: String,
        sends: u32,
    },
    #[error(
        "UFile made {object} with ETag {got}, but the file has ETag {expected}; {}",
        if *.deleted { "the object was deleted" } else { "deleting the object failed too" }
    )]
    WrongObject {
        object: String,
        expected: String,
        got: String,
        deleted: bool,
    },
    #[error(
        "upload of {object} interrupted after sending {} ({} of {} at UFile, {parts_done} of {parts_total} parts){}",
        mib(*.sent_bytes), mib(*.done_bytes), mib(*.total),
        match .upload_id { Some(id) => format!("; the unfinished upload {id} is kept and the next run resumes it"), None => String::new() }
    )]
    Interrupted {
        object: String,
        sent_bytes: u64,
        done_bytes: u64,
        total: u64,
        parts_done: u32,
        parts_total: u32,
        upload_id: Option<String>,
    },
}

impl From<UfileError> for TransferError {
    fn from(e: UfileError) -> Self {
        TransferError::Store(Box::new(e))
    }
}

pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Worth another attempt: UFile or the way to it failed, not the request.
pub(super) fn transient(e: &UfileError) -> bool {
    match e {
        UfileError::Status { answer, .. } => answer.status >= 500,
        UfileError::Timeout { .. } | UfileError::Network { .. } => true,
        _ => false,
    }
}
