//! `ucloud_custom_image_copy`: a custom image copied into another region
//! and/or project (CopyCustomImage). The model, schema and validation are in
//! `model.rs`; this file says where a copy lives and what a copy needs
//! before its one call: the source checked (it must exist, be a custom
//! image and be `Available`) and the request. Create, settle or taint, read,
//! delete and import come from the shared image lifecycle
//! (`resources::lifecycle`): a copy is never orphaned, a lost answer is
//! reconciled in the target by name, a copy that ends `Unavailable` is
//! deleted again.

pub mod model;

use super::lifecycle::{ImageResource, Prepared, Words};
use crate::framework::{Context, Diagnostic, Diagnostics, Failure, Maybe, Plan, PlanRequest};
use crate::images::{ImageApi, Location};
use crate::provider_data::ProviderData;
use crate::ucloud::{CopyCustomImage, Image, ImageState};
use crate::{attr_name, attr_path};
use async_trait::async_trait;
use model::{CustomImageCopyModel, onto_itself, validate_config};
use tokio_util::sync::CancellationToken;

/// What the messages and docs call a copy.
pub const WORDS: Words = Words {
    object: "image copy",
    operation: "Custom image copy",
    verb: "copy",
    in_progress: "Copying",
    slow: "Copies across regions of large images take longer",
};

type M = CustomImageCopyModel;

/// The `ucloud_custom_image_copy` resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImageCopyResource;

/// Where the copy lives, or the error saying how to tell. The target
/// project must be known: CopyCustomImage requires `TargetProjectId`.
fn target_of(m: &M, data: &ProviderData) -> Result<Location, Diagnostic> {
    let loc = state_location(m, data)?;
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

/// Where the copy of a plan or state lives: its recorded region and project
/// (null is the default project, which only an imported copy can have).
fn state_location(m: &M, data: &ProviderData) -> Result<Location, Diagnostic> {
    data.locate_recorded(&m.region, &m.project_id, attr_path!(M, region))
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
        Ok(Some(img)) if !img.is_custom() => Err(at(
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

super::lifecycle::image_model!(M, timeouts: super::lifecycle::TIMEOUTS, location: state_location);

#[async_trait]
impl ImageResource for CustomImageCopyResource {
    type Model = M;
    type Call = CopyCustomImage;

    const TYPE_NAME: &'static str = "ucloud_custom_image_copy";
    const WORDS: Words = WORDS;

    fn description(&self) -> String {
        "A copy of a UHost custom image in another region and/or project (CopyCustomImage). Creating it checks \
         that the source image is `Available`, copies it once and waits in the target until the copy is \
         `Available`; a copy that fails is deleted again. UCloud cannot change an image, so changing any \
         argument but `timeouts` replaces the copy."
            .into()
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

    /// The source, checked in its location, then the request into the target.
    async fn prepare(
        &self,
        ctx: &Context,
        data: &ProviderData,
        model: &mut M,
    ) -> Result<Prepared<CopyCustomImage>, Failure<M>> {
        let target = target_of(model, data)?;
        let from = model.source_location(&target);
        let source_id = model.source_image_id.known().cloned().ok_or_else(|| {
            Diagnostic::error(
                "Value not known at apply time",
                format!(
                    "{} has no known value. This is a bug in the provider; please report it.",
                    attr_name!(M, source_image_id)
                ),
            )
            .at(attr_path!(M, source_image_id))
        })?;
        let source = checked_source(&ImageApi::new(data.client()?, from.clone()), &ctx.cancel, &source_id).await?;
        let call = copy_request(model, &source, &from, &target)?;
        // The plan could not tell when the name was left to the source's.
        if from == target && call.target_image_name.as_deref() == Some(source.image_name.as_str()) {
            return Err(onto_itself().into());
        }
        model.locate(&target, &from);
        tracing::info!(source = %source_id, from = %from, "copying");
        Ok(Prepared {
            location: target,
            call,
            warnings: Diagnostics::new(),
        })
    }

    fn unavailable_hint(&self, model: &M, _loc: &Location) -> String {
        format!(
            "The source was {}. Check that cross-region copy is enabled for the account (a UCloud support ticket) \
             and that the source image is intact.",
            model.source_image_id.known().map_or("the source image", String::as_str)
        )
    }
}

#[cfg(test)]
mod tests;
