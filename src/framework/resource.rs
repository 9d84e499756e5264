//! The traits a provider and its resources implement. The gRPC server in
//! `server.rs` turns tfplugin6 calls into calls on these traits, so adding a
//! resource is one module implementing [`Resource`] and one line in
//! [`Provider::resources`].

use super::diagnostics::{AttrPath, Diagnostics};
use super::schema::Schema;
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
}

impl Context {
    /// Resolves when Terraform asked the provider to stop (StopProvider).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// The provider block's values, as ConfigureProvider hands them over.
#[derive(Clone, Debug)]
pub struct ConfigureRequest {
    /// The provider block, decoded with the provider schema. May hold unknowns
    /// during plan.
    pub config: Value,
    pub terraform_version: String,
}

/// The provider: its own schema, how to configure it, and its resources.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What configuring produces and every resource call receives
    /// (for UCloud: the API client and the default region/project).
    type Data: Send + Sync + 'static;

    /// The provider's schema (the `provider "..." {}` block).
    fn schema(&self) -> Schema;

    /// Checks the provider block without side effects (ValidateProviderConfig).
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Builds the data every resource call receives (ConfigureProvider).
    async fn configure(&self, ctx: &Context, req: ConfigureRequest) -> Result<Self::Data, Diagnostics>;

    /// Every resource this provider serves.
    fn resources(&self) -> Vec<Arc<dyn Resource<Self::Data>>>;
}

/// The values of one PlanResourceChange call.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    /// Null when the object is being created.
    pub prior: Value,
    /// Terraform's proposal: config merged with prior computed values.
    pub proposed: Value,
    pub config: Value,
}

/// A plan being built. The framework fills it with its default (proposed
/// values, unknown computed attributes on create, `requires_replace` from
/// `force_new`); [`Resource::modify_plan`] may then adjust it.
#[derive(Clone, Debug)]
pub struct Plan {
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
    pub diagnostics: Diagnostics,
    /// Tells Terraform to tolerate a planned value that differs from the
    /// configuration. Set only when keeping a prior value that the API cannot
    /// return (after `terraform import`) is deliberate.
    pub legacy_type_system: bool,
}

/// The outcome of create / update: the new state (kept even when the
/// diagnostics hold an error, so a created object is never lost) and the
/// diagnostics.
#[derive(Debug, Default)]
pub struct ApplyResult {
    pub state: Option<Value>,
    pub diagnostics: Diagnostics,
}

/// The outcome of read: `state == None` means the object no longer exists.
#[derive(Debug, Default)]
pub struct ReadResult {
    pub state: Option<Value>,
    pub diagnostics: Diagnostics,
}

/// One managed resource type.
#[async_trait]
pub trait Resource<D>: Send + Sync + 'static {
    /// The full type name, e.g. `ucloud_custom_image`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Plan-time checks of a configuration (ValidateResourceConfig). No API
    /// calls; unknown values are skipped.
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Adjusts the framework's default plan (defaults, import-only values).
    /// Not called for destroy.
    fn modify_plan(&self, _data: &D, _req: &PlanRequest, _plan: &mut Plan) {}

    async fn create(&self, ctx: &Context, data: &D, planned: &Value) -> ApplyResult;

    async fn read(&self, ctx: &Context, data: &D, state: &Value) -> ReadResult;

    /// In-place update. The default accepts the plan as the new state, which
    /// is right when only provider-side settings such as timeouts changed.
    async fn update(&self, _ctx: &Context, _data: &D, _prior: &Value, planned: &Value) -> ApplyResult {
        ApplyResult {
            state: Some(planned.clone()),
            diagnostics: Diagnostics::new(),
        }
    }

    async fn delete(&self, ctx: &Context, data: &D, state: &Value) -> Diagnostics;

    /// Builds the state that `terraform import ID` starts from; Terraform then
    /// calls [`Resource::read`] on it.
    async fn import(&self, ctx: &Context, data: &D, id: &str) -> Result<Value, Diagnostics>;

    /// Converts stored state of an older schema version (JSON, as on disk)
    /// into the current schema. The default decodes it as the current schema.
    fn upgrade_state(&self, _version: i64, state: Value) -> Result<Value, Diagnostics> {
        Ok(state)
    }
}
