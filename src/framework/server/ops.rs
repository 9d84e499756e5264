//! What each served RPC does, value-level: decode, call the provider's code
//! behind a panic guard, apply the lifecycle rules, encode. Each returns
//! `None` when it stopped on an error already in `diags`; the adapter in
//! `mod.rs` then answers with the RPC's safe fallback.

use super::convert::{check, codec_diagnostic, decode, encode, guarded, guarded_sync, path_to_proto, settle};
use super::{Configured, ProviderService};
use crate::framework::codec;
use crate::framework::diagnostics::{Diagnostic, Diagnostics};
use crate::framework::model::Model;
use crate::framework::plan;
use crate::framework::resource::{ConfigureRequest, Context, Provider, RawState};
use crate::framework::validate;
use crate::framework::value::Value;
use crate::proto::tfplugin6 as pb;
use std::sync::Arc;

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
                plan::plan_change(entry.imp.as_ref(), &data, &prior, &proposed, &config)
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
            planned_private: req.prior_private.clone(),
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
        let (data, ctx) = check(diags, self.configured("ApplyResourceChange").await)?;
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
            match result {
                Ok(done) => {
                    diags.extend(done.warnings);
                    settle("ApplyResourceChange", done.state)
                }
                // A state kept with errors: Terraform marks it tainted, so
                // the object is replaced or destroyed later.
                Err(failure) => {
                    diags.extend(failure.diagnostics);
                    failure.keep.map_or(Value::Null, |s| settle("ApplyResourceChange", s))
                }
            }
        } else {
            let result = check(
                diags,
                guarded("ApplyResourceChange", async move {
                    resource.update(&ctx, &data, &prior, &planned).await
                })
                .await,
            )?;
            match result {
                Ok(done) => {
                    diags.extend(done.warnings);
                    settle("ApplyResourceChange", done.state)
                }
                Err(failure) => {
                    diags.extend(failure.diagnostics);
                    match failure.keep {
                        Some(s) => settle("ApplyResourceChange", s),
                        None => return None,
                    }
                }
            }
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
        let outcome = check(
            diags,
            guarded(
                "ImportResourceState",
                async move { resource.import(&ctx, &data, &id).await },
            )
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
}
