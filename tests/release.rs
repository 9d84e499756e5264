//! The release archive as a user receives it: `scripts/release.sh` builds the
//! zip, checksums and registry manifest; the zip is put in a filesystem
//! mirror and the real `terraform init -plugin-dir` installs it offline, with
//! no dev override, for a configuration that pins the version; `terraform
//! plan` against `ucloud-sim` then runs the installed binary.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use test_support::sim::Sim;
use test_support::terraform::Terraform;
use test_support::ucloud::{self, ProviderSettings};

const NAME: &str = "terraform-provider-ucloud";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs a command to completion; panics with its output unless it succeeds.
#[track_caller]
fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The names inside a zip archive.
fn zip_entries(zip: &Path) -> BTreeSet<String> {
    run(Command::new("unzip").arg("-Z1").arg(zip))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `command` without the variables cargo sets for a test process (package
/// metadata, `OUT_DIR`, ...), as when run from a shell. ring's build script
/// watches several of them: with them, the script's own `cargo build
/// --release` would rebuild the TLS stack and the provider (minutes) on every
/// run, and again at the next build from a shell.
fn as_from_a_shell(command: &mut Command) -> &mut Command {
    const SET_BY_CARGO: &[&str] = &[
        "CARGO",
        "CARGO_BIN_NAME",
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if SET_BY_CARGO.contains(&name.as_ref())
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
        {
            command.env_remove(&key);
        }
    }
    command
}

#[test]
fn release_archive_installs_from_a_filesystem_mirror_and_plans() {
    let dist = tempfile::Builder::new().prefix("tpu-dist").tempdir().expect("temp dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/release.sh");
    run(as_from_a_shell(Command::new(&script).env("DIST", dist.path())));

    // The zip Terraform looks for, holding the binary under the name it runs.
    let os_arch = match std::env::consts::ARCH {
        "aarch64" => "linux_arm64",
        _ => "linux_amd64",
    };
    let zip_name = format!("{NAME}_{VERSION}_{os_arch}.zip");
    let zip = dist.path().join(&zip_name);
    assert!(zip.is_file(), "{} was not built", zip.display());
    let binary = format!("{NAME}_v{VERSION}");
    let entries = zip_entries(&zip);
    assert!(entries.contains(&binary), "{zip_name} lacks {binary}: {entries:?}");
    // Only the provider ships: no simulator or other workspace binary.
    let expected: BTreeSet<String> = [binary.as_str(), "README.md", "LICENSE-MIT", "LICENSE-APACHE"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        entries, expected,
        "{zip_name} holds exactly the provider and its documents"
    );

    // The manifest tells the registry which protocol the binary speaks.
    let manifest_name = format!("{NAME}_{VERSION}_manifest.json");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dist.path().join(&manifest_name)).expect("read the manifest"))
            .expect("manifest is JSON");
    assert_eq!(manifest["version"], 1, "{manifest}");
    assert_eq!(
        manifest["metadata"]["protocol_versions"],
        serde_json::json!(["6.0"]),
        "{manifest}"
    );

    // SHA256SUMS lists every zip and the manifest, and each sum is right.
    let sums_name = format!("{NAME}_{VERSION}_SHA256SUMS");
    let sums = std::fs::read_to_string(dist.path().join(&sums_name)).expect("read SHA256SUMS");
    let listed: BTreeSet<String> = sums
        .lines()
        .filter_map(|line| line.split_once("  ").map(|(_, name)| name.to_owned()))
        .collect();
    let published: BTreeSet<String> = std::fs::read_dir(dist.path())
        .expect("list dist")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name != &sums_name)
        .collect();
    assert!(listed.contains(&zip_name) && listed.contains(&manifest_name), "{sums}");
    assert_eq!(
        listed, published,
        "SHA256SUMS must cover exactly the published files:\n{sums}"
    );
    let checked = run(Command::new("sha256sum")
        .args(["--check", "--strict"])
        .arg(&sums_name)
        .current_dir(dist.path()));
    assert_eq!(checked.matches(": OK").count(), listed.len(), "{checked}");

    // Install from a filesystem mirror in the packed layout, offline, no dev override.
    let sim = Sim::start(&["--making-time", "0s"]);
    let mut tf = Terraform::without_overrides();
    let mirror = tf.dir().join("mirror");
    let provider_dir = mirror.join("registry.terraform.io/ucloud-rs/ucloud");
    std::fs::create_dir_all(&provider_dir).expect("create the mirror");
    std::fs::copy(&zip, provider_dir.join(&zip_name)).expect("copy the zip into the mirror");
    ucloud::isolate(&mut tf, 50);
    let settings = ProviderSettings {
        version: Some(VERSION),
        ..ProviderSettings::with_sim_keys()
    };
    tf.write(
        "main.tf",
        &(ucloud::provider_tf(&sim.url, settings)
            + r#"
resource "ucloud_custom_image" "golden" {
  name      = "golden"
  ufile_url = "https://bucket.cn-bj.ufileos.com/images/golden.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}
"#),
    );
    let plugin_dir = format!("-plugin-dir={}", mirror.display());
    let init = tf.run(&["init", "-input=false", &plugin_dir]);
    init.expect_success();
    assert!(
        init.stdout.contains(&format!("Installed ucloud-rs/ucloud v{VERSION}")),
        "init did not install the release from the mirror\n{init}"
    );
    assert!(
        !init.stderr.contains("development overrides"),
        "a dev override leaked into the test\n{init}"
    );
    let lock = std::fs::read_to_string(tf.dir().join(".terraform.lock.hcl")).expect("init writes the lock file");
    assert!(
        lock.contains("provider \"registry.terraform.io/ucloud-rs/ucloud\"")
            && lock
                .lines()
                .any(|l| l.trim_start().starts_with("version") && l.contains(&format!("\"{VERSION}\""))),
        "lock file does not pin the release:\n{lock}"
    );

    let plan = tf.run(&["plan", "-detailed-exitcode"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("ucloud_custom_image.golden will be created"),
        "plan does not show the image to add\n{plan}"
    );
    assert!(
        plan.stdout.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{plan}"
    );
}
