//! `ucloud_custom_image`: a disk image file in UFile imported into UHost as a
//! custom image. The model, schema and validation are in `model.rs`; the
//! check of the file before the import in `preflight.rs`; this file is the
//! lifecycle: create / read / delete / import.
//!
//! What it guarantees: an image is never orphaned. The image id is recorded
//! the moment ImportCustomImage answers; a failure after that returns the id
//! so Terraform keeps it (tainted) for the next apply or destroy. A lost
//! answer to the import is reconciled by looking for the image it made before
//! importing again. A failed import (`Unavailable`) is cleaned up.

pub mod model;
pub mod preflight;

use super::import_id::parse_import_id;
use super::without_query;
use super::{Lookup, look_up};
use crate::framework::timeouts::Op;
use crate::framework::{
    ApplyResult, Context, Diagnostic, Diagnostics, Maybe, Model, Plan, PlanRequest, RawState, ReadResult, Resource,
    Schema, plan,
};
use crate::images::{Halt, ImageApi, Location, Settled, create_once, human};
use crate::provider_data::ProviderData;
use crate::ucloud::{ImageFormat, ImportCustomImage};
use crate::{attr_name, attr_path};
use async_trait::async_trait;
use model::{CustomImageModel, Refresh, format_list, validate_config};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The resource type name.
pub const TYPE_NAME: &str = "ucloud_custom_image";

/// The state of an image whose import has been accepted but not finished.
const MAKING: &str = "Making";

/// The schema version: 1 added `verify_source` and `source_size`.
pub const SCHEMA_VERSION: i64 = 1;

/// The resource's schema.
pub fn custom_image_schema() -> Schema {
    CustomImageModel::schema(
        SCHEMA_VERSION,
        "A UHost custom image imported from a disk image file in UFile (ImportCustomImage). Creating it waits \
         until the image is `Available`; an import that fails is deleted again. UCloud cannot change an image \
         after import, so changing any argument replaces it.",
    )
}

/// A required value of the planned model, known by apply time.
fn planned_str<'a>(m: &'a Maybe<String>, attr: &str) -> Result<&'a str, Diagnostic> {
    m.known().map(String::as_str).ok_or_else(|| {
        Diagnostic::error(
            "Value not known at apply time",
            format!("{attr} has no known value. This is a bug in the provider; please report it."),
        )
        .at(crate::framework::AttrPath::attr(attr))
    })
}

/// The ImportCustomImage request for a planned model.
fn import_request(m: &CustomImageModel, loc: &Location) -> Result<ImportCustomImage, Diagnostic> {
    type M = CustomImageModel;
    let format_raw = planned_str(&m.format, attr_name!(M, format))?;
    let format = ImageFormat::parse(format_raw).ok_or_else(|| {
        Diagnostic::error(
            "Invalid image format",
            format!("{format_raw:?} is not one of {}.", format_list()),
        )
        .at(attr_path!(M, format))
    })?;
    Ok(ImportCustomImage {
        region: loc.region.clone(),
        project_id: loc.project_id.clone(),
        image_name: planned_str(&m.name, attr_name!(M, name))?.to_string(),
        ufile_url: planned_str(&m.ufile_url, attr_name!(M, ufile_url))?.to_string(),
        os_type: planned_str(&m.os_type, attr_name!(M, os_type))?.to_string(),
        os_name: planned_str(&m.os_name, attr_name!(M, os_name))?.to_string(),
        format,
        auth: true,
        image_description: m.description.known().filter(|d| !d.is_empty()).cloned(),
        tag: m.tag.known().filter(|t| !t.is_empty()).cloned(),
    })
}

/// Where the image of `m` lives, or the error saying how to tell.
fn location_of(m: &CustomImageModel, data: &ProviderData) -> Result<Location, Diagnostic> {
    data.location(&m.region, &m.project_id).ok_or_else(|| {
        Diagnostic::error(
            "No region for the custom image",
            "Set `region` on the resource, or `region` (or UCLOUD_REGION) on the provider.",
        )
        .at(attr_path!(CustomImageModel, region))
    })
}

/// The image id of a state, refused before any API call when it is empty
/// or not an image id.
fn state_image_id(m: &CustomImageModel) -> Result<Option<&str>, Diagnostic> {
    super::state_image_id(&m.id, attr_path!(CustomImageModel, id))
}

/// An import UCloud has accepted: from here on the image exists.
struct Accepted {
    image_id: String,
    started: Instant,
    create_timeout: Duration,
}

/// The `ucloud_custom_image` resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImageResource;

impl CustomImageResource {
    /// Create after the id exists: wait, and on every failure keep the id in
    /// the state unless the image is certainly gone.
    async fn finish_create(
        &self,
        ctx: &Context,
        api: &ImageApi<'_>,
        data: &ProviderData,
        mut model: CustomImageModel,
        accepted: Accepted,
    ) -> ApplyResult<CustomImageModel> {
        let Accepted {
            image_id,
            started,
            create_timeout,
        } = accepted;
        model.id = Maybe::Known(image_id.clone());
        model.status = Maybe::Known(MAKING.to_string());
        model.region = Maybe::Known(api.loc.region.clone());
        model.project_id = api.loc.project_id.clone().map_or(Maybe::Null, Maybe::Known);
        let tainted = |mut m: CustomImageModel, status: &str, summary: &str, detail: String| {
            m.status = Maybe::Known(status.to_string());
            ApplyResult {
                state: Some(m),
                diagnostics: Diagnostic::error(
                    summary,
                    format!(
                        "{detail} The image is kept in the state as tainted: the next `terraform apply` replaces it \
                         and `terraform destroy` deletes it."
                    ),
                )
                .into(),
            }
        };

        let deadline = started + create_timeout;
        match data
            .waiter
            .until_settled(api, &ctx.cancel, &image_id, deadline, MAKING)
            .await
        {
            Settled::Available(img) => {
                tracing::info!(image_id, elapsed = ?started.elapsed(), "custom image available");
                model.refresh(&img, Refresh::AfterCreate);
                ApplyResult::done(model)
            }
            Settled::Unavailable(img) => {
                let elapsed = human(started.elapsed());
                tracing::warn!(image_id, "import ended Unavailable, deleting the failed image");
                let cleanup_deadline = Instant::now() + model.timeout(Op::Delete);
                let url = model.ufile_url.known().map_or("", |u| without_query(u)).to_string();
                let format = model.format.known().cloned().unwrap_or_default();
                let why = format!(
                    "UCloud could not import {url} as image {image_id} in region {region}: the image ended in state \
                     {state} after {elapsed}. Check that the file is readable by UHost (the provider's key pair \
                     signs the URL it sends, unless ufile_url carries its own signature), that `format` ({format}) \
                     is the file's real format, and that the bucket is in region {region}.",
                    region = api.loc.region,
                    state = img.state,
                );
                match data.waiter.delete(api, &ctx.cancel, &image_id, cleanup_deadline).await {
                    Ok(()) => ApplyResult::failed(Diagnostic::error(
                        "Custom image import failed",
                        format!("{why} The failed image was deleted: nothing is left behind."),
                    )),
                    Err(cleanup_err) => tainted(
                        model,
                        &img.state,
                        "Custom image import failed",
                        format!("{why} Deleting the failed image did not complete: {cleanup_err}"),
                    ),
                }
            }
            Settled::Unexpected(img) => tainted(
                model,
                &img.state,
                "Custom image in an unexpected state",
                format!(
                    "Image {image_id} is in state {:?}, which is neither in progress (Making) nor done (Available, \
                     Unavailable), {} after the import started. Check the image in the UCloud console.",
                    img.state,
                    human(started.elapsed())
                ),
            ),
            // Kept rather than dropped: if UCloud merely lagged, dropping the id
            // would orphan the image; if it is really gone, the next refresh
            // removes it from the state.
            Settled::Gone => tainted(
                model,
                MAKING,
                "Custom image disappeared during import",
                format!(
                    "Image {image_id} was created but then no longer found in region {}: was it deleted outside \
                     Terraform?",
                    api.loc.region
                ),
            ),
            Settled::Halted(Halt::TimedOut, last) => tainted(
                model,
                &last,
                "Timed out waiting for the custom image",
                format!(
                    "Image {image_id} was still {last} after {} (timeouts.create = {}). Large files take longer: \
                     raise `timeouts.create`.",
                    human(started.elapsed()),
                    human(create_timeout)
                ),
            ),
            Settled::Halted(Halt::Cancelled, last) => tainted(
                model,
                &last,
                "Custom image import interrupted",
                format!(
                    "Terraform asked the provider to stop while image {image_id} was {last} ({} after the import \
                     started).",
                    human(started.elapsed())
                ),
            ),
            Settled::Failed(e, last) => tainted(
                model,
                &last,
                "Failed to read the custom image while waiting for it",
                format!("Image {image_id} was {last} when polling it failed: {e}."),
            ),
        }
    }
}

#[async_trait]
impl Resource<ProviderData> for CustomImageResource {
    type Model = CustomImageModel;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        custom_image_schema()
    }

    fn validate(&self, config: &CustomImageModel) -> Diagnostics {
        validate_config(config)
    }

    /// The provider's region and project are defaults for new images only:
    /// an existing image stays where it is when the provider's defaults
    /// change (or are not known yet).
    fn modify_plan(&self, data: &ProviderData, req: &PlanRequest<CustomImageModel>, plan: &mut Plan<CustomImageModel>) {
        if req.prior.is_some() {
            return;
        }
        if req.config.region.known().is_none() && !req.config.region.is_unknown() {
            plan.planned.region = data.region.clone();
        }
        if req.config.project_id.known().is_none() && !req.config.project_id.is_unknown() {
            plan.planned.project_id = data.project_id.clone();
        }
    }

    async fn create(
        &self,
        ctx: &Context,
        data: &ProviderData,
        mut model: CustomImageModel,
    ) -> ApplyResult<CustomImageModel> {
        let started = Instant::now();
        let client = match data.client() {
            Ok(c) => c,
            Err(d) => return ApplyResult::failed(d),
        };
        let loc = match location_of(&model, data) {
            Ok(l) => l,
            Err(d) => return ApplyResult::failed(d),
        };
        let mut req = match import_request(&model, &loc) {
            Ok(r) => r,
            Err(d) => return ApplyResult::failed(d),
        };
        let create_timeout = model.timeout(Op::Create);
        let checked = preflight::check_source(
            ctx,
            data,
            &preflight::Request {
                ufile_url: &req.ufile_url,
                format: req.format,
                region: &loc.region,
                verify: model.verify_source.known().copied().unwrap_or(true),
                create_timeout,
            },
        )
        .await;
        let source = match checked {
            Ok(s) => s,
            Err(d) => return ApplyResult::failed(d),
        };
        req.ufile_url = source.import_url.expose().to_owned();
        model.source_size = source.size;
        let api = ImageApi::new(client, loc);
        let never = CancellationToken::new();
        let imported = create_once(
            &api,
            &ctx.cancel,
            &req.image_name,
            "import",
            started + create_timeout,
            data.waiter.schedule(),
            || async { client.call(&req, &never).await.map(|r| r.image_id) },
        )
        .await;
        let mut diagnostics = source.warnings;
        let image_id = match imported {
            Ok(id) => id,
            Err(f) => {
                diagnostics.push(Diagnostic::error(f.summary, f.detail));
                return ApplyResult::failed(diagnostics);
            }
        };
        tracing::info!(image_id, region = %api.loc.region, url = %source.import_url, "custom image import started");
        let accepted = Accepted {
            image_id,
            started,
            create_timeout,
        };
        let mut result = self.finish_create(ctx, &api, data, model, accepted).await;
        diagnostics.extend(result.diagnostics);
        result.diagnostics = diagnostics;
        result
    }

    async fn read(
        &self,
        ctx: &Context,
        data: &ProviderData,
        mut model: CustomImageModel,
    ) -> ReadResult<CustomImageModel> {
        let location = location_of(&model, data);
        let id_path = attr_path!(CustomImageModel, id);
        match look_up(ctx, data, &model.id, id_path, location, "Custom image", TYPE_NAME).await {
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

    async fn delete(&self, ctx: &Context, data: &ProviderData, model: CustomImageModel) -> Diagnostics {
        let image_id = match state_image_id(&model) {
            Ok(Some(id)) => id,
            Ok(None) => return Diagnostics::new(),
            Err(d) => return d.into(),
        };
        let client = match data.client() {
            Ok(c) => c,
            Err(d) => return d.into(),
        };
        let loc = match location_of(&model, data) {
            Ok(l) => l,
            Err(d) => return d.into(),
        };
        let api = ImageApi::new(client, loc);
        let deadline = Instant::now() + model.timeout(Op::Delete);
        match data.waiter.delete(&api, &ctx.cancel, image_id, deadline).await {
            Ok(()) => {
                tracing::info!(image_id, "custom image deleted");
                Diagnostics::new()
            }
            Err(detail) => Diagnostic::error("Failed to delete custom image", detail).into(),
        }
    }

    /// Version 0 had no `verify_source` and no `source_size`: they take
    /// their defaults (true; null, the file was not read), so the first plan
    /// after upgrading the provider shows no change.
    fn upgrade_state(&self, raw: RawState) -> Result<CustomImageModel, Diagnostics> {
        if raw.version != 0 {
            return Err(Diagnostic::error(
                "Cannot upgrade stored state",
                format!(
                    "The stored state of this {TYPE_NAME} has schema version {}, which this provider cannot \
                     upgrade. Remove the resource from the state and import it again.",
                    raw.version
                ),
            )
            .into());
        }
        let schema = custom_image_schema();
        let mut value = raw.decode(&schema)?;
        plan::import_defaults(&schema.block, &mut value);
        CustomImageModel::from_value(&value).map_err(Diagnostics::from)
    }

    /// Only what locates the image; Read fills in the rest. `ufile_url`,
    /// `format` and `os_type` stay null: UCloud cannot tell them, and the
    /// next plan takes them from the configuration without a replacement.
    async fn import(&self, _ctx: &Context, data: &ProviderData, id: &str) -> Result<CustomImageModel, Diagnostics> {
        let parsed =
            parse_import_id(id).map_err(|why| Diagnostics::from(Diagnostic::error("Invalid import id", why)))?;
        let loc = parsed.location(id, data)?;
        Ok(CustomImageModel {
            id: Maybe::Known(parsed.image_id),
            region: Maybe::Known(loc.region),
            project_id: loc.project_id.map_or(Maybe::Null, Maybe::Known),
            ..CustomImageModel::default()
        })
    }
}

#[cfg(test)]
mod tests;
