//! The apply side of `source`: the local file checked, then staged in UFile
//! (resuming an interrupted upload, reusing an object with the same ETag),
//! before the import; the staged object removed once the image is
//! `Available`, and leftovers removed on destroy, unless `keep_object`.
//!
//! An upload that is interrupted (Ctrl-C, the create timeout, a killed
//! Terraform) keeps its multipart upload in UFile: the next apply finds it
//! by its key, checks every part against the local bytes and sends only
//! what is missing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::model::CustomImageModel;
use super::preflight;
use super::source::{self, SourceModel, source_path};
use crate::framework::{Context, Diagnostic, Diagnostics, Failure, Maybe};
use crate::images::human;
use crate::provider_data::ProviderData;
use crate::ucloud::ImageFormat;
use crate::ucloud::ufile::{self, ObjectRef, Store, TransferError, UploadRequest};
use crate::{attr_name, attr_path};

type M = CustomImageModel;

fn failed(summary: &str, detail: String, at: crate::framework::AttrPath) -> Failure<M> {
    Diagnostic::error(summary, detail).at(at).into()
}

/// Where the staged object is, from the planned (or stored) `source`.
pub fn staged_object(src: &SourceModel) -> Option<ObjectRef> {
    Some(ObjectRef::new(src.bucket.known()?.clone(), src.key.known()?.clone()))
}

fn store(data: &ProviderData) -> Result<Arc<dyn Store>, Diagnostic> {
    data.uploads.clone().ok_or_else(|| {
        Diagnostic::error(
            "UFile not configured",
            "The provider has no UFile client to upload with. This is a bug in the provider; please report it.",
        )
    })
}

/// Checks and uploads the planned `source`, then records the staged
/// object's URL in `model.ufile_url`. Returns what the upload warned of.
pub async fn stage(
    ctx: &Context,
    data: &ProviderData,
    model: &mut M,
    format: ImageFormat,
    deadline: Instant,
) -> Result<Diagnostics, Failure<M>> {
    let Some(src) = model.source.clone() else {
        return Ok(Diagnostics::new());
    };
    let path_at = source_path(attr_name!(SourceModel, path));
    let Maybe::Known(path) = &src.path else {
        return Err(failed(
            "Value not known at apply time",
            "source.path has no known value. This is a bug in the provider; please report it.".into(),
            path_at,
        ));
    };
    // The file's check, before any byte is sent. Its warnings were shown at plan.
    if model.verify_source.known() != Some(&false)
        && let Err(errors) = preflight::check_local_file(path, format, path_at.clone())
    {
        return Err(errors.into());
    }
    // The ETag the plan promised: the file must still have it.
    let mut private = ctx.planned_private.clone();
    let file = source::local_file(path, &mut private).map_err(Failure::from)?;
    if src.etag.known().is_some_and(|planned| *planned != file.etag) {
        return Err(failed(
            "Image file changed since the plan",
            format!(
                "{path} has ETag {} now, but the plan was made for {}. Nothing was uploaded or imported: run \
                 `terraform apply` again to plan with the file as it is.",
                file.etag,
                src.etag.known().map_or("", String::as_str)
            ),
            path_at,
        ));
    }
    let Some(object) = staged_object(&src) else {
        return Err(failed(
            "Value not known at apply time",
            "source.key has no known value. This is a bug in the provider; please report it.".into(),
            source_path(attr_name!(SourceModel, key)),
        ));
    };
    let store = store(data)?;
    let mut request = UploadRequest::new(PathBuf::from(path), object.clone(), file);
    if let Some(c) = src.concurrency.known().and_then(|c| usize::try_from(*c).ok()) {
        request.concurrency = c;
    }
    // Ctrl-C or the create timeout stop the upload; its parts stay for the next apply.
    let cancel = ctx.cancel.child_token();
    let timer = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline.into()).await;
            cancel.cancel();
        })
    };
    let started = Instant::now();
    // Another image of this run may be staging the same file: one upload,
    // then this one finds the object by its ETag.
    let turn = data.staging.join(&object);
    let result = tokio::select! {
        uploading = turn.lock_owned() => {
            let result = ufile::upload(store.as_ref(), &request, &cancel, &|_| {}).await;
            drop(uploading);
            result
        }
        () = cancel.cancelled() => Err(TransferError::Interrupted {
            object: object.to_string(),
            sent_bytes: 0,
            done_bytes: 0,
            total: request.expected.size,
            parts_done: 0,
            parts_total: 0,
            upload_id: None,
        }),
    };
    timer.abort();
    let uploaded = match result {
        Ok(u) => u,
        Err(e @ TransferError::Interrupted { .. }) => {
            let why = if ctx.is_cancelled() {
                "The provider was told to stop (Ctrl-C in Terraform, or a termination signal)".to_owned()
            } else {
                format!("The create timeout ran out after {}", human(started.elapsed()))
            };
            return Err(failed(
                "Upload interrupted",
                format!(
                    "{why} while uploading {path} to {object}: {e}. Nothing was imported. The parts sent stay in \
                     UFile: the next `terraform apply` resumes the upload."
                ),
                path_at,
            ));
        }
        Err(e) => {
            return Err(failed(
                "Upload failed",
                format!(
                    "Uploading {path} to {object} failed: {e}. Nothing was imported; the next `terraform apply` \
                     uploads again what UFile does not hold yet."
                ),
                path_at,
            ));
        }
    };
    let url = store.object_url(&object, &ctx.cancel).await.map_err(|e| {
        failed(
            "Cannot find the staged object's URL",
            format!("{object} was uploaded, but its URL is unknown: {e}. Nothing was imported."),
            attr_path!(M, ufile_url),
        )
    })?;
    if let Some(s) = model.source.as_mut() {
        s.etag = Maybe::Known(uploaded.etag.clone());
        s.size = i64::try_from(uploaded.size).map_or(Maybe::Null, Maybe::Known);
    }
    model.ufile_url = Maybe::Known(url.to_string());
    model.source_size = i64::try_from(uploaded.size).map_or(Maybe::Null, Maybe::Known);
    Ok(Diagnostics::new())
}

/// When the staged object is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// The image is `Available`: the upload just finished, so only the
    /// object is left.
    AfterImport,
    /// The image is deleted: an earlier run may have left an unfinished
    /// upload under the key too.
    AfterDelete,
}

/// Removes the staged object (and, after a delete, any unfinished upload
/// under its key), unless `keep_object`. A failure is a warning naming the
/// object: never silent, never a failed apply (the image is fine).
pub async fn clean(ctx: &Context, data: &ProviderData, model: &M, when: Cleanup) -> Diagnostics {
    let Some(src) = model.source.as_ref() else {
        return Diagnostics::new();
    };
    if src.keep_object.known() == Some(&true) {
        return Diagnostics::new();
    }
    let Some(object) = staged_object(src) else {
        return Diagnostics::new();
    };
    let Ok(store) = store(data) else {
        return Diagnostics::new();
    };
    if !data.staging.release(&object) {
        tracing::info!(%object, "staged object kept: another image of this run uses it");
        return Diagnostics::new();
    }
    let (cleaned, when) = match when {
        Cleanup::AfterImport => (store.delete(&object, &ctx.cancel).await, "after the import"),
        Cleanup::AfterDelete => (
            ufile::clean(store.as_ref(), &object, &ctx.cancel).await.map(|_| ()),
            "after the image was deleted",
        ),
    };
    match cleaned {
        Ok(()) => {
            tracing::info!(%object, "staged object removed {when}");
            Diagnostics::new()
        }
        Err(e) => Diagnostic::warning(
            "Staged image file not deleted",
            format!(
                "{object} (and any unfinished upload under that key) could not be deleted {when}: {e}. The image \
                 is not affected. Delete the object in the UFile console or with a UFile tool, or set \
                 source.keep_object = true to keep staged files."
            ),
        )
        .at(source_path(attr_name!(SourceModel, keep_object)))
        .into(),
    }
}
