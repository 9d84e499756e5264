//! The check before an import (issue #13), as users meet it: the real
//! `terraform` against `ucloud-sim` serving a bucket directory (`--ufile-dir`)
//! of image files made from the checked-in headers of real `qemu-img` files.
//! Definite problems fail `terraform apply` fast, on the attribute, with no
//! ImportCustomImage; good files import, through a URL the provider presigned;
//! a check that cannot be made warns and the import goes on.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use test_support::images::fixture;
use test_support::sim::Sim;
use test_support::terraform::{Output, Terraform, flat};
use test_support::ucloud::{self, ProviderSettings};
use tpu::ucloud::Secret;
use tpu::ucloud::ufile::{Credentials, ObjectUrl};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");
const POLL_MS: u64 = 50;
/// The bucket every test's files are in.
const BUCKET: &str = "images";
/// How fast a definite problem must fail the whole `terraform apply`.
const FAST: Duration = Duration::from_secs(3);

/// A bucket directory for `--ufile-dir`, holding `BUCKET/KEY` files.
struct Objects {
    dir: tempfile::TempDir,
}

impl Objects {
    fn new(files: &[(&str, Vec<u8>)]) -> Objects {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects = Objects { dir };
        for (key, bytes) in files {
            let path = objects.path().join(BUCKET).join(key);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write object");
        }
        std::fs::create_dir_all(objects.path().join(BUCKET)).expect("bucket");
        objects
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn url(key: &str) -> String {
    format!("https://{BUCKET}.cn-bj.ufileos.com/{key}")
}

/// A simulator serving `objects`, its imports `Making` for 300 ms.
fn sim(objects: &Objects) -> Sim {
    let dir = objects.path().to_string_lossy().into_owned();
    Sim::start(&["--making-time", "300ms", "--ufile-dir", &dir])
}

fn workspace(sim: &Sim) -> Terraform {
    let settings = ProviderSettings {
        max_retries: Some(3),
        ..ProviderSettings::with_sim_keys()
    };
    ucloud::workspace(PROVIDER, &sim.url, settings, POLL_MS)
}

/// An image of `key` declared as `format`, with `extra` HCL lines.
fn image(label: &str, ufile_url: &str, format: &str, extra: &str) -> String {
    format!(
        "resource \"ucloud_custom_image\" \"{label}\" {{\n  name      = \"img-{label}\"\n  ufile_url = \"{ufile_url}\"\n  \
         format    = \"{format}\"\n  os_type   = \"CentOS\"\n  os_name   = \"CentOS 7.6 64位\"\n{extra}}}\n"
    )
}

/// `terraform apply -json`: its output lines, and how long it took.
fn apply_json(tf: &Terraform) -> (Output, Vec<Value>, Duration) {
    let started = Instant::now();
    let out = tf.run(&["apply", "-auto-approve", "-json"]);
    let took = started.elapsed();
    let lines = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    (out, lines, took)
}

/// The diagnostics of a `-json` run, but Terraform's own about the dev override.
fn diagnostics(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "diagnostic")
        .map(|l| l["diagnostic"].clone())
        .filter(|d| d["summary"] != "Provider development overrides are in effect")
        .collect()
}

/// The `Signature` a URL carries.
fn signature_of(u: &str) -> Option<String> {
    url::Url::parse(u)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "Signature")
        .map(|(_, v)| v.into_owned())
}

/// The one diagnostic of `severity` for resource `label`.
fn diagnostic_of<'a>(diags: &'a [Value], severity: &str, label: &str) -> &'a Value {
    let address = format!("ucloud_custom_image.{label}");
    let of: Vec<&Value> = diags
        .iter()
        .filter(|d| d["severity"] == severity && d["address"] == address.as_str())
        .collect();
    assert_eq!(of.len(), 1, "one {severity} for {address}: {diags:#?}");
    of[0]
}

fn imports(sim: &Sim) -> Vec<Value> {
    sim.journal()
        .into_iter()
        .filter(|e| e["Action"] == "ImportCustomImage")
        .collect()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// `url(key)` presigned for GET until `expires`, signed with `private`.
fn presign(key: &str, private: &str, expires: u64) -> String {
    let creds = Credentials::new(Sim::KEY_PUBLIC, Secret::new(private)).expect("a key pair");
    ObjectUrl::parse(&url(key), None)
        .expect("a UFile URL")
        .presigned_for_import(&creds, expires)
        .expose()
        .to_owned()
}

/// Issue #13, "done when": each definite problem fails the apply within 3 s,
/// on the attribute, and no import is made.
#[test]
fn definite_problems_fail_fast_on_the_attribute_without_an_import() {
    let mut truncated = fixture("qcow2-v3");
    truncated.truncate(4096);
    let objects = Objects::new(&[
        ("empty.raw", Vec::new()),
        ("c7.qcow2", fixture("qcow2-v3")),
        ("c7.qcow2.gz", fixture("gzip")),
        ("c7.tar", fixture("tar")),
        ("overlay.qcow2", fixture("qcow2-backing")),
        ("secret.qcow2", fixture("qcow2-luks")),
        ("disk.vmdk", fixture("vmdk-descriptor")),
        ("cut.qcow2", truncated),
    ]);
    let sim = sim(&objects);
    let tf = workspace(&sim);
    let hour = 3600;
    // (label, ufile_url, format, attribute, text of the error)
    let cases: Vec<(&str, String, &str, &str, &str)> = vec![
        (
            "missing",
            url("nope.qcow2"),
            "qcow2",
            "ufile_url",
            "does not exist in UFile (HTTP 404, RetCode -148654",
        ),
        ("empty", url("empty.raw"), "RAW", "ufile_url", "is empty"),
        (
            "wrong_format",
            url("c7.qcow2"),
            "RAW",
            "format",
            "but the file is a qcow2 image",
        ),
        ("gzip", url("c7.qcow2.gz"), "qcow2", "ufile_url", "decompress it first"),
        ("tar", url("c7.tar"), "qcow2", "ufile_url", "tar"),
        ("backing", url("overlay.qcow2"), "qcow2", "ufile_url", "backing file"),
        ("encrypted", url("secret.qcow2"), "qcow2", "ufile_url", "encrypted"),
        (
            "descriptor",
            url("disk.vmdk"),
            "VMDK",
            "ufile_url",
            "only a VMDK descriptor",
        ),
        ("truncated", url("cut.qcow2"), "qcow2", "ufile_url", "truncated"),
        (
            "bad_signature",
            presign("c7.qcow2", "not-the-key", now() + 2 * hour),
            "qcow2",
            "ufile_url",
            "refused the signature",
        ),
        (
            "expired",
            presign("c7.qcow2", Sim::KEY_PRIVATE, now() - 60),
            "qcow2",
            "ufile_url",
            "has expired",
        ),
        (
            "expires_too_soon",
            presign("c7.qcow2", Sim::KEY_PRIVATE, now() + 600),
            "qcow2",
            "ufile_url",
            "expires before the import could end",
        ),
    ];
    let config: String = cases
        .iter()
        .map(|(label, u, format, _, _)| image(label, u, format, ""))
        .collect();
    tf.write("main.tf", &config);

    let (out, lines, took) = apply_json(&tf);
    assert_ne!(out.code, 0, "{out}");
    assert!(took < FAST, "the apply took {took:?}");
    let diags = diagnostics(&lines);
    for (label, u, _, attribute, says) in &cases {
        let d = diagnostic_of(&diags, "error", label);
        let text = format!("{} {}", d["summary"], d["detail"]);
        assert!(text.contains(says), "{label}: {text:?} should say {says:?}");
        assert!(text.contains("No import was started"), "{label}: {text}");
        let code = d["snippet"]["code"].as_str().unwrap_or_default();
        assert!(
            code.trim_start().starts_with(attribute),
            "{label}: at {code:?}, not {attribute}"
        );
        if let Some(sig) = signature_of(u) {
            assert!(!text.contains(&sig), "{label}: the signature is shown in {text}");
        }
    }
    assert_eq!(imports(&sim), Vec::<Value>::new(), "no ImportCustomImage at all");
    let read = sim.object_requests();
    assert!(
        read.len() <= 3 * 9,
        "at most 3 object requests per checked file: {read:#?}"
    );
    assert!(tf.show_json()["values"].is_null(), "nothing in the state");
}

/// A good file of each format imports, through a presigned URL; its size is
/// in `source_size`; a GPT disk warns and imports.
#[test]
fn good_files_of_every_format_import_through_a_presigned_url() {
    let files = [
        ("c7.qcow2", "qcow2-v3", "qcow2"),
        ("old.qcow2", "qcow2-v2", "QCOW2"),
        ("sparse.vmdk", "vmdk-sparse", "VMDK"),
        ("stream.vmdk", "vmdk-stream", "vmdk"),
        ("fixed.vhd", "vhd-fixed", "VHD"),
        ("dynamic.vhd", "vhd-dynamic", "VHD"),
        ("mbr.raw", "raw-mbr", "RAW"),
        ("gpt.raw", "raw-gpt", "RAW"),
    ];
    let objects = Objects::new(&files.map(|(key, fixture_name, _)| (key, fixture(fixture_name))));
    let sim = sim(&objects);
    let mut tf = workspace(&sim);
    let log = tf.log_to_file("TRACE");
    let config: String = files
        .iter()
        .enumerate()
        .map(|(i, (key, _, format))| image(&format!("i{i}"), &url(key), format, ""))
        .collect();
    tf.write("main.tf", &config);
    let started = now();
    let (out, lines, _) = apply_json(&tf);
    assert_eq!(out.code, 0, "{out}");

    let diags = diagnostics(&lines);
    let gpt = diagnostic_of(&diags, "warning", "i7");
    assert!(gpt["summary"].as_str().is_some_and(|s| s.contains("GPT")), "{gpt:#}");
    let imports = imports(&sim);
    assert_eq!(imports.len(), files.len(), "{imports:#?}");
    let by_url: BTreeMap<String, &Value> = imports
        .iter()
        .map(|e| (e["Params"]["UFileUrl"].as_str().unwrap_or_default().to_string(), e))
        .collect();
    for (i, (key, fixture_name, _)) in files.iter().enumerate() {
        let (sent, _) = by_url
            .iter()
            .find(|(u, _)| u.starts_with(&format!("{}?", url(key))))
            .unwrap_or_else(|| panic!("{key}: no import of its URL in {by_url:#?}"));
        let sent = url::Url::parse(sent).expect("a URL");
        let q: BTreeMap<String, String> = sent.query_pairs().into_owned().collect();
        assert_eq!(
            q.get("UCloudPublicKey").map(String::as_str),
            Some(Sim::KEY_PUBLIC),
            "{key}"
        );
        let expires: u64 = q.get("Expires").and_then(|e| e.parse().ok()).expect("Expires");
        assert_eq!(
            q.get("Signature").map(String::as_str),
            Some("<redacted>"),
            "{key}: signed, and the journal does not show the signature"
        );
        // The signature the provider sent (the simulator checks it: the image
        // ends Available below), recomputed from the key pair and Expires.
        let signature = signature_of(&presign(key, Sim::KEY_PRIVATE, expires)).expect("a Signature");
        let logged = std::fs::read_to_string(&log).expect("the terraform log");
        assert!(
            !logged.contains(signature.as_str()),
            "{key}: the presigned URL's signature is in the log"
        );
        assert!(
            logged.contains(&format!("{}?***", url(key))),
            "the import's URL is logged, its query hidden"
        );
        // The create timeout is the default hour.
        assert!(
            (started + 3590..=now() + 3600).contains(&expires),
            "{key}: Expires={expires}"
        );

        let state = tf.show_json();
        let r = state["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["name"] == format!("i{i}")))
            .cloned()
            .unwrap_or_default();
        assert_eq!(r["values"]["status"], "Available", "{key}: {r:#}");
        assert_eq!(r["values"]["ufile_url"], url(key), "the state keeps the plain URL");
        assert_eq!(r["values"]["verify_source"], true);
        assert_eq!(
            r["values"]["source_size"].as_u64(),
            Some(fixture(fixture_name).len() as u64),
            "{key}"
        );
    }
    assert!(sim.object_requests().len() <= 3 * files.len());
    // A second plan is empty.
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);
}

/// The check cannot reach UFile: a warning saying why, and the import goes
/// on (the simulator's import still reads the real file).
#[test]
fn an_unreachable_ufile_endpoint_warns_and_the_import_goes_on() {
    let objects = Objects::new(&[("c7.qcow2", fixture("qcow2-v3"))]);
    let sim = sim(&objects);
    let closed = ucloud::closed_endpoint();
    let mut tf = Terraform::new(PROVIDER);
    ucloud::isolate(&mut tf, POLL_MS);
    let settings = ProviderSettings {
        ufile_base_url: Some(&closed),
        ..ProviderSettings::with_sim_keys()
    };
    tf.write("provider.tf", &ucloud::provider_tf(&sim.url, settings));
    tf.write("main.tf", &image("c7", &url("c7.qcow2"), "qcow2", ""));
    let (out, lines, _) = apply_json(&tf);
    assert_eq!(out.code, 0, "{out}");
    let diags = diagnostics(&lines);
    let w = diagnostic_of(&diags, "warning", "c7");
    let detail = w["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("Check skipped because cannot connect to"), "{detail}");
    assert!(detail.contains(&closed), "{detail}");
    assert_eq!(imports(&sim).len(), 1);
    assert!(sim.object_requests().is_empty());
    let state = tf.show_json();
    let v = &state["values"]["root_module"]["resources"][0]["values"];
    assert_eq!(v["status"], "Available");
    assert!(v["source_size"].is_null(), "unknown when the check was skipped: {v:#}");
}

/// `verify_source = false`: no object request, the import is made as asked.
#[test]
fn verify_source_false_skips_the_check() {
    let objects = Objects::new(&[("c7.qcow2", fixture("qcow2-v3"))]);
    let sim = sim(&objects);
    let tf = workspace(&sim);
    tf.write(
        "main.tf",
        &image("c7", &url("c7.qcow2"), "qcow2", "  verify_source = false\n"),
    );
    let (out, lines, _) = apply_json(&tf);
    assert_eq!(out.code, 0, "{out}");
    assert!(diagnostics(&lines).is_empty(), "{:#?}", diagnostics(&lines));
    assert!(sim.object_requests().is_empty(), "{:#?}", sim.object_requests());
    assert_eq!(imports(&sim).len(), 1);
    // Switching it on later changes nothing in UCloud: an in-place update.
    tf.write("main.tf", &image("c7", &url("c7.qcow2"), "qcow2", ""));
    let out = tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("1 to change, 0 to destroy"), "{out}");
}

/// A `ufile_url` with its own signature is sent as given, with a warning at
/// plan time that the state keeps it.
#[test]
fn a_signed_ufile_url_is_used_as_given() {
    let objects = Objects::new(&[("c7.qcow2", fixture("qcow2-v3"))]);
    let sim = sim(&objects);
    let tf = workspace(&sim);
    let signed = presign("c7.qcow2", Sim::KEY_PRIVATE, now() + 3 * 3600);
    tf.write("main.tf", &image("c7", &signed, "qcow2", ""));

    let plan = tf.run(&["plan", "-no-color"]);
    plan.expect_success();
    assert!(
        plan.stdout.contains("Signed ufile_url is stored in the state"),
        "{plan}"
    );
    let (out, _, _) = apply_json(&tf);
    assert_eq!(out.code, 0, "{out}");
    let imports = imports(&sim);
    assert_eq!(imports.len(), 1);
    let shown = url::Url::parse(imports[0]["Params"]["UFileUrl"].as_str().unwrap_or_default()).expect("a URL");
    let given = url::Url::parse(&signed).expect("a URL");
    let without_signature = |u: &url::Url| -> Vec<(String, String)> {
        u.query_pairs().into_owned().filter(|(k, _)| k != "Signature").collect()
    };
    assert_eq!(
        (shown.path(), without_signature(&shown)),
        (given.path(), without_signature(&given)),
        "sent as given: its own Expires, 3 h away, not one the provider would sign (the journal hides signatures)"
    );
    for r in sim.object_requests() {
        assert_eq!(r["Auth"], "url", "the check uses the URL's own signature: {r}");
    }
}

/// A state written before `verify_source` and `source_size` existed (schema
/// version 0) plans no change once this provider upgrades it.
#[test]
fn a_state_from_before_the_check_plans_no_change() {
    let objects = Objects::new(&[("c7.qcow2", fixture("qcow2-v3"))]);
    let sim = sim(&objects);
    let made = sim.sign_and_post(
        "ImportCustomImage",
        &[
            ("Region", "cn-bj2"),
            ("ImageName", "img-c7"),
            ("UFileUrl", &presign("c7.qcow2", Sim::KEY_PRIVATE, now() + 3600)),
            ("OsType", "CentOS"),
            ("OsName", "CentOS 7.6 64位"),
            ("Format", "qcow2"),
            ("Auth", "true"),
        ],
    );
    let id = made["ImageId"].as_str().expect("an image id").to_string();
    sim.wait_for_state(&id, "Available");
    let tf = workspace(&sim);
    tf.write("main.tf", &image_block("c7", &url("c7.qcow2")));
    let state = serde_json::json!({
        "version": 4,
        "terraform_version": "1.0.0",
        "serial": 1,
        "lineage": "5a1c2a7e-0000-4000-8000-000000000013",
        "outputs": {},
        "resources": [{
            "mode": "managed",
            "type": "ucloud_custom_image",
            "name": "c7",
            "provider": "provider[\"registry.terraform.io/ucloud-rs/ucloud\"]",
            "instances": [{
                "schema_version": 0,
                "attributes": {
                    "id": id, "name": "img-c7", "ufile_url": url("c7.qcow2"), "format": "qcow2",
                    "os_type": "CentOS", "os_name": "CentOS 7.6 64位", "description": null, "tag": "Default",
                    "auth": true, "region": "cn-bj2", "project_id": null, "status": "Available", "size": 20,
                    "create_time": "2026-01-01T00:00:00Z",
                    "features": ["NetEnhnced", "HotPlug", "CloudInit"], "timeouts": null
                },
                "sensitive_attributes": []
            }]
        }]
    });
    tf.write("terraform.tfstate", &state.to_string());
    let out = tf.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(out.code, 0, "no change: {out}");
    // An apply with nothing to do writes the upgraded state.
    tf.run(&["apply", "-auto-approve"]).expect_success();
    let v = &tf.show_json()["values"]["root_module"]["resources"][0]["values"];
    assert_eq!(v["verify_source"], true, "{v:#}");
    assert!(v["source_size"].is_null(), "{v:#}");
    assert!(imports(&sim).len() == 1 && sim.object_requests().is_empty());
}

/// The block [`image`] writes, for the one declared `qcow2`.
fn image_block(label: &str, ufile_url: &str) -> String {
    image(label, ufile_url, "qcow2", "")
}

/// A qcow2 whose backing-file name holds terminal escapes (set the window
/// title, clear the screen): the error names the file with those bytes
/// escaped, so neither Terraform's output nor its JSON carries a control
/// character, and no import is started.
#[test]
fn a_backing_file_name_with_terminal_escapes_reaches_the_diagnostic_escaped() {
    let name = b"base\x1b]0;pwned\x07\x1b[2J.qcow2";
    let mut bytes = fixture("qcow2-v3");
    bytes[8..16].copy_from_slice(&512u64.to_be_bytes());
    bytes[16..20].copy_from_slice(&u32::try_from(name.len()).expect("short").to_be_bytes());
    bytes[512..512 + name.len()].copy_from_slice(name);
    let objects = Objects::new(&[("escapes.qcow2", bytes)]);
    let sim = sim(&objects);
    let tf = workspace(&sim);
    tf.write("main.tf", &image("esc", &url("escapes.qcow2"), "qcow2", ""));

    let (out, lines, _) = apply_json(&tf);
    assert_ne!(out.code, 0, "{out}");
    let diags = diagnostics(&lines);
    let d = diagnostic_of(&diags, "error", "esc");
    let detail = d["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(r"base\x1b]0;pwned\x07\x1b[2J.qcow2"),
        "the name, escaped: {detail:?}"
    );
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stderr.contains('\u{1b}'),
        "{out:?}"
    );
    assert!(imports(&sim).is_empty());
}

/// `timeouts { create = "720h" }`: plan warns that the import URL lives a
/// day at most, and the URL the import sends expires within that day.
#[test]
fn a_month_long_create_timeout_still_signs_the_import_url_for_a_day() {
    let objects = Objects::new(&[("c7.qcow2", fixture("qcow2-v3"))]);
    let sim = sim(&objects);
    let tf = workspace(&sim);
    tf.write(
        "main.tf",
        &image(
            "c7",
            &url("c7.qcow2"),
            "qcow2",
            "  timeouts {\n    create = \"720h\"\n  }\n",
        ),
    );
    let plan = tf.run(&["plan"]);
    plan.expect_success();
    assert!(
        flat(&plan.stdout).contains("Import URL shorter-lived than the create timeout"),
        "{plan}"
    );

    let started = now();
    let (out, _, _) = apply_json(&tf);
    assert_eq!(out.code, 0, "{out}");
    let imports = imports(&sim);
    let sent = url::Url::parse(imports[0]["Params"]["UFileUrl"].as_str().unwrap_or_default()).expect("a URL");
    let expires: u64 = sent
        .query_pairs()
        .find(|(k, _)| k == "Expires")
        .and_then(|(_, v)| v.parse().ok())
        .expect("Expires");
    assert!(
        (started + 24 * 3600 - 10..=now() + 24 * 3600).contains(&expires),
        "Expires={expires}, a day after {started}"
    );
}
