//! The simulator's images and their life cycle, plus the optional state file.
//!
//! An import is `Making` until its ready time, then reaches the outcome
//! decided when it started: by the real bytes of an object under
//! `--ufile-dir`, otherwise `Unavailable` when the UFileUrl path contains
//! `corrupt` (the convention tests use to make an import fail) and
//! `Available` else. A copy is `Copying` until its ready time, then
//! `Available`, or `Unavailable` when its source was imported from a path
//! containing `corrupt-copy` (such an import itself succeeds, so the source
//! can be copied at all). The state is
//! derived from the clock on every read, so no timer has to run and a
//! restarted simulator resumes where it stopped.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The project of requests that send no ProjectId.
pub const DEFAULT_PROJECT: &str = "org-default";

/// The UFileUrl path marker of an image that imports fine but whose copies fail.
pub const CORRUPT_COPY: &str = "corrupt-copy";

/// Size reported for every image, in GB.
const IMAGE_SIZE_GB: u64 = 20;

/// Features reported for every image.
const FEATURES: [&str; 3] = ["NetEnhnced", "HotPlug", "CloudInit"];

/// UCloud's own platform images, seen in every region and project: listed
/// by DescribeImage (after the custom ones), never terminated.
const BASE_IMAGES: [(&str, &str); 2] = [
    ("uimage-base-centos79", "CentOS 7.9 64位"),
    ("uimage-base-ubuntu2204", "Ubuntu 22.04 64位"),
];

/// Creation time reported for the platform images (2020-09-13).
const BASE_CREATE_TIME: u64 = 1_600_000_000;

/// The platform images as DescribeImage lists them.
pub fn base_images() -> impl Iterator<Item = (&'static str, Value)> {
    BASE_IMAGES.iter().map(|(id, os_name)| {
        let view = json!({
            "ImageId": id,
            "ImageName": os_name,
            "ImageDescription": "",
            "ImageType": "Base",
            "OsType": "Linux",
            "OsName": os_name,
            "State": State::Available.as_str(),
            "ImageSize": IMAGE_SIZE_GB,
            "CreateTime": BASE_CREATE_TIME,
            "Zone": "",
            "Features": FEATURES,
            "FuncType": "",
            "Tag": "",
            "MinimalCPU": "",
            "Vendor": "UCloud",
            "Links": "",
        });
        (*id, view)
    })
}

/// An image's state as DescribeImage reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Making,
    Copying,
    Available,
    Unavailable,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Making => "Making",
            State::Copying => "Copying",
            State::Available => "Available",
            State::Unavailable => "Unavailable",
        }
    }

    /// Whether the image is still being made or copied.
    pub fn is_pending(self) -> bool {
        matches!(self, State::Making | State::Copying)
    }
}

/// One imported image, as stored (and as written to the state file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub image_id: String,
    pub image_name: String,
    pub image_description: String,
    pub region: String,
    pub project_id: String,
    /// The OsType given to ImportCustomImage (CentOS, Windows, Other, ..).
    pub import_os_type: String,
    pub os_name: String,
    pub format: String,
    #[serde(rename = "UFileUrl")]
    pub ufile_url: String,
    pub tag: String,
    /// Unix seconds.
    pub create_time: u64,
    /// Unix milliseconds at which the image leaves `Making` (or `Copying`).
    pub ready_at_ms: u64,
    /// The state reached after `Making` (or `Copying`).
    pub outcome: State,
    /// Why the import fails, for the hook (UCloud itself says nothing).
    #[serde(default)]
    pub import_error: Option<String>,
    pub deleted: bool,
    /// For a copy (CopyCustomImage), the id of its source image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
}

/// Where and as what CopyCustomImage makes a copy.
#[derive(Clone, Debug)]
pub struct CopyTarget {
    pub image_id: String,
    pub region: String,
    pub project_id: String,
    pub image_name: String,
    pub image_description: String,
    pub tag: String,
}

impl Image {
    /// The outcome an import of `ufile_url` reaches.
    pub fn outcome_for(ufile_url: &str) -> State {
        let path = url_path(ufile_url);
        if path.contains("corrupt") && !path.contains(CORRUPT_COPY) {
            State::Unavailable
        } else {
            State::Available
        }
    }

    /// The copy of this image that CopyCustomImage makes at `now_ms`,
    /// copying for `copy_ms`.
    pub fn copy(&self, target: CopyTarget, now_ms: u64, copy_ms: u64) -> Image {
        let outcome = if url_path(&self.ufile_url).contains(CORRUPT_COPY) {
            State::Unavailable
        } else {
            State::Available
        };
        Image {
            image_id: target.image_id,
            image_name: target.image_name,
            image_description: target.image_description,
            region: target.region,
            project_id: target.project_id,
            import_os_type: self.import_os_type.clone(),
            os_name: self.os_name.clone(),
            format: self.format.clone(),
            ufile_url: self.ufile_url.clone(),
            tag: target.tag,
            create_time: now_ms / 1000,
            ready_at_ms: now_ms.saturating_add(copy_ms),
            outcome,
            import_error: (outcome == State::Unavailable)
                .then(|| format!("the source was imported from a path containing `{CORRUPT_COPY}`")),
            deleted: false,
            copied_from: Some(self.image_id.clone()),
        }
    }

    pub fn state(&self, now_ms: u64) -> State {
        match (now_ms < self.ready_at_ms, &self.copied_from) {
            (true, Some(_)) => State::Copying,
            (true, None) => State::Making,
            (false, _) => self.outcome,
        }
    }

    /// DescribeImage's `OsType`: a different vocabulary from the import's.
    pub fn describe_os_type(&self) -> &'static str {
        if self.import_os_type.eq_ignore_ascii_case("windows") {
            "Windows"
        } else {
            "Linux"
        }
    }

    /// The object DescribeImage lists in `ImageSet`.
    pub fn describe_view(&self, now_ms: u64) -> Value {
        json!({
            "ImageId": self.image_id,
            "ImageName": self.image_name,
            "ImageDescription": self.image_description,
            "ImageType": "Custom",
            "OsType": self.describe_os_type(),
            "OsName": self.os_name,
            "State": self.state(now_ms).as_str(),
            "ImageSize": IMAGE_SIZE_GB,
            "CreateTime": self.create_time,
            "Zone": "",
            "Features": FEATURES,
            "FuncType": "",
            "Tag": self.tag,
            "MinimalCPU": "",
            "Vendor": "",
            "Links": "",
        })
    }

    /// The object the `/_sim/images` hook lists: what tests need to check,
    /// including what the API never returns (Format, UFileUrl with its
    /// signature redacted, Deleted).
    pub fn hook_view(&self, now_ms: u64) -> Value {
        json!({
            "ImageId": self.image_id,
            "ImageName": self.image_name,
            "ImageDescription": self.image_description,
            "State": self.state(now_ms).as_str(),
            "Region": self.region,
            "ProjectId": self.project_id,
            "Deleted": self.deleted,
            "CreateTime": self.create_time,
            "UFileUrl": crate::ufile::redact_url(&self.ufile_url),
            "Format": self.format,
            "OsType": self.import_os_type,
            "OsName": self.os_name,
            "Tag": self.tag,
            "ImportError": self.import_error,
            "CopiedFrom": self.copied_from,
        })
    }
}

fn url_path(url: &str) -> String {
    url::Url::parse(url).map(|u| u.path().to_string()).unwrap_or_default()
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StateFile {
    images: Vec<Image>,
}

/// All images ever imported (deleted ones stay, marked), in import order.
#[derive(Debug, Default)]
pub struct Store {
    images: Vec<Image>,
    path: Option<PathBuf>,
}

impl Store {
    /// A store saved to `path` after every change; loads it if it exists.
    pub fn open(path: Option<PathBuf>) -> Result<Self, String> {
        let images = match &path {
            Some(p) if p.exists() => {
                let text = std::fs::read(p).map_err(|e| format!("cannot read state file {}: {e}", p.display()))?;
                let file: StateFile = serde_json::from_slice(&text).map_err(|e| {
                    format!(
                        "state file {} is not a ucloud-sim state file ({e}); move it away to start empty",
                        p.display()
                    )
                })?;
                file.images
            }
            _ => Vec::new(),
        };
        Ok(Store { images, path })
    }

    pub fn images(&self) -> &[Image] {
        &self.images
    }

    pub fn contains(&self, image_id: &str) -> bool {
        self.images.iter().any(|i| i.image_id == image_id)
    }

    pub fn insert(&mut self, image: Image) {
        self.images.push(image);
    }

    /// The live image `image_id` visible from `region` and `project`.
    pub fn find_live_mut(&mut self, region: &str, project: &str, image_id: &str) -> Option<&mut Image> {
        self.images
            .iter_mut()
            .find(|i| !i.deleted && i.image_id == image_id && i.region == region && i.project_id == project)
    }

    /// Marks `image_id` deleted whatever its region and project; `None` if
    /// there is no such live image.
    pub fn delete_out_of_band(&mut self, image_id: &str) -> Option<&Image> {
        let image = self.images.iter_mut().find(|i| !i.deleted && i.image_id == image_id)?;
        image.deleted = true;
        Some(image)
    }

    pub fn clear(&mut self) {
        self.images.clear();
    }

    /// Writes the state file, if any, atomically (temp file + rename) so a
    /// crash never leaves half a file.
    pub fn save(&self) -> io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        write_atomically(
            path,
            &StateFile {
                images: self.images.clone(),
            },
        )
    }
}

fn write_atomically(path: &Path, content: &StateFile) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut tmp, content)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, url: &str, ready_at_ms: u64) -> Image {
        Image {
            image_id: id.to_string(),
            image_name: "n".to_string(),
            image_description: String::new(),
            region: "cn-bj2".to_string(),
            project_id: DEFAULT_PROJECT.to_string(),
            import_os_type: "CentOS".to_string(),
            os_name: "CentOS 7".to_string(),
            format: "RAW".to_string(),
            ufile_url: url.to_string(),
            tag: "Default".to_string(),
            create_time: 1,
            ready_at_ms,
            outcome: Image::outcome_for(url),
            import_error: None,
            deleted: false,
            copied_from: None,
        }
    }

    #[test]
    fn an_import_is_making_until_ready_then_reaches_its_outcome() {
        let ok = image("uimage-a", "https://b.cn-bj.ufileos.com/disk.raw", 1000);
        assert_eq!(ok.state(999), State::Making);
        assert_eq!(ok.state(1000), State::Available);
        let bad = image(
            "uimage-b",
            "https://b.cn-bj.ufileos.com/x/corrupt-disk.raw?Signature=1",
            1000,
        );
        assert_eq!(bad.state(0), State::Making);
        assert_eq!(bad.state(5000), State::Unavailable);
    }

    #[test]
    fn only_the_url_path_decides_corruption() {
        assert_eq!(
            Image::outcome_for("https://corrupt.example.com/disk.raw"),
            State::Available
        );
        assert_eq!(
            Image::outcome_for("https://h.example.com/disk.raw?k=corrupt"),
            State::Available
        );
        assert_eq!(Image::outcome_for("https://h.example.com/corrupt"), State::Unavailable);
    }

    #[test]
    fn a_copy_is_copying_until_ready_and_fails_only_for_a_corrupt_copy_source() {
        let target = |id: &str| CopyTarget {
            image_id: id.to_string(),
            region: "cn-sh2".to_string(),
            project_id: "org-b".to_string(),
            image_name: "c".to_string(),
            image_description: String::new(),
            tag: "Default".to_string(),
        };
        let src = image("uimage-a", "https://b.cn-bj.ufileos.com/disk.raw", 0);
        let copy = src.copy(target("uimage-c"), 10_000, 2000);
        assert_eq!(
            (copy.state(11_999), copy.state(12_000)),
            (State::Copying, State::Available)
        );
        assert_eq!((copy.region.as_str(), copy.project_id.as_str()), ("cn-sh2", "org-b"));
        assert_eq!(copy.copied_from.as_deref(), Some("uimage-a"));
        assert_eq!(copy.create_time, 10);
        assert_eq!(copy.hook_view(0)["CopiedFrom"], "uimage-a");
        let fragile = image("uimage-f", "https://b.cn-bj.ufileos.com/corrupt-copy/disk.raw", 0);
        assert_eq!(fragile.state(0), State::Available, "the import itself works");
        assert_eq!(fragile.copy(target("uimage-d"), 0, 1).state(5), State::Unavailable);
        assert_eq!(src.hook_view(0)["CopiedFrom"], Value::Null);
    }

    #[test]
    fn windows_imports_describe_as_windows_and_everything_else_as_linux() {
        let mut img = image("uimage-a", "https://h/x", 0);
        assert_eq!(img.describe_os_type(), "Linux");
        img.import_os_type = "Windows".to_string();
        assert_eq!(img.describe_os_type(), "Windows");
        assert_eq!(img.describe_view(0)["OsType"], "Windows");
        assert_eq!(
            img.describe_view(0)["Features"],
            json!(["NetEnhnced", "HotPlug", "CloudInit"])
        );
    }

    #[test]
    fn the_state_file_round_trips_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut store = Store::open(Some(path.clone())).unwrap();
        store.insert(image("uimage-a", "https://h/x", 7));
        store.insert(image("uimage-b", "https://h/y", 8));
        assert!(store.delete_out_of_band("uimage-b").is_some());
        store.save().unwrap();
        let again = Store::open(Some(path.clone())).unwrap();
        assert_eq!(again.images(), store.images());
        std::fs::write(&path, "{\"not\":1}").unwrap();
        let err = Store::open(Some(path)).unwrap_err();
        assert!(err.contains("not a ucloud-sim state file"), "{err}");
    }
}
