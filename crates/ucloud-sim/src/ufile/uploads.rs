//! Unfinished multipart uploads: which exist, which parts each holds, and
//! UFile's rules for finishing one. Parts live on disk in one data file per
//! upload, `DIR/.multipart/ID/data` (a bucket name cannot start with `.`),
//! part N at N x BlkSize, so a multi-gigabyte upload never sits in memory
//! and Finish renames the file rather than copying the parts; what is known
//! of them (size, ETag of the stored bytes) is kept here. Uploads are not kept across a
//! restart: the spool is emptied when the simulator starts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::etag::ObjectHasher;

/// Where parts and temporary files go, under `--ufile-dir`.
pub const SPOOL: &str = ".multipart";

/// One part as stored.
#[derive(Clone, Debug)]
pub struct Part {
    /// The ETag of the bytes on disk (which a corruption fault makes differ
    /// from the one answered).
    pub etag: String,
    pub size: u64,
    pub modified: u64,
}

/// One unfinished upload.
#[derive(Clone, Debug)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub started: u64,
    pub storage_class: String,
    pub blk_size: u64,
    pub parts: BTreeMap<u32, Part>,
}

/// Why FinishMultipartUpload is refused: HTTP status, RetCode, ErrMsg.
/// UFile documents no multipart RetCodes; "invalid etag count" is seen in
/// the wild, the rest are the simulator's.
pub type Refused = (u16, i64, String);

pub const NO_SUCH_UPLOAD: (u16, i64, &str) = (404, -148661, "upload id not exist");

fn refused(status: u16, code: i64, message: impl Into<String>) -> Refused {
    (status, code, message.into())
}

/// Where bodies are written under `root` (`--ufile-dir`) before being
/// renamed into place: the same filesystem, so the rename is atomic.
pub fn tmp_dir(root: &Path) -> PathBuf {
    root.join(SPOOL).join("tmp")
}

/// Every unfinished upload, by id.
#[derive(Debug)]
pub struct Uploads {
    spool: PathBuf,
    open: BTreeMap<String, Upload>,
}

impl Uploads {
    /// Empties (or makes) the spool under `root`.
    pub fn open(root: &Path) -> std::io::Result<Uploads> {
        let spool = root.join(SPOOL);
        if spool.exists() {
            std::fs::remove_dir_all(&spool)?;
        }
        std::fs::create_dir_all(tmp_dir(root))?;
        Ok(Uploads {
            spool,
            open: BTreeMap::new(),
        })
    }

    /// The data file of upload `id`, which holds its parts at their places.
    pub fn data_path(&self, id: &str) -> PathBuf {
        self.spool.join(id).join("data")
    }

    pub fn begin(&mut self, id: String, upload: Upload) -> std::io::Result<()> {
        std::fs::create_dir_all(self.spool.join(&id))?;
        File::create(self.data_path(&id))?;
        self.open.insert(id, upload);
        Ok(())
    }

    /// The upload `id` if it is one of `bucket`/`key`.
    pub fn get(&self, id: &str, bucket: &str, key: &str) -> Option<&Upload> {
        self.open.get(id).filter(|u| u.bucket == bucket && u.key == key)
    }

    /// Records a part already renamed into place; false when the upload is
    /// gone meanwhile.
    pub fn stored(&mut self, id: &str, n: u32, part: Part) -> bool {
        match self.open.get_mut(id) {
            Some(upload) => {
                upload.parts.insert(n, part);
                true
            }
            None => false,
        }
    }

    /// Forgets upload `id` and deletes its parts.
    pub fn remove(&mut self, id: &str) -> Option<Upload> {
        let upload = self.open.remove(id)?;
        let _ = std::fs::remove_dir_all(self.spool.join(id));
        Some(upload)
    }

    /// Checks a Finish body against upload `id` as UFile does: one ETag per
    /// part, parts 0..n-1, each ETag that of the stored part, every part
    /// but the last exactly BlkSize. On success, the data file and the
    /// object's size.
    pub fn check_finish(&self, id: &str, bucket: &str, key: &str, body: &str) -> Result<(PathBuf, u64), Refused> {
        let Some(upload) = self.get(id, bucket, key) else {
            let (s, c, m) = NO_SUCH_UPLOAD;
            return Err(refused(s, c, m));
        };
        let etags: Vec<&str> = body
            .split(',')
            .map(|e| e.trim().trim_matches('"'))
            .filter(|e| !e.is_empty())
            .collect();
        let contiguous = upload.parts.keys().copied().eq(0..upload.parts.len() as u32);
        if etags.is_empty() || etags.len() != upload.parts.len() || !contiguous {
            return Err(refused(400, -148662, "invalid etag count"));
        }
        let last = etags.len() - 1;
        for (i, (part, etag)) in upload.parts.values().zip(&etags).enumerate() {
            if part.etag != *etag {
                return Err(refused(400, -148663, format!("invalid etag of part {i}")));
            }
            let size_ok = if i < last {
                part.size == upload.blk_size
            } else {
                part.size <= upload.blk_size
            };
            if !size_ok {
                return Err(refused(
                    400,
                    -148664,
                    format!(
                        "invalid size of part {i}: {} bytes, BlkSize is {}",
                        part.size, upload.blk_size
                    ),
                ));
            }
        }
        Ok((self.data_path(id), upload.parts.values().map(|p| p.size).sum()))
    }

    /// ListParts: parts numbered from `marker` on (UFile's part numbers
    /// start at 0 and its SDKs send marker 0 to list from the first), at
    /// most `max`; `NextPartNumberMarker` is the number to ask for next.
    pub fn list_parts(&self, id: &str, bucket: &str, marker: u32, max: usize) -> Option<Value> {
        let upload = self.open.get(id).filter(|u| u.bucket == bucket)?;
        let mut listed = upload.parts.range(marker..);
        let page: Vec<(&u32, &Part)> = listed.by_ref().take(max).collect();
        let truncated = listed.next().is_some();
        let next = page.last().map_or(marker, |(n, _)| **n + 1);
        Some(json!({
            "UploadId": id,
            "Bucket": upload.bucket,
            "Key": upload.key,
            "MaxParts": max,
            "IsTruncated": truncated,
            "NextPartNumberMarker": if truncated { next } else { 0 },
            "Parts": page.iter().map(|(n, p)| json!({
                "PartNum": n, "Etag": p.etag, "Size": p.size, "LastModified": p.modified,
            })).collect::<Vec<_>>(),
        }))
    }

    /// GetMultiUploadId: the uploads of `bucket` whose key starts with
    /// `prefix`, ordered by key then id, after `marker`, at most `limit`.
    /// `NextMarker` is the last id listed; a marker that is no upload id is
    /// taken as a key (uploads of later keys), as the doc's example uses it.
    pub fn list_uploads(&self, bucket: &str, prefix: &str, marker: &str, limit: usize) -> Value {
        let mut all: Vec<(&String, &Upload)> = self
            .open
            .iter()
            .filter(|(_, u)| u.bucket == bucket && u.key.starts_with(prefix))
            .collect();
        all.sort_by(|a, b| (&a.1.key, a.0).cmp(&(&b.1.key, b.0)));
        let start = if marker.is_empty() {
            0
        } else if let Some(at) = all.iter().position(|(id, _)| id.as_str() == marker) {
            at + 1
        } else {
            all.iter().take_while(|(_, u)| u.key.as_str() <= marker).count()
        };
        let rest = &all[start.min(all.len())..];
        let page = &rest[..limit.min(rest.len())];
        let truncated = rest.len() > page.len();
        json!({
            "RetCode": 0,
            "ErrMsg": "",
            "Bucket": bucket,
            "IsTruncated": truncated,
            "NextMarker": if truncated { page.last().map_or("", |(id, _)| id.as_str()) } else { "" },
            "DataSet": page.iter().map(|(id, u)| json!({
                "UploadId": id, "FileName": u.key, "StartTime": u.started, "StorageClass": u.storage_class,
            })).collect::<Vec<_>>(),
        })
    }

    /// Every upload, for the hook.
    pub fn view(&self) -> Vec<Value> {
        self.open
            .iter()
            .map(|(id, u)| {
                json!({
                    "id": id, "bucket": u.bucket, "key": u.key, "blk_size": u.blk_size,
                    "parts": u.parts.iter().map(|(n, p)| json!({"number": n, "etag": p.etag, "size": p.size}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect()
    }
}

/// Makes the object from an upload's data file: cut to `size` (a longer
/// part sent earlier may have left bytes past the end), its ETag `known`
/// from the parts' or read, then renamed to `target` (its directories made).
pub fn complete(data: &Path, size: u64, known_etag: Option<String>, target: &Path) -> std::io::Result<String> {
    let file = File::options().write(true).open(data)?;
    file.set_len(size)?;
    drop(file);
    let etag = match known_etag {
        Some(etag) => etag,
        None => {
            let mut file = File::open(data)?;
            let mut hasher = ObjectHasher::default();
            let mut buf = vec![0; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            hasher.finish()
        }
    };
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(data, target)?;
    Ok(etag)
}

/// Renames a finished temporary file to `target`, making its directories.
pub fn place(file: tempfile::NamedTempFile, target: &Path) -> std::io::Result<()> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    file.persist(target).map(|_| ()).map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(parts: &[(u32, &str, u64)]) -> Upload {
        Upload {
            bucket: "images".into(),
            key: "k".into(),
            started: 1,
            storage_class: "STANDARD".into(),
            blk_size: 4,
            parts: parts
                .iter()
                .map(|(n, e, s)| {
                    (
                        *n,
                        Part {
                            etag: e.to_string(),
                            size: *s,
                            modified: 1,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn finish_needs_every_part_its_etag_and_full_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut uploads = Uploads::open(dir.path()).unwrap();
        uploads
            .begin("u1".into(), upload(&[(0, "a", 4), (1, "b", 4), (2, "c", 1)]))
            .unwrap();
        uploads
            .begin("gap".into(), upload(&[(0, "a", 4), (2, "c", 1)]))
            .unwrap();
        uploads
            .begin("short".into(), upload(&[(0, "a", 3), (1, "b", 1)]))
            .unwrap();
        // On success: the data file and the object's size.
        let check = |id: &str, body: &str| uploads.check_finish(id, "images", "k", body).map(|(_, size)| size);
        assert_eq!(check("u1", "a,b,c"), Ok(9));
        assert_eq!(check("u1", "\"a\", b,c"), Ok(9));
        assert_eq!(check("u1", "a,b").unwrap_err().2, "invalid etag count");
        assert_eq!(check("u1", "a,x,c").unwrap_err().2, "invalid etag of part 1");
        assert_eq!(check("gap", "a,c").unwrap_err().2, "invalid etag count");
        assert!(
            check("short", "a,b")
                .unwrap_err()
                .2
                .starts_with("invalid size of part 0")
        );
        assert_eq!(check("nope", "a").unwrap_err().0, 404);
        assert_eq!(
            uploads.check_finish("u1", "images", "other", "a,b,c").unwrap_err().0,
            404
        );
    }

    #[test]
    fn both_lists_page() {
        let dir = tempfile::tempdir().unwrap();
        let mut uploads = Uploads::open(dir.path()).unwrap();
        uploads
            .begin("u1".into(), upload(&[(0, "a", 4), (1, "b", 4), (2, "c", 1)]))
            .unwrap();
        let page = uploads.list_parts("u1", "images", 0, 2).unwrap();
        assert_eq!(
            (page["IsTruncated"].clone(), page["NextPartNumberMarker"].clone()),
            (json!(true), json!(2))
        );
        let page = uploads.list_parts("u1", "images", 2, 2).unwrap();
        assert_eq!(page["Parts"][0]["PartNum"], 2);
        assert_eq!(page["IsTruncated"], false);
        for id in ["u2", "u3"] {
            let mut u = upload(&[]);
            u.key = format!("k-{id}");
            uploads.begin(id.into(), u).unwrap();
        }
        let first = uploads.list_uploads("images", "k", "", 2);
        assert_eq!(first["DataSet"].as_array().unwrap().len(), 2);
        let next = first["NextMarker"].as_str().unwrap();
        let second = uploads.list_uploads("images", "k", next, 2);
        assert_eq!(second["DataSet"][0]["UploadId"], "u3");
        assert_eq!(
            (second["IsTruncated"].clone(), second["NextMarker"].clone()),
            (json!(false), json!(""))
        );
        assert_eq!(
            uploads.list_uploads("images", "k-", "k-u2", 5)["DataSet"][0]["UploadId"],
            "u3"
        );
    }
}
