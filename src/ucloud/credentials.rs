//! The credential chain: where the key pair, region, project and endpoint
//! come from. Precedence: explicit settings (the provider block), then the
//! environment, then the UCloud CLI's profile files in `~/.ucloud/`, then
//! defaults. Errors name the file or the setting ([`Setting`], which a caller
//! words as its own argument) and say how to fix it; none ever contains the
//! private key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::client::{ClientConfig, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, parse_base_url};
use super::rate::RateLimit;
use super::secret::Secret;

pub const ENV_PUBLIC_KEY: &str = "UCLOUD_PUBLIC_KEY";
pub const ENV_PRIVATE_KEY: &str = "UCLOUD_PRIVATE_KEY";
pub const ENV_REGION: &str = "UCLOUD_REGION";
pub const ENV_PROJECT_ID: &str = "UCLOUD_PROJECT_ID";
pub const ENV_PROFILE: &str = "UCLOUD_PROFILE";
pub const ENV_SHARED_CREDENTIAL_FILE: &str = "UCLOUD_SHARED_CREDENTIAL_FILE";
pub const ENV_API_BASE_URL: &str = "UCLOUD_API_BASE_URL";

/// UCloud's own names for the two halves of an API key pair: the keys of
/// its CLI's credential file (and of its SDKs' configuration).
pub const PUBLIC_KEY_NAME: &str = "public_key";
pub const PRIVATE_KEY_NAME: &str = "private_key";

/// The profile used when none is named and none is marked active.
pub const DEFAULT_PROFILE: &str = "default";
/// Where the UCloud CLI keeps key pairs, relative to the home directory.
pub const DEFAULT_CREDENTIAL_FILE: &str = "~/.ucloud/credential.json";
/// The UCloud CLI's per-profile settings (region, project, endpoint).
const CONFIG_FILE: &str = ".ucloud/config.json";

/// Values set explicitly (in the provider block). `None` and empty strings
/// mean "not set here": the chain looks further.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub public_key: Option<String>,
    pub private_key: Option<Secret>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub profile: Option<String>,
    pub shared_credentials_file: Option<String>,
    pub base_url: Option<String>,
    pub max_retries: Option<u32>,
}

/// The outcome of the chain: everything the client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub public_key: String,
    pub private_key: Secret,
    pub region: String,
    pub project_id: Option<String>,
    pub base_url: String,
    pub max_retries: u32,
    /// The profile whose files were consulted.
    pub profile: String,
    /// What the caller should warn about: a credential file others can
    /// read, a profile file that could not be read but was not needed.
    pub notes: Vec<FileNote>,
}

/// Something about a profile file worth a warning; the chain went on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileNote {
    /// The credential file can be read by other users (`mode`, octal).
    ReadableByOthers { path: PathBuf, mode: u32 },
    /// The settings file could not be read; nothing required came from it,
    /// so the chain went on without it (`problem` says why).
    Unreadable { path: PathBuf, problem: String },
}

impl fmt::Display for FileNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileNote::ReadableByOthers { path, mode } => write!(
                f,
                "{} holds a private key and other users can read it (mode {mode:o})",
                path.display()
            ),
            FileNote::Unreadable { path, problem } => write!(
                f,
                "{} could not be read ({problem}); nothing required was taken from it, so it was skipped",
                path.display()
            ),
        }
    }
}

impl Resolved {
    /// The client configuration for these credentials, with the default
    /// per-request timeout and rate limit.
    pub fn client_config(&self, user_agent_extra: impl Into<String>) -> ClientConfig {
        ClientConfig {
            base_url: self.base_url.clone(),
            public_key: self.public_key.clone(),
            private_key: self.private_key.clone(),
            max_retries: self.max_retries,
            timeout: DEFAULT_TIMEOUT,
            user_agent_extra: user_agent_extra.into(),
            rate_limit: RateLimit::default(),
        }
    }
}

/// A setting of the chain, as errors name it: a program that sets it under
/// another name (the provider's arguments) says that name itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    PublicKey,
    PrivateKey,
    Region,
    Profile,
    BaseUrl,
}

impl Setting {
    /// The environment variable the chain reads it from.
    pub fn env(self) -> &'static str {
        match self {
            Setting::PublicKey => ENV_PUBLIC_KEY,
            Setting::PrivateKey => ENV_PRIVATE_KEY,
            Setting::Region => ENV_REGION,
            Setting::Profile => ENV_PROFILE,
            Setting::BaseUrl => ENV_API_BASE_URL,
        }
    }

    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Setting::PublicKey => "the public key",
            Setting::PrivateKey => "the private key",
            Setting::Region => "the region",
            Setting::Profile => "the profile",
            Setting::BaseUrl => "the API base URL",
        }
    }
}

/// Why the configuration cannot be used. `Display` says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A required value was found nowhere in the chain.
    Missing {
        setting: Setting,
        profile: String,
        /// The profile file that could have supplied it, if there is a home.
        file: Option<PathBuf>,
    },
    /// A profile file that must be read could not be, or is malformed.
    File { path: PathBuf, problem: String },
    /// The named profile is not in the credential file.
    ProfileNotFound {
        profile: String,
        path: PathBuf,
        known: Vec<String>,
    },
    /// A value is set but unusable.
    Invalid { setting: Setting, problem: String },
}

impl ConfigError {
    /// The setting the error is about, to point a diagnostic at.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            ConfigError::Missing { setting, .. } | ConfigError::Invalid { setting, .. } => Some(*setting),
            ConfigError::ProfileNotFound { .. } => Some(Setting::Profile),
            ConfigError::File { .. } => None,
        }
    }

    /// What is wrong, without what to do about it (which names settings).
    pub fn fact(&self) -> String {
        match self {
            ConfigError::Missing { setting, .. } => format!("{} is not set", setting.describe()),
            ConfigError::File { path, problem } => format!("cannot use {}: {problem}", path.display()),
            ConfigError::ProfileNotFound { profile, path, known } => {
                let held = if known.is_empty() {
                    "no profiles".to_owned()
                } else {
                    known.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
                };
                format!("profile {profile:?} is not in {} (it holds {held})", path.display())
            }
            ConfigError::Invalid { setting, problem } => format!("invalid {}: {problem}", setting.describe()),
        }
    }

    /// Where else a missing value could come from: the UCloud CLI's
    /// profile file, when there is a home to keep it in.
    pub fn profile_file_hint(&self) -> Option<String> {
        match self {
            ConfigError::Missing {
                profile,
                file: Some(path),
                ..
            } => Some(format!(
                "run `ucloud init` to store it in profile {profile:?} of {}",
                path.display()
            )),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fact())?;
        match self {
            ConfigError::Missing { setting, .. } => {
                write!(f, ": set the {} environment variable", setting.env())?;
                match self.profile_file_hint() {
                    Some(hint) => write!(f, ", or {hint}"),
                    None => Ok(()),
                }
            }
            ConfigError::ProfileNotFound { .. } => write!(
                f,
                ": set {ENV_PROFILE} to one of those, or add the profile with `ucloud init`"
            ),
            ConfigError::File { .. } | ConfigError::Invalid { .. } => Ok(()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The process environment, for [`resolve`]'s `env` argument.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The user's home directory, for [`resolve`]'s `home` argument.
pub fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Where a resolved value came from, for the debug log.
#[derive(Clone, Copy, Debug)]
enum Source {
    Explicit,
    Env,
    Profile,
    Default,
    Unset,
}

/// One entry of `credential.json`.
struct CredentialEntry {
    profile: String,
    public_key: Option<String>,
    private_key: Option<Secret>,
}

/// One entry of `config.json`.
struct ConfigEntry {
    profile: String,
    active: bool,
    region: Option<String>,
    project_id: Option<String>,
    base_url: Option<String>,
}

/// Runs the chain. `env` reads environment variables (pass [`process_env`]);
/// `home` is the home directory (pass [`home_dir`]), `None` if there is none:
/// then only explicitly named files are read.
pub fn resolve(
    explicit: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Resolved, ConfigError> {
    let from_env = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);

    let mut notes = Vec::new();
    let named_profile = given(&explicit.profile).or_else(|| from_env(ENV_PROFILE));
    // Set in the block or the environment: no file needs to supply it.
    let set_here = |block: Option<String>, env_name: &str| block.is_some() || from_env(env_name).is_some();
    let public_given = set_here(given(&explicit.public_key), ENV_PUBLIC_KEY);
    let private_given = explicit
        .private_key
        .as_ref()
        .is_some_and(|k| !k.expose().trim().is_empty())
        || from_env(ENV_PRIVATE_KEY).is_some();
    let region_given = set_here(given(&explicit.region), ENV_REGION);

    // The settings file is read for what is not given; a broken one fails
    // the chain only when something required would come from it: the
    // region, or the active profile naming the key pair to read.
    let config_path = home.map(|h| h.join(CONFIG_FILE));
    let config_required = !region_given || (named_profile.is_none() && !(public_given && private_given));
    let config = match &config_path {
        Some(path) => match read_entries(path, false).and_then(|e| e.map(|e| parse_config(path, e)).transpose()) {
            Ok(entries) => entries.unwrap_or_default(),
            Err(e) if config_required => return Err(e),
            Err(e) => {
                notes.push(FileNote::Unreadable {
                    path: path.clone(),
                    problem: e.fact(),
                });
                Vec::new()
            }
        },
        None => Vec::new(),
    };

    let profile = match &named_profile {
        Some(p) => p.clone(),
        None => config
            .iter()
            .find(|c| c.active)
            .map_or_else(|| DEFAULT_PROFILE.to_owned(), |c| c.profile.clone()),
    };

    let named_file = given(&explicit.shared_credentials_file).or_else(|| from_env(ENV_SHARED_CREDENTIAL_FILE));
    let credential_path = match &named_file {
        Some(raw) => Some(expand_home(raw, home)?),
        None => home.map(|h| h.join(&DEFAULT_CREDENTIAL_FILE[2..])),
    };
    // The credential file is read only for a key the block and the
    // environment leave unset.
    let credentials = match &credential_path {
        Some(path) if !(public_given && private_given) => {
            let entries = read_entries(path, named_file.is_some())?;
            if entries.is_some()
                && let Some(mode) = readable_by_others(path)
            {
                notes.push(FileNote::ReadableByOthers {
                    path: path.clone(),
                    mode,
                });
            }
            entries.map(|e| parse_credentials(path, e)).transpose()?
        }
        _ => None,
    };
    let credential = match (&credentials, &credential_path) {
        (Some(entries), Some(path)) => {
            let found = entries.iter().find(|c| c.profile == profile);
            if found.is_none() && named_profile.is_some() {
                return Err(ConfigError::ProfileNotFound {
                    profile,
                    path: path.clone(),
                    known: entries.iter().map(|c| c.profile.clone()).collect(),
                });
            }
            found
        }
        _ => None,
    };
    let settings = config.iter().find(|c| c.profile == profile);

    let pick = |block: Option<String>, env_name: &str, file: Option<&String>| -> (Option<String>, Source) {
        if let Some(v) = block {
            (Some(v), Source::Explicit)
        } else if let Some(v) = from_env(env_name) {
            (Some(v), Source::Env)
        } else if let Some(v) = file {
            (Some(v.clone()), Source::Profile)
        } else {
            (None, Source::Unset)
        }
    };
    let missing = |setting, file: &Option<PathBuf>| ConfigError::Missing {
        setting,
        profile: profile.clone(),
        file: file.clone(),
    };

    let (public_key, public_key_from) = pick(
        given(&explicit.public_key),
        ENV_PUBLIC_KEY,
        credential.and_then(|c| c.public_key.as_ref()),
    );
    let public_key = public_key.ok_or_else(|| missing(Setting::PublicKey, &credential_path))?;

    let (private_key, private_key_from) = match explicit.private_key.as_ref().filter(|k| !k.expose().trim().is_empty())
    {
        Some(k) => (Some(Secret::new(k.expose().trim())), Source::Explicit),
        None => match from_env(ENV_PRIVATE_KEY) {
            Some(k) => (Some(Secret::new(k)), Source::Env),
            None => match credential.and_then(|c| c.private_key.clone()) {
                Some(k) => (Some(k), Source::Profile),
                None => (None, Source::Unset),
            },
        },
    };
    let private_key = private_key.ok_or_else(|| missing(Setting::PrivateKey, &credential_path))?;

    let (region, region_from) = pick(
        given(&explicit.region),
        ENV_REGION,
        settings.and_then(|s| s.region.as_ref()),
    );
    let region = region.ok_or_else(|| missing(Setting::Region, &config_path))?;

    let (project_id, project_id_from) = pick(
        given(&explicit.project_id),
        ENV_PROJECT_ID,
        settings.and_then(|s| s.project_id.as_ref()),
    );

    let (base_url, base_url_from) = match pick(
        given(&explicit.base_url),
        ENV_API_BASE_URL,
        settings.and_then(|s| s.base_url.as_ref()),
    ) {
        (Some(url), from) => (url, from),
        (None, _) => (DEFAULT_BASE_URL.to_owned(), Source::Default),
    };
    parse_base_url(&base_url).map_err(|problem| ConfigError::Invalid {
        setting: Setting::BaseUrl,
        problem,
    })?;

    let max_retries = explicit.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);

    tracing::debug!(
        target: "tpu::ucloud",
        profile = %profile,
        public_key_from = ?public_key_from,
        private_key_from = ?private_key_from,
        region_from = ?region_from,
        project_id_from = ?project_id_from,
        base_url_from = ?base_url_from,
        credential_file = ?credential_path.as_ref().filter(|_| credentials.is_some()),
        "UCloud credentials resolved",
    );

    Ok(Resolved {
        public_key,
        private_key,
        region,
        project_id,
        base_url,
        max_retries,
        profile,
        notes,
    })
}

/// The permission bits of `path` when its group or others may read it.
fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

/// `~` and `~/...` relative to `home`; anything else as given.
fn expand_home(raw: &str, home: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let rest = match raw.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\') => rest,
        _ => return Ok(PathBuf::from(raw)),
    };
    let Some(home) = home else {
        return Err(ConfigError::File {
            path: PathBuf::from(raw),
            problem: "`~` cannot be expanded because the home directory is unknown; give the full path".to_owned(),
        });
    };
    let rest = rest.trim_start_matches(['/', '\\']);
    Ok(if rest.is_empty() {
        home.to_path_buf()
    } else {
        home.join(rest)
    })
}

/// The largest profile file read: UCloud's CLI writes a few hundred bytes
/// per profile.
pub const MAX_PROFILE_FILE_BYTES: u64 = 1024 * 1024;

/// What a file that is not a regular file is, for messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "something other than a file"
    }
}

/// The JSON array of profile objects in `path`. A missing file is `None`
/// unless it was named explicitly (`required`).
fn read_entries(path: &Path, required: bool) -> Result<Option<Vec<Map<String, Value>>>, ConfigError> {
    let problem = |problem: String| ConfigError::File {
        path: path.to_path_buf(),
        problem,
    };
    // Checked before opening: opening a FIFO would wait for a writer, and
    // a device or a huge file is no profile file.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(problem(
                "the file does not exist; check the path or create it with `ucloud init`".to_owned(),
            ));
        }
        Err(e) => return Err(problem(format!("cannot read it: {e}"))),
    };
    if !meta.is_file() {
        return Err(problem(format!(
            "it is not a regular file but {}",
            file_kind(&meta.file_type())
        )));
    }
    if meta.len() > MAX_PROFILE_FILE_BYTES {
        return Err(problem(format!(
            "it holds {} bytes, more than a profile file's limit of {MAX_PROFILE_FILE_BYTES}",
            meta.len()
        )));
    }
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|f| {
        use std::io::Read;
        f.take(MAX_PROFILE_FILE_BYTES + 1).read_to_string(&mut text)
    });
    if let Err(e) = read {
        return Err(problem(format!("cannot read it: {e}")));
    }
    if text.len() as u64 > MAX_PROFILE_FILE_BYTES {
        return Err(problem(format!(
            "it grew past a profile file's limit of {MAX_PROFILE_FILE_BYTES} bytes"
        )));
    }
    if text.trim().is_empty() {
        return Ok(Some(Vec::new()));
    }
    // serde_json's syntax errors name a position, never the text: safe for a
    // file that holds a private key.
    let value: Value = serde_json::from_str(&text).map_err(|e| problem(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(problem(
            "expected a JSON array of profile objects, like the UCloud CLI writes".to_owned(),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(map) => Ok(map),
            _ => Err(problem(format!("entry {i} is not a JSON object"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A string field of entry `index`; empty means absent. The error never
/// quotes the value.
fn string_field(
    path: &Path,
    index: usize,
    entry: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(ConfigError::File {
            path: path.to_path_buf(),
            problem: format!("entry {index}: `{key}` must be a string"),
        }),
    }
}

fn profile_name(path: &Path, index: usize, entry: &Map<String, Value>) -> Result<String, ConfigError> {
    string_field(path, index, entry, "profile")?.ok_or_else(|| ConfigError::File {
        path: path.to_path_buf(),
        problem: format!("entry {index} has no `profile` name"),
    })
}

fn parse_credentials(path: &Path, entries: Vec<Map<String, Value>>) -> Result<Vec<CredentialEntry>, ConfigError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(CredentialEntry {
                profile: profile_name(path, i, e)?,
                public_key: string_field(path, i, e, PUBLIC_KEY_NAME)?,
                private_key: string_field(path, i, e, PRIVATE_KEY_NAME)?.map(Secret::new),
            })
        })
        .collect()
}

fn parse_config(path: &Path, entries: Vec<Map<String, Value>>) -> Result<Vec<ConfigEntry>, ConfigError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let active = match e.get("active") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ConfigError::File {
                        path: path.to_path_buf(),
                        problem: format!("entry {i}: `active` must be true or false"),
                    });
                }
            };
            Ok(ConfigEntry {
                profile: profile_name(path, i, e)?,
                active,
                region: string_field(path, i, e, "region")?,
                project_id: string_field(path, i, e, "project_id")?,
                base_url: string_field(path, i, e, "base_url")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Home {
        dir: tempfile::TempDir,
    }

    impl Home {
        fn new() -> Self {
            let dir = tempfile::tempdir().map_err(|e| e.to_string());
            let dir = match dir {
                Ok(d) => d,
                Err(e) => panic!("temp dir: {e}"),
            };
            std::fs::create_dir_all(dir.path().join(".ucloud")).ok();
            Home { dir }
        }
        fn path(&self) -> &Path {
            self.dir.path()
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.path().join(rel);
            if let Err(e) = std::fs::write(&p, text) {
                panic!("write {}: {e}", p.display());
            }
            p
        }
        fn profiles(&self) {
            self.write(
                ".ucloud/credential.json",
                r#"[{"profile":"default","public_key":"pub-default","private_key":"priv-default"},
                    {"profile":"prod","public_key":"pub-prod","private_key":"priv-prod","cookie":"ignored"}]"#,
            );
            self.write(
                ".ucloud/config.json",
                r#"[{"profile":"default","active":false,"region":"cn-bj2","project_id":"org-default","zone":"cn-bj2-02","timeout_sec":30},
                    {"profile":"prod","active":true,"region":"hk","project_id":"org-prod","base_url":"http://127.0.0.1:8080"}]"#,
            );
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| map.get(name).cloned()
    }

    fn ok(r: Result<Resolved, ConfigError>) -> Resolved {
        match r {
            Ok(r) => r,
            Err(e) => panic!("expected success, got: {e}"),
        }
    }

    fn err(r: Result<Resolved, ConfigError>) -> ConfigError {
        match r {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn explicit_beats_env_beats_files() {
        let home = Home::new();
        home.profiles();
        let env = env_of(&[
            (ENV_PUBLIC_KEY, "pub-env"),
            (ENV_PRIVATE_KEY, "priv-env"),
            (ENV_REGION, "cn-sh2"),
            (ENV_PROJECT_ID, "org-env"),
        ]);
        let explicit = Settings {
            public_key: Some("pub-block".into()),
            region: Some("cn-gd".into()),
            ..Default::default()
        };
        let r = ok(resolve(&explicit, &env, Some(home.path())));
        assert_eq!(r.public_key, "pub-block");
        assert_eq!(r.private_key.expose(), "priv-env");
        assert_eq!(r.region, "cn-gd");
        assert_eq!(r.project_id.as_deref(), Some("org-env"));
        // Nothing overrides the active profile's endpoint here.
        assert_eq!(r.base_url, "http://127.0.0.1:8080");
        assert_eq!(r.profile, "prod");
        assert_eq!(r.max_retries, 3);
    }

    #[test]
    fn active_profile_supplies_everything() {
        let home = Home::new();
        home.profiles();
        let r = ok(resolve(&Settings::default(), &env_of(&[]), Some(home.path())));
        assert_eq!((r.profile.as_str(), r.public_key.as_str()), ("prod", "pub-prod"));
        assert_eq!(r.private_key.expose(), "priv-prod");
        assert_eq!((r.region.as_str(), r.project_id.as_deref()), ("hk", Some("org-prod")));
    }

    #[test]
    fn named_profile_from_env_or_block_wins_over_active() {
        let home = Home::new();
        home.profiles();
        let r = ok(resolve(
            &Settings::default(),
            &env_of(&[(ENV_PROFILE, "default")]),
            Some(home.path()),
        ));
        assert_eq!((r.public_key.as_str(), r.region.as_str()), ("pub-default", "cn-bj2"));
        assert_eq!(r.base_url, DEFAULT_BASE_URL);
        let explicit = Settings {
            profile: Some("prod".into()),
            max_retries: Some(0),
            ..Default::default()
        };
        let r = ok(resolve(
            &explicit,
            &env_of(&[(ENV_PROFILE, "default")]),
            Some(home.path()),
        ));
        assert_eq!((r.public_key.as_str(), r.max_retries), ("pub-prod", 0));
    }

    #[test]
    fn without_files_the_default_profile_and_endpoint_apply() {
        let home = Home::new();
        let env = env_of(&[(ENV_PUBLIC_KEY, "p"), (ENV_PRIVATE_KEY, "s"), (ENV_REGION, "cn-bj2")]);
        let r = ok(resolve(&Settings::default(), &env, Some(home.path())));
        assert_eq!(
            (r.profile.as_str(), r.base_url.as_str(), r.project_id),
            ("default", DEFAULT_BASE_URL, None)
        );
        let r = ok(resolve(&Settings::default(), &env, None));
        assert_eq!(r.region, "cn-bj2");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = env_of(&[
            (ENV_PUBLIC_KEY, "p"),
            (ENV_PRIVATE_KEY, "s"),
            (ENV_REGION, "cn-bj2"),
            (ENV_PROJECT_ID, ""),
        ]);
        let explicit = Settings {
            region: Some(String::new()),
            private_key: Some(Secret::new("")),
            ..Default::default()
        };
        let r = ok(resolve(&explicit, &env, None));
        assert_eq!(
            (r.region.as_str(), r.private_key.expose(), r.project_id),
            ("cn-bj2", "s", None)
        );
    }

    #[test]
    fn named_credential_file_expands_tilde() {
        let home = Home::new();
        home.write(
            "creds.json",
            r#"[{"profile":"ci","public_key":"pub-ci","private_key":"priv-ci"}]"#,
        );
        let explicit = Settings {
            shared_credentials_file: Some("~/creds.json".into()),
            profile: Some("ci".into()),
            region: Some("cn-bj2".into()),
            ..Default::default()
        };
        let r = ok(resolve(&explicit, &env_of(&[]), Some(home.path())));
        assert_eq!(r.public_key, "pub-ci");
        let env = env_of(&[
            (ENV_SHARED_CREDENTIAL_FILE, "~/creds.json"),
            (ENV_PROFILE, "ci"),
            (ENV_REGION, "hk"),
        ]);
        assert_eq!(
            ok(resolve(&Settings::default(), &env, Some(home.path())))
                .private_key
                .expose(),
            "priv-ci"
        );
    }

    #[test]
    fn tilde_without_home_is_a_clear_error() {
        let explicit = Settings {
            shared_credentials_file: Some("~/creds.json".into()),
            ..Default::default()
        };
        let e = err(resolve(&explicit, &env_of(&[]), None));
        assert!(e.to_string().contains("home directory is unknown"), "{e}");
    }

    #[test]
    fn missing_named_file_is_an_error_naming_it() {
        let home = Home::new();
        let explicit = Settings {
            shared_credentials_file: Some("~/nope.json".into()),
            ..Default::default()
        };
        let e = err(resolve(&explicit, &env_of(&[]), Some(home.path())));
        let want = home.path().join("nope.json");
        assert!(matches!(&e, ConfigError::File { path, .. } if *path == want), "{e:?}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(e.to_string().contains(&want.display().to_string()), "{e}");
    }

    #[test]
    fn malformed_files_are_errors_naming_path_and_problem_but_not_secrets() {
        let home = Home::new();
        // Nothing in the environment: the files are needed.
        let env = env_of(&[]);
        let cases = [
            (
                ".ucloud/credential.json",
                r#"[{"profile":"default","private_key":"sekrit-1""#,
                "not valid JSON",
            ),
            (
                ".ucloud/credential.json",
                r#"{"profile":"default"}"#,
                "expected a JSON array",
            ),
            (
                ".ucloud/credential.json",
                r#"[{"profile":"default","private_key":12345678}]"#,
                "`private_key` must be a string",
            ),
            (
                ".ucloud/credential.json",
                r#"[{"public_key":"x"}]"#,
                "entry 0 has no `profile`",
            ),
            (
                ".ucloud/config.json",
                r#"[{"profile":"default","active":"yes"}]"#,
                "`active` must be true or false",
            ),
            (".ucloud/config.json", "[1]", "entry 0 is not a JSON object"),
        ];
        for (file, text, want) in cases {
            let home_file = home.write(file, text);
            let e = err(resolve(&Settings::default(), &env, Some(home.path())));
            let shown = e.to_string();
            assert!(shown.contains(want), "{file}: {shown}");
            assert!(shown.contains(&home_file.display().to_string()), "{shown}");
            assert!(!shown.contains("sekrit") && !shown.contains("12345678"), "{shown}");
            std::fs::remove_file(&home_file).ok();
        }
    }

    #[test]
    fn files_that_are_not_needed_are_not_read_and_broken_ones_only_warn() {
        let home = Home::new();
        let fifo = home.path().join(".ucloud/credential.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        home.write(".ucloud/config.json", "[1]");
        let everything = env_of(&[(ENV_PUBLIC_KEY, "p"), (ENV_PRIVATE_KEY, "s"), (ENV_REGION, "cn-bj2")]);
        // Keys and region given: the FIFO is never opened (opening it would
        // wait for a writer for ever), the broken config.json only warns.
        let r = ok(resolve(&Settings::default(), &everything, Some(home.path())));
        assert_eq!(r.public_key, "p");
        assert!(
            matches!(&r.notes[..], [FileNote::Unreadable { problem, .. }] if problem.contains("not a JSON object")),
            "{:?}",
            r.notes
        );
        // Keys from the files: the FIFO is refused at once, by its kind.
        let region_only = env_of(&[(ENV_REGION, "cn-bj2")]);
        std::fs::remove_file(home.path().join(".ucloud/config.json")).ok();
        let e = err(resolve(&Settings::default(), &region_only, Some(home.path())));
        assert!(
            e.to_string().contains("not a regular file but a named pipe (FIFO)"),
            "{e}"
        );
        // A broken config.json that must supply the region fails.
        home.write(".ucloud/config.json", "[1]");
        let keys_only = env_of(&[(ENV_PUBLIC_KEY, "p"), (ENV_PRIVATE_KEY, "s")]);
        let e = err(resolve(&Settings::default(), &keys_only, Some(home.path())));
        assert!(e.to_string().contains("entry 0 is not a JSON object"), "{e}");
    }

    #[test]
    fn a_credential_file_others_can_read_warns_and_a_huge_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let home = Home::new();
        let file = home.write(
            ".ucloud/credential.json",
            r#"[{"profile":"default","public_key":"p","private_key":"s"}]"#,
        );
        let region = env_of(&[(ENV_REGION, "cn-bj2")]);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(
            ok(resolve(&Settings::default(), &region, Some(home.path())))
                .notes
                .is_empty()
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let notes = ok(resolve(&Settings::default(), &region, Some(home.path()))).notes;
        assert_eq!(
            notes,
            [FileNote::ReadableByOthers {
                path: file.clone(),
                mode: 0o644
            }]
        );

        let huge = format!(
            "[{}]",
            " ".repeat(usize::try_from(MAX_PROFILE_FILE_BYTES).expect("fits"))
        );
        home.write(".ucloud/credential.json", &huge);
        let e = err(resolve(&Settings::default(), &region, Some(home.path())));
        assert!(e.to_string().contains("more than a profile file's limit"), "{e}");
    }

    #[test]
    fn named_profile_missing_from_credential_file_is_an_error() {
        let home = Home::new();
        home.profiles();
        let explicit = Settings {
            profile: Some("staging".into()),
            ..Default::default()
        };
        let e = err(resolve(&explicit, &env_of(&[]), Some(home.path())));
        assert_eq!(e.setting(), Some(Setting::Profile));
        let shown = e.to_string();
        assert!(
            shown.contains(r#"profile "staging" is not in"#) && shown.contains(r#""default", "prod""#),
            "{shown}"
        );
    }

    #[test]
    fn missing_values_name_the_setting_and_the_variable() {
        let home = Home::new();
        let e = err(resolve(&Settings::default(), &env_of(&[]), Some(home.path())));
        assert_eq!(e.setting(), Some(Setting::PublicKey));
        assert!(e.to_string().starts_with(
            "the public key is not set: set the UCLOUD_PUBLIC_KEY environment variable, or run `ucloud init`"
        ));
        let e = err(resolve(
            &Settings::default(),
            &env_of(&[(ENV_PUBLIC_KEY, "p")]),
            Some(home.path()),
        ));
        assert!(e.to_string().contains("UCLOUD_PRIVATE_KEY"), "{e}");
        let env = env_of(&[(ENV_PUBLIC_KEY, "p"), (ENV_PRIVATE_KEY, "do-not-show")]);
        let e = err(resolve(&Settings::default(), &env, Some(home.path())));
        let shown = e.to_string();
        assert_eq!(e.setting(), Some(Setting::Region));
        assert!(
            shown.starts_with("the region is not set: set the UCLOUD_REGION"),
            "{shown}"
        );
        assert!(
            shown.contains("ucloud init") && shown.contains("config.json"),
            "{shown}"
        );
        assert!(!shown.contains("do-not-show") && !format!("{e:?}").contains("do-not-show"));
    }

    #[test]
    fn bad_base_url_is_reported_against_base_url() {
        let env = env_of(&[
            (ENV_PUBLIC_KEY, "p"),
            (ENV_PRIVATE_KEY, "s"),
            (ENV_REGION, "r"),
            (ENV_API_BASE_URL, "api.ucloud.cn"),
        ]);
        let e = err(resolve(&Settings::default(), &env, None));
        assert_eq!(e.setting(), Some(Setting::BaseUrl));
        assert!(e.to_string().contains("api.ucloud.cn"), "{e}");
    }
}
