//! Hard interrupts, as CI systems and operators stop runs: SIGTERM to the
//! provider alone (a job cancelled, `timeout`), SIGTERM to Terraform's whole
//! process group (a container stop), and Terraform killed outright. The real
//! `terraform` against `ucloud-sim`; each test finds the provider process
//! Terraform launched and signals it, then checks the state against the
//! simulator's images: an image the provider knows of is never left out of
//! the state.

use std::time::{Duration, Instant};

use test_support::sim::Sim;
use test_support::terraform::{
    Terraform, descendants_named, flat, parent_of, process_runs, signal_group, signal_process, terraform_at_least,
};
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");
/// Its name as Terraform's child.
const PROVIDER_NAME: &str = "terraform-provider-ucloud";
/// First poll delay for the provider (`UCLOUD_POLL_INTERVAL_MS`).
const POLL_MS: u64 = 50;

fn workspace(sim: &Sim) -> Terraform {
    let settings = ProviderSettings {
        max_retries: Some(3),
        ..ProviderSettings::with_sim_keys()
    };
    ucloud::workspace(PROVIDER, &sim.url, settings, POLL_MS)
}

/// Whether a signal to the process group reaches Terraform once. Terraform
/// 1.0 runs as two processes (panicwrap): the outer one forwards the
/// group's signal to the inner one, which then counts two interrupts and
/// exits at once ("Two interrupts received. Exiting immediately. Note that
/// data loss may have occurred."), before the provider can answer; what
/// the provider can still do then is keep its record for the next apply
/// (see the SIGKILL tests).
fn group_signals_reach_terraform_once() -> bool {
    terraform_at_least(
        "1.1",
        "one Terraform process to signal (1.0 counts a group signal twice)",
    )
}

/// One image, `ucloud_custom_image.waiting`.
const IMAGE: &str = r#"resource "ucloud_custom_image" "waiting" {
  name      = "waiting"
  ufile_url = "https://bucket.cn-bj.ufileos.com/images/c7.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}
"#;

/// The provider processes `terraform` (pid `parent`) runs now, as its
/// children or (Terraform 1.0) grandchildren; waits up to a minute for one.
fn providers_of(parent: u32) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = descendants_named(parent, PROVIDER_NAME);
        if !found.is_empty() {
            return found;
        }
        assert!(Instant::now() < deadline, "terraform (pid {parent}) runs no provider");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// After the interrupted apply: the image is in the state (tainted), it is
/// the only image, and destroy removes it.
#[track_caller]
fn kept_tainted_and_destroyed(tf: &Terraform, sim: &Sim, stderr: &str) {
    let r = tf
        .state_resources()
        .into_iter()
        .find(|r| r["address"] == "ucloud_custom_image.waiting")
        .unwrap_or_else(|| panic!("the image is not in the state; terraform said:\n{stderr}"));
    assert_eq!(r["tainted"], true, "{r:#}\n{stderr}");
    let id = r["values"]["id"]
        .as_str()
        .expect("the id is kept in the state")
        .to_string();
    assert_eq!(sim.live_ids(), [id].into(), "no image outside the state");
    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
}

/// Who gets SIGTERM: the provider alone (a job runner's `kill`, `timeout`),
/// or Terraform's whole process group (a container stop).
#[derive(Clone, Copy)]
enum Whom {
    Provider,
    Group,
}

/// When: while the provider waits on the image (`Making`), or while
/// ImportCustomImage is on the wire (the simulator answers 2 s late).
#[derive(Clone, Copy, PartialEq)]
enum When {
    Making,
    ImportCall,
}

/// Runs `apply`, sends SIGTERM to `whom` at `when`, and checks what the user
/// is left with: the apply failed, one import was made, and the image is in
/// the state (tainted), the only one, and destroy removes it. Terraform's
/// stderr.
fn sigterm(whom: Whom, when: When) -> String {
    let sim = match when {
        When::Making => Sim::start(&["--making-time", "10m"]),
        When::ImportCall => Sim::start(&["--making-time", "10m", "--latency", "2s"]),
    };
    let tf = workspace(&sim);
    tf.write("main.tf", IMAGE);
    let child = tf.spawn(&["apply", "-auto-approve"]);
    if when == When::Making {
        sim.wait_for_wait_after("ImportCustomImage");
    } else {
        sim.wait_for_action("ImportCustomImage");
        assert_eq!(
            sim.count_action("DescribeImage"),
            0,
            "the import call is still in flight"
        );
    }
    match whom {
        Whom::Provider => {
            for pid in providers_of(child.id()) {
                signal_process(pid, "TERM");
            }
        }
        Whom::Group => signal_group(&child, "TERM"),
    }
    let out = child.wait_with_output().expect("terraform exits");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(sim.count_action("ImportCustomImage"), 1);
    kept_tainted_and_destroyed(&tf, &sim, &stderr);
    stderr
}

/// SIGTERM to the provider alone while the image is `Making`: the provider
/// stops its wait as it does for Ctrl-C, answers Terraform with the id, and
/// only then exits.
#[test]
fn sigterm_to_the_provider_while_the_image_is_making_keeps_it_in_the_state() {
    let stderr = sigterm(Whom::Provider, When::Making);
    assert!(stderr.contains("Custom image import interrupted"), "{stderr}");
    assert!(!stderr.contains("Plugin did not respond"), "{stderr}");
}

/// SIGTERM to the provider while ImportCustomImage is on the wire: the call
/// is let finish, so its id reaches the state.
#[test]
fn sigterm_to_the_provider_during_the_import_call_keeps_the_image_in_the_state() {
    sigterm(Whom::Provider, When::ImportCall);
}

/// SIGTERM to Terraform's whole process group while ImportCustomImage is on
/// the wire: Terraform asks the provider to stop, the provider (signalled
/// too) lets the call finish, and the id reaches the state.
#[test]
fn sigterm_to_the_process_group_during_the_import_call_keeps_the_image_in_the_state() {
    if group_signals_reach_terraform_once() {
        sigterm(Whom::Group, When::ImportCall);
    }
}

/// SIGTERM to Terraform's whole process group while the image is `Making`:
/// Terraform stops as for Ctrl-C and the provider, signalled too, still
/// answers.
#[test]
fn sigterm_to_the_process_group_while_the_image_is_making_keeps_it_in_the_state() {
    if group_signals_reach_terraform_once() {
        sigterm(Whom::Group, When::Making);
    }
}

/// Starts `apply` and kills the Terraform process that launched the
/// provider (SIGKILL, as the OOM killer would) once the provider waits on
/// the image it imported; returns how long the provider then took to exit
/// (panics after 5 s).
fn kill_terraform_during_the_wait(tf: &Terraform, sim: &Sim) -> Duration {
    let mut child = tf.spawn(&["apply", "-auto-approve"]);
    sim.wait_for_wait_after("ImportCustomImage");
    let providers = providers_of(child.id());
    // The Terraform process that launched the provider: the one started, or
    // (Terraform 1.0) its child that does the work.
    let terraform = parent_of(providers[0]).expect("the provider has a parent");
    signal_process(terraform, "KILL");
    // The process started ends with the one killed (it is that one, or it
    // waits for it).
    child.wait().expect("terraform is reaped");
    let killed = Instant::now();
    while providers.iter().any(|pid| process_runs(*pid)) {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "the provider still runs {:?} after Terraform was killed",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    killed.elapsed()
}

/// Terraform killed outright (SIGKILL, the OOM killer) during a create: the
/// provider notices its parent is gone and exits within 5 s instead of
/// waiting on an image nobody will hear of.
#[test]
fn a_provider_whose_terraform_was_killed_exits_within_five_seconds() {
    let sim = Sim::start(&["--making-time", "10m"]);
    let tf = workspace(&sim);
    tf.write("main.tf", IMAGE);
    let took = kill_terraform_during_the_wait(&tf, &sim);
    eprintln!("the provider exited {took:?} after Terraform was killed");
}

/// The apply after a killed one: the image the killed run started (never
/// recorded in the state) is adopted, with a warning, not imported again.
/// Exactly one image, in the state; destroy removes it.
#[test]
fn the_apply_after_a_killed_run_adopts_its_image_instead_of_importing_again() {
    let sim = Sim::start(&["--making-time", "5s"]);
    let tf = workspace(&sim);
    tf.write("main.tf", IMAGE);
    kill_terraform_during_the_wait(&tf, &sim);
    assert_eq!(sim.live_ids().len(), 1, "the killed run's image");
    assert!(tf.state_ids().is_empty(), "which the state does not hold");

    let out = tf.apply();
    out.expect_success();
    assert!(
        flat(&format!("{} {}", out.stdout, out.stderr)).contains("Adopted the custom image of an interrupted run"),
        "{out}"
    );
    assert_eq!(sim.count_action("ImportCustomImage"), 1, "no second import");
    assert_eq!(tf.state_ids(), sim.live_ids(), "the one image is in the state");
    tf.plan_code().expect_code(0);
    tf.destroy().expect_success();
    assert!(sim.live_ids().is_empty(), "{:#?}", sim.live_images());
}
