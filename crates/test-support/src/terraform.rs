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
//!
//! One test process runs one Terraform; `scripts/test.sh` runs the
//! Terraform-driven tests once per version of its matrix. A test that needs a
//! newer Terraform asks [`terraform_at_least`], which skips it loudly: it
//! says so and records the skip for the summary. Every failure of a test that
//! ran Terraform names the version (a panic hook adds it), since the same
//! test may pass on one version and fail on another.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

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
        let version = VERSION.get().map_or_else(|| "?".to_owned(), |v| v.to_string());
        write!(
            f,
            "exit code {} (Terraform {version})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Finds terraform: `$TF_ACC_TERRAFORM_PATH`, else `terraform` on `PATH`.
pub fn terraform_binary() -> PathBuf {
    // scripts/test.sh runs the tests it believes need no Terraform with this set:
    // a test that does need one would otherwise run only against the default.
    assert!(
        std::env::var_os("TF_ACC_NO_TERRAFORM").is_none(),
        "this test runs Terraform, but scripts/test.sh runs it outside the Terraform matrix (TF_ACC_NO_TERRAFORM \
         is set): add it to the Terraform-driven tests in scripts/test.sh"
    );
    let single = std::env::var_os("TF_ACC_TERRAFORM_PATH").filter(|p| !p.is_empty());
    assert!(
        single.is_some() || std::env::var_os("TF_ACC_TERRAFORM_PATHS").is_none_or(|p| p.is_empty()),
        "TF_ACC_TERRAFORM_PATHS names a matrix, which scripts/test.sh runs; a test process runs one Terraform: \
         set TF_ACC_TERRAFORM_PATH=/path/to/terraform"
    );
    if let Some(path) = single {
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
        name_version_on_failure(&binary);
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

    /// `apply -auto-approve`.
    pub fn apply(&self) -> Output {
        self.run(&["apply", "-auto-approve"])
    }

    /// `destroy -auto-approve`.
    pub fn destroy(&self) -> Output {
        self.run(&["destroy", "-auto-approve"])
    }

    /// `plan -detailed-exitcode`: 0 = no changes, 2 = changes, 1 = error.
    pub fn plan_code(&self) -> Output {
        self.run(&["plan", "-detailed-exitcode"])
    }

    /// Runs `args` until it succeeds, at most `tries` times; how many runs
    /// it took. Panics with every run's output when none succeeded.
    #[track_caller]
    pub fn succeed_within(&self, args: &[&str], tries: usize) -> usize {
        let mut runs = Vec::new();
        for _ in 0..tries {
            let out = self.run(args);
            if out.code == 0 {
                return runs.len() + 1;
            }
            runs.push(out);
        }
        panic!(
            "{args:?} did not succeed in {tries} runs:\n{}",
            runs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n=====\n")
        );
    }

    /// The actions planned per resource address (`["delete", "create"]` is
    /// a replacement), from a saved plan's JSON.
    pub fn planned_actions(&self) -> BTreeMap<String, Vec<String>> {
        self.run(&["plan", "-out=tfplan"]).expect_success();
        let out = self.run(&["show", "-json", "tfplan"]);
        out.expect_success();
        let plan: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("plan JSON ({e})\n{out}"));
        plan["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let actions = c["change"]["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect();
                (c["address"].as_str().unwrap_or_default().to_string(), actions)
            })
            .collect()
    }

    /// The resources of the root module in `terraform show -json`, data
    /// sources included.
    pub fn state_resources(&self) -> Vec<Value> {
        self.show_json()["values"]["root_module"]["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The resource at `address` in the state (panics if it is not there).
    #[track_caller]
    pub fn state_resource(&self, address: &str) -> Value {
        self.state_resources()
            .into_iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("{address} is not in the state"))
    }

    /// The `id` of the resource at `address` in the state.
    #[track_caller]
    pub fn state_id(&self, address: &str) -> String {
        self.state_resource(address)["values"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{address} has no id"))
            .to_string()
    }

    /// The ids of the managed resources in the state (data sources left out).
    pub fn state_ids(&self) -> BTreeSet<String> {
        self.state_resources()
            .iter()
            .filter(|r| r["mode"] == "managed")
            .filter_map(|r| r["values"]["id"].as_str().map(str::to_string))
            .collect()
    }

    /// Copies the directory `from` (an example, a module) into the working
    /// directory.
    pub fn copy_in(&self, from: &Path) -> &Self {
        copy_dir(from, self.dir());
        self
    }

    /// `terraform providers schema -json` (panics if the command fails).
    pub fn providers_schema(&self) -> Value {
        let out = self.run(&["providers", "schema", "-json"]);
        out.expect_success();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("providers schema is not JSON ({e})\n{out}"))
    }
}

/// `["delete", "create"]`: the actions of a planned replacement.
pub fn replace() -> Vec<String> {
    vec!["delete".to_string(), "create".to_string()]
}

/// Terraform's output with its line wrapping undone, for matching messages.
pub fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Copies the tree `from` to `to`, creating `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries.flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// A Terraform release number (pre-release suffixes dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// Parses `1.11.4`, `1.5` or `1.6.0-beta1`.
    pub fn parse(text: &str) -> Option<Version> {
        let release = text.trim().trim_start_matches('v').split(['-', '+']).next()?;
        let mut parts = release.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        parts.next().is_none().then_some(Version { major, minor, patch })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The version of [`terraform_binary`], asked once per test process.
static VERSION: OnceLock<Version> = OnceLock::new();

/// The version of the Terraform under test (`terraform version -json`, which
/// every Terraform >= 0.13 answers).
pub fn terraform_version() -> Version {
    *VERSION.get_or_init(|| {
        let binary = terraform_binary();
        let mut command = Command::new(&binary);
        command.args(["version", "-json"]).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TF_") {
                command.env_remove(&key);
            }
        }
        // No update check (no network), no user CLI configuration.
        command
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", "/dev/null");
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} version -json: {e}", binary.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str::<Value>(&stdout)
            .ok()
            .and_then(|v| Version::parse(v["terraform_version"].as_str()?))
            .unwrap_or_else(|| {
                panic!(
                    "{} version -json gave no version ({}): {stdout}{}",
                    binary.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    })
}

/// Makes every later panic in this process (a failing assert anywhere in the
/// test) name the Terraform it ran against.
fn name_version_on_failure(binary: &Path) {
    static HOOK: OnceLock<()> = OnceLock::new();
    let version = terraform_version();
    let binary = binary.display().to_string();
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            eprintln!("=== this test ran against Terraform {version} ({binary}) ===");
            previous(info);
        }));
    });
}

/// Whether the Terraform under test is at least `min` (e.g. `"1.5"`), which
/// `feature` needs. When it is older, the calling test must stop there (it is
/// skipped, never passed silently): this prints
/// `skipped on Terraform X: needs >= Y for Z` and appends
/// `version<TAB>binary::test<TAB>min<TAB>feature` to the file named by
/// `$TF_ACC_SKIP_LOG`, from which scripts/test.sh lists the skips per version.
///
/// `if !terraform_at_least("1.5", "import {} blocks") { return; }`
#[must_use]
pub fn terraform_at_least(min: &str, feature: &str) -> bool {
    let needed = Version::parse(min).unwrap_or_else(|| panic!("not a version: {min:?}"));
    name_version_on_failure(&terraform_binary());
    let version = terraform_version();
    if version >= needed {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    // The test binary is `target/debug/deps/NAME-HASH`.
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .map(|stem| stem.rsplit_once('-').map_or(stem.clone(), |(name, _)| name.to_owned()))
        .unwrap_or_default();
    eprintln!("skipped on Terraform {version}: needs >= {min} for {feature}");
    if let Some(log) = std::env::var_os("TF_ACC_SKIP_LOG").filter(|p| !p.is_empty()) {
        // One short write to an O_APPEND file: parallel test processes do not interleave.
        let line = format!("{version}\t{binary}::{test}\t{min}\t{feature}\n");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .unwrap_or_else(|e| panic!("cannot record the skip in {}: {e}", PathBuf::from(&log).display()));
    }
    false
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

/// Sends `signal` to the one process `pid`.
pub fn signal_process(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// The pids of the running processes below `root` (children, grandchildren:
/// Terraform 1.0 runs its work in a child of the process started) whose
/// command is `name` (Linux: read from `/proc`, where the kernel keeps the
/// first 15 bytes of a name).
pub fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    // (pid, parent, command) of every running process.
    let table: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let (open, close) = (stat.find('(')?, stat.rfind(')')?);
            let mut rest = stat[close + 1..].split_whitespace();
            let state = rest.next()?;
            let ppid = rest.next()?.parse().ok()?;
            (state != "Z").then(|| (pid, ppid, stat[open + 1..close].to_owned()))
        })
        .collect();
    let wanted = name.get(..15).unwrap_or(name);
    let mut below = vec![root];
    let mut found = Vec::new();
    while let Some(parent) = below.pop() {
        for (pid, ppid, comm) in &table {
            if *ppid == parent {
                below.push(*pid);
                if comm == wanted {
                    found.push(*pid);
                }
            }
        }
    }
    found
}

/// The parent of the process `pid`, while it runs.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    stat[close + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// Whether the process `pid` still runs (a zombie counts as gone).
pub fn process_runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}
