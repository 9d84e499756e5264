//! Unit tests of `ucloud_custom_image`: validation, the plan through the
//! framework's real default plan and rules, refresh, requests.

use super::model::{CustomImageModel, validate_config};
use super::*;
use crate::framework::{AttrPath, RawState, Resource, Value};
use crate::resources::lifecycle::{DEFAULT_CREATE_TIMEOUT, DEFAULT_DELETE_TIMEOUT};
use crate::resources::lifecycle::{ImageModel, Refresh};
use crate::ucloud::Image;
use std::time::Duration;

use crate::resources::diagnostic_paths as paths;

fn valid_config() -> Value {
    let mut v = CustomImageModel::default().to_value();
    for (k, x) in [
        ("name", Value::string("centos-7-golden")),
        (
            "ufile_url",
            Value::string("https://bucket.cn-bj.ufileos.com/images/c7.qcow2"),
        ),
        ("format", Value::string("qcow2")),
        ("os_type", Value::string("CentOS")),
        ("os_name", Value::string("CentOS 7.6 64位")),
    ] {
        v.set(k, x);
    }
    v
}

fn with(mut v: Value, attr: &str, x: Value) -> Value {
    v.set(attr, x);
    v
}

/// What ValidateResourceConfig reports: the declared checks, then the model's own.
fn validate(v: &Value) -> Diagnostics {
    crate::framework::validate::config(&CustomImageModel::block(""), v, |c| {
        validate_config(&CustomImageModel::from_value(c).expect("model"))
    })
}

#[test]
fn a_valid_config_passes() {
    assert!(validate(&valid_config()).is_empty());
    let other = with(
        with(valid_config(), "os_type", Value::string("Other")),
        "os_name",
        Value::string("Other"),
    );
    assert!(validate(&other).is_empty());
}

#[test]
fn a_signed_url_is_valid_with_a_warning_that_state_keeps_its_signature() {
    let signed = "https://bkt.cn-bj.ufileos.com/c7.raw?UCloudPublicKey=k&Signature=s3cr3t&Expires=1700000300";
    let diags = validate(&with(valid_config(), "ufile_url", Value::string(signed)));
    assert!(!diags.has_errors(), "{diags}");
    assert_eq!(paths(&diags), ["ufile_url"]);
    let d = diags.iter().next().expect("a warning");
    assert_eq!(d.severity, crate::framework::Severity::Warning);
    assert!(d.summary.contains("stored in the state"), "{}", d.summary);
    assert!(d.detail.contains("used as given"), "{}", d.detail);
    assert!(d.detail.contains("until 2023-11-14T22:18:20Z"), "{}", d.detail);
    assert!(
        d.detail.contains("(https://bkt.cn-bj.ufileos.com/c7.raw)"),
        "{}",
        d.detail
    );
    assert!(!d.detail.contains("s3cr3t"), "{}", d.detail);
    // Any signature parameter counts, also on hosts that are not UFile's.
    let cdn = "https://cdn.example.com/c7.raw?Signature=x";
    assert_eq!(
        paths(&validate(&with(valid_config(), "ufile_url", Value::string(cdn)))),
        ["ufile_url"]
    );
}

#[test]
fn each_invalid_input_is_reported_at_its_attribute() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("name", Value::string(""), "must not be empty"),
        ("name", Value::string("x".repeat(64)), "at most 63"),
        (
            "ufile_url",
            Value::string("ftp://bucket.example.com/a.raw"),
            "http or https",
        ),
        ("ufile_url", Value::string("bucket/c7.qcow2"), "not a URL"),
        (
            "ufile_url",
            Value::string("https://bucket.cn-bj.ufileos.com/"),
            "no path",
        ),
        ("format", Value::string("iso"), "RAW, VHD, VMDK, qcow2"),
        ("os_type", Value::string(" "), "platform"),
        ("os_name", Value::string(""), "version"),
        ("auth", Value::Bool(false), "UCloud requires auth = true"),
        ("tag", Value::string(""), "default group"),
        ("region", Value::string(" "), "provider's region"),
        ("project_id", Value::string(""), "provider's project"),
    ];
    for (attr, bad, says) in cases {
        let diags = validate(&with(valid_config(), attr, bad.clone()));
        assert_eq!(paths(&diags), vec![attr.to_string()], "{attr} = {bad:?}");
        let text = diags.to_string();
        assert!(text.contains(says), "{attr}: {text:?} should contain {says:?}");
    }
    let other = with(valid_config(), "os_type", Value::string("Other"));
    let diags = validate(&other);
    assert_eq!(paths(&diags), vec!["os_name"]);
    assert!(diags.to_string().contains("os_name = \"Other\""));
}

#[test]
fn a_name_of_63_multibyte_characters_is_fine() {
    assert!(validate(&with(valid_config(), "name", Value::string("镜".repeat(63)))).is_empty());
}

#[test]
fn bad_timeouts_are_reported_under_timeouts() {
    let config = with(
        valid_config(),
        "timeouts",
        Value::object([("create", Value::string("soon")), ("delete", Value::Null)]),
    );
    let diags = validate(&config);
    assert!(diags.has_errors());
    assert!(
        paths(&diags).iter().all(|p| p.starts_with("timeouts")),
        "{:?}",
        paths(&diags)
    );
}

#[test]
fn a_create_timeout_beyond_a_day_warns_that_the_import_url_lives_a_day() {
    let timeouts = |create: &str| {
        with(
            valid_config(),
            "timeouts",
            Value::object([("create", Value::string(create)), ("delete", Value::Null)]),
        )
    };
    let diags = validate(&timeouts("720h"));
    assert!(!diags.has_errors(), "{diags}");
    assert_eq!(paths(&diags), ["timeouts.create"]);
    let d = diags.iter().next().expect("a warning");
    assert!(
        d.detail.contains("is 30days") && d.detail.contains("for 1day at most"),
        "{}",
        d.detail
    );
    assert!(validate(&timeouts("24h")).is_empty());
    // A URL signed by its owner is sent as given: only the state warning.
    let signed = "https://bkt.cn-bj.ufileos.com/c7.raw?UCloudPublicKey=k&Signature=s&Expires=1700000300";
    let diags = validate(&with(timeouts("720h"), "ufile_url", Value::string(signed)));
    assert_eq!(paths(&diags), ["ufile_url"]);
}

#[test]
fn unknown_values_are_not_validated() {
    let mut config = valid_config();
    for attr in ["name", "ufile_url", "format", "os_type", "os_name", "auth"] {
        config.set(attr, Value::Unknown);
    }
    assert!(validate(&config).is_empty());
    // os_type unknown: the Other/Other rule waits for it.
    let config = with(
        with(valid_config(), "os_type", Value::Unknown),
        "os_name",
        Value::string("x"),
    );
    assert!(validate(&config).is_empty());
}

#[test]
fn timeouts_come_from_the_block_or_default() {
    let set = with(
        valid_config(),
        "timeouts",
        Value::object([("create", Value::string("3s")), ("delete", Value::Null)]),
    );
    let m = CustomImageModel::from_value(&set).expect("model");
    assert_eq!(m.timeout(Op::Create), Duration::from_secs(3));
    assert_eq!(m.timeout(Op::Delete), DEFAULT_DELETE_TIMEOUT);
    let unset = CustomImageModel::from_value(&valid_config()).expect("model");
    assert_eq!(unset.timeout(Op::Create), DEFAULT_CREATE_TIMEOUT);
}

#[test]
fn formats_match_any_letter_case_and_are_sent_in_ucloud_spelling() {
    for (given, sent) in [("QCOW2", "qcow2"), ("raw", "RAW"), ("Vhd", "VHD"), ("vmdk", "VMDK")] {
        let model = CustomImageModel::from_value(&with(valid_config(), "format", Value::string(given))).expect("model");
        let req = import_request(&model, &Location::new("cn-bj2", None)).expect("request");
        assert_eq!(req.format.as_api_str(), sent);
        assert!(req.auth);
    }
}

/// A state as `terraform import` leaves it, once read: no ufile_url,
/// format or os_type; auth at its default.
fn state_after_import() -> Value {
    let mut v = valid_config();
    for (k, x) in [
        ("id", Value::string("uimage-1")),
        ("ufile_url", Value::Null),
        ("format", Value::Null),
        ("os_type", Value::Null),
        ("auth", Value::Bool(true)),
        ("region", Value::string("cn-bj2")),
        ("tag", Value::string("Default")),
        ("status", Value::string("Available")),
        ("size", Value::Number(crate::framework::Number::Int(20))),
    ] {
        v.set(k, x);
    }
    v
}

fn state_after_create() -> Value {
    let mut v = state_after_import();
    v.set("ufile_url", valid_config().get("ufile_url").clone());
    v.set("format", Value::string("qcow2"));
    v.set("os_type", Value::string("CentOS"));
    v
}

fn data(region: Maybe<String>) -> ProviderData {
    ProviderData::unconfigured("tests make no API calls", region, Maybe::Null)
}

/// The plan as the server makes it, from what Terraform would propose.
fn plan(prior: Value, config: Value, provider_region: Maybe<String>) -> (Value, Vec<String>) {
    let proposed = plan::proposed_new_state(&CustomImageResource.schema().block, &prior, &config);
    let change = plan::plan_change(
        &CustomImageResource,
        &data(provider_region),
        &prior,
        &proposed,
        &config,
        &[],
    );
    let replace = change.requires_replace.iter().map(AttrPath::to_string).collect();
    (change.planned, replace)
}

#[test]
fn create_plan_defaults_auth_region_and_project() {
    let (p, _) = plan(Value::Null, valid_config(), Maybe::Known("cn-sh2".into()));
    assert_eq!(p.get("auth"), &Value::Bool(true));
    assert_eq!(p.get("region"), &Value::string("cn-sh2"));
    assert_eq!(p.get("project_id"), &Value::Null);
    assert!(p.get("id").is_unknown() && p.get("status").is_unknown());
    let (p, _) = plan(Value::Null, valid_config(), Maybe::Unknown);
    assert!(p.get("region").is_unknown());
    let (p, _) = plan(
        Value::Null,
        with(valid_config(), "region", Value::string("hk")),
        Maybe::Unknown,
    );
    assert_eq!(p.get("region"), &Value::string("hk"));
}

#[test]
fn after_import_a_matching_config_plans_its_values_in_place() {
    let (p, replace) = plan(state_after_import(), valid_config(), Maybe::Known("cn-bj2".into()));
    assert!(replace.is_empty(), "{replace:?}");
    for attr in ["ufile_url", "format", "os_type"] {
        assert_eq!(
            p.get(attr),
            valid_config().get(attr),
            "{attr}: the configured value is planned"
        );
    }
    for attr in ["id", "region", "tag", "status", "size"] {
        assert_eq!(p.get(attr), state_after_import().get(attr), "{attr} keeps its state");
    }
    // Once recorded, the next plan is empty.
    let (again, replace) = plan(p.clone(), valid_config(), Maybe::Known("cn-bj2".into()));
    assert_eq!(again, p);
    assert!(replace.is_empty());
}

#[test]
fn after_import_a_different_name_still_replaces() {
    let config = with(valid_config(), "name", Value::string("other"));
    let (_, replace) = plan(state_after_import(), config, Maybe::Known("cn-bj2".into()));
    assert_eq!(replace, ["name"]);
}

#[test]
fn changing_each_argument_replaces_and_timeouts_do_not() {
    for (attr, x) in [
        ("name", Value::string("n2")),
        ("ufile_url", Value::string("https://b.cn-bj.ufileos.com/other.qcow2")),
        ("format", Value::string("RAW")),
        ("os_type", Value::string("Ubuntu")),
        ("os_name", Value::string("Ubuntu 22.04")),
        ("description", Value::string("d")),
        ("tag", Value::string("prod")),
        ("region", Value::string("cn-sh2")),
        ("project_id", Value::string("org-2")),
    ] {
        let (_, replace) = plan(
            state_after_create(),
            with(valid_config(), attr, x),
            Maybe::Known("cn-bj2".into()),
        );
        assert_eq!(replace, [attr], "{attr}");
    }
    let timeouts = Value::object([("create", Value::string("5m")), ("delete", Value::Null)]);
    let (p, replace) = plan(
        state_after_create(),
        with(valid_config(), "timeouts", timeouts),
        Maybe::Known("cn-bj2".into()),
    );
    assert!(replace.is_empty());
    assert!(
        p.is_wholly_known(),
        "an in-place change keeps every computed value: {p:?}"
    );
}

#[test]
fn verify_source_changes_in_place_and_source_size_stays_as_it_was() {
    let (p, _) = plan(Value::Null, valid_config(), Maybe::Known("cn-bj2".into()));
    assert_eq!(p.get("verify_source"), &Value::Bool(true), "on by default");
    assert!(p.get("source_size").is_unknown(), "learnt at create");

    let mut prior = state_after_create();
    prior.set("verify_source", Value::Bool(true));
    prior.set("source_size", Value::Number(crate::framework::Number::Int(4096)));
    let (p, replace) = plan(
        prior,
        with(valid_config(), "verify_source", Value::Bool(false)),
        Maybe::Known("cn-bj2".into()),
    );
    assert!(replace.is_empty(), "{replace:?}");
    assert_eq!(p.get("verify_source"), &Value::Bool(false));
    assert_eq!(
        p.get("source_size"),
        &Value::Number(crate::framework::Number::Int(4096))
    );

    // After `terraform import` (which sets defaults): the size stays unknown to UCloud, null.
    let mut imported = state_after_import();
    imported.set("verify_source", Value::Bool(true));
    let (p, replace) = plan(imported, valid_config(), Maybe::Known("cn-bj2".into()));
    assert!(replace.is_empty(), "{replace:?}");
    assert_eq!(p.get("source_size"), &Value::Null);
}

#[test]
fn a_version_0_state_gains_the_defaults_of_the_new_attributes() {
    let mut json = serde_json::json!({
        "id": "uimage-1", "name": "centos-7-golden", "ufile_url": "https://bucket.cn-bj.ufileos.com/images/c7.qcow2",
        "format": "qcow2", "os_type": "CentOS", "os_name": "CentOS 7.6 64位", "auth": true, "region": "cn-bj2",
        "tag": "Default", "status": "Available", "size": 20, "timeouts": null
    });
    let m = ImageResource::upgrade_state(
        &CustomImageResource,
        RawState {
            version: 0,
            json: json.clone(),
        },
    )
    .expect("upgraded");
    assert_eq!(m.verify_source, Maybe::Known(true));
    assert_eq!(m.source_size, Maybe::Null);
    assert_eq!(m.id, Maybe::Known("uimage-1".into()));
    // Upgraded, a matching configuration plans nothing.
    let (p, replace) = plan(m.to_value(), valid_config(), Maybe::Known("cn-bj2".into()));
    assert!(replace.is_empty(), "{replace:?}");
    assert_eq!(p, m.to_value(), "no change at all");
    json["verify_source"] = serde_json::Value::Bool(false);
    let m = ImageResource::upgrade_state(&CustomImageResource, RawState { version: 0, json }).expect("upgraded");
    assert_eq!(m.verify_source, Maybe::Known(false), "a value it somehow had is kept");
    assert!(
        ImageResource::upgrade_state(
            &CustomImageResource,
            RawState {
                version: 7,
                json: serde_json::json!({})
            }
        )
        .is_err()
    );
}

#[test]
fn a_letter_case_change_of_format_does_not_replace() {
    let (p, replace) = plan(
        state_after_create(),
        with(valid_config(), "format", Value::string("QCOW2")),
        Maybe::Known("cn-bj2".into()),
    );
    assert!(replace.is_empty());
    assert_eq!(p.get("format"), &Value::string("QCOW2"));
}

#[test]
fn a_new_or_unknown_provider_region_does_not_move_existing_images() {
    for provider_region in [Maybe::Known("cn-sh2".to_string()), Maybe::Unknown] {
        let (p, replace) = plan(state_after_create(), valid_config(), provider_region);
        assert!(replace.is_empty());
        assert_eq!(p.get("region"), &Value::string("cn-bj2"));
        assert_eq!(p.get("project_id"), &Value::Null, "null: the default project");
    }
}

fn image(state: &str) -> Image {
    crate::resources::sample_image("uimage-1", "centos-7-golden", "", state)
}

#[test]
fn read_refreshes_remote_values_and_never_the_import_only_ones() {
    let mut m = CustomImageModel::from_value(&state_after_import()).expect("model");
    m.os_name = Maybe::Null;
    m.refresh(&image("Available"), Refresh::Read);
    assert_eq!(m.os_name, Maybe::Known("CentOS 7.6 64位".into()));
    assert_eq!(
        m.os_type,
        Maybe::Null,
        "DescribeImage's OsType (Linux) is another vocabulary"
    );
    assert_eq!(m.format, Maybe::Null);
    assert_eq!(m.ufile_url, Maybe::Null);
    assert_eq!(m.size, Maybe::Known(20));
    assert_eq!(m.create_time, Maybe::Known("2023-11-14T22:13:20Z".into()));
    assert_eq!(m.features, Maybe::Known(vec!["CloudInit".to_string()]));
    assert_eq!(m.description, Maybe::Null);

    let mut created = CustomImageModel::from_value(&state_after_create()).expect("model");
    created.os_name = Maybe::Known("CentOS 7.6".into());
    created.refresh(&image("Available"), Refresh::Read);
    assert_eq!(created.os_type, Maybe::Known("CentOS".into()));
    assert_eq!(
        created.os_name,
        Maybe::Known("CentOS 7.6".into()),
        "the user's spelling stays"
    );
}

#[test]
fn after_create_known_planned_values_stay_and_unknowns_are_filled() {
    let mut m = CustomImageModel::from_value(&with(valid_config(), "tag", Value::Unknown)).expect("model");
    m.status = Maybe::Unknown;
    m.refresh(&image("Available"), Refresh::AfterCreate);
    assert_eq!(m.tag, Maybe::Known("Default".into()));
    assert_eq!(m.status, Maybe::Known("Available".into()));
    assert_eq!(m.format, Maybe::Known("qcow2".into()));
}

#[test]
fn every_argument_has_a_replacement_rule_and_auth_a_default() {
    let s = CustomImageResource.schema();
    // Used only by create: changing it changes nothing in UCloud.
    let create_only = [attr_name!(CustomImageModel, verify_source)];
    for a in &s.block.attributes {
        let argument = (a.required || a.optional) && !create_only.contains(&a.name.as_str());
        assert_eq!(!a.replace.is_never(), argument, "{}", a.name);
    }
    assert_eq!(
        s.block.get("verify_source").and_then(|a| a.default.clone()),
        Some(Value::Bool(true))
    );
    assert_eq!(
        s.block.get("auth").and_then(|a| a.default.clone()),
        Some(Value::Bool(true))
    );
    let blocks: Vec<&str> = s.block.blocks.iter().map(|b| b.type_name.as_str()).collect();
    assert_eq!(blocks, ["source", "timeouts"]);
    // In `source`, only what decides the object replaces the image: which file
    // (its content, by the ETag plan reads), where it is staged.
    let source = &s.block.blocks[0].block;
    for a in &source.attributes {
        let replaces = ["bucket", "key"].contains(&a.name.as_str());
        assert_eq!(!a.replace.is_never(), replaces, "source.{}", a.name);
    }
}

#[tokio::test]
async fn import_names_only_where_the_image_lives() {
    let data = data(Maybe::Known("cn-bj2".into()));
    let m = CustomImageResource
        .import(&Context::default(), &data, "org-1/hk/uimage-abc")
        .await
        .expect("imported");
    assert_eq!(m.id, Maybe::Known("uimage-abc".into()));
    assert_eq!(m.region, Maybe::Known("hk".into()));
    assert_eq!(m.project_id, Maybe::Known("org-1".into()));
    assert_eq!(m.ufile_url, Maybe::Null);
    let short = CustomImageResource
        .import(&Context::default(), &data, "uimage-abc")
        .await
        .expect("imported");
    assert_eq!(short.region, Maybe::Known("cn-bj2".into()), "the provider's region");
    let bad = CustomImageResource.import(&Context::default(), &data, "uimage-").await;
    assert!(bad.is_err());
}

/// A configuration importing the local file `path` through `source`.
fn local_config(path: &std::path::Path) -> Value {
    let mut v = with(valid_config(), "ufile_url", Value::Null);
    let mut src = source::SourceModel::default().to_value();
    src.set("path", Value::string(path.to_str().expect("a UTF-8 path")));
    src.set("bucket", Value::string("staging"));
    v.set("source", src);
    v
}

fn local_qcow2(dir: &tempfile::TempDir, seed: u64) -> std::path::PathBuf {
    let path = dir.path().join("disk.qcow2");
    test_support::images::write_qcow2(&path, 5 << 20, seed);
    path
}

#[test]
fn exactly_one_of_ufile_url_and_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = local_qcow2(&dir, 1);
    assert!(validate(&local_config(&path)).is_empty());
    let neither = with(valid_config(), "ufile_url", Value::Null);
    let both = with(
        local_config(&path),
        "ufile_url",
        valid_config().get("ufile_url").clone(),
    );
    for (config, says) in [(neither, "Set one of ufile_url, source"), (both, "Set only one of")] {
        let diags = validate(&config);
        assert!(diags.has_errors(), "{diags}");
        assert_eq!(paths(&diags), ["ufile_url"]);
        assert!(diags.to_string().contains(says), "{diags}");
    }
}

#[test]
fn a_new_image_from_a_local_file_plans_its_etag_size_and_default_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = local_qcow2(&dir, 1);
    let (p, _) = plan(Value::Null, local_config(&path), Maybe::Known("cn-bj2".into()));
    let file = crate::ucloud::ufile::file_etag(&path).expect("the ETag");
    let src = p.get("source");
    assert_eq!(src.get("etag"), &Value::string(&file.etag));
    assert_eq!(src.get("size"), &Value::Number(crate::framework::Number::Int(5 << 20)));
    assert_eq!(
        src.get("key"),
        &Value::string(format!("terraform-import/{}.qcow2", file.etag))
    );
    assert_eq!(src.get("concurrency"), &Value::Number(crate::framework::Number::Int(4)));
    assert_eq!(src.get("keep_object"), &Value::Bool(false));
    assert!(p.get("ufile_url").is_unknown(), "known once staged");
}

#[test]
fn a_wrong_format_of_a_local_file_fails_the_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = local_qcow2(&dir, 1);
    let config = with(local_config(&path), "format", Value::string("RAW"));
    let proposed = plan::proposed_new_state(&CustomImageResource.schema().block, &Value::Null, &config);
    let change = plan::plan_change(
        &CustomImageResource,
        &data(Maybe::Known("cn-bj2".into())),
        &Value::Null,
        &proposed,
        &config,
        &[],
    );
    assert!(change.diagnostics.has_errors(), "{}", change.diagnostics);
    assert!(
        change
            .diagnostics
            .to_string()
            .contains(r#"format is "RAW" but the file is a qcow2 image"#),
        "{}",
        change.diagnostics
    );
}

#[test]
fn new_content_replaces_the_image_and_keep_object_or_concurrency_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = local_qcow2(&dir, 1);
    let region = || Maybe::Known("cn-bj2".to_string());
    let (planned, _) = plan(Value::Null, local_config(&path), region());
    // The state after the create: what the plan promised, and what the apply learnt.
    let mut state = planned.clone();
    if let Value::Object(after) = state_after_create() {
        for (k, x) in after {
            if state.get(&k).is_unknown() {
                state.set(&k, x);
            }
        }
    }
    state.set("ufile_url", Value::string("https://staging.cn-bj.ufileos.com/k"));
    let (again, replace) = plan(state.clone(), local_config(&path), region());
    assert!(replace.is_empty(), "{replace:?}");
    assert_eq!(again.get("source"), state.get("source"));

    let mut src = local_config(&path).get("source").clone();
    src.set("keep_object", Value::Bool(true));
    src.set("concurrency", Value::Number(crate::framework::Number::Int(16)));
    let (_, replace) = plan(state.clone(), with(local_config(&path), "source", src), region());
    assert!(replace.is_empty(), "{replace:?}");

    test_support::images::write_qcow2(&path, 5 << 20, 2);
    let (_, replace) = plan(state, local_config(&path), region());
    assert!(replace.contains(&"source.etag".to_string()), "{replace:?}");
}
