//! Protobuf conversion: schemas, attribute paths and diagnostics to the
//! wire, values from and to msgpack/JSON, and the small helpers every RPC
//! shares (panic guards, settling a new state). Nothing here knows what an
//! RPC means.

use crate::framework::codec::{self, CodecError};
use crate::framework::diagnostics::{AttrPath, Diagnostic, Diagnostics, PathStep, Severity};
use crate::framework::resource::IdentitySchema;
use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use crate::framework::value::{Type, Value};
use crate::proto::tfplugin6 as pb;
use std::future::Future;
use std::panic::AssertUnwindSafe;

pub(super) fn schema_to_proto(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block_to_proto(&s.block)),
    }
}

/// An identity schema on the wire: required attributes are required for
/// import, optional ones optional.
pub(super) fn identity_schema_to_proto(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .block
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.clone(),
                r#type: a.ty.to_json().to_string().into_bytes(),
                required_for_import: a.required,
                optional_for_import: !a.required,
                description: a.description.clone(),
            })
            .collect(),
    }
}

pub(super) fn block_to_proto(b: &Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b.attributes.iter().map(attribute_to_proto).collect(),
        block_types: b.blocks.iter().map(nested_block_to_proto).collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
    }
}

pub(super) fn attribute_to_proto(a: &Attribute) -> pb::schema::Attribute {
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

pub(super) fn nested_block_to_proto(b: &NestedBlock) -> pb::schema::NestedBlock {
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

pub(super) fn path_to_proto(path: &AttrPath) -> pb::AttributePath {
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

/// Converts diagnostics for the wire, control characters escaped, logging
/// errors by summary only (the detail may quote values, which may be secret).
pub(super) fn diagnostics_to_proto(rpc: &str, diags: &Diagnostics) -> Vec<pb::Diagnostic> {
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
                // Details quote file contents and API answers.
                summary: crate::logging::inert(&d.summary).into_owned(),
                detail: crate::logging::inert(&d.detail).into_owned(),
                attribute: d.attribute.as_ref().filter(|p| !p.is_root()).map(path_to_proto),
            }
        })
        .collect()
}

/// Decodes a value Terraform sent. An absent value is null.
pub(super) fn decode(dv: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Diagnostic> {
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
pub(super) fn encode(v: &Value, ty: &Type, what: &str) -> Result<pb::DynamicValue, Diagnostic> {
    codec::encode_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue { msgpack, json: vec![] })
        .map_err(|e| codec_diagnostic("Invalid value from the provider", what, &e))
}

pub(super) fn codec_diagnostic(summary: &str, what: &str, e: &CodecError) -> Diagnostic {
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
pub(super) fn check<T>(diags: &mut Diagnostics, r: Result<T, Diagnostic>) -> Option<T> {
    r.map_err(|d| diags.push(d)).ok()
}

pub(super) fn panic_diagnostic(rpc: &str) -> Diagnostic {
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
pub(super) async fn guarded<T, F>(rpc: &'static str, fut: F) -> Result<T, Diagnostic>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    tokio::spawn(fut).await.map_err(|_| panic_diagnostic(rpc))
}

/// The synchronous counterpart of [`guarded`].
pub(super) fn guarded_sync<T>(rpc: &'static str, f: impl FnOnce() -> T) -> Result<T, Diagnostic> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| panic_diagnostic(rpc))
}

/// Replaces every unknown inside `v` with null; true when one was found.
/// A new state after apply or read must be wholly known, and an attribute
/// the provider did not set is better null than an invalid response.
pub(super) fn unknowns_to_null(v: &mut Value) -> bool {
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
pub(super) fn settle(rpc: &str, mut state: Value) -> Value {
    if unknowns_to_null(&mut state) {
        tracing::debug!(rpc, "unset computed attributes in the new state became null");
    }
    state
}
