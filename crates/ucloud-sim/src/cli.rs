//! Command line of `ucloud-sim`: flags, their environment fallback and the
//! `--help` text. Other programs (tests, the quick start) depend on these
//! exact flag names, so they are parsed here and nowhere else.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::faults::FaultKind;

/// The demo key pair used when no `--key` and no `UCLOUD_SIM_KEYS` is given.
pub const DEMO_PUBLIC_KEY: &str = "sim-public-key";
/// Private half of the demo pair; it is public knowledge, never a secret.
pub const DEMO_PRIVATE_KEY: &str = "sim-private-key";

/// Environment variable holding `pub:priv,pub2:priv2` when no `--key` is given.
pub const KEYS_ENV: &str = "UCLOUD_SIM_KEYS";

pub const HELP: &str = "\
ucloud-sim: a local stand-in for UCloud's image API (ImportCustomImage,
DescribeImage, TerminateCustomImage), for tests and the quick start.

USAGE:
    ucloud-sim [OPTIONS]

OPTIONS:
    --listen ADDR               address to bind [default: 127.0.0.1:0]
    --key PUBLIC:PRIVATE        accepted API key pair; repeatable
                                (env UCLOUD_SIM_KEYS=\"pub:priv,pub2:priv2\";
                                default: sim-public-key:sim-private-key)
    --making-time DURATION      how long an import stays Making [default: 3s]
    --terminate-making MODE     allow|reject deleting an image while Making;
                                reject answers RetCode 8957 [default: allow]
    --fault-rate P              probability of answering a fault instead of
                                performing the action [default: 0.0]
    --fault-kinds LIST          faults to draw from: 429 and 503 (HTTP status),
                                153 and 150 (RetCode) [default: 429,503,153,150]
    --lost-response-rate P      probability of performing the action and then
                                closing the connection without answering
                                [default: 0.0]
    --latency DURATION          delay before every API answer [default: 0ms]
    --seed N                    seed for faults and generated ids
    --state-file PATH           load images from PATH at start and save them
                                after every change
    --quiet                     no per-request log lines on stderr
    -h, --help                  print this help

CONVENTIONS:
    An import whose UFileUrl path contains `corrupt` ends in state
    Unavailable (a failed import); every other import ends Available.

    Two platform images (ImageType Base: uimage-base-centos79,
    uimage-base-ubuntu2204) are listed in every region and project, after the
    custom ones; they cannot be terminated (RetCode 8956).

    On start one line is printed to stdout:
        ucloud-sim listening on http://127.0.0.1:PORT
    Test hooks (JSON, never faulted): GET /_sim/images, GET /_sim/journal,
    POST /_sim/images/{id}/delete, POST /_sim/reset.
";

/// Whether TerminateCustomImage may delete an image that is still Making.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminateMaking {
    Allow,
    Reject,
}

/// A private key; its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(String);

impl PrivateKey {
    pub fn new(key: impl Into<String>) -> Self {
        PrivateKey(key.into())
    }

    /// The key itself, for computing a signature and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// Accepted key pairs: public key -> private key.
pub type Keys = HashMap<String, PrivateKey>;

/// Everything the simulator is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub keys: Keys,
    pub making_time: Duration,
    pub terminate_making: TerminateMaking,
    pub fault_rate: f64,
    pub fault_kinds: Vec<FaultKind>,
    pub lost_response_rate: f64,
    pub latency: Duration,
    pub seed: Option<u64>,
    pub state_file: Option<PathBuf>,
    pub quiet: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Config),
    Help,
}

/// Parses the arguments (without the program name). `env_keys` is the value
/// of [`KEYS_ENV`], used only when no `--key` is given.
pub fn parse(args: impl IntoIterator<Item = String>, env_keys: Option<String>) -> Result<Command, String> {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        keys: Keys::new(),
        making_time: Duration::from_secs(3),
        terminate_making: TerminateMaking::Allow,
        fault_rate: 0.0,
        fault_kinds: FaultKind::ALL.to_vec(),
        lost_response_rate: 0.0,
        latency: Duration::ZERO,
        seed: None,
        state_file: None,
        quiet: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--quiet" => config.quiet = true,
            "--listen"
            | "--key"
            | "--making-time"
            | "--terminate-making"
            | "--fault-rate"
            | "--fault-kinds"
            | "--lost-response-rate"
            | "--latency"
            | "--seed"
            | "--state-file" => {
                let value = match inline {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| format!("{flag} needs a value (see --help)"))?,
                };
                apply(&mut config, &flag, &value)?;
            }
            _ => return Err(format!("unknown argument `{arg}` (see --help)")),
        }
    }
    if config.keys.is_empty() {
        match env_keys.filter(|s| !s.trim().is_empty()) {
            Some(list) => {
                for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
                    let (public, private) = parse_key(pair.trim()).map_err(|e| format!("{KEYS_ENV}: {e}"))?;
                    config.keys.insert(public, private);
                }
            }
            None => {
                config
                    .keys
                    .insert(DEMO_PUBLIC_KEY.to_string(), PrivateKey::new(DEMO_PRIVATE_KEY));
            }
        }
    }
    if config.fault_rate > 0.0 && config.fault_kinds.is_empty() {
        return Err("--fault-rate is above 0 but --fault-kinds is empty".to_string());
    }
    Ok(Command::Run(config))
}

fn apply(config: &mut Config, flag: &str, value: &str) -> Result<(), String> {
    match flag {
        "--listen" => {
            config.listen = value
                .parse()
                .map_err(|_| format!("--listen: `{value}` is not an IP:PORT address (e.g. 127.0.0.1:0)"))?
        }
        "--key" => {
            let (public, private) = parse_key(value).map_err(|e| format!("--key: {e}"))?;
            config.keys.insert(public, private);
        }
        "--making-time" => config.making_time = parse_duration(flag, value)?,
        "--latency" => config.latency = parse_duration(flag, value)?,
        "--terminate-making" => {
            config.terminate_making = match value {
                "allow" => TerminateMaking::Allow,
                "reject" => TerminateMaking::Reject,
                _ => return Err(format!("--terminate-making: `{value}` is neither `allow` nor `reject`")),
            }
        }
        "--fault-rate" => config.fault_rate = parse_probability(flag, value)?,
        "--lost-response-rate" => config.lost_response_rate = parse_probability(flag, value)?,
        "--fault-kinds" => {
            config.fault_kinds = value
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| k.parse::<FaultKind>().map_err(|e| format!("--fault-kinds: {e}")))
                .collect::<Result<_, _>>()?
        }
        "--seed" => {
            config.seed = Some(
                value
                    .parse()
                    .map_err(|_| format!("--seed: `{value}` is not an unsigned integer"))?,
            )
        }
        "--state-file" => {
            if value.is_empty() {
                return Err("--state-file: the path is empty".to_string());
            }
            config.state_file = Some(PathBuf::from(value))
        }
        _ => return Err(format!("unknown argument `{flag}` (see --help)")),
    }
    Ok(())
}

/// Splits `PUBLIC:PRIVATE` at the first colon. The error never repeats the
/// private half.
fn parse_key(pair: &str) -> Result<(String, PrivateKey), String> {
    match pair.split_once(':') {
        Some((public, private)) if !public.is_empty() && !private.is_empty() => {
            Ok((public.to_string(), PrivateKey::new(private)))
        }
        _ => Err("expected PUBLIC:PRIVATE with both halves non-empty".to_string()),
    }
}

fn parse_duration(flag: &str, value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("{flag}: `{value}` is not a duration like 3s or 250ms ({e})"))
}

fn parse_probability(flag: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{flag}: `{value}` is not a probability between 0.0 and 1.0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<Config, String> {
        match parse(args.iter().map(|s| s.to_string()), env.map(str::to_string))? {
            Command::Run(c) => Ok(c),
            Command::Help => Err("help".to_string()),
        }
    }

    #[test]
    fn defaults_use_the_demo_key_and_a_three_second_import() {
        let c = run(&[], None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        assert_eq!(c.keys.len(), 1);
        assert_eq!(c.keys[DEMO_PUBLIC_KEY].expose(), DEMO_PRIVATE_KEY);
        assert_eq!(c.making_time, Duration::from_secs(3));
        assert_eq!(c.terminate_making, TerminateMaking::Allow);
        assert_eq!(c.fault_kinds, FaultKind::ALL.to_vec());
        assert!(!c.quiet);
    }

    #[test]
    fn explicit_keys_win_over_the_environment() {
        let c = run(&["--key", "a:b", "--key=c:d:e"], Some("x:y")).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys["a"].expose(), "b");
        assert_eq!(c.keys["c"].expose(), "d:e");
        let c = run(&[], Some("x:y, z:w")).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys["z"].expose(), "w");
    }

    #[test]
    fn flags_take_separate_or_inline_values() {
        let c = run(
            &[
                "--listen=127.0.0.1:8080",
                "--making-time",
                "0s",
                "--terminate-making",
                "reject",
                "--fault-rate",
                "0.5",
                "--fault-kinds",
                "153",
                "--lost-response-rate=1",
                "--latency",
                "25ms",
                "--seed",
                "7",
                "--state-file",
                "/tmp/s.json",
                "--quiet",
            ],
            None,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.making_time, Duration::ZERO);
        assert_eq!(c.terminate_making, TerminateMaking::Reject);
        assert_eq!(c.fault_rate, 0.5);
        assert_eq!(c.fault_kinds, vec![FaultKind::Throttled153]);
        assert_eq!(c.lost_response_rate, 1.0);
        assert_eq!(c.latency, Duration::from_millis(25));
        assert_eq!(c.seed, Some(7));
        assert_eq!(c.state_file, Some(PathBuf::from("/tmp/s.json")));
        assert!(c.quiet);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (args, flag) in [
            (&["--fault-rate", "1.5"][..], "--fault-rate"),
            (&["--fault-kinds", "404"][..], "--fault-kinds"),
            (&["--making-time", "soon"][..], "--making-time"),
            (&["--terminate-making", "maybe"][..], "--terminate-making"),
            (&["--key", "nocolon"][..], "--key"),
            (&["--listen", "localhost"][..], "--listen"),
            (&["--seed"][..], "--seed"),
            (&["--bogus"][..], "--bogus"),
        ] {
            let err = run(args, None).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_bad_key_error_never_echoes_the_private_half() {
        let err = run(&["--key", ":topsecret"], None).unwrap_err();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(!format!("{:?}", PrivateKey::new("topsecret")).contains("topsecret"));
    }

    #[test]
    fn help_is_recognised_and_documents_the_corrupt_convention() {
        assert!(matches!(parse(["--help".to_string()], None), Ok(Command::Help)));
        assert!(HELP.contains("corrupt"));
    }
}
