//! Unit tests of `ucloud_custom_image_copy`: validation, the plan through the
//! framework's real default plan and rules (create defaults, import, the
//! copy onto itself), refresh, the CopyCustomImage request.

use super::model::validate_config;
use super::*;
use crate::framework::plan;
use crate::framework::timeouts::Op;
use crate::framework::{AttrPath, Model, Resource, Value};
use crate::resources::lifecycle::DEFAULT_CREATE_TIMEOUT;
use crate::resources::lifecycle::{ImageModel, Refresh};

fn s(x: &str) -> Value {
    Value::string(x)
}

use crate::resources::diagnostic_paths as paths;

/// A copy of uimage-src from cn-bj2 into cn-sh2 (project from the provider).
fn valid_config() -> Value {
    let mut v = M::default().to_value();
    v.set("source_image_id", s("uimage-src"));
    v.set("source_region", s("cn-bj2"));
    v.set("region", s("cn-sh2"));
    v
}

fn with(mut v: Value, attr: &str, x: Value) -> Value {
    v.set(attr, x);
    v
}

/// What ValidateResourceConfig reports: the declared checks, then the model's own.
fn validate(v: &Value) -> Diagnostics {
    crate::framework::validate::config(&M::block(""), v, |c| validate_config(&M::from_value(c).expect("model")))
}

#[test]
fn a_valid_config_passes_and_defaults_to_an_hour() {
    assert!(validate(&valid_config()).is_empty());
    let m = M::from_value(&valid_config()).expect("model");
    assert_eq!(m.timeout(Op::Create), DEFAULT_CREATE_TIMEOUT);
    // Same region, another project: a copy.
    let projects = with(
        with(valid_config(), "source_region", Value::Null),
        "source_project_id",
        s("org-a"),
    );
    assert!(validate(&projects).is_empty());
}

#[test]
fn each_invalid_input_is_reported_at_its_attribute() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("source_image_id", s("image-1"), "not a UCloud image id"),
        ("source_image_id", s(""), "not a UCloud image id"),
        ("name", s(" "), "must not be empty"),
        ("name", s(&"x".repeat(64)), "at most 63"),
        ("source_region", s(""), "this resource's region"),
        ("source_project_id", s(""), "this resource's project"),
        ("region", s(" "), "provider's region"),
        ("project_id", s(""), "provider's project"),
        ("tag", s(""), "default group"),
    ];
    for (attr, bad, says) in cases {
        let diags = validate(&with(valid_config(), attr, bad.clone()));
        assert_eq!(paths(&diags), vec![attr.to_string()], "{attr} = {bad:?}: {diags}");
        assert!(diags.to_string().contains(says), "{attr}: {diags} should say {says:?}");
    }
    let timeouts = Value::object([("create", s("soon")), ("delete", Value::Null)]);
    let diags = validate(&with(valid_config(), "timeouts", timeouts));
    assert_eq!(paths(&diags), ["timeouts.create"]);
}

#[test]
fn a_copy_onto_itself_is_refused_when_the_configuration_decides_it() {
    // No source location: the source is where the copy goes.
    let same = with(
        with(valid_config(), "source_region", Value::Null),
        "region",
        Value::Null,
    );
    let diags = validate(&same);
    assert_eq!(paths(&diags), ["source_image_id"]);
    assert!(diags.to_string().contains("Copy onto itself"), "{diags}");
    // Spelt out: the same.
    let spelt = with(
        with(with(valid_config(), "region", s("cn-bj2")), "project_id", s("org-a")),
        "source_project_id",
        s("org-a"),
    );
    assert_eq!(paths(&validate(&spelt)), ["source_image_id"]);
    // A new name makes it a real copy.
    assert!(validate(&with(same.clone(), "name", s("centos-7-v2"))).is_empty());
    // Undecided until the name is known; and not decidable without the provider's region.
    assert!(validate(&with(same, "name", Value::Unknown)).is_empty());
    assert!(validate(&with(valid_config(), "region", Value::Null)).is_empty());
}

#[test]
fn unknown_values_are_not_validated() {
    let mut config = valid_config();
    for attr in ["source_image_id", "source_region", "region", "name", "tag"] {
        config.set(attr, Value::Unknown);
    }
    assert!(validate(&config).is_empty());
}

fn data(region: Maybe<String>, project: Maybe<String>) -> ProviderData {
    ProviderData::unconfigured("tests make no API calls", region, project)
}

fn provider() -> ProviderData {
    data(Maybe::Known("cn-bj2".into()), Maybe::Known("org-a".into()))
}

/// The plan as the server makes it, from what Terraform would propose.
fn plan_with(prior: &Value, config: &Value, data: &ProviderData) -> (Value, Vec<String>, Diagnostics) {
    let proposed = plan::proposed_new_state(&CustomImageCopyResource.schema().block, prior, config);
    let change = plan::plan_change(&CustomImageCopyResource, data, prior, &proposed, config, &[]);
    let replace = change.requires_replace.iter().map(AttrPath::to_string).collect();
    (change.planned, replace, change.diagnostics)
}

fn plan(prior: &Value, config: &Value) -> (Value, Vec<String>) {
    let (p, r, d) = plan_with(prior, config, &provider());
    assert!(d.is_empty(), "{d}");
    (p, r)
}

#[test]
fn create_plans_the_copy_in_the_provider_location_and_the_source_next_to_it() {
    let (p, _) = plan(&Value::Null, &valid_config());
    assert_eq!(p.get("region"), &s("cn-sh2"));
    assert_eq!(p.get("project_id"), &s("org-a"), "the provider's project");
    assert_eq!(p.get("source_region"), &s("cn-bj2"));
    assert_eq!(p.get("source_project_id"), &s("org-a"), "the copy's project");
    for computed in ["id", "name", "description", "tag", "status", "size", "os_name"] {
        assert!(p.get(computed).is_unknown(), "{computed}");
    }
    let bare = with(
        with(valid_config(), "region", Value::Null),
        "source_region",
        Value::Null,
    );
    let bare = with(with(bare, "project_id", s("org-b")), "source_project_id", s("org-a"));
    let (p, _) = plan(&Value::Null, &bare);
    assert_eq!((p.get("region"), p.get("source_region")), (&s("cn-bj2"), &s("cn-bj2")));
    assert_eq!(
        (p.get("project_id"), p.get("source_project_id")),
        (&s("org-b"), &s("org-a"))
    );
    // Provider values not known yet: neither are the defaults.
    let (p, _, d) = plan_with(&Value::Null, &bare, &data(Maybe::Unknown, Maybe::Unknown));
    assert!(d.is_empty(), "{d}");
    assert!(p.get("region").is_unknown() && p.get("source_region").is_unknown());
}

#[test]
fn the_plan_refuses_a_copy_onto_itself_and_a_copy_without_a_project() {
    // Only the provider's region makes it one.
    let config = with(valid_config(), "region", Value::Null);
    let config = with(config, "source_project_id", Value::Null);
    let (_, _, d) = plan_with(&Value::Null, &config, &provider());
    assert_eq!(paths(&d), ["source_image_id"], "{d}");
    let (_, _, d) = plan_with(
        &Value::Null,
        &valid_config(),
        &data(Maybe::Known("cn-bj2".into()), Maybe::Null),
    );
    assert_eq!(paths(&d), ["project_id"], "{d}");
    assert!(d.to_string().contains("TargetProjectId"), "{d}");
}

/// A copy's state as create leaves it.
fn state_after_create() -> Value {
    let mut v = valid_config();
    for (k, x) in [
        ("id", s("uimage-copy")),
        ("project_id", s("org-a")),
        ("source_project_id", s("org-a")),
        ("name", s("centos-7")),
        ("tag", s("Default")),
        ("status", s("Available")),
        ("size", Value::Number(crate::framework::Number::Int(20))),
        ("os_name", s("CentOS 7.6 64位")),
    ] {
        v.set(k, x);
    }
    v
}

/// A state as `terraform import` leaves it, once read: no source.
fn state_after_import() -> Value {
    let mut v = state_after_create();
    for k in ["source_image_id", "source_region", "source_project_id"] {
        v.set(k, Value::Null);
    }
    v
}

#[test]
fn after_import_a_matching_config_fills_the_source_in_place() {
    let (p, replace) = plan(&state_after_import(), &valid_config());
    assert!(replace.is_empty(), "{replace:?}");
    assert_eq!(p.get("source_image_id"), &s("uimage-src"));
    assert_eq!(p.get("source_region"), &s("cn-bj2"));
    assert_eq!(p.get("source_project_id"), &s("org-a"), "this resource's project");
    for attr in ["id", "region", "project_id", "name", "tag", "status", "size"] {
        assert_eq!(p.get(attr), state_after_import().get(attr), "{attr} keeps its state");
    }
    assert!(p.is_wholly_known(), "{p:?}");
    let (again, replace) = plan(&p, &valid_config());
    assert_eq!(again, p, "once recorded, the next plan is empty");
    assert!(replace.is_empty());
    // A configuration naming the copy's real name also matches.
    let (_, replace) = plan(&state_after_import(), &with(valid_config(), "name", s("centos-7")));
    assert!(replace.is_empty(), "{replace:?}");
}

#[test]
fn after_import_another_name_or_place_still_replaces() {
    let (_, replace) = plan(&state_after_import(), &with(valid_config(), "name", s("other")));
    assert_eq!(replace, ["name"]);
    let (_, replace) = plan(&state_after_import(), &with(valid_config(), "region", s("hk")));
    assert_eq!(replace, ["region"]);
}

#[test]
fn changing_each_argument_replaces_and_timeouts_do_not() {
    for (attr, x) in [
        ("source_image_id", s("uimage-other")),
        ("source_region", s("hk")),
        ("source_project_id", s("org-c")),
        ("region", s("hk")),
        ("project_id", s("org-b")),
        ("name", s("n2")),
        ("description", s("d")),
        ("tag", s("prod")),
    ] {
        let (_, replace) = plan(&state_after_create(), &with(valid_config(), attr, x));
        assert_eq!(replace, [attr], "{attr}");
    }
    let timeouts = Value::object([("create", s("5m")), ("delete", Value::Null)]);
    let (p, replace) = plan(&state_after_create(), &with(valid_config(), "timeouts", timeouts));
    assert!(replace.is_empty());
    assert!(
        p.is_wholly_known(),
        "an in-place change keeps every computed value: {p:?}"
    );
    // Unchanged provider defaults do not move or diff an existing copy.
    let (p, replace, d) = plan_with(
        &state_after_create(),
        &valid_config(),
        &data(Maybe::Known("hk".into()), Maybe::Unknown),
    );
    assert!(d.is_empty() && replace.is_empty(), "{d} {replace:?}");
    assert_eq!(p, state_after_create());
}

#[test]
fn every_argument_has_a_replacement_rule() {
    let schema = CustomImageCopyResource.schema();
    for a in &schema.block.attributes {
        assert_eq!(!a.replace.is_never(), a.required || a.optional, "{}", a.name);
    }
    assert_eq!(schema.block.blocks[0].type_name, "timeouts");
}

fn image(name: &str, state: &str) -> Image {
    crate::resources::sample_image("uimage-src", name, "golden", state)
}

#[test]
fn the_request_copies_from_the_source_under_its_name_unless_told_otherwise() {
    let m = M::from_value(&valid_config()).expect("model");
    let from = Location::new("cn-bj2", Some("org-a".into()));
    let target = Location::new("cn-sh2", Some("org-b".into()));
    let req = copy_request(&m, &image("centos-7", "Available"), &from, &target).expect("request");
    assert_eq!(
        req,
        CopyCustomImage {
            region: "cn-bj2".into(),
            project_id: Some("org-a".into()),
            source_image_id: "uimage-src".into(),
            target_project_id: "org-b".into(),
            target_region: Some("cn-sh2".into()),
            target_image_name: Some("centos-7".into()),
            target_image_description: Some("golden".into()),
            target_image_tag: None,
        }
    );
    let named = M::from_value(&with(with(valid_config(), "name", s("c7-sh")), "tag", s("prod"))).expect("model");
    let req = copy_request(&named, &image("centos-7", "Available"), &from, &target).expect("request");
    assert_eq!(req.target_image_name.as_deref(), Some("c7-sh"));
    assert_eq!(req.target_image_tag.as_deref(), Some("prod"));
    let nowhere = copy_request(&m, &image("c", "Available"), &from, &Location::new("cn-sh2", None));
    assert!(nowhere.is_err(), "no target project, no request");
}

#[test]
fn the_source_location_defaults_to_the_copy_s_own() {
    let target = Location::new("cn-sh2", Some("org-b".into()));
    let m = M::from_value(&valid_config()).expect("model");
    assert_eq!(
        m.source_location(&target),
        Location::new("cn-bj2", Some("org-b".into()))
    );
    let other = M::from_value(&with(valid_config(), "source_project_id", s("org-a"))).expect("model");
    assert_eq!(
        other.source_location(&target),
        Location::new("cn-bj2", Some("org-a".into()))
    );
}

#[test]
fn refresh_after_create_keeps_the_plan_and_read_takes_the_remote_values() {
    let mut planned = M::from_value(&with(valid_config(), "name", s("c7-sh"))).expect("model");
    planned.description = Maybe::Unknown;
    planned.tag = Maybe::Unknown;
    planned.refresh(&image("something-else", "Available"), Refresh::AfterCreate);
    assert_eq!(planned.name, Maybe::Known("c7-sh".into()));
    assert_eq!(planned.description, Maybe::Known("golden".into()));
    assert_eq!(planned.tag, Maybe::Known("Default".into()));
    assert_eq!(planned.create_time, Maybe::Known("2023-11-14T22:13:20Z".into()));
    assert_eq!(planned.source_image_id, Maybe::Known("uimage-src".into()));

    let mut read = M::from_value(&state_after_import()).expect("model");
    read.description = Maybe::Known(String::new());
    let mut remote = image("renamed", "Available");
    remote.image_description = String::new();
    read.refresh(&remote, Refresh::Read);
    assert_eq!(read.name, Maybe::Known("renamed".into()));
    assert_eq!(
        read.description,
        Maybe::Known(String::new()),
        "the user's empty description stays"
    );
    assert_eq!(
        read.source_image_id,
        Maybe::Null,
        "DescribeImage cannot tell the source"
    );
}

#[tokio::test]
async fn import_names_only_where_the_copy_lives() {
    let m = CustomImageCopyResource
        .import(&Context::default(), &provider(), "org-b/cn-sh2/uimage-abc")
        .await
        .expect("imported");
    assert_eq!(m.id, Maybe::Known("uimage-abc".into()));
    assert_eq!(m.region, Maybe::Known("cn-sh2".into()));
    assert_eq!(m.project_id, Maybe::Known("org-b".into()));
    assert_eq!(m.source_image_id, Maybe::Null);
    let short = CustomImageCopyResource
        .import(&Context::default(), &provider(), "cn-sh2/uimage-abc")
        .await
        .expect("imported");
    assert_eq!(short.project_id, Maybe::Known("org-a".into()), "the provider's project");
    assert!(
        CustomImageCopyResource
            .import(&Context::default(), &provider(), "cn-sh2/image-1")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn create_without_a_client_fails_before_anything_is_copied() {
    let planned = M::from_value(&valid_config()).expect("model");
    let Err(out) = CustomImageCopyResource
        .create(&Context::default(), &provider(), planned)
        .await
    else {
        panic!("the create should fail");
    };
    assert!(out.keep.is_none());
    assert!(out.diagnostics.to_string().contains("Provider not configured"));
}
