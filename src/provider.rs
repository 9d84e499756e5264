//! The `provider "ucloud" {}` block: its arguments (named and defaulted like
//! UCloud's official provider), the credential chain that fills what the block
//! leaves unset, and the lists of resources and data sources it serves.
//!
//! A provider block whose values are not known yet (they come from other
//! resources) must not break `terraform plan`: it then yields data without an
//! API client, and only an operation that really needs the API reports it.

use crate::framework::list::AnyListResource;
use crate::framework::{
    AnyDataSource, AnyResource, AttrPath, ConfigureRequest, Context, Diagnostic, Diagnostics, Done, Maybe, Model,
    Provider, Schema, Sensitive, Value, attr, v, validate,
};
use crate::images::{Pending, PollSchedule, Waiter, human};
use crate::provider_data::ProviderData;
use crate::ucloud::credentials::{self, ConfigError, Resolved, Setting, Settings};
use crate::ucloud::ufile::{self, ReaderConfigError, UfileClient, UfileClientConfig, UrlError};
use crate::ucloud::{Client, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, RateLimit, Secret};
use crate::{attr_name, attr_path, data_sources, list_resources, model, resources};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

pub use crate::images::POLL_INTERVAL_ENV;

/// The environment variable for `ufile_base_url`.
pub use crate::provider_data::ENV_UFILE_BASE_URL;

/// How long configuring may take, profile files read included.
const CONFIGURE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The environment variable of `max_requests_per_second`.
pub const ENV_MAX_REQUESTS_PER_SECOND: &str = "UCLOUD_MAX_REQUESTS_PER_SECOND";

/// The highest `max_requests_per_second` accepted: beyond it the ceiling
/// would be no protection at all (leave it unset, or 0, for none).
const MAX_REQUESTS_PER_SECOND_CEILING: i64 = 10_000;

/// What to write for `ufile_base_url`, said when it is unusable.
const UFILE_BASE_URL_HELP: &str = "Use the http(s) URL under which UFile objects are served path-style as \
                                   BUCKET/KEY, e.g. http://127.0.0.1:8080/ufile, or leave it unset.";

/// The provider's type name, as in `provider "ucloud" {}`.
pub const TYPE_NAME: &str = "ucloud";

model! {
    /// The provider block's values as Terraform sent them.
    #[derive(Clone, Debug, Default)]
    pub struct ProviderModel {
        pub public_key: Maybe<String> = attr::optional(
            "The UCloud API public key. Can also be set with `UCLOUD_PUBLIC_KEY`, or come from the shared \
             credentials file.",
        )
        .env(credentials::ENV_PUBLIC_KEY),
        pub private_key: Maybe<Sensitive<String>> = attr::optional(
            "The UCloud API private key, used only to sign requests; never logged or stored in state. Can also \
             be set with `UCLOUD_PRIVATE_KEY`, or come from the shared credentials file.",
        )
        .sensitive()
        .env(credentials::ENV_PRIVATE_KEY),
        pub region: Maybe<String> = attr::optional(
            "The default region (e.g. `cn-bj2`) of resources that set none. Can also be set with \
             `UCLOUD_REGION`, or come from the active profile of `~/.ucloud/config.json`.",
        )
        .env(credentials::ENV_REGION),
        pub project_id: Maybe<String> = attr::optional(
            "The default project (`org-...`) of resources that set none; unset means the account's default \
             project. Can also be set with `UCLOUD_PROJECT_ID`.",
        )
        .env(credentials::ENV_PROJECT_ID),
        pub profile: Maybe<String> = attr::optional(
            "The profile to use from the shared files. Can also be set with `UCLOUD_PROFILE`; by default the \
             profile marked active in `~/.ucloud/config.json`.",
        )
        .env(credentials::ENV_PROFILE),
        pub shared_credentials_file: Maybe<String> = attr::optional(
            "Path of the shared credentials file. Can also be set with `UCLOUD_SHARED_CREDENTIAL_FILE`. \
             Default: `~/.ucloud/credential.json`.",
        )
        .env(credentials::ENV_SHARED_CREDENTIAL_FILE)
        .shown_default(credentials::DEFAULT_CREDENTIAL_FILE),
        pub base_url: Maybe<String> = attr::optional(
            "The UCloud API endpoint. Can also be set with `UCLOUD_API_BASE_URL`. Default: \
             `https://api.ucloud.cn`.",
        )
        .env(credentials::ENV_API_BASE_URL)
        .shown_default(DEFAULT_BASE_URL)
        .validate(v::url(["http", "https"]).help(format!(
            "Use an http(s) URL such as {DEFAULT_BASE_URL} (or set {}).",
            credentials::ENV_API_BASE_URL
        ))),
        pub ufile_base_url: Maybe<String> = attr::optional(
            "Where the provider sends its UFile requests (reading image files for the check before an import, \
             uploading a `source` file, deleting what it staged), as `base_url` is for the API: with it set, \
             `https://BUCKET.REGION.ufileos.com/KEY` is requested path-style at `{ufile_base_url}/BUCKET/KEY`, \
             signed for `/BUCKET/KEY` as UFile would be, and a staged file's URL is `{ufile_base_url}/BUCKET/KEY`. \
             For tests and private clouds; ImportCustomImage still gets the URL of `ufile_url`. Can also be set \
             with `UCLOUD_UFILE_BASE_URL`. Default: each bucket's own UFile host (for a staged file, the host \
             UCloud's DescribeBucket names).",
        )
        .env(ENV_UFILE_BASE_URL)
        .validate(v::url(["http", "https"]).without_query().help(UFILE_BASE_URL_HELP)),
        pub insecure_http: Maybe<bool> = attr::optional(
            "Allow `http://` for `base_url`, `ufile_base_url` and `ufile_url` to hosts other than this machine. \
             Signed requests then travel in clear, and anyone on the path can read them and replay a UFile \
             signature; it warns. Without it such URLs are refused (`http://` to `localhost` or a loopback \
             address is always allowed). Default: `false`.",
        )
        .shown_default("false"),
        pub max_retries: Maybe<i64> = attr::optional(format!(
            "How many times a failed request that is safe to repeat is retried (server errors, timeouts, network \
             errors). Imports are never repeated blindly. Throttled requests do not count: they wait for their \
             turn (see `max_requests_per_second`). Default: `{DEFAULT_MAX_RETRIES}`."
        ))
        .shown_default(DEFAULT_MAX_RETRIES.to_string())
        .validate(v::between(0, i64::from(u16::MAX))),
        pub max_requests_per_second: Maybe<i64> = attr::optional(format!(
            "An optional ceiling on the UCloud API requests per second this provider process sends with one key, \
             retries included; unset or `0`: none (the default). UCloud publishes no limit and throttles each key \
             (RetCode 153, 150 or HTTP 429), so the provider finds the pace itself: it sends freely until UCloud \
             throttles, then cuts its rate once per round trip to 0.7 (of its pace, or of what UCloud accepted) and grows it back \
             along a CUBIC curve, past the old rate to find room others freed; a quiet spell does not shrink it, \
             and after {} without throttling it stops pacing. A throttled request is sent again at that pace until \
             the operation's timeout, without counting toward `max_retries`; reads and changes take turns so \
             neither starves. Several Terraform runs on one key share its quota this way. Set a ceiling when \
             people work at the console or with other tools on the same account: the provider then leaves them \
             the rest. Can also be set with `{ENV_MAX_REQUESTS_PER_SECOND}`.",
            humantime::format_duration(crate::ucloud::rate::OPEN_AFTER)
        ))
        .env(ENV_MAX_REQUESTS_PER_SECOND)
        .validate(v::between(0, MAX_REQUESTS_PER_SECOND_CEILING).help("0 or unset means no ceiling.")),
    }
}

impl ProviderModel {
    /// The names of the arguments whose values are not known yet.
    fn unknown_arguments(&self) -> Vec<String> {
        match self.to_value() {
            Value::Object(fields) => fields
                .into_iter()
                .filter_map(|(name, v)| v.is_unknown().then_some(name))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The credential chain's input: known values of the block, unknown ones
    /// treated as unset.
    fn settings(&self) -> Settings {
        let s = |m: &Maybe<String>| m.known().cloned();
        Settings {
            public_key: s(&self.public_key),
            private_key: self.private_key.known().map(|k| Secret::new(k.0.clone())),
            region: s(&self.region),
            project_id: s(&self.project_id),
            profile: s(&self.profile),
            shared_credentials_file: s(&self.shared_credentials_file),
            base_url: s(&self.base_url),
            max_retries: self.max_retries.known().and_then(|n| u32::try_from(*n).ok()),
        }
    }
}

/// The settings that name URLs, as (attribute, the URL).
fn url_settings<'a>(base_url: Option<&'a str>, ufile_base_url: Option<&'a str>) -> [(AttrPath, Option<&'a str>); 2] {
    [
        (attr_path!(ProviderModel, base_url), base_url),
        (attr_path!(ProviderModel, ufile_base_url), ufile_base_url),
    ]
}

/// The `ucloud` provider.
#[derive(Clone, Debug, Default)]
pub struct UcloudProvider;

/// The provider block's schema.
pub fn provider_schema() -> Schema {
    ProviderModel::schema(
        0,
        "The UCloud provider manages UHost custom images through the UCloud API. Every argument can also come \
         from an environment variable or from the UCloud CLI's shared files (`~/.ucloud/credential.json`, \
         `~/.ucloud/config.json`).",
    )
}

/// The environment variable that supplies `argument`, from its declaration.
fn env_of(argument: &str) -> Option<&'static str> {
    provider_schema().block.get(argument).and_then(|a| a.env)
}

fn check_max_requests_per_second(n: i64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(n) if i64::from(n) <= MAX_REQUESTS_PER_SECOND_CEILING => Ok(n),
        _ => Err(format!(
            "{} must be a whole number of requests per second from 0 (no ceiling, the default) to \
             {MAX_REQUESTS_PER_SECOND_CEILING}; got {n}.",
            attr_name!(ProviderModel, max_requests_per_second)
        )),
    }
}

/// The client's ceiling: the provider block's value, else the
/// environment's, else none.
fn rate_limit(args: &ProviderModel, env: &dyn Fn(&str) -> Option<String>) -> Result<RateLimit, Diagnostic> {
    let per_second = match (args.max_requests_per_second.known(), env(ENV_MAX_REQUESTS_PER_SECOND)) {
        (Some(n), _) => check_max_requests_per_second(*n),
        (None, Some(raw)) => raw
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("{ENV_MAX_REQUESTS_PER_SECOND}={raw:?} is not a whole number."))
            .and_then(check_max_requests_per_second),
        (None, None) => Ok(0),
    };
    per_second.map(RateLimit::per_second).map_err(|why| {
        Diagnostic::error(
            format!("Invalid {}", attr_name!(ProviderModel, max_requests_per_second)),
            why,
        )
        .at(attr_path!(ProviderModel, max_requests_per_second))
    })
}

/// An unusable `ufile_base_url` from the environment (the block's own
/// value was checked by its declaration).
fn ufile_base_url_error(e: &UrlError) -> Diagnostic {
    let name = attr_name!(ProviderModel, ufile_base_url);
    let problem = match e {
        UrlError::BaseUrl { url, reason } => format!("{name} `{url}` is not usable: {reason}"),
        other => other.to_string(),
    };
    Diagnostic::error(
        format!("Invalid {name}"),
        format!("{problem} (from {ENV_UFILE_BASE_URL}). {UFILE_BASE_URL_HELP}"),
    )
    .at(attr_path!(ProviderModel, ufile_base_url))
}

/// The provider argument a setting of the credential chain is set with.
fn argument_of(setting: Setting) -> &'static str {
    type P = ProviderModel;
    match setting {
        Setting::PublicKey => attr_name!(P, public_key),
        Setting::PrivateKey => attr_name!(P, private_key),
        Setting::Region => attr_name!(P, region),
        Setting::Profile => attr_name!(P, profile),
        Setting::BaseUrl => attr_name!(P, base_url),
    }
}

/// A credential-chain failure in the provider's words: its arguments by
/// name, and where else a value can come from.
fn config_error_detail(err: &ConfigError) -> String {
    match err {
        ConfigError::Missing { setting, .. } => {
            let arg = argument_of(*setting);
            let mut detail = format!(
                "{arg} is not set: set `{arg}` in the provider block or the {} environment variable",
                setting.env()
            );
            if let Some(hint) = err.profile_file_hint() {
                detail.push_str(&format!(", or {hint}"));
            }
            detail
        }
        ConfigError::ProfileNotFound { .. } => format!(
            "{}: set `{}` or {} to one of those, or add the profile with `ucloud init`",
            err.fact(),
            argument_of(Setting::Profile),
            Setting::Profile.env()
        ),
        ConfigError::Invalid { setting, problem } => format!("invalid {}: {problem}", argument_of(*setting)),
        ConfigError::File { .. } => err.fact(),
    }
}

/// A credential-chain failure as a diagnostic at the argument it concerns,
/// naming the argument and its environment variable.
fn config_error_diagnostic(err: &ConfigError) -> Diagnostic {
    let argument = err.setting().map(argument_of);
    let mut detail = config_error_detail(err);
    if let Some(arg) = argument
        && let Some(env) = env_of(arg)
        && !detail.contains(env)
    {
        detail.push_str(&format!(
            " Set `{arg}` in the provider block or the {env} environment variable."
        ));
    }
    let d = Diagnostic::error("Invalid UCloud provider configuration", detail);
    match argument {
        Some(arg) => d.at(crate::framework::AttrPath::attr(arg)),
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
    args: &ProviderModel,
    terraform_version: &str,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Done<ProviderData>, Diagnostics> {
    // Terraform validated the block already; a caller that did not gets the
    // same checks here.
    let mut diags = validate::declared(&provider_schema().block, &args.to_value());
    if diags.has_errors() {
        return Err(diags);
    }
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
        return Ok(ProviderData::unconfigured(why, region, project_id).into());
    }

    let resolved: Resolved = match resolved {
        Ok(r) => r,
        Err(e) => {
            diags.push(config_error_diagnostic(&e));
            return Err(diags);
        }
    };
    // The block's own warnings, then what the chain noticed about its files.
    let mut notes = diags;
    for note in &resolved.notes {
        notes.push(file_note(note));
    }
    // The URLs in use, wherever they came from (the environment included).
    let insecure_http = args.insecure_http.known().copied().unwrap_or(false);
    let ufile_base = args
        .ufile_base_url
        .known()
        .cloned()
        .or_else(|| env_set(ENV_UFILE_BASE_URL));
    for (path, url) in url_settings(Some(&resolved.base_url), ufile_base.as_deref()) {
        if let Some(d) = url.and_then(|u| crate::provider_data::cleartext_diagnostic(path, u, insecure_http)) {
            notes.push(d);
        }
    }
    if notes.has_errors() {
        return Err(notes);
    }
    let version = if terraform_version.is_empty() {
        "unknown"
    } else {
        terraform_version
    };
    let mut client_config = resolved.client_config(format!("terraform/{version}"));
    client_config.rate_limit = rate_limit(args, &env_set).map_err(Diagnostics::from)?;
    let client = Client::new(client_config).map_err(|e| {
        Diagnostics::from(
            Diagnostic::error(
                "Cannot create the UCloud API client",
                format!("{e}. Check base_url (or {}).", credentials::ENV_API_BASE_URL),
            )
            .at(attr_path!(ProviderModel, base_url)),
        )
    })?;
    let ufile_base_url = args
        .ufile_base_url
        .known()
        .cloned()
        .or_else(|| env_set(ENV_UFILE_BASE_URL));
    let client = Arc::new(client);
    let uploads = UfileClient::new(UfileClientConfig {
        base_url: ufile_base_url,
        credentials: ufile::Credentials::new(resolved.public_key.clone(), resolved.private_key.clone()),
        user_agent: client.user_agent().to_owned(),
        api: Some(client.clone()),
        project_id: resolved.project_id.clone(),
        ..UfileClientConfig::default()
    })
    .map_err(|e| {
        Diagnostics::from(match e {
            ReaderConfigError::BaseUrl(e) => ufile_base_url_error(&e),
            other => Diagnostic::error("Cannot create the UFile client", format!("{other}.")),
        })
    })?;
    // The check before an import reads through the same connections.
    let reader = uploads.reader();
    let poll = PollSchedule::from_env_value(env_set(POLL_INTERVAL_ENV).as_deref());
    tracing::debug!(
        region = %resolved.region,
        base_url = %resolved.base_url,
        profile = %resolved.profile,
        poll_tick = ?poll.tick,
        "provider configured"
    );
    // Terraform's data directory for this working directory: where
    // Terraform itself keeps what belongs to it (the provider runs in the
    // working directory Terraform runs in).
    let data_dir = env_set("TF_DATA_DIR").unwrap_or_else(|| ".terraform".to_owned());
    Ok(
        ProviderData::configured(client, resolved.region, resolved.project_id, Waiter::new(poll))
            .with_ufile(reader)
            .with_uploads(Arc::new(uploads))
            .with_pending(Pending::in_data_dir(std::path::Path::new(&data_dir)))
            .insecure_http(insecure_http)
            .into(),
    )
    .map(|done: Done<ProviderData>| done.warned(notes))
}

/// A warning for what the credential chain noticed about a profile file.
fn file_note(note: &credentials::FileNote) -> Diagnostic {
    match note {
        credentials::FileNote::ReadableByOthers { path, .. } => Diagnostic::warning(
            "Credential file readable by other users",
            format!("{note}. Restrict it to its owner: `chmod 600 {}`.", path.display()),
        ),
        credentials::FileNote::Unreadable { .. } => {
            Diagnostic::warning("UCloud settings file skipped", format!("{note}."))
        }
    }
}

#[async_trait]
impl Provider for UcloudProvider {
    type Data = ProviderData;
    type Model = ProviderModel;

    fn schema(&self) -> Schema {
        provider_schema()
    }

    /// URLs in the block that would send signed requests in clear.
    fn validate(&self, config: &ProviderModel) -> Diagnostics {
        let insecure = config.insecure_http.known().copied().unwrap_or(false);
        let mut diags = Diagnostics::new();
        for (path, url) in url_settings(
            config.base_url.known().map(String::as_str),
            config.ufile_base_url.known().map(String::as_str),
        ) {
            if let Some(d) = url.and_then(|u| crate::provider_data::cleartext_diagnostic(path, u, insecure)) {
                diags.push(d);
            }
        }
        diags
    }

    /// Profile files are read on a blocking thread, within
    /// [`CONFIGURE_DEADLINE`]: a file on a hung network share must neither
    /// stall the async workers nor hold up Terraform for ever.
    async fn configure(
        &self,
        _ctx: &Context,
        req: ConfigureRequest<ProviderModel>,
    ) -> Result<Done<ProviderData>, Diagnostics> {
        let work = tokio::task::spawn_blocking(move || {
            let home = credentials::home_dir();
            configure_from(&req.config, &req.terraform_version, &env_var, home.as_deref())
        });
        match tokio::time::timeout(CONFIGURE_DEADLINE, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(failed)) => Err(Diagnostic::error(
                "Provider configuration failed",
                format!("Configuring the provider stopped unexpectedly ({failed}). Please report this as a bug."),
            )
            .into()),
            Err(_) => Err(Diagnostic::error(
                "Provider configuration timed out",
                format!(
                    "Reading the UCloud profile files (~/.ucloud/credential.json, config.json, or \
                     shared_credentials_file) took longer than {}: is one of them on a network share that does \
                     not answer? Set the key pair and region in the provider block or the environment instead.",
                    human(CONFIGURE_DEADLINE)
                ),
            )
            .into()),
        }
    }

    fn resources(&self) -> Vec<Arc<dyn AnyResource<ProviderData>>> {
        resources::all()
    }

    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource<ProviderData>>> {
        data_sources::all()
    }

    fn list_resources(&self) -> Vec<Arc<dyn AnyListResource<ProviderData>>> {
        list_resources::all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{AttrPath, Number};
    use std::time::Duration;

    fn model(v: &Value) -> ProviderModel {
        ProviderModel::from_value(v).expect("a provider block")
    }

    /// What ValidateProviderConfig reports for a block.
    fn validate_block(config: &Value) -> Diagnostics {
        validate::config(&provider_schema().block, config, |c| UcloudProvider.validate(&model(c)))
    }

    #[test]
    fn schema_documents_env_vars_and_hides_the_private_key() {
        let s = provider_schema();
        let pk = s.block.get("private_key").expect("private_key attribute");
        assert!(pk.sensitive);
        assert_eq!(pk.env, Some("UCLOUD_PRIVATE_KEY"));
        assert_eq!(
            s.block.get("base_url").and_then(|a| a.shown_default.as_deref()),
            Some(DEFAULT_BASE_URL)
        );
        assert_eq!(
            s.block.get("shared_credentials_file").and_then(|a| a.env),
            Some("UCLOUD_SHARED_CREDENTIAL_FILE")
        );
        assert_eq!(
            s.block.get("ufile_base_url").and_then(|a| a.env),
            Some("UCLOUD_UFILE_BASE_URL")
        );
        assert!(
            s.block
                .attributes
                .iter()
                .all(|a| a.optional && !a.description.is_empty())
        );
    }

    #[test]
    fn http_to_another_machine_is_refused_unless_allowed_and_then_warns() {
        assert_eq!(
            attr_name!(ProviderModel, insecure_http),
            crate::provider_data::INSECURE_HTTP_SETTING
        );
        let at = |diags: &Diagnostics| -> Vec<(bool, String)> {
            diags
                .iter()
                .map(|d| {
                    let path = d.attribute.as_ref().map(ToString::to_string).unwrap_or_default();
                    (d.severity == crate::framework::Severity::Error, path)
                })
                .collect()
        };
        let clear = block(&[
            ("base_url", Value::string("http://api.example.com")),
            ("ufile_base_url", Value::string("http://10.0.0.5:8080/ufile")),
        ]);
        let diags = validate_block(&clear);
        assert_eq!(at(&diags), [(true, "base_url".into()), (true, "ufile_base_url".into())]);
        let d = diags.iter().next().expect("an error");
        assert!(
            d.detail.contains("insecure_http = true") && d.detail.contains("https://"),
            "{}",
            d.detail
        );

        let mut allowed = clear.clone();
        allowed.set("insecure_http", Value::Bool(true));
        assert_eq!(
            at(&validate_block(&allowed)),
            [(false, "base_url".into()), (false, "ufile_base_url".into())]
        );
        for fine in [
            "https://api.example.com",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(
                validate_block(&block(&[("base_url", Value::string(fine))])).is_empty(),
                "{fine}"
            );
        }

        // From the environment too, when configuring.
        let env = |name: &str| (name == "UCLOUD_API_BASE_URL").then(|| "http://api.example.com".to_owned());
        let mut from_env = known_block();
        from_env.set("base_url", Value::Null);
        let diags = configure_from(&model(&from_env), "1.11.4", &env, None)
            .err()
            .unwrap_or_default();
        assert_eq!(at(&diags), [(true, "base_url".into())]);
    }

    #[test]
    fn validate_rejects_negative_retries_and_non_http_base_url() {
        let config = block(&[
            ("max_retries", Value::Number(Number::Int(-1))),
            ("base_url", Value::string("ftp://api.ucloud.cn")),
        ]);
        let diags = validate_block(&config);
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
            .collect();
        assert_eq!(paths, vec!["base_url", "max_retries"]);

        let fine = block(&[
            ("max_retries", Value::Number(Number::Int(0))),
            ("base_url", Value::string("http://127.0.0.1:8080")),
        ]);
        assert!(validate_block(&fine).is_empty());
        let unknown = block(&[("max_retries", Value::Unknown), ("base_url", Value::Unknown)]);
        assert!(validate_block(&unknown).is_empty());

        for bad in [-1, 10_001] {
            let config = block(&[("max_requests_per_second", Value::Number(Number::Int(bad)))]);
            let diags = validate_block(&config);
            let d = diags.iter().next().expect("a diagnostic");
            assert_eq!(d.attribute, Some(AttrPath::attr("max_requests_per_second")), "{bad}");
            assert!(d.detail.contains("from 0 to 10000"), "{}", d.detail);
        }
        for fine in [0, 1, 10_000] {
            let config = block(&[("max_requests_per_second", Value::Number(Number::Int(fine)))]);
            assert!(validate_block(&config).is_empty(), "{fine}");
        }
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
                "ufile_base_url",
                "max_retries",
                "max_requests_per_second",
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
        let data = configure_from(&model(&known_block()), "1.11.4", &no_env, None)
            .expect("configured")
            .state;
        assert!(data.client().is_ok());
        assert_eq!(data.region, Maybe::Known("cn-bj2".into()));
        assert_eq!(data.project_id, Maybe::Null);
        assert_eq!(data.waiter.schedule(), PollSchedule::default());
        let client = data.client().expect("a client");
        assert_eq!(client.rate_limit(), RateLimit::unlimited(), "no ceiling by default");
    }

    #[test]
    fn the_ceiling_comes_from_the_block_then_the_environment() {
        let env = |name: &str| (name == ENV_MAX_REQUESTS_PER_SECOND).then(|| "25".to_string());
        let data = configure_from(&model(&known_block()), "1.11.4", &env, None)
            .expect("configured")
            .state;
        assert_eq!(
            data.client().map(Client::rate_limit).ok(),
            Some(RateLimit::per_second(25))
        );

        let mut config = known_block();
        config.set("max_requests_per_second", Value::Number(Number::Int(0)));
        let data = configure_from(&model(&config), "1.11.4", &env, None)
            .expect("configured")
            .state;
        assert_eq!(data.client().map(Client::rate_limit).ok(), Some(RateLimit::unlimited()));

        let garbage = |name: &str| (name == ENV_MAX_REQUESTS_PER_SECOND).then(|| "fast".to_string());
        let diags = configure_from(&model(&known_block()), "1.11.4", &garbage, None)
            .err()
            .unwrap_or_default();
        let d = diags.iter().next().expect("a diagnostic");
        assert_eq!(d.attribute, Some(AttrPath::attr("max_requests_per_second")));
        assert!(
            d.detail.contains("UCLOUD_MAX_REQUESTS_PER_SECOND=\"fast\""),
            "{}",
            d.detail
        );
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
        let data = configure_from(&model(&block(&[])), "1.11.4", &env, None)
            .expect("configured")
            .state;
        assert_eq!(data.region, Maybe::Known("hk".into()));
        assert_eq!(data.project_id, Maybe::Known("org-env".into()));
        assert_eq!(data.waiter.schedule().tick, Duration::from_millis(20));
    }

    #[test]
    fn ufile_base_url_comes_from_the_block_or_the_environment() {
        let url = "https://images.cn-bj.ufileos.com/dir/a.raw";
        let request_url = |data: &ProviderData| {
            let reader = data.ufile.as_ref().expect("a UFile reader");
            assert!(reader.credentials().is_ok(), "the API key pair signs for UFile");
            reader.object(url).expect("mapped").request_url().to_string()
        };
        let data = configure_from(&model(&known_block()), "1.11.4", &no_env, None)
            .expect("configured")
            .state;
        assert_eq!(request_url(&data), url, "each bucket's own host by default");

        let env = |name: &str| (name == ENV_UFILE_BASE_URL).then(|| "http://127.0.0.1:9/ufile/".to_string());
        let data = configure_from(&model(&known_block()), "1.11.4", &env, None)
            .expect("configured")
            .state;
        assert_eq!(request_url(&data), "http://127.0.0.1:9/ufile/images/dir/a.raw");

        let mut config = known_block();
        config.set("ufile_base_url", Value::string("http://127.0.0.1:7"));
        let data = configure_from(&model(&config), "1.11.4", &env, None)
            .expect("configured")
            .state;
        assert_eq!(
            request_url(&data),
            "http://127.0.0.1:7/images/dir/a.raw",
            "the block wins"
        );

        let bad_env = |name: &str| (name == ENV_UFILE_BASE_URL).then(|| "ftp://x".to_string());
        let diags = configure_from(&model(&known_block()), "1.11.4", &bad_env, None)
            .err()
            .unwrap_or_default();
        let d = diags.iter().next().expect("an error");
        assert_eq!(d.attribute, Some(AttrPath::attr("ufile_base_url")));
        assert!(d.detail.contains(ENV_UFILE_BASE_URL), "{}", d.detail);

        config.set("ufile_base_url", Value::string("https://h/?q=1"));
        let diags = validate_block(&config);
        assert_eq!(
            diags.iter().filter_map(|d| d.attribute.clone()).collect::<Vec<_>>(),
            [AttrPath::attr("ufile_base_url")]
        );
    }

    #[test]
    fn a_missing_key_is_reported_at_its_argument_with_its_env_var() {
        let mut config = known_block();
        config.set("public_key", Value::Null);
        let diags = configure_from(&model(&config), "1.11.4", &no_env, None)
            .err()
            .unwrap_or_default();
        let d = diags.iter().next().expect("a diagnostic");
        assert_eq!(d.attribute, Some(AttrPath::attr("public_key")));
        assert!(
            d.detail.starts_with(
                "public_key is not set: set `public_key` in the provider block or the UCLOUD_PUBLIC_KEY \
                 environment variable"
            ),
            "{}",
            d.detail
        );
        assert!(!diags.to_string().contains("priv-secret"));
    }

    #[test]
    fn unknown_values_give_data_without_a_client_instead_of_an_error() {
        let mut config = known_block();
        config.set("private_key", Value::Unknown);
        let data = configure_from(&model(&config), "1.11.4", &no_env, None)
            .expect("no error at plan time")
            .state;
        assert_eq!(data.region, Maybe::Known("cn-bj2".into()));
        let err = data.client().expect_err("no client");
        assert!(err.detail.contains("private_key"), "{}", err.detail);

        config.set("region", Value::Unknown);
        let data = configure_from(&model(&config), "1.11.4", &no_env, None)
            .expect("no error at plan time")
            .state;
        assert_eq!(data.region, Maybe::Unknown);
    }

    /// Every resource, data source and the provider block: the typed model
    /// and the served schema agree, and every attribute is documented.
    #[test]
    fn every_model_agrees_with_its_schema() {
        let provider = UcloudProvider;
        let mut schemas = Vec::new();
        for r in provider.resources() {
            assert_eq!(r.check_model(), Ok(()), "{}", r.type_name());
            schemas.push((r.type_name(), r.schema()));
        }
        for d in provider.data_sources() {
            assert_eq!(d.check_model(), Ok(()), "{}", d.type_name());
            schemas.push((d.type_name(), d.schema()));
        }
        assert_eq!(
            crate::framework::model::check_conformance::<ProviderModel>(&provider_schema()),
            Ok(())
        );
        schemas.push(("provider", provider_schema()));
        for (name, schema) in schemas {
            for a in &schema.block.attributes {
                assert!(!a.description.is_empty(), "{name}.{} has no description", a.name);
            }
        }
    }
}
