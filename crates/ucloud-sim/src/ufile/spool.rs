//! An upload body on its way to disk: written to a temporary file next to
//! its destination's filesystem and hashed as it arrives, then renamed into
//! place only once it is whole, so a cut-off upload leaves nothing behind
//! and a replaced part or object changes atomically.

use std::io::Write;
use std::path::Path;

use sha1::{Digest, Sha1};

use super::etag::{self, ObjectHasher};
use super::uploads;

/// Why a body did not arrive whole.
#[derive(Debug)]
pub enum Broken {
    /// A fault cut the connection mid-body.
    Cut,
    /// The client's body ended early or failed.
    Client,
    Disk(std::io::Error),
}

/// What is hashed: a part's SHA-1, or an object's ETag.
enum Hash {
    Part {
        /// Of the bytes received.
        received: Sha1,
        /// Of the bytes stored, when a byte is flipped.
        stored: Option<Sha1>,
    },
    Object(ObjectHasher),
}

/// A body being stored.
pub struct Spool {
    file: tempfile::NamedTempFile,
    hash: Hash,
    /// The offset of the byte to flip (a corruption fault).
    flip_at: Option<u64>,
    at: u64,
}

/// A body stored.
pub struct Stored {
    /// The ETag of the bytes on disk.
    pub etag: String,
    /// The ETag of the bytes received (differs after a flip).
    pub answered: String,
    pub size: u64,
}

impl Spool {
    /// A whole object (PutFile), in `tmp_dir`.
    pub fn object(tmp_dir: &Path) -> std::io::Result<Spool> {
        Ok(Spool {
            file: tempfile::NamedTempFile::new_in(tmp_dir)?,
            hash: Hash::Object(ObjectHasher::default()),
            flip_at: None,
            at: 0,
        })
    }

    /// A part, in `tmp_dir`, with the byte at `flip_at` flipped on disk.
    pub fn part(tmp_dir: &Path, flip_at: Option<u64>) -> std::io::Result<Spool> {
        Ok(Spool {
            file: tempfile::NamedTempFile::new_in(tmp_dir)?,
            hash: Hash::Part {
                received: Sha1::new(),
                stored: flip_at.map(|_| Sha1::new()),
            },
            flip_at,
            at: 0,
        })
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let start = self.at;
        self.at += data.len() as u64;
        let flipped = self.flip_at.filter(|at| (start..self.at).contains(at)).map(|at| {
            let mut copy = data.to_vec();
            let i = usize::try_from(at - start).unwrap_or(0);
            copy[i] ^= 0xff;
            copy
        });
        let stored = flipped.as_deref().unwrap_or(data);
        match &mut self.hash {
            Hash::Part { received, stored: s } => {
                received.update(data);
                if let Some(s) = s {
                    s.update(stored);
                }
            }
            Hash::Object(h) => h.update(data),
        }
        self.file.write_all(stored)
    }

    /// Renames the body to `target`.
    pub fn place(self, target: &Path) -> std::io::Result<Stored> {
        let (etag, answered) = match self.hash {
            Hash::Part { received, stored } => {
                let answered = etag::part_etag(&received.finalize());
                let etag = stored.map_or_else(|| answered.clone(), |s| etag::part_etag(&s.finalize()));
                (etag, answered)
            }
            Hash::Object(h) => {
                let etag = h.finish();
                (etag.clone(), etag)
            }
        };
        uploads::place(self.file, target)?;
        Ok(Stored {
            etag,
            answered,
            size: self.at,
        })
    }
}
