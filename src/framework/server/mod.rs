//! The tfplugin6 gRPC service: turns Terraform's protobuf calls into calls on
//! a [`Provider`], its resources and its data sources, and their results
//! back into protobuf. This module and its children are the only code that
//! sees both protobuf and the framework's types.
//!
//! - `convert.rs`: protobuf conversion and shared RPC helpers;
//! - `ops.rs`: what each RPC does (the lifecycle rules: which resource call
//!   an apply means, what a failed apply or read answers so no object is
//!   forgotten), with the default plan from `framework::plan`;
//! - this file: the service, its registry, and the tonic adapters, each a
//!   line or two around one shared helper.
//!
//! Nothing here panics across the gRPC boundary: bad input and provider bugs
//! become error diagnostics.

mod convert;
mod ops;
#[cfg(test)]
mod tests;

use super::diagnostics::{Diagnostic, Diagnostics};
use super::list::AnyListResource;
use super::resource::{AnyDataSource, AnyResource, Context, IdentitySchema, Provider};
use super::schema::Schema;
use super::value::Type;
use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::{Provider as TfProvider, ProviderServer};
use convert::{diagnostics_to_proto, identity_schema_to_proto, schema_to_proto};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Largest message accepted or sent, as Go providers allow; tonic's default
/// (4 MiB) is too small for big states.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

type RpcResult<T> = Result<Response<T>, Status>;

/// One registered type (resource, data source or list resource) with its
/// schema, built once.
struct Entry<T: ?Sized> {
    imp: Arc<T>,
    schema: Schema,
    ty: Type,
}

/// A resource's identity schema and the type of its values.
struct Identity {
    schema: IdentitySchema,
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
    resources: BTreeMap<String, Entry<dyn AnyResource<P::Data>>>,
    data_sources: BTreeMap<String, Entry<dyn AnyDataSource<P::Data>>>,
    list_resources: BTreeMap<String, Entry<dyn AnyListResource<P::Data>>>,
    /// The identity of each resource type that has one.
    identities: BTreeMap<String, Identity>,
    /// GetProviderSchema's answer, built once: Terraform asks several times
    /// per run.
    schema_response: pb::get_provider_schema::Response,
    configured: RwLock<Option<Configured<P::Data>>>,
    /// Cancelled by StopProvider; every call's [`Context`] holds it.
    stop: CancellationToken,
}

/// Builds the registry of one kind of type, warning about duplicates.
fn registry<T: ?Sized>(
    kind: &str,
    items: Vec<Arc<T>>,
    name: impl Fn(&T) -> &'static str,
    schema: impl Fn(&T) -> Schema,
) -> BTreeMap<String, Entry<T>> {
    let mut out = BTreeMap::new();
    for imp in items {
        let schema = schema(&imp);
        let ty = schema.value_type();
        let type_name = name(&imp).to_string();
        if out.contains_key(&type_name) {
            tracing::warn!(kind, type_name = %type_name, "type declared twice; the last one wins");
        }
        out.insert(type_name, Entry { imp, schema, ty });
    }
    out
}

impl<P: Provider> ProviderService<P> {
    /// Builds the service, its registries and its schemas.
    pub fn new(provider: P) -> Self {
        let provider_schema = provider.schema();
        let provider_type = provider_schema.value_type();
        let resources = registry("resource", provider.resources(), |r| r.type_name(), |r| r.schema());
        let data_sources = registry(
            "data source",
            provider.data_sources(),
            |d| d.type_name(),
            |d| d.schema(),
        );
        let list_resources = registry(
            "list resource",
            provider.list_resources(),
            |l| l.type_name(),
            |l| l.schema(),
        );
        let identities: BTreeMap<String, Identity> = resources
            .iter()
            .filter_map(|(name, e)| {
                let schema = e.imp.identity_schema()?;
                let ty = schema.block.value_type();
                Some((name.clone(), Identity { schema, ty }))
            })
            .collect();
        let schema_response = pb::get_provider_schema::Response {
            provider: Some(schema_to_proto(&provider_schema)),
            resource_schemas: resources
                .iter()
                .map(|(name, e)| (name.clone(), schema_to_proto(&e.schema)))
                .collect(),
            data_source_schemas: data_sources
                .iter()
                .map(|(name, e)| (name.clone(), schema_to_proto(&e.schema)))
                .collect(),
            list_resource_schemas: list_resources
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
            data_sources,
            list_resources,
            identities,
            schema_response,
            configured: RwLock::new(None),
            stop: CancellationToken::new(),
        }
    }

    /// Operations also stop when `stopping` is cancelled: the serving layer's
    /// shutdown (SIGTERM, go-plugin's Shutdown, Terraform gone) then acts as
    /// StopProvider first, so a create waiting on its image returns the id
    /// (tainted) before the process drains and exits, instead of being
    /// dropped with it.
    pub fn stopped_by(mut self, stopping: &CancellationToken) -> Self {
        self.stop = stopping.child_token();
        self
    }

    /// This service as a tonic gRPC server, with the large message limits
    /// Terraform expects.
    pub fn into_routes(self) -> ProviderServer<Self> {
        ProviderServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    fn resource(&self, type_name: &str) -> Result<&Entry<dyn AnyResource<P::Data>>, Diagnostic> {
        self.resources
            .get(type_name)
            .ok_or_else(|| unknown_type("resource type", type_name, self.resources.keys()))
    }

    fn data_source(&self, type_name: &str) -> Result<&Entry<dyn AnyDataSource<P::Data>>, Diagnostic> {
        self.data_sources
            .get(type_name)
            .ok_or_else(|| unknown_type("data source", type_name, self.data_sources.keys()))
    }

    fn list_resource(&self, type_name: &str) -> Result<&Entry<dyn AnyListResource<P::Data>>, Diagnostic> {
        self.list_resources
            .get(type_name)
            .ok_or_else(|| unknown_type("list resource", type_name, self.list_resources.keys()))
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
            ..Context::default()
        };
        Ok((c.data.clone(), ctx))
    }
}

fn unknown_type<'a>(kind: &str, type_name: &str, known: impl Iterator<Item = &'a String>) -> Diagnostic {
    let known: Vec<&str> = known.map(String::as_str).collect();
    let serves = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    let summary = match kind {
        "data source" => "Unknown data source",
        "list resource" => "Unknown list resource",
        _ => "Unknown resource type",
    };
    Diagnostic::error(
        summary,
        format!(
            "This provider has no {kind} {type_name:?} (it serves: {serves}). Check the type in the configuration \
             and the provider version."
        ),
    )
}

/// Builds the gRPC service serving `provider` over tfplugin6.
pub fn routes<P: Provider>(provider: P, stopping: &CancellationToken) -> ProviderServer<ProviderService<P>> {
    ProviderService::new(provider).stopped_by(stopping).into_routes()
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

fn log_rpc(rpc: &str, type_name: &str) {
    tracing::debug!(rpc, type_name, "rpc");
}

/// The answer to an RPC this provider does not serve; Terraform tolerates it
/// for features the provider does not declare.
fn unimplemented(rpc: &str, why: &str) -> Status {
    log_rpc(rpc, "");
    Status::unimplemented(why)
}

/// A response that carries diagnostics.
trait WithDiagnostics {
    fn set_diagnostics(&mut self, diagnostics: Vec<pb::Diagnostic>);
}

macro_rules! with_diagnostics {
    ($($module:ident),* $(,)?) => {
        $(impl WithDiagnostics for pb::$module::Response {
            fn set_diagnostics(&mut self, diagnostics: Vec<pb::Diagnostic>) {
                self.diagnostics = diagnostics;
            }
        })*
    };
}

with_diagnostics!(
    validate_provider_config,
    validate_resource_config,
    validate_data_resource_config,
    upgrade_resource_state,
    configure_provider,
    read_resource,
    plan_resource_change,
    apply_resource_change,
    import_resource_state,
    read_data_source,
    upgrade_resource_identity,
    validate_list_resource_config,
);

/// ListResource's answer: events as the list resource finds objects.
type ListStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::list_resource::Event, Status>> + Send>>;

/// The one shape of every served RPC's answer: the response the operation
/// built (or the fallback it chose) with its diagnostics attached.
fn answer<R: WithDiagnostics>(rpc: &str, mut resp: R, diags: &Diagnostics) -> RpcResult<R> {
    resp.set_diagnostics(diagnostics_to_proto(rpc, diags));
    Ok(Response::new(resp))
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
            data_sources: self
                .data_sources
                .keys()
                .map(|name| pb::get_metadata::DataSourceMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            list_resources: self
                .list_resources
                .keys()
                .map(|name| pb::get_metadata::ListResourceMetadata {
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
        answer(RPC, Default::default(), &diags)
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
        answer(RPC, Default::default(), &diags)
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        const RPC: &str = "ValidateDataResourceConfig";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        self.validate_data_source(&req, &mut diags);
        answer(RPC, Default::default(), &diags)
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        const RPC: &str = "UpgradeResourceState";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        let resp = self.upgrade(&req, &mut diags).unwrap_or_default();
        answer(RPC, resp, &diags)
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> RpcResult<pb::get_resource_identity_schemas::Response> {
        log_rpc("GetResourceIdentitySchemas", "");
        Ok(Response::new(pb::get_resource_identity_schemas::Response {
            identity_schemas: self
                .identities
                .iter()
                .map(|(name, i)| (name.clone(), identity_schema_to_proto(&i.schema)))
                .collect(),
            ..Default::default()
        }))
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<pb::upgrade_resource_identity::Request>,
    ) -> RpcResult<pb::upgrade_resource_identity::Response> {
        const RPC: &str = "UpgradeResourceIdentity";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        let resp = self.upgrade_identity(&req, &mut diags).unwrap_or_default();
        answer(RPC, resp, &diags)
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        const RPC: &str = "ConfigureProvider";
        log_rpc(RPC, "");
        let mut diags = Diagnostics::new();
        self.configure(request.into_inner(), &mut diags).await;
        answer(RPC, Default::default(), &diags)
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
        resp.new_identity = self.identity_of(&req.type_name, resp.new_state.as_ref(), &mut diags);
        answer(RPC, resp, &diags)
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
        resp.planned_identity = self.identity_of(&req.type_name, resp.planned_state.as_ref(), &mut diags);
        answer(RPC, resp, &diags)
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
        resp.new_identity = self.identity_of(&req.type_name, resp.new_state.as_ref(), &mut diags);
        answer(RPC, resp, &diags)
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
        for imported in &mut resp.imported_resources {
            imported.identity = self.identity_of(&imported.type_name, imported.state.as_ref(), &mut diags);
        }
        answer(RPC, resp, &diags)
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
        let mut diags = Diagnostics::new();
        let resp = self.read_data(&req, &mut diags).await.unwrap_or_default();
        answer(RPC, resp, &diags)
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

    type ListResourceStream = ListStream;

    async fn list_resource(&self, request: Request<pb::list_resource::Request>) -> RpcResult<ListStream> {
        let req = request.into_inner();
        log_rpc("ListResource", &req.type_name);
        Ok(Response::new(self.list(req).await))
    }

    async fn validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> RpcResult<pb::validate_list_resource_config::Response> {
        const RPC: &str = "ValidateListResourceConfig";
        let req = request.into_inner();
        log_rpc(RPC, &req.type_name);
        let mut diags = Diagnostics::new();
        self.validate_list(&req, &mut diags);
        answer(RPC, Default::default(), &diags)
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> RpcResult<pb::stop_provider::Response> {
        log_rpc("StopProvider", "");
        self.stop.cancel();
        Ok(Response::new(pb::stop_provider::Response::default()))
    }
}
