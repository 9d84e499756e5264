//! `ucloud_custom_image` as users drive it: the real `terraform` CLI, through
//! a dev override, against `ucloud-sim` (no network). Each test has its own
//! working directory and its own simulator, and asserts on `terraform show
//! -json` and on the simulator's record of images and requests.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use test_support::sim::Sim;
use test_support::terraform::{Terraform, flat, replace, signal_group, terraform_at_least};
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

/// First poll delay for the provider (`UCLOUD_POLL_INTERVAL_MS`): keeps waits short.
const POLL_MS: u64 = 50;
/// How long an import stays `Making` in tests that do not need it longer.
const QUICK_MAKING: &str = "300ms";
/// The URL every image imports from unless a test says otherwise.
const URL: &str = "https://bucket.cn-bj.ufileos.com/images/c7.qcow2";
/// A URL the simulator fails to import (its path contains `corrupt`).
const CORRUPT_URL: &str = "https://bucket.cn-bj.ufileos.com/corrupt/c7.qcow2";
/// An isolated working directory whose provider talks to `sim`.
fn workspace(sim: &Sim, max_retries: u32) -> Terraform {
    let settings = ProviderSettings {
        max_retries: Some(max_retries),
        ..ProviderSettings::with_sim_keys()
    };
    ucloud::workspace(PROVIDER, &sim.url, settings, POLL_MS)
}

/// A `ucloud_custom_image` block: a valid image named `name`, with `attrs`
/// (HCL expressions) added or replacing the defaults. `timeouts` renders as a block.
fn image(label: &str, name: &str, attrs: &[(&str, &str)]) -> String {
    let mut values: BTreeMap<&str, String> = BTreeMap::from([
        ("name", format!("{name:?}")),
        ("ufile_url", format!("{URL:?}")),
        ("format", "\"qcow2\"".to_string()),
        ("os_type", "\"CentOS\"".to_string()),
        ("os_name", "\"CentOS 7.6 64位\"".to_string()),
    ]);
    for (k, v) in attrs {
        values.insert(k, v.to_string());
    }
    let mut out = format!("resource \"ucloud_custom_image\" \"{label}\" {{\n");
    for (k, v) in &values {
        if *k == "timeouts" {
            out.push_str(&format!("  timeouts {v}\n"));
        } else {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out.push_str("}\n");
    out
}

/// Scenario 1: One apply, one signed ImportCustomImage, the id and `Available` in
/// state; the next plan is empty.
#[test]
fn apply_creates_one_image_and_a_second_plan_is_empty() {
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        &image("centos", "centos-7-golden", &[("description", "\"golden image\"")]),
    );
    tf.apply().expect_success();

    let imports = sim.journal_of("ImportCustomImage");
    assert_eq!(imports.len(), 1, "exactly one import: {imports:#?}");
    assert_eq!(imports[0]["SignatureValid"], true, "{:#?}", imports[0]);
    assert_eq!(imports[0]["Params"]["Format"], "qcow2");
    assert_eq!(imports[0]["Params"]["Auth"], "true");
    assert!(imports[0]["Params"].get("PrivateKey").is_none());

    let r = tf.state_resource("ucloud_custom_image.centos");
    let v = &r["values"];
    let id = v["id"].as_str().expect("id in state");
    assert!(id.starts_with("uimage-"), "{id}");
    assert_eq!(v["status"], "Available");
    assert_eq!(v["region"], "cn-bj2");
    assert_eq!(v["auth"], true);
    assert_eq!(v["tag"], "Default");
    assert_eq!(v["description"], "golden image");
    assert!(v["create_time"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
    assert!(r.get("tainted").is_none_or(|t| t == false));
    assert_eq!(sim.live_ids(), BTreeSet::from([id.to_string()]));

    tf.plan_code().expect_code(0);
    // Drift checks in pipelines rely on this exit code too.
    tf.run(&["plan", "-refresh-only", "-detailed-exitcode"]).expect_code(0);
    assert_eq!(sim.count_action("ImportCustomImage"), 1, "plans never import");
}

/// Scenario 2: Every argument forces a replacement; `timeouts` alone does not.
#[test]
fn changing_any_argument_replaces_the_image_but_timeouts_do_not() {
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &image("x", "base", &[]));
    tf.apply().expect_success();
    tf.plan_code().expect_code(0);

    let changes: &[(&str, &str)] = &[
        ("name", "\"renamed\""),
        ("ufile_url", "\"https://bucket.cn-bj.ufileos.com/images/other.qcow2\""),
        ("format", "\"RAW\""),
        ("os_type", "\"Ubuntu\""),
        ("os_name", "\"CentOS 8 64位\""),
        ("description", "\"now described\""),
        ("tag", "\"prod\""),
        ("region", "\"cn-sh2\""),
        ("project_id", "\"org-other\""),
    ];
    for (attr, value) in changes {
        tf.write("main.tf", &image("x", "base", &[(attr, value)]));
        let actions = tf.planned_actions();
        assert_eq!(
            actions.get("ucloud_custom_image.x"),
            Some(&replace()),
            "changing {attr}"
        );
    }

    tf.write(
        "main.tf",
        &image("x", "base", &[("timeouts", "{\n    create = \"90m\"\n  }")]),
    );
    let actions = tf.planned_actions();
    assert_eq!(
        actions.get("ucloud_custom_image.x"),
        Some(&vec!["update".to_string()]),
        "timeouts only"
    );
    tf.apply().expect_success();
    tf.plan_code().expect_code(0);
    assert_eq!(
        sim.count_action("ImportCustomImage"),
        1,
        "no plan or timeouts change imports"
    );
}

/// Scenario 3: `format` in any letter case is sent in UCloud's spelling and never diffs.
#[test]
fn format_in_any_letter_case_applies_and_then_plans_no_changes() {
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        &[
            image("upper", "upper", &[("format", "\"QCOW2\"")]),
            image("lower", "lower", &[("format", "\"raw\"")]),
        ]
        .concat(),
    );
    tf.apply().expect_success();
    let mut sent: Vec<String> = sim
        .journal_of("ImportCustomImage")
        .iter()
        .filter_map(|e| e["Params"]["Format"].as_str().map(str::to_string))
        .collect();
    sent.sort();
    assert_eq!(sent, ["RAW", "qcow2"]);
    assert_eq!(
        tf.state_resource("ucloud_custom_image.upper")["values"]["format"],
        "QCOW2"
    );
    assert_eq!(
        tf.state_resource("ucloud_custom_image.lower")["values"]["format"],
        "raw"
    );
    tf.plan_code().expect_code(0);
}

/// Scenario 4: An image deleted behind Terraform's back is planned for creation.
#[test]
fn image_deleted_outside_terraform_is_planned_again() {
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &image("x", "gone-soon", &[]));
    tf.apply().expect_success();
    let id = tf.state_resource("ucloud_custom_image.x")["values"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    sim.delete_out_of_band(&id);

    tf.plan_code().expect_code(2);
    assert_eq!(
        tf.planned_actions().get("ucloud_custom_image.x"),
        Some(&vec!["create".to_string()])
    );
}

/// An image made outside Terraform (the console, another tool), as UCloud's
/// ImportCustomImage makes it: `params` are the API's (Region, ProjectId,
/// ImageName, UFileUrl, Format, OsType, OsName, ...). Returns its id once it
/// is `Available`.
fn image_made_out_of_band(sim: &Sim, params: &[(&str, &str)]) -> String {
    let mut all = vec![("Auth", "true")];
    all.extend_from_slice(params);
    let answer = sim.sign_and_post("ImportCustomImage", &all);
    assert_eq!(answer["RetCode"], 0, "out-of-band ImportCustomImage: {answer}");
    let id = answer["ImageId"].as_str().expect("ImageId").to_string();
    sim.wait_for_state(&id, "Available");
    id
}

/// The planned actions of `address`, which must be in the plan.
fn actions_of<'a>(actions: &'a BTreeMap<String, Vec<String>>, address: &str) -> &'a [String] {
    actions
        .get(address)
        .unwrap_or_else(|| panic!("{address} is not in the plan: {actions:?}"))
}

/// Scenario 5 (issue #9): `terraform import` in each id form (`uimage-…`,
/// `REGION/uimage-…`, `PROJECT_ID/REGION/uimage-…`) adopts an existing image.
/// UCloud cannot tell `ufile_url`, `format` or `os_type`, so the plan with the
/// matching configuration takes them from it in place (never a replacement);
/// one apply records them in state without creating or deleting an image, the
/// next plan is empty, and from then on a changed `ufile_url` replaces the
/// image as for any image Terraform created.
#[test]
fn imported_images_take_their_configured_arguments_in_place_then_replace_when_changed() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let tf = workspace(&sim, 3);
    let url_b = "https://bucket.cn-sh.ufileos.com/images/b.vmdk";
    let url_c = "https://bucket.cn-bj.ufileos.com/images/c.raw";
    let a = image_made_out_of_band(
        &sim,
        &[
            ("Region", "cn-bj2"),
            ("ImageName", "imp-a"),
            ("UFileUrl", URL),
            ("Format", "qcow2"),
            ("OsType", "CentOS"),
            ("OsName", "CentOS 7.6 64位"),
        ],
    );
    let b = image_made_out_of_band(
        &sim,
        &[
            ("Region", "cn-sh2"),
            ("ImageName", "imp-b"),
            ("ImageDescription", "second"),
            ("UFileUrl", url_b),
            ("Format", "VMDK"),
            ("OsType", "CentOS"),
            ("OsName", "CentOS 7.6 64位"),
        ],
    );
    let c = image_made_out_of_band(
        &sim,
        &[
            ("Region", "cn-bj2"),
            ("ProjectId", "org-team"),
            ("ImageName", "imp-c"),
            ("Tag", "prod"),
            ("UFileUrl", url_c),
            ("Format", "RAW"),
            ("OsType", "Ubuntu"),
            ("OsName", "Ubuntu 22.04 64位"),
        ],
    );
    let config = |url_of: &dyn Fn(&str) -> String| {
        [
            image("a", "imp-a", &[("ufile_url", &url_of(URL))]),
            image(
                "b",
                "imp-b",
                &[
                    ("region", "\"cn-sh2\""),
                    ("description", "\"second\""),
                    ("ufile_url", &url_of(url_b)),
                    ("format", "\"VMDK\""),
                ],
            ),
            image(
                "c",
                "imp-c",
                &[
                    ("project_id", "\"org-team\""),
                    ("tag", "\"prod\""),
                    ("ufile_url", &url_of(url_c)),
                    ("format", "\"RAW\""),
                    ("os_type", "\"Ubuntu\""),
                    ("os_name", "\"Ubuntu 22.04 64位\""),
                ],
            ),
        ]
        .concat()
    };
    tf.write("main.tf", &config(&|url| format!("{url:?}")));
    let made = sim.count_action("ImportCustomImage");

    tf.run(&["import", "ucloud_custom_image.a", &a]).expect_success();
    tf.run(&["import", "ucloud_custom_image.b", &format!("cn-sh2/{b}")])
        .expect_success();
    tf.run(&["import", "ucloud_custom_image.c", &format!("org-team/cn-bj2/{c}")])
        .expect_success();
    let imported = [("a", &a), ("b", &b), ("c", &c)];
    for (label, id) in imported {
        let v = &tf.state_resource(&format!("ucloud_custom_image.{label}"))["values"];
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["status"], "Available");
        assert_eq!(v["name"], format!("imp-{label}"));
    }
    let state_b = &tf.state_resource("ucloud_custom_image.b")["values"];
    assert_eq!(state_b["region"], "cn-sh2", "the region comes from the id");
    assert_eq!(state_b["description"], "second");
    let state_c = &tf.state_resource("ucloud_custom_image.c")["values"];
    assert_eq!(state_c["project_id"], "org-team", "the project comes from the id");
    assert_eq!(state_c["tag"], "prod");

    // The plan works and keeps the images: at most an in-place update.
    let actions = tf.planned_actions();
    for (label, _) in imported {
        let address = format!("ucloud_custom_image.{label}");
        let planned = actions_of(&actions, &address);
        assert!(
            planned == ["update"] || planned == ["no-op"],
            "{address} right after import: planned {planned:?}, expected an in-place update at most"
        );
    }

    let applied = tf.apply();
    applied.expect_success();
    assert!(
        applied.stdout.contains("0 added") && applied.stdout.contains("0 destroyed"),
        "{applied}"
    );
    assert_eq!(
        sim.count_action("ImportCustomImage"),
        made,
        "adopting an image never imports one"
    );
    assert_eq!(
        sim.count_action("TerminateCustomImage"),
        0,
        "adopting an image never deletes one"
    );
    let expected = [
        ("a", URL, "qcow2", "CentOS"),
        ("b", url_b, "VMDK", "CentOS"),
        ("c", url_c, "RAW", "Ubuntu"),
    ];
    for (label, url, format, os_type) in expected {
        let address = format!("ucloud_custom_image.{label}");
        let v = &tf.state_resource(&address)["values"];
        assert_eq!(v["ufile_url"], url, "{address} in state: {v:#}");
        assert_eq!(v["format"], format, "{address} in state: {v:#}");
        assert_eq!(v["os_type"], os_type, "{address} in state: {v:#}");
    }
    for (label, id) in imported {
        let v = &tf.state_resource(&format!("ucloud_custom_image.{label}"))["values"];
        assert_eq!(v["id"], id.as_str(), "the same image after the apply");
    }
    tf.plan_code().expect_code(0);

    // The recorded arguments now behave as for any image: a new file is a new image.
    tf.write(
        "main.tf",
        &config(&|url| format!("{:?}", url.replace("/images/", "/images/v2/"))),
    );
    let actions = tf.planned_actions();
    for (label, _) in imported {
        let address = format!("ucloud_custom_image.{label}");
        assert_eq!(
            actions_of(&actions, &address),
            replace(),
            "{address}: a changed ufile_url after import"
        );
    }
    assert_eq!(sim.live_ids(), BTreeSet::from([a.clone(), b.clone(), c.clone()]));
}

/// Scenario 5: An `import {}` block adopts an existing image in the same apply
/// that records its configured arguments; no image is created or deleted.
#[test]
fn import_block_adopts_an_existing_image_and_records_its_configuration() {
    if !terraform_at_least("1.5", "import {} blocks") {
        return;
    }
    let sim = Sim::start(&["--making-time", "0s"]);
    let tf = workspace(&sim, 3);
    let id = image_made_out_of_band(
        &sim,
        &[
            ("Region", "cn-bj2"),
            ("ImageName", "imp-d"),
            ("UFileUrl", URL),
            ("Format", "qcow2"),
            ("OsType", "Other"),
            ("OsName", "Other"),
        ],
    );
    tf.write(
        "main.tf",
        &image("d", "imp-d", &[("os_type", "\"Other\""), ("os_name", "\"Other\"")]),
    );
    tf.write(
        "imports.tf",
        &format!("import {{\n  to = ucloud_custom_image.d\n  id = \"{id}\"\n}}\n"),
    );
    let applied = tf.apply();
    applied.expect_success();
    assert!(
        applied.stdout.contains("1 imported, 0 added,") && applied.stdout.contains(", 0 destroyed"),
        "{applied}"
    );
    let v = &tf.state_resource("ucloud_custom_image.d")["values"];
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["name"], "imp-d");
    assert_eq!(v["status"], "Available");
    assert_eq!(v["ufile_url"], URL, "{v:#}");
    assert_eq!(v["format"], "qcow2", "{v:#}");
    assert_eq!(v["os_type"], "Other", "{v:#}");

    tf.plan_code().expect_code(0);
    assert_eq!(
        sim.count_action("ImportCustomImage"),
        1,
        "importing never creates an image"
    );
    assert_eq!(sim.count_action("TerminateCustomImage"), 0);
    assert_eq!(sim.live_ids(), BTreeSet::from([id]));
}

/// Scenario 5: A malformed id and an id that does not exist fail clearly.
#[test]
fn import_of_a_malformed_or_missing_id_fails_clearly() {
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &image("x", "nothing", &[]));

    let malformed = tf.run(&["import", "ucloud_custom_image.x", "cn-bj2/image-123"]);
    assert_ne!(malformed.code, 0);
    assert!(malformed.stderr.contains("Invalid import id"), "{malformed}");
    assert!(
        malformed.stderr.contains("PROJECT_ID/REGION/uimage-xxxx"),
        "lists the accepted forms: {malformed}"
    );

    let missing = tf.run(&["import", "ucloud_custom_image.x", "uimage-doesnotexist"]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("non-existent remote object"), "{missing}");

    // A platform image exists but is not this resource's to manage (or delete).
    let base = tf.run(&["import", "ucloud_custom_image.x", "uimage-base-centos79"]);
    assert_ne!(base.code, 0);
    assert!(base.stderr.contains("Not a custom image"), "{base}");
    assert!(tf.state_resources().is_empty());
    assert_eq!(sim.count_action("ImportCustomImage"), 0);
    assert_eq!(sim.count_action("TerminateCustomImage"), 0);
}

/// Scenario 6: An import that ends `Unavailable` fails with the id and reason and
/// leaves nothing behind.
#[test]
fn failed_import_is_reported_and_deleted() {
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        &image("bad", "broken", &[("ufile_url", &format!("{CORRUPT_URL:?}"))]),
    );
    let out = tf.apply();
    assert_ne!(out.code, 0, "{out}");

    let imported = sim.images();
    assert_eq!(imported.len(), 1, "{imported:#?}");
    let id = imported[0]["ImageId"].as_str().expect("image id");
    assert!(out.stderr.contains("Custom image import failed"), "{out}");
    assert!(out.stderr.contains(id), "names the image: {out}");
    assert!(out.stderr.contains("Unavailable"), "names the state: {out}");
    assert!(out.stderr.contains("readable by UHost"), "says what to check: {out}");
    assert!(sim.live_ids().is_empty(), "the failed image was deleted");
    assert!(tf.state_resources().is_empty());
}

/// Scenario 7: A create timeout keeps the id (tainted); the next plan replaces it and
/// destroy deletes it, even while UCloud refuses to delete a `Making` image.
#[test]
fn create_timeout_keeps_the_image_tainted_and_destroy_removes_it() {
    let sim = Sim::start(&["--making-time", "4s", "--terminate-making", "reject"]);
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        &image("slow", "slow", &[("timeouts", "{\n    create = \"1s\"\n  }")]),
    );
    let out = tf.apply();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Timed out waiting for the custom image"), "{out}");

    let r = tf.state_resource("ucloud_custom_image.slow");
    assert_eq!(r["tainted"], true, "{r:#}");
    let id = r["values"]["id"].as_str().expect("id kept in state").to_string();
    assert_eq!(sim.live_ids(), BTreeSet::from([id.clone()]));
    assert!(out.stderr.contains(&id), "{out}");
    assert_eq!(tf.planned_actions().get("ucloud_custom_image.slow"), Some(&replace()));

    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty());
    assert!(tf.state_resources().is_empty());
}

/// Scenario 8: Ctrl-C while waiting for the import: same guarantee as a timeout.
#[test]
fn ctrl_c_during_the_wait_keeps_the_image_tainted_and_destroy_removes_it() {
    let sim = Sim::start(&["--making-time", "10m"]);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &image("waiting", "waiting", &[]));
    let child = tf.spawn(&["apply", "-auto-approve"]);

    // Interrupt once the provider is polling the image it imported.
    sim.wait_for_wait_after("ImportCustomImage");
    signal_group(&child, "INT");
    let out = child.wait_with_output().expect("terraform exits after Ctrl-C");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Custom image import interrupted"), "{stderr}");

    let r = tf.state_resource("ucloud_custom_image.waiting");
    assert_eq!(r["tainted"], true, "{r:#}");
    let id = r["values"]["id"].as_str().expect("id kept in state").to_string();
    assert_eq!(sim.live_ids(), BTreeSet::from([id]));

    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty());
}

/// Scenario 9: Twenty images against 30% injected faults and 10% lost answers: re-run
/// apply until it succeeds (at most 3 times); exactly twenty live images, all
/// in state; destroy leaves none.
#[test]
fn twenty_images_under_faults_and_lost_answers_end_with_exactly_twenty() {
    let sim = Sim::start(&[
        "--making-time",
        "500ms",
        "--fault-rate",
        "0.3",
        "--lost-response-rate",
        "0.1",
        "--seed",
        "5",
        "--quiet",
    ]);
    let tf = workspace(&sim, 8);
    tf.write(
        "main.tf",
        r#"resource "ucloud_custom_image" "fleet" {
  count     = 20
  name      = "fleet-${count.index}"
  ufile_url = "https://bucket.cn-bj.ufileos.com/images/fleet-${count.index}.raw"
  format    = "RAW"
  os_type   = "Ubuntu"
  os_name   = "Ubuntu 22.04 64位"
}
"#,
    );
    let runs = tf.succeed_within(&["apply", "-auto-approve"], 3);
    eprintln!("apply succeeded on run {runs} of at most 3");
    ucloud::assert_exactly_live(&tf, &sim, 20);
    assert!(
        sim.journal()
            .iter()
            .any(|e| e["Lost"] == true && e["Action"] == "ImportCustomImage"),
        "the run did exercise a lost import answer"
    );

    tf.succeed_within(&["destroy", "-auto-approve"], 3);
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
}

/// One invalid configuration: (label, attribute overrides, source line the
/// error points at, text in the message).
type InvalidCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// Scenario 10: Every invalid input fails at validate and plan, at the attribute, and
/// the simulator receives no request at all.
#[test]
fn invalid_inputs_fail_before_any_api_call() {
    let sim = Sim::start(&[]);
    let tf = workspace(&sim, 3);
    // (label, attribute overrides, source line the error points at, text in the message)
    let long_name = "n".repeat(64);
    let long = format!("{long_name:?}");
    let cases: Vec<InvalidCase> = vec![
        ("empty_name", vec![("name", "\"\"")], "name = \"\"", "must not be empty"),
        ("long_name", vec![("name", &long)], "name = \"nnnn", "at most 63"),
        (
            "ftp_url",
            vec![("ufile_url", "\"ftp://bucket.cn-bj.ufileos.com/c7.raw\"")],
            "ufile_url = \"ftp://",
            "http or https",
        ),
        (
            "no_path_url",
            vec![("ufile_url", "\"https://bucket.cn-bj.ufileos.com\"")],
            "ufile_url = \"https://bucket.cn-bj.ufileos.com\"",
            "no path",
        ),
        (
            "iso",
            vec![("format", "\"iso\"")],
            "format = \"iso\"",
            "RAW, VHD, VMDK, qcow2",
        ),
        ("no_os_type", vec![("os_type", "\"\"")], "os_type = \"\"", "platform"),
        ("no_os_name", vec![("os_name", "\"\"")], "os_name = \"\"", "version"),
        (
            "other_os",
            vec![("os_type", "\"Other\""), ("os_name", "\"Debian 12\"")],
            "os_name = \"Debian 12\"",
            "os_name = \"Other\"",
        ),
        (
            "no_auth",
            vec![("auth", "false")],
            "auth = false",
            "UCloud requires auth = true",
        ),
        (
            "bad_timeout",
            vec![("timeouts", "{\n    create = \"soon\"\n  }")],
            "create = \"soon\"",
            "not valid",
        ),
    ];
    let config: String = cases
        .iter()
        .map(|(label, attrs, _, _)| image(label, &format!("img-{label}"), attrs))
        .collect();
    tf.write("main.tf", &config);

    let out = tf.run(&["validate", "-json"]);
    assert_ne!(out.code, 0, "{out}");
    let report: Value = serde_json::from_str(&out.stdout).expect("validate -json output");
    let diags = report["diagnostics"].as_array().cloned().unwrap_or_default();
    for (label, _, line, says) in &cases {
        let found = diags.iter().any(|d| {
            d["severity"] == "error"
                && d["snippet"]["context"]
                    .as_str()
                    .is_some_and(|c| c.contains(&format!("\"{label}\"")))
                && d["snippet"]["code"].as_str().is_some_and(|c| c.contains(line))
                && format!(
                    "{} {}",
                    d["summary"].as_str().unwrap_or_default(),
                    d["detail"].as_str().unwrap_or_default()
                )
                .contains(says)
        });
        assert!(found, "{label}: no error at `{line}` saying {says:?} in {diags:#?}");
    }
    assert_eq!(
        diags.iter().filter(|d| d["severity"] == "error").count(),
        cases.len(),
        "one error per invalid input: {diags:#?}"
    );

    let planned = tf.run(&["plan"]);
    assert_ne!(planned.code, 0, "{planned}");
    assert!(planned.stderr.contains("UCloud requires auth = true"), "{planned}");
    assert!(
        sim.journal().is_empty(),
        "no request reached the API: {:#?}",
        sim.journal()
    );
}

/// Scenario 11: `terraform destroy` removes the image.
#[test]
fn destroy_removes_the_image() {
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &image("x", "short-lived", &[]));
    tf.apply().expect_success();
    assert_eq!(sim.live_ids().len(), 1);

    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty());
    assert!(tf.state_resources().is_empty());
    let terminates = sim.journal_of("TerminateCustomImage");
    assert!(
        terminates.iter().all(|e| e["SignatureValid"] == true) && !terminates.is_empty(),
        "{terminates:#?}"
    );
}

/// A provider block that depends on another resource is unknown while
/// planning: the plan still works, and apply configures it for real.
#[test]
fn provider_values_unknown_at_plan_time_do_not_break_the_plan() {
    // terraform_data is the one built-in resource that yields unknown values.
    if !terraform_at_least("1.4", "terraform_data") {
        return;
    }
    let sim = Sim::start(&["--making-time", QUICK_MAKING]);
    let tf = workspace(&sim, 3);
    // The region comes from a resource: unknown until that resource is applied.
    let provider = |region: &str| {
        let expression = "terraform_data.region.output";
        let settings = ProviderSettings {
            region_expression: Some(expression),
            ..ProviderSettings::with_sim_keys()
        };
        format!(
            "{}\nresource \"terraform_data\" \"region\" {{\n  input = \"{region}\"\n}}\n",
            settings.blocks(&sim.url)
        )
    };
    tf.write("provider.tf", &provider("cn-bj2"));
    tf.write("main.tf", &image("x", "late-region", &[]));

    tf.plan_code().expect_code(2);
    tf.apply().expect_success();
    assert_eq!(tf.state_resource("ucloud_custom_image.x")["values"]["region"], "cn-bj2");
    tf.plan_code().expect_code(0);

    // The provider's region becomes unknown again: the image is neither
    // refreshed nor moved, and stays where it is once the new region is known.
    tf.write("provider.tf", &provider("cn-sh2"));
    let actions = tf.planned_actions();
    assert_eq!(actions.get("ucloud_custom_image.x"), Some(&vec!["no-op".to_string()]));
    tf.apply().expect_success();
    assert_eq!(tf.state_resource("ucloud_custom_image.x")["values"]["region"], "cn-bj2");
    tf.plan_code().expect_code(0);
    assert_eq!(sim.count_action("ImportCustomImage"), 1);
}

/// `http://` to another machine is refused before any request: as the
/// provider's `base_url` at validate, as a new image's `ufile_url` at plan
/// (its check would send signed requests in clear). With `insecure_http`
/// both are allowed, with a warning.
#[test]
fn http_to_another_machine_is_refused_before_any_request() {
    let sim = Sim::start(&[]);
    let tf = workspace(&sim, 3);
    tf.write(
        "provider.tf",
        &ProviderSettings::with_sim_keys().blocks("http://api.example.com"),
    );
    tf.write("main.tf", &image("x", "clear", &[]));
    let out = tf.run(&["validate"]);
    assert_ne!(out.code, 0, "{out}");
    let said = flat(&out.stderr);
    assert!(
        said.contains("Invalid base_url") && said.contains("uses http:// to a host that is not this machine"),
        "{out}"
    );

    tf.write("provider.tf", &ProviderSettings::with_sim_keys().blocks(&sim.url));
    tf.write(
        "main.tf",
        &image(
            "x",
            "clear",
            &[("ufile_url", "\"http://bucket.cn-bj.ufileos.com/images/c7.qcow2\"")],
        ),
    );
    let out = tf.plan_code();
    out.expect_code(1);
    assert!(flat(&out.stderr).contains("Invalid ufile_url"), "{out}");
    assert_eq!(sim.count_action("ImportCustomImage"), 0);
    assert!(sim.object_requests().is_empty(), "no object read in clear");
}

/// A named pipe (FIFO) at `~/.ucloud/credential.json`, which would block
/// whoever opens it: with the key pair in the environment the file is not
/// needed and plan goes on at once; without it, plan fails saying what the
/// file is, instead of hanging.
#[test]
fn a_fifo_at_the_credential_path_neither_hangs_nor_matters_when_keys_are_set() {
    let sim = Sim::start(&[]);
    let mut tf = Terraform::new(PROVIDER);
    ucloud::isolate(&mut tf, POLL_MS);
    let fifo = tf.dir().join("home/.ucloud/credential.json");
    std::fs::create_dir_all(fifo.parent().expect("a parent")).expect("mkdir");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    tf.write("provider.tf", &ProviderSettings::default().blocks(&sim.url));
    tf.write("main.tf", &image("x", "fifo", &[]));

    let out = tf.plan_code();
    out.expect_code(1);
    assert!(
        flat(&out.stderr).contains("not a regular file but a named pipe (FIFO)"),
        "{out}"
    );

    tf.env("UCLOUD_PUBLIC_KEY", Sim::KEY_PUBLIC)
        .env("UCLOUD_PRIVATE_KEY", Sim::KEY_PRIVATE);
    tf.plan_code().expect_code(2);
}
