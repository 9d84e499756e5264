//! UFile's ETags, computed locally, so an upload can tell whether the object
//! at a key already holds a file (no upload at all), whether a part UFile
//! keeps from an earlier run holds the right bytes (resume), and whether the
//! object an upload produced is the file (never import a wrong object).
//!
//! The object ETag does not depend on how the object was uploaded (ufile
//! `api/authorization.md`, the SDKs' `CompareFileEtag`): the URL-safe base64
//! (with padding) of `LE32(block count)` followed by a SHA-1 — of the data
//! for up to one 4 MiB block (an empty file is 0 blocks), else of the
//! concatenated SHA-1s of the 4 MiB blocks. A part's ETag is the URL-safe
//! base64 of its SHA-1.
//!
//! Files are read with one fixed buffer, never whole: images are gigabytes.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// The block size of the object ETag (fixed by UFile, whatever the part size).
pub const ETAG_BLOCK: u64 = 4 << 20;

/// How much of a file [`file_etag`] holds at a time.
const READ_BUFFER: usize = 1 << 20;

/// The object ETag of data given in pieces of any size.
#[derive(Clone, Debug, Default)]
pub struct EtagHasher {
    /// The block being read.
    block: Sha1,
    block_len: u64,
    /// Blocks completed so far.
    blocks: u32,
    /// The first block's SHA-1: the ETag's hash when the data is one block.
    first: Option<[u8; 20]>,
    /// SHA-1 over the SHA-1s of the completed blocks.
    outer: Sha1,
}

impl EtagHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = usize::try_from(ETAG_BLOCK - self.block_len).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            self.block.update(now);
            self.block_len += now.len() as u64;
            data = rest;
            if self.block_len == ETAG_BLOCK {
                self.close_block();
            }
        }
    }

    fn close_block(&mut self) {
        let digest: [u8; 20] = std::mem::take(&mut self.block).finalize().into();
        self.outer.update(digest);
        if self.blocks == 0 {
            self.first = Some(digest);
        }
        self.blocks += 1;
        self.block_len = 0;
    }

    pub fn finish(mut self) -> String {
        if self.block_len > 0 {
            self.close_block();
        }
        let hash: [u8; 20] = match (self.blocks, self.first) {
            (0, _) => Sha1::digest([]).into(),
            (1, Some(first)) => first,
            _ => self.outer.finalize().into(),
        };
        let mut raw = Vec::with_capacity(24);
        raw.extend_from_slice(&self.blocks.to_le_bytes());
        raw.extend_from_slice(&hash);
        URL_SAFE.encode(raw)
    }
}

/// The ETag UFile answers for a part holding `data`.
pub fn part_etag(data: &[u8]) -> String {
    URL_SAFE.encode(Sha1::digest(data))
}

/// What identifies a file's version without reading it: if any of these
/// changed, the file may have changed, and an ETag computed earlier no
/// longer speaks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (negative before it).
    pub mtime_ns: i64,
    /// Device and inode on Unix: a file replaced by another (a rename over
    /// it) keeps neither.
    pub inode: Option<Inode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inode {
    pub dev: u64,
    pub ino: u64,
}

impl Fingerprint {
    pub fn of(path: &Path) -> io::Result<Fingerprint> {
        Ok(Fingerprint::from_metadata(&std::fs::metadata(path)?))
    }

    fn from_metadata(meta: &Metadata) -> Fingerprint {
        let mtime_ns = match meta.modified() {
            Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
                Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
            },
            Err(_) => 0,
        };
        Fingerprint {
            size: meta.len(),
            mtime_ns,
            inode: inode(meta),
        }
    }
}

#[cfg(unix)]
fn inode(meta: &Metadata) -> Option<Inode> {
    use std::os::unix::fs::MetadataExt;
    Some(Inode {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(not(unix))]
fn inode(_meta: &Metadata) -> Option<Inode> {
    None
}

/// A local file as an upload needs it: its size, its ETag, and the
/// fingerprint it had while it was hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalFile {
    pub size: u64,
    pub etag: String,
    pub fingerprint: Fingerprint,
}

/// Hashes the file at `path` (blocking: run it off the async threads). Fails
/// with `ErrorKind::Other` if the file changed while it was read, since the
/// ETag would then describe no version of it.
pub fn file_etag(path: &Path) -> io::Result<LocalFile> {
    let mut file = File::open(path)?;
    let before = Fingerprint::from_metadata(&file.metadata()?);
    let mut hasher = EtagHasher::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let after = Fingerprint::of(path)?;
    if after != before || size != before.size {
        return Err(io::Error::other(format!(
            "{} changed while it was read ({} bytes before, {} read, {} now)",
            path.display(),
            before.size,
            size,
            after.size
        )));
    }
    Ok(LocalFile {
        size,
        etag: hasher.finish(),
        fingerprint: before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sha1(data: &[u8]) -> Vec<u8> {
        Sha1::digest(data).to_vec()
    }

    /// The rule written out directly, block by block, for comparison.
    fn reference(data: &[u8]) -> String {
        let blocks: Vec<&[u8]> = data.chunks(ETAG_BLOCK as usize).collect();
        let mut raw = (blocks.len() as u32).to_le_bytes().to_vec();
        if blocks.len() <= 1 {
            raw.extend(sha1(data));
        } else {
            let concat: Vec<u8> = blocks.iter().flat_map(|b| sha1(b)).collect();
            raw.extend(sha1(&concat));
        }
        URL_SAFE.encode(raw)
    }

    fn one_shot(data: &[u8]) -> String {
        let mut h = EtagHasher::new();
        h.update(data);
        h.finish()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn the_part_etag_of_4_mib_of_zeros_is_the_documented_example() {
        assert_eq!(part_etag(&vec![0u8; 4 << 20]), "K8y9LzjxXBPrfVqJ_Z2F9ZXiO8M=");
    }

    #[test]
    fn one_block_hashes_the_data_and_counts_one() {
        // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d, computed apart.
        let mut raw = vec![1, 0, 0, 0];
        raw.extend(hex::decode("a9993e364706816aba3e25717850c26c9cd0d89d").unwrap());
        assert_eq!(one_shot(b"abc"), URL_SAFE.encode(&raw));
        assert_eq!(one_shot(b"abc"), "AQAAAKmZPjZHBoFquj4lcXhQwmyc0Nid");
        // A full block is still one block: SHA-1 of the data, not of its SHA-1.
        let zeros = vec![0u8; 4 << 20];
        let mut raw = vec![1, 0, 0, 0];
        raw.extend(sha1(&zeros));
        assert_eq!(one_shot(&zeros), URL_SAFE.encode(&raw));
    }

    #[test]
    fn an_empty_file_is_zero_blocks() {
        // SHA-1("") = da39a3ee 5e6b4b0d 3255bfef 95601890 afd80709.
        let mut raw = vec![0, 0, 0, 0];
        raw.extend(hex::decode("da39a3ee5e6b4b0d3255bfef95601890afd80709").unwrap());
        assert_eq!(one_shot(b""), URL_SAFE.encode(&raw));
    }

    #[test]
    fn several_blocks_hash_the_block_hashes() {
        let data = pattern((8 << 20) + 5);
        let mut concat = sha1(&data[..4 << 20]);
        concat.extend(sha1(&data[4 << 20..8 << 20]));
        concat.extend(sha1(&data[8 << 20..]));
        let mut raw = vec![3, 0, 0, 0];
        raw.extend(sha1(&concat));
        assert_eq!(one_shot(&data), URL_SAFE.encode(&raw));
        assert_eq!(one_shot(&data), reference(&data));
        // Exactly two blocks: no empty third one.
        assert_eq!(one_shot(&data[..8 << 20]), reference(&data[..8 << 20]));
        assert!(one_shot(&data[..8 << 20]).starts_with("AgAAA"));
    }

    #[test]
    fn streaming_in_odd_pieces_equals_one_shot() {
        let data = pattern((9 << 20) + 12345);
        for piece in [1usize, 7, 4093, 65537, (4 << 20) - 1, (4 << 20) + 3] {
            let mut h = EtagHasher::new();
            for chunk in data.chunks(piece) {
                h.update(chunk);
            }
            assert_eq!(h.finish(), reference(&data), "pieces of {piece}");
        }
    }

    #[test]
    fn a_file_is_hashed_with_its_fingerprint() {
        let data = pattern((4 << 20) + 1);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        f.flush().unwrap();
        let local = file_etag(f.path()).unwrap();
        assert_eq!(local.size, data.len() as u64);
        assert_eq!(local.etag, reference(&data));
        assert_eq!(local.fingerprint, Fingerprint::of(f.path()).unwrap());
        assert_eq!(local.fingerprint.size, local.size);
        let json = serde_json::to_string(&local).unwrap();
        assert_eq!(serde_json::from_str::<LocalFile>(&json).unwrap(), local);
    }
}
