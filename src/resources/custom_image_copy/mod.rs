//! `ucloud_custom_image_copy`: a custom image copied into another region
//! and/or project (CopyCustomImage). The model, schema and validation are in
//! `model.rs`; this file is the lifecycle: plan defaults, create / read /
//! delete / import.
//!
//! What it guarantees, as the import resource does: a copy is never
//! orphaned. The source is checked before anything is created; the copy's
//! id is recorded the moment CopyCustomImage answers, and every failure
//! after that keeps it in the state (tainted). A lost answer is reconciled
//! in the target by name and creation time instead of copying twice. A copy
//! that ends `Unavailable` is deleted again.

pub mod model;

use super::import_id::parse_import_id;
use super::state_image_id;
use super::{Lookup, look_up};
use crate::framework::timeouts::Op;
use crate::framework::{
    ApplyResult, Context, Diagnostic, Diagnostics, Maybe, Model, Plan, PlanRequest, ReadResult, Resource, Schema,
};
use crate::images::{Halt, ImageApi, Location, Settled, create_once, human};
use crate::provider_data::ProviderData;
use crate::ucloud::{CopyCustomImage, Image, ImageState};
use crate::{attr_name, attr_path};
use async_trait::async_trait;
use model::{CustomImageCopyModel, Refresh, onto_itself, validate_config};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The resource type name.
pub const TYPE_NAME: &str = "ucloud_custom_image_copy";

/// The state of a copy that has been accepted but not finished.
const COPYING: &str = "Copying";

/// The image type CopyCustomImage copies.
const CUSTOM: &str = "Custom";

type M = CustomImageCopyModel;

/// The resource's schema.
pub fn custom_image_copy_schema() -> Schema {
    M::schema(
        0,
        "A copy of a UHost custom image in another region and/or project (CopyCustomImage). Creating it checks \
         that the source image is `Available`, copies it once and waits in the target until the copy is \
         `Available`; a copy that fails is deleted again. UCloud cannot change an image, so changing any \
         argument but `timeouts` replaces the copy.",
    )
}

/// Where the copy lives, or the error saying how to tell. The target
/// project must be known: CopyCustomImage requires `TargetProjectId`.
fn target_of(m: &M, data: &ProviderData) -> Result<Location, Diagnostic> {
    let loc = data.location(&m.region, &m.project_id).ok_or_else(|| {
        let name = attr_name!(M, region);
        Diagnostic::error(
            "No region for the image copy",
            format!("Set `{name}` on the resource, or `{name}` (or UCLOUD_REGION) on the provider."),
        )
        .at(attr_path!(M, region))
    })?;
    if loc.project_id.is_none() {
        return Err(no_target_project());
    }
    Ok(loc)
}

fn no_target_project() -> Diagnostic {
    let name = attr_name!(M, project_id);
    Diagnostic::error(
        "No project for the image copy",
        format!(
            "UCloud's CopyCustomImage needs the id of the project the copy goes to (TargetProjectId), even for \
             the account's default project. Set `{name}` on the resource, or `{name}` (or UCLOUD_PROJECT_ID) on \
             the provider."
        ),
    )
    .at(attr_path!(M, project_id))
}

/// Where the copy of a state lives: its recorded region and project (null
/// is the default project, which only an imported copy can have).
fn state_location(m: &M, data: &ProviderData) -> Result<Location, Diagnostic> {
    data.location(&m.region, &m.project_id).ok_or_else(|| {
        Diagnostic::error(
            "No region for the image copy",
            format!(
                "The state holds no {} for the copy and the provider has none. Set `{}` on the provider.",
                attr_name!(M, region),
                attr_name!(M, region)
            ),
        )
        .at(attr_path!(M, region))
    })
}

/// The source image, checked before anything is created: it must exist, be
/// a custom image and be `Available`. Every error names `source_image_id`.
async fn checked_source(api: &ImageApi<'_>, cancel: &CancellationToken, id: &str) -> Result<Image, Diagnostic> {
    let at = |summary: &str, detail: String| Diagnostic::error(summary, detail).at(attr_path!(M, source_image_id));
    let (attr, region, project) = (
        attr_name!(M, source_image_id),
        attr_name!(M, source_region),
        attr_name!(M, source_project_id),
    );
    match api.get(id, cancel).await {
        Err(e) => Err(at(
            "Failed to read the source image",
            format!("Reading {attr} {id} in {} failed, so nothing was copied: {e}", api.loc),
        )),
        Ok(None) => Err(at(
            "Source image not found",
            format!(
                "{attr} {id} does not exist in {}, so nothing was copied. Check {attr}, and {region} / {project} \
                 if the source lives elsewhere than the copy.",
                api.loc
            ),
        )),
        Ok(Some(img)) if !img.image_type.is_empty() && img.image_type != CUSTOM => Err(at(
            "Source is not a custom image",
            format!(
                "{attr} {id} is a {} image ({:?}); CopyCustomImage copies only custom images. Platform images \
                 are available in every region already.",
                img.image_type, img.image_name
            ),
        )),
        Ok(Some(img)) if img.state_kind() != ImageState::Available => Err(at(
            "Source image not available",
            format!(
                "{attr} {id} is {} in {}, and only an Available image can be copied; nothing was copied. If it \
                 is still being imported, refer to it as `ucloud_custom_image.NAME.id` so the copy waits for the \
                 import.",
                img.state, api.loc
            ),
        )),
        Ok(Some(img)) => Ok(img),
    }
}

/// The CopyCustomImage request: from `source` into `target`, under the
/// planned name and description or else the source's own.
fn copy_request(m: &M, source: &Image, from: &Location, target: &Location) -> Result<CopyCustomImage, Diagnostic> {
    let target_project_id = target.project_id.clone().ok_or_else(no_target_project)?;
    let or_source = |planned: &Maybe<String>, source: &str| {
        planned
            .known()
            .cloned()
            .or_else(|| Some(source.to_string()))
            .filter(|s| !s.is_empty())
    };
    Ok(CopyCustomImage {
        region: from.region.clone(),
        project_id: from.project_id.clone(),
        source_image_id: source.image_id.clone(),
        target_project_id,
        target_region: Some(target.region.clone()),
        target_image_name: or_source(&m.name, &source.image_name),
        target_image_description: or_source(&m.description, &source.image_description),
        target_image_tag: m.tag.known().filter(|t| !t.is_empty()).cloned(),
    })
}

/// A copy UCloud has accepted: from here on it exists in the target.
struct Accepted {
    image_id: String,
    started: Instant,
    create_timeout: Duration,
}

/// The `ucloud_custom_image_copy` resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImageCopyResource;

impl CustomImageCopyResource {
    /// Create after the id exists: wait in the target, and on every failure
    /// keep the id in the state unless the copy is certainly gone.
    async fn finish_create(
        &self,
        ctx: &Context,
        api: &ImageApi<'_>,
        data: &ProviderData,
        mut model: M,
        accepted: Accepted,
    ) -> ApplyResult<M> {
        let Accepted {
            image_id,
            started,
            create_timeout,
        } = accepted;
        model.id = Maybe::Known(image_id.clone());
        model.status = Maybe::Known(COPYING.to_string());
        let tainted = |mut m: M, status: &str, summary: &str, detail: String| {
            m.status = Maybe::Known(status.to_string());
            ApplyResult {
                state: Some(m),
                diagnostics: Diagnostic::error(
                    summary,
                    format!(
                        "{detail} The copy is kept in the state as tainted: the next `terraform apply` replaces it \
                         and `terraform destroy` deletes it."
                    ),
                )
                .into(),
            }
        };
        let deadline = started + create_timeout;
        let settled = data
            .waiter
            .until_settled(api, &ctx.cancel, &image_id, deadline, COPYING)
            .await;
        let elapsed = human(started.elapsed());
        match settled {
            Settled::Available(img) => {
                tracing::info!(image_id, elapsed = ?started.elapsed(), "image copy available");
                model.refresh(&img, Refresh::AfterCreate);
                ApplyResult::done(model)
            }
            Settled::Unavailable(img) => {
                tracing::warn!(image_id, "copy ended Unavailable, deleting it");
                let why = format!(
                    "UCloud could not copy {source} into {target}: copy {image_id} ended in state {state} after \
                     {elapsed}. Check that cross-region copy is enabled for the account (a UCloud support ticket) \
                     and that the source image is intact.",
                    source = model.source_image_id.known().map_or("the source image", String::as_str),
                    target = api.loc,
                    state = img.state,
                );
                let cleanup_deadline = Instant::now() + model.timeout(Op::Delete);
                match data.waiter.delete(api, &ctx.cancel, &image_id, cleanup_deadline).await {
                    Ok(()) => ApplyResult::failed(Diagnostic::error(
                        "Custom image copy failed",
                        format!("{why} The failed copy was deleted: nothing is left behind."),
                    )),
                    Err(cleanup_err) => tainted(
                        model,
                        &img.state,
                        "Custom image copy failed",
                        format!("{why} Deleting the failed copy did not complete: {cleanup_err}"),
                    ),
                }
            }
            Settled::Unexpected(img) => tainted(
                model,
                &img.state,
                "Image copy in an unexpected state",
                format!(
                    "Copy {image_id} is in state {:?}, which is neither in progress (Copying, Making) nor done \
                     (Available, Unavailable), {elapsed} after the copy started. Check it in the UCloud console.",
                    img.state
                ),
            ),
            // Kept rather than dropped: if UCloud merely lagged, dropping the id
            // would orphan the copy; if it is really gone, the next refresh
            // removes it from the state.
            Settled::Gone => tainted(
                model,
                COPYING,
                "Image copy disappeared while copying",
                format!(
                    "Copy {image_id} was created but then no longer found in {}: was it deleted outside \
                     Terraform?",
                    api.loc
                ),
            ),
            Settled::Halted(Halt::TimedOut, last) => tainted(
                model,
                &last,
                "Timed out waiting for the image copy",
                format!(
                    "Copy {image_id} in {} was still {last} after {elapsed} ({timeout} = {}). Copies across \
                     regions of large images take longer: raise `{timeout}`.",
                    api.loc,
                    human(create_timeout),
                    timeout = format_args!("{}.{}", attr_name!(M, timeouts), Op::Create.as_str()),
                ),
            ),
            Settled::Halted(Halt::Cancelled, last) => tainted(
                model,
                &last,
                "Image copy interrupted",
                format!(
                    "Terraform asked the provider to stop while copy {image_id} in {} was {last} ({elapsed} after \
                     the copy started).",
                    api.loc
                ),
            ),
            Settled::Failed(e, last) => tainted(
                model,
                &last,
                "Failed to read the image copy while waiting for it",
                format!("Copy {image_id} in {} was {last} when polling it failed: {e}.", api.loc),
            ),
        }
    }
}

#[async_trait]
impl Resource<ProviderData> for CustomImageCopyResource {
    type Model = M;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        custom_image_copy_schema()
    }

    fn validate(&self, config: &M) -> Diagnostics {
        validate_config(config)
    }

    /// New copies: the provider's region and project are the copy's
    /// defaults, the copy's own are the source's. After `terraform import`
    /// the source arguments are null in the state: they are filled the same
    /// way, in place.
    fn modify_plan(&self, data: &ProviderData, req: &PlanRequest<M>, plan: &mut Plan<M>) {
        let (config, planned) = (&req.config, &mut plan.planned);
        if req.prior.is_none() {
            if matches!(config.region, Maybe::Null) {
                planned.region = data.region.clone();
            }
            if matches!(config.project_id, Maybe::Null) {
                planned.project_id = data.project_id.clone();
            }
            if matches!(planned.project_id, Maybe::Null) {
                plan.diagnostics.push(no_target_project());
            }
            if config.copies_onto_itself(&data.region, &data.project_id) == Some(true) {
                plan.diagnostics.push(onto_itself());
            }
        }
        // Null in a prior state only after `terraform import`: a create
        // always records both.
        let unrecorded = |prior: Option<&Maybe<String>>| prior.is_none_or(|p| matches!(p, Maybe::Null));
        let prior = req.prior.as_ref();
        if matches!(config.source_region, Maybe::Null) && unrecorded(prior.map(|p| &p.source_region)) {
            planned.source_region = planned.region.clone();
        }
        if matches!(config.source_project_id, Maybe::Null) && unrecorded(prior.map(|p| &p.source_project_id)) {
            planned.source_project_id = planned.project_id.clone();
        }
    }

    async fn create(&self, ctx: &Context, data: &ProviderData, mut model: M) -> ApplyResult<M> {
        let started = Instant::now();
        let client = match data.client() {
            Ok(c) => c,
            Err(d) => return ApplyResult::failed(d),
        };
        let target = match target_of(&model, data) {
            Ok(l) => l,
            Err(d) => return ApplyResult::failed(d),
        };
        let from = model.source_location(&target);
        let Some(source_id) = model.source_image_id.known().cloned() else {
            return ApplyResult::failed(
                Diagnostic::error(
                    "Value not known at apply time",
                    format!(
                        "{} has no known value. This is a bug in the provider; please report it.",
                        attr_name!(M, source_image_id)
                    ),
                )
                .at(attr_path!(M, source_image_id)),
            );
        };
        let source_api = ImageApi::new(client, from.clone());
        let source = match checked_source(&source_api, &ctx.cancel, &source_id).await {
            Ok(img) => img,
            Err(d) => return ApplyResult::failed(d),
        };
        let req = match copy_request(&model, &source, &from, &target) {
            Ok(r) => r,
            Err(d) => return ApplyResult::failed(d),
        };
        // The plan could not tell when the name was left to the source's.
        if from == target && req.target_image_name.as_deref() == Some(source.image_name.as_str()) {
            return ApplyResult::failed(onto_itself());
        }
        let name = req.target_image_name.clone().unwrap_or_default();
        model.locate(&target, &from);
        let create_timeout = model.timeout(Op::Create);
        let api = ImageApi::new(client, target);
        let never = CancellationToken::new();
        let copied = create_once(
            &api,
            &ctx.cancel,
            &name,
            "copy",
            started + create_timeout,
            data.waiter.schedule(),
            || async { client.call(&req, &never).await.map(|r| r.target_image_id) },
        )
        .await;
        let image_id = match copied {
            Ok(id) => id,
            Err(f) => return ApplyResult::failed(Diagnostic::error(f.summary, f.detail)),
        };
        tracing::info!(image_id, source = %source_id, target = %api.loc, "custom image copy started");
        let accepted = Accepted {
            image_id,
            started,
            create_timeout,
        };
        self.finish_create(ctx, &api, data, model, accepted).await
    }

    async fn read(&self, ctx: &Context, data: &ProviderData, mut model: M) -> ReadResult<M> {
        let location = state_location(&model, data);
        match look_up(
            ctx,
            data,
            &model.id,
            attr_path!(M, id),
            location,
            "Image copy",
            TYPE_NAME,
        )
        .await
        {
            Lookup::Found(img, loc) => {
                model.refresh(&img, Refresh::Read);
                model.region = Maybe::Known(loc.region);
                if model.project_id.is_unknown() {
                    model.project_id = loc.project_id.map_or(Maybe::Null, Maybe::Known);
                }
                ReadResult::found(model)
            }
            Lookup::Gone => ReadResult::gone(),
            Lookup::Keep(diagnostics) => ReadResult {
                state: Some(model),
                diagnostics,
            },
        }
    }

    async fn delete(&self, ctx: &Context, data: &ProviderData, model: M) -> Diagnostics {
        let image_id = match state_image_id(&model.id, attr_path!(M, id)) {
            Ok(Some(id)) => id,
            Ok(None) => return Diagnostics::new(),
            Err(d) => return d.into(),
        };
        let client = match data.client() {
            Ok(c) => c,
            Err(d) => return d.into(),
        };
        let loc = match state_location(&model, data) {
            Ok(l) => l,
            Err(d) => return d.into(),
        };
        let api = ImageApi::new(client, loc);
        let deadline = Instant::now() + model.timeout(Op::Delete);
        match data.waiter.delete(&api, &ctx.cancel, image_id, deadline).await {
            Ok(()) => {
                tracing::info!(image_id, "image copy deleted");
                Diagnostics::new()
            }
            Err(detail) => Diagnostic::error("Failed to delete image copy", detail).into(),
        }
    }

    /// Only what locates the copy; Read fills in the rest. The source
    /// arguments stay null: the next plan takes them from the configuration
    /// without a replacement.
    async fn import(&self, _ctx: &Context, data: &ProviderData, id: &str) -> Result<M, Diagnostics> {
        let parsed =
            parse_import_id(id).map_err(|why| Diagnostics::from(Diagnostic::error("Invalid import id", why)))?;
        let loc = parsed.location(id, data)?;
        Ok(M {
            id: Maybe::Known(parsed.image_id),
            region: Maybe::Known(loc.region),
            project_id: loc.project_id.map_or(Maybe::Null, Maybe::Known),
            ..M::default()
        })
    }
}

#[cfg(test)]
mod tests;
