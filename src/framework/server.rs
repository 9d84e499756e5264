//! The tfplugin6 gRPC service: turns Terraform's protobuf calls into typed
//! calls on a [`Provider`] and its [`Resource`]s, and their results back into
//! protobuf. This is the only module that sees both protobuf and the
//! framework's types.
//!
//! It owns the generic lifecycle rules (see the Terraform plugin protocol):
//! the default plan (computed attributes unknown on create,
//! `requires_replace` from `force_new`), which resource call an apply means,
//! what a failed apply or read answers so no object is forgotten, and
//! StopProvider cancelling every call. Nothing here panics across the gRPC
//! boundary: bad input and provider bugs become error diagnostics.

use super::codec::{self, CodecError};
use super::diagnostics::{AttrPath, Diagnostic, Diagnostics, PathStep, Severity};
use super::resource::{ConfigureRequest, Context, Plan, PlanRequest, Provider, Resource};
use super::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use super::value::{Number, Type, Value};
use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::{Provider as TfProvider, ProviderServer};
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Largest message accepted or sent, as Go providers allow; tonic's default
/// (4 MiB) is too small for big states.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

type RpcResult<T> = Result<Response<T>, Status>;

/// One resource type with its schema, built once.
struct Entry<D> {
    resource: Arc<dyn Resource<D>>,
    schema: Schema,
    ty: Type,
}

/// What a successful ConfigureProvider leaves for the calls that follow.
struct Configured<D> {
    data: Arc<D>,
    terraform_version: String,
}

/// The tfplugin6 `Provider` service for a framework [`Provider`].
pub struct ProviderService<P: Provider> {
    provider: Arc<P>,
    provider_type: Type,
    resources: BTreeMap<String, Entry<P::Data>>,
    /// GetProviderSchema's answer, built once: Terraform asks several times
    /// per run.
    schema_response: pb::get_provider_schema::Response,
    configured: RwLock<Option<Configured<P::Data>>>,
    /// Cancelled by StopProvider; every call's [`Context`] holds it.
    stop: CancellationToken,
}

impl<P: Provider> ProviderService<P> {
    /// Builds the service, its resource map and its schemas.
    pub fn new(provider: P) -> Self {
        let provider_schema = provider.schema();
        let provider_type = provider_schema.value_type();
        let mut resources = BTreeMap::new();
        for resource in provider.resources() {
            let schema = resource.schema();
            let ty = schema.value_type();
            let name = resource.type_name().to_string();
            if resources.contains_key(&name) {
                tracing::warn!(type_name = %name, "resource type declared twice; the last one wins");
            }
            resources.insert(name, Entry { resource, schema, ty });
        }
        let schema_response = pb::get_provider_schema::Response {
            provider: Some(schema_to_proto(&provider_schema)),
            resource_schemas: resources
                .iter()
                .map(|(name, e)| (name.clone(), schema_to_proto(&e.schema)))
                .collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        };
        ProviderService {
            provider: Arc::new(provider),
            provider_type,
            resources,
            schema_response,
            configured: RwLock::new(None),
            stop: CancellationToken::new(),
        }
    }

    /// The token StopProvider cancels; the serving layer may cancel it too
    /// (e.g. on shutdown) to stop in-flight operations.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// This service as a tonic gRPC server, with the large message limits
    /// Terraform expects.
    pub fn into_routes(self) -> ProviderServer<Self> {
        ProviderServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    fn entry(&self, type_name: &str) -> Result<&Entry<P::Data>, Diagnostic> {
        self.resources.get(type_name).ok_or_else(|| {
            let known: Vec<&str> = self.resources.keys().map(String::as_str).collect();
            Diagnostic::error(
                "Unknown resource type",
                format!(
                    "This provider has no resource type {type_name:?} (it serves: {}). Check the resource type in \
                     the configuration and the provider version.",
                    known.join(", ")
                ),
            )
        })
    }

    /// The provider data and a context, or an error when ConfigureProvider
    /// has not succeeded.
    async fn configured(&self, rpc: &str) -> Result<(Arc<P::Data>, Context), Diagnostic> {
        let guard = self.configured.read().await;
        let c = guard.as_ref().ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                format!(
                    "Terraform called {rpc} before the provider was configured. Fix the errors reported for the \
                     provider block first; if there were none, this is a bug in the provider."
                ),
            )
        })?;
        let ctx = Context {
            cancel: self.stop.clone(),
            terraform_version: c.terraform_version.clone(),
        };
        Ok((c.data.clone(), ctx))
    }
}

/// Builds the gRPC service serving `provider` over tfplugin6.
pub fn routes<P: Provider>(provider: P) -> ProviderServer<ProviderService<P>> {
    ProviderService::new(provider).into_routes()
}

/// `get_provider_schema_optional`: every RPC works without a prior
/// GetProviderSchema (schemas are built when the service is), so Terraform
/// may skip that call on each launch.
fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: false,
    }
}

// ---------------------------------------------------------------------------
// Schema, diagnostics and values to protobuf

fn schema_to_proto(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block_to_proto(&s.block)),
    }
}

fn block_to_proto(b: &Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b.attributes.iter().map(attribute_to_proto).collect(),
        block_types: b.blocks.iter().map(nested_block_to_proto).collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
    }
}

fn attribute_to_proto(a: &Attribute) -> pb::schema::Attribute {
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: a.ty.to_json().to_string().into_bytes(),
        nested_type: None,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecated,
        write_only: false,
    }
}

fn nested_block_to_proto(b: &NestedBlock) -> pb::schema::NestedBlock {
    use pb::schema::nested_block::NestingMode;
    let nesting = match b.nesting {
        Nesting::Single => NestingMode::Single,
        Nesting::List => NestingMode::List,
        Nesting::Set => NestingMode::Set,
        Nesting::Map => NestingMode::Map,
        Nesting::Group => NestingMode::Group,
    };
    pb::schema::NestedBlock {
        type_name: b.type_name.clone(),
        block: Some(block_to_proto(&b.block)),
        nesting: nesting as i32,
        min_items: b.min_items,
        max_items: b.max_items,
    }
}

fn path_to_proto(path: &AttrPath) -> pb::AttributePath {
    use pb::attribute_path::{Step, step::Selector};
    pb::AttributePath {
        steps: path
            .0
            .iter()
            .map(|s| Step {
                selector: Some(match s {
                    PathStep::Attribute(name) => Selector::AttributeName(name.clone()),
                    PathStep::ElementKeyString(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::ElementKeyInt(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Converts diagnostics for the wire, logging errors by summary only (the
/// detail may quote values, which may be secret).
fn diagnostics_to_proto(rpc: &str, diags: &Diagnostics) -> Vec<pb::Diagnostic> {
    diags
        .iter()
        .map(|d| {
            let severity = match d.severity {
                Severity::Error => {
                    tracing::warn!(rpc, summary = %d.summary, "returning error diagnostic");
                    pb::diagnostic::Severity::Error
                }
                Severity::Warning => pb::diagnostic::Severity::Warning,
            };
            pb::Diagnostic {
                severity: severity as i32,
                summary: d.summary.clone(),
                detail: d.detail.clone(),
                attribute: d.attribute.as_ref().filter(|p| !p.is_root()).map(path_to_proto),
            }
        })
        .collect()
}

/// Decodes a value Terraform sent. An absent value is null.
fn decode(dv: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Diagnostic> {
    let result = match dv {
        None => return Ok(Value::Null),
        Some(dv) if !dv.msgpack.is_empty() => codec::decode_msgpack(&dv.msgpack, ty),
        Some(dv) if !dv.json.is_empty() => codec::decode_json(&dv.json, ty),
        Some(_) => {
            return Err(Diagnostic::error(
                "Invalid value from Terraform",
                format!("The {what} arrived with neither msgpack nor JSON data. Please report this as a bug."),
            ));
        }
    };
    result.map_err(|e| codec_diagnostic("Invalid value from Terraform", what, &e))
}

/// Encodes a value for Terraform as msgpack.
fn encode(v: &Value, ty: &Type, what: &str) -> Result<pb::DynamicValue, Diagnostic> {
    codec::encode_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue { msgpack, json: vec![] })
        .map_err(|e| codec_diagnostic("Invalid value from the provider", what, &e))
}

fn codec_diagnostic(summary: &str, what: &str, e: &CodecError) -> Diagnostic {
    let d = Diagnostic::error(
        summary,
        format!("The {what} does not match the resource schema: {e}. This is a bug in the provider; please report it."),
    );
    match e.path() {
        Some(p) => d.at(p.clone()),
        None => d,
    }
}

/// Pushes the error of `r` into `diags`; the `?`-friendly way to stop an RPC.
fn check<T>(diags: &mut Diagnostics, r: Result<T, Diagnostic>) -> Option<T> {
    r.map_err(|d| diags.push(d)).ok()
}

fn panic_diagnostic(rpc: &str) -> Diagnostic {
    tracing::error!(rpc, "provider code panicked");
    Diagnostic::error(
        "Provider failed unexpectedly",
        format!(
            "The provider hit an internal error during {rpc}. This is a bug in the provider; please report it with the \
             provider log (TF_LOG_PROVIDER=debug)."
        ),
    )
}

/// Runs provider code on its own task, so a panic in it becomes an error
/// diagnostic instead of crossing the gRPC boundary.
async fn guarded<T, F>(rpc: &'static str, fut: F) -> Result<T, Diagnostic>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    tokio::spawn(fut).await.map_err(|_| panic_diagnostic(rpc))
}

/// The synchronous counterpart of [`guarded`].
fn guarded_sync<T>(rpc: &'static str, f: impl FnOnce() -> T) -> Result<T, Diagnostic> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| panic_diagnostic(rpc))
}

/// Replaces every unknown inside `v` with null; true when one was found.
/// A new state after apply or read must be wholly known, and an attribute
/// the provider did not set is better null than an invalid response.
fn unknowns_to_null(v: &mut Value) -> bool {
    match v {
        Value::Unknown => {
            *v = Value::Null;
            true
        }
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => items
            .iter_mut()
            .fold(false, |found, item| unknowns_to_null(item) | found),
        Value::Map(m) | Value::Object(m) => m.values_mut().fold(false, |found, item| unknowns_to_null(item) | found),
        Value::Dynamic(_, inner) => unknowns_to_null(inner),
        _ => false,
    }
}

/// Makes a new state valid for Terraform: no unknowns (an attribute the
/// resource did not set becomes null).
fn settle(rpc: &str, mut state: Value) -> Value {
    if unknowns_to_null(&mut state) {
        tracing::debug!(rpc, "unset computed attributes in the new state became null");
    }
    state
}

// ---------------------------------------------------------------------------
// The default plan

static NULL: Value = Value::Null;

fn elements(v: &Value) -> &[Value] {
    match v {
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => items,
        _ => &[],
    }
}

fn entries(v: &Value) -> Option<&BTreeMap<String, Value>> {
    match v {
        Value::Map(m) | Value::Object(m) => Some(m),
        _ => None,
    }
}

/// On create, every computed attribute the configuration leaves unset will
/// be chosen by the provider: plan it unknown. Recurses into nested blocks.
fn mark_computed_unknown(block: &Block, planned: &mut Value, config: &Value) {
    let Value::Object(attrs) = planned else { return };
    for a in block.attributes.iter().filter(|a| a.computed) {
        if config.get(&a.name).is_null() {
            attrs.insert(a.name.clone(), Value::Unknown);
        }
    }
    for nb in &block.blocks {
        let Some(nested) = attrs.get_mut(&nb.type_name) else {
            continue;
        };
        let nested_config = config.get(&nb.type_name);
        match (nb.nesting, nested) {
            (Nesting::Single | Nesting::Group, v) => mark_computed_unknown(&nb.block, v, nested_config),
            (Nesting::List | Nesting::Set, Value::List(items) | Value::Set(items)) => {
                let configs = elements(nested_config);
                for (i, item) in items.iter_mut().enumerate() {
                    mark_computed_unknown(&nb.block, item, configs.get(i).unwrap_or(&NULL));
                }
            }
            (Nesting::Map, Value::Map(items)) => {
                for (k, item) in items.iter_mut() {
                    let c = entries(nested_config).and_then(|m| m.get(k)).unwrap_or(&NULL);
                    mark_computed_unknown(&nb.block, item, c);
                }
            }
            _ => {}
        }
    }
}

/// On update, nested block elements that did not exist before are created
/// along with the change: their unset computed attributes are unknown too.
/// (Set elements cannot be matched to prior ones and are left as proposed.)
fn mark_new_nested_unknown(block: &Block, prior: &Value, planned: &mut Value, config: &Value) {
    let Value::Object(attrs) = planned else { return };
    for nb in &block.blocks {
        let Some(nested) = attrs.get_mut(&nb.type_name) else {
            continue;
        };
        let (old, nested_config) = (prior.get(&nb.type_name), config.get(&nb.type_name));
        match (nb.nesting, nested) {
            (Nesting::Single | Nesting::Group, v) if old.is_null() => {
                mark_computed_unknown(&nb.block, v, nested_config)
            }
            (Nesting::Single | Nesting::Group, v) => mark_new_nested_unknown(&nb.block, old, v, nested_config),
            (Nesting::List, Value::List(items)) => {
                let (olds, configs) = (elements(old), elements(nested_config));
                for (i, item) in items.iter_mut().enumerate() {
                    let c = configs.get(i).unwrap_or(&NULL);
                    match olds.get(i) {
                        Some(o) => mark_new_nested_unknown(&nb.block, o, item, c),
                        None => mark_computed_unknown(&nb.block, item, c),
                    }
                }
            }
            (Nesting::Map, Value::Map(items)) => {
                for (k, item) in items.iter_mut() {
                    let c = entries(nested_config).and_then(|m| m.get(k)).unwrap_or(&NULL);
                    match entries(old).and_then(|m| m.get(k)) {
                        Some(o) => mark_new_nested_unknown(&nb.block, o, item, c),
                        None => mark_computed_unknown(&nb.block, item, c),
                    }
                }
            }
            _ => {}
        }
    }
}

fn has_force_new(block: &Block) -> bool {
    block.attributes.iter().any(|a| a.force_new) || block.blocks.iter().any(|b| has_force_new(&b.block))
}

/// On update, the paths of `force_new` attributes whose value changes.
fn changed_force_new(block: &Block, prior: &Value, planned: &Value, path: &AttrPath, out: &mut Vec<AttrPath>) {
    for a in block.attributes.iter().filter(|a| a.force_new) {
        if !same(prior.get(&a.name), planned.get(&a.name)) {
            out.push(path.then(a.name.as_str()));
        }
    }
    for nb in block.blocks.iter().filter(|b| has_force_new(&b.block)) {
        let p = path.then(nb.type_name.as_str());
        let (old, new) = (prior.get(&nb.type_name), planned.get(&nb.type_name));
        if new.is_unknown() {
            out.push(p);
            continue;
        }
        match nb.nesting {
            Nesting::Single | Nesting::Group => changed_force_new(&nb.block, old, new, &p, out),
            Nesting::List => {
                let (olds, news) = (elements(old), elements(new));
                for i in 0..olds.len().max(news.len()) {
                    let at = p.index(i64::try_from(i).unwrap_or(i64::MAX));
                    changed_force_new(
                        &nb.block,
                        olds.get(i).unwrap_or(&NULL),
                        news.get(i).unwrap_or(&NULL),
                        &at,
                        out,
                    );
                }
            }
            Nesting::Map => {
                let empty = BTreeMap::new();
                let (olds, news) = (entries(old).unwrap_or(&empty), entries(new).unwrap_or(&empty));
                for k in olds.keys().chain(news.keys().filter(|k| !olds.contains_key(*k))) {
                    let at = p.key(k.as_str());
                    changed_force_new(
                        &nb.block,
                        olds.get(k).unwrap_or(&NULL),
                        news.get(k).unwrap_or(&NULL),
                        &at,
                        out,
                    );
                }
            }
            // Set elements have no path of their own: a change anywhere in a
            // set holding force_new attributes replaces the object.
            Nesting::Set => {
                if !same(old, new) {
                    out.push(p);
                }
            }
        }
    }
}

/// Value equality as Terraform sees it: `5` equals `5.0`, sets ignore order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::Set(xs), Value::Set(ys)) => xs.len() == ys.len() && xs.iter().all(|x| ys.iter().any(|y| same(x, y))),
        (Value::List(xs), Value::List(ys)) | (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Map(xs), Value::Map(ys)) | (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| ys.get(k).is_some_and(|y| same(x, y)))
        }
        (Value::Dynamic(tx, x), Value::Dynamic(ty, y)) => tx == ty && same(x, y),
        _ => a == b,
    }
}

fn same_number(x: &Number, y: &Number) -> bool {
    match (x, y) {
        (Number::Int(a), Number::Int(b)) => a == b,
        (Number::Big(a), Number::Big(b)) if a == b => true,
        _ => match (x.as_f64(), y.as_f64()) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => a == b,
            _ => false,
        },
    }
}

// ---------------------------------------------------------------------------
// The RPCs

impl<P: Provider> ProviderService<P> {
    fn validate_provider(&self, req: &pb::validate_provider_config::Request, diags: &mut Diagnostics) -> Option<()> {
        let config = check(
            diags,
            decode(req.config.as_ref(), &self.provider_type, "provider configuration"),
        )?;
        let provider = self.provider.clone();
        let found = check(
            diags,
            guarded_sync("ValidateProviderConfig", || provider.validate(&config)),
        )?;
        diags.extend(found);
        Some(())
    }

    fn validate_resource(&self, req: &pb::validate_resource_config::Request, diags: &mut Diagnostics) -> Option<()> {
        let entry = check(diags, self.entry(&req.type_name))?;
        let config = check(diags, decode(req.config.as_ref(), &entry.ty, "resource configuration"))?;
        let found = check(
            diags,
            guarded_sync("ValidateResourceConfig", || entry.resource.validate(&config)),
        )?;
        diags.extend(found);
        Some(())
    }

    fn upgrade(
        &self,
        req: &pb::upgrade_resource_state::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::upgrade_resource_state::Response> {
        let entry = check(diags, self.entry(&req.type_name))?;
        if req.version > entry.schema.version {
            diags.push(Diagnostic::error(
                "State written by a newer provider",
                format!(
                    "The stored state of this {} has schema version {}, but this provider understands versions up \
                     to {}. Use the provider version that wrote the state, or a newer one.",
                    req.type_name, req.version, entry.schema.version
                ),
            ));
            return None;
        }
        let raw = req.raw_state.as_ref();
        let json = raw.map(|r| r.json.as_slice()).unwrap_or_default();
        if json.is_empty() {
            let detail = if raw.is_some_and(|r| !r.flatmap.is_empty()) {
                "The stored state is in the legacy flatmap format of Terraform 0.11 and older, which this provider \
                 cannot read. Upgrade the state with Terraform 0.12 and an older provider first, or remove the \
                 resource from the state and import it again."
            } else {
                "Terraform sent no stored state to upgrade. Please report this as a bug."
            };
            diags.push(Diagnostic::error("Unsupported stored state", detail));
            return None;
        }
        let state = check(
            diags,
            codec::decode_json(json, &entry.ty)
                .map_err(|e| codec_diagnostic("Invalid stored state", "stored state", &e)),
        )?;
        let version = req.version;
        let upgraded = check(
            diags,
            guarded_sync("UpgradeResourceState", || entry.resource.upgrade_state(version, state)),
        )?;
        let upgraded = match upgraded {
            Ok(v) => v,
            Err(d) => {
                diags.extend(d);
                return None;
            }
        };
        let upgraded_state = check(diags, encode(&upgraded, &entry.ty, "upgraded state"))?;
        Some(pb::upgrade_resource_state::Response {
            upgraded_state: Some(upgraded_state),
            diagnostics: vec![],
        })
    }

    async fn configure(&self, req: pb::configure_provider::Request, diags: &mut Diagnostics) -> Option<()> {
        let config = check(
            diags,
            decode(req.config.as_ref(), &self.provider_type, "provider configuration"),
        )?;
        let ctx = Context {
            cancel: self.stop.clone(),
            terraform_version: req.terraform_version.clone(),
        };
        let provider = self.provider.clone();
        let configure = ConfigureRequest {
            config,
            terraform_version: req.terraform_version.clone(),
        };
        let outcome = check(
            diags,
            guarded(
                "ConfigureProvider",
                async move { provider.configure(&ctx, configure).await },
            )
            .await,
        )?;
        match outcome {
            Ok(data) => {
                *self.configured.write().await = Some(Configured {
                    data: Arc::new(data),
                    terraform_version: req.terraform_version,
                });
                Some(())
            }
            Err(d) => {
                diags.extend(d);
                None
            }
        }
    }

    async fn read(
        &self,
        req: &pb::read_resource::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::read_resource::Response> {
        let entry = check(diags, self.entry(&req.type_name))?;
        let state = check(diags, decode(req.current_state.as_ref(), &entry.ty, "current state"))?;
        if state.is_null() {
            return None;
        }
        let (data, ctx) = check(diags, self.configured("ReadResource").await)?;
        let resource = entry.resource.clone();
        let result = check(
            diags,
            guarded("ReadResource", async move { resource.read(&ctx, &data, &state).await }).await,
        )?;
        let had_errors = result.diagnostics.has_errors();
        diags.extend(result.diagnostics);
        let new_state = match result.state {
            Some(v) => settle("ReadResource", v),
            // An error is no proof the object is gone: keep the state.
            None if had_errors => return None,
            None => Value::Null,
        };
        let new_state = check(diags, encode(&new_state, &entry.ty, "refreshed state"))?;
        Some(pb::read_resource::Response {
            new_state: Some(new_state),
            private: req.private.clone(),
            ..Default::default()
        })
    }

    async fn plan(
        &self,
        req: &pb::plan_resource_change::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::plan_resource_change::Response> {
        let entry = check(diags, self.entry(&req.type_name))?;
        let proposed = check(
            diags,
            decode(req.proposed_new_state.as_ref(), &entry.ty, "proposed new state"),
        )?;
        // Destroy: nothing to adjust.
        if proposed.is_null() {
            let planned_state = check(diags, encode(&Value::Null, &entry.ty, "planned state"))?;
            return Some(pb::plan_resource_change::Response {
                planned_state: Some(planned_state),
                planned_private: req.prior_private.clone(),
                ..Default::default()
            });
        }
        let prior = check(diags, decode(req.prior_state.as_ref(), &entry.ty, "prior state"))?;
        let config = check(diags, decode(req.config.as_ref(), &entry.ty, "configuration"))?;
        let (data, _ctx) = check(diags, self.configured("PlanResourceChange").await)?;

        let mut planned = proposed.clone();
        let mut requires_replace = Vec::new();
        if prior.is_null() {
            mark_computed_unknown(&entry.schema.block, &mut planned, &config);
        } else {
            mark_new_nested_unknown(&entry.schema.block, &prior, &mut planned, &config);
            changed_force_new(
                &entry.schema.block,
                &prior,
                &planned,
                &AttrPath::default(),
                &mut requires_replace,
            );
        }
        let mut plan = Plan {
            planned,
            requires_replace,
            diagnostics: Diagnostics::new(),
            legacy_type_system: false,
        };
        let plan_req = PlanRequest {
            prior,
            proposed,
            config,
        };
        check(
            diags,
            guarded_sync("PlanResourceChange", || {
                entry.resource.modify_plan(&data, &plan_req, &mut plan)
            }),
        )?;
        let failed = plan.diagnostics.has_errors();
        diags.extend(plan.diagnostics);
        if failed {
            return None;
        }
        let planned_state = check(diags, encode(&plan.planned, &entry.ty, "planned state"))?;
        Some(pb::plan_resource_change::Response {
            planned_state: Some(planned_state),
            requires_replace: plan.requires_replace.iter().map(path_to_proto).collect(),
            planned_private: req.prior_private.clone(),
            legacy_type_system: plan.legacy_type_system,
            ..Default::default()
        })
    }

    async fn apply(
        &self,
        req: &pb::apply_resource_change::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::apply_resource_change::Response> {
        let entry = check(diags, self.entry(&req.type_name))?;
        let prior = check(diags, decode(req.prior_state.as_ref(), &entry.ty, "prior state"))?;
        let planned = check(diags, decode(req.planned_state.as_ref(), &entry.ty, "planned state"))?;
        let (data, ctx) = check(diags, self.configured("ApplyResourceChange").await)?;
        let resource = entry.resource.clone();

        let new_state = if planned.is_null() {
            let found = check(
                diags,
                guarded("ApplyResourceChange", async move {
                    resource.delete(&ctx, &data, &prior).await
                })
                .await,
            )?;
            let failed = found.has_errors();
            diags.extend(found);
            if failed {
                // The object may still exist: keep it in the state.
                return None;
            }
            Value::Null
        } else if prior.is_null() {
            let result = check(
                diags,
                guarded("ApplyResourceChange", async move {
                    resource.create(&ctx, &data, &planned).await
                })
                .await,
            )?;
            diags.extend(result.diagnostics);
            // A state returned with errors is kept: Terraform marks it
            // tainted, so the object is replaced or destroyed later.
            result.state.map_or(Value::Null, |s| settle("ApplyResourceChange", s))
        } else {
            let result = check(
                diags,
                guarded("ApplyResourceChange", async move {
                    resource.update(&ctx, &data, &prior, &planned).await
                })
                .await,
            )?;
            diags.extend(result.diagnostics);
            match result.state {
                Some(s) => settle("ApplyResourceChange", s),
                None => return None,
            }
        };
        let new_state = check(diags, encode(&new_state, &entry.ty, "new state"))?;
        Some(pb::apply_resource_change::Response {
            new_state: Some(new_state),
            private: req.planned_private.clone(),
            ..Default::default()
        })
    }

    async fn import(
        &self,
        req: &pb::import_resource_state::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::import_resource_state::Response> {
        let entry = check(diags, self.entry(&req.type_name))?;
        let (data, ctx) = check(diags, self.configured("ImportResourceState").await)?;
        let resource = entry.resource.clone();
        let id = req.id.clone();
        let outcome = check(
            diags,
            guarded(
                "ImportResourceState",
                async move { resource.import(&ctx, &data, &id).await },
            )
            .await,
        )?;
        let state = match outcome {
            Ok(v) => settle("ImportResourceState", v),
            Err(d) => {
                diags.extend(d);
                return None;
            }
        };
        let state = check(diags, encode(&state, &entry.ty, "imported state"))?;
        Some(pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: req.type_name.clone(),
                state: Some(state),
                private: vec![],
                identity: None,
            }],
            ..Default::default()
        })
    }

    fn no_data_source(type_name: &str) -> Diagnostic {
        Diagnostic::error(
            "Unknown data source",
            format!("This provider has no data sources; {type_name:?} is not one. Check the data block's type."),
        )
    }
}

fn log_rpc(rpc: &str, type_name: &str) {
    tracing::debug!(rpc, type_name, "rpc");
}

/// The answer to an RPC this provider does not serve; Terraform tolerates it
/// for features the provider does not declare.
fn unimplemented(rpc: &str, why: &str) -> Status {
    log_rpc(rpc, "");
    Status::unimplemented(why)
}

#[tonic::async_trait]
impl<P: Provider> TfProvider for ProviderService<P> {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> RpcResult<pb::get_metadata::Response> {
        log_rpc("GetMetadata", "");
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: self
                .resources
                .keys()
                .map(|name| pb::get_metadata::ResourceMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> RpcResult<pb::get_provider_schema::Response> {
        log_rpc("GetProviderSchema", "");
        Ok(Response::new(self.schema_response.clone()))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        const RPC: &str = "ValidateProviderConfig";
        log_rpc(RPC, "");
        let mut diags = Diagnostics::new();
        self.validate_provider(request.get_ref(), &mut diags);
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diagnostics_to_proto(RPC, &diags),
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        const RPC: &str = "ValidateResourceConfig";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        self.validate_resource(&req, &mut diags);
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diagnostics_to_proto(RPC, &diags),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        const RPC: &str = "ValidateDataResourceConfig";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let diags = Diagnostics::from(Self::no_data_source(&req.type_name));
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diagnostics_to_proto(RPC, &diags),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        const RPC: &str = "UpgradeResourceState";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        let mut resp = self.upgrade(&req, &mut diags).unwrap_or_default();
        resp.diagnostics = diagnostics_to_proto(RPC, &diags);
        Ok(Response::new(resp))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> RpcResult<pb::get_resource_identity_schemas::Response> {
        log_rpc("GetResourceIdentitySchemas", "");
        Ok(Response::new(pb::get_resource_identity_schemas::Response::default()))
    }

    async fn upgrade_resource_identity(
        &self,
        _: Request<pb::upgrade_resource_identity::Request>,
    ) -> RpcResult<pb::upgrade_resource_identity::Response> {
        Err(unimplemented(
            "UpgradeResourceIdentity",
            "this provider declares no resource identities",
        ))
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        const RPC: &str = "ConfigureProvider";
        log_rpc(RPC, "");
        let mut diags = Diagnostics::new();
        self.configure(request.into_inner(), &mut diags).await;
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diagnostics_to_proto(RPC, &diags),
        }))
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> RpcResult<pb::read_resource::Response> {
        const RPC: &str = "ReadResource";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        // On failure the current state is kept as it is.
        let mut resp = self
            .read(&req, &mut diags)
            .await
            .unwrap_or_else(|| pb::read_resource::Response {
                new_state: req.current_state.clone(),
                private: req.private.clone(),
                ..Default::default()
            });
        resp.diagnostics = diagnostics_to_proto(RPC, &diags);
        Ok(Response::new(resp))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> RpcResult<pb::plan_resource_change::Response> {
        const RPC: &str = "PlanResourceChange";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        let mut resp = self.plan(&req, &mut diags).await.unwrap_or_default();
        resp.diagnostics = diagnostics_to_proto(RPC, &diags);
        Ok(Response::new(resp))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        const RPC: &str = "ApplyResourceChange";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        // On failure the prior state is kept: null for a create, the
        // existing object otherwise.
        let mut resp = self
            .apply(&req, &mut diags)
            .await
            .unwrap_or_else(|| pb::apply_resource_change::Response {
                new_state: req.prior_state.clone(),
                private: req.planned_private.clone(),
                ..Default::default()
            });
        resp.diagnostics = diagnostics_to_proto(RPC, &diags);
        Ok(Response::new(resp))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        const RPC: &str = "ImportResourceState";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        let mut resp = self.import(&req, &mut diags).await.unwrap_or_default();
        resp.diagnostics = diagnostics_to_proto(RPC, &diags);
        Ok(Response::new(resp))
    }

    async fn move_resource_state(
        &self,
        _: Request<pb::move_resource_state::Request>,
    ) -> RpcResult<pb::move_resource_state::Response> {
        Err(unimplemented(
            "MoveResourceState",
            "moving state between resource types is not supported",
        ))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> RpcResult<pb::read_data_source::Response> {
        const RPC: &str = "ReadDataSource";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let diags = Diagnostics::from(Self::no_data_source(&req.type_name));
        Ok(Response::new(pb::read_data_source::Response {
            diagnostics: diagnostics_to_proto(RPC, &diags),
            ..Default::default()
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        _: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        Err(unimplemented(
            "ValidateEphemeralResourceConfig",
            "this provider has no ephemeral resources",
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        _: Request<pb::open_ephemeral_resource::Request>,
    ) -> RpcResult<pb::open_ephemeral_resource::Response> {
        Err(unimplemented(
            "OpenEphemeralResource",
            "this provider has no ephemeral resources",
        ))
    }

    async fn renew_ephemeral_resource(
        &self,
        _: Request<pb::renew_ephemeral_resource::Request>,
    ) -> RpcResult<pb::renew_ephemeral_resource::Response> {
        Err(unimplemented(
            "RenewEphemeralResource",
            "this provider has no ephemeral resources",
        ))
    }

    async fn close_ephemeral_resource(
        &self,
        _: Request<pb::close_ephemeral_resource::Request>,
    ) -> RpcResult<pb::close_ephemeral_resource::Response> {
        Err(unimplemented(
            "CloseEphemeralResource",
            "this provider has no ephemeral resources",
        ))
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> RpcResult<pb::get_functions::Response> {
        log_rpc("GetFunctions", "");
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(&self, _: Request<pb::call_function::Request>) -> RpcResult<pb::call_function::Response> {
        Err(unimplemented("CallFunction", "this provider has no functions"))
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> RpcResult<pb::stop_provider::Response> {
        log_rpc("StopProvider", "");
        self.stop.cancel();
        Ok(Response::new(pb::stop_provider::Response::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::resource::{ApplyResult, ReadResult};
    use crate::framework::timeouts;
    use async_trait::async_trait;
    use pb::attribute_path::step::Selector;
    use std::time::Duration;

    // A provider with one resource whose behaviour is chosen by its `name`.

    struct FakeProvider;

    struct FakeData {
        region: String,
    }

    fn provider_schema() -> Schema {
        Schema::new(
            0,
            Block::new("Fake.").attribute(Attribute::optional("region", Type::String)),
        )
    }

    #[async_trait]
    impl Provider for FakeProvider {
        type Data = FakeData;

        fn schema(&self) -> Schema {
            provider_schema()
        }

        fn validate(&self, config: &Value) -> Diagnostics {
            match config.get("region").as_str() {
                Some("mars") => Diagnostic::error("Invalid region", "No such region.")
                    .at(AttrPath::attr("region"))
                    .into(),
                _ => Diagnostics::new(),
            }
        }

        async fn configure(&self, _ctx: &Context, req: ConfigureRequest) -> Result<FakeData, Diagnostics> {
            match req.config.get("region").as_str() {
                Some("fail") => Err(Diagnostic::error("No credentials", "Set them.").into()),
                other => Ok(FakeData {
                    region: other.unwrap_or("default").to_string(),
                }),
            }
        }

        fn resources(&self) -> Vec<Arc<dyn Resource<FakeData>>> {
            vec![Arc::new(FakeImage)]
        }
    }

    struct FakeImage;

    fn image_schema() -> Schema {
        let disk = NestedBlock {
            type_name: "disk".into(),
            block: Block::new("A disk.")
                .attribute(Attribute::required("format", Type::String).force_new())
                .attribute(Attribute::computed("serial", Type::String)),
            nesting: Nesting::List,
            min_items: 0,
            max_items: 0,
        };
        Schema::new(
            1,
            Block::new("An image.")
                .attribute(Attribute::computed("id", Type::String))
                .attribute(Attribute::required("name", Type::String).force_new())
                .attribute(Attribute::optional("description", Type::String))
                .attribute(Attribute::optional_computed("size", Type::Number))
                .attribute(Attribute::computed("status", Type::String))
                .attribute(Attribute::optional("region", Type::String))
                .block(disk)
                .block(timeouts::block(&[("create", Duration::from_secs(600))])),
        )
    }

    fn cancelled_result() -> ApplyResult {
        ApplyResult {
            state: None,
            diagnostics: Diagnostic::error("Cancelled", "Terraform asked the provider to stop.").into(),
        }
    }

    #[async_trait]
    impl Resource<FakeData> for FakeImage {
        fn type_name(&self) -> &'static str {
            "fake_image"
        }

        fn schema(&self) -> Schema {
            image_schema()
        }

        fn validate(&self, config: &Value) -> Diagnostics {
            match config.get("name").as_str() {
                Some("") => Diagnostic::error("Empty name", "Give the image a name.")
                    .at(AttrPath::attr("name"))
                    .into(),
                _ => Diagnostics::new(),
            }
        }

        fn modify_plan(&self, data: &FakeData, req: &PlanRequest, plan: &mut Plan) {
            if req.config.get("region").is_null() {
                plan.planned.set("region", Value::string(data.region.as_str()));
            }
            if req.proposed.get("name").as_str() == Some("plan-error") {
                plan.diagnostics.push(Diagnostic::error("Refused", "No."));
            }
        }

        async fn create(&self, ctx: &Context, _data: &FakeData, planned: &Value) -> ApplyResult {
            let mut state = planned.clone();
            state.set("id", Value::string("img-1"));
            match planned.get("name").as_str() {
                Some("wait") => {
                    ctx.cancelled().await;
                    cancelled_result()
                }
                Some("panic") => panic!("fake create panicked"),
                Some("fail-after-create") => ApplyResult {
                    state: Some(state),
                    diagnostics: Diagnostic::error("Import failed", "The image is in state Failed.").into(),
                },
                _ => {
                    state.set("status", Value::string("Available"));
                    if state.get("size").is_unknown() {
                        state.set("size", Value::Number(Number::Int(40)));
                    }
                    ApplyResult {
                        state: Some(state),
                        diagnostics: Diagnostics::new(),
                    }
                }
            }
        }

        async fn read(&self, _ctx: &Context, _data: &FakeData, state: &Value) -> ReadResult {
            match state.get("id").as_str() {
                Some("gone") => ReadResult::default(),
                Some("read-error") => ReadResult {
                    state: None,
                    diagnostics: Diagnostic::error("API unreachable", "Try again.").into(),
                },
                _ => ReadResult {
                    state: Some(state.clone()),
                    diagnostics: Diagnostics::new(),
                },
            }
        }

        async fn update(&self, _ctx: &Context, _data: &FakeData, _prior: &Value, planned: &Value) -> ApplyResult {
            match planned.get("description").as_str() {
                Some("update-error") => ApplyResult {
                    state: None,
                    diagnostics: Diagnostic::error("Update failed", "No.").into(),
                },
                _ => ApplyResult {
                    state: Some(planned.clone()),
                    diagnostics: Diagnostics::new(),
                },
            }
        }

        async fn delete(&self, _ctx: &Context, _data: &FakeData, state: &Value) -> Diagnostics {
            match state.get("id").as_str() {
                Some("stuck") => Diagnostic::error("Delete failed", "The image is in use.").into(),
                _ => Diagnostics::new(),
            }
        }

        async fn import(&self, _ctx: &Context, _data: &FakeData, id: &str) -> Result<Value, Diagnostics> {
            if id.is_empty() {
                return Err(Diagnostic::error("Empty id", "Give an image id.").into());
            }
            Ok(Value::object([("id", Value::string(id)), ("status", Value::Unknown)]))
        }
    }

    // Helpers

    fn ty() -> Type {
        image_schema().value_type()
    }

    fn dv(v: &Value) -> Option<pb::DynamicValue> {
        Some(encode(v, &ty(), "test value").expect("test value encodes"))
    }

    fn undv(d: Option<pb::DynamicValue>) -> Value {
        decode(d.as_ref(), &ty(), "test value").expect("response value decodes")
    }

    fn s(x: &str) -> Value {
        Value::string(x)
    }

    fn disk(format: &str, serial: Value) -> Value {
        Value::object([("format", s(format)), ("serial", serial)])
    }

    /// A configuration as Terraform sends it: every attribute, null where unset.
    fn config(name: &str) -> Value {
        Value::object([
            ("id", Value::Null),
            ("name", s(name)),
            ("description", Value::Null),
            ("size", Value::Null),
            ("status", Value::Null),
            ("region", Value::Null),
            ("disk", Value::List(vec![disk("raw", Value::Null)])),
            ("timeouts", Value::Null),
        ])
    }

    fn state(id: &str, name: &str) -> Value {
        let mut v = config(name);
        v.set("id", s(id));
        v.set("size", Value::Number(Number::Int(40)));
        v.set("status", s("Available"));
        v.set("region", s("cn-bj2"));
        v.set("disk", Value::List(vec![disk("raw", s("sn-1"))]));
        v
    }

    fn errors(diags: &[pb::Diagnostic]) -> Vec<&str> {
        diags
            .iter()
            .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
            .map(|d| d.summary.as_str())
            .collect()
    }

    fn path(d: &pb::Diagnostic) -> Vec<Selector> {
        d.attribute
            .iter()
            .flat_map(|p| p.steps.iter().filter_map(|s| s.selector.clone()))
            .collect()
    }

    fn attr(name: &str) -> Selector {
        Selector::AttributeName(name.into())
    }

    async fn service() -> ProviderService<FakeProvider> {
        let svc = ProviderService::new(FakeProvider);
        let config = Value::object([("region", s("cn-bj2"))]);
        let resp = svc
            .configure_provider(Request::new(pb::configure_provider::Request {
                terraform_version: "1.11.4".into(),
                config: Some(encode(&config, &provider_schema().value_type(), "config").expect("encodes")),
                client_capabilities: None,
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        svc
    }

    async fn plan(
        svc: &ProviderService<FakeProvider>,
        prior: &Value,
        proposed: &Value,
        config: &Value,
    ) -> pb::plan_resource_change::Response {
        svc.plan_resource_change(Request::new(pb::plan_resource_change::Request {
            type_name: "fake_image".into(),
            prior_state: dv(prior),
            proposed_new_state: dv(proposed),
            config: dv(config),
            prior_private: b"opaque".to_vec(),
            ..Default::default()
        }))
        .await
        .expect("rpc")
        .into_inner()
    }

    async fn apply(
        svc: &ProviderService<FakeProvider>,
        prior: &Value,
        planned: &Value,
    ) -> pb::apply_resource_change::Response {
        svc.apply_resource_change(Request::new(apply_request(prior, planned)))
            .await
            .expect("rpc")
            .into_inner()
    }

    fn apply_request(prior: &Value, planned: &Value) -> pb::apply_resource_change::Request {
        pb::apply_resource_change::Request {
            type_name: "fake_image".into(),
            prior_state: dv(prior),
            planned_state: dv(planned),
            config: dv(planned),
            planned_private: b"kept".to_vec(),
            ..Default::default()
        }
    }

    // Plan

    #[tokio::test]
    async fn plan_create_marks_unset_computed_attributes_unknown() {
        let svc = service().await;
        let mut cfg = config("img");
        cfg.set("description", s("hello"));
        let resp = plan(&svc, &Value::Null, &cfg, &cfg).await;
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        let planned = undv(resp.planned_state);
        assert_eq!(planned.get("id"), &Value::Unknown);
        assert_eq!(planned.get("status"), &Value::Unknown);
        assert_eq!(planned.get("size"), &Value::Unknown, "optional+computed and unset");
        assert_eq!(planned.get("description"), &s("hello"));
        assert_eq!(planned.get("name"), &s("img"));
        assert_eq!(planned.get("disk"), &Value::List(vec![disk("raw", Value::Unknown)]));
        // modify_plan ran with the provider data.
        assert_eq!(planned.get("region"), &s("cn-bj2"));
        assert!(resp.requires_replace.is_empty());
        assert_eq!(resp.planned_private, b"opaque");

        // A computed attribute set in the configuration keeps its value.
        cfg.set("size", Value::Number(Number::Int(100)));
        let planned = undv(plan(&svc, &Value::Null, &cfg, &cfg).await.planned_state);
        assert_eq!(planned.get("size"), &Value::Number(Number::Int(100)));
    }

    #[tokio::test]
    async fn plan_update_of_force_new_attribute_requires_replace() {
        let svc = service().await;
        let prior = state("img-1", "old");
        let mut proposed = prior.clone();
        proposed.set("name", s("new"));
        proposed.set("disk", Value::List(vec![disk("qcow2", s("sn-1"))]));
        let mut cfg = config("new");
        cfg.set("disk", Value::List(vec![disk("qcow2", Value::Null)]));
        let resp = plan(&svc, &prior, &proposed, &cfg).await;
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        let paths: Vec<Vec<Selector>> = resp
            .requires_replace
            .iter()
            .map(|p| p.steps.iter().filter_map(|s| s.selector.clone()).collect())
            .collect();
        assert_eq!(
            paths,
            vec![
                vec![attr("name")],
                vec![attr("disk"), Selector::ElementKeyInt(0), attr("format")]
            ]
        );
    }

    #[tokio::test]
    async fn plan_update_of_other_attribute_is_in_place() {
        let svc = service().await;
        let prior = state("img-1", "same");
        let mut proposed = prior.clone();
        proposed.set("description", s("changed"));
        let mut cfg = config("same");
        cfg.set("description", s("changed"));
        let resp = plan(&svc, &prior, &proposed, &cfg).await;
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        assert!(resp.requires_replace.is_empty());
        let planned = undv(resp.planned_state);
        // Computed values are kept from the prior state, not made unknown.
        assert_eq!(planned.get("id"), &s("img-1"));
        assert_eq!(planned.get("status"), &s("Available"));
        assert_eq!(planned.get("description"), &s("changed"));
    }

    #[tokio::test]
    async fn plan_update_marks_computed_attributes_of_new_nested_elements_unknown() {
        let svc = service().await;
        let prior = state("img-1", "same");
        // Terraform proposes the prior serial for the existing disk, null for the new one.
        let mut proposed = prior.clone();
        proposed.set(
            "disk",
            Value::List(vec![disk("raw", s("sn-1")), disk("raw", Value::Null)]),
        );
        let mut cfg = config("same");
        cfg.set(
            "disk",
            Value::List(vec![disk("raw", Value::Null), disk("raw", Value::Null)]),
        );
        let resp = plan(&svc, &prior, &proposed, &cfg).await;
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        let planned = undv(resp.planned_state);
        assert_eq!(
            planned.get("disk"),
            &Value::List(vec![disk("raw", s("sn-1")), disk("raw", Value::Unknown)])
        );
        assert_eq!(planned.get("id"), &s("img-1"));
        // The new element's force_new attribute is a change of the list: replace.
        let paths: Vec<Vec<Selector>> = resp
            .requires_replace
            .iter()
            .map(|p| p.steps.iter().filter_map(|s| s.selector.clone()).collect())
            .collect();
        assert_eq!(
            paths,
            vec![vec![attr("disk"), Selector::ElementKeyInt(1), attr("format")]]
        );
    }

    #[tokio::test]
    async fn plan_destroy_plans_null() {
        let svc = service().await;
        let resp = plan(&svc, &state("img-1", "x"), &Value::Null, &Value::Null).await;
        assert!(resp.diagnostics.is_empty());
        assert_eq!(resp.planned_state.map(|d| d.msgpack), Some(vec![0xc0]));
    }

    #[tokio::test]
    async fn plan_errors_from_the_resource_reach_terraform() {
        let svc = service().await;
        let cfg = config("plan-error");
        let resp = plan(&svc, &Value::Null, &cfg, &cfg).await;
        assert_eq!(errors(&resp.diagnostics), ["Refused"]);
    }

    #[tokio::test]
    async fn malformed_msgpack_becomes_a_diagnostic() {
        let svc = service().await;
        let mut req = pb::plan_resource_change::Request {
            type_name: "fake_image".into(),
            prior_state: dv(&Value::Null),
            proposed_new_state: Some(pb::DynamicValue {
                msgpack: vec![0x88, 0xa2, b'i'],
                json: vec![],
            }),
            config: dv(&config("x")),
            ..Default::default()
        };
        let resp = svc
            .plan_resource_change(Request::new(req.clone()))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Invalid value from Terraform"]);
        assert!(resp.diagnostics[0].detail.contains("proposed new state"));

        // A value of the wrong type names the attribute.
        let wrong = Value::object([("name", Value::Bool(true))]);
        let bytes =
            codec::encode_msgpack(&wrong, &Type::Object([("name".to_string(), Type::Bool)].into())).expect("encodes");
        req.proposed_new_state = Some(pb::DynamicValue {
            msgpack: bytes,
            json: vec![],
        });
        let resp = svc
            .plan_resource_change(Request::new(req))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Invalid value from Terraform"]);
        assert_eq!(path(&resp.diagnostics[0]), [attr("name")]);
    }

    #[tokio::test]
    async fn unknown_resource_type_is_a_diagnostic() {
        let svc = service().await;
        let resp = svc
            .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "fake_nope".into(),
                ..Default::default()
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Unknown resource type"]);
        assert!(resp.diagnostics[0].detail.contains("fake_image"));
        let resp = svc
            .import_resource_state(Request::new(pb::import_resource_state::Request {
                type_name: "fake_nope".into(),
                id: "x".into(),
                ..Default::default()
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Unknown resource type"]);
    }

    // Apply

    #[tokio::test]
    async fn apply_create_returns_a_wholly_known_state() {
        let svc = service().await;
        let cfg = config("img");
        let planned = undv(plan(&svc, &Value::Null, &cfg, &cfg).await.planned_state);
        let resp = apply(&svc, &Value::Null, &planned).await;
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        let new_state = undv(resp.new_state);
        assert!(new_state.is_wholly_known());
        assert_eq!(new_state.get("id"), &s("img-1"));
        assert_eq!(new_state.get("size"), &Value::Number(Number::Int(40)));
        // Nothing set the disk serial: null rather than unknown.
        assert_eq!(new_state.get("disk"), &Value::List(vec![disk("raw", Value::Null)]));
        assert_eq!(resp.private, b"kept");
    }

    #[tokio::test]
    async fn apply_create_with_error_keeps_the_state() {
        let svc = service().await;
        let cfg = config("fail-after-create");
        let planned = undv(plan(&svc, &Value::Null, &cfg, &cfg).await.planned_state);
        let resp = apply(&svc, &Value::Null, &planned).await;
        assert_eq!(errors(&resp.diagnostics), ["Import failed"]);
        let new_state = undv(resp.new_state);
        assert_eq!(new_state.get("id"), &s("img-1"), "the created object is not forgotten");
        assert!(new_state.is_wholly_known());
    }

    #[tokio::test]
    async fn apply_delete_answers_null_and_keeps_the_object_on_failure() {
        let svc = service().await;
        let resp = apply(&svc, &state("img-1", "x"), &Value::Null).await;
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        assert_eq!(undv(resp.new_state), Value::Null);

        let stuck = state("stuck", "x");
        let resp = apply(&svc, &stuck, &Value::Null).await;
        assert_eq!(errors(&resp.diagnostics), ["Delete failed"]);
        assert_eq!(undv(resp.new_state), stuck);
    }

    #[tokio::test]
    async fn apply_update_failure_keeps_the_prior_state() {
        let svc = service().await;
        let prior = state("img-1", "x");
        let mut planned = prior.clone();
        planned.set("description", s("update-error"));
        let resp = apply(&svc, &prior, &planned).await;
        assert_eq!(errors(&resp.diagnostics), ["Update failed"]);
        assert_eq!(undv(resp.new_state), prior);

        planned.set("description", s("fine"));
        let resp = apply(&svc, &prior, &planned).await;
        assert!(resp.diagnostics.is_empty());
        assert_eq!(undv(resp.new_state), planned);
    }

    #[tokio::test]
    async fn a_panicking_resource_becomes_a_diagnostic() {
        let svc = service().await;
        let cfg = config("panic");
        let planned = undv(plan(&svc, &Value::Null, &cfg, &cfg).await.planned_state);
        let resp = apply(&svc, &Value::Null, &planned).await;
        assert_eq!(errors(&resp.diagnostics), ["Provider failed unexpectedly"]);
        assert_eq!(undv(resp.new_state), Value::Null);
        // The service still answers afterwards.
        let cfg = config("img");
        let resp = plan(&svc, &Value::Null, &cfg, &cfg).await;
        assert!(resp.diagnostics.is_empty());
    }

    #[tokio::test]
    async fn stop_provider_cancels_a_running_create() {
        let svc = Arc::new(service().await);
        let cfg = config("wait");
        let planned = undv(plan(&svc, &Value::Null, &cfg, &cfg).await.planned_state);
        let running = {
            let svc = svc.clone();
            let req = apply_request(&Value::Null, &planned);
            tokio::spawn(async move { svc.apply_resource_change(Request::new(req)).await })
        };
        let stop = svc
            .stop_provider(Request::new(pb::stop_provider::Request {}))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(stop.error, "");
        let resp = running.await.expect("task").expect("rpc").into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Cancelled"]);
        assert_eq!(undv(resp.new_state), Value::Null);
    }

    #[tokio::test]
    async fn calls_before_configure_get_a_clear_error() {
        let svc = ProviderService::new(FakeProvider);
        let prior = state("img-1", "x");
        let resp = apply(&svc, &prior, &Value::Null).await;
        assert_eq!(errors(&resp.diagnostics), ["Provider not configured"]);
        assert_eq!(undv(resp.new_state), prior, "a failed delete keeps the object");
    }

    #[tokio::test]
    async fn failed_configuration_is_reported() {
        let svc = ProviderService::new(FakeProvider);
        let provider_config = Value::object([("region", s("fail"))]);
        let resp = svc
            .configure_provider(Request::new(pb::configure_provider::Request {
                terraform_version: "1.11.4".into(),
                config: Some(encode(&provider_config, &provider_schema().value_type(), "config").expect("encodes")),
                client_capabilities: None,
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["No credentials"]);
        let cfg = config("img");
        let resp = plan(&svc, &Value::Null, &cfg, &cfg).await;
        assert_eq!(errors(&resp.diagnostics), ["Provider not configured"]);
    }

    // Read, import, upgrade

    #[tokio::test]
    async fn read_reports_a_vanished_object_as_null_but_keeps_state_on_error() {
        let svc = service().await;
        let read = |st: Value| {
            let svc = &svc;
            async move {
                svc.read_resource(Request::new(pb::read_resource::Request {
                    type_name: "fake_image".into(),
                    current_state: dv(&st),
                    private: b"p".to_vec(),
                    ..Default::default()
                }))
                .await
                .expect("rpc")
                .into_inner()
            }
        };
        let resp = read(state("img-1", "x")).await;
        assert!(resp.diagnostics.is_empty());
        assert_eq!(undv(resp.new_state), state("img-1", "x"));
        assert_eq!(resp.private, b"p");

        let resp = read(state("gone", "x")).await;
        assert!(resp.diagnostics.is_empty());
        assert_eq!(undv(resp.new_state), Value::Null);

        let resp = read(state("read-error", "x")).await;
        assert_eq!(errors(&resp.diagnostics), ["API unreachable"]);
        assert_eq!(undv(resp.new_state), state("read-error", "x"));
    }

    #[tokio::test]
    async fn import_returns_one_resource_without_unknowns() {
        let svc = service().await;
        let resp = svc
            .import_resource_state(Request::new(pb::import_resource_state::Request {
                type_name: "fake_image".into(),
                id: "uimage-xyz".into(),
                ..Default::default()
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert!(resp.diagnostics.is_empty());
        let [imported] = resp.imported_resources.as_slice() else {
            panic!("expected one imported resource, got {:?}", resp.imported_resources);
        };
        assert_eq!(imported.type_name, "fake_image");
        let st = undv(imported.state.clone());
        assert_eq!(st.get("id"), &s("uimage-xyz"));
        assert!(st.is_wholly_known());

        let resp = svc
            .import_resource_state(Request::new(pb::import_resource_state::Request {
                type_name: "fake_image".into(),
                id: String::new(),
                ..Default::default()
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Empty id"]);
        assert!(resp.imported_resources.is_empty());
    }

    async fn upgrade(
        svc: &ProviderService<FakeProvider>,
        version: i64,
        raw: pb::RawState,
    ) -> pb::upgrade_resource_state::Response {
        svc.upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
            type_name: "fake_image".into(),
            version,
            raw_state: Some(raw),
        }))
        .await
        .expect("rpc")
        .into_inner()
    }

    #[tokio::test]
    async fn upgrade_turns_stored_json_into_msgpack() {
        // No configuration needed: Terraform upgrades before configuring.
        let svc = ProviderService::new(FakeProvider);
        let json = br#"{"id":"img-1","name":"x","size":40,"obsolete":"dropped","disk":[{"format":"raw"}]}"#;
        let resp = upgrade(
            &svc,
            1,
            pb::RawState {
                json: json.to_vec(),
                flatmap: Default::default(),
            },
        )
        .await;
        assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
        let st = undv(resp.upgraded_state);
        assert_eq!(st.get("id"), &s("img-1"));
        assert_eq!(st.get("size"), &Value::Number(Number::Int(40)));
        assert_eq!(st.get("status"), &Value::Null);
        assert_eq!(st.get("disk"), &Value::List(vec![disk("raw", Value::Null)]));

        let resp = upgrade(
            &svc,
            1,
            pb::RawState {
                json: vec![],
                flatmap: [("id".to_string(), "img-1".to_string())].into(),
            },
        )
        .await;
        assert_eq!(errors(&resp.diagnostics), ["Unsupported stored state"]);
        assert!(resp.diagnostics[0].detail.contains("flatmap"));

        let resp = upgrade(
            &svc,
            7,
            pb::RawState {
                json: json.to_vec(),
                flatmap: Default::default(),
            },
        )
        .await;
        assert_eq!(errors(&resp.diagnostics), ["State written by a newer provider"]);
    }

    // Schema, metadata, validation

    #[tokio::test]
    async fn schema_is_translated_for_terraform() {
        let svc = ProviderService::new(FakeProvider);
        let resp = svc
            .get_provider_schema(Request::new(pb::get_provider_schema::Request {}))
            .await
            .expect("rpc")
            .into_inner();
        let caps = resp.server_capabilities.expect("capabilities");
        assert!(caps.plan_destroy && caps.get_provider_schema_optional && !caps.move_resource_state);
        let image = resp.resource_schemas.get("fake_image").expect("resource schema");
        assert_eq!(image.version, 1);
        let block = image.block.as_ref().expect("block");
        assert_eq!(block.description_kind, pb::StringKind::Markdown as i32);
        let name = block.attributes.iter().find(|a| a.name == "name").expect("name");
        assert_eq!(name.r#type, br#""string""#);
        assert!(name.required && !name.optional && !name.computed);
        let size = block.attributes.iter().find(|a| a.name == "size").expect("size");
        assert!(size.optional && size.computed);
        let nesting: Vec<(&str, i32)> = block
            .block_types
            .iter()
            .map(|b| (b.type_name.as_str(), b.nesting))
            .collect();
        use pb::schema::nested_block::NestingMode;
        assert_eq!(
            nesting,
            [
                ("disk", NestingMode::List as i32),
                ("timeouts", NestingMode::Single as i32)
            ]
        );
        let provider = resp.provider.expect("provider schema");
        assert_eq!(provider.block.expect("block").attributes[0].name, "region");

        let meta = svc
            .get_metadata(Request::new(pb::get_metadata::Request {}))
            .await
            .expect("rpc")
            .into_inner();
        let names: Vec<&str> = meta.resources.iter().map(|r| r.type_name.as_str()).collect();
        assert_eq!(names, ["fake_image"]);
        assert!(meta.server_capabilities.expect("capabilities").plan_destroy);
    }

    #[tokio::test]
    async fn validation_diagnostics_carry_their_attribute() {
        let svc = ProviderService::new(FakeProvider);
        let resp = svc
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "fake_image".into(),
                config: dv(&config("")),
                client_capabilities: None,
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Empty name"]);
        assert_eq!(path(&resp.diagnostics[0]), [attr("name")]);

        let config = Value::object([("region", s("mars"))]);
        let resp = svc
            .validate_provider_config(Request::new(pb::validate_provider_config::Request {
                config: Some(encode(&config, &provider_schema().value_type(), "config").expect("encodes")),
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Invalid region"]);
        assert_eq!(path(&resp.diagnostics[0]), [attr("region")]);
    }

    #[tokio::test]
    async fn data_sources_are_refused_and_other_rpcs_unimplemented() {
        let svc = ProviderService::new(FakeProvider);
        let resp = svc
            .read_data_source(Request::new(pb::read_data_source::Request {
                type_name: "fake_thing".into(),
                ..Default::default()
            }))
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(errors(&resp.diagnostics), ["Unknown data source"]);
        let status = svc
            .move_resource_state(Request::new(pb::move_resource_state::Request {}))
            .await
            .expect_err("unimplemented");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        let functions = svc
            .get_functions(Request::new(pb::get_functions::Request {}))
            .await
            .expect("rpc")
            .into_inner();
        assert!(functions.functions.is_empty() && functions.diagnostics.is_empty());
    }

    #[test]
    fn unset_computed_values_become_null_in_new_states() {
        let mut v = Value::object([
            ("a", Value::Unknown),
            ("b", Value::List(vec![Value::string("x"), Value::Unknown])),
        ]);
        assert!(unknowns_to_null(&mut v));
        assert!(v.is_wholly_known());
        assert_eq!(v.get("a"), &Value::Null);
        assert!(!unknowns_to_null(&mut v));
    }

    #[test]
    fn values_compare_as_terraform_does() {
        let n = |x| Value::Number(x);
        assert!(same(&n(Number::Int(5)), &n(Number::Float(5.0))));
        assert!(!same(&n(Number::Int(5)), &n(Number::Float(5.5))));
        assert!(same(
            &Value::Set(vec![s("a"), s("b")]),
            &Value::Set(vec![s("b"), s("a")])
        ));
        assert!(!same(
            &Value::List(vec![s("a"), s("b")]),
            &Value::List(vec![s("b"), s("a")])
        ));
        assert!(!same(&s("a"), &Value::Unknown));
    }
}
