//! The `provider "ucloud" {}` block: its arguments (named and defaulted like
//! UCloud's official provider), the credential chain that fills what the block
//! leaves unset, and the [`ProviderData`] every resource call receives.
//!
//! A provider block whose values are not known yet (they come from other
//! resources) must not break `terraform plan`: it then yields data without an
//! API client, and only an operation that really needs the API reports it.

use crate::framework::{
    AttrPath, Attribute, Block, ConfigureRequest, Context, Diagnostic, Diagnostics, Maybe, Provider, Resource, Schema,
    Type, Value,
};
use crate::resources::custom_image::CustomImageResource;
use crate::ucloud::credentials::{self, ConfigError, Resolved, Settings};
use crate::ucloud::{Client, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, Secret};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The provider's type name, as in `provider "ucloud" {}`.
pub const TYPE_NAME: &str = "ucloud";

/// Testing knob: the first delay, in milliseconds, between two polls of an
/// image that is being imported or deleted. Unset in production (2 s).
pub const POLL_INTERVAL_ENV: &str = "UCLOUD_POLL_INTERVAL_MS";

/// How often a long-running operation asks UCloud for news: the delay starts
/// at `initial` and grows up to `max`, like UCloud's own Packer plugin (2 s to 12 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for PollSchedule {
    fn default() -> Self {
        PollSchedule {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(12),
        }
    }
}

impl PollSchedule {
    /// The schedule for a `UCLOUD_POLL_INTERVAL_MS` value: the production one
    /// when unset or unparsable, otherwise starting there and growing to six
    /// times that (the production ratio), never beyond 12 s.
    pub fn from_env_value(value: Option<&str>) -> Self {
        let production = PollSchedule::default();
        match value.and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(ms) if ms > 0 => {
                let initial = Duration::from_millis(ms).min(production.max);
                PollSchedule {
                    initial,
                    max: (initial * 6).min(production.max),
                }
            }
            _ => production,
        }
    }

    /// The delay that follows `current`: half as long again, capped at `max`.
    pub fn next(&self, current: Duration) -> Duration {
        (current + current / 2).min(self.max).max(self.initial)
    }
}

/// What configuring the provider produces and every resource call receives.
pub struct ProviderData {
    /// The API client; `None` while the provider block holds unknown values.
    pub client: Option<Arc<Client>>,
    /// The default region for resources that set none.
    pub region: Maybe<String>,
    /// The default project; null means the account's default project.
    pub project_id: Maybe<String>,
    /// How long-running operations poll.
    pub poll: PollSchedule,
    /// Why `client` is `None`, for the error an API-needing operation reports.
    unconfigured: Option<String>,
}

impl ProviderData {
    /// Data with a working client.
    pub fn configured(client: Arc<Client>, region: String, project_id: Option<String>, poll: PollSchedule) -> Self {
        ProviderData {
            client: Some(client),
            region: Maybe::Known(region),
            project_id: project_id.map_or(Maybe::Null, Maybe::Known),
            poll,
            unconfigured: None,
        }
    }

    /// Data without a client; `why` tells the user what kept it from existing.
    pub fn unconfigured(why: impl Into<String>, region: Maybe<String>, project_id: Maybe<String>) -> Self {
        ProviderData {
            client: None,
            region,
            project_id,
            poll: PollSchedule::default(),
            unconfigured: Some(why.into()),
        }
    }

    /// The API client, or the error to show when an operation needs the API
    /// but the provider could not build a client.
    pub fn client(&self) -> Result<&Client, Diagnostic> {
        match &self.client {
            Some(c) => Ok(c),
            None => Err(Diagnostic::error(
                "Provider not configured",
                format!(
                    "This operation needs the UCloud API, but the provider has no API client: {}",
                    self.unconfigured
                        .as_deref()
                        .unwrap_or("the provider block was not configured.")
                ),
            )),
        }
    }
}

/// The `ucloud` provider.
#[derive(Clone, Debug, Default)]
pub struct UcloudProvider;

/// The provider block's values as Terraform sent them.
#[derive(Clone, Debug)]
struct ProviderArgs {
    public_key: Maybe<String>,
    /// Held as a [`Secret`] from the start so no `Debug` of this struct shows it.
    private_key: Maybe<Secret>,
    region: Maybe<String>,
    project_id: Maybe<String>,
    profile: Maybe<String>,
    shared_credentials_file: Maybe<String>,
    base_url: Maybe<String>,
    max_retries: Maybe<i64>,
}

impl ProviderArgs {
    fn from_value(config: &Value) -> Result<Self, Diagnostics> {
        let args = (|| -> Result<Self, Diagnostic> {
            Ok(ProviderArgs {
                public_key: config.attr("public_key")?,
                private_key: match config.attr::<Maybe<String>>("private_key")? {
                    Maybe::Known(k) => Maybe::Known(Secret::new(k)),
                    Maybe::Null => Maybe::Null,
                    Maybe::Unknown => Maybe::Unknown,
                },
                region: config.attr("region")?,
                project_id: config.attr("project_id")?,
                profile: config.attr("profile")?,
                shared_credentials_file: config.attr("shared_credentials_file")?,
                base_url: config.attr("base_url")?,
                max_retries: config.attr("max_retries")?,
            })
        })();
        args.map_err(Diagnostics::from)
    }

    /// The names of the arguments whose values are not known yet.
    fn unknown_arguments(&self) -> Vec<&'static str> {
        [
            ("public_key", self.public_key.is_unknown()),
            ("private_key", self.private_key.is_unknown()),
            ("region", self.region.is_unknown()),
            ("project_id", self.project_id.is_unknown()),
            ("profile", self.profile.is_unknown()),
            ("shared_credentials_file", self.shared_credentials_file.is_unknown()),
            ("base_url", self.base_url.is_unknown()),
            ("max_retries", self.max_retries.is_unknown()),
        ]
        .into_iter()
        .filter_map(|(name, unknown)| unknown.then_some(name))
        .collect()
    }

    /// The credential chain's input: known values of the block, unknown ones
    /// treated as unset.
    fn settings(&self) -> Settings {
        let s = |m: &Maybe<String>| m.known().cloned();
        Settings {
            public_key: s(&self.public_key),
            private_key: self.private_key.known().cloned(),
            region: s(&self.region),
            project_id: s(&self.project_id),
            profile: s(&self.profile),
            shared_credentials_file: s(&self.shared_credentials_file),
            base_url: s(&self.base_url),
            max_retries: self.max_retries.known().and_then(|n| u32::try_from(*n).ok()),
        }
    }
}

/// The environment variable that supplies each argument; one table for the
/// schema's docs and the error messages.
const ARGUMENT_ENV: &[(&str, &str)] = &[
    ("public_key", credentials::ENV_PUBLIC_KEY),
    ("private_key", credentials::ENV_PRIVATE_KEY),
    ("region", credentials::ENV_REGION),
    ("project_id", credentials::ENV_PROJECT_ID),
    ("profile", credentials::ENV_PROFILE),
    ("shared_credentials_file", credentials::ENV_SHARED_CREDENTIAL_FILE),
    ("base_url", credentials::ENV_API_BASE_URL),
];

fn env_of(argument: &str) -> &'static str {
    ARGUMENT_ENV
        .iter()
        .find(|(a, _)| *a == argument)
        .map_or("", |(_, e)| *e)
}

fn string_arg(name: &str, description: &str) -> Attribute {
    let env = env_of(name);
    let mut a = Attribute::optional(name, Type::String).description(description);
    if !env.is_empty() {
        a = a.env(env);
    }
    a
}

/// The provider block's schema.
pub fn provider_schema() -> Schema {
    Schema::new(
        0,
        Block::new(
            "The UCloud provider manages UHost custom images through the UCloud API. Every argument can \
             also come from an environment variable or from the UCloud CLI's shared files \
             (`~/.ucloud/credential.json`, `~/.ucloud/config.json`).",
        )
        .attribute(string_arg(
            "public_key",
            "The UCloud API public key. Can also be set with `UCLOUD_PUBLIC_KEY`, or come from the \
             shared credentials file.",
        ))
        .attribute(
            string_arg(
                "private_key",
                "The UCloud API private key, used only to sign requests; never logged or stored in state. \
                 Can also be set with `UCLOUD_PRIVATE_KEY`, or come from the shared credentials file.",
            )
            .sensitive(),
        )
        .attribute(string_arg(
            "region",
            "The default region (e.g. `cn-bj2`) of resources that set none. Can also be set with \
             `UCLOUD_REGION`, or come from the active profile of `~/.ucloud/config.json`.",
        ))
        .attribute(string_arg(
            "project_id",
            "The default project (`org-...`) of resources that set none; unset means the account's \
             default project. Can also be set with `UCLOUD_PROJECT_ID`.",
        ))
        .attribute(string_arg(
            "profile",
            "The profile to use from the shared files. Can also be set with `UCLOUD_PROFILE`; by default \
             the profile marked active in `~/.ucloud/config.json`.",
        ))
        .attribute(
            string_arg(
                "shared_credentials_file",
                "Path of the shared credentials file. Can also be set with `UCLOUD_SHARED_CREDENTIAL_FILE`. \
                 Default: `~/.ucloud/credential.json`.",
            )
            .default_value(credentials::DEFAULT_CREDENTIAL_FILE),
        )
        .attribute(
            string_arg(
                "base_url",
                "The UCloud API endpoint. Can also be set with `UCLOUD_API_BASE_URL`. Default: \
                 `https://api.ucloud.cn`.",
            )
            .default_value(DEFAULT_BASE_URL),
        )
        .attribute(
            Attribute::optional("max_retries", Type::Number)
                .description(
                    "How many times a failed request that is safe to repeat is retried (throttling, \
                     service unavailable, network errors). Imports are never repeated blindly. Default: `3`.",
                )
                .default_value(&DEFAULT_MAX_RETRIES.to_string()),
        ),
    )
}

/// Checks of the provider block that need no credentials and no network.
pub fn validate_provider_config(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if let Value::Number(n) = config.get("max_retries")
        && !n.as_i64().is_some_and(|v| (0..=i64::from(u16::MAX)).contains(&v))
    {
        diags.push(
            Diagnostic::error(
                "Invalid max_retries",
                format!("max_retries must be a whole number of retries, 0 or more (default {DEFAULT_MAX_RETRIES})."),
            )
            .at(AttrPath::attr("max_retries")),
        );
    }
    if let Some(raw) = config.get("base_url").as_str()
        && let Err(why) = check_base_url(raw)
    {
        diags.push(
            Diagnostic::error(
                "Invalid base_url",
                format!(
                    "{why}. Use an http(s) URL such as {DEFAULT_BASE_URL} (or set {}).",
                    credentials::ENV_API_BASE_URL
                ),
            )
            .at(AttrPath::attr("base_url")),
        );
    }
    diags
}

fn check_base_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?} does not use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} has no host"));
    }
    Ok(())
}

/// A credential-chain failure as a diagnostic at the argument it concerns,
/// naming the argument and its environment variable.
fn config_error_diagnostic(err: &ConfigError) -> Diagnostic {
    let argument = err.argument();
    let mut detail = err.to_string();
    if let Some(arg) = argument {
        let env = env_of(arg);
        if !env.is_empty() && !detail.contains(env) {
            detail.push_str(&format!(
                " Set `{arg}` in the provider block or the {env} environment variable."
            ));
        }
    }
    let d = Diagnostic::error("Invalid UCloud provider configuration", detail);
    match argument {
        Some(arg) => d.at(AttrPath::attr(arg)),
        None => d,
    }
}

/// An environment variable of this process, unset when empty.
fn env_var(name: &str) -> Option<String> {
    credentials::process_env(name).filter(|v| !v.is_empty())
}

/// Configures from the provider block, an environment and a home directory
/// (the process's own in production; fixed ones in tests).
pub fn configure_from(
    config: &Value,
    terraform_version: &str,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<ProviderData, Diagnostics> {
    let mut diags = validate_provider_config(config);
    if diags.has_errors() {
        return Err(diags);
    }
    let args = ProviderArgs::from_value(config)?;
    let env_set = |name: &str| env(name).filter(|v| !v.is_empty());
    let resolved = credentials::resolve(&args.settings(), &env_set, home);

    let unknown = args.unknown_arguments();
    if !unknown.is_empty() {
        // Plan with values that other resources provide: the defaults known
        // so far, no client. Apply configures again with every value known.
        let pick = |arg: &Maybe<String>, resolved: Option<Maybe<String>>| match arg {
            Maybe::Unknown => Maybe::Unknown,
            Maybe::Known(v) => Maybe::Known(v.clone()),
            Maybe::Null => resolved.unwrap_or(Maybe::Unknown),
        };
        let ok = resolved.as_ref().ok();
        let region = pick(&args.region, ok.map(|r| Maybe::Known(r.region.clone())));
        let project_id = pick(
            &args.project_id,
            ok.map(|r| r.project_id.clone().map_or(Maybe::Null, Maybe::Known)),
        );
        let why = format!(
            "the provider arguments {} are not known yet; they become known during apply.",
            unknown.join(", ")
        );
        tracing::debug!(unknown = ?unknown, "provider configuration not known yet, no API client");
        return Ok(ProviderData::unconfigured(why, region, project_id));
    }

    let resolved: Resolved = match resolved {
        Ok(r) => r,
        Err(e) => {
            diags.push(config_error_diagnostic(&e));
            return Err(diags);
        }
    };
    let version = if terraform_version.is_empty() {
        "unknown"
    } else {
        terraform_version
    };
    let client = Client::new(resolved.client_config(format!("terraform/{version}"))).map_err(|e| {
        Diagnostics::from(
            Diagnostic::error(
                "Cannot create the UCloud API client",
                format!("{e}. Check base_url (or {}).", credentials::ENV_API_BASE_URL),
            )
            .at(AttrPath::attr("base_url")),
        )
    })?;
    let poll = PollSchedule::from_env_value(env_set(POLL_INTERVAL_ENV).as_deref());
    tracing::debug!(
        region = %resolved.region,
        base_url = %resolved.base_url,
        profile = %resolved.profile,
        "provider configured"
    );
    Ok(ProviderData::configured(
        Arc::new(client),
        resolved.region,
        resolved.project_id,
        poll,
    ))
}

#[async_trait]
impl Provider for UcloudProvider {
    type Data = ProviderData;

    fn schema(&self) -> Schema {
        provider_schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_provider_config(config)
    }

    async fn configure(&self, _ctx: &Context, req: ConfigureRequest) -> Result<ProviderData, Diagnostics> {
        let home = credentials::home_dir();
        configure_from(&req.config, &req.terraform_version, &env_var, home.as_deref())
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<ProviderData>>> {
        vec![Arc::new(CustomImageResource)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Number;

    #[test]
    fn poll_schedule_grows_to_twelve_seconds_in_production() {
        let p = PollSchedule::from_env_value(None);
        let mut d = p.initial;
        let mut seen = vec![d];
        while d < p.max {
            d = p.next(d);
            seen.push(d);
        }
        assert_eq!(seen.first(), Some(&Duration::from_secs(2)));
        assert_eq!(seen.last(), Some(&Duration::from_secs(12)));
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn poll_schedule_from_env_is_fast_for_tests_and_ignores_garbage() {
        let p = PollSchedule::from_env_value(Some("100"));
        assert_eq!(p.initial, Duration::from_millis(100));
        assert_eq!(p.max, Duration::from_millis(600));
        assert_eq!(PollSchedule::from_env_value(Some("soon")), PollSchedule::default());
        assert_eq!(PollSchedule::from_env_value(Some("0")), PollSchedule::default());
    }

    #[test]
    fn schema_documents_env_vars_and_hides_the_private_key() {
        let s = provider_schema();
        let pk = s.block.get("private_key").expect("private_key attribute");
        assert!(pk.sensitive);
        assert_eq!(pk.env, Some("UCLOUD_PRIVATE_KEY"));
        assert_eq!(
            s.block.get("base_url").and_then(|a| a.default.as_deref()),
            Some(DEFAULT_BASE_URL)
        );
        assert_eq!(
            s.block.get("shared_credentials_file").and_then(|a| a.env),
            Some("UCLOUD_SHARED_CREDENTIAL_FILE")
        );
        assert!(
            s.block
                .attributes
                .iter()
                .all(|a| a.optional && !a.description.is_empty())
        );
    }

    #[test]
    fn validate_rejects_negative_retries_and_non_http_base_url() {
        let config = Value::object([
            ("max_retries", Value::Number(Number::Int(-1))),
            ("base_url", Value::string("ftp://api.ucloud.cn")),
        ]);
        let diags = validate_provider_config(&config);
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
            .collect();
        assert_eq!(paths, vec!["max_retries", "base_url"]);

        let fine = Value::object([
            ("max_retries", Value::Number(Number::Int(0))),
            ("base_url", Value::string("http://127.0.0.1:8080")),
        ]);
        assert!(validate_provider_config(&fine).is_empty());
        let unknown = Value::object([("max_retries", Value::Unknown), ("base_url", Value::Unknown)]);
        assert!(validate_provider_config(&unknown).is_empty());
    }

    fn block(values: &[(&str, Value)]) -> Value {
        let mut config = Value::object(
            [
                "public_key",
                "private_key",
                "region",
                "project_id",
                "profile",
                "shared_credentials_file",
                "base_url",
                "max_retries",
            ]
            .map(|name| (name, Value::Null)),
        );
        for (k, v) in values {
            config.set(k, v.clone());
        }
        config
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn known_block() -> Value {
        block(&[
            ("public_key", Value::string("pub")),
            ("private_key", Value::string("priv-secret")),
            ("region", Value::string("cn-bj2")),
            ("base_url", Value::string("http://127.0.0.1:9")),
        ])
    }

    #[test]
    fn a_complete_block_builds_a_client_with_its_defaults() {
        let data = configure_from(&known_block(), "1.11.4", &no_env, None).expect("configured");
        assert!(data.client().is_ok());
        assert_eq!(data.region, Maybe::Known("cn-bj2".into()));
        assert_eq!(data.project_id, Maybe::Null);
        assert_eq!(data.poll, PollSchedule::default());
    }

    #[test]
    fn environment_fills_what_the_block_leaves_unset() {
        let env = |name: &str| match name {
            "UCLOUD_PUBLIC_KEY" => Some("pub".to_string()),
            "UCLOUD_PRIVATE_KEY" => Some("priv".to_string()),
            "UCLOUD_REGION" => Some("hk".to_string()),
            "UCLOUD_PROJECT_ID" => Some("org-env".to_string()),
            "UCLOUD_POLL_INTERVAL_MS" => Some("20".to_string()),
            _ => None,
        };
        let data = configure_from(&block(&[]), "1.11.4", &env, None).expect("configured");
        assert_eq!(data.region, Maybe::Known("hk".into()));
        assert_eq!(data.project_id, Maybe::Known("org-env".into()));
        assert_eq!(data.poll.initial, Duration::from_millis(20));
    }

    #[test]
    fn a_missing_key_is_reported_at_its_argument_with_its_env_var() {
        let mut config = known_block();
        config.set("public_key", Value::Null);
        let diags = configure_from(&config, "1.11.4", &no_env, None)
            .err()
            .unwrap_or_default();
        let d = diags.iter().next().expect("a diagnostic");
        assert_eq!(d.attribute, Some(AttrPath::attr("public_key")));
        assert!(d.detail.contains("UCLOUD_PUBLIC_KEY"), "{}", d.detail);
        assert!(!diags.to_string().contains("priv-secret"));
    }

    #[test]
    fn unknown_values_give_data_without_a_client_instead_of_an_error() {
        let mut config = known_block();
        config.set("private_key", Value::Unknown);
        let data = configure_from(&config, "1.11.4", &no_env, None).expect("no error at plan time");
        assert_eq!(data.region, Maybe::Known("cn-bj2".into()));
        let err = data.client().expect_err("no client");
        assert!(err.detail.contains("private_key"), "{}", err.detail);

        config.set("region", Value::Unknown);
        let data = configure_from(&config, "1.11.4", &no_env, None).expect("no error at plan time");
        assert_eq!(data.region, Maybe::Unknown);
    }

    #[test]
    fn provider_data_without_client_explains_why() {
        let data = ProviderData::unconfigured(
            "the provider arguments region are not known yet.",
            Maybe::Unknown,
            Maybe::Null,
        );
        let err = data.client().expect_err("no client");
        assert!(err.detail.contains("region are not known yet"));
    }
}
