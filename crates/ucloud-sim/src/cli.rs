//! Command line of `ucloud-sim` (clap derive): flags, defaults, the `--help`
//! text and the fallback of `--key` to `UCLOUD_SIM_KEYS`. Other programs
//! (tests, the quick start) depend on these exact flag names, so they are
//! declared here and nowhere else.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};

use crate::faults::{FaultKind, LoseAnswers};
use crate::ufile::faults::UploadFaults;

/// The demo key pair used when no `--key` and no `UCLOUD_SIM_KEYS` is given.
pub const DEMO_PUBLIC_KEY: &str = "sim-public-key";
/// Private half of the demo pair; it is public knowledge, never a secret.
pub const DEMO_PRIVATE_KEY: &str = "sim-private-key";

/// Environment variable holding `pub:priv,pub2:priv2` when no `--key` is given.
pub const KEYS_ENV: &str = "UCLOUD_SIM_KEYS";

/// What `--help` says after the options: the conventions callers rely on.
const CONVENTIONS: &str = "\
Conventions:
    With --ufile-dir DIR, the files DIR/BUCKET/KEY are private UFile objects,
    served path-style at /ufile/BUCKET/KEY (HEAD, GET, Range) to requests
    signed by UFile's rule with an accepted key pair (Authorization header or
    presigned URL); give the provider ufile_base_url = \"<sim URL>/ufile\". An
    import whose UFileUrl names such a bucket reads the object through that
    URL's own signature and ends Unavailable when UHost could not import it
    (missing, unsigned, expired or badly signed, empty, compressed, not the
    declared Format); GET /_sim/images says why (ImportError).

    The same objects take uploads as UFile documents them (path-style):
    PUT /ufile/BUCKET/KEY (PutFile, at most 512 MiB), POST KEY?uploads
    (InitiateMultipartUpload, BlkSize from --ufile-blk-size), PUT
    KEY?uploadId=ID&partNumber=N (parts from 0, spooled to
    DIR/.multipart/ID/N), POST KEY?uploadId=ID (Finish: the part ETags joined
    by commas; part sizes and ETags are checked here), DELETE KEY?uploadId=ID
    (Abort), DELETE KEY (DeleteFile; a missing object is 404), and
    GET /ufile/BUCKET/?muploadpart&uploadId=ID / ?muploadid&prefix=P (list
    parts and unfinished uploads, signed for the resource /BUCKET/). HEAD
    and GET send UFile's object ETag. The UCloud action DescribeBucket lists
    the buckets under DIR.

    Any other import whose UFileUrl path contains `corrupt` ends in state
    Unavailable (a failed import); every other import ends Available.

    CopyCustomImage copies an Available custom image of Region/ProjectId into
    TargetRegion/TargetProjectId, where the copy is Copying for --copy-time,
    then Available, or Unavailable when the source was imported from a path
    containing `corrupt-copy` (that import itself succeeds).

    Two platform images (ImageType Base: uimage-base-centos79,
    uimage-base-ubuntu2204) are listed in every region and project, after the
    custom ones; they cannot be terminated (RetCode 8956).

    On start one line is printed to stdout:
        ucloud-sim listening on http://127.0.0.1:PORT
    Test hooks (JSON, never faulted): GET /_sim/images, GET /_sim/journal,
    GET /_sim/ufile/journal (object requests), GET /_sim/ufile/stats
    (requests per operation, bytes received, parts stored), GET
    /_sim/ufile/objects, GET /_sim/ufile/uploads, GET and POST
    /_sim/ufile/faults (part_error_rate, lose_finish, reset_part_mid_body,
    bandwidth_bytes_per_sec, corrupt_part, corrupt_part_answer; the fields
    posted replace the current ones), POST /_sim/images/{id}/delete,
    POST /_sim/reset (also restores the start-up faults). URLs in them show
    signatures and tokens as <redacted>.";

/// ucloud-sim: a local stand-in for UCloud's image API (ImportCustomImage,
/// CopyCustomImage, DescribeImage, TerminateCustomImage), for tests and the
/// quick start.
#[derive(Debug, Parser)]
// Negative numbers are taken as values (and refused by their parser) so the
// error names the flag; a flag given twice keeps its last value.
#[command(name = "ucloud-sim", after_help = CONVENTIONS, args_override_self = true)]
pub struct Args {
    /// Address to bind
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Accepted API key pair; repeatable (env UCLOUD_SIM_KEYS="pub:priv,pub2:priv2"; default:
    /// sim-public-key:sim-private-key)
    #[arg(long = "key", value_name = "PUBLIC:PRIVATE", value_parser = KeyParser)]
    pub keys: Vec<KeyPair>,

    /// How long an import stays Making
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub making_time: Duration,

    /// How long a copy (CopyCustomImage) stays Copying
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub copy_time: Duration,

    /// Whether an image may be deleted while Making or Copying; reject answers RetCode 8957
    #[arg(long, value_name = "MODE", value_enum, default_value_t = TerminateMaking::Allow)]
    pub terminate_making: TerminateMaking,

    /// Probability of answering a fault instead of performing the action
    #[arg(long, value_name = "P", default_value = "0.0", value_parser = parse_probability, allow_negative_numbers = true)]
    pub fault_rate: f64,

    /// Faults to draw from: 429 and 503 (HTTP status), 153 and 150 (RetCode)
    // A fully qualified Vec: one comma-separated value, not a repeatable flag.
    #[arg(long, value_name = "LIST", default_value = "429,503,153,150", value_parser = parse_fault_kinds)]
    pub fault_kinds: ::std::vec::Vec<FaultKind>,

    /// Probability of performing the action and then closing the connection without answering
    #[arg(long, value_name = "P", default_value = "0.0", value_parser = parse_probability, allow_negative_numbers = true)]
    pub lost_response_rate: f64,

    /// Perform the first N requests of ACTION, then close the connection without answering, e.g.
    /// CopyCustomImage:1 (N defaults to 1; comma-separated for several actions)
    // A fully qualified Vec: one comma-separated value, not a repeatable flag.
    #[arg(long, value_name = "ACTION[:N],...", default_value = "", value_parser = parse_lose_answers)]
    pub lose_answers: ::std::vec::Vec<(String, u32)>,
    /// Probability of performing an ImportCustomImage and answering RetCode 0 without its ImageId, as a broken gateway would
    #[arg(long, value_name = "P", default_value = "0.0", value_parser = parse_probability, allow_negative_numbers = true)]
    pub idless_answer_rate: f64,

    /// Delay before every API answer
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    pub latency: Duration,

    /// Throttle like UCloud: at most N requests per second per API key (bursts of N); the rest are answered RetCode
    /// 153 and not performed [default: no limit]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: Option<u32>,

    /// Seed for faults and generated ids (printed at start when not given)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// Load images from PATH at start and save them after every change
    #[arg(long, value_name = "PATH", value_parser = parse_state_file)]
    pub state_file: Option<PathBuf>,

    /// Serve the files DIR/BUCKET/KEY as private UFile objects at /ufile/BUCKET/KEY, and
    /// import them by their real bytes
    #[arg(long, value_name = "DIR", value_parser = parse_ufile_dir)]
    pub ufile_dir: Option<PathBuf>,

    /// The part size (BlkSize) InitiateMultipartUpload answers: every part but the last must be exactly this long
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub ufile_blk_size: u64,

    /// The largest PutFile accepted (UFile documents 512 MiB); larger files must go in parts.
    /// Raised by the upload benchmark for its raw single-PUT baseline
    #[arg(long, value_name = "BYTES", default_value_t = 512 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub ufile_put_limit: u64,

    /// Probability of answering an UploadPart 500 without storing the part
    #[arg(long, value_name = "P", default_value = "0.0", value_parser = parse_probability, allow_negative_numbers = true)]
    pub ufile_part_error_rate: f64,

    /// Cap on the bytes per second received by all UFile upload bodies together [default: no cap]
    #[arg(long, value_name = "BYTES_PER_SEC", value_parser = clap::value_parser!(u64).range(1..))]
    pub ufile_bandwidth: Option<u64>,

    /// No per-request log lines on stderr
    #[arg(long)]
    pub quiet: bool,
}

/// Whether TerminateCustomImage may delete an image that is still Making
/// (or Copying).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

/// One `--key PUBLIC:PRIVATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    pub public: String,
    pub private: PrivateKey,
}

/// Accepted key pairs: public key -> private key.
pub type Keys = HashMap<String, PrivateKey>;

/// Everything the simulator is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub keys: Keys,
    pub making_time: Duration,
    pub copy_time: Duration,
    pub terminate_making: TerminateMaking,
    pub fault_rate: f64,
    pub fault_kinds: Vec<FaultKind>,
    pub lost_response_rate: f64,
    pub lose_answers: LoseAnswers,
    pub idless_answer_rate: f64,
    pub latency: Duration,
    /// Requests per second per API key before RetCode 153; `None`: no limit.
    pub rate_limit: Option<u32>,
    pub seed: Option<u64>,
    pub state_file: Option<PathBuf>,
    pub ufile_dir: Option<PathBuf>,
    /// The BlkSize of multipart uploads.
    pub ufile_blk_size: u64,
    /// The largest PutFile.
    pub ufile_put_limit: u64,
    /// Upload faults in force at start (and after `/_sim/reset`).
    pub ufile_faults: UploadFaults,
    pub quiet: bool,
}

impl Args {
    /// The configuration these arguments ask for. `env_keys` is the value of
    /// [`KEYS_ENV`], used only when no `--key` is given; passing it in keeps
    /// parsing a pure function of its inputs.
    pub fn into_config(self, env_keys: Option<&str>) -> Result<Config, String> {
        let mut keys: Keys = self.keys.into_iter().map(|k| (k.public, k.private)).collect();
        if keys.is_empty() {
            match env_keys.filter(|s| !s.trim().is_empty()) {
                Some(list) => {
                    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let pair = parse_key(pair).map_err(|e| format!("{KEYS_ENV}: {e}"))?;
                        keys.insert(pair.public, pair.private);
                    }
                }
                None => {
                    keys.insert(DEMO_PUBLIC_KEY.to_string(), PrivateKey::new(DEMO_PRIVATE_KEY));
                }
            }
        }
        if self.fault_rate > 0.0 && self.fault_kinds.is_empty() {
            return Err("--fault-rate is above 0 but --fault-kinds is empty".to_string());
        }
        Ok(Config {
            listen: self.listen,
            keys,
            making_time: self.making_time,
            copy_time: self.copy_time,
            terminate_making: self.terminate_making,
            fault_rate: self.fault_rate,
            fault_kinds: self.fault_kinds,
            lost_response_rate: self.lost_response_rate,
            lose_answers: self.lose_answers.into_iter().collect(),
            idless_answer_rate: self.idless_answer_rate,
            latency: self.latency,
            rate_limit: self.rate_limit,
            seed: self.seed,
            state_file: self.state_file,
            ufile_dir: self.ufile_dir,
            ufile_blk_size: self.ufile_blk_size,
            ufile_put_limit: self.ufile_put_limit,
            ufile_faults: UploadFaults {
                part_error_rate: self.ufile_part_error_rate,
                bandwidth_bytes_per_sec: self.ufile_bandwidth.unwrap_or(0),
                ..UploadFaults::default()
            },
            quiet: self.quiet,
        })
    }
}

/// Parses `args` (without the program name) as the binary does, for a
/// simulator started in-process; `--help` and every mistake are an `Err`
/// holding clap's text.
pub fn parse<I, T>(args: I, env_keys: Option<&str>) -> Result<Config, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let program = std::iter::once(OsString::from("ucloud-sim"));
    let args = Args::try_parse_from(program.chain(args.into_iter().map(Into::into))).map_err(|e| e.to_string())?;
    args.into_config(env_keys)
}

/// Parses `--key` without ever repeating the value in an error: it holds a
/// private key, and clap's own errors quote the value they refuse.
#[derive(Clone, Copy, Debug)]
struct KeyParser;

impl TypedValueParser for KeyParser {
    type Value = KeyPair;

    fn parse_ref(&self, cmd: &clap::Command, _arg: Option<&clap::Arg>, value: &OsStr) -> Result<KeyPair, clap::Error> {
        let parsed = value
            .to_str()
            .ok_or_else(|| "is not UTF-8".to_string())
            .and_then(parse_key);
        parsed.map_err(|e| cmd.clone().error(ErrorKind::ValueValidation, format!("--key: {e}")))
    }
}

/// Splits `PUBLIC:PRIVATE` at the first colon. The error never repeats the
/// private half.
fn parse_key(pair: &str) -> Result<KeyPair, String> {
    match pair.split_once(':') {
        Some((public, private)) if !public.is_empty() && !private.is_empty() => Ok(KeyPair {
            public: public.to_string(),
            private: PrivateKey::new(private),
        }),
        _ => Err("expected PUBLIC:PRIVATE with both halves non-empty".to_string()),
    }
}

fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| "not an IP:PORT address (e.g. 127.0.0.1:0)".to_string())
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("not a duration like 3s or 250ms ({e})"))
}

fn parse_probability(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err("not a probability between 0.0 and 1.0".to_string()),
    }
}

fn parse_fault_kinds(value: &str) -> Result<Vec<FaultKind>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::parse)
        .collect()
}

fn parse_ufile_dir(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.is_dir() {
        Ok(path)
    } else {
        Err("not a directory".to_string())
    }
}

fn parse_lose_answers(value: &str) -> Result<Vec<(String, u32)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (action, n) = entry.split_once(':').unwrap_or((entry, "1"));
            let action_ok = !action.is_empty() && action.chars().all(|c| c.is_ascii_alphanumeric());
            match n.parse::<u32>() {
                Ok(n) if action_ok => Ok((action.to_string(), n)),
                _ => Err(format!("`{entry}` is not ACTION or ACTION:N (e.g. CopyCustomImage:1)")),
            }
        })
        .collect()
}

fn parse_state_file(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        Err("the path is empty".to_string())
    } else {
        Ok(PathBuf::from(value))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<Config, String> {
        parse(args.iter().copied(), env)
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_use_the_demo_key_and_a_three_second_import() {
        let c = run(&[], None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        assert_eq!(c.keys.len(), 1);
        assert_eq!(c.keys[DEMO_PUBLIC_KEY].expose(), DEMO_PRIVATE_KEY);
        assert_eq!(c.making_time, Duration::from_secs(3));
        assert_eq!(c.copy_time, Duration::from_secs(3));
        assert!(c.lose_answers.is_empty());
        assert_eq!(c.terminate_making, TerminateMaking::Allow);
        assert_eq!(c.fault_rate, 0.0);
        assert_eq!(c.fault_kinds, FaultKind::ALL.to_vec());
        assert_eq!(c.lost_response_rate, 0.0);
        assert_eq!(c.latency, Duration::ZERO);
        assert_eq!(c.rate_limit, None);
        assert_eq!((c.seed, c.state_file, c.quiet), (None, None, false));
        assert_eq!(c.ufile_blk_size, 4 << 20);
        assert_eq!(c.ufile_faults, UploadFaults::default());
        let c = run(&["--ufile-part-error-rate", "0.25", "--ufile-bandwidth", "1000"], None).unwrap();
        assert_eq!(
            (c.ufile_faults.part_error_rate, c.ufile_faults.bandwidth_bytes_per_sec),
            (0.25, 1000)
        );
    }

    #[test]
    fn explicit_keys_win_over_the_environment() {
        let c = run(&["--key", "a:b", "--key=c:d:e"], Some("x:y")).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys["a"].expose(), "b");
        assert_eq!(c.keys["c"].expose(), "d:e");
        let c = run(&[], Some("x:y, z:w,")).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys["z"].expose(), "w");
        let c = run(&[], Some("  ")).unwrap();
        assert_eq!(c.keys[DEMO_PUBLIC_KEY].expose(), DEMO_PRIVATE_KEY);
        let err = run(&[], Some("x:y,broken")).unwrap_err();
        assert!(err.contains(KEYS_ENV), "{err}");
    }

    #[test]
    fn flags_take_separate_or_inline_values_and_the_last_one_wins() {
        let c = run(
            &[
                "--listen=127.0.0.1:8080",
                "--making-time",
                "0s",
                "--copy-time=250ms",
                "--lose-answers",
                "CopyCustomImage, ImportCustomImage:3",
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
                "8",
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
        assert_eq!(c.copy_time, Duration::from_millis(250));
        assert_eq!(
            c.lose_answers,
            LoseAnswers::from([("CopyCustomImage".into(), 1), ("ImportCustomImage".into(), 3)])
        );
        assert_eq!(c.terminate_making, TerminateMaking::Reject);
        assert_eq!(c.fault_rate, 0.5);
        assert_eq!(c.fault_kinds, vec![FaultKind::Throttled153]);
        assert_eq!(c.lost_response_rate, 1.0);
        assert_eq!(c.latency, Duration::from_millis(25));
        assert_eq!(c.seed, Some(7));
        assert_eq!(c.state_file, Some(PathBuf::from("/tmp/s.json")));
        assert!(c.quiet);
        let c = run(&["--fault-kinds", "429, 150"], None).unwrap();
        assert_eq!(c.fault_kinds, vec![FaultKind::Http429, FaultKind::Unavailable150]);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (args, flag) in [
            (&["--fault-rate", "1.5"][..], "--fault-rate"),
            (&["--lost-response-rate", "-1"][..], "--lost-response-rate"),
            (&["--fault-kinds", "404"][..], "--fault-kinds"),
            (&["--fault-rate", "0.1", "--fault-kinds", ""][..], "--fault-kinds"),
            (&["--making-time", "soon"][..], "--making-time"),
            (&["--copy-time", "later"][..], "--copy-time"),
            (&["--lose-answers", "CopyCustomImage:x"][..], "--lose-answers"),
            (&["--lose-answers", ":2"][..], "--lose-answers"),
            (&["--latency", "soon"][..], "--latency"),
            (&["--terminate-making", "maybe"][..], "--terminate-making"),
            (&["--key", "nocolon"][..], "--key"),
            (&["--listen", "localhost"][..], "--listen"),
            (&["--seed", "-3"][..], "--seed"),
            (&["--seed"][..], "--seed"),
            (&["--state-file", ""][..], "--state-file"),
            (&["--ufile-dir", "/nonexistent/ucloud-sim-objects"][..], "--ufile-dir"),
            (&["--ufile-blk-size", "0"][..], "--ufile-blk-size"),
            (&["--ufile-part-error-rate", "2"][..], "--ufile-part-error-rate"),
            (&["--ufile-bandwidth", "fast"][..], "--ufile-bandwidth"),
            (&["--bogus"][..], "--bogus"),
        ] {
            let err = run(args, None).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_bad_key_error_never_echoes_the_private_half() {
        for bad in [":topsecret", "topsecret"] {
            let err = run(&["--key", bad], None).unwrap_err();
            assert!(!err.contains("topsecret"), "{err}");
        }
        let err = run(&[], Some("x:y,:topsecret")).unwrap_err();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(!format!("{:?}", PrivateKey::new("topsecret")).contains("topsecret"));
        let args = Args::try_parse_from(["ucloud-sim", "--key", "pub:topsecret"]).unwrap();
        assert!(!format!("{args:?}").contains("topsecret"));
    }

    #[test]
    fn help_documents_the_flags_and_the_conventions() {
        let err = run(&["--help"], None).unwrap_err();
        let help = Args::command().render_help().to_string();
        assert_eq!(
            err.trim_end(),
            help.trim_end(),
            "--help is an Err holding the help text"
        );
        for fact in [
            "--listen",
            "--key",
            KEYS_ENV,
            DEMO_PUBLIC_KEY,
            "--making-time",
            "[default: 3s]",
            "--terminate-making",
            "8957",
            "--fault-rate",
            "--fault-kinds",
            "[default: 429,503,153,150]",
            "--lost-response-rate",
            "--latency",
            "--seed",
            "--state-file",
            "--quiet",
            "corrupt",
            "uimage-base-centos79",
            "uimage-base-ubuntu2204",
            "8956",
            "listening on http://127.0.0.1:PORT",
            "/_sim/journal",
            "/_sim/reset",
            "--ufile-blk-size",
            "[default: 4194304]",
            "--ufile-part-error-rate",
            "--ufile-bandwidth",
            "/_sim/ufile/faults",
            "/_sim/ufile/stats",
            "/_sim/ufile/objects",
            "/_sim/ufile/uploads",
            "DescribeBucket",
            "muploadpart",
        ] {
            assert!(help.contains(fact), "--help lacks {fact}:\n{help}");
        }
    }
}
