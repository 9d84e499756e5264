//! UFile's ETags, so HEAD, PutFile and FinishMultipartUpload answer what
//! UFile would and a client's own hashing is checked against an
//! independent implementation. Written from UFile's authorization doc
//! ("文件 ETag 生成方法"): `base64url(LE32(block count) || SHA1(data))` for
//! up to one 4 MiB block, else `base64url(LE32(block count) || SHA1(the
//! concatenated SHA-1s of the 4 MiB blocks))`; a part's ETag is the URL-safe
//! base64 of its SHA-1. Both keep base64's padding, as UFile's SDKs do.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use sha1::{Digest, Sha1};

/// The block size of the object ETag, whatever the upload's part size.
pub const BLOCK: u64 = 4 << 20;

/// The ETag of a part whose SHA-1 is `digest`.
pub fn part_etag(digest: &[u8]) -> String {
    URL_SAFE.encode(digest)
}

/// The object ETag of a stream of bytes, fed in pieces of any size.
#[derive(Clone, Default)]
pub struct ObjectHasher {
    block: Sha1,
    block_len: u64,
    /// SHA-1 over the SHA-1s of the blocks completed so far.
    outer: Sha1,
    /// The SHA-1 of the first block: the whole digest of a 1-block object.
    first: Option<[u8; 20]>,
    blocks: u32,
}

impl ObjectHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = usize::try_from(BLOCK - self.block_len).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            self.block.update(now);
            self.block_len += now.len() as u64;
            if self.block_len == BLOCK {
                self.close_block();
            }
            data = rest;
        }
    }

    fn close_block(&mut self) {
        let digest: [u8; 20] = std::mem::take(&mut self.block).finalize().into();
        self.outer.update(digest);
        self.first.get_or_insert(digest);
        self.blocks += 1;
        self.block_len = 0;
    }

    pub fn finish(mut self) -> String {
        if self.block_len > 0 {
            self.close_block();
        }
        let digest: [u8; 20] = match (self.blocks, self.first) {
            (0, _) => Sha1::digest(b"").into(),
            (1, Some(first)) => first,
            _ => self.outer.finalize().into(),
        };
        let mut raw = self.blocks.to_le_bytes().to_vec();
        raw.extend_from_slice(&digest);
        URL_SAFE.encode(raw)
    }
}

/// The object ETag of an object whose 4 MiB blocks have the part ETags
/// `parts` (a multipart upload with UFile's own part size): what hashing
/// the whole object would give, without reading it again. `None` if a
/// part ETag is not a SHA-1.
pub fn of_blocks<S: AsRef<str>>(parts: &[S]) -> Option<String> {
    let mut hasher = ObjectHasher::default();
    for part in parts {
        let digest: [u8; 20] = URL_SAFE.decode(part.as_ref()).ok()?.try_into().ok()?;
        hasher.outer.update(digest);
        hasher.first.get_or_insert(digest);
        hasher.blocks += 1;
    }
    Some(hasher.finish())
}

/// The object ETag of a file, read with a fixed buffer.
pub fn of_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = ObjectHasher::default();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

/// What identifies a file's content without reading it: size, mtime and
/// inode (a file replaced by rename has a new inode even within the
/// filesystem's coarse mtime tick).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    pub fn of(path: &Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// Object ETags already computed: a HEAD of a 10 GiB object must not hash
/// it again each time.
#[derive(Debug, Default)]
pub struct Cache {
    known: HashMap<PathBuf, (Stamp, String)>,
}

impl Cache {
    /// The ETag of `path` if it is still the file it was computed for.
    pub fn get(&self, path: &Path, stamp: &Stamp) -> Option<String> {
        self.known
            .get(path)
            .filter(|(s, _)| s == stamp)
            .map(|(_, etag)| etag.clone())
    }

    pub fn put(&mut self, path: PathBuf, stamp: Stamp, etag: String) {
        self.known.insert(path, (stamp, etag));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha1(data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }

    /// The rule spelled out directly, for sizes small enough to hold.
    fn by_the_doc(data: &[u8]) -> String {
        let blocks = data.len().div_ceil(BLOCK as usize) as u32;
        let digest = if data.len() as u64 <= BLOCK {
            sha1(data)
        } else {
            let shas: Vec<u8> = data.chunks(BLOCK as usize).flat_map(sha1).collect();
            sha1(&shas)
        };
        let mut raw = blocks.to_le_bytes().to_vec();
        raw.extend_from_slice(&digest);
        URL_SAFE.encode(raw)
    }

    #[test]
    fn four_mib_of_zeros_is_the_documented_part_etag() {
        let zeros = vec![0u8; BLOCK as usize];
        assert_eq!(part_etag(&sha1(&zeros)), "K8y9LzjxXBPrfVqJ_Z2F9ZXiO8M=");
    }

    #[test]
    fn streamed_in_odd_pieces_the_object_etag_follows_the_doc() {
        let block = BLOCK as usize;
        for len in [0, 1, 5000, block - 1, block, block + 1, 2 * block + 12345] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut h = ObjectHasher::default();
            for piece in data.chunks(65_521) {
                h.update(piece);
            }
            assert_eq!(h.finish(), by_the_doc(&data), "{len} bytes");
        }
    }

    #[test]
    fn the_object_etag_follows_from_the_part_etags_of_4_mib_parts() {
        let data: Vec<u8> = (0..(2 * BLOCK + 12_345)).map(|i| (i % 251) as u8).collect();
        let parts: Vec<String> = data.chunks(BLOCK as usize).map(|c| part_etag(&sha1(c))).collect();
        assert_eq!(of_blocks(&parts).as_deref(), Some(by_the_doc(&data).as_str()));
        let one = &data[..1000];
        assert_eq!(
            of_blocks(&[part_etag(&sha1(one))]).as_deref(),
            Some(by_the_doc(one).as_str())
        );
        assert_eq!(of_blocks(&["not base64 of a SHA-1"]), None);
    }
}
