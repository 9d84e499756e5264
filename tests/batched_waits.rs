//! The batched waiter as users meet it: the real `terraform` against
//! `ucloud-sim`, many images at once. Every wait of a provider process in
//! one region and project shares one DescribeImage per tick (`ImageIds.N`);
//! these tests check that from the simulator's request journal, and that
//! the guarantees of a single wait (nothing orphaned, Ctrl-C keeps the ids,
//! a missing image is reported) hold for each image of a batch.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::sim::Sim;
use test_support::terraform::{Terraform, signal_group};
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

/// The provider's tick (`UCLOUD_POLL_INTERVAL_MS`): short, yet a small share
/// of the requests when UCloud throttles.
const POLL_MS: u64 = 200;

/// A workspace talking to `sim`; `max_requests_per_second` as given (`None`:
/// the provider's default, no ceiling).
fn workspace(sim: &Sim, max_retries: u32, max_requests_per_second: Option<u32>) -> Terraform {
    let settings = ProviderSettings {
        max_retries: Some(max_retries),
        max_requests_per_second,
        ..ProviderSettings::with_sim_keys()
    };
    ucloud::workspace(PROVIDER, &sim.url, settings, POLL_MS)
}

/// The journal's DescribeImage requests that look images up by id.
fn describes(journal: &[Value]) -> Vec<&Value> {
    journal.iter().filter(|e| e["Action"] == "DescribeImage").collect()
}

/// How many ids one DescribeImage asked for, as the simulator counted them.
fn id_count(entry: &Value) -> usize {
    entry["IdCount"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| panic!("a DescribeImage without IdCount: {entry}"))
}

/// The ids one DescribeImage asked for (`ImageIds.N`, or `ImageId`).
fn asked_ids(entry: &Value) -> BTreeSet<String> {
    entry["Params"]
        .as_object()
        .map(|params| {
            params
                .iter()
                .filter(|(k, _)| k.starts_with("ImageIds.") || k.as_str() == "ImageId")
                .filter_map(|(_, v)| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls the journal until a DescribeImage asks for `n` ids at once.
fn wait_for_batch_of(sim: &Sim, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let journal = sim.journal();
        if describes(&journal).iter().any(|e| id_count(e) >= n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no DescribeImage ever asked for {n} images: {journal:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Twenty images created together are waited on in DescribeImage calls that
/// each carry many of them: the id count only grows while imports are
/// accepted and only shrinks as images settle, and no call asks for one
/// image alone while others are still in flight.
#[test]
fn twenty_images_created_together_share_their_describe_calls() {
    let sim = Sim::start(&["--making-time", "2s", "--quiet"]);
    // No client-side limit: all twenty imports leave at once.
    let tf = workspace(&sim, 3, Some(0));
    tf.write("main.tf", &ucloud::fleet("batch", 20));
    tf.run(&["apply", "-auto-approve", "-parallelism=20"]).expect_success();
    assert_eq!(tf.state_ids().len(), 20);

    let journal = sim.journal();
    let calls = describes(&journal);
    let counts: Vec<usize> = calls.iter().map(|e| id_count(e)).collect();
    assert!(calls.iter().all(|e| asked_ids(e).len() == id_count(e)));
    assert!(
        calls.iter().all(|e| e["Params"].get("ImageId").is_none()),
        "every wait asks through ImageIds.N: {calls:#?}"
    );
    let peak = counts.iter().copied().max().unwrap_or(0);
    assert_eq!(peak, 20, "all twenty were asked for in one call: {counts:?}");
    let at_peak = counts.iter().position(|&n| n == peak).unwrap_or(0);
    assert!(
        counts[at_peak..].windows(2).all(|w| w[1] <= w[0]),
        "after the last import only settled images leave the batch: {counts:?}"
    );
    let total: usize = counts.iter().sum();
    assert!(
        total >= 10 * counts.len(),
        "on average a call carries at least ten ids: {counts:?}"
    );
    // Before batching each image was polled on its own, 6 times.
    assert!(calls.len() < 6 * 20, "{} DescribeImage calls: {counts:?}", calls.len());
}

/// Ctrl-C while ten images are waited on in one batch: every image stays
/// in the state (tainted), and destroy removes them all.
#[test]
fn ctrl_c_during_a_batched_wait_keeps_every_image_tainted_and_destroy_removes_all() {
    let sim = Sim::start(&["--making-time", "10m", "--quiet"]);
    let tf = workspace(&sim, 3, None);
    tf.write("main.tf", &ucloud::fleet("held", 10));
    let child = tf.spawn(&["apply", "-auto-approve", "-parallelism=10"]);
    wait_for_batch_of(&sim, 10);
    signal_group(&child, "INT");
    let out = child.wait_with_output().expect("terraform exits after Ctrl-C");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("Custom image import interrupted").count(),
        10,
        "each image reports the interruption: {stderr}"
    );

    let resources = tf.state_resources();
    assert_eq!(resources.len(), 10, "{resources:#?}");
    assert!(resources.iter().all(|r| r["tainted"] == true), "{resources:#?}");
    assert_eq!(tf.state_ids(), sim.live_ids(), "every live image is in the state");

    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
    assert!(tf.state_resources().is_empty());
}

/// One image of a batch deleted behind Terraform's back: that resource
/// reports it, the others finish as if nothing happened.
#[test]
fn an_image_deleted_during_a_batched_wait_is_reported_for_its_resource_only() {
    let sim = Sim::start(&["--making-time", "3s", "--quiet"]);
    let tf = workspace(&sim, 3, None);
    tf.write("main.tf", &ucloud::fleet("trio", 3));
    let child = tf.spawn(&["apply", "-auto-approve"]);
    wait_for_batch_of(&sim, 3);
    let victim = sim
        .live_images()
        .iter()
        .find(|i| i["ImageName"] == "trio-1")
        .and_then(|i| i["ImageId"].as_str().map(str::to_string))
        .expect("trio-1 was imported");
    sim.delete_out_of_band(&victim);
    let out = child.wait_with_output().expect("terraform finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("Custom image disappeared during import").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(&victim), "names the image: {stderr}");

    for r in tf.state_resources() {
        let name = r["values"]["name"].as_str().unwrap_or_default().to_string();
        if r["values"]["id"] == victim.as_str() {
            assert_eq!(r["tainted"], true, "{r:#}");
        } else {
            assert_eq!(
                (name.as_str(), &r["values"]["status"]),
                (name.as_str(), &Value::from("Available"))
            );
            assert_ne!(r["tainted"], true, "{r:#}");
        }
    }
    assert_eq!(sim.live_ids().len(), 2);
}

/// Twenty images against 30 % throttling (RetCode 153 and HTTP 429) and
/// unavailable gateways: the batched waits back off together, and at most
/// three applies end with exactly twenty images, all in the state, and no
/// duplicate; destroy leaves none.
#[test]
fn twenty_images_under_throttling_converge_without_duplicates_or_orphans() {
    let sim = Sim::start(&[
        "--making-time",
        "3s",
        "--fault-rate",
        "0.3",
        "--fault-kinds",
        "153,429,150,503",
        "--lost-response-rate",
        "0.05",
        "--seed",
        "12",
        "--quiet",
    ]);
    let tf = workspace(&sim, 3, None);
    tf.write("main.tf", &ucloud::fleet("storm", 20));
    let runs = tf.succeed_within(&["apply", "-auto-approve", "-parallelism=20"], 3);
    eprintln!("apply succeeded on run {runs} of at most 3");
    ucloud::assert_exactly_live(&tf, &sim, 20);
    let journal = sim.journal();
    assert!(
        describes(&journal)
            .iter()
            .any(|e| (e["Fault"] == "153" || e["Fault"] == "429") && id_count(e) > 1),
        "the run did throttle a batched DescribeImage: {:#?}",
        describes(&journal)
            .iter()
            .map(|e| (e["Fault"].clone(), id_count(e)))
            .collect::<Vec<_>>()
    );

    tf.succeed_within(&["destroy", "-auto-approve"], 3);
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
}

/// The most requests the journal shows within any `window` of time.
fn busiest(journal: &[Value], window: Duration) -> usize {
    let at: Vec<u64> = journal.iter().filter_map(|e| e["AtMs"].as_u64()).collect();
    let window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t < at[i] + window).count())
        .max()
        .unwrap_or(0)
}

/// Fifty imports started together (`-parallelism=50`) against a UCloud that
/// throttles at 12 requests per second: with a ceiling of 10 per second
/// (`max_requests_per_second`) the provider spaces them, so not one request
/// is throttled. Without it (the default) the first burst is throttled, and
/// every import still succeeds once.
#[test]
fn parallelism_fifty_under_a_ceiling_never_starts_with_a_burst_of_throttled_calls() {
    let sim = Sim::start(&["--making-time", "1s", "--rate-limit", "12", "--quiet"]);
    let tf = workspace(&sim, 3, Some(10));
    tf.write("main.tf", &ucloud::fleet("wide", 50));
    tf.run(&["apply", "-auto-approve", "-parallelism=50"]).expect_success();
    tf.run(&["destroy", "-auto-approve", "-parallelism=50"])
        .expect_success();
    let journal = sim.journal();
    let throttled: Vec<&Value> = journal.iter().filter(|e| e["Throttled"] == true).collect();
    assert!(
        throttled.is_empty(),
        "{} requests throttled: {throttled:#?}",
        throttled.len()
    );
    // Ten a second, evenly spaced (2 more for requests that reach the
    // simulator late and bunched).
    let peak = busiest(&journal, Duration::from_secs(1));
    assert!(peak <= 12, "{peak} requests within one second");
    assert!(sim.live_ids().is_empty());

    sim.reset();
    let open = workspace(&sim, 0, None);
    open.write("main.tf", &ucloud::fleet("burst", 30));
    open.run(&["apply", "-auto-approve", "-parallelism=30"])
        .expect_success();
    let throttled = sim.journal().iter().filter(|e| e["Throttled"] == true).count();
    assert!(throttled > 0, "without a ceiling the first burst is throttled");
    ucloud::assert_exactly_live(&open, &sim, 30);
}
