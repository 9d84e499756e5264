//! An upload body on its way to disk, hashed as it arrives. A whole object
//! (PutFile) is written to a temporary file on its destination's filesystem
//! and renamed into place only once it is whole, so a cut-off upload leaves
//! nothing behind. A part is written at its place in its upload's one data
//! file (part N at N x BlkSize), so Finish renames that file instead of
//! copying every part: a cut-off part leaves bytes nobody lists, which the
//! next send of the part overwrites.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
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

/// Where the bytes go.
enum Sink {
    Temp(tempfile::NamedTempFile),
    /// At `offset` in an upload's data file.
    At {
        file: File,
        offset: u64,
    },
    /// Nowhere: a part too long for its place, only hashed (Finish refuses it).
    Nowhere,
}

/// A body being stored.
pub struct Spool {
    file: Sink,
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
            file: Sink::Temp(tempfile::NamedTempFile::new_in(tmp_dir)?),
            hash: Hash::Object(ObjectHasher::default()),
            flip_at: None,
            at: 0,
        })
    }

    /// A part at `offset` in the upload's data file `data` (`None`: a part
    /// that fits no place, only hashed), with the byte at `flip_at` flipped
    /// on disk.
    pub fn part(data: &Path, offset: Option<u64>, flip_at: Option<u64>) -> std::io::Result<Spool> {
        let file = match offset {
            Some(offset) => Sink::At {
                file: File::options().write(true).open(data)?,
                offset,
            },
            None => Sink::Nowhere,
        };
        Ok(Spool {
            file,
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
        match &mut self.file {
            Sink::Temp(f) => f.write_all(stored),
            Sink::At { file, offset } => file.write_all_at(stored, *offset + start),
            Sink::Nowhere => Ok(()),
        }
    }

    /// Renames a whole object to `target`.
    pub fn place(mut self, target: &Path) -> std::io::Result<Stored> {
        if let Sink::Temp(file) = std::mem::replace(&mut self.file, Sink::Nowhere) {
            uploads::place(file, target)?;
        }
        Ok(self.stored())
    }

    /// What was stored: a part is in place as it arrives.
    pub fn stored(self) -> Stored {
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
        Stored {
            etag,
            answered,
            size: self.at,
        }
    }
}
