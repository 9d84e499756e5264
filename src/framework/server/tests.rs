//! The service against a fake provider with one resource and one data
//! source whose behaviour is chosen by their values.

use super::convert::{decode, encode, unknowns_to_null};
use super::*;
use crate::framework::codec;
use crate::framework::diagnostics::{AttrPath, Diagnostic};
use crate::framework::resource::Done;
use crate::framework::resource::{
    ApplyResult, ConfigureRequest, DataResult, DataSource, DeleteResult, Failure, Plan, PlanRequest, RawState,
    ReadResult, Resource,
};
use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting};
use crate::framework::timeouts::{self, Op};
use crate::framework::value::{Number, Value};
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
    type Model = Value;

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

    async fn configure(&self, _ctx: &Context, req: ConfigureRequest<Value>) -> Result<Done<FakeData>, Diagnostics> {
        match req.config.get("region").as_str() {
            Some("fail") => Err(Diagnostic::error("No credentials", "Set them.").into()),
            other => Ok(FakeData {
                region: other.unwrap_or("default").to_string(),
            }
            .into()),
        }
    }

    fn resources(&self) -> Vec<Arc<dyn AnyResource<FakeData>>> {
        vec![Arc::new(FakeImage)]
    }

    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<FakeData>>> {
        vec![Arc::new(FakeLookup)]
    }
}

struct FakeImage;

fn image_schema() -> Schema {
    let disk = NestedBlock {
        type_name: "disk".into(),
        block: Block::new("A disk.")
            .attribute(Attribute::required("format", Type::String).requires_replace())
            .attribute(Attribute::computed("serial", Type::String)),
        nesting: Nesting::List,
        min_items: 0,
        max_items: 0,
    };
    Schema::new(
        1,
        Block::new("An image.")
            .attribute(Attribute::computed("id", Type::String).use_state_for_unknown())
            .attribute(Attribute::required("name", Type::String).requires_replace())
            .attribute(Attribute::optional("description", Type::String))
            .attribute(Attribute::optional_computed("size", Type::Number))
            .attribute(Attribute::computed("status", Type::String))
            .attribute(Attribute::optional("region", Type::String))
            .block(disk)
            .block(timeouts::block(&[(Op::Create, Duration::from_secs(600))])),
    )
}

fn cancelled_result() -> ApplyResult<Value> {
    Err(Diagnostic::error("Cancelled", "Terraform asked the provider to stop.").into())
}

#[async_trait]
impl Resource<FakeData> for FakeImage {
    type Model = Value;

    fn type_name(&self) -> &'static str {
        "fake_image"
    }

    fn description(&self) -> String {
        "An image.".into()
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

    fn modify_plan(&self, data: &FakeData, req: &PlanRequest<Value>, plan: &mut Plan<Value>) {
        if req.config.get("region").is_null() {
            plan.planned.set("region", Value::string(data.region.as_str()));
        }
        if req.proposed.get("name").as_str() == Some("plan-error") {
            plan.diagnostics.push(Diagnostic::error("Refused", "No."));
        }
        if req.proposed.get("name").as_str() == Some("remember") {
            let seen = req.prior_private.get::<u32>("seen").unwrap_or(0);
            plan.private.set("seen", &(seen + 1));
        }
    }

    async fn create(&self, ctx: &Context, _data: &FakeData, planned: Value) -> ApplyResult<Value> {
        let mut state = planned.clone();
        state.set("id", Value::string("img-1"));
        match planned.get("name").as_str() {
            Some("wait") => {
                ctx.cancelled().await;
                cancelled_result()
            }
            Some("panic") => panic!("fake create panicked"),
            Some("remember") => {
                let seen = ctx.planned_private.get::<u32>("seen").unwrap_or(0);
                state.set("description", Value::string(seen.to_string()));
                Ok(state.into())
            }
            Some("fail-after-create") => Err(Failure::keeping(
                state,
                Diagnostic::error("Import failed", "The image is in state Failed."),
            )),
            _ => {
                state.set("status", Value::string("Available"));
                if state.get("size").is_unknown() {
                    state.set("size", Value::Number(Number::Int(40)));
                }
                Ok(state.into())
            }
        }
    }

    async fn read(&self, _ctx: &Context, _data: &FakeData, state: Value) -> ReadResult<Value> {
        match state.get("id").as_str() {
            Some("gone") => Ok(None),
            Some("read-error") => Err(Diagnostic::error("API unreachable", "Try again.").into()),
            _ => Ok(Some(state.into())),
        }
    }

    async fn update(&self, _ctx: &Context, _data: &FakeData, _prior: Value, planned: Value) -> ApplyResult<Value> {
        match planned.get("description").as_str() {
            Some("update-error") => Err(Diagnostic::error("Update failed", "No.").into()),
            _ => Ok(planned.into()),
        }
    }

    async fn delete(&self, _ctx: &Context, _data: &FakeData, state: Value) -> DeleteResult {
        match state.get("id").as_str() {
            Some("stuck") => Err(Diagnostic::error("Delete failed", "The image is in use.").into()),
            _ => Ok(Diagnostics::new()),
        }
    }

    async fn import(&self, _ctx: &Context, _data: &FakeData, id: &str) -> Result<Value, Diagnostics> {
        if id.is_empty() {
            return Err(Diagnostic::error("Empty id", "Give an image id.").into());
        }
        Ok(Value::object([("id", Value::string(id)), ("status", Value::Unknown)]))
    }

    /// Version 0 called `description` `label`.
    fn upgrade_state(&self, raw: RawState) -> Result<Value, Diagnostics> {
        let mut json = raw.json;
        if raw.version == 0
            && let Some(obj) = json.as_object_mut()
            && let Some(label) = obj.remove("label")
        {
            obj.insert("description".into(), label);
        }
        RawState { json, ..raw }.decode(&image_schema())
    }
}

/// A data source that finds an image by name in the provider's region.
struct FakeLookup;

fn lookup_schema() -> Schema {
    Schema::new(
        0,
        Block::new("Finds an image.")
            .attribute(Attribute::required("name", Type::String))
            .attribute(Attribute::computed("id", Type::String))
            .attribute(Attribute::computed("region", Type::String)),
    )
}

#[async_trait]
impl DataSource<FakeData> for FakeLookup {
    type Model = Value;

    fn type_name(&self) -> &'static str {
        "fake_lookup"
    }

    fn schema(&self) -> Schema {
        lookup_schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        match config.get("name").as_str() {
            Some("") => Diagnostic::error("Empty name", "Name the image to find.")
                .at(AttrPath::attr("name"))
                .into(),
            _ => Diagnostics::new(),
        }
    }

    async fn read(&self, _ctx: &Context, data: &FakeData, config: Value) -> DataResult<Value> {
        match config.get("name").as_str() {
            Some("missing") => Err(Diagnostic::error("No image found", "No image is called \"missing\".").into()),
            Some("panic") => panic!("fake lookup panicked"),
            _ => {
                let mut state = config;
                state.set("id", Value::string("img-7"));
                state.set("region", Value::string(data.region.as_str()));
                Ok(state.into())
            }
        }
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
async fn a_resource_writes_private_state_at_plan_and_reads_it_at_apply() {
    let svc = service().await;
    let cfg = config("remember");
    // Foreign bytes are replaced once the resource writes an entry.
    let resp = plan(&svc, &Value::Null, &cfg, &cfg).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(resp.planned_private, br#"{"seen":1}"#);
    let planned = undv(resp.planned_state);
    let mut req = apply_request(&Value::Null, &planned);
    req.planned_private = resp.planned_private.clone();
    let applied = svc
        .apply_resource_change(Request::new(req))
        .await
        .expect("rpc")
        .into_inner();
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    assert_eq!(
        undv(applied.new_state).get("description"),
        &s("1"),
        "create saw the planned private state"
    );
    assert_eq!(
        applied.private, resp.planned_private,
        "apply stores what the plan chose"
    );
    // The next plan starts from it.
    let again = svc
        .plan_resource_change(Request::new(pb::plan_resource_change::Request {
            type_name: "fake_image".into(),
            prior_state: dv(&Value::Null),
            proposed_new_state: dv(&cfg),
            config: dv(&cfg),
            prior_private: applied.private,
            ..Default::default()
        }))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(again.planned_private, br#"{"seen":2}"#);
}

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
    // Stable computed values keep their state; the others may change.
    assert_eq!(planned.get("id"), &s("img-1"));
    assert_eq!(planned.get("status"), &Value::Unknown);
    assert_eq!(planned.get("size"), &Value::Unknown);
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

#[tokio::test]
async fn upgrade_from_version_0_keeps_a_renamed_attribute() {
    let svc = ProviderService::new(FakeProvider);
    let v0 = br#"{"id":"img-1","name":"x","label":"kept across the rename","disk":[]}"#;
    let resp = upgrade(
        &svc,
        0,
        pb::RawState {
            json: v0.to_vec(),
            flatmap: Default::default(),
        },
    )
    .await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let st = undv(resp.upgraded_state);
    assert_eq!(st.get("description"), &s("kept across the rename"));
    assert_eq!(st.get("name"), &s("x"));
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

fn lookup(name: &str) -> Option<pb::DynamicValue> {
    let config = Value::object([("name", s(name)), ("id", Value::Null), ("region", Value::Null)]);
    Some(encode(&config, &lookup_schema().value_type(), "config").expect("encodes"))
}

#[tokio::test]
async fn a_data_source_is_listed_validated_and_read() {
    let svc = service().await;
    let schema = svc
        .get_provider_schema(Request::new(pb::get_provider_schema::Request {}))
        .await
        .expect("rpc")
        .into_inner();
    assert!(schema.data_source_schemas.contains_key("fake_lookup"));
    let meta = svc
        .get_metadata(Request::new(pb::get_metadata::Request {}))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(meta.data_sources[0].type_name, "fake_lookup");

    let invalid = svc
        .validate_data_resource_config(Request::new(pb::validate_data_resource_config::Request {
            type_name: "fake_lookup".into(),
            config: lookup(""),
        }))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(errors(&invalid.diagnostics), ["Empty name"]);
    assert_eq!(path(&invalid.diagnostics[0]), [attr("name")]);

    let read = |name: &'static str| {
        let svc = &svc;
        async move {
            svc.read_data_source(Request::new(pb::read_data_source::Request {
                type_name: "fake_lookup".into(),
                config: lookup(name),
                ..Default::default()
            }))
            .await
            .expect("rpc")
            .into_inner()
        }
    };
    let found = read("golden").await;
    assert!(found.diagnostics.is_empty(), "{:?}", found.diagnostics);
    let state = decode(found.state.as_ref(), &lookup_schema().value_type(), "state").expect("decodes");
    assert_eq!(state.get("id"), &s("img-7"));
    assert_eq!(state.get("region"), &s("cn-bj2"), "read with the provider's data");
    assert_eq!(state.get("name"), &s("golden"));

    let missing = read("missing").await;
    assert_eq!(errors(&missing.diagnostics), ["No image found"]);
    assert!(missing.state.is_none());
    let panicked = read("panic").await;
    assert_eq!(errors(&panicked.diagnostics), ["Provider failed unexpectedly"]);
}

#[tokio::test]
async fn unknown_data_sources_are_refused_and_other_rpcs_unimplemented() {
    let svc = service().await;
    let resp = svc
        .read_data_source(Request::new(pb::read_data_source::Request {
            type_name: "fake_thing".into(),
            ..Default::default()
        }))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(errors(&resp.diagnostics), ["Unknown data source"]);
    assert!(resp.diagnostics[0].detail.contains("fake_lookup"));
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
