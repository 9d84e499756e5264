//! Image pipelines as users drive them (issue #11): `ucloud_custom_image_copy`
//! and the image data sources, through the real `terraform` CLI against
//! `ucloud-sim`. Each test has its own working directory and simulator and
//! asserts on `terraform show -json`, outputs, and the simulator's record of
//! images and requests. The numbers in the test docs are the issue's "Done
//! when" items.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use test_support::sim::Sim;
use test_support::terraform::{Terraform, flat, replace, signal_group};
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

/// First poll delay for the provider (`UCLOUD_POLL_INTERVAL_MS`).
const POLL_MS: u64 = 50;
/// The provider's default project in these tests; copies need one.
const PROJECT: &str = "org-a";
/// Another project, for copies across projects.
const OTHER_PROJECT: &str = "org-b";
/// Where images are imported.
const HOME_REGION: &str = "cn-bj2";
/// The URL the source images import from.
const URL: &str = "https://bucket.cn-bj.ufileos.com/images/c7.qcow2";
/// Fast imports and copies for tests that do not need them slow.
const QUICK: [&str; 4] = ["--making-time", "300ms", "--copy-time", "300ms"];

/// The provider's settings in these tests: cn-bj2, project org-a.
fn settings(max_retries: u32) -> ProviderSettings<'static> {
    ProviderSettings {
        region: Some(HOME_REGION),
        project_id: Some(PROJECT),
        max_retries: Some(max_retries),
        ..ProviderSettings::with_sim_keys()
    }
}

/// A working directory whose provider talks to `sim` in cn-bj2, project org-a.
fn workspace(sim: &Sim, max_retries: u32) -> Terraform {
    ucloud::workspace(PROVIDER, &sim.url, settings(max_retries), POLL_MS)
}

/// The source image every copy test starts from, in cn-bj2 / org-a.
fn source_image() -> String {
    format!(
        r#"resource "ucloud_custom_image" "src" {{
  name        = "centos-7-golden"
  description = "golden image"
  ufile_url   = "{URL}"
  format      = "qcow2"
  os_type     = "CentOS"
  os_name     = "CentOS 7.6 64位"
}}
"#
    )
}

/// A copy of the source image with `attrs` (HCL) in its block.
fn copy(label: &str, attrs: &str) -> String {
    format!(
        "resource \"ucloud_custom_image_copy\" \"{label}\" {{\n  source_image_id = ucloud_custom_image.src.id\n{attrs}}}\n"
    )
}

/// The source image and two copies: `sh` in cn-sh2, `team_b` in another
/// project of cn-bj2 (with `team_b_extra` HCL lines).
fn source_and_two_copies(team_b_extra: &str) -> String {
    [
        source_image(),
        copy("sh", "  region = \"cn-sh2\"\n  source_region = \"cn-bj2\"\n"),
        copy(
            "team_b",
            &format!("  project_id = \"{OTHER_PROJECT}\"\n  source_project_id = \"{PROJECT}\"\n{team_b_extra}"),
        ),
    ]
    .concat()
}

/// The API calls that change something.
fn writes(sim: &Sim) -> usize {
    ["ImportCustomImage", "CopyCustomImage", "TerminateCustomImage"]
        .iter()
        .map(|a| sim.count_action(a))
        .sum()
}

/// The file check before each import of these tests goes to the simulator,
/// never to the UFile host in the image's URL: the simulator records one
/// object request per probe of the source's object, and the import still
/// happens (the simulator serves no objects here, so the check is skipped with
/// a warning that says so).
#[test]
fn the_file_checks_of_these_tests_reach_the_simulator() {
    let sim = Sim::start(&QUICK);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &source_image());
    let out = tf.apply();
    out.expect_success();

    let requests = sim.object_requests();
    assert!(!requests.is_empty(), "no object request reached the simulator\n{out}");
    for r in &requests {
        assert_eq!(
            (r["Bucket"].as_str(), r["Key"].as_str()),
            (Some("bucket"), Some("images/c7.qcow2")),
            "{r:#}"
        );
    }
    assert!(
        flat(&out.stdout).contains("ucloud-sim serves no UFile objects"),
        "the skipped check names the simulator's answer:\n{out}"
    );
    assert_eq!(sim.count_action("ImportCustomImage"), 1);
}

/// 1: an import and two copies (another region; another project in the same
/// region): each copy Available where it belongs, exactly one
/// CopyCustomImage per copy, an empty second plan, and nothing left anywhere
/// after destroy.
#[test]
fn an_import_and_two_copies_land_in_their_targets_and_destroy_leaves_nothing() {
    let sim = Sim::start(&QUICK);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &source_and_two_copies("  tag = \"golden\"\n"));
    tf.apply().expect_success();

    let copies = sim.journal_of("CopyCustomImage");
    assert_eq!(copies.len(), 2, "exactly one CopyCustomImage per copy: {copies:#?}");
    assert!(
        copies.iter().all(|c| c["Lost"] == false && c["RetCode"] == 0),
        "{copies:#?}"
    );
    let src = tf.state_id("ucloud_custom_image.src");
    for (label, region, project) in [("sh", "cn-sh2", PROJECT), ("team_b", HOME_REGION, OTHER_PROJECT)] {
        let v = &tf.state_resource(&format!("ucloud_custom_image_copy.{label}"))["values"];
        let id = v["id"].as_str().expect("copy id");
        assert_ne!(id, src);
        assert_eq!(v["status"], "Available", "{label}: {v:#}");
        assert_eq!(
            (v["region"].as_str(), v["project_id"].as_str()),
            (Some(region), Some(project))
        );
        assert_eq!(v["source_image_id"], src.as_str());
        assert_eq!(
            (v["source_region"].as_str(), v["source_project_id"].as_str()),
            (Some(HOME_REGION), Some(PROJECT))
        );
        assert_eq!(v["name"], "centos-7-golden", "the source's name by default");
        assert_eq!(v["description"], "golden image", "the source's description by default");
        let img = sim.image(id).expect("the copy exists");
        assert_eq!(
            (img["Region"].as_str(), img["ProjectId"].as_str()),
            (Some(region), Some(project))
        );
        assert_eq!(img["State"], "Available");
        assert_eq!(img["CopiedFrom"], src.as_str());
    }
    let sent = copies
        .iter()
        .find(|c| c["Params"]["TargetProjectId"] == OTHER_PROJECT)
        .expect("the cross-project copy");
    assert_eq!(sent["Params"]["TargetImageTag"], "golden");
    assert_eq!(sent["Params"]["Region"], HOME_REGION);
    assert_eq!(sent["Params"]["ProjectId"], PROJECT);

    tf.plan_code().expect_code(0);
    assert_eq!(sim.count_action("CopyCustomImage"), 2, "plans never copy");

    tf.destroy().expect_success();
    assert!(
        sim.live_ids().is_empty(),
        "nothing left in any region or project: {:#?}",
        sim.live_images()
    );
    assert!(tf.state_resources().is_empty());
}

/// 2a: a copy whose wait times out is kept tainted in the state; the next
/// plan replaces it and destroy removes it (UCloud refuses to delete it while
/// it is still copying, which the delete waits out).
#[test]
fn a_copy_that_times_out_is_tainted_and_destroy_removes_it() {
    let sim = Sim::start(&[
        "--making-time",
        "300ms",
        "--copy-time",
        "6s",
        "--terminate-making",
        "reject",
    ]);
    let tf = workspace(&sim, 3);
    let slow = copy(
        "slow",
        "  region = \"cn-sh2\"\n  source_region = \"cn-bj2\"\n  timeouts {\n    create = \"3s\"\n  }\n",
    );
    tf.write("main.tf", &[source_image(), slow].concat());
    let out = tf.apply();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Timed out waiting for the image copy"), "{out}");

    let r = tf.state_resource("ucloud_custom_image_copy.slow");
    assert_eq!(r["tainted"], true, "{r:#}");
    let id = r["values"]["id"].as_str().expect("id kept in state").to_string();
    assert!(out.stderr.contains(&id), "names the copy: {out}");
    assert_eq!(r["values"]["status"], "Copying");
    assert!(sim.live_ids().contains(&id));
    assert_eq!(sim.count_action("CopyCustomImage"), 1);
    let actions = tf.planned_actions();
    assert_eq!(actions.get("ucloud_custom_image_copy.slow"), Some(&replace()));

    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
}

/// 2b: Ctrl-C while the provider waits for a copy: apply fails, and every
/// copy that exists is held by the state (tainted), so destroy removes it.
#[test]
fn ctrl_c_during_the_copy_wait_leaves_no_copy_the_state_does_not_hold() {
    let sim = Sim::start(&["--making-time", "300ms", "--copy-time", "10m"]);
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        &[
            source_image(),
            copy("waiting", "  region = \"cn-sh2\"\n  source_region = \"cn-bj2\"\n"),
        ]
        .concat(),
    );
    let child = tf.spawn(&["apply", "-auto-approve"]);
    sim.wait_for_wait_after("CopyCustomImage");
    signal_group(&child, "INT");
    let out = child.wait_with_output().expect("terraform exits after Ctrl-C");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Custom image copy interrupted"), "{stderr}");

    let r = tf.state_resource("ucloud_custom_image_copy.waiting");
    assert_eq!(r["tainted"], true, "{r:#}");
    let live = sim.live_ids();
    assert_eq!(live.len(), 2, "the source and one copy: {live:?}");
    assert!(live.is_subset(&tf.state_ids()), "every image is in the state: {live:?}");

    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty());
}

/// A copy UCloud fails (it ends `Unavailable`) is deleted again, and the
/// error names it, its last state and the time it took.
#[test]
fn a_copy_that_ends_unavailable_is_deleted_and_reported() {
    let sim = Sim::start(&QUICK);
    let tf = workspace(&sim, 3);
    let fragile = source_image().replace("/images/c7.qcow2", "/corrupt-copy/c7.qcow2");
    tf.write(
        "main.tf",
        &[
            fragile,
            copy("sh", "  region = \"cn-sh2\"\n  source_region = \"cn-bj2\"\n"),
        ]
        .concat(),
    );
    let out = tf.apply();
    assert_ne!(out.code, 0, "{out}");
    let copies: Vec<Value> = sim.images().into_iter().filter(|i| i["Region"] == "cn-sh2").collect();
    assert_eq!(copies.len(), 1, "{copies:#?}");
    let id = copies[0]["ImageId"].as_str().expect("copy id");
    let said = flat(&out.stderr);
    assert!(said.contains("Custom image copy failed"), "{out}");
    assert!(
        said.contains(id) && said.contains("Unavailable"),
        "names the copy and its state: {out}"
    );
    assert!(said.contains(" after "), "says how long it took: {out}");
    assert!(said.contains("nothing is left behind"), "{out}");
    assert_eq!(copies[0]["Deleted"], true, "the failed copy was deleted");
    let addresses: Vec<String> = tf
        .state_resources()
        .iter()
        .filter_map(|r| r["address"].as_str().map(str::to_string))
        .collect();
    assert_eq!(addresses, ["ucloud_custom_image.src"], "no copy in the state");
}

/// A source that is not Available (still being imported elsewhere) fails the
/// copy before any CopyCustomImage call, naming `source_image_id`.
#[test]
fn a_source_that_is_not_available_fails_before_any_copy_call() {
    let sim = Sim::start(&["--making-time", "10m"]);
    let making = import_directly(&sim, "still-importing");
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        &format!(
            "resource \"ucloud_custom_image_copy\" \"sh\" {{\n  source_image_id = \"{making}\"\n  source_region   = \"cn-bj2\"\n  region          = \"cn-sh2\"\n}}\n"
        ),
    );
    let out = tf.apply();
    assert_ne!(out.code, 0, "{out}");
    let said = flat(&out.stderr);
    assert!(said.contains("Source image not available"), "{out}");
    assert!(said.contains(&format!("source_image_id {making} is Making")), "{out}");
    assert!(
        out.stderr.contains("source_image_id = "),
        "points at the argument: {out}"
    );
    assert_eq!(sim.count_action("CopyCustomImage"), 0, "nothing was copied");
    assert!(tf.state_resources().is_empty());
}

/// 3a: the answer to CopyCustomImage is lost after the copy was made: the
/// provider finds the copy in the target and adopts it, and copies once.
#[test]
fn a_copy_whose_answer_is_lost_is_adopted_not_made_twice() {
    let sim = Sim::start(&[&QUICK[..], &["--lose-answers", "CopyCustomImage:1"]].concat());
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        &[
            source_image(),
            copy("sh", "  region = \"cn-sh2\"\n  source_region = \"cn-bj2\"\n"),
        ]
        .concat(),
    );
    tf.apply().expect_success();

    let copies = sim.journal_of("CopyCustomImage");
    assert_eq!(copies.len(), 1, "copied once: {copies:#?}");
    assert_eq!(copies[0]["Lost"], true, "the answer was lost: {copies:#?}");
    let id = tf.state_id("ucloud_custom_image_copy.sh");
    let in_sh: Vec<Value> = sim
        .live_images()
        .into_iter()
        .filter(|i| i["Region"] == "cn-sh2")
        .collect();
    assert_eq!(in_sh.len(), 1, "{in_sh:#?}");
    assert_eq!(
        in_sh[0]["ImageId"],
        id.as_str(),
        "the copy made by the lost call is the one in state"
    );
    tf.plan_code().expect_code(0);
}

/// 3b: ten copies under 30 % injected faults (and some lost answers)
/// converge in at most three applies, one copy each, all in the state.
#[test]
fn ten_copies_under_faults_converge_without_duplicates() {
    let sim = Sim::start(&[
        "--making-time",
        "300ms",
        "--copy-time",
        "500ms",
        "--fault-rate",
        "0.3",
        "--lost-response-rate",
        "0.1",
        // And certainly one lost copy answer, whatever the draws.
        "--lose-answers",
        "CopyCustomImage:1",
        "--seed",
        "11",
        "--quiet",
    ]);
    let tf = workspace(&sim, 8);
    let fleet = r#"resource "ucloud_custom_image_copy" "fleet" {
  count           = 10
  source_image_id = ucloud_custom_image.src.id
  source_region   = "cn-bj2"
  region          = "cn-sh2"
  name            = "fleet-${count.index}"
}
"#;
    tf.write("main.tf", &[source_image(), fleet.to_string()].concat());
    let runs = tf.succeed_within(&["apply", "-auto-approve"], 3);
    eprintln!("apply succeeded on run {runs} of at most 3");

    let copies: Vec<Value> = sim
        .live_images()
        .into_iter()
        .filter(|i| i["Region"] == "cn-sh2")
        .collect();
    let names: BTreeSet<String> = copies
        .iter()
        .filter_map(|i| i["ImageName"].as_str().map(str::to_string))
        .collect();
    assert_eq!(copies.len(), 10, "no duplicates: {copies:#?}");
    assert_eq!(names.len(), 10, "one copy per name");
    assert_eq!(sim.live_ids(), tf.state_ids(), "every live image is in the state");
    let journal = sim.journal();
    let faulted = journal.iter().filter(|e| e["Fault"] != Value::Null).count();
    let copy_calls: Vec<&Value> = journal.iter().filter(|e| e["Action"] == "CopyCustomImage").collect();
    let lost_copies = copy_calls.iter().filter(|e| e["Lost"] == true).count();
    let faulted_copies = copy_calls.iter().filter(|e| e["Fault"] != Value::Null).count();
    eprintln!(
        "{} requests, {faulted} faulted; {} CopyCustomImage calls, {faulted_copies} faulted, {lost_copies} lost",
        journal.len(),
        copy_calls.len()
    );
    assert!(
        faulted > 0 && lost_copies > 0,
        "the run exercised faults and a lost copy answer"
    );

    tf.succeed_within(&["destroy", "-auto-approve"], 3);
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
}

/// Creates a custom image straight through the API (not Terraform).
fn import_directly(sim: &Sim, name: &str) -> String {
    let answer = sim.sign_and_post(
        "ImportCustomImage",
        &[
            ("Region", HOME_REGION),
            ("ProjectId", PROJECT),
            ("ImageName", name),
            ("UFileUrl", URL),
            ("OsType", "CentOS"),
            ("OsName", "CentOS 7.6 64位"),
            ("Format", "qcow2"),
            ("Auth", "true"),
        ],
    );
    answer["ImageId"]
        .as_str()
        .unwrap_or_else(|| panic!("no ImageId in {answer}"))
        .to_string()
}

/// 4: `ucloud_custom_image` finds the newest of three images named alike
/// with `most_recent`, fails clearly on several matches without it and on
/// none, and finds a platform image with `image_type = "Base"`.
#[test]
fn the_image_data_source_picks_the_newest_refuses_ambiguity_and_finds_base_images() {
    let sim = Sim::start(&["--making-time", "0s"]);
    let mut ids = Vec::new();
    for i in 0..3 {
        if i > 0 {
            // Creation times are whole seconds.
            std::thread::sleep(Duration::from_millis(1100));
        }
        ids.push(import_directly(&sim, "web-build"));
    }
    import_directly(&sim, "api-build");
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        r#"data "ucloud_custom_image" "newest" {
  name        = "web-build"
  most_recent = true
}

data "ucloud_custom_image" "ubuntu" {
  image_type = "Base"
  name_regex = "^Ubuntu"
}

output "newest" {
  value = data.ucloud_custom_image.newest
}

output "ubuntu" {
  value = data.ucloud_custom_image.ubuntu.id
}
"#,
    );
    tf.apply().expect_success();
    let out = tf.run(&["output", "-json"]);
    out.expect_success();
    let outputs: Value = serde_json::from_str(&out.stdout).expect("outputs");
    let newest = &outputs["newest"]["value"];
    assert_eq!(newest["id"], ids[2].as_str(), "the last of the three: {newest:#}");
    assert_eq!(newest["os_family"], "Linux");
    assert_eq!(newest["status"], "Available");
    assert_eq!(newest["region"], HOME_REGION);
    assert_eq!(newest["project_id"], PROJECT);
    assert_eq!(outputs["ubuntu"]["value"], "uimage-base-ubuntu2204");

    tf.write(
        "main.tf",
        "data \"ucloud_custom_image\" \"web\" {\n  name = \"web-build\"\n}\n",
    );
    let several = tf.run(&["plan"]);
    assert_ne!(several.code, 0, "{several}");
    let said = flat(&several.stderr);
    assert!(said.contains("Several images match"), "{several}");
    assert!(said.contains("3 images match"), "says how many: {several}");
    assert!(said.contains("set most_recent = true"), "says how to narrow: {several}");
    for id in &ids {
        assert!(said.contains(id.as_str()), "lists {id}: {several}");
    }

    tf.write(
        "main.tf",
        "data \"ucloud_custom_image\" \"none\" {\n  name_regex = \"^db-\"\n}\n",
    );
    let none = tf.run(&["plan"]);
    assert_ne!(none.code, 0, "{none}");
    let said = flat(&none.stderr);
    assert!(said.contains("No image matches"), "{none}");
    assert!(
        said.contains("4 Custom images are there in all"),
        "says how many were looked at: {none}"
    );
    assert_eq!(writes(&sim), 4, "data sources only read");
}

/// 4: `ucloud_custom_images` pages through DescribeImage until TotalCount:
/// all of 150 images come back, newest first.
#[test]
fn the_images_data_source_returns_all_of_150_images_newest_first() {
    let sim = Sim::start(&["--making-time", "0s", "--quiet"]);
    let mut made = BTreeSet::new();
    for i in 0..150 {
        made.insert(import_directly(&sim, &format!("bulk-{i:03}")));
    }
    import_directly(&sim, "other");
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        r#"data "ucloud_custom_images" "bulk" {
  name_regex = "^bulk-"
}

output "ids" {
  value = data.ucloud_custom_images.bulk.ids
}

output "images" {
  value = data.ucloud_custom_images.bulk.images
}
"#,
    );
    tf.apply().expect_success();
    let out = tf.run(&["output", "-json"]);
    out.expect_success();
    let outputs: Value = serde_json::from_str(&out.stdout).expect("outputs");
    let ids: Vec<String> = outputs["ids"]["value"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 150);
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), made, "every one of them");
    let images = outputs["images"]["value"].as_array().expect("images");
    let times: Vec<&str> = images.iter().filter_map(|i| i["create_time"].as_str()).collect();
    assert_eq!(times.len(), 150);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let listed: Vec<&str> = images.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(
        listed,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "ids in the order of images"
    );
    let pages: Vec<String> = sim
        .journal_of("DescribeImage")
        .iter()
        .filter_map(|e| e["Params"]["Offset"].as_str().map(str::to_string))
        .collect();
    assert!(pages.contains(&"100".to_string()), "a second page was read: {pages:?}");
}

/// 5: `terraform import` of copies in both id forms; the matching
/// configuration then plans an in-place update (no replacement), one apply
/// makes no API write, and the next plan is empty.
#[test]
fn imported_copies_take_their_source_from_the_configuration_in_place() {
    let sim = Sim::start(&QUICK);
    let tf = workspace(&sim, 3);
    tf.write("main.tf", &source_and_two_copies(""));
    tf.apply().expect_success();
    let sh = tf.state_id("ucloud_custom_image_copy.sh");
    let team_b = tf.state_id("ucloud_custom_image_copy.team_b");
    for label in ["sh", "team_b"] {
        tf.run(&["state", "rm", &format!("ucloud_custom_image_copy.{label}")])
            .expect_success();
    }
    let before = writes(&sim);

    tf.run(&["import", "ucloud_custom_image_copy.sh", &format!("cn-sh2/{sh}")])
        .expect_success();
    tf.run(&[
        "import",
        "ucloud_custom_image_copy.team_b",
        &format!("{OTHER_PROJECT}/{HOME_REGION}/{team_b}"),
    ])
    .expect_success();
    let imported = tf.state_resource("ucloud_custom_image_copy.sh");
    assert_eq!(
        imported["values"]["source_image_id"],
        Value::Null,
        "UCloud cannot tell the source"
    );
    assert_eq!(imported["values"]["name"], "centos-7-golden");

    let actions = tf.planned_actions();
    for label in ["sh", "team_b"] {
        assert_eq!(
            actions.get(&format!("ucloud_custom_image_copy.{label}")),
            Some(&vec!["update".to_string()]),
            "{label}: an in-place update, not a replacement: {actions:?}"
        );
    }
    let applied = tf.apply();
    applied.expect_success();
    assert!(applied.stdout.contains("0 added, 2 changed, 0 destroyed"), "{applied}");
    assert_eq!(writes(&sim), before, "the update is state-only: no API write");
    let src = tf.state_id("ucloud_custom_image.src");
    for (label, id) in [("sh", &sh), ("team_b", &team_b)] {
        let v = &tf.state_resource(&format!("ucloud_custom_image_copy.{label}"))["values"];
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["source_image_id"], src.as_str());
        assert_eq!(
            (v["source_region"].as_str(), v["source_project_id"].as_str()),
            (Some(HOME_REGION), Some(PROJECT))
        );
    }
    tf.plan_code().expect_code(0);
}

/// Plan-time refusals of the copy and the data sources: no API call made.
#[test]
fn invalid_copies_and_lookups_fail_before_any_api_call() {
    let sim = Sim::start(&[]);
    let tf = workspace(&sim, 3);
    tf.write(
        "main.tf",
        r#"resource "ucloud_custom_image_copy" "onto_itself" {
  source_image_id = "uimage-abc"
}

resource "ucloud_custom_image_copy" "bad_id" {
  source_image_id = "image-abc"
  region          = "cn-sh2"
}

resource "ucloud_custom_image_copy" "empty_name" {
  source_image_id = "uimage-abc"
  region          = "cn-sh2"
  name            = ""
}

data "ucloud_custom_image" "both" {
  name       = "web"
  name_regex = "^web"
}
"#,
    );
    let out = tf.run(&["validate"]);
    assert_ne!(out.code, 0, "{out}");
    for says in [
        "Copy onto itself",
        "\"image-abc\" is not a UCloud image id",
        "name must not be empty",
        "not both",
    ] {
        assert!(flat(&out.stderr).contains(says), "{says:?} in {out}");
    }
    assert!(sim.journal().is_empty(), "{:#?}", sim.journal());
}

/// 6: the pipeline example applies end to end from the build's local
/// files: two uploads and imports, two copies, one lookup, an output map of
/// three `uimage-` ids in three regions, and no staged file left in UFile.
#[test]
fn the_pipeline_example_applies_end_to_end() {
    let buckets = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(buckets.path().join("build-artifacts")).expect("bucket");
    let dir = buckets.path().to_string_lossy().into_owned();
    let mut args = QUICK.to_vec();
    args.extend(["--ufile-dir", dir.as_str()]);
    let sim = Sim::start(&args);
    let mut tf = Terraform::new(PROVIDER);
    ucloud::isolate(&mut tf, POLL_MS);
    // The example's provider block leaves the settings to the environment.
    ProviderSettings::with_sim_keys().set_env(&mut tf, &sim.url);
    tf.copy_in(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/image-pipeline"));
    std::fs::create_dir_all(tf.dir().join("output")).expect("mkdir");
    for (name, seed) in [("base", 1), ("app", 2)] {
        test_support::images::write_qcow2(&tf.dir().join(format!("output/{name}.qcow2")), 3 << 20, seed);
    }
    tf.run(&["get"]).expect_success();
    tf.apply().expect_success();
    assert!(sim.ufile_objects().is_empty(), "{:#?}", sim.ufile_objects());

    let out = tf.run(&["output", "-json", "app_image_ids"]);
    out.expect_success();
    let ids: BTreeMap<String, String> = serde_json::from_str(&out.stdout).expect("a region -> id map");
    assert_eq!(
        ids.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cn-bj2", "cn-sh2", "hk"],
        "{ids:?}"
    );
    for (region, id) in &ids {
        assert!(id.starts_with("uimage-"), "{region}: {id}");
        let img = sim.image(id).unwrap_or_else(|| panic!("{id} exists"));
        assert_eq!(img["Region"], region.as_str(), "{img:#}");
        assert_eq!(img["State"], "Available");
        assert_eq!(img["ImageName"], "app-build-1842");
    }
    assert_eq!(sim.count_action("ImportCustomImage"), 2, "base and app imported once");
    assert_eq!(
        sim.count_action("CopyCustomImage"),
        2,
        "the app image copied into two regions"
    );
    tf.plan_code().expect_code(0);

    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
}
