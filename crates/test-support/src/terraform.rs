//! Runs the real `terraform` CLI against a provider binary, in a temporary
//! working directory, through a `dev_overrides` CLI configuration (no
//! registry, no `terraform init`). The binary is the caller's: tests pass
//! `env!("CARGO_BIN_EXE_terraform-provider-ucloud")`, which only the
//! provider's own test and bench targets can name.
//!
//! The environment is hermetic: inherited `TF_*` and go-plugin variables are
//! dropped (a developer's `TF_LOG`, plugin cache or reattach settings must not
//! change a test), then the automation settings are set. Terraform is found on
//! `PATH` or at `$TF_ACC_TERRAFORM_PATH`; without it the test fails (it does
//! not skip) and says how to point at one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The provider's source address, as configurations name it.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/ucloud-rs/ucloud";

/// Commands that accept `-no-color`; [`Terraform::run`] adds it so output can be matched.
const COLOR_COMMANDS: &[&str] = &[
    "apply", "destroy", "import", "init", "output", "plan", "refresh", "show", "validate",
];

/// A terraform working directory with its own CLI configuration.
pub struct Terraform {
    binary: PathBuf,
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

/// What one terraform command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics, showing both streams, unless the command exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }

    /// Panics, showing both streams, unless the command succeeded.
    #[track_caller]
    pub fn expect_success(&self) -> &Self {
        self.expect_code(0)
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Finds terraform: `$TF_ACC_TERRAFORM_PATH`, else `terraform` on `PATH`.
pub fn terraform_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TF_ACC_TERRAFORM_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "TF_ACC_TERRAFORM_PATH={} is not a file: point it at a terraform binary (>= 1.0)",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("terraform"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "terraform not found: these acceptance tests run the real Terraform CLI (>= 1.0). Put `terraform` on \
                 PATH or set TF_ACC_TERRAFORM_PATH=/path/to/terraform"
            )
        })
}

impl Terraform {
    /// A fresh working directory whose CLI configuration sends the provider's
    /// source address to the directory holding `provider` (the binary).
    pub fn new(provider: impl AsRef<Path>) -> Self {
        let provider = provider.as_ref();
        let provider_dir = provider
            .parent()
            .unwrap_or_else(|| panic!("{} has no parent", provider.display()));
        // JSON string escaping is valid HCL string escaping for paths.
        Self::with_cli_config(&format!(
            "disable_checkpoint = true\n\nprovider_installation {{\n  dev_overrides {{\n    {} = {}\n  }}\n  direct {{}}\n}}\n",
            Value::from(PROVIDER_SOURCE),
            Value::from(provider_dir.to_string_lossy().as_ref()),
        ))
    }

    /// A fresh working directory whose CLI configuration has no dev override:
    /// the provider must be installed by `terraform init` (e.g. from
    /// `-plugin-dir`), as a user installs a release.
    pub fn without_overrides() -> Self {
        Self::with_cli_config("disable_checkpoint = true\n")
    }

    fn with_cli_config(cli_config: &str) -> Self {
        let binary = terraform_binary();
        let dir = tempfile::Builder::new()
            .prefix("tf-acc")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let cli_config_path = dir.path().join("terraform.rc");
        std::fs::write(&cli_config_path, cli_config).unwrap_or_else(|e| panic!("cannot write the CLI config: {e}"));
        let mut env = BTreeMap::new();
        env.insert(
            "TF_CLI_CONFIG_FILE".to_owned(),
            cli_config_path.to_string_lossy().into_owned(),
        );
        env.insert("TF_IN_AUTOMATION".to_owned(), "1".to_owned());
        env.insert("TF_INPUT".to_owned(), "0".to_owned());
        env.insert("CHECKPOINT_DISABLE".to_owned(), "1".to_owned());
        Self { binary, dir, env }
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `name` in the working directory.
    pub fn write(&self, name: &str, contents: &str) -> &Self {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self
    }

    /// Sets an environment variable for every later command.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Removes a variable set with [`Terraform::env`].
    pub fn env_remove(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// Logs Terraform (and provider lines, at `provider_level`, e.g. `"DEBUG"`) at
    /// TRACE to a file in the working directory; returns its path.
    pub fn log_to_file(&mut self, provider_level: &str) -> PathBuf {
        let path = self.dir.path().join("terraform.log");
        self.env("TF_LOG", "TRACE");
        self.env("TF_LOG_PROVIDER", provider_level);
        self.env("TF_LOG_PATH", &path.to_string_lossy());
        path
    }

    /// The command, ready to run: hermetic environment, working directory set,
    /// `-no-color` added where accepted.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        let mut args: Vec<&str> = args.to_vec();
        if args.first().is_some_and(|a| COLOR_COMMANDS.contains(a)) && !args.contains(&"-no-color") {
            args.insert(1, "-no-color");
        }
        command.args(&args).current_dir(self.dir.path()).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("TF_") || name.starts_with("PLUGIN_") || name == "CHECKPOINT_DISABLE" {
                command.env_remove(&key);
            }
        }
        command.envs(&self.env);
        command
    }

    /// Runs terraform to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts terraform with piped stdout/stderr in its own process group, so
    /// [`signal_group`] can deliver a signal the way a terminal's Ctrl-C does.
    pub fn spawn(&self, args: &[&str]) -> Child {
        use std::os::unix::process::CommandExt;
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()))
    }

    /// `terraform show -json`: the state as JSON (panics if the command fails).
    pub fn show_json(&self) -> Value {
        let out = self.run(&["show", "-json"]);
        out.expect_success();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("show -json is not JSON ({e})\n{out}"))
    }

    /// `terraform providers schema -json` (panics if the command fails).
    pub fn providers_schema(&self) -> Value {
        let out = self.run(&["providers", "schema", "-json"]);
        out.expect_success();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("providers schema is not JSON ({e})\n{out}"))
    }
}

/// Sends `signal` (e.g. `"INT"`, `"TERM"`) to the process group led by
/// `child` (see [`Terraform::spawn`]), like a terminal does on Ctrl-C.
pub fn signal_group(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(status.success(), "kill -{signal} -- -{} failed", child.id());
}
