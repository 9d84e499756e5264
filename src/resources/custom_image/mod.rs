//! `ucloud_custom_image`: a disk image file in UFile imported into UHost as a
//! custom image. The model, schema and validation are in `model.rs`; the
//! check of the file before the import in `preflight.rs`; this file says
//! what an import needs before its one call (ImportCustomImage). Create,
//! settle or taint, read, delete and import come from the shared image
//! lifecycle (`resources::lifecycle`), which never orphans an image.

pub mod model;
pub mod preflight;
pub mod source;
mod upload;

use super::lifecycle::{ImageResource, Prepared, Words};
use crate::framework::timeouts::Op;
use crate::framework::{
    AttrPath, Context, Diagnostic, Diagnostics, Failure, Maybe, Model, Plan, PlanRequest, RawState, plan,
};
use crate::images::Location;
use crate::provider_data::{ProviderData, cleartext_diagnostic};
use crate::ucloud::{ImageFormat, ImportCustomImage};
use crate::{attr_name, attr_path};
use async_trait::async_trait;
use model::{CustomImageModel, format_list, validate_config};

/// What the messages and docs call an import and its image.
pub const WORDS: Words = Words {
    object: "custom image",
    operation: "Custom image import",
    verb: "import",
    in_progress: "Making",
    slow: "Large files take longer",
};

/// A required value of the planned model, known by apply time.
fn planned_str<'a>(m: &'a Maybe<String>, attr: &str) -> Result<&'a str, Diagnostic> {
    m.known().map(String::as_str).ok_or_else(|| {
        Diagnostic::error(
            "Value not known at apply time",
            format!("{attr} has no known value. This is a bug in the provider; please report it."),
        )
        .at(AttrPath::attr(attr))
    })
}

/// The planned format, parsed.
fn import_request_format(m: &CustomImageModel) -> Result<ImageFormat, Diagnostic> {
    let format_raw = planned_str(&m.format, attr_name!(CustomImageModel, format))?;
    ImageFormat::parse(format_raw).ok_or_else(|| {
        Diagnostic::error(
            "Invalid image format",
            format!("{format_raw:?} is not one of {}.", format_list()),
        )
        .at(attr_path!(CustomImageModel, format))
    })
}

/// The ImportCustomImage request for a planned model.
fn import_request(m: &CustomImageModel, loc: &Location) -> Result<ImportCustomImage, Diagnostic> {
    type M = CustomImageModel;
    let format = import_request_format(m)?;
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

/// Where the image of a plan or state lives: as recorded, else the provider's.
fn location_of(m: &CustomImageModel, data: &ProviderData) -> Result<Location, Diagnostic> {
    data.locate_recorded(&m.region, &m.project_id, attr_path!(CustomImageModel, region))
}

super::lifecycle::image_model!(CustomImageModel, timeouts: super::lifecycle::TIMEOUTS, location: location_of);

/// The `ucloud_custom_image` resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImageResource;

#[async_trait]
impl ImageResource for CustomImageResource {
    type Model = CustomImageModel;
    type Call = ImportCustomImage;

    const TYPE_NAME: &'static str = "ucloud_custom_image";
    /// 1 added `verify_source` and `source_size`.
    const SCHEMA_VERSION: i64 = 1;
    const WORDS: Words = WORDS;

    fn description(&self) -> String {
        "A UHost custom image imported from a disk image file in UFile (ImportCustomImage). Creating it waits \
         until the image is `Available`; an import that fails is deleted again. UCloud cannot change an image \
         after import, so changing any argument replaces it."
            .into()
    }

    fn validate(&self, config: &CustomImageModel) -> Diagnostics {
        validate_config(config)
    }

    /// The provider's region and project are defaults for new images only:
    /// an existing image stays where it is when the provider's defaults
    /// change (or are not known yet). A new image's `ufile_url` over
    /// `http://` to another machine is refused unless `insecure_http`.
    fn modify_plan(&self, data: &ProviderData, req: &PlanRequest<CustomImageModel>, plan: &mut Plan<CustomImageModel>) {
        let file = source::plan_source(req, plan);
        if req.prior.is_some() {
            return;
        }
        // A new image from a local file: the file's check runs now, so a
        // wrong format fails the plan rather than an upload.
        if let (Some(src), Some(_)) = (&req.config.source, file)
            && let (Maybe::Known(path), Some(format)) =
                (&src.path, req.config.format.known().and_then(|f| ImageFormat::parse(f)))
            && req.config.verify_source.known() != Some(&false)
        {
            let at = source::source_path(attr_name!(source::SourceModel, path));
            match preflight::check_local_file(path, format, at) {
                Ok(warnings) | Err(warnings) => plan.diagnostics.extend(warnings),
            }
        }
        // The check reads the file with signed requests: not in clear to
        // another machine unless the provider allows it.
        if let Some(url) = req.config.ufile_url.known()
            && let Some(d) = cleartext_diagnostic(attr_path!(CustomImageModel, ufile_url), url, data.insecure_http)
        {
            plan.diagnostics.push(d);
        }
        if req.config.region.known().is_none() && !req.config.region.is_unknown() {
            plan.planned.region = data.region.clone();
        }
        if req.config.project_id.known().is_none() && !req.config.project_id.is_unknown() {
            plan.planned.project_id = data.project_id.clone();
        }
    }

    /// The request, then the check of the file: definite problems fail
    /// here, before any import; the URL sent is presigned for the wait.
    async fn prepare(
        &self,
        ctx: &Context,
        data: &ProviderData,
        model: &mut CustomImageModel,
    ) -> Result<Prepared<ImportCustomImage>, Failure<CustomImageModel>> {
        let location = location_of(model, data)?;
        let staged = model.source.is_some();
        let mut upload_warnings = Diagnostics::new();
        if staged {
            let format = import_request_format(model)?;
            let deadline = std::time::Instant::now() + model.timeout(Op::Create);
            upload_warnings = upload::stage(ctx, data, model, format, deadline).await?;
        }
        let mut call = import_request(model, &location)?;
        let source = preflight::check_source(
            ctx,
            data,
            &preflight::Request {
                ufile_url: &call.ufile_url,
                format: call.format,
                region: &location.region,
                // A staged file was checked on disk and by its ETag.
                verify: !staged && model.verify_source.known().copied().unwrap_or(true),
                create_timeout: model.timeout(Op::Create),
            },
        )
        .await?;
        call.ufile_url = source.import_url.expose().to_owned();
        if !staged {
            model.source_size = source.size;
        }
        tracing::info!(url = %source.import_url, "importing");
        upload_warnings.extend(source.warnings);
        Ok(Prepared {
            location,
            call,
            warnings: upload_warnings,
        })
    }

    async fn after_available(&self, ctx: &Context, data: &ProviderData, model: &CustomImageModel) -> Diagnostics {
        upload::clean(ctx, data, model, upload::Cleanup::AfterImport).await
    }

    async fn after_delete(&self, ctx: &Context, data: &ProviderData, model: &CustomImageModel) -> Diagnostics {
        upload::clean(ctx, data, model, upload::Cleanup::AfterDelete).await
    }

    fn unavailable_hint(&self, model: &CustomImageModel, loc: &Location) -> String {
        let url = model
            .ufile_url
            .known()
            .map_or_else(String::new, |u| crate::ucloud::redact_url(u));
        let format = model.format.known().map_or("", String::as_str);
        let kept = match model.source.as_ref().and_then(upload::staged_object) {
            Some(object) => format!(
                " The uploaded file stays at {object}: the next `terraform apply` imports it again without \
                 uploading it (destroy removes it unless source.keep_object)."
            ),
            None => String::new(),
        };
        format!(
            "The file was {url}. Check that the file is readable by UHost (the provider's key pair signs the URL \
             it sends, unless ufile_url carries its own signature), that `format` ({format}) is the file's real \
             format, and that the bucket is in region {region}.{kept}",
            region = loc.region,
        )
    }

    /// Version 0 had no `verify_source` and no `source_size`: they take
    /// their defaults (true; null, the file was not read), so the first plan
    /// after upgrading the provider shows no change.
    fn upgrade_state(&self, raw: RawState) -> Result<CustomImageModel, Diagnostics> {
        if raw.version != 0 {
            return Err(raw.cannot_upgrade(Self::TYPE_NAME));
        }
        let schema = crate::framework::Resource::schema(self);
        let mut value = raw.decode(&schema)?;
        plan::import_defaults(&schema.block, &mut value);
        CustomImageModel::from_value(&value).map_err(Diagnostics::from)
    }
}

#[cfg(test)]
mod tests;
