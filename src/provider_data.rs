//! What configuring the provider produces and every resource and data source
//! call receives. Kept apart from `provider.rs` so that resources depend on
//! it without depending on the provider that lists them.

use crate::framework::{AttrPath, Diagnostic, Maybe};
use crate::images::{Location, Pending, Staging, Waiter};
use crate::ucloud::Client;
use crate::ucloud::credentials::ENV_REGION;
use crate::ucloud::ufile::{ObjectReader, Store};
use std::sync::Arc;

/// The environment variable for the provider's `ufile_base_url`: object
/// requests go path-style to `{base}/BUCKET/KEY`. The provider reads it; the
/// image check names it when UFile cannot be reached.
pub const ENV_UFILE_BASE_URL: &str = "UCLOUD_UFILE_BASE_URL";

/// The provider's opt-in to `http://` URLs to other machines, as its block
/// names it (the provider's declaration is checked against it).
pub const INSECURE_HTTP_SETTING: &str = "insecure_http";

/// An `http://` URL to another machine: refused, or with `insecure_http`,
/// allowed with a warning. `path` is where the URL was set.
pub fn cleartext_diagnostic(path: AttrPath, raw: &str, insecure_http: bool) -> Option<Diagnostic> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !crate::ucloud::sends_in_clear(&url) {
        return None;
    }
    let shown = crate::ucloud::redact_url(raw.trim());
    let opt_in = INSECURE_HTTP_SETTING;
    Some(if insecure_http {
        Diagnostic::warning(
            format!("{path} is sent in clear"),
            format!(
                "{shown} uses http:// to a host that is not this machine, allowed by {opt_in} = true: signed \
                 requests to it can be read and replayed on the way."
            ),
        )
        .at(path)
    } else {
        Diagnostic::error(
            format!("Invalid {path}"),
            format!(
                "{shown} uses http:// to a host that is not this machine: signed requests would travel in clear. \
                 Use https://, or set {opt_in} = true in the provider block to allow it anyway."
            ),
        )
        .at(path)
    })
}

/// The provider's data: an API client, the default location and the waiter
/// shared by every wait of this process.
pub struct ProviderData {
    /// The API client; `None` while the provider block holds unknown values.
    pub client: Option<Arc<Client>>,
    /// The default region for resources that set none.
    pub region: Maybe<String>,
    /// The default project; null means the account's default project.
    pub project_id: Maybe<String>,
    pub waiter: Waiter,
    /// Reads image files in UFile for the check before an import, and holds
    /// the key pair that presigns the import's URL; `None` without a client.
    pub ufile: Option<ObjectReader>,
    /// Uploads local image files to UFile (`source`); `None` without a client.
    pub uploads: Option<Arc<dyn Store>>,
    /// The staged files the images of this process share.
    pub staging: Arc<Staging>,
    /// Creates a killed Terraform never heard of, for the next apply to adopt.
    pub pending: Pending,
    /// `insecure_http`: `http://` to other machines allowed (with a warning).
    pub insecure_http: bool,
    /// Why `client` is `None`, for the error an API-needing operation reports.
    unconfigured: Option<String>,
}

impl ProviderData {
    /// Data with a working client.
    pub fn configured(client: Arc<Client>, region: String, project_id: Option<String>, waiter: Waiter) -> Self {
        ProviderData {
            client: Some(client),
            region: Maybe::Known(region),
            project_id: project_id.map_or(Maybe::Null, Maybe::Known),
            waiter,
            ufile: None,
            uploads: None,
            staging: Arc::default(),
            pending: Pending::disabled(),
            insecure_http: false,
            unconfigured: None,
        }
    }

    /// The same data with a UFile reader.
    pub fn with_ufile(mut self, reader: ObjectReader) -> Self {
        self.ufile = Some(reader);
        self
    }

    /// The same data with a UFile store for uploads.
    pub fn with_uploads(mut self, store: Arc<dyn Store>) -> Self {
        self.uploads = Some(store);
        self
    }

    /// The same data keeping create records in `pending`.
    pub fn with_pending(mut self, pending: Pending) -> Self {
        self.pending = pending;
        self
    }

    /// The same data with `insecure_http` as configured.
    pub fn insecure_http(mut self, allowed: bool) -> Self {
        self.insecure_http = allowed;
        self
    }

    /// Data without a client; `why` tells the user what kept it from existing.
    pub fn unconfigured(why: impl Into<String>, region: Maybe<String>, project_id: Maybe<String>) -> Self {
        ProviderData {
            client: None,
            region,
            project_id,
            waiter: Waiter::default(),
            ufile: None,
            uploads: None,
            staging: Arc::default(),
            pending: Pending::disabled(),
            insecure_http: false,
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

    /// Where an object lives, from its `region` and `project_id` arguments
    /// as configured: each one given (known, not empty) wins, otherwise the
    /// provider's default. Without a region anywhere, the one error says so
    /// at `region_path`, the argument's path in the caller's model. Unset
    /// (null or unknown) `project_id` with no provider default is the
    /// account's default project.
    pub fn locate(
        &self,
        region: &Maybe<String>,
        project_id: &Maybe<String>,
        region_path: AttrPath,
    ) -> Result<Location, Diagnostic> {
        self.resolve(region, project_id, region_path, false)
    }

    /// Where the object a state (or a plan built from one) records lives:
    /// as [`ProviderData::locate`], except that a null `project_id` is the
    /// account's default project, as recorded, whatever the provider's
    /// default is now; only an unknown one takes the provider's.
    pub fn locate_recorded(
        &self,
        region: &Maybe<String>,
        project_id: &Maybe<String>,
        region_path: AttrPath,
    ) -> Result<Location, Diagnostic> {
        self.resolve(region, project_id, region_path, true)
    }

    /// The one rule behind both: argument, then provider, then one error.
    fn resolve(
        &self,
        region: &Maybe<String>,
        project_id: &Maybe<String>,
        region_path: AttrPath,
        recorded: bool,
    ) -> Result<Location, Diagnostic> {
        let given = |m: &Maybe<String>| m.known().filter(|v| !v.is_empty()).cloned();
        let Some(region) = given(region).or_else(|| given(&self.region)) else {
            return Err(Diagnostic::error(
                "No region",
                format!(
                    "Set {region_path} here, or `region` (or the {ENV_REGION} environment variable) on the \
                     provider."
                ),
            )
            .at(region_path));
        };
        let project_id = match project_id {
            Maybe::Null if recorded => None,
            _ => given(project_id).or_else(|| given(&self.project_id)),
        };
        Ok(Location::new(region, project_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn location_falls_back_to_the_provider_defaults() {
        let data = ProviderData::unconfigured("x", Maybe::Known("cn-bj2".into()), Maybe::Known("org-d".into()));
        let own = data
            .locate_recorded(&Maybe::Known("hk".into()), &Maybe::Null, AttrPath::attr("region"))
            .ok();
        assert_eq!(own, Some(Location::new("hk", None)));
        let defaults = data
            .locate_recorded(&Maybe::Unknown, &Maybe::Unknown, AttrPath::attr("region"))
            .ok();
        assert_eq!(defaults, Some(Location::new("cn-bj2", Some("org-d".into()))));
        let none = ProviderData::unconfigured("x", Maybe::Unknown, Maybe::Null);
        assert!(
            none.locate_recorded(&Maybe::Null, &Maybe::Null, AttrPath::attr("region"))
                .is_err()
        );
    }

    #[test]
    fn locate_takes_the_argument_then_the_provider_then_says_where_to_set_it() {
        let data = ProviderData::unconfigured("x", Maybe::Known("cn-bj2".into()), Maybe::Known("org-d".into()));
        let at = AttrPath::attr("region");
        let own = data.locate(&Maybe::Known("hk".into()), &Maybe::Known("org-o".into()), at.clone());
        assert_eq!(own, Ok(Location::new("hk", Some("org-o".into()))));
        for unset in [Maybe::Null, Maybe::Unknown, Maybe::Known(String::new())] {
            let defaults = data.locate(&unset, &unset, at.clone());
            assert_eq!(defaults, Ok(Location::new("cn-bj2", Some("org-d".into()))), "{unset:?}");
        }
        let bare = ProviderData::unconfigured("x", Maybe::Known("cn-bj2".into()), Maybe::Null);
        assert_eq!(
            bare.locate(&Maybe::Null, &Maybe::Null, at.clone()),
            Ok(Location::new("cn-bj2", None)),
            "the account's default project"
        );
        let nowhere = ProviderData::unconfigured("x", Maybe::Unknown, Maybe::Null);
        let err = nowhere
            .locate(&Maybe::Null, &Maybe::Null, AttrPath::attr("source").then("region"))
            .expect_err("no region");
        assert_eq!(err.attribute, Some(AttrPath::attr("source").then("region")));
        assert_eq!(err.summary, "No region");
        assert!(err.detail.contains("Set source.region here") && err.detail.contains("UCLOUD_REGION"));
    }
}
