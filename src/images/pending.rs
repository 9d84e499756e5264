//! Images a create started that Terraform may never have heard of. When
//! Terraform is killed (SIGKILL, the OOM killer) while the provider waits
//! for an image, the id UCloud answered never reaches the state, and the
//! next apply would import a second image. So the provider keeps a record
//! of each accepted create in the working directory's data directory
//! (`$TF_DATA_DIR`, by default `.terraform/`, under `ucloud-pending/`):
//!
//! - written when UCloud accepts the import or copy;
//! - removed when the create answers a Terraform that still runs (the
//!   provider's parent is the process that started it), whatever the
//!   outcome: the id is then Terraform's to keep;
//! - kept when Terraform is gone, and claimed by the next create of an image
//!   with the same name in the same region and project from the same working
//!   directory: that create adopts the image (if it still exists and did not
//!   fail) instead of making a second one.
//!
//! Limits: a run killed in another directory or on another machine (a CI
//! runner thrown away) leaves no record here, and its image stays in UCloud
//! under its name; records older than [`MAX_AGE_SECS`] are ignored. Nothing here
//! is ever needed for correctness of a run that was not killed: a record
//! that cannot be written or read is logged and otherwise ignored.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Location, is_image_id, unix_now};

/// How long a record may wait for the next apply: longer than any create
/// timeout a user sets in practice, short enough that a forgotten record
/// cannot claim an unrelated image months later.
pub const MAX_AGE_SECS: i64 = 7 * 24 * 3600;

/// The directory under the data directory holding the records.
pub const DIR_NAME: &str = "ucloud-pending";

/// The largest record read: a record is a few hundred bytes.
const MAX_RECORD_BYTES: u64 = 4096;

/// One accepted create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    image_id: String,
    name: String,
    region: String,
    project_id: Option<String>,
    /// Unix seconds.
    accepted_at: i64,
}

/// The records of one working directory; a disabled set (no directory)
/// records nothing and finds nothing.
#[derive(Debug, Default)]
pub struct Pending {
    dir: Option<PathBuf>,
    /// The provider's parent when the provider started: Terraform.
    parent: u32,
    /// Ids claimed by a create of this process, so two creates of the same
    /// name never adopt the same image.
    claimed: Mutex<HashSet<String>>,
}

impl Pending {
    /// Records kept in `data_dir/ucloud-pending/`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Pending {
            dir: Some(data_dir.join(DIR_NAME)),
            parent: std::os::unix::process::parent_id(),
            claimed: Mutex::default(),
        }
    }

    /// Records nothing (tests, and where no data directory is known).
    pub fn disabled() -> Self {
        Pending::default()
    }

    fn path(&self, image_id: &str) -> Option<PathBuf> {
        // The id names the file: only well-formed ids, so no path tricks.
        let dir = self.dir.as_ref()?;
        is_image_id(image_id).then(|| dir.join(format!("{image_id}.json")))
    }

    /// Notes that UCloud accepted a create of `name` in `loc` as `image_id`.
    pub fn note(&self, loc: &Location, name: &str, image_id: &str) {
        let (Some(dir), Some(path)) = (self.dir.as_ref(), self.path(image_id)) else {
            return;
        };
        let record = Record {
            image_id: image_id.to_owned(),
            name: name.to_owned(),
            region: loc.region.clone(),
            project_id: loc.project_id.clone(),
            accepted_at: unix_now(),
        };
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            let text = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
            // Written whole, then renamed: a reader never sees half a record.
            let partial = path.with_extension("json.partial");
            std::fs::write(&partial, text)?;
            std::fs::rename(&partial, &path)
        });
        match written {
            Ok(()) => tracing::debug!(image_id, path = %path.display(), "create recorded until Terraform has its id"),
            Err(error) => tracing::warn!(image_id, %error, "could not record the create; a killed run may orphan it"),
        }
    }

    /// The create of `image_id` answered Terraform: the record goes, unless
    /// Terraform is gone (the answer reached nobody), so the next apply can
    /// adopt the image.
    pub fn answered(&self, image_id: &str) {
        if self.dir.is_some() && std::os::unix::process::parent_id() != self.parent {
            tracing::warn!(
                image_id,
                "Terraform is gone: the create's record is kept for the next apply to adopt the image"
            );
            return;
        }
        self.forget(image_id);
    }

    /// Removes the record of `image_id`, if any.
    pub fn forget(&self, image_id: &str) {
        if let Some(path) = self.path(image_id) {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::debug!(image_id, "create record removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => tracing::warn!(image_id, %error, "could not remove the create record"),
            }
        }
    }

    /// The id of an image an earlier, killed run started as `name` in `loc`
    /// and that no create of this process has claimed yet: claimed now.
    /// The caller checks that the image still exists, and forgets it if not.
    pub fn claim(&self, loc: &Location, name: &str) -> Option<String> {
        let dir = self.dir.as_ref()?;
        let entries = std::fs::read_dir(dir).ok()?;
        let now = unix_now();
        let mut candidates: Vec<Record> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| read_record(&e.path()))
            .filter(|r| {
                r.name == name
                    && r.region == loc.region
                    && r.project_id == loc.project_id
                    && now.saturating_sub(r.accepted_at) <= MAX_AGE_SECS
            })
            .collect();
        // The oldest first: the order the killed run started them in.
        candidates.sort_by_key(|r| (r.accepted_at, r.image_id.clone()));
        let mut claimed = self.claimed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let chosen = candidates.into_iter().find(|r| !claimed.contains(&r.image_id))?;
        claimed.insert(chosen.image_id.clone());
        Some(chosen.image_id)
    }
}

/// A record file, if it is a small regular file holding a record.
fn read_record(path: &Path) -> Option<Record> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_RECORD_BYTES {
        return None;
    }
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(project: Option<&str>) -> Location {
        Location::new("cn-bj2", project.map(str::to_owned))
    }

    #[test]
    fn a_record_is_claimed_once_by_name_and_place_and_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pending = Pending::in_data_dir(dir.path());
        pending.note(&loc(Some("org-a")), "golden", "uimage-aaa");
        pending.note(&loc(Some("org-a")), "golden", "uimage-bbb");
        pending.note(&loc(Some("org-b")), "golden", "uimage-ccc");
        pending.note(&loc(Some("org-a")), "other", "uimage-ddd");

        // A later process of the same directory claims each image once.
        let next = Pending::in_data_dir(dir.path());
        assert_eq!(next.claim(&loc(Some("org-a")), "golden").as_deref(), Some("uimage-aaa"));
        assert_eq!(next.claim(&loc(Some("org-a")), "golden").as_deref(), Some("uimage-bbb"));
        assert_eq!(next.claim(&loc(Some("org-a")), "golden"), None);
        assert_eq!(next.claim(&loc(None), "other"), None, "another project");

        next.forget("uimage-aaa");
        let again = Pending::in_data_dir(dir.path());
        assert_eq!(
            again.claim(&loc(Some("org-a")), "golden").as_deref(),
            Some("uimage-bbb")
        );
    }

    #[test]
    fn an_answer_to_a_running_terraform_removes_the_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pending = Pending::in_data_dir(dir.path());
        pending.note(&loc(None), "golden", "uimage-aaa");
        // This process's parent is the one it started with: "Terraform" runs.
        pending.answered("uimage-aaa");
        assert_eq!(Pending::in_data_dir(dir.path()).claim(&loc(None), "golden"), None);
    }

    #[test]
    fn bad_ids_old_records_and_odd_files_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pending = Pending::in_data_dir(dir.path());
        pending.note(&loc(None), "golden", "../../etc/passwd");
        assert!(!dir.path().join(DIR_NAME).exists() || pending.claim(&loc(None), "golden").is_none());

        let records = dir.path().join(DIR_NAME);
        std::fs::create_dir_all(&records).expect("mkdir");
        let old = Record {
            image_id: "uimage-old".into(),
            name: "golden".into(),
            region: "cn-bj2".into(),
            project_id: None,
            accepted_at: unix_now() - MAX_AGE_SECS - 1,
        };
        std::fs::write(records.join("uimage-old.json"), serde_json::to_vec(&old).expect("json")).expect("write");
        std::fs::write(records.join("uimage-junk.json"), b"not json").expect("write");
        std::fs::create_dir(records.join("uimage-dir.json")).expect("mkdir");
        assert_eq!(pending.claim(&loc(None), "golden"), None);

        let disabled = Pending::disabled();
        disabled.note(&loc(None), "golden", "uimage-aaa");
        assert_eq!(disabled.claim(&loc(None), "golden"), None);
    }
}
