//! The `source` block of `ucloud_custom_image`: a local image file that the
//! provider uploads to UFile before the import, so one apply takes a file on
//! disk to an image.
//!
//! Planning reads the file's UFile ETag (the content's fingerprint, as UFile
//! computes it) to decide whether the image must be replaced, but reads the
//! file only when it is new or its size, mtime or inode changed: the last
//! (fingerprint, ETag) pair is kept in the resource's private state, so an
//! unchanged multi-GB file costs a `stat` per plan, and a `touch` costs one
//! read and plans nothing.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::CustomImageModel;
use crate::framework::plan::unless_imported;
use crate::framework::{AttrPath, Diagnostic, Diagnostics, Maybe, Plan, PlanRequest, Private, attr, v};
use crate::ucloud::ImageFormat;
use crate::ucloud::ufile::{self, Fingerprint, LocalFile, file_etag};
use crate::{attr_name, attr_path, model};

/// Where staging objects go when no key is given.
pub const DEFAULT_KEY_PREFIX: &str = "terraform-import/";
/// The private-state entry holding the last fingerprint and its ETag.
const PRIVATE_ENTRY: &str = "source_file";

model! {
    /// The `source` block.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct SourceModel {
        pub path: Maybe<String> = attr::required(
            "The local image file (RAW, VHD, VMDK or qcow2), e.g. `output/c7.qcow2`. Uploaded to UFile before the \
             import, in parts with bounded memory, resuming an interrupted upload. A new path with the same \
             content replaces nothing.",
        )
        .validate(v::non_empty().help("Give the path of the local image file.")),
        pub bucket: Maybe<String> = attr::required(
            "The UFile bucket the file is staged in, in the image's region.",
        )
        .validate(v::non_empty())
        .requires_replace_if(unless_imported),
        pub key: Maybe<String> = attr::optional_computed(
            "The object key of the staged file. Default: `terraform-import/<etag>.<format>`, named by the content, \
             so an interrupted or failed run is resumed or reused by the next.",
        )
        .validate(v::non_empty())
        .requires_replace_if(unless_imported),
        pub keep_object: Maybe<bool> = attr::optional(
            "Keep the staged object after the import (and on destroy). By default it is deleted once the image is \
             `Available`, and leftovers (an unfinished upload, an object a failed import left) on destroy. Never \
             replaces the image.",
        )
        .default(false),
        pub concurrency: Maybe<i64> = attr::optional(
            "Parts uploaded at once. Memory use is about twice this many parts (UFile's part size, 4 MiB). Never \
             replaces the image.",
        )
        .default(ufile::DEFAULT_CONCURRENCY as i64)
        .validate(v::between(1, ufile::MAX_CONCURRENCY as i64)),
        pub etag: Maybe<String> = attr::computed(
            "The file's UFile ETag (SHA-1 over its 4 MiB blocks, as UFile computes it). A new value replaces the \
             image.",
        ),
        pub size: Maybe<i64> = attr::computed("The file's size in bytes."),
    }
}

type M = CustomImageModel;

/// The path of an attribute of the `source` block.
pub fn source_path(attr: &str) -> AttrPath {
    attr_path!(M, source).then(attr)
}

/// What the private state remembers of the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Remembered {
    fingerprint: Fingerprint,
    etag: String,
}

/// The default object key for a file's content and format.
pub fn default_key(etag: &str, format: ImageFormat) -> String {
    format!(
        "{DEFAULT_KEY_PREFIX}{etag}.{}",
        format.as_api_str().to_ascii_lowercase()
    )
}

/// Runs blocking file work without stalling the runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The file's size and ETag, from `remembered` when its fingerprint still
/// matches, else read (and remembered in `private`).
pub fn local_file(path: &str, private: &mut Private) -> Result<LocalFile, Diagnostic> {
    let at = source_path(attr_name!(SourceModel, path));
    let cannot = |e: std::io::Error| {
        Diagnostic::error(
            "Cannot read the image file",
            format!("{path}: {e}. Check the path (relative paths start at the directory Terraform runs in)."),
        )
        .at(at.clone())
    };
    let fingerprint = Fingerprint::of(Path::new(path)).map_err(cannot)?;
    if let Some(r) = private.get::<Remembered>(PRIVATE_ENTRY)
        && r.fingerprint == fingerprint
    {
        tracing::debug!(path, etag = %r.etag, "file unchanged since the last plan: its ETag is reused, the file is not read");
        return Ok(LocalFile {
            size: fingerprint.size,
            etag: r.etag,
            fingerprint,
        });
    }
    let started = std::time::Instant::now();
    let file = blocking(|| file_etag(Path::new(path))).map_err(cannot)?;
    tracing::info!(path, size = file.size, etag = %file.etag, elapsed = ?started.elapsed(), "file read for its ETag");
    private.set(
        PRIVATE_ENTRY,
        &Remembered {
            fingerprint: file.fingerprint,
            etag: file.etag.clone(),
        },
    );
    Ok(file)
}

/// Plans `source`: size and ETag from the file, the default key, and a
/// replacement when the content changed. Without a `source` block, the
/// remembered fingerprint is dropped.
pub fn plan_source(req: &PlanRequest<M>, plan: &mut Plan<M>) -> Option<LocalFile> {
    let Some(config) = req.config.source.as_ref() else {
        plan.private.remove(PRIVATE_ENTRY);
        return None;
    };
    let planned = plan.planned.source.as_mut()?;
    let Maybe::Known(path) = &config.path else {
        planned.etag = Maybe::Unknown;
        planned.size = Maybe::Unknown;
        return None;
    };
    let file = match local_file(path, &mut plan.private) {
        Ok(f) => f,
        Err(d) => {
            plan.diagnostics.push(d);
            return None;
        }
    };
    planned.etag = Maybe::Known(file.etag.clone());
    planned.size = i64::try_from(file.size).map_or(Maybe::Unknown, Maybe::Known);
    if matches!(config.key, Maybe::Null) {
        let format = req.config.format.known().and_then(|f| ImageFormat::parse(f));
        planned.key = match format {
            Some(f) => Maybe::Known(default_key(&file.etag, f)),
            None => Maybe::Unknown,
        };
    }
    let prior_etag = req
        .prior
        .as_ref()
        .and_then(|p| p.source.as_ref())
        .and_then(|s| s.etag.known().cloned());
    if let Some(before) = prior_etag
        && before != file.etag
    {
        plan.requires_replace.push(source_path(attr_name!(SourceModel, etag)));
    }
    Some(file)
}

/// Plan-time checks between `source` and `ufile_url` beyond the declared
/// ones.
pub fn validate_source(config: &M) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if let Some(s) = &config.source
        && let Maybe::Known(key) = &s.key
        && (key.starts_with('/') || key.split('/').any(|seg| seg == ".." || seg == "."))
    {
        diags.push(
            Diagnostic::error(
                "Invalid object key",
                format!(
                    "{key:?}: a UFile key has no leading \"/\" and no \".\" or \"..\" segments. Write it like \
                     images/c7.qcow2, or leave it out for the default."
                ),
            )
            .at(source_path(attr_name!(SourceModel, key))),
        );
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_are_named_by_content_and_format() {
        assert_eq!(
            default_key("BAAAAK8y9LzjxXBPrfVqJ_Z2F9ZXiO8M", ImageFormat::Qcow2),
            "terraform-import/BAAAAK8y9LzjxXBPrfVqJ_Z2F9ZXiO8M.qcow2"
        );
        assert_eq!(default_key("x", ImageFormat::Raw), "terraform-import/x.raw");
    }

    #[test]
    fn an_unchanged_fingerprint_reuses_the_etag_without_reading_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.raw");
        std::fs::write(&path, vec![1u8; 5000]).unwrap();
        let p = path.to_str().unwrap();
        let mut private = Private::default();
        let first = local_file(p, &mut private).unwrap();
        let stored = Private::from_bytes(&private.to_bytes());
        // Same length, same mtime, same inode, other bytes: only a read would notice.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, vec![2u8; 5000]).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let mut again = stored.clone();
        let second = local_file(p, &mut again).unwrap();
        assert_eq!(second.etag, first.etag, "the remembered ETag is used");
        assert_eq!(again.to_bytes(), stored.to_bytes());
        // A new mtime: the file is read again.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime + std::time::Duration::from_secs(5))
            .unwrap();
        let mut third_private = stored.clone();
        let third = local_file(p, &mut third_private).unwrap();
        assert_ne!(third.etag, first.etag);
    }

    #[test]
    fn a_missing_file_is_an_error_at_source_path() {
        let mut private = Private::default();
        let d = local_file("/nonexistent/disk.qcow2", &mut private).unwrap_err();
        assert_eq!(
            d.attribute.as_ref().map(|p| p.to_string()).as_deref(),
            Some("source.path")
        );
        assert!(d.detail.contains("/nonexistent/disk.qcow2"), "{}", d.detail);
    }
}
