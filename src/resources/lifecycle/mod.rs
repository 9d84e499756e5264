//! The lifecycle every image resource shares, written once: an image
//! resource says how to prepare the one call that makes its image
//! ([`ImageResource::prepare`]) and how its model reads an image
//! ([`ImageModel`]); create, settle or taint, read, delete and import come
//! from here through a blanket [`Resource`] implementation.
//!
//! What it guarantees for every image resource: an image is never
//! orphaned. Its id is recorded the moment UCloud accepts the call; every
//! failure after that keeps the id in the state (tainted) unless the image
//! is certainly gone. A lost answer is reconciled by name before a second
//! call ([`create_once`]). An image that ends `Unavailable` is deleted again.
//! What differs between resources (wording, the advice when UCloud fails an
//! image) is data: [`Words`] and [`ImageResource::unavailable_hint`].

use super::import_id::{ImportId, parse_import_id};
use crate::framework::timeouts::Op;
use crate::framework::{
    ApplyResult, AttrPath, Context, DeleteResult, Diagnostic, Diagnostics, Done, Failure, IdentitySchema, Maybe, Model,
    Plan, PlanRequest, RawState, ReadResult, Resource, Value, attr,
};
use crate::images::{CreatesImage, Halt, ImageApi, Location, Settled, create_once, human, is_image_id, rfc3339};
use crate::model;
use crate::provider_data::ProviderData;
use crate::ucloud::Image;
use async_trait::async_trait;
use std::time::Duration;
use tokio::time::Instant;

/// The words an image resource's messages are made of.
#[derive(Clone, Copy, Debug)]
pub struct Words {
    /// The object in the middle of a sentence: "custom image", "image copy".
    pub object: &'static str,
    /// The operation that makes it, starting a summary: "Custom image import".
    pub operation: &'static str,
    /// The operation in the middle of a sentence: "import", "copy".
    pub verb: &'static str,
    /// The state UCloud gives the image while it is made ("Making").
    pub in_progress: &'static str,
    /// Said when the wait times out, before "raise `timeouts.create`".
    pub slow: &'static str,
}

impl Words {
    /// The object starting a sentence: "Custom image", "Image copy".
    pub fn object_cap(&self) -> String {
        let mut chars = self.object.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

/// Who refreshes a model from an image, and so which attributes it may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Create: every known planned value must stay as planned.
    AfterCreate,
    /// Read: the remote object wins for what UCloud returns.
    Read,
}

/// The attributes every image resource has, as the lifecycle sets them.
pub struct Core<'a> {
    pub id: &'a mut Maybe<String>,
    pub status: &'a mut Maybe<String>,
    pub region: &'a mut Maybe<String>,
    pub project_id: &'a mut Maybe<String>,
    pub size: &'a mut Maybe<i64>,
    pub create_time: &'a mut Maybe<String>,
    pub features: &'a mut Maybe<Vec<String>>,
}

impl Core<'_> {
    /// Takes what every image resource reports of its image the same way.
    fn take(&mut self, img: &Image) {
        *self.id = Maybe::Known(img.image_id.clone());
        *self.status = Maybe::Known(img.state.clone());
        *self.size = Maybe::Known(img.image_size);
        *self.create_time = rfc3339(img.create_time).map_or(Maybe::Null, Maybe::Known);
        *self.features = Maybe::Known(img.features.clone());
    }

    /// Records where the image lives (the default project is null).
    pub fn locate(&mut self, loc: &Location) {
        *self.region = Maybe::Known(loc.region.clone());
        *self.project_id = loc.project_id.clone().map_or(Maybe::Null, Maybe::Known);
    }
}

/// An image resource's model, as the lifecycle reads and fills it.
pub trait ImageModel: Model + Clone + Default + Send + Sync + 'static {
    /// The attributes the lifecycle sets.
    fn core(&mut self) -> Core<'_>;
    /// The recorded image id.
    fn id(&self) -> &Maybe<String>;
    /// The path of the id attribute, for diagnostics.
    fn id_path() -> AttrPath;
    /// Where the image of a state lives, or why that cannot be told.
    fn location(&self, data: &ProviderData) -> Result<Location, Diagnostic>;
    /// Takes what UCloud says of the image beyond the [`Core`] attributes;
    /// what it may change depends on who asks.
    fn refresh_more(&mut self, img: &Image, how: Refresh);
    /// Takes what UCloud says of the image.
    fn refresh(&mut self, img: &Image, how: Refresh) {
        self.core().take(img);
        self.refresh_more(img, how);
    }
    /// The configured timeout of `op`, or its default.
    fn timeout(&self, op: Op) -> Duration;
}

/// The declarations of the computed [`Core`] attributes, worded for each
/// resource: `pub size: Maybe<i64> = lifecycle::declare::size(WORDS)`.
mod adopt;
pub mod declare;

pub use declare::{DEFAULT_CREATE_TIMEOUT, DEFAULT_DELETE_TIMEOUT, DEFAULT_READ_TIMEOUT, TIMEOUTS};

/// Implements [`ImageModel`] for a model that has the [`Core`] attributes
/// under their usual names, a `timeouts` block and an inherent
/// `refresh_more`: `image_model!(Model, timeouts: TIMEOUTS, location: fn)`,
/// where `fn(&Model, &ProviderData) -> Result<Location, Diagnostic>` says
/// where the image of a state lives.
macro_rules! image_model {
    ($model:ty, timeouts: $timeouts:expr, location: $location:expr) => {
        impl $crate::resources::lifecycle::ImageModel for $model {
            fn core(&mut self) -> $crate::resources::lifecycle::Core<'_> {
                $crate::resources::lifecycle::Core {
                    id: &mut self.id,
                    status: &mut self.status,
                    region: &mut self.region,
                    project_id: &mut self.project_id,
                    size: &mut self.size,
                    create_time: &mut self.create_time,
                    features: &mut self.features,
                }
            }

            fn id(&self) -> &$crate::framework::Maybe<String> {
                &self.id
            }

            fn id_path() -> $crate::framework::AttrPath {
                $crate::attr_path!($model, id)
            }

            fn location(
                &self,
                data: &$crate::provider_data::ProviderData,
            ) -> Result<$crate::images::Location, $crate::framework::Diagnostic> {
                $location(self, data)
            }

            fn refresh_more(&mut self, img: &$crate::ucloud::Image, how: $crate::resources::lifecycle::Refresh) {
                <$model>::refresh_more(self, img, how)
            }

            fn timeout(&self, op: $crate::framework::timeouts::Op) -> std::time::Duration {
                self.timeouts.get(&$timeouts, op)
            }
        }
    };
}
pub(crate) use image_model;

model! {
    /// The identity of every image resource (Terraform >= 1.12): where the
    /// image lives and its id, the same three values the import ids give.
    /// `project_id` is what the state records: the resource's or the
    /// provider's `project_id` when the image was made, or null for the
    /// account's default project when neither named one (UCloud does not
    /// name it). Nothing changes an image's identity: every attribute in it
    /// forces a replacement.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ImageIdentity {
        pub id: Maybe<String> = attr::required("The image id (`uimage-...`)."),
        pub region: Maybe<String> = attr::optional(
            "The region of the image. Default on import: the provider's `region`.",
        ),
        pub project_id: Maybe<String> = attr::optional(
            "The project of the image (`org-...`); null for the account's default project when neither the \
             resource nor the provider named one. Default on import: the provider's `project_id`.",
        ),
    }
}

impl ImageIdentity {
    /// The identity's schema, version 0.
    pub fn schema() -> IdentitySchema {
        IdentitySchema {
            version: 0,
            block: Self::block("Where the image lives and its id."),
        }
    }

    /// The identity of the image a state describes.
    pub fn of<M: ImageModel>(state: &M) -> Self {
        let mut state = state.clone();
        let core = state.core();
        ImageIdentity {
            id: core.id.clone(),
            region: core.region.clone(),
            project_id: core.project_id.clone(),
        }
    }

    /// The import id this identity stands for; refused without an image id.
    fn import_id(&self) -> Result<ImportId, Diagnostics> {
        let Some(image_id) = self.id.known().filter(|id| is_image_id(id)) else {
            return Err(Diagnostic::error(
                "Invalid import identity",
                format!(
                    "The identity's id is {:?}, which is not a UCloud image id (uimage-...).",
                    self.id.known().map_or("null", String::as_str)
                ),
            )
            .at(AttrPath::attr("id"))
            .into());
        };
        let given = |v: &Maybe<String>| v.known().filter(|s| !s.is_empty()).cloned();
        Ok(ImportId {
            project_id: given(&self.project_id),
            region: given(&self.region),
            image_id: image_id.clone(),
        })
    }
}

/// Everything a create needs once its checks passed: where the image will
/// live, the call that makes it, and what the checks warned of.
pub struct Prepared<C> {
    pub location: Location,
    pub call: C,
    pub warnings: Diagnostics,
}

/// An image resource: what it declares and how it prepares its one call.
/// Its [`Resource`] implementation comes from this module.
#[async_trait]
pub trait ImageResource: Send + Sync + 'static {
    type Model: ImageModel;
    /// The call that makes the image.
    type Call: CreatesImage;

    /// The full type name, e.g. `ucloud_custom_image`.
    const TYPE_NAME: &'static str;
    /// See [`Resource::SCHEMA_VERSION`].
    const SCHEMA_VERSION: i64 = 0;
    /// The words of its messages.
    const WORDS: Words;

    /// What the resource is, for the docs (markdown).
    fn description(&self) -> String;

    /// See [`Resource::validate`].
    fn validate(&self, _config: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// See [`Resource::modify_plan`].
    fn modify_plan(&self, _data: &ProviderData, _req: &PlanRequest<Self::Model>, _plan: &mut Plan<Self::Model>) {}

    /// Everything before the image exists: the checks and the request. It
    /// may record on `model` what the state should keep (where the source
    /// lives, facts the checks learnt) but must make no image.
    async fn prepare(
        &self,
        ctx: &Context,
        data: &ProviderData,
        model: &mut Self::Model,
    ) -> Result<Prepared<Self::Call>, Failure<Self::Model>>;

    /// What to check when UCloud failed the image (it ended `Unavailable`).
    fn unavailable_hint(&self, model: &Self::Model, loc: &Location) -> String;

    /// Once the image is `Available`: tidy what was made only for the
    /// create (a staged file). Only warnings: the image exists either way.
    async fn after_available(&self, _ctx: &Context, _data: &ProviderData, _model: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// Once the image is deleted: remove what the resource left elsewhere.
    /// Only warnings: the image is gone either way.
    async fn after_delete(&self, _ctx: &Context, _data: &ProviderData, _model: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// See [`Resource::upgrade_state`].
    fn upgrade_state(&self, raw: RawState) -> Result<Self::Model, Diagnostics> {
        Err(raw.cannot_upgrade(Self::TYPE_NAME))
    }
}

/// The image id a state holds (at `path`), refused before any API call
/// when it is empty or not an image id (a hand-edited or corrupted state).
pub fn state_image_id(id: &Maybe<String>, path: AttrPath) -> Result<Option<&str>, Diagnostic> {
    match id.known().map(String::as_str) {
        None => Ok(None),
        Some(id) if is_image_id(id) => Ok(Some(id)),
        Some(id) => Err(Diagnostic::error(
            "Invalid image id in state",
            format!(
                "The state holds {id:?} as the image id, which is not a UCloud image id (uimage-...). No API call \
                 was made. Remove the resource from the state (`terraform state rm`) and adopt the image with \
                 `terraform import` if it exists."
            ),
        )
        .at(path)),
    }
}

/// An image UCloud has accepted: from here on it exists.
struct Accepted<'a> {
    image_id: String,
    started: Instant,
    api: ImageApi<'a>,
}

/// After the call: wait until the image settles. On every failure the id
/// stays in the state (tainted) unless the image is certainly gone.
async fn settle<R: ImageResource>(
    res: &R,
    ctx: &Context,
    data: &ProviderData,
    mut model: R::Model,
    accepted: Accepted<'_>,
) -> ApplyResult<R::Model> {
    let w = R::WORDS;
    let Accepted { image_id, started, api } = accepted;
    let loc = &api.loc;
    let create_timeout = model.timeout(Op::Create);
    {
        let mut core = model.core();
        *core.id = Maybe::Known(image_id.clone());
        *core.status = Maybe::Known(w.in_progress.to_string());
        core.locate(loc);
    }
    let tainted = |mut m: R::Model, status: &str, summary: String, detail: String| {
        *m.core().status = Maybe::Known(status.to_string());
        Err(Failure::keeping(
            m,
            Diagnostic::error(
                summary,
                format!(
                    "{detail} The {} is kept in the state as tainted: the next `terraform apply` replaces it and \
                     `terraform destroy` deletes it.",
                    w.object
                ),
            ),
        ))
    };
    let settled = data
        .waiter
        .until_settled(&api, &ctx.cancel, &image_id, started + create_timeout, w.in_progress)
        .await;
    let elapsed = human(started.elapsed());
    let object = w.object_cap();
    match settled {
        Settled::Available(img) => {
            tracing::info!(image_id, elapsed = ?started.elapsed(), "{} available", w.object);
            model.refresh(&img, Refresh::AfterCreate);
            Ok(model.into())
        }
        Settled::Unavailable(img) => {
            tracing::warn!(image_id, "{} ended Unavailable, deleting it", w.verb);
            let why = format!(
                "{object} {image_id} in {loc} ended in state {state} after {elapsed}: UCloud could not {verb} it. \
                 {hint}",
                verb = w.verb,
                state = img.state,
                hint = res.unavailable_hint(&model, loc),
            );
            let summary = format!("{} failed", w.operation);
            let cleanup_deadline = Instant::now() + model.timeout(Op::Delete);
            match data.waiter.delete(&api, &ctx.cancel, &image_id, cleanup_deadline).await {
                Ok(()) => Err(Diagnostic::error(
                    summary,
                    format!("{why} The failed {} was deleted: nothing is left behind.", w.object),
                )
                .into()),
                Err(cleanup_err) => tainted(
                    model,
                    &img.state,
                    summary,
                    format!("{why} Deleting the failed {} did not complete: {cleanup_err}", w.object),
                ),
            }
        }
        Settled::Unexpected(img) => tainted(
            model,
            &img.state,
            format!("{object} in an unexpected state"),
            format!(
                "{object} {image_id} in {loc} is in state {:?}, which is neither in progress ({}) nor done \
                 (Available, Unavailable), {elapsed} after the {} started. Check it in the UCloud console.",
                img.state, w.in_progress, w.verb
            ),
        ),
        // Kept rather than dropped: if UCloud merely lagged, dropping the id
        // would orphan the image; if it is really gone, the next refresh
        // removes it from the state.
        Settled::Gone => tainted(
            model,
            w.in_progress,
            format!("{object} disappeared during {}", w.verb),
            format!(
                "{object} {image_id} was created but then no longer found in {loc}: was it deleted outside \
                 Terraform?"
            ),
        ),
        Settled::Halted(Halt::TimedOut, last) => tainted(
            model,
            &last,
            format!("Timed out waiting for the {}", w.object),
            format!(
                "{object} {image_id} in {loc} was still {last} after {elapsed} (timeouts.{op} = {}). {}: raise \
                 `timeouts.{op}`.",
                human(create_timeout),
                w.slow,
                op = Op::Create.as_str(),
            ),
        ),
        Settled::Halted(Halt::Cancelled, last) => tainted(
            model,
            &last,
            format!("{} interrupted", w.operation),
            format!(
                "The provider was told to stop (Ctrl-C in Terraform, or a termination signal) while {} {image_id} \
                 in {loc} was {last} ({elapsed} after the {} started).",
                w.object, w.verb
            ),
        ),
        Settled::Failed(e, last) => tainted(
            model,
            &last,
            format!("Failed to read the {} while waiting for it", w.object),
            format!("{object} {image_id} in {loc} was {last} when polling it failed: {e}."),
        ),
    }
}

/// Create: prepare, make the image exactly once, then settle.
async fn create<R: ImageResource>(
    res: &R,
    ctx: &Context,
    data: &ProviderData,
    mut model: R::Model,
) -> ApplyResult<R::Model> {
    let started = Instant::now();
    let client = data.client()?;
    let prepared = res.prepare(ctx, data, &mut model).await?;
    let Prepared {
        location,
        call,
        mut warnings,
    } = prepared;
    let w = R::WORDS;
    let api = ImageApi::new(client, location);
    let name = call.new_image_name().to_owned();
    let image_id = match adopt::adopt_pending::<R>(ctx, data, &api, &name).await {
        Some((image_id, adopted)) => {
            warnings.push(adopted);
            image_id
        }
        None => {
            // The call is never interrupted half-way: an interrupted call may
            // leave an image nobody knows about. Ctrl-C and the deadline stop
            // it only while it waits for its turn under UCloud's throttling,
            // and the wait after it.
            let deadline = started + model.timeout(Op::Create);
            let image_id = create_once(
                &api,
                &ctx.cancel,
                &name,
                w.verb,
                deadline,
                data.waiter.schedule(),
                || async {
                    client
                        .call_whole(&call, &ctx.cancel, deadline)
                        .await
                        .map(R::Call::new_image_id)
                },
            )
            .await
            .map_err(|f| Failure::from(Diagnostic::error(f.summary, f.detail)).warned(warnings.clone()))?;
            data.pending.note(&api.loc, &name, &image_id);
            tracing::info!(image_id, location = %api.loc, "{} started", w.verb);
            image_id
        }
    };
    let accepted = Accepted {
        image_id: image_id.clone(),
        started,
        api,
    };
    let settled = settle(res, ctx, data, model, accepted).await;
    // Whatever the outcome, the answer carries the id (or the image is
    // gone): the record goes, unless nobody is left to receive the answer.
    data.pending.answered(&image_id);
    match settled {
        Ok(mut done) => {
            done.warnings.extend(res.after_available(ctx, data, &done.state).await);
            Ok(done.warned(warnings))
        }
        Err(failure) => Err(failure.warned(warnings)),
    }
}

/// Read: the state's id checked before any call, a refresh put off while
/// the provider block is not known yet, one read through the waiter (which
/// shares its call with other reads), and a refusal of platform images,
/// which the resource would otherwise try to delete.
async fn read<R: ImageResource>(ctx: &Context, data: &ProviderData, mut model: R::Model) -> ReadResult<R::Model> {
    let w = R::WORDS;
    let Some(image_id) = state_image_id(model.id(), R::Model::id_path())?.map(str::to_string) else {
        return Ok(None);
    };
    let Some(client) = data.client.as_deref() else {
        // Planning with a provider block that is not known yet: refreshing
        // waits for apply rather than failing the plan.
        let why = data.client().err().map(|d| d.detail).unwrap_or_default();
        let warning = Diagnostic::warning(
            format!("{} not refreshed", w.object_cap()),
            format!("Image {image_id} was not read from UCloud: {why}"),
        );
        return Ok(Some(Done::from(model).warned(warning.into())));
    };
    let api = ImageApi::new(client, model.location(data)?);
    let limit = model.timeout(Op::Read);
    let Ok(looked) = tokio::time::timeout(limit, data.waiter.look(&api, &ctx.cancel, &image_id)).await else {
        return Err(Diagnostic::error(
            format!("Timed out reading the {}", w.object),
            format!(
                "UCloud did not answer a read of {} {image_id} in {} within {} (timeouts.{}). The state keeps \
                 it as it was: try again, or raise timeouts.{}.",
                w.object,
                api.loc,
                human(limit),
                Op::Read.as_str(),
                Op::Read.as_str(),
            ),
        )
        .into());
    };
    match looked {
        Ok(None) => {
            tracing::info!(image_id, "{} no longer exists", w.object);
            Ok(None)
        }
        Ok(Some(img)) if !img.is_custom() => Err(Diagnostic::error(
            "Not a custom image",
            format!(
                "Image {image_id} is a {} image ({:?}), not a custom image: {} manages only custom images of your \
                 account. Refer to platform images by id instead.",
                img.image_type,
                img.image_name,
                R::TYPE_NAME
            ),
        )
        .into()),
        Ok(Some(img)) => {
            read_into(&mut model, &img, &api.loc);
            Ok(Some(model.into()))
        }
        Err(e) => Err(Diagnostic::error(format!("Failed to read {}", w.object), e.to_string()).into()),
    }
}

/// What a read takes from the image found at `loc`.
fn read_into<M: ImageModel>(model: &mut M, img: &Image, loc: &Location) {
    model.refresh(img, Refresh::Read);
    let core = model.core();
    *core.region = Maybe::Known(loc.region.clone());
    if core.project_id.is_unknown() {
        *core.project_id = loc.project_id.clone().map_or(Maybe::Null, Maybe::Known);
    }
}

/// The state of an image found at `loc` as `terraform import` and the read
/// after it make it (the framework adds the schema's defaults to both):
/// what a list resource hands over as the full object.
pub fn adopted<M: ImageModel>(img: &Image, loc: &Location) -> M {
    let mut model = M::default();
    {
        let mut core = model.core();
        *core.id = Maybe::Known(img.image_id.clone());
        core.locate(loc);
    }
    read_into(&mut model, img, loc);
    model
}

/// Delete, waiting until the image is gone.
async fn delete<R: ImageResource>(res: &R, ctx: &Context, data: &ProviderData, model: R::Model) -> DeleteResult {
    let w = R::WORDS;
    let Some(image_id) = state_image_id(model.id(), R::Model::id_path())? else {
        return Ok(Diagnostics::new());
    };
    let api = ImageApi::new(data.client()?, model.location(data)?);
    let deadline = Instant::now() + model.timeout(Op::Delete);
    match data.waiter.delete(&api, &ctx.cancel, image_id, deadline).await {
        Ok(()) => {
            tracing::info!(image_id, "{} deleted", w.object);
            Ok(res.after_delete(ctx, data, &model).await)
        }
        Err(detail) => Err(Diagnostic::error(format!("Failed to delete {}", w.object), detail).into()),
    }
}

/// Import: only what locates the image; Read fills in the rest. Arguments
/// UCloud cannot tell stay null, and the next plan takes them from the
/// configuration without a replacement. `raw` names the import in messages.
fn import<M: ImageModel>(data: &ProviderData, parsed: ImportId, raw: &str) -> Result<M, Diagnostics> {
    let loc = parsed.location(raw, data)?;
    let mut model = M::default();
    let mut core = model.core();
    *core.id = Maybe::Known(parsed.image_id);
    core.locate(&loc);
    Ok(model)
}

#[async_trait]
impl<R: ImageResource> Resource<ProviderData> for R {
    type Model = R::Model;
    const SCHEMA_VERSION: i64 = <R as ImageResource>::SCHEMA_VERSION;

    fn type_name(&self) -> &'static str {
        R::TYPE_NAME
    }

    fn description(&self) -> String {
        ImageResource::description(self)
    }

    fn validate(&self, config: &R::Model) -> Diagnostics {
        ImageResource::validate(self, config)
    }

    fn modify_plan(&self, data: &ProviderData, req: &PlanRequest<R::Model>, plan: &mut Plan<R::Model>) {
        ImageResource::modify_plan(self, data, req, plan)
    }

    async fn create(&self, ctx: &Context, data: &ProviderData, planned: R::Model) -> ApplyResult<R::Model> {
        create(self, ctx, data, planned).await
    }

    async fn read(&self, ctx: &Context, data: &ProviderData, state: R::Model) -> ReadResult<R::Model> {
        read::<R>(ctx, data, state).await
    }

    async fn delete(&self, ctx: &Context, data: &ProviderData, state: R::Model) -> DeleteResult {
        delete(self, ctx, data, state).await
    }

    async fn import(&self, _ctx: &Context, data: &ProviderData, id: &str) -> Result<R::Model, Diagnostics> {
        let parsed = parse_import_id(id).map_err(|why| Diagnostic::error("Invalid import id", why))?;
        import(data, parsed, id)
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(ImageIdentity::schema())
    }

    fn identity(&self, state: &R::Model) -> Option<Value> {
        Some(ImageIdentity::of(state).to_value())
    }

    /// The same defaults as the id forms: a missing region or project is
    /// the provider's.
    async fn import_identity(
        &self,
        _ctx: &Context,
        data: &ProviderData,
        identity: &Value,
    ) -> Result<R::Model, Diagnostics> {
        let parsed = ImageIdentity::from_value(identity)?.import_id()?;
        let raw = format!("identity {{ id = {:?} }}", parsed.image_id);
        import(data, parsed, &raw)
    }

    fn upgrade_state(&self, raw: RawState) -> Result<R::Model, Diagnostics> {
        ImageResource::upgrade_state(self, raw)
    }
}

#[cfg(test)]
mod tests;
