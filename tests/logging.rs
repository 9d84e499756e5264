//! What a user sees in Terraform's own log (`TF_LOG`, `TF_LOG_PATH`) when the
//! real `terraform` drives the provider against `ucloud-sim`: one DEBUG line
//! per UCloud API call, attributed to the provider, carrying the action,
//! RetCode and request id (so a call can be matched with UCloud's records);
//! and, at TRACE, failing calls included, never the private key: not in the
//! log, not on the terminal, not in the state.

use std::path::{Path, PathBuf};

use test_support::sim::Sim;
use test_support::terraform::{Output, Terraform};
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

/// How Terraform prefixes lines read from this provider's stderr: the
/// provider's executable name (the dev override runs `terraform-provider-ucloud`).
const SOURCE: &str = "provider.terraform-provider-ucloud";
/// The message of the client's per-call log line.
const API_CALL: &str = "UCloud API call";
/// A working directory with an empty home (no shared UCloud files), a clean
/// UCloud environment and fast polling.
fn workspace() -> Terraform {
    let mut tf = Terraform::new(PROVIDER);
    ucloud::isolate(&mut tf, 50);
    tf
}

/// The `terraform` and provider blocks for `base_url`, with `keys` (public,
/// private) written into the provider block when given; no retries.
fn provider_tf(base_url: &str, keys: Option<(&str, &str)>) -> String {
    let settings = ProviderSettings {
        keys,
        max_retries: Some(0),
        ..ProviderSettings::default()
    };
    ucloud::provider_tf(base_url, settings)
}

/// A `ucloud_custom_image` importing `url`.
fn image(label: &str, url: &str) -> String {
    format!(
        "resource \"ucloud_custom_image\" \"{label}\" {{\n  name      = \"{label}\"\n  ufile_url = \"{url}\"\n  \
         format    = \"qcow2\"\n  os_type   = \"CentOS\"\n  os_name   = \"CentOS 7.6 64位\"\n}}\n"
    )
}

/// Points the log at a fresh file in the working directory, at `level` for
/// Terraform and the provider alike (`TF_LOG` only, as a user sets it).
fn log_at(tf: &mut Terraform, level: &str, name: &str) -> PathBuf {
    let path = tf.dir().join(name);
    tf.env("TF_LOG", level);
    tf.env_remove("TF_LOG_PROVIDER");
    tf.env("TF_LOG_PATH", &path.to_string_lossy());
    path
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The value of `key=` in a Terraform log line (values without spaces).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// The provider's API-call lines.
fn api_call_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(API_CALL)).collect()
}

#[test]
fn debug_log_names_the_provider_and_each_api_call_with_retcode_and_request_id() {
    let sim = Sim::start(&["--making-time", "200ms"]);
    let mut tf = workspace();
    tf.write(
        "main.tf",
        &(provider_tf(&sim.url, Some((Sim::KEY_PUBLIC, Sim::KEY_PRIVATE)))
            + &image("golden", "https://bucket.cn-bj.ufileos.com/images/golden.qcow2")),
    );
    let log_path = log_at(&mut tf, "debug", "debug.log");
    tf.run(&["apply", "-auto-approve"]).expect_success();
    let log = read(&log_path);

    let calls = api_call_lines(&log);
    assert!(!calls.is_empty(), "no `{API_CALL}` line in the debug log:\n{log}");
    for line in &calls {
        assert!(
            line.contains(&format!("[DEBUG] {SOURCE}: {API_CALL}")),
            "an API call line must be DEBUG and name the provider as its source: {line}"
        );
        assert!(field(line, "action").is_some(), "no action in: {line}");
        assert!(field(line, "ret_code").is_some(), "no RetCode in: {line}");
        assert!(field(line, "request_id").is_some(), "no request id in: {line}");
    }

    // Every request the simulator answered shows up in the log under its own request id,
    // with the action and RetCode the simulator recorded.
    let journal = sim.journal();
    assert!(
        journal.iter().any(|e| e["Action"] == "ImportCustomImage"),
        "{journal:?}"
    );
    assert!(journal.iter().any(|e| e["Action"] == "DescribeImage"), "{journal:?}");
    for entry in &journal {
        let id = entry["RequestId"].as_str().expect("journal entries carry a request id");
        let line = calls
            .iter()
            .find(|l| field(l, "request_id") == Some(id))
            .unwrap_or_else(|| panic!("request {id} ({entry}) is not in the debug log:\n{}", calls.join("\n")));
        assert_eq!(field(line, "action"), entry["Action"].as_str(), "{line}");
        assert_eq!(
            field(line, "ret_code").and_then(|c| c.parse::<i64>().ok()),
            entry["RetCode"].as_i64(),
            "{line}"
        );
    }

    // DEBUG means DEBUG: the provider's TRACE lines stay out.
    let trace = format!("[TRACE] {SOURCE}:");
    assert!(
        !log.contains(&trace),
        "TF_LOG=debug let provider TRACE lines through:\n{}",
        log.lines()
            .filter(|l| l.contains(&trace))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Panics, naming the place, if `secret` (or a recognisable part of it) occurs in `text`.
#[track_caller]
fn assert_absent(secret: &str, place: &str, text: &str) {
    let middle = &secret[secret.len() / 4..secret.len() * 3 / 4];
    for needle in [secret, middle] {
        if let Some(at) = text.find(needle) {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!("the private key leaks into {place}: {}", &text[start..end]);
        }
    }
}

/// Panics unless `out` failed, leaking nothing of `secret` on the terminal.
#[track_caller]
fn assert_failed_quietly(out: &Output, secret: &str, what: &str) {
    assert_ne!(out.code, 0, "{what} should fail\n{out}");
    assert_absent(secret, &format!("the stdout of {what}"), &out.stdout);
    assert_absent(secret, &format!("the stderr of {what}"), &out.stderr);
}

#[test]
fn trace_log_terminal_and_state_never_show_the_private_key() {
    const PUBLIC: &str = "trace-test-public";
    const PRIVATE: &str = "Kx7-q2Lm9-private-ZZ8vW3-rtk5";
    const WRONG: &str = "Wr0ng-9fPq-private-Hh2Tx6-mnb4";
    let sim = Sim::start(&["--making-time", "200ms", "--key", &format!("{PUBLIC}:{PRIVATE}")]);
    let mut tf = workspace();

    // 1. The key in the provider block: one import succeeds, one ends Unavailable.
    tf.write(
        "main.tf",
        &(provider_tf(&sim.url, Some((PUBLIC, PRIVATE)))
            + &image("good", "https://bucket.cn-bj.ufileos.com/images/good.qcow2")
            + &image("broken", "https://bucket.cn-bj.ufileos.com/corrupt/broken.qcow2")),
    );
    let first_log = log_at(&mut tf, "trace", "apply.log");
    let apply = tf.run(&["apply", "-auto-approve"]);
    assert_failed_quietly(&apply, PRIVATE, "an apply with a failed import");
    assert!(
        apply.stdout.contains("ucloud_custom_image.good: Creation complete"),
        "{apply}"
    );
    let log = read(&first_log);
    // The log is the provider's TRACE output, not an empty or Terraform-only file.
    assert!(
        log.contains(&format!("[TRACE] {SOURCE}:")) && log.contains(&format!("[DEBUG] {SOURCE}: {API_CALL}")),
        "the trace log lacks the provider's lines:\n{log}"
    );
    assert!(
        api_call_lines(&log)
            .iter()
            .any(|l| field(l, "action") == Some("ImportCustomImage")),
        "{log}"
    );
    assert_absent(PRIVATE, "the TRACE log of the apply", &log);

    // 2. The key from the environment, and the wrong one: every call is refused (RetCode 171).
    tf.write(
        "main.tf",
        &(provider_tf(&sim.url, None) + &image("good", "https://bucket.cn-bj.ufileos.com/images/good.qcow2")),
    );
    tf.env("UCLOUD_PUBLIC_KEY", PUBLIC);
    tf.env("UCLOUD_PRIVATE_KEY", WRONG);
    let second_log = log_at(&mut tf, "trace", "refused.log");
    let refused = tf.run(&["apply", "-auto-approve"]);
    assert_failed_quietly(&refused, WRONG, "an apply with a wrong private key");
    assert!(
        refused.stderr.contains("171"),
        "the error should carry UCloud's RetCode\n{refused}"
    );
    let log = read(&second_log);
    assert!(
        api_call_lines(&log).iter().any(|l| field(l, "ret_code") == Some("171")),
        "the refused call is not logged with its RetCode:\n{log}"
    );
    assert_absent(WRONG, "the TRACE log of the refused apply", &log);
    assert_absent(PRIVATE, "the TRACE log of the refused apply", &log);
    assert_absent(PRIVATE, "the stderr of the refused apply", &refused.stderr);

    // 3. The state keeps the images, never the key.
    let state = read(&tf.dir().join("terraform.tfstate"));
    assert!(
        state.contains("uimage-"),
        "the state should hold the imported image:\n{state}"
    );
    for file in ["terraform.tfstate", "terraform.tfstate.backup"] {
        let path = tf.dir().join(file);
        if path.exists() {
            let text = read(&path);
            assert_absent(PRIVATE, file, &text);
            assert_absent(WRONG, file, &text);
        }
    }
}

/// URLs in the provider's log lines keep no query, whatever its names: a
/// CDN's `auth_key` token and a percent-encoded `Sig%6Eature` never reach a
/// TRACE line, while the URLs themselves (scheme, host, path) do.
#[test]
fn no_query_of_an_image_url_reaches_the_providers_trace_log() {
    const TOKEN: &str = "cdn-token-7f3a9c";
    const SIGNATURE: &str = "c2lnbmF0dXJlLXNlY3JldA";
    let sim = Sim::start(&["--making-time", "200ms"]);
    let mut tf = workspace();
    let cdn = format!("https://cdn.example.com/images/a.qcow2?auth_key=1700000000-0-0-{TOKEN}");
    let encoded = format!(
        "https://bucket.cn-bj.ufileos.com/images/b.qcow2?UCloudPublicKey=pk&Expires=9999999999&Sig%6Eature={SIGNATURE}"
    );
    tf.write(
        "main.tf",
        &(provider_tf(&sim.url, Some((Sim::KEY_PUBLIC, Sim::KEY_PRIVATE)))
            + &image("cdn", &cdn)
            + &image("encoded", &encoded)),
    );
    let path = log_at(&mut tf, "trace", "apply.log");
    let apply = tf.run(&["apply", "-auto-approve"]);
    apply.expect_success();
    let log = read(&path);
    let provider_lines: Vec<&str> = log.lines().filter(|l| l.contains(&format!("{SOURCE}:"))).collect();
    let provider_lines = provider_lines.join("\n");
    assert!(
        provider_lines.contains("https://cdn.example.com/images/a.qcow2?***"),
        "the URL is logged, its query hidden:\n{provider_lines}"
    );
    assert_absent(TOKEN, "the provider's TRACE lines", &provider_lines);
    assert_absent(SIGNATURE, "the provider's TRACE lines", &provider_lines);
}
