//! What each served RPC does, value-level: decode, call the provider's code
//! behind a panic guard, apply the lifecycle rules, encode. Each returns
//! `None` when it stopped on an error already in `diags`; the adapter in
//! `mod.rs` then answers with the RPC's safe fallback.

use super::convert::{
    check, codec_diagnostic, decode, diagnostics_to_proto, encode, guarded, guarded_sync, path_to_proto, settle,
};
use super::{Configured, ListStream, ProviderService};
use crate::framework::codec;
use crate::framework::diagnostics::{Diagnostic, Diagnostics};
use crate::framework::list::{ListEvent, ListOutput};
use crate::framework::model::Model;
use crate::framework::plan;
use crate::framework::private::Private;
use crate::framework::resource::{ConfigureRequest, Context, Done, Provider, RawState};
use crate::framework::validate;
use crate::framework::value::Value;
use crate::proto::tfplugin6 as pb;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// How many list events may wait to be sent: a list resource runs at most
/// this far ahead of Terraform, so it stops paging soon after Terraform stops
/// reading.
const LIST_BUFFER: usize = 1;

impl<P: Provider> ProviderService<P> {
    fn provider_config(&self, dv: Option<&pb::DynamicValue>, diags: &mut Diagnostics) -> Option<P::Model> {
        let config = check(diags, decode(dv, &self.provider_type, "provider configuration"))?;
        check(diags, P::Model::from_value(&config))
    }

    pub(super) fn validate_provider(
        &self,
        req: &pb::validate_provider_config::Request,
        diags: &mut Diagnostics,
    ) -> Option<()> {
        let raw = check(
            diags,
            decode(req.config.as_ref(), &self.provider_type, "provider configuration"),
        )?;
        let config = check(diags, P::Model::from_value(&raw))?;
        let provider = self.provider.clone();
        let found = check(
            diags,
            guarded_sync("ValidateProviderConfig", || {
                validate::config(&provider.schema().block, &raw, |_| provider.validate(&config))
            }),
        )?;
        diags.extend(found);
        Some(())
    }

    pub(super) fn validate_resource(
        &self,
        req: &pb::validate_resource_config::Request,
        diags: &mut Diagnostics,
    ) -> Option<()> {
        let entry = check(diags, self.resource(&req.type_name))?;
        let config = check(diags, decode(req.config.as_ref(), &entry.ty, "resource configuration"))?;
        let found = check(
            diags,
            guarded_sync("ValidateResourceConfig", || {
                validate::config(&entry.schema.block, &config, |c| entry.imp.validate(c))
            }),
        )?;
        diags.extend(found);
        Some(())
    }

    pub(super) fn validate_data_source(
        &self,
        req: &pb::validate_data_resource_config::Request,
        diags: &mut Diagnostics,
    ) -> Option<()> {
        let entry = check(diags, self.data_source(&req.type_name))?;
        let config = check(
            diags,
            decode(req.config.as_ref(), &entry.ty, "data source configuration"),
        )?;
        let found = check(
            diags,
            guarded_sync("ValidateDataResourceConfig", || {
                validate::config(&entry.schema.block, &config, |c| entry.imp.validate(c))
            }),
        )?;
        diags.extend(found);
        Some(())
    }

    /// Stored state of the current version is decoded with the current
    /// schema; an older one reaches the resource's upgrader as the JSON it
    /// was stored as, so renamed attributes are not lost on the way.
    pub(super) fn upgrade(
        &self,
        req: &pb::upgrade_resource_state::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::upgrade_resource_state::Response> {
        let entry = check(diags, self.resource(&req.type_name))?;
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
        let upgraded = if req.version == entry.schema.version {
            check(
                diags,
                codec::decode_json(json, &entry.ty)
                    .map_err(|e| codec_diagnostic("Invalid stored state", "stored state", &e)),
            )?
        } else {
            let parsed = check(
                diags,
                serde_json::from_slice::<serde_json::Value>(json).map_err(|e| {
                    Diagnostic::error(
                        "Invalid stored state",
                        format!("The stored state is not valid JSON ({e}). Please report this as a bug."),
                    )
                }),
            )?;
            let raw = RawState {
                version: req.version,
                json: parsed,
            };
            let outcome = check(
                diags,
                guarded_sync("UpgradeResourceState", || entry.imp.upgrade_state(raw)),
            )?;
            match outcome {
                Ok(v) => v,
                Err(d) => {
                    diags.extend(d);
                    return None;
                }
            }
        };
        let upgraded_state = check(diags, encode(&upgraded, &entry.ty, "upgraded state"))?;
        Some(pb::upgrade_resource_state::Response {
            upgraded_state: Some(upgraded_state),
            diagnostics: vec![],
        })
    }

    pub(super) async fn configure(&self, req: pb::configure_provider::Request, diags: &mut Diagnostics) -> Option<()> {
        let config = self.provider_config(req.config.as_ref(), diags)?;
        let ctx = Context {
            cancel: self.stop.clone(),
            terraform_version: req.terraform_version.clone(),
            ..Context::default()
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
            Ok(Done { state: data, warnings }) => {
                diags.extend(warnings);
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

    pub(super) async fn read(
        &self,
        req: &pb::read_resource::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::read_resource::Response> {
        let entry = check(diags, self.resource(&req.type_name))?;
        let state = check(diags, decode(req.current_state.as_ref(), &entry.ty, "current state"))?;
        if state.is_null() {
            return None;
        }
        let (data, ctx) = check(diags, self.configured("ReadResource").await)?;
        let resource = entry.imp.clone();
        let result = check(
            diags,
            guarded("ReadResource", async move { resource.read(&ctx, &data, &state).await }).await,
        )?;
        let new_state = match result {
            Ok(Some(found)) => {
                diags.extend(found.warnings);
                settle("ReadResource", found.state)
            }
            Ok(None) => Value::Null,
            // An error is no proof the object is gone: keep the state.
            Err(failure) => {
                diags.extend(failure.diagnostics);
                return None;
            }
        };
        let new_state = check(diags, encode(&new_state, &entry.ty, "refreshed state"))?;
        Some(pb::read_resource::Response {
            new_state: Some(new_state),
            private: req.private.clone(),
            ..Default::default()
        })
    }

    pub(super) async fn plan(
        &self,
        req: &pb::plan_resource_change::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::plan_resource_change::Response> {
        let entry = check(diags, self.resource(&req.type_name))?;
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

        let change = check(
            diags,
            guarded_sync("PlanResourceChange", || {
                plan::plan_change(
                    entry.imp.as_ref(),
                    &data,
                    &prior,
                    &proposed,
                    &config,
                    &req.prior_private,
                )
            }),
        )?;
        let failed = change.diagnostics.has_errors();
        diags.extend(change.diagnostics);
        if failed {
            return None;
        }
        let planned_state = check(diags, encode(&change.planned, &entry.ty, "planned state"))?;
        Some(pb::plan_resource_change::Response {
            planned_state: Some(planned_state),
            requires_replace: change.requires_replace.iter().map(path_to_proto).collect(),
            planned_private: change.private,
            ..Default::default()
        })
    }

    pub(super) async fn apply(
        &self,
        req: &pb::apply_resource_change::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::apply_resource_change::Response> {
        let entry = check(diags, self.resource(&req.type_name))?;
        let prior = check(diags, decode(req.prior_state.as_ref(), &entry.ty, "prior state"))?;
        let planned = check(diags, decode(req.planned_state.as_ref(), &entry.ty, "planned state"))?;
        let (data, mut ctx) = check(diags, self.configured("ApplyResourceChange").await)?;
        ctx.planned_private = Private::from_bytes(&req.planned_private);
        let resource = entry.imp.clone();

        let new_state = if planned.is_null() {
            let deleted = check(
                diags,
                guarded("ApplyResourceChange", async move {
                    resource.delete(&ctx, &data, &prior).await
                })
                .await,
            )?;
            match deleted {
                Ok(warnings) => diags.extend(warnings),
                // The object may still exist: keep it in the state.
                Err(d) => {
                    diags.extend(d);
                    return None;
                }
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
            // Nothing kept: the create made nothing.
            new_state(result, diags).unwrap_or(Value::Null)
        } else {
            let result = check(
                diags,
                guarded("ApplyResourceChange", async move {
                    resource.update(&ctx, &data, &prior, &planned).await
                })
                .await,
            )?;
            // Nothing kept: the prior state stays (the caller's fallback).
            new_state(result, diags)?
        };
        let new_state = check(diags, encode(&new_state, &entry.ty, "new state"))?;
        Some(pb::apply_resource_change::Response {
            new_state: Some(new_state),
            private: req.planned_private.clone(),
            ..Default::default()
        })
    }

    pub(super) async fn import(
        &self,
        req: &pb::import_resource_state::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::import_resource_state::Response> {
        let entry = check(diags, self.resource(&req.type_name))?;
        let (data, ctx) = check(diags, self.configured("ImportResourceState").await)?;
        let resource = entry.imp.clone();
        let id = req.id.clone();
        // Terraform >= 1.12 imports by identity with an empty id.
        let by_identity = match (&req.identity, self.identities.get(&req.type_name)) {
            (Some(identity), Some(known)) if id.is_empty() => Some(check(
                diags,
                decode(identity.identity_data.as_ref(), &known.ty, "import identity"),
            )?),
            _ => None,
        };
        let outcome = check(
            diags,
            guarded("ImportResourceState", async move {
                match by_identity {
                    Some(identity) => resource.import_identity(&ctx, &data, &identity).await,
                    None => resource.import(&ctx, &data, &id).await,
                }
            })
            .await,
        )?;
        let state = match outcome {
            Ok(mut v) => {
                plan::import_defaults(&entry.schema.block, &mut v);
                settle("ImportResourceState", v)
            }
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

    pub(super) async fn read_data(
        &self,
        req: &pb::read_data_source::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::read_data_source::Response> {
        let entry = check(diags, self.data_source(&req.type_name))?;
        let config = check(
            diags,
            decode(req.config.as_ref(), &entry.ty, "data source configuration"),
        )?;
        let (data, ctx) = check(diags, self.configured("ReadDataSource").await)?;
        let source = entry.imp.clone();
        let result = check(
            diags,
            guarded("ReadDataSource", async move { source.read(&ctx, &data, &config).await }).await,
        )?;
        let state = match result {
            Ok(done) => {
                diags.extend(done.warnings);
                settle("ReadDataSource", done.state)
            }
            Err(d) => {
                if !d.has_errors() {
                    diags.push(Diagnostic::error(
                        "Data source returned nothing",
                        format!(
                            "{} read no state and reported no error. This is a bug in the provider; please report it.",
                            req.type_name
                        ),
                    ));
                }
                diags.extend(d);
                return None;
            }
        };
        let state = check(diags, encode(&state, &entry.ty, "data source state"))?;
        Some(pb::read_data_source::Response {
            state: Some(state),
            ..Default::default()
        })
    }

    /// The identity of the object `state` describes, computed from that
    /// state (never echoed from the request); `None` for a type without an
    /// identity and for a null state.
    pub(super) fn identity_of(
        &self,
        type_name: &str,
        state: Option<&pb::DynamicValue>,
        diags: &mut Diagnostics,
    ) -> Option<pb::ResourceIdentityData> {
        let known = self.identities.get(type_name)?;
        let entry = self.resources.get(type_name)?;
        let state = decode(state, &entry.ty, "state").ok()?;
        if state.is_null() {
            return None;
        }
        let identity = guarded_sync("identity", || entry.imp.identity(&state)).ok()??;
        let data = check(diags, encode(&identity, &known.ty, "resource identity"))?;
        Some(pb::ResourceIdentityData {
            identity_data: Some(data),
        })
    }

    /// A stored identity of the current version is decoded with the
    /// current schema; there is no older version yet.
    pub(super) fn upgrade_identity(
        &self,
        req: &pb::upgrade_resource_identity::Request,
        diags: &mut Diagnostics,
    ) -> Option<pb::upgrade_resource_identity::Response> {
        let known = check(
            diags,
            self.identities.get(&req.type_name).ok_or_else(|| {
                Diagnostic::error(
                    "No resource identity",
                    format!("{} has no resource identity to upgrade.", req.type_name),
                )
            }),
        )?;
        if req.version != known.schema.version {
            diags.push(Diagnostic::error(
                "Unsupported identity version",
                format!(
                    "The stored identity of this {} has version {}, but this provider knows only version {}. Use \
                     the provider version that wrote it, or remove the resource from the state and import it again.",
                    req.type_name, req.version, known.schema.version
                ),
            ));
            return None;
        }
        let json = req.raw_identity.as_ref().map(|r| r.json.as_slice()).unwrap_or_default();
        let identity = check(
            diags,
            codec::decode_json(json, &known.ty)
                .map_err(|e| codec_diagnostic("Invalid stored identity", "stored identity", &e)),
        )?;
        let data = check(diags, encode(&identity, &known.ty, "upgraded identity"))?;
        Some(pb::upgrade_resource_identity::Response {
            upgraded_identity: Some(pb::ResourceIdentityData {
                identity_data: Some(data),
            }),
            diagnostics: vec![],
        })
    }

    pub(super) fn validate_list(&self, req: &pb::validate_list_resource_config::Request, diags: &mut Diagnostics) {
        let Some(entry) = check(diags, self.list_resource(&req.type_name)) else {
            return;
        };
        let Some(config) = check(
            diags,
            decode(req.config.as_ref(), &entry.ty, "list resource configuration"),
        ) else {
            return;
        };
        if let Some(found) = check(
            diags,
            guarded_sync("ValidateListResourceConfig", || {
                validate::config(&entry.schema.block, &config, |c| entry.imp.validate(c))
            }),
        ) {
            diags.extend(found);
        }
    }

    /// Runs the list resource in its own task and streams what it finds.
    /// When Terraform stops reading (its limit reached, or cancelled), the
    /// stream is dropped and the list resource's next send tells it to stop.
    pub(super) async fn list(&self, req: pb::list_resource::Request) -> ListStream {
        let (tx, rx) = mpsc::channel::<Result<pb::list_resource::Event, tonic::Status>>(LIST_BUFFER);
        let mut diags = Diagnostics::new();
        let started = self.start_list(&req, &mut diags).await;
        match started {
            Some((mut events, types)) => {
                tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        let event = list_event_to_proto(event, &types);
                        if tx.send(Ok(event)).await.is_err() {
                            break;
                        }
                    }
                });
            }
            None => {
                let event = pb::list_resource::Event {
                    diagnostic: diagnostics_to_proto("ListResource", &diags),
                    ..Default::default()
                };
                // A fresh channel has room for one event.
                let _ = tx.try_send(Ok(event));
            }
        }
        Box::pin(ReceiverStream::new(rx))
    }

    /// Starts the list resource's task; its events and the types to encode them.
    async fn start_list(
        &self,
        req: &pb::list_resource::Request,
        diags: &mut Diagnostics,
    ) -> Option<(mpsc::Receiver<ListEvent>, ListTypes)> {
        let entry = check(diags, self.list_resource(&req.type_name))?;
        let resource = check(diags, self.resource(&req.type_name))?;
        let (object_ty, object_block) = (resource.ty.clone(), resource.schema.block.clone());
        let identity_ty = check(
            diags,
            self.identities
                .get(&req.type_name)
                .map(|i| i.ty.clone())
                .ok_or_else(|| {
                    Diagnostic::error(
                        "List resource without identity",
                        format!(
                            "{} has no resource identity. This is a bug in the provider.",
                            req.type_name
                        ),
                    )
                }),
        )?;
        let config = check(
            diags,
            decode(req.config.as_ref(), &entry.ty, "list resource configuration"),
        )?;
        // The declared rules hold before any call, as at validation.
        let invalid = validate::config(&entry.schema.block, &config, |c| entry.imp.validate(c));
        if invalid.has_errors() {
            diags.extend(invalid);
            return None;
        }
        let (data, ctx) = check(diags, self.configured("ListResource").await)?;
        let (sender, events) = mpsc::channel(LIST_BUFFER);
        let mut out = ListOutput::new(sender.clone(), req.limit, req.include_resource_object);
        let resource = entry.imp.clone();
        tokio::spawn(async move {
            let ran = guarded("ListResource", async move {
                resource.list(&ctx, &data, &config, &mut out).await;
            })
            .await;
            if let Err(d) = ran {
                let _ = sender.send(ListEvent::Diagnostics(d.into())).await;
            }
        });
        let types = ListTypes {
            identity: identity_ty,
            object: object_ty,
            object_block,
        };
        Some((events, types))
    }
}

/// What list events are encoded with: the identity's type, and the managed
/// resource's type and schema.
struct ListTypes {
    identity: crate::framework::Type,
    object: crate::framework::Type,
    object_block: crate::framework::Block,
}

/// One list event on the wire; a value that does not fit its type becomes
/// an error diagnostic on that event.
fn list_event_to_proto(event: ListEvent, types: &ListTypes) -> pb::list_resource::Event {
    let ListTypes {
        identity: identity_ty,
        object: object_ty,
        object_block,
    } = types;
    let mut diags = Diagnostics::new();
    let mut out = pb::list_resource::Event::default();
    match event {
        ListEvent::Found(found) => {
            out.display_name = found.display_name;
            out.identity = check(&mut diags, encode(&found.identity, identity_ty, "listed identity"))
                .map(|d| pb::ResourceIdentityData { identity_data: Some(d) });
            out.resource_object = found.object.and_then(|mut o| {
                // As after ImportResourceState: the read after an import
                // starts from a state with the schema's defaults.
                plan::import_defaults(object_block, &mut o);
                check(
                    &mut diags,
                    encode(&settle("ListResource", o), object_ty, "listed object"),
                )
            });
        }
        ListEvent::Diagnostics(d) => diags = d,
    }
    out.diagnostic = diagnostics_to_proto("ListResource", &diags);
    out
}

/// The state a create or update leaves, its diagnostics added to `diags`:
/// the new state, or the one a failure keeps (Terraform marks a state kept
/// with errors tainted, so the object is replaced or destroyed later);
/// `None` when the failure keeps nothing.
fn new_state(result: crate::framework::ApplyResult<Value>, diags: &mut Diagnostics) -> Option<Value> {
    let kept = match result {
        Ok(done) => {
            diags.extend(done.warnings);
            Some(done.state)
        }
        Err(failure) => {
            diags.extend(failure.diagnostics);
            failure.keep
        }
    };
    kept.map(|s| settle("ApplyResourceChange", s))
}
