//! Issue #14 end to end, with the real `terraform`: an ImportCustomImage
//! answered `RetCode 0` without its `ImageId` (a broken gateway) never puts
//! an empty id in the state. Where the image was made, the provider adopts
//! it by name and creation time; where it was not, the apply fails and the
//! state holds nothing.

use serde_json::Value;
use test_support::scripted::{Reply, ScriptedServer};
use test_support::sim::Sim;
use test_support::terraform::Terraform;
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");
const POLL_MS: u64 = 50;

fn config(name: &str) -> String {
    format!(
        "resource \"ucloud_custom_image\" \"x\" {{\n  name      = \"{name}\"\n  ufile_url = \
         \"https://bucket.cn-bj.ufileos.com/images/c7.qcow2\"\n  format    = \"qcow2\"\n  os_type   = \
         \"CentOS\"\n  os_name   = \"CentOS 7.6 64位\"\n}}\n"
    )
}

#[test]
fn an_import_answered_without_its_id_is_adopted_by_name() {
    let sim = Sim::start(&["--making-time", "300ms", "--idless-answer-rate", "1"]);
    let settings = ProviderSettings {
        max_retries: Some(3),
        ..ProviderSettings::with_sim_keys()
    };
    let tf = ucloud::workspace(PROVIDER, &sim.url, settings, POLL_MS);
    tf.write("main.tf", &config("idless-adopted"));
    tf.run(&["apply", "-auto-approve"]).expect_success();

    let journal = sim.journal();
    let imports: Vec<&Value> = journal.iter().filter(|e| e["Action"] == "ImportCustomImage").collect();
    assert_eq!(imports.len(), 1, "one import, never a second: {imports:?}");
    assert_eq!(imports[0]["IdDropped"], true, "the answer really had no ImageId");

    let live: Vec<String> = sim
        .live_images()
        .iter()
        .filter_map(|i| i["ImageId"].as_str().map(str::to_string))
        .collect();
    assert_eq!(live.len(), 1);
    let state = tf.state_resources();
    assert_eq!(state.len(), 1);
    assert_eq!(
        state[0]["values"]["id"],
        live[0].as_str(),
        "the image made is the one adopted"
    );
    assert_eq!(state[0]["values"]["status"], "Available");

    tf.run(&["destroy", "-auto-approve"]).expect_success();
    assert!(sim.live_images().is_empty());
}

#[test]
fn an_import_answered_without_its_id_that_made_nothing_fails_with_no_state() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime for the scripted server");
    // RetCode 0 without an ImageId, then every DescribeImage finds no image.
    let script = vec![
        Reply::json(200, r#"{"Action":"ImportCustomImageResponse","RetCode":0}"#).request_id("req-idless"),
        Reply::json(
            200,
            r#"{"Action":"DescribeImageResponse","RetCode":0,"TotalCount":0,"ImageSet":[]}"#,
        ),
    ];
    let server = rt.block_on(ScriptedServer::start(script)).expect("scripted server");
    let mut tf = Terraform::new(PROVIDER);
    ucloud::isolate(&mut tf, POLL_MS);
    // The scripted server answers every request in turn: keep the check's
    // object reads away from it.
    let no_ufile = ucloud::closed_endpoint();
    let settings = ProviderSettings {
        ufile_base_url: Some(&no_ufile),
        ..ProviderSettings::with_sim_keys()
    };
    tf.write("provider.tf", &ucloud::provider_tf(&server.base_url, settings));
    tf.write("main.tf", &config("idless-nothing"));

    let applied = tf.run(&["apply", "-auto-approve"]);
    assert_ne!(applied.code, 0, "{applied}");
    assert!(applied.stderr.contains("Failed to import custom image"), "{applied}");
    assert!(applied.stderr.contains("ImageId"), "names the missing field: {applied}");
    assert!(!applied.stderr.contains("tainted"), "{applied}");
    assert!(
        tf.state_resources().is_empty(),
        "nothing in the state, least of all an empty id"
    );
    let imports = server
        .seen()
        .iter()
        .filter(|s| s.action.as_deref() == Some("ImportCustomImage"))
        .count();
    assert_eq!(imports, 1, "an accepted import is never repeated");
}

/// A UCloud that accepts every request and never answers: a refresh ends
/// with an error at `timeouts.read`, although the provider may retry
/// 100 times, 30 s each. The state keeps the image.
#[test]
fn a_refresh_against_a_ucloud_that_never_answers_ends_at_timeouts_read() {
    let sim = Sim::start(&["--making-time", "200ms"]);
    let settings = ProviderSettings {
        max_retries: Some(100),
        ..ProviderSettings::with_sim_keys()
    };
    let tf = ucloud::workspace(PROVIDER, &sim.url, settings, POLL_MS);
    let config = config("slow-reads").replace("\n}\n", "\n  timeouts {\n    read = \"3s\"\n  }\n}\n");
    tf.write("main.tf", &config);
    tf.apply().expect_success();
    let id = tf.state_id("ucloud_custom_image.x");

    let rt = tokio::runtime::Runtime::new().expect("a runtime for the scripted server");
    let silent = rt
        .block_on(ScriptedServer::start(vec![Reply::hang()]))
        .expect("scripted server");
    let no_ufile = ucloud::closed_endpoint();
    let settings = ProviderSettings {
        ufile_base_url: Some(&no_ufile),
        ..settings
    };
    tf.write("provider.tf", &ucloud::provider_tf(&silent.base_url, settings));
    let started = std::time::Instant::now();
    let refreshed = tf.run(&["apply", "-refresh-only", "-auto-approve"]);
    let took = started.elapsed();
    assert_ne!(refreshed.code, 0, "{refreshed}");
    assert!(
        refreshed.stderr.contains("Timed out reading the custom image"),
        "{refreshed}"
    );
    assert!(
        took < std::time::Duration::from_secs(25),
        "the read ended at its deadline, not after the retries: {took:?}"
    );
    assert!(silent.requests() >= 1, "the read reached the silent server");
    assert_eq!(tf.state_id("ucloud_custom_image.x"), id, "the state keeps the image");
}
