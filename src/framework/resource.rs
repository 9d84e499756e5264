//! The traits a provider, its resources and its data sources implement.
//!
//! Resources and data sources work on typed models (see `model.rs`): they
//! receive and return their model, never a raw value tree. The server drives
//! them through the value-level [`AnyResource`] / [`AnyDataSource`] views,
//! which every typed implementation gets for free; conversion errors become
//! diagnostics there. Adding a resource is one module implementing
//! [`Resource`] and one entry in the provider's list.

use super::codec;
use super::diagnostics::{AttrPath, Diagnostic, Diagnostics};
use super::list::AnyListResource;
use super::model::{Model, check_conformance};
use super::private::Private;
use super::schema::{Block, Schema};
use super::value::Value;
use async_trait::async_trait;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What every operation gets besides its values: the stop signal Terraform
/// sends on Ctrl-C, and the Terraform version for the User-Agent.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub cancel: CancellationToken,
    pub terraform_version: String,
    /// In an apply: the private state the plan chose (see [`Plan::private`]).
    pub planned_private: Private,
}

impl Context {
    /// Resolves when Terraform asked the provider to stop (StopProvider), or
    /// the process is shutting down (SIGTERM, Shutdown, Terraform gone).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// The provider block's values, as ConfigureProvider hands them over.
#[derive(Clone, Debug)]
pub struct ConfigureRequest<M> {
    /// The provider block. May hold unknowns during plan.
    pub config: M,
    pub terraform_version: String,
}

/// The provider: its own schema, how to configure it, and what it serves.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What configuring produces and every resource call receives
    /// (for UCloud: the API client and the default region/project).
    type Data: Send + Sync + 'static;
    /// The provider block's values.
    type Model: Model;

    /// The provider's schema (the `provider "..." {}` block).
    fn schema(&self) -> Schema;

    /// Checks the provider block without side effects (ValidateProviderConfig).
    fn validate(&self, _config: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// Builds the data every resource call receives (ConfigureProvider),
    /// with any warnings about how it was found.
    async fn configure(
        &self,
        ctx: &Context,
        req: ConfigureRequest<Self::Model>,
    ) -> Result<Done<Self::Data>, Diagnostics>;

    /// Every resource this provider serves.
    fn resources(&self) -> Vec<Arc<dyn AnyResource<Self::Data>>>;

    /// Every data source this provider serves.
    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<Self::Data>>> {
        Vec::new()
    }

    /// Every list resource this provider serves (`terraform query`); each
    /// must share its type name with a managed resource that has an identity.
    fn list_resources(&self) -> Vec<Arc<dyn AnyListResource<Self::Data>>> {
        Vec::new()
    }
}

/// The values of one PlanResourceChange call.
#[derive(Clone, Debug)]
pub struct PlanRequest<M> {
    /// `None` when the object is being created.
    pub prior: Option<M>,
    /// Terraform's proposal: config merged with prior computed values.
    pub proposed: M,
    pub config: M,
    /// The private state the prior object was stored with (empty on create).
    pub prior_private: Private,
}

/// A plan being built. The framework fills it with its default (proposed
/// values, unknown computed attributes, the schema's defaults and
/// use-state-for-unknown); [`Resource::modify_plan`] may then adjust it.
/// Replacement is decided afterwards from the schema's rules.
#[derive(Clone, Debug)]
pub struct Plan<M> {
    pub planned: M,
    /// Replacements beyond what the schema's rules decide (rarely needed).
    pub requires_replace: Vec<AttrPath>,
    pub diagnostics: Diagnostics,
    /// The private state to store with the object: the prior one unless
    /// the resource changes it. Apply stores it as planned.
    pub private: Private,
}

/// An operation that succeeded: the resulting state and any warnings.
#[derive(Debug)]
pub struct Done<M> {
    pub state: M,
    pub warnings: Diagnostics,
}

impl<M> Done<M> {
    /// Adds the warnings gathered on the way (they come first).
    pub fn warned(mut self, earlier: Diagnostics) -> Self {
        let mut all = earlier;
        all.extend(std::mem::take(&mut self.warnings));
        self.warnings = all;
        self
    }
}

impl<M> From<M> for Done<M> {
    fn from(state: M) -> Self {
        Done {
            state,
            warnings: Diagnostics::new(),
        }
    }
}

/// An operation that failed: its diagnostics and, when the object exists
/// despite the failure, the state to keep. Terraform marks a kept state
/// from create as tainted, so a created object is never lost; a read that
/// fails keeps the prior state whatever `keep` says.
#[derive(Debug)]
pub struct Failure<M> {
    pub diagnostics: Diagnostics,
    pub keep: Option<M>,
}

impl<M> Failure<M> {
    /// A failure after the object came to exist: `state` stays in Terraform's state.
    pub fn keeping(state: M, diagnostics: impl Into<Diagnostics>) -> Self {
        Failure {
            diagnostics: diagnostics.into(),
            keep: Some(state),
        }
    }

    /// Adds the diagnostics gathered before the failure (they come first).
    pub fn warned(mut self, earlier: Diagnostics) -> Self {
        let mut all = earlier;
        all.extend(std::mem::take(&mut self.diagnostics));
        self.diagnostics = all;
        self
    }

    /// The same failure for another model (only the diagnostics carry over).
    pub fn without_state<N>(self) -> Failure<N> {
        Failure {
            diagnostics: self.diagnostics,
            keep: None,
        }
    }
}

impl<M> From<Diagnostic> for Failure<M> {
    fn from(d: Diagnostic) -> Self {
        Failure {
            diagnostics: d.into(),
            keep: None,
        }
    }
}

impl<M> From<Diagnostics> for Failure<M> {
    fn from(diagnostics: Diagnostics) -> Self {
        Failure {
            diagnostics,
            keep: None,
        }
    }
}

/// The outcome of create / update: each step of a body is `?`.
pub type ApplyResult<M> = Result<Done<M>, Failure<M>>;

/// The outcome of a resource's read: `Ok(None)` means the object no longer
/// exists; an error keeps the prior state.
pub type ReadResult<M> = Result<Option<Done<M>>, Failure<M>>;

/// The outcome of delete: `Ok` with warnings, or the diagnostics that say
/// why the object may still exist (Terraform then keeps it).
pub type DeleteResult = Result<Diagnostics, Diagnostics>;

/// The outcome of a data source's read: its state, or why there is none.
pub type DataResult<M> = Result<Done<M>, Diagnostics>;

/// A resource's identity (Terraform >= 1.12 keeps one with each object and
/// imports by it): a version and the attributes. A required attribute is
/// required for import, an optional one may be left to the provider.
#[derive(Clone, Debug)]
pub struct IdentitySchema {
    pub version: i64,
    pub block: Block,
}

/// The refusal of an identity by a resource that declares none.
fn no_identity(type_name: &str) -> Diagnostics {
    Diagnostic::error(
        "Import by identity not supported",
        format!("{type_name} has no resource identity: import it by id."),
    )
    .into()
}

/// A stored state as Terraform kept it on disk (JSON), in the schema
/// version that wrote it: an upgrader can still see attributes that the
/// current schema renamed or removed.
#[derive(Clone, Debug)]
pub struct RawState {
    pub version: i64,
    pub json: serde_json::Value,
}

impl RawState {
    /// Decodes the (adjusted) JSON with `schema`, the current one: the last
    /// step of an upgrader. Attributes the schema does not know are dropped.
    pub fn decode(&self, schema: &Schema) -> Result<Value, Diagnostics> {
        let bytes = serde_json::to_vec(&self.json).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Cannot upgrade stored state",
                format!("The upgraded state could not be encoded ({e}). Please report this as a bug."),
            ))
        })?;
        codec::decode_json(&bytes, &schema.value_type()).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Cannot upgrade stored state",
                format!(
                    "The stored state does not fit the current schema after upgrading: {e}. Please report this \
                     as a bug."
                ),
            ))
        })
    }

    /// The refusal of a version no upgrader knows, for `type_name`.
    pub fn cannot_upgrade(&self, type_name: &str) -> Diagnostics {
        Diagnostic::error(
            "Cannot upgrade stored state",
            format!(
                "The stored state of this {type_name} has schema version {}, which this provider cannot upgrade. \
                 Remove the resource from the state and import it again.",
                self.version
            ),
        )
        .into()
    }

    /// Decodes into the current model, see [`RawState::decode`].
    pub fn decode_model<M: Model>(&self, schema: &Schema) -> Result<M, Diagnostics> {
        M::from_value(&self.decode(schema)?).map_err(Diagnostics::from)
    }
}

/// One managed resource type, working on its typed model.
#[async_trait]
pub trait Resource<D: Send + Sync + 'static>: Send + Sync + 'static {
    type Model: Model;

    /// The full type name, e.g. `ucloud_custom_image`.
    fn type_name(&self) -> &'static str;

    /// The schema version; bump it with an [`Resource::upgrade_state`].
    const SCHEMA_VERSION: i64 = 0;

    /// What the resource is, for the docs (markdown).
    fn description(&self) -> String;

    /// The schema, from the model's declarations.
    fn schema(&self) -> Schema {
        Self::Model::schema(Self::SCHEMA_VERSION, self.description())
    }

    /// Plan-time checks of a configuration (ValidateResourceConfig). No API
    /// calls; unknown values are skipped.
    fn validate(&self, _config: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// Adjusts the framework's default plan (values that depend on the
    /// provider's data). Not called for destroy.
    fn modify_plan(&self, _data: &D, _req: &PlanRequest<Self::Model>, _plan: &mut Plan<Self::Model>) {}

    async fn create(&self, ctx: &Context, data: &D, planned: Self::Model) -> ApplyResult<Self::Model>;

    async fn read(&self, ctx: &Context, data: &D, state: Self::Model) -> ReadResult<Self::Model>;

    /// In-place update. The default accepts the plan as the new state, which
    /// is right when only values the API does not hold changed (timeouts,
    /// arguments learnt after `terraform import`).
    async fn update(
        &self,
        _ctx: &Context,
        _data: &D,
        _prior: Self::Model,
        planned: Self::Model,
    ) -> ApplyResult<Self::Model> {
        Ok(planned.into())
    }

    async fn delete(&self, ctx: &Context, data: &D, state: Self::Model) -> DeleteResult;

    /// Builds the state that `terraform import ID` starts from; Terraform then
    /// calls [`Resource::read`] on it.
    async fn import(&self, ctx: &Context, data: &D, id: &str) -> Result<Self::Model, Diagnostics>;

    /// The identity schema, for a resource that has an identity.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }

    /// The identity of the object `state` describes. The server asks for it
    /// in every answer that carries a state, so an identity is always the
    /// state's, never an echo of what Terraform sent.
    fn identity(&self, _state: &Self::Model) -> Option<Value> {
        None
    }

    /// Builds the state that `import { identity = {...} }` starts from
    /// (Terraform >= 1.12); Terraform then calls [`Resource::read`] on it.
    async fn import_identity(&self, _ctx: &Context, _data: &D, _identity: &Value) -> Result<Self::Model, Diagnostics> {
        Err(no_identity(self.type_name()))
    }

    /// Converts a stored state of an older schema version (as it was on
    /// disk) into the current model. Called only for older versions; the
    /// default refuses, since a resource that bumps its schema version must
    /// say how.
    fn upgrade_state(&self, raw: RawState) -> Result<Self::Model, Diagnostics> {
        Err(raw.cannot_upgrade(self.type_name()))
    }
}

/// One data source type, working on its typed model.
#[async_trait]
pub trait DataSource<D: Send + Sync + 'static>: Send + Sync + 'static {
    type Model: Model;

    /// The full type name, e.g. `ucloud_custom_images`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Plan-time checks of a configuration (ValidateDataResourceConfig).
    fn validate(&self, _config: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// Reads with a wholly known configuration; returns the configuration
    /// with its computed attributes set.
    async fn read(&self, ctx: &Context, data: &D, config: Self::Model) -> DataResult<Self::Model>;
}

/// A resource as the server drives it: values in, values out.
#[async_trait]
pub trait AnyResource<D>: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, config: &Value) -> Diagnostics;
    /// Adjusts `plan.planned` (a value; `req.prior` is null on create).
    fn modify_plan(&self, data: &D, req: &PlanRequest<Value>, plan: &mut Plan<Value>);
    async fn create(&self, ctx: &Context, data: &D, planned: &Value) -> ApplyResult<Value>;
    async fn read(&self, ctx: &Context, data: &D, state: &Value) -> ReadResult<Value>;
    async fn update(&self, ctx: &Context, data: &D, prior: &Value, planned: &Value) -> ApplyResult<Value>;
    async fn delete(&self, ctx: &Context, data: &D, state: &Value) -> DeleteResult;
    async fn import(&self, ctx: &Context, data: &D, id: &str) -> Result<Value, Diagnostics>;
    fn identity_schema(&self) -> Option<IdentitySchema>;
    /// The identity of `state`; `None` without an identity or for a state
    /// that does not fit the model.
    fn identity(&self, state: &Value) -> Option<Value>;
    async fn import_identity(&self, ctx: &Context, data: &D, identity: &Value) -> Result<Value, Diagnostics>;
    fn upgrade_state(&self, raw: RawState) -> Result<Value, Diagnostics>;
    /// Whether the typed model and the served schema agree (see
    /// [`check_conformance`]); run by a unit test over every resource.
    fn check_model(&self) -> Result<(), String>;
}

/// A data source as the server drives it.
#[async_trait]
pub trait AnyDataSource<D>: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, config: &Value) -> Diagnostics;
    async fn read(&self, ctx: &Context, data: &D, config: &Value) -> DataResult<Value>;
    /// See [`AnyResource::check_model`].
    fn check_model(&self) -> Result<(), String>;
}

fn typed<M: Model>(v: &Value) -> Result<M, Diagnostics> {
    M::from_value(v).map_err(Diagnostics::from)
}

fn done<M: Model>(d: Done<M>) -> Done<Value> {
    Done {
        state: d.state.to_value(),
        warnings: d.warnings,
    }
}

fn failure<M: Model>(f: Failure<M>) -> Failure<Value> {
    Failure {
        diagnostics: f.diagnostics,
        keep: f.keep.map(|m| m.to_value()),
    }
}

fn applied<M: Model>(r: ApplyResult<M>) -> ApplyResult<Value> {
    r.map(done).map_err(failure)
}

#[async_trait]
impl<D: Send + Sync + 'static, R: Resource<D>> AnyResource<D> for R {
    fn type_name(&self) -> &'static str {
        Resource::type_name(self)
    }

    fn schema(&self) -> Schema {
        Resource::schema(self)
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        match typed::<R::Model>(config) {
            Ok(m) => Resource::validate(self, &m),
            Err(d) => d,
        }
    }

    fn modify_plan(&self, data: &D, req: &PlanRequest<Value>, plan: &mut Plan<Value>) {
        let models = (|| -> Result<_, Diagnostics> {
            let prior = match &req.prior {
                Some(v) if !v.is_null() => Some(typed::<R::Model>(v)?),
                _ => None,
            };
            let treq = PlanRequest {
                prior,
                proposed: typed::<R::Model>(&req.proposed)?,
                config: typed::<R::Model>(&req.config)?,
                prior_private: req.prior_private.clone(),
            };
            Ok((treq, typed::<R::Model>(&plan.planned)?))
        })();
        let (treq, planned) = match models {
            Ok(m) => m,
            Err(d) => {
                plan.diagnostics.extend(d);
                return;
            }
        };
        let mut tplan = Plan {
            planned,
            requires_replace: std::mem::take(&mut plan.requires_replace),
            diagnostics: std::mem::take(&mut plan.diagnostics),
            private: std::mem::take(&mut plan.private),
        };
        Resource::modify_plan(self, data, &treq, &mut tplan);
        plan.planned = tplan.planned.to_value();
        plan.requires_replace = tplan.requires_replace;
        plan.diagnostics = tplan.diagnostics;
        plan.private = tplan.private;
    }

    async fn create(&self, ctx: &Context, data: &D, planned: &Value) -> ApplyResult<Value> {
        match typed::<R::Model>(planned) {
            Ok(m) => applied(Resource::create(self, ctx, data, m).await),
            Err(d) => Err(d.into()),
        }
    }

    async fn read(&self, ctx: &Context, data: &D, state: &Value) -> ReadResult<Value> {
        match typed::<R::Model>(state) {
            Ok(m) => Resource::read(self, ctx, data, m)
                .await
                .map(|found| found.map(done))
                .map_err(failure),
            Err(d) => Err(Failure::keeping(state.clone(), d)),
        }
    }

    async fn update(&self, ctx: &Context, data: &D, prior: &Value, planned: &Value) -> ApplyResult<Value> {
        match (typed::<R::Model>(prior), typed::<R::Model>(planned)) {
            (Ok(p), Ok(n)) => applied(Resource::update(self, ctx, data, p, n).await),
            (Err(d), _) | (_, Err(d)) => Err(d.into()),
        }
    }

    async fn delete(&self, ctx: &Context, data: &D, state: &Value) -> DeleteResult {
        Resource::delete(self, ctx, data, typed::<R::Model>(state)?).await
    }

    async fn import(&self, ctx: &Context, data: &D, id: &str) -> Result<Value, Diagnostics> {
        Resource::import(self, ctx, data, id).await.map(|m| m.to_value())
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Resource::identity_schema(self)
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        Resource::identity(self, &typed::<R::Model>(state).ok()?)
    }

    async fn import_identity(&self, ctx: &Context, data: &D, identity: &Value) -> Result<Value, Diagnostics> {
        Resource::import_identity(self, ctx, data, identity)
            .await
            .map(|m| m.to_value())
    }

    fn upgrade_state(&self, raw: RawState) -> Result<Value, Diagnostics> {
        Resource::upgrade_state(self, raw).map(|m| m.to_value())
    }

    fn check_model(&self) -> Result<(), String> {
        check_conformance::<R::Model>(&Resource::schema(self))
    }
}

#[async_trait]
impl<D: Send + Sync + 'static, S: DataSource<D>> AnyDataSource<D> for S {
    fn type_name(&self) -> &'static str {
        DataSource::type_name(self)
    }

    fn schema(&self) -> Schema {
        DataSource::schema(self)
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        match typed::<S::Model>(config) {
            Ok(m) => DataSource::validate(self, &m),
            Err(d) => d,
        }
    }

    async fn read(&self, ctx: &Context, data: &D, config: &Value) -> DataResult<Value> {
        DataSource::read(self, ctx, data, typed::<S::Model>(config)?)
            .await
            .map(done)
    }

    fn check_model(&self) -> Result<(), String> {
        check_conformance::<S::Model>(&DataSource::schema(self))
    }
}
