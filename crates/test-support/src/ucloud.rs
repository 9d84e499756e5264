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

/// The provider block settings a configuration may vary.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProviderSettings<'a> {
    /// `(public_key, private_key)` written into the block; `None` leaves them
    /// to the environment.
    pub keys: Option<(&'a str, &'a str)>,
    pub max_retries: Option<u32>,
    /// A version constraint in `required_providers` (needed with `init`).
    pub version: Option<&'a str>,
    /// `ufile_base_url`; by default the simulator's own objects
    /// (`{base_url}/ufile`), so no test ever reads from the real UFile.
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
}

/// The `terraform` and `provider "ucloud"` blocks for a provider talking to
/// `base_url` in region `cn-bj2`, reading image files from the simulator at
/// `base_url` unless `settings` say otherwise.
pub fn provider_tf(base_url: &str, settings: ProviderSettings<'_>) -> String {
    let ufile = settings.ufile_base_url.map_or_else(
        || format!("{base_url}{}", ucloud_sim::ufile::PATH_PREFIX),
        str::to_string,
    );
    let version = settings
        .version
        .map(|v| format!("\n      version = \"{v}\""))
        .unwrap_or_default();
    let keys = settings
        .keys
        .map(|(public, private)| format!("  public_key  = \"{public}\"\n  private_key = \"{private}\"\n"))
        .unwrap_or_default();
    let retries = settings
        .max_retries
        .map(|n| format!("  max_retries = {n}\n"))
        .unwrap_or_default();
    format!(
        "terraform {{\n  required_providers {{\n    ucloud = {{\n      source  = \"ucloud-rs/ucloud\"{version}\n    }}\n  \
         }}\n}}\n\nprovider \"ucloud\" {{\n{keys}  region      = \"cn-bj2\"\n  base_url    = \"{base_url}\"\n  \
         ufile_base_url = \"{ufile}\"\n{retries}}}\n"
    )
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
/// whose `provider.tf` talks to `sim` with its demo keys.
pub fn workspace(provider: impl AsRef<Path>, sim: &Sim, max_retries: Option<u32>, poll_ms: u64) -> Terraform {
    let mut tf = Terraform::new(provider);
    isolate(&mut tf, poll_ms);
    let settings = ProviderSettings {
        max_retries,
        ..ProviderSettings::with_sim_keys()
    };
    tf.write("provider.tf", &provider_tf(&sim.url, settings));
    tf
}
