//! The go-plugin launch contract: what Terraform puts in the environment,
//! and the one line the plugin answers with on stdout.
//!
//! Everything here is pure (the environment comes in as a lookup function),
//! so the rules are unit-tested without starting processes.

use std::fmt;
use std::path::PathBuf;

use base64::Engine;

/// go-plugin's core protocol version, the first field of the handshake line.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The only Terraform plugin protocol this provider speaks (tfplugin6).
pub const PROTOCOL_VERSION: u32 = 6;
/// Terraform's magic cookie: its presence tells a plugin it was launched by Terraform.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The value Terraform sets for [`MAGIC_COOKIE_KEY`].
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The provider's source address, as `TF_REATTACH_PROVIDERS` names it.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/ucloud-rs/ucloud";

/// What Terraform asked for when it launched the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The negotiated plugin protocol version (always [`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// Terraform's client certificate (PEM) when AutoMTLS is on.
    pub client_cert_pem: Option<String>,
    /// Where to create the unix socket, if Terraform chose.
    pub socket_dir: Option<PathBuf>,
}

/// Why the provider cannot serve the process that launched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchError {
    /// No cookie: someone ran the binary by hand.
    NoCookie,
    /// A cookie for another plugin host.
    WrongCookie,
    /// The host offered only protocol versions this provider does not speak.
    NoCommonProtocol { offered: String },
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCookie => write!(
                f,
                "This is a Terraform provider plugin: Terraform starts it, it is not meant to be run by hand.\n\n{USAGE_HINT}"
            ),
            Self::WrongCookie => write!(
                f,
                "{MAGIC_COOKIE_KEY} is set but does not match Terraform's: this Terraform provider plugin can only be \
                 started by Terraform.\n\n{USAGE_HINT}"
            ),
            Self::NoCommonProtocol { offered } => write!(
                f,
                "Terraform offered plugin protocol version(s) {offered}, but this provider speaks only protocol \
                 {PROTOCOL_VERSION}. Use Terraform >= 1.0 (or any OpenTofu release)."
            ),
        }
    }
}

impl std::error::Error for LaunchError {}

/// How to use the binary; shown when it is run by hand.
pub const USAGE_HINT: &str = r#"Use it from a Terraform configuration:

  terraform {
    required_providers {
      ucloud = { source = "ucloud-rs/ucloud" }
    }
  }

For a local build, point Terraform at the directory holding this binary with a
dev override in your CLI configuration (~/.terraformrc or $TF_CLI_CONFIG_FILE):

  provider_installation {
    dev_overrides { "registry.terraform.io/ucloud-rs/ucloud" = "/path/to/dir" }
    direct {}
  }

To attach a debugger, run it with --debug and export the TF_REATTACH_PROVIDERS
value it prints in the shell where you run terraform."#;

impl Launch {
    /// Reads the launch contract from `env` (a lookup such as `std::env::var`).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, LaunchError> {
        match env(MAGIC_COOKIE_KEY) {
            None => return Err(LaunchError::NoCookie),
            Some(cookie) if cookie != MAGIC_COOKIE_VALUE => return Err(LaunchError::WrongCookie),
            Some(_) => {}
        }
        let protocol = negotiate_protocol(env("PLUGIN_PROTOCOL_VERSIONS").as_deref())?;
        Ok(Self {
            protocol,
            client_cert_pem: env("PLUGIN_CLIENT_CERT").filter(|pem| !pem.trim().is_empty()),
            socket_dir: env("PLUGIN_UNIX_SOCKET_DIR")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from),
        })
    }
}

/// Picks [`PROTOCOL_VERSION`] from a comma-separated offer; an absent offer
/// means the host did not negotiate and the plugin's own version applies, as
/// in go-plugin. Entries that are not numbers are ignored.
pub fn negotiate_protocol(offered: Option<&str>) -> Result<u32, LaunchError> {
    let Some(offered) = offered.filter(|o| !o.trim().is_empty()) else {
        return Ok(PROTOCOL_VERSION);
    };
    if offered
        .split(',')
        .any(|v| v.trim().parse::<u32>() == Ok(PROTOCOL_VERSION))
    {
        Ok(PROTOCOL_VERSION)
    } else {
        Err(LaunchError::NoCommonProtocol {
            offered: offered.trim().to_owned(),
        })
    }
}

/// The handshake line (without newline): `1|6|unix|<path>|grpc|<cert>`, the
/// certificate as DER in standard base64 without padding, empty without TLS.
pub fn handshake_line(protocol: u32, socket: &std::path::Path, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!(
        "{CORE_PROTOCOL_VERSION}|{protocol}|unix|{}|grpc|{cert}",
        socket.display()
    )
}

/// The `TF_REATTACH_PROVIDERS` value for debug mode: Terraform connects to the
/// running process instead of starting one, and (`Test: true`) never stops it.
pub fn reattach_json(pid: u32, socket: &std::path::Path) -> String {
    serde_json::json!({
        PROVIDER_ADDRESS: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": pid,
            "Test": true,
            "Addr": { "Network": "unix", "String": socket.display().to_string() },
        }
    })
    .to_string()
}

/// What the user sees in `--debug` mode, ending with the line to export.
pub fn debug_instructions(pid: u32, socket: &std::path::Path) -> String {
    format!(
        "Provider started in debug mode. To attach Terraform, set TF_REATTACH_PROVIDERS in the shell where you run \
         terraform:\n\n\tTF_REATTACH_PROVIDERS='{}'\n\nPress Ctrl-C to stop the provider.\n",
        reattach_json(pid, socket)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn run_by_hand_explains_itself() {
        let err = Launch::from_env(env(&[])).unwrap_err();
        assert_eq!(err, LaunchError::NoCookie);
        let text = err.to_string();
        assert!(text.contains("Terraform provider plugin"), "{text}");
        assert!(text.contains("dev_overrides"), "{text}");
        assert!(text.contains("--debug"), "{text}");
        let err = Launch::from_env(env(&[(MAGIC_COOKIE_KEY, "nope")])).unwrap_err();
        assert_eq!(err, LaunchError::WrongCookie);
    }

    #[test]
    fn terraform_launch_is_understood() {
        let launch = Launch::from_env(env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
            ("PLUGIN_CLIENT_CERT", "-----BEGIN CERTIFICATE-----"),
            ("PLUGIN_UNIX_SOCKET_DIR", "/run/x"),
        ]))
        .unwrap();
        assert_eq!(launch.protocol, 6);
        assert_eq!(launch.client_cert_pem.as_deref(), Some("-----BEGIN CERTIFICATE-----"));
        assert_eq!(launch.socket_dir.as_deref(), Some(Path::new("/run/x")));
    }

    #[test]
    fn protocol_six_is_picked_in_any_order_or_refused_clearly() {
        assert_eq!(negotiate_protocol(Some("6,5")), Ok(6));
        assert_eq!(negotiate_protocol(Some(" 5 , 6 ")), Ok(6));
        assert_eq!(negotiate_protocol(Some("x,6")), Ok(6));
        assert_eq!(negotiate_protocol(None), Ok(6));
        let err = negotiate_protocol(Some("5")).unwrap_err();
        assert!(err.to_string().contains("Terraform >= 1.0"), "{err}");
        assert!(
            err.to_string().contains("offered plugin protocol version(s) 5"),
            "{err}"
        );
    }

    #[test]
    fn handshake_line_matches_go_plugin() {
        let line = handshake_line(
            6,
            Path::new("/tmp/plugin1/plugin.sock"),
            Some(&[0xde, 0xad, 0xbe, 0xef]),
        );
        assert_eq!(line, "1|6|unix|/tmp/plugin1/plugin.sock|grpc|3q2+7w");
        let line = handshake_line(6, Path::new("/tmp/p.sock"), None);
        assert_eq!(line, "1|6|unix|/tmp/p.sock|grpc|");
    }

    #[test]
    fn reattach_names_the_provider_and_socket() {
        let json: serde_json::Value = serde_json::from_str(&reattach_json(42, Path::new("/tmp/a \"b\""))).unwrap();
        let entry = &json[PROVIDER_ADDRESS];
        assert_eq!(entry["ProtocolVersion"], 6);
        assert_eq!(entry["Pid"], 42);
        assert_eq!(entry["Test"], true);
        assert_eq!(entry["Addr"]["Network"], "unix");
        assert_eq!(entry["Addr"]["String"], "/tmp/a \"b\"");
        assert!(debug_instructions(42, Path::new("/tmp/s")).contains("TF_REATTACH_PROVIDERS='{"));
    }
}
