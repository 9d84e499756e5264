//! A terraform working directory wired to a `ucloud-sim`: a developer's own
//! UCloud settings (environment, shared files) shut out, fast polling, and the
//! `terraform` and `provider` blocks every configuration starts with.

use std::path::Path;

use crate::sim::Sim;
use crate::terraform::Terraform;

/// Variables of the UCloud credential chain and the provider's request
/// rate, blanked so a developer's own settings cannot leak into a test.
pub const UCLOUD_ENV: &[&str] = &[
    "UCLOUD_PUBLIC_KEY",
    "UCLOUD_PRIVATE_KEY",
    "UCLOUD_REGION",
    "UCLOUD_PROJECT_ID",
    "UCLOUD_PROFILE",
    "UCLOUD_SHARED_CREDENTIAL_FILE",
    "UCLOUD_API_BASE_URL",
    tpu::provider::ENV_UFILE_BASE_URL,
    tpu::provider::ENV_MAX_REQUESTS_PER_SECOND,
];

/// Blanks the UCloud environment, gives `tf` an empty home (no `~/.ucloud`
/// files) and sets the provider's first poll delay.
pub fn isolate(tf: &mut Terraform, poll_ms: u64) {
    let home = tf.dir().join("home");
    std::fs::create_dir_all(&home).expect("create home");
    for var in UCLOUD_ENV {
        tf.env(var, "");
    }
    tf.env("HOME", &home.to_string_lossy());
    tf.env(tpu::provider::POLL_INTERVAL_ENV, &poll_ms.to_string());
}

/// The provider's settings in a test: what its `provider "ucloud"` block
/// (or, for a configuration that has its own block, the environment) says.
/// Every Terraform-driven test configures the provider through this, so
/// every test reads image files from the simulator (`ufile_base_url`), never
/// from the real UFile.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProviderSettings<'a> {
    /// `(public_key, private_key)`; `None` leaves them to the environment.
    pub keys: Option<(&'a str, &'a str)>,
    /// `region`; `cn-bj2` by default.
    pub region: Option<&'a str>,
    /// `region` as an HCL expression (e.g. one unknown until apply);
    /// overrides `region`.
    pub region_expression: Option<&'a str>,
    /// `project_id`; none by default (the account's default project).
    pub project_id: Option<&'a str>,
    pub max_retries: Option<u32>,
    /// `max_requests_per_second`; the provider's default when `None`.
    pub max_requests_per_second: Option<u32>,
    /// A version constraint in `required_providers` (needed with `init`).
    pub version: Option<&'a str>,
    /// `ufile_base_url`; by default the simulator's own objects
    /// (`{base_url}/ufile`).
    pub ufile_base_url: Option<&'a str>,
}

impl<'a> ProviderSettings<'a> {
    /// The simulator's demo key pair in the block.
    pub fn with_sim_keys() -> Self {
        ProviderSettings {
            keys: Some((Sim::KEY_PUBLIC, Sim::KEY_PRIVATE)),
            ..ProviderSettings::default()
        }
    }

    /// The region written in the block, as an HCL expression.
    fn region_hcl(&self) -> String {
        self.region_expression
            .map_or_else(|| format!("\"{}\"", self.region.unwrap_or(REGION)), str::to_string)
    }

    /// The `ufile_base_url` for a provider talking to `base_url`.
    fn ufile(&self, base_url: &str) -> String {
        self.ufile_base_url.map_or_else(
            || format!("{base_url}{}", ucloud_sim::ufile::PATH_PREFIX),
            str::to_string,
        )
    }

    /// The `terraform` and `provider "ucloud"` blocks for a provider talking
    /// to `base_url`.
    pub fn blocks(&self, base_url: &str) -> String {
        let version = self
            .version
            .map(|v| format!("\n      version = \"{v}\""))
            .unwrap_or_default();
        let mut lines = Vec::new();
        if let Some((public, private)) = self.keys {
            lines.push(format!("public_key  = \"{public}\""));
            lines.push(format!("private_key = \"{private}\""));
        }
        lines.push(format!("region      = {}", self.region_hcl()));
        if let Some(project) = self.project_id {
            lines.push(format!("project_id  = \"{project}\""));
        }
        lines.push(format!("base_url    = \"{base_url}\""));
        lines.push(format!("ufile_base_url = \"{}\"", self.ufile(base_url)));
        if let Some(n) = self.max_retries {
            lines.push(format!("max_retries = {n}"));
        }
        if let Some(n) = self.max_requests_per_second {
            lines.push(format!("max_requests_per_second = {n}"));
        }
        let body: String = lines.iter().map(|l| format!("  {l}\n")).collect();
        format!(
            "terraform {{\n  required_providers {{\n    ucloud = {{\n      source  = \"ucloud-rs/ucloud\"{version}\n    }}\n  \
             }}\n}}\n\nprovider \"ucloud\" {{\n{body}}}\n"
        )
    }

    /// The same settings as environment variables, for a configuration
    /// whose `provider` block (an example's) leaves them to the environment.
    /// A region given as an expression has no environment form.
    pub fn set_env(&self, tf: &mut Terraform, base_url: &str) {
        assert!(
            self.region_expression.is_none(),
            "a region expression needs a provider block"
        );
        if let Some((public, private)) = self.keys {
            tf.env("UCLOUD_PUBLIC_KEY", public).env("UCLOUD_PRIVATE_KEY", private);
        }
        tf.env("UCLOUD_REGION", self.region.unwrap_or(REGION));
        if let Some(project) = self.project_id {
            tf.env("UCLOUD_PROJECT_ID", project);
        }
        tf.env("UCLOUD_API_BASE_URL", base_url)
            .env(tpu::provider::ENV_UFILE_BASE_URL, &self.ufile(base_url));
        assert!(
            self.max_retries.is_none() && self.version.is_none(),
            "max_retries and version need a provider block"
        );
        if let Some(n) = self.max_requests_per_second {
            tf.env(tpu::provider::ENV_MAX_REQUESTS_PER_SECOND, &n.to_string());
        }
    }
}

/// The region a test provider works in unless its settings say otherwise.
pub const REGION: &str = "cn-bj2";

/// The `terraform` and `provider "ucloud"` blocks for a provider talking to
/// `base_url` (see [`ProviderSettings::blocks`]).
pub fn provider_tf(base_url: &str, settings: ProviderSettings<'_>) -> String {
    settings.blocks(base_url)
}

/// An `http://127.0.0.1:PORT` where nothing listens (a port just bound and
/// released): for a provider whose UFile reads must fail at once, e.g. in
/// front of a scripted server that answers every request in turn.
pub fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("the bound address");
    format!("http://{addr}")
}

/// An isolated working directory (dev override for `provider`, the binary)
/// whose `provider.tf` talks to `base_url` with `settings`.
pub fn workspace(
    provider: impl AsRef<Path>,
    base_url: &str,
    settings: ProviderSettings<'_>,
    poll_ms: u64,
) -> Terraform {
    let mut tf = Terraform::new(provider);
    isolate(&mut tf, poll_ms);
    tf.write("provider.tf", &settings.blocks(base_url));
    tf
}

/// Panics unless `sim` holds exactly `count` live images, with `count`
/// different names, and the state in `tf` holds every one of them: after
/// faults and retries, nothing orphaned and nothing made twice.
#[track_caller]
pub fn assert_exactly_live(tf: &Terraform, sim: &Sim, count: usize) {
    let live = sim.live_ids();
    assert_eq!(
        live.len(),
        count,
        "exactly {count} live images: {:#?}",
        sim.live_images()
    );
    assert_eq!(tf.state_ids(), live, "every live image is in the state");
    let names: std::collections::BTreeSet<String> = sim
        .live_images()
        .iter()
        .filter_map(|i| i["ImageName"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names.len(), count, "one image per name");
}

/// `count` custom images named `{prefix}-N`, from the simulator's objects,
/// in one resource block labelled `prefix`: the fleet of the batch, the
/// throttling tests and the benchmark.
pub fn fleet(prefix: &str, count: usize) -> String {
    format!(
        r#"resource "ucloud_custom_image" "{prefix}" {{
  count     = {count}
  name      = "{prefix}-${{count.index}}"
  ufile_url = "https://bucket.cn-bj.ufileos.com/images/{prefix}-${{count.index}}.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}}
"#
    )
}
