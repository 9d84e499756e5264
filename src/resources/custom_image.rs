//! `ucloud_custom_image`: a disk image file in UFile imported into UHost as a
//! custom image. One readable unit: the model, the schema, plan-time
//! validation, the plan rules, and create / read / delete / import.
//!
//! What it guarantees: an image is never orphaned. The image id is recorded
//! the moment ImportCustomImage answers; a failure after that returns the id
//! so Terraform keeps it (tainted) for the next apply or destroy. A lost
//! answer to the import is reconciled by looking for the image it made before
//! importing again. A failed import (`Unavailable`) is cleaned up.

use crate::framework::timeouts::{self, Timeouts};
use crate::framework::{
    ApplyResult, AttrPath, Attribute, Block, Context, Diagnostic, Diagnostics, IntoValue, Maybe, Plan, PlanRequest,
    ReadResult, Resource, Schema, Type, Value,
};
use crate::provider::{PollSchedule, ProviderData};
use crate::ucloud::{
    Client, DescribeImage, Error as ApiError, Image, ImageFormat, ImageState, ImportCustomImage, TerminateCustomImage,
};
use async_trait::async_trait;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The resource type name.
pub const TYPE_NAME: &str = "ucloud_custom_image";

/// How long an import may take by default (UCloud's Packer plugin waits an hour too).
pub const DEFAULT_CREATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long deleting may take by default.
pub const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The `timeouts` block's operations and defaults, in one place.
const TIMEOUTS: Timeouts = Timeouts::new(&[("create", DEFAULT_CREATE_TIMEOUT), ("delete", DEFAULT_DELETE_TIMEOUT)]);

/// UCloud's limit on image names.
const MAX_NAME_CHARS: usize = 63;

/// How far before the import call an image's CreateTime may lie and still be
/// taken for the image that call made (clock skew between us and UCloud).
const RECONCILE_SLACK_SECS: i64 = 30;

/// How many times the search for the image of a lost import is tried.
const RECONCILE_ATTEMPTS: u32 = 5;

/// Consecutive failed polls tolerated before a wait gives up: the client has
/// already retried each one, so this only rides out a longer bad patch.
const MAX_POLL_ERRORS: u32 = 5;

/// Consecutive polls that do not find a just-imported image before it is
/// taken as deleted by someone else.
const MAX_MISSING_POLLS: u32 = 3;

/// Arguments UCloud never returns: after `terraform import` they are null in
/// the state and taken from the configuration without a replacement.
const IMPORT_ONLY: [&str; 3] = ["ufile_url", "format", "os_type"];

/// Every argument but `timeouts`: UCloud has no API to change an image.
const FORCE_NEW: [&str; 10] = [
    "name",
    "ufile_url",
    "format",
    "os_type",
    "os_name",
    "description",
    "tag",
    "auth",
    "region",
    "project_id",
];

/// The accepted forms of a `terraform import` id, for error messages.
const IMPORT_ID_FORMS: &str = "`uimage-xxxx`, `REGION/uimage-xxxx` or `PROJECT_ID/REGION/uimage-xxxx`";

/// The state of an image whose import has been accepted but not finished.
const MAKING: &str = "Making";

/// The resource's values, typed. Every field may be unknown at plan time.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomImageModel {
    pub id: Maybe<String>,
    pub name: Maybe<String>,
    pub ufile_url: Maybe<String>,
    pub format: Maybe<String>,
    pub os_type: Maybe<String>,
    pub os_name: Maybe<String>,
    pub description: Maybe<String>,
    pub tag: Maybe<String>,
    pub auth: Maybe<bool>,
    pub region: Maybe<String>,
    pub project_id: Maybe<String>,
    pub status: Maybe<String>,
    pub size: Maybe<i64>,
    pub create_time: Maybe<String>,
    pub features: Maybe<Vec<String>>,
    /// The `timeouts` block, kept as is; read through [`CustomImageModel::timeout`].
    pub timeouts: Value,
}

impl CustomImageModel {
    pub fn from_value(v: &Value) -> Result<Self, Diagnostics> {
        let model = (|| -> Result<Self, Diagnostic> {
            Ok(CustomImageModel {
                id: v.attr("id")?,
                name: v.attr("name")?,
                ufile_url: v.attr("ufile_url")?,
                format: v.attr("format")?,
                os_type: v.attr("os_type")?,
                os_name: v.attr("os_name")?,
                description: v.attr("description")?,
                tag: v.attr("tag")?,
                auth: v.attr("auth")?,
                region: v.attr("region")?,
                project_id: v.attr("project_id")?,
                status: v.attr("status")?,
                size: v.attr("size")?,
                create_time: v.attr("create_time")?,
                features: v.attr("features")?,
                timeouts: v.get("timeouts").clone(),
            })
        })();
        model.map_err(Diagnostics::from)
    }

    pub fn to_value(&self) -> Value {
        Value::object([
            ("id", self.id.clone().into_value()),
            ("name", self.name.clone().into_value()),
            ("ufile_url", self.ufile_url.clone().into_value()),
            ("format", self.format.clone().into_value()),
            ("os_type", self.os_type.clone().into_value()),
            ("os_name", self.os_name.clone().into_value()),
            ("description", self.description.clone().into_value()),
            ("tag", self.tag.clone().into_value()),
            ("auth", self.auth.clone().into_value()),
            ("region", self.region.clone().into_value()),
            ("project_id", self.project_id.clone().into_value()),
            ("status", self.status.clone().into_value()),
            ("size", self.size.clone().into_value()),
            ("create_time", self.create_time.clone().into_value()),
            ("features", self.features.clone().into_value()),
            ("timeouts", self.timeouts.clone()),
        ])
    }

    /// The configured timeout of `op` (`create`, `delete`), or its default.
    fn timeout(&self, op: &str) -> Duration {
        TIMEOUTS.get(&Value::object([(timeouts::BLOCK_NAME, self.timeouts.clone())]), op)
    }

    /// The same values with every unknown turned into null: a state never
    /// holds unknowns.
    fn without_unknowns(mut self) -> Self {
        fn null<T>(m: &mut Maybe<T>) {
            if m.is_unknown() {
                *m = Maybe::Null;
            }
        }
        null(&mut self.id);
        null(&mut self.name);
        null(&mut self.ufile_url);
        null(&mut self.format);
        null(&mut self.os_type);
        null(&mut self.os_name);
        null(&mut self.description);
        null(&mut self.tag);
        null(&mut self.auth);
        null(&mut self.region);
        null(&mut self.project_id);
        null(&mut self.status);
        null(&mut self.size);
        null(&mut self.create_time);
        null(&mut self.features);
        if !self.timeouts.is_wholly_known() {
            self.timeouts = Value::Null;
        }
        self
    }

    /// Takes the computed attributes from `img`; what else it takes depends on
    /// who asks (see [`Refresh`]).
    fn refresh(&mut self, img: &Image, how: Refresh) {
        self.id = Maybe::Known(img.image_id.clone());
        self.status = Maybe::Known(img.state.clone());
        self.size = Maybe::Known(img.image_size);
        self.create_time = rfc3339(img.create_time).map_or(Maybe::Null, Maybe::Known);
        self.features = Maybe::Known(img.features.clone());
        let tag = non_empty(&img.tag);
        match how {
            Refresh::AfterCreate => {
                if self.tag.is_unknown() {
                    self.tag = tag;
                }
            }
            Refresh::Read => {
                self.name = Maybe::Known(img.image_name.clone());
                self.tag = tag;
                // UCloud cannot store an empty description: keep the user's "" when it is empty.
                let empty_in_state = self.description.known().is_some_and(|d| d.is_empty());
                if !(img.image_description.is_empty() && empty_in_state) {
                    self.description = non_empty(&img.image_description);
                }
                // Filled after `terraform import` only: the API's spelling may differ from the user's.
                if !matches!(self.os_name, Maybe::Known(_)) {
                    self.os_name = non_empty(&img.os_name);
                }
                if !matches!(self.auth, Maybe::Known(_)) {
                    self.auth = Maybe::Known(true);
                }
            }
        }
    }
}

/// Who refreshes a model from an image, and so which attributes it may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refresh {
    /// Create: every known planned value must stay as planned.
    AfterCreate,
    /// Read: the remote object wins for what UCloud returns.
    Read,
}

fn non_empty(s: &str) -> Maybe<String> {
    if s.is_empty() {
        Maybe::Null
    } else {
        Maybe::Known(s.to_string())
    }
}

/// Unix seconds as RFC 3339 (UTC); `None` for a missing (zero or negative) time.
fn rfc3339(unix: i64) -> Option<String> {
    let secs = u64::try_from(unix).ok().filter(|s| *s > 0)?;
    Some(humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A duration as a user reads it, to the second.
fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// A URL without its query string: a signed UFile URL carries a temporary
/// credential that has no place in an error message.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The resource's schema.
pub fn custom_image_schema() -> Schema {
    const IMPORT_ONLY_NOTE: &str = "Not returned by the API: after `terraform import`, taken from the \
                                    configuration without replacing the image.";
    let formats = ImageFormat::ALL
        .iter()
        .map(|f| format!("`{}`", f.as_api_str()))
        .collect::<Vec<_>>()
        .join(", ");
    Schema::new(
        0,
        Block::new(
            "A UHost custom image imported from a disk image file in UFile (ImportCustomImage). Creating it \
             waits until the image is `Available`; an import that fails is deleted again. UCloud cannot change \
             an image after import, so changing any argument replaces it.",
        )
        .attribute(Attribute::computed("id", Type::String).description("The image id (`uimage-...`)."))
        .attribute(
            Attribute::required("name", Type::String)
                .description("The image name (`ImageName`), 1 to 63 characters.")
                .force_new(),
        )
        .attribute(
            Attribute::required("ufile_url", Type::String)
                .description(&format!(
                    "The URL of the image file in UFile (`UFileUrl`), e.g. \
                     `https://bucket.cn-bj.ufileos.com/images/c7.qcow2`; a signed URL (with a query string) \
                     works for private buckets. The file must be readable by UHost. {IMPORT_ONLY_NOTE}"
                ))
                .force_new(),
        )
        .attribute(
            Attribute::required("format", Type::String)
                .description(&format!(
                    "The file's format: one of {formats}, in any letter case. Sent in UCloud's spelling; the \
                     state keeps yours. {IMPORT_ONLY_NOTE}"
                ))
                .force_new(),
        )
        .attribute(
            Attribute::required("os_type", Type::String)
                .description(&format!(
                    "The operating system platform as the UCloud console lists it (`CentOS`, `Ubuntu`, \
                     `Windows`, `Debian`, ...), or `Other`. {IMPORT_ONLY_NOTE}"
                ))
                .force_new(),
        )
        .attribute(
            Attribute::required("os_name", Type::String)
                .description(
                    "The detailed operating system version, e.g. `CentOS 7.6 64位`; must be `Other` when \
                     `os_type` is `Other`. After `terraform import`, read from the image.",
                )
                .force_new(),
        )
        .attribute(
            Attribute::optional("description", Type::String)
                .description("A description of the image (`ImageDescription`).")
                .force_new(),
        )
        .attribute(
            Attribute::optional_computed("tag", Type::String)
                .description("The business group of the image. Default: UCloud's default group (`Default`).")
                .force_new(),
        )
        .attribute(
            Attribute::optional_computed("auth", Type::Bool)
                .description(
                    "Confirms that you are authorised to use the image file (`Auth`). UCloud requires `true`. \
                     Default: `true`.",
                )
                .default_value("true")
                .force_new(),
        )
        .attribute(
            Attribute::optional_computed("region", Type::String)
                .description(
                    "The region of the image, e.g. `cn-bj2`. Default: the provider's `region`. Keep the UFile \
                     bucket in the same region.",
                )
                .force_new(),
        )
        .attribute(
            Attribute::optional_computed("project_id", Type::String)
                .description("The project of the image (`org-...`). Default: the provider's `project_id`.")
                .force_new(),
        )
        .attribute(
            Attribute::computed("status", Type::String)
                .description("The image state: `Available` once imported (`Making` while importing)."),
        )
        .attribute(Attribute::computed("size", Type::Number).description("The image size in GB."))
        .attribute(
            Attribute::computed("create_time", Type::String).description("When the image was created, RFC 3339 (UTC)."),
        )
        .attribute(
            Attribute::computed("features", Type::List(Box::new(Type::String)))
                .description("Features UCloud reports for the image, e.g. `CloudInit`, `HotPlug`, `IPv6`."),
        )
        .block(TIMEOUTS.block()),
    )
}

/// The accepted forms of `format`, as listed in messages.
fn format_list() -> String {
    ImageFormat::ALL
        .iter()
        .map(|f| f.as_api_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plan-time checks: no API call, the attribute path in every diagnostic,
/// unknown values skipped until known.
pub fn validate_config(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let mut err = |attr: &str, summary: &str, detail: String| {
        diags.push(Diagnostic::error(summary, detail).at(AttrPath::attr(attr)));
    };

    if let Some(name) = config.get("name").as_str() {
        let chars = name.chars().count();
        if name.trim().is_empty() {
            err("name", "Invalid image name", "The image name must not be empty.".into());
        } else if chars > MAX_NAME_CHARS {
            err(
                "name",
                "Invalid image name",
                format!("The image name is {chars} characters long; UCloud allows at most {MAX_NAME_CHARS}."),
            );
        }
    }

    if let Some(url) = config.get("ufile_url").as_str()
        && let Err(why) = check_ufile_url(url)
    {
        err(
            "ufile_url",
            "Invalid ufile_url",
            format!(
                "{why}. Give the http(s) URL of the image file in UFile, with host and path, e.g. \
                 https://bucket.cn-bj.ufileos.com/images/c7.qcow2."
            ),
        );
    }

    if let Some(format) = config.get("format").as_str()
        && ImageFormat::parse(format).is_none()
    {
        err(
            "format",
            "Invalid image format",
            format!(
                "{format:?} is not a format UCloud can import. Use one of: {} (any letter case).",
                format_list()
            ),
        );
    }

    let os_type = config.get("os_type").as_str();
    if os_type.is_some_and(|t| t.trim().is_empty()) {
        err(
            "os_type",
            "Invalid os_type",
            "os_type must name the platform (CentOS, Ubuntu, Windows, ...) or be \"Other\".".into(),
        );
    }
    if let Some(os_name) = config.get("os_name").as_str() {
        if os_name.trim().is_empty() {
            err(
                "os_name",
                "Invalid os_name",
                "os_name must name the operating system version, e.g. \"CentOS 7.6 64位\" (\"Other\" when \
                 os_type is \"Other\")."
                    .into(),
            );
        } else if os_type.is_some_and(|t| t.eq_ignore_ascii_case("Other")) && os_name != "Other" {
            err(
                "os_name",
                "Invalid os_name",
                format!("os_type is \"Other\", so UCloud requires os_name = \"Other\" (got {os_name:?})."),
            );
        }
    }

    for (attr, unset_means) in [
        ("tag", "UCloud's default business group"),
        ("region", "the provider's region"),
        ("project_id", "the provider's project"),
    ] {
        if config.get(attr).as_str().is_some_and(|v| v.trim().is_empty()) {
            err(
                attr,
                &format!("Invalid {attr}"),
                format!("{attr} must not be empty; remove the argument to use {unset_means}."),
            );
        }
    }

    if config.get("auth").as_bool() == Some(false) {
        err(
            "auth",
            "Invalid auth",
            "UCloud requires auth = true: it confirms that you may use the image file. Remove the argument or \
             set it to true."
                .into(),
        );
    }

    diags.extend(timeouts::validate(config));
    diags
}

/// Scheme http(s), a host and a path to a file.
fn check_ufile_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{:?} is not a URL ({e})", without_query(raw)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{:?} does not use http or https", without_query(raw)));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{:?} has no host", without_query(raw)));
    }
    if url.path().trim_matches('/').is_empty() {
        return Err(format!("{:?} has no path to a file", without_query(raw)));
    }
    Ok(())
}

/// An image id as `terraform import` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportId {
    pub project_id: Option<String>,
    pub region: Option<String>,
    pub image_id: String,
}

/// Parses `uimage-xxxx`, `REGION/uimage-xxxx` or `PROJECT_ID/REGION/uimage-xxxx`.
pub fn parse_import_id(raw: &str) -> Result<ImportId, String> {
    let bad = |why: &str| format!("{why} in import id {raw:?}. Use one of {IMPORT_ID_FORMS}.");
    let parts: Vec<&str> = raw.trim().split('/').collect();
    if parts.iter().any(|p| p.is_empty() || p.chars().any(char::is_whitespace)) {
        return Err(bad("Empty part or whitespace"));
    }
    let (project_id, region, image_id) = match parts.as_slice() {
        [id] => (None, None, *id),
        [region, id] => (None, Some(*region), *id),
        [project, region, id] => (Some(*project), Some(*region), *id),
        _ => return Err(bad("Too many parts")),
    };
    if !image_id.starts_with("uimage-") || image_id.len() == "uimage-".len() {
        return Err(bad(&format!("{image_id:?} is not an image id (uimage-...)")));
    }
    Ok(ImportId {
        project_id: project_id.map(str::to_string),
        region: region.map(str::to_string),
        image_id: image_id.to_string(),
    })
}

/// The plan rules on top of the framework's default plan (see [`Resource::modify_plan`]).
pub fn plan_changes(data_region: &Maybe<String>, data_project: &Maybe<String>, req: &PlanRequest, plan: &mut Plan) {
    if plan.planned.is_null() {
        return;
    }
    let creating = req.prior.is_null();
    let planned = &mut plan.planned;

    if req.config.get("auth").is_null() {
        let prior_auth = req.prior.get("auth");
        planned.set(
            "auth",
            if prior_auth.is_null() {
                Value::Bool(true)
            } else {
                prior_auth.clone()
            },
        );
    }
    if creating {
        // The provider's region and project are defaults for new images only:
        // an existing image stays where it is when the provider's defaults
        // change (or are not known yet).
        for (attr, default) in [("region", data_region), ("project_id", data_project)] {
            if req.config.get(attr).is_null() {
                planned.set(attr, default.clone().into_value());
            }
        }
        plan.requires_replace.clear();
        return;
    }

    // After `terraform import` these are null: take the configuration's word
    // for them rather than replacing an image that matches it.
    for attr in IMPORT_ONLY {
        if req.prior.get(attr).is_null() && !req.config.get(attr).is_null() {
            planned.set(attr, Value::Null);
            plan.legacy_type_system = true;
        }
    }

    let same_format = |a: &Value, b: &Value| match (a.as_str(), b.as_str()) {
        (Some(a), Some(b)) => ImageFormat::parse(a).is_some() && ImageFormat::parse(a) == ImageFormat::parse(b),
        _ => false,
    };
    plan.requires_replace = FORCE_NEW
        .iter()
        .filter(|attr| {
            let (before, after) = (req.prior.get(attr), planned.get(attr));
            // A change of letter case in `format` is an in-place update of the state only.
            before != after && !(**attr == "format" && same_format(before, after))
        })
        .map(|attr| AttrPath::attr(*attr))
        .collect();
}

/// Where an image lives.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Location {
    region: String,
    project_id: Option<String>,
}

impl Location {
    /// From the resource's values, falling back to the provider's defaults
    /// for values that were unknown when planned.
    fn resolve(region: &Maybe<String>, project_id: &Maybe<String>, data: &ProviderData) -> Result<Self, Diagnostic> {
        let region = match (region, &data.region) {
            (Maybe::Known(r), _) | (_, Maybe::Known(r)) if !r.is_empty() => r.clone(),
            _ => {
                return Err(Diagnostic::error(
                    "No region for the custom image",
                    "Set `region` on the resource, or `region` (or UCLOUD_REGION) on the provider.",
                )
                .at(AttrPath::attr("region")));
            }
        };
        let project_id = match project_id {
            Maybe::Known(p) => Some(p.clone()),
            Maybe::Null => None,
            Maybe::Unknown => data.project_id.known().cloned(),
        }
        .filter(|p| !p.is_empty());
        Ok(Location { region, project_id })
    }
}

/// Why a wait stopped before its goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Halt {
    /// Terraform asked the provider to stop (Ctrl-C).
    Cancelled,
    /// The operation's timeout passed.
    TimedOut,
}

/// A failed call inside a bounded operation.
enum CallError {
    Api(ApiError),
    Halt(Halt),
}

/// Runs one API call that gives up on Ctrl-C or at `deadline`.
async fn bounded<T>(
    ctx: &Context,
    deadline: Instant,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, CallError> {
    tokio::select! {
        biased;
        _ = ctx.cancelled() => Err(CallError::Halt(Halt::Cancelled)),
        r = tokio::time::timeout_at(deadline, call) => match r {
            Err(_) => Err(CallError::Halt(Halt::TimedOut)),
            Ok(Err(e)) if e.is_cancelled() => Err(CallError::Halt(Halt::Cancelled)),
            Ok(Err(e)) => Err(CallError::Api(e)),
            Ok(Ok(v)) => Ok(v),
        },
    }
}

/// The growing delay between polls, bounded by a deadline.
struct Poller {
    schedule: PollSchedule,
    delay: Duration,
    deadline: Instant,
}

impl Poller {
    fn new(schedule: PollSchedule, deadline: Instant) -> Self {
        Poller {
            schedule,
            delay: schedule.initial,
            deadline,
        }
    }

    /// Sleeps until the next poll; stops early on Ctrl-C, or at the deadline.
    async fn pause(&mut self, ctx: &Context) -> Result<(), Halt> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Halt::TimedOut);
        }
        let wake = (now + self.delay).min(self.deadline);
        tokio::select! {
            biased;
            _ = ctx.cancelled() => return Err(Halt::Cancelled),
            _ = tokio::time::sleep_until(wake) => {}
        }
        self.delay = self.schedule.next(self.delay);
        if wake >= self.deadline {
            Err(Halt::TimedOut)
        } else {
            Ok(())
        }
    }
}

/// The image calls this resource makes, in one region and project.
struct Api<'a> {
    client: &'a Client,
    loc: Location,
}

impl Api<'_> {
    fn describe(&self) -> DescribeImage {
        DescribeImage {
            region: self.loc.region.clone(),
            project_id: self.loc.project_id.clone(),
            ..DescribeImage::default()
        }
    }

    /// The image, or `None` when UCloud no longer has it.
    async fn get(&self, image_id: &str, cancel: &CancellationToken) -> Result<Option<Image>, ApiError> {
        let req = DescribeImage::by_id(&self.loc.region, self.loc.project_id.clone(), image_id);
        match self.client.call(&req, cancel).await {
            Ok(resp) => Ok(resp.image_set.into_iter().find(|i| i.image_id == image_id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Custom images called `name` created at or after `since` (unix s).
    async fn find_by_name(&self, name: &str, since: i64) -> Result<Vec<Image>, ApiError> {
        const PAGE: u32 = 100;
        const MAX_PAGES: u32 = 100;
        let never = CancellationToken::new();
        let mut found = Vec::new();
        for page in 0..MAX_PAGES {
            let req = DescribeImage {
                image_type: Some("Custom".to_string()),
                offset: Some(page * PAGE),
                limit: Some(PAGE),
                ..self.describe()
            };
            let resp = self.client.call(&req, &never).await?;
            let got = resp.image_set.len();
            found.extend(
                resp.image_set
                    .into_iter()
                    .filter(|i| i.image_name == name && i.create_time >= since),
            );
            let seen = u64::from(page + 1) * u64::from(PAGE);
            if got == 0 || seen >= u64::try_from(resp.total_count).unwrap_or(0) {
                break;
            }
        }
        Ok(found)
    }

    /// Asks UCloud to delete the image; `Ok` also when it is already gone.
    async fn terminate(&self, image_id: &str, cancel: &CancellationToken) -> Result<(), ApiError> {
        let req = TerminateCustomImage {
            region: self.loc.region.clone(),
            project_id: self.loc.project_id.clone(),
            image_id: image_id.to_string(),
        };
        match self.client.call(&req, cancel).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// How waiting for an import ended.
enum ImportWait {
    Available(Image),
    Unavailable(Image),
    /// The image disappeared (deleted by someone else).
    Gone,
    Halted(Halt, String),
    Failed(ApiError, String),
}

/// Polls until the image is `Available` or `Unavailable`.
async fn wait_import(api: &Api<'_>, ctx: &Context, image_id: &str, poller: &mut Poller) -> ImportWait {
    let mut last_state = MAKING.to_string();
    let (mut errors, mut missing) = (0, 0);
    loop {
        match bounded(ctx, poller.deadline, api.get(image_id, &ctx.cancel)).await {
            Ok(Some(img)) => {
                errors = 0;
                missing = 0;
                match img.state_kind() {
                    ImageState::Available => return ImportWait::Available(img),
                    ImageState::Unavailable => return ImportWait::Unavailable(img),
                    _ => {
                        tracing::debug!(image_id, state = %img.state, "waiting for the image import");
                        last_state = img.state;
                    }
                }
            }
            Ok(None) => {
                missing += 1;
                if missing >= MAX_MISSING_POLLS {
                    return ImportWait::Gone;
                }
            }
            Err(CallError::Halt(h)) => return ImportWait::Halted(h, last_state),
            Err(CallError::Api(e)) => {
                errors += 1;
                tracing::warn!(image_id, error = %e, "polling the image import failed");
                if errors >= MAX_POLL_ERRORS {
                    return ImportWait::Failed(e, last_state);
                }
            }
        }
        if let Err(h) = poller.pause(ctx).await {
            return ImportWait::Halted(h, last_state);
        }
    }
}

/// Deletes the image and waits until DescribeImage no longer returns it. An
/// image still being made cannot always be deleted yet: that is waited out.
/// The error is the detail of a diagnostic.
async fn delete_and_wait(api: &Api<'_>, ctx: &Context, image_id: &str, poller: &mut Poller) -> Result<(), String> {
    let halted = |h: Halt, what: &str, timeout: &str| match h {
        Halt::Cancelled => format!(
            "Deleting image {image_id} was interrupted {what}. It may still exist: run `terraform destroy` again."
        ),
        Halt::TimedOut => format!(
            "Image {image_id} was not gone within {timeout} {what}. Raise `timeouts.delete` or run `terraform \
             destroy` again."
        ),
    };
    let timeout = human(poller.deadline.saturating_duration_since(Instant::now()));
    let mut errors = 0;
    loop {
        let failure = match bounded(ctx, poller.deadline, api.terminate(image_id, &ctx.cancel)).await {
            Ok(()) => break,
            Err(CallError::Halt(h)) => return Err(halted(h, "while asking UCloud to delete it", &timeout)),
            Err(CallError::Api(e)) => e,
        };
        // Terminate refused: retry only while the image is busy (still being made or copied).
        match bounded(ctx, poller.deadline, api.get(image_id, &ctx.cancel)).await {
            Ok(None) => return Ok(()),
            Ok(Some(img)) if matches!(img.state_kind(), ImageState::Making | ImageState::Copying) => {
                tracing::info!(image_id, state = %img.state, "image busy, deleting it once it is ready");
                errors = 0;
            }
            Ok(Some(_)) | Err(CallError::Api(_)) => {
                errors += 1;
                if errors >= MAX_POLL_ERRORS.min(3) {
                    return Err(failure.to_string());
                }
            }
            Err(CallError::Halt(h)) => return Err(halted(h, "while asking UCloud to delete it", &timeout)),
        }
        if let Err(h) = poller.pause(ctx).await {
            return Err(halted(h, &format!("(last error: {failure})"), &timeout));
        }
    }
    let mut errors = 0;
    loop {
        match bounded(ctx, poller.deadline, api.get(image_id, &ctx.cancel)).await {
            Ok(None) => return Ok(()),
            Ok(Some(img)) => {
                errors = 0;
                tracing::debug!(image_id, state = %img.state, "waiting for the image to be deleted");
            }
            Err(CallError::Api(e)) => {
                errors += 1;
                if errors >= MAX_POLL_ERRORS {
                    return Err(format!("Could not confirm that image {image_id} is deleted: {e}"));
                }
            }
            Err(CallError::Halt(h)) => return Err(halted(h, "after UCloud accepted the deletion", &timeout)),
        }
        if let Err(h) = poller.pause(ctx).await {
            return Err(halted(h, "after UCloud accepted the deletion", &timeout));
        }
    }
}

/// An API error as a diagnostic: the client's message names the action, the
/// RetCode, UCloud's message, the request id and a hint.
fn api_error(summary: &str, e: &ApiError) -> Diagnostic {
    Diagnostic::error(summary, e.to_string())
}

/// Imports once; when the answer is lost, adopts the image the call made
/// instead of importing twice.
/// After a lost import answer: the images the call may have made. Retried a
/// few times on errors, and deliberately not interruptible, since giving up
/// early is what would orphan an image. The first look waits one poll delay so
/// an import still being processed has landed.
async fn find_lost_import(api: &Api<'_>, name: &str, since: i64, poll: PollSchedule) -> Result<Vec<Image>, ApiError> {
    let mut delay = poll.initial;
    let mut attempt = 0;
    loop {
        attempt += 1;
        tokio::time::sleep(delay).await;
        match api.find_by_name(name, since).await {
            Ok(found) => return Ok(found),
            Err(e) if attempt >= RECONCILE_ATTEMPTS => return Err(e),
            Err(e) => tracing::warn!(error = %e, "looking for the image of a lost import failed, trying again"),
        }
        delay = poll.next(delay);
    }
}

async fn import_image(
    api: &Api<'_>,
    ctx: &Context,
    req: &ImportCustomImage,
    deadline: Instant,
    poll: PollSchedule,
) -> Result<String, Diagnostic> {
    // Never interrupted half-way: an import cut off in flight may leave an
    // image nobody knows about. The client's own timeout bounds it.
    let never = CancellationToken::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let since = unix_now() - RECONCILE_SLACK_SECS;
        let lost = match api.client.call(req, &never).await {
            Ok(resp) => return Ok(resp.image_id),
            Err(e) if e.is_outcome_unknown() => e,
            Err(e) => return Err(api_error("Failed to import custom image", &e)),
        };
        tracing::warn!(error = %lost, image_name = %req.image_name, "import outcome unknown, looking for the image");
        let found = find_lost_import(api, &req.image_name, since, poll).await.map_err(|e| {
            Diagnostic::error(
                "Custom image import outcome unknown",
                format!(
                    "{lost}. Looking for the image failed too: {e}. An image named {:?} may exist in region {}: \
                     check the UCloud console, then delete it or adopt it with `terraform import`.",
                    req.image_name, api.loc.region
                ),
            )
        })?;
        match found.as_slice() {
            [one] => {
                tracing::info!(image_id = %one.image_id, "adopting the image the lost import created");
                return Ok(one.image_id.clone());
            }
            [] if attempt < 2 && Instant::now() < deadline && !ctx.is_cancelled() => {
                tracing::info!("the lost import created no image, importing again");
            }
            [] => {
                return Err(Diagnostic::error(
                    "Failed to import custom image",
                    format!(
                        "{lost}. No image named {:?} was created, so nothing is left behind.",
                        req.image_name
                    ),
                ));
            }
            several => {
                let ids: Vec<String> = several
                    .iter()
                    .map(|i| format!("{} ({})", i.image_id, i.state))
                    .collect();
                return Err(Diagnostic::error(
                    "Several images match an import whose answer was lost",
                    format!(
                        "{lost}. Images named {:?} created since the call: {}. The provider cannot tell which one \
                         it made: delete the extra ones in the UCloud console, or adopt one with `terraform \
                         import`.",
                        req.image_name,
                        ids.join(", ")
                    ),
                ));
            }
        }
    }
}

/// A required value of the planned model, known by apply time.
fn planned_str<'a>(m: &'a Maybe<String>, attr: &str) -> Result<&'a str, Diagnostic> {
    m.known().map(String::as_str).ok_or_else(|| {
        Diagnostic::error(
            "Value not known at apply time",
            format!("{attr} has no known value. This is a bug in the provider; please report it."),
        )
        .at(AttrPath::attr(attr))
    })
}

/// The ImportCustomImage request for a planned model.
fn import_request(m: &CustomImageModel, loc: &Location) -> Result<ImportCustomImage, Diagnostic> {
    let format_raw = planned_str(&m.format, "format")?;
    let format = ImageFormat::parse(format_raw).ok_or_else(|| {
        Diagnostic::error(
            "Invalid image format",
            format!("{format_raw:?} is not one of {}.", format_list()),
        )
        .at(AttrPath::attr("format"))
    })?;
    Ok(ImportCustomImage {
        region: loc.region.clone(),
        project_id: loc.project_id.clone(),
        image_name: planned_str(&m.name, "name")?.to_string(),
        ufile_url: planned_str(&m.ufile_url, "ufile_url")?.to_string(),
        os_type: planned_str(&m.os_type, "os_type")?.to_string(),
        os_name: planned_str(&m.os_name, "os_name")?.to_string(),
        format,
        auth: true,
        image_description: m.description.known().filter(|d| !d.is_empty()).cloned(),
        tag: m.tag.known().filter(|t| !t.is_empty()).cloned(),
    })
}

/// An import UCloud has accepted: from here on the image exists.
struct Accepted {
    image_id: String,
    started: Instant,
    create_timeout: Duration,
}

/// The `ucloud_custom_image` resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImageResource;

impl CustomImageResource {
    /// Create after the id exists: wait, and on every failure keep the id in
    /// the state unless the image is certainly gone.
    async fn finish_create(
        &self,
        ctx: &Context,
        api: &Api<'_>,
        poll: PollSchedule,
        mut model: CustomImageModel,
        accepted: Accepted,
    ) -> ApplyResult {
        let Accepted {
            image_id,
            started,
            create_timeout,
        } = accepted;
        model.id = Maybe::Known(image_id.clone());
        model.status = Maybe::Known(MAKING.to_string());
        model.region = Maybe::Known(api.loc.region.clone());
        model.project_id = api.loc.project_id.clone().map_or(Maybe::Null, Maybe::Known);
        if !matches!(model.auth, Maybe::Known(_)) {
            model.auth = Maybe::Known(true);
        }
        let tainted = |mut m: CustomImageModel, status: &str, summary: &str, detail: String| {
            m.status = Maybe::Known(status.to_string());
            ApplyResult {
                state: Some(m.without_unknowns().to_value()),
                diagnostics: Diagnostic::error(
                    summary,
                    format!(
                        "{detail} The image is kept in the state as tainted: the next `terraform apply` replaces it \
                         and `terraform destroy` deletes it."
                    ),
                )
                .into(),
            }
        };

        let mut poller = Poller::new(poll, started + create_timeout);
        match wait_import(api, ctx, &image_id, &mut poller).await {
            ImportWait::Available(img) => {
                tracing::info!(image_id, elapsed = ?started.elapsed(), "custom image available");
                model.refresh(&img, Refresh::AfterCreate);
                ApplyResult {
                    state: Some(model.without_unknowns().to_value()),
                    diagnostics: Diagnostics::new(),
                }
            }
            ImportWait::Unavailable(img) => {
                let elapsed = human(started.elapsed());
                tracing::warn!(image_id, "import ended Unavailable, deleting the failed image");
                let delete_timeout = model.timeout("delete");
                let mut cleanup = Poller::new(poll, Instant::now() + delete_timeout);
                let url = model.ufile_url.known().map_or("", |u| without_query(u)).to_string();
                let format = model.format.known().cloned().unwrap_or_default();
                let why = format!(
                    "UCloud could not import {url} as image {image_id} in region {region}: the image ended in state \
                     {state} after {elapsed}. Check that the file is readable by UHost (a public URL, or a signed \
                     URL that has not expired), that `format` ({format}) is the file's real format, and that the \
                     bucket is in region {region}.",
                    region = api.loc.region,
                    state = img.state,
                );
                match delete_and_wait(api, ctx, &image_id, &mut cleanup).await {
                    Ok(()) => ApplyResult {
                        state: None,
                        diagnostics: Diagnostic::error(
                            "Custom image import failed",
                            format!("{why} The failed image was deleted: nothing is left behind."),
                        )
                        .into(),
                    },
                    Err(cleanup_err) => tainted(
                        model,
                        &img.state,
                        "Custom image import failed",
                        format!("{why} Deleting the failed image did not complete: {cleanup_err}"),
                    ),
                }
            }
            // Kept rather than dropped: if UCloud merely lagged, dropping the id
            // would orphan the image; if it is really gone, the next refresh
            // removes it from the state.
            ImportWait::Gone => tainted(
                model,
                MAKING,
                "Custom image disappeared during import",
                format!(
                    "Image {image_id} was created but then no longer found in region {}: was it deleted outside \
                     Terraform?",
                    api.loc.region
                ),
            ),
            ImportWait::Halted(Halt::TimedOut, last) => tainted(
                model,
                &last,
                "Timed out waiting for the custom image",
                format!(
                    "Image {image_id} was still {last} after {} (timeouts.create = {}). Large files take longer: \
                     raise `timeouts.create`.",
                    human(started.elapsed()),
                    human(create_timeout)
                ),
            ),
            ImportWait::Halted(Halt::Cancelled, last) => tainted(
                model,
                &last,
                "Custom image import interrupted",
                format!(
                    "Terraform asked the provider to stop while image {image_id} was {last} ({} after the import \
                     started).",
                    human(started.elapsed())
                ),
            ),
            ImportWait::Failed(e, last) => tainted(
                model,
                &last,
                "Failed to read the custom image while waiting for it",
                format!("Image {image_id} was {last} when polling it failed: {e}."),
            ),
        }
    }
}

#[async_trait]
impl Resource<ProviderData> for CustomImageResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        custom_image_schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    fn modify_plan(&self, data: &ProviderData, req: &PlanRequest, plan: &mut Plan) {
        plan_changes(&data.region, &data.project_id, req, plan);
    }

    async fn create(&self, ctx: &Context, data: &ProviderData, planned: &Value) -> ApplyResult {
        let started = Instant::now();
        let fail = |d: Diagnostic| ApplyResult {
            state: None,
            diagnostics: d.into(),
        };
        let model = match CustomImageModel::from_value(planned) {
            Ok(m) => m,
            Err(diagnostics) => {
                return ApplyResult {
                    state: None,
                    diagnostics,
                };
            }
        };
        let client = match data.client() {
            Ok(c) => c,
            Err(d) => return fail(d),
        };
        let loc = match Location::resolve(&model.region, &model.project_id, data) {
            Ok(l) => l,
            Err(d) => return fail(d),
        };
        let req = match import_request(&model, &loc) {
            Ok(r) => r,
            Err(d) => return fail(d),
        };
        let create_timeout = model.timeout("create");
        let api = Api { client, loc };
        let image_id = match import_image(&api, ctx, &req, started + create_timeout, data.poll).await {
            Ok(id) => id,
            Err(d) => return fail(d),
        };
        tracing::info!(image_id, region = %api.loc.region, "custom image import started");
        let accepted = Accepted {
            image_id,
            started,
            create_timeout,
        };
        self.finish_create(ctx, &api, data.poll, model, accepted).await
    }

    async fn read(&self, ctx: &Context, data: &ProviderData, state: &Value) -> ReadResult {
        let keep = |diagnostics: Diagnostics| ReadResult {
            state: Some(state.clone()),
            diagnostics,
        };
        let mut model = match CustomImageModel::from_value(state) {
            Ok(m) => m,
            Err(d) => return keep(d),
        };
        let image_id = match model.id.known() {
            Some(id) if !id.is_empty() => id.clone(),
            _ => return ReadResult::default(),
        };
        let Some(client) = data.client.as_deref() else {
            // Planning with a provider block that is not known yet: refreshing
            // waits for apply rather than failing the plan.
            let why = data.client().err().map(|d| d.detail).unwrap_or_default();
            return keep(
                Diagnostic::warning(
                    "Custom image not refreshed",
                    format!("Image {image_id} was not read from UCloud: {why}"),
                )
                .into(),
            );
        };
        let loc = match Location::resolve(&model.region, &model.project_id, data) {
            Ok(l) => l,
            Err(d) => return keep(d.into()),
        };
        let api = Api { client, loc };
        match api.get(&image_id, &ctx.cancel).await {
            Ok(None) => {
                tracing::info!(image_id, "custom image no longer exists");
                ReadResult::default()
            }
            // A platform (Base) image found by id, e.g. through `terraform
            // import`: this resource would try to delete it.
            Ok(Some(img)) if !img.image_type.is_empty() && !img.image_type.eq_ignore_ascii_case("Custom") => keep(
                Diagnostic::error(
                    "Not a custom image",
                    format!(
                        "Image {image_id} is a {} image ({:?}), not a custom image: ucloud_custom_image manages \
                         only images imported into your account. Refer to platform images by id instead.",
                        img.image_type, img.image_name
                    ),
                )
                .into(),
            ),
            Ok(Some(img)) => {
                model.refresh(&img, Refresh::Read);
                model.region = Maybe::Known(api.loc.region.clone());
                if model.project_id.is_unknown() {
                    model.project_id = api.loc.project_id.clone().map_or(Maybe::Null, Maybe::Known);
                }
                ReadResult {
                    state: Some(model.without_unknowns().to_value()),
                    diagnostics: Diagnostics::new(),
                }
            }
            Err(e) => keep(api_error("Failed to read custom image", &e).into()),
        }
    }

    async fn delete(&self, ctx: &Context, data: &ProviderData, state: &Value) -> Diagnostics {
        let model = match CustomImageModel::from_value(state) {
            Ok(m) => m,
            Err(d) => return d,
        };
        let Some(image_id) = model.id.known().filter(|id| !id.is_empty()) else {
            return Diagnostics::new();
        };
        let client = match data.client() {
            Ok(c) => c,
            Err(d) => return d.into(),
        };
        let loc = match Location::resolve(&model.region, &model.project_id, data) {
            Ok(l) => l,
            Err(d) => return d.into(),
        };
        let api = Api { client, loc };
        let timeout = model.timeout("delete");
        let mut poller = Poller::new(data.poll, Instant::now() + timeout);
        match delete_and_wait(&api, ctx, image_id, &mut poller).await {
            Ok(()) => {
                tracing::info!(image_id, "custom image deleted");
                Diagnostics::new()
            }
            Err(detail) => Diagnostic::error("Failed to delete custom image", detail).into(),
        }
    }

    async fn import(&self, _ctx: &Context, data: &ProviderData, id: &str) -> Result<Value, Diagnostics> {
        let parsed =
            parse_import_id(id).map_err(|why| Diagnostics::from(Diagnostic::error("Invalid import id", why)))?;
        let region = match (&parsed.region, &data.region) {
            (Some(r), _) => r.clone(),
            (None, Maybe::Known(r)) => r.clone(),
            (None, _) => {
                return Err(Diagnostic::error(
                    "No region for the imported image",
                    format!(
                        "The import id {id:?} names no region and the provider has none. Use \
                         `REGION/{}` or set the provider's `region` (or UCLOUD_REGION).",
                        parsed.image_id
                    ),
                )
                .into());
            }
        };
        let project_id = match (&parsed.project_id, &data.project_id) {
            (Some(p), _) => Maybe::Known(p.clone()),
            (None, Maybe::Known(p)) => Maybe::Known(p.clone()),
            (None, _) => Maybe::Null,
        };
        // Only what locates the image; Read fills in the rest. ufile_url,
        // format and os_type stay null: UCloud cannot tell them.
        let model = CustomImageModel {
            id: Maybe::Known(parsed.image_id),
            name: Maybe::Null,
            ufile_url: Maybe::Null,
            format: Maybe::Null,
            os_type: Maybe::Null,
            os_name: Maybe::Null,
            description: Maybe::Null,
            tag: Maybe::Null,
            auth: Maybe::Known(true),
            region: Maybe::Known(region),
            project_id,
            status: Maybe::Null,
            size: Maybe::Null,
            create_time: Maybe::Null,
            features: Maybe::Null,
            timeouts: Value::Null,
        };
        Ok(model.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(diags: &Diagnostics) -> Vec<String> {
        diags
            .iter()
            .map(|d| d.attribute.as_ref().map_or(String::from("<none>"), |p| p.to_string()))
            .collect()
    }

    fn valid_config() -> Value {
        Value::object([
            ("id", Value::Null),
            ("name", Value::string("centos-7-golden")),
            (
                "ufile_url",
                Value::string("https://bucket.cn-bj.ufileos.com/images/c7.qcow2"),
            ),
            ("format", Value::string("qcow2")),
            ("os_type", Value::string("CentOS")),
            ("os_name", Value::string("CentOS 7.6 64位")),
            ("description", Value::Null),
            ("tag", Value::Null),
            ("auth", Value::Null),
            ("region", Value::Null),
            ("project_id", Value::Null),
            ("status", Value::Null),
            ("size", Value::Null),
            ("create_time", Value::Null),
            ("features", Value::Null),
            ("timeouts", Value::Null),
        ])
    }

    fn with(mut v: Value, attr: &str, x: Value) -> Value {
        v.set(attr, x);
        v
    }

    #[test]
    fn a_valid_config_passes() {
        assert!(validate_config(&valid_config()).is_empty());
        let signed = "https://b.cn-bj.ufileos.com/c7.raw?UCloudPublicKey=k&Signature=s&Expires=1";
        assert!(validate_config(&with(valid_config(), "ufile_url", Value::string(signed))).is_empty());
        let other = with(
            with(valid_config(), "os_type", Value::string("Other")),
            "os_name",
            Value::string("Other"),
        );
        assert!(validate_config(&other).is_empty());
    }

    #[test]
    fn each_invalid_input_is_reported_at_its_attribute() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("name", Value::string(""), "must not be empty"),
            ("name", Value::string("x".repeat(64)), "at most 63"),
            (
                "ufile_url",
                Value::string("ftp://bucket.example.com/a.raw"),
                "http or https",
            ),
            ("ufile_url", Value::string("bucket/c7.qcow2"), "not a URL"),
            (
                "ufile_url",
                Value::string("https://bucket.cn-bj.ufileos.com/"),
                "no path",
            ),
            ("format", Value::string("iso"), "RAW, VHD, VMDK, qcow2"),
            ("os_type", Value::string(" "), "platform"),
            ("os_name", Value::string(""), "version"),
            ("auth", Value::Bool(false), "UCloud requires auth = true"),
            ("tag", Value::string(""), "default business group"),
            ("region", Value::string(" "), "provider's region"),
            ("project_id", Value::string(""), "provider's project"),
        ];
        for (attr, bad, says) in cases {
            let diags = validate_config(&with(valid_config(), attr, bad.clone()));
            assert_eq!(paths(&diags), vec![attr.to_string()], "{attr} = {bad:?}");
            let text = diags.to_string();
            assert!(text.contains(says), "{attr}: {text:?} should contain {says:?}");
        }
        let other = with(valid_config(), "os_type", Value::string("Other"));
        let diags = validate_config(&other);
        assert_eq!(paths(&diags), vec!["os_name"]);
        assert!(diags.to_string().contains("os_name = \"Other\""));
    }

    #[test]
    fn a_name_of_63_multibyte_characters_is_fine() {
        assert!(validate_config(&with(valid_config(), "name", Value::string("镜".repeat(63)))).is_empty());
    }

    #[test]
    fn bad_timeouts_are_reported_under_timeouts() {
        let config = with(
            valid_config(),
            "timeouts",
            Value::object([("create", Value::string("soon")), ("delete", Value::Null)]),
        );
        let diags = validate_config(&config);
        assert!(diags.has_errors());
        assert!(
            paths(&diags).iter().all(|p| p.starts_with("timeouts")),
            "{:?}",
            paths(&diags)
        );
    }

    #[test]
    fn unknown_values_are_not_validated() {
        let mut config = valid_config();
        for attr in ["name", "ufile_url", "format", "os_type", "os_name", "auth"] {
            config.set(attr, Value::Unknown);
        }
        assert!(validate_config(&config).is_empty());
        // os_type unknown: the Other/Other rule waits for it.
        let config = with(
            with(valid_config(), "os_type", Value::Unknown),
            "os_name",
            Value::string("x"),
        );
        assert!(validate_config(&config).is_empty());
    }

    #[tokio::test]
    async fn a_wait_stops_on_ctrl_c_and_at_its_deadline() {
        let schedule = PollSchedule {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let ctx = Context::default();
        let mut open = Poller::new(schedule, Instant::now() + Duration::from_secs(3600));
        assert_eq!(open.pause(&ctx).await, Ok(()));
        ctx.cancel.cancel();
        assert_eq!(open.pause(&ctx).await, Err(Halt::Cancelled));

        let mut expired = Poller::new(schedule, Instant::now());
        assert_eq!(expired.pause(&Context::default()).await, Err(Halt::TimedOut));
    }

    #[test]
    fn timeouts_come_from_the_block_or_default() {
        let set = with(
            valid_config(),
            "timeouts",
            Value::object([("create", Value::string("3s")), ("delete", Value::Null)]),
        );
        let m = CustomImageModel::from_value(&set).expect("model");
        assert_eq!(m.timeout("create"), Duration::from_secs(3));
        assert_eq!(m.timeout("delete"), DEFAULT_DELETE_TIMEOUT);
        let unset = CustomImageModel::from_value(&valid_config()).expect("model");
        assert_eq!(unset.timeout("create"), DEFAULT_CREATE_TIMEOUT);
    }

    #[test]
    fn formats_match_any_letter_case_and_are_sent_in_ucloud_spelling() {
        for (given, sent) in [("QCOW2", "qcow2"), ("raw", "RAW"), ("Vhd", "VHD"), ("vmdk", "VMDK")] {
            let model =
                CustomImageModel::from_value(&with(valid_config(), "format", Value::string(given))).expect("model");
            let loc = Location {
                region: "cn-bj2".into(),
                project_id: None,
            };
            let req = import_request(&model, &loc).expect("request");
            assert_eq!(req.format.as_api_str(), sent);
            assert!(req.auth);
        }
    }

    #[test]
    fn import_ids_in_three_forms() {
        assert_eq!(
            parse_import_id("uimage-abc"),
            Ok(ImportId {
                project_id: None,
                region: None,
                image_id: "uimage-abc".into()
            })
        );
        assert_eq!(
            parse_import_id("cn-bj2/uimage-abc"),
            Ok(ImportId {
                project_id: None,
                region: Some("cn-bj2".into()),
                image_id: "uimage-abc".into()
            })
        );
        assert_eq!(
            parse_import_id("org-1/cn-bj2/uimage-abc"),
            Ok(ImportId {
                project_id: Some("org-1".into()),
                region: Some("cn-bj2".into()),
                image_id: "uimage-abc".into()
            })
        );
        for bad in [
            "",
            "uimage-",
            "image-abc",
            "cn-bj2/",
            "/uimage-a",
            "a/b/c/uimage-a",
            "cn bj2/uimage-a",
        ] {
            let err = parse_import_id(bad).expect_err(bad);
            assert!(err.contains("PROJECT_ID/REGION/uimage-xxxx"), "{bad}: {err}");
        }
    }

    fn state_after_import() -> Value {
        let mut v = valid_config();
        for (k, x) in [
            ("id", Value::string("uimage-1")),
            ("ufile_url", Value::Null),
            ("format", Value::Null),
            ("os_type", Value::Null),
            ("auth", Value::Bool(true)),
            ("region", Value::string("cn-bj2")),
            ("tag", Value::string("Default")),
            ("status", Value::string("Available")),
        ] {
            v.set(k, x);
        }
        v
    }

    /// The framework's default plan: proposed, replacing what `force_new` says.
    fn default_plan(prior: &Value, proposed: &Value) -> Plan {
        Plan {
            planned: proposed.clone(),
            requires_replace: FORCE_NEW
                .iter()
                .filter(|a| prior.get(a) != proposed.get(a))
                .map(|a| AttrPath::attr(*a))
                .collect(),
            diagnostics: Diagnostics::new(),
            legacy_type_system: false,
        }
    }

    fn plan(prior: Value, config: Value, data_region: Maybe<String>) -> Plan {
        // Terraform's proposal: config, with prior values for unset optional+computed attributes.
        let mut proposed = config.clone();
        if !prior.is_null() {
            for attr in [
                "id",
                "tag",
                "auth",
                "region",
                "project_id",
                "status",
                "size",
                "create_time",
                "features",
            ] {
                if config.get(attr).is_null() {
                    proposed.set(attr, prior.get(attr).clone());
                }
            }
        }
        let mut p = default_plan(&prior, &proposed);
        let req = PlanRequest {
            prior,
            proposed,
            config,
        };
        plan_changes(&data_region, &Maybe::Null, &req, &mut p);
        p
    }

    #[test]
    fn create_plan_defaults_auth_region_and_project() {
        let p = plan(Value::Null, valid_config(), Maybe::Known("cn-sh2".into()));
        assert_eq!(p.planned.get("auth"), &Value::Bool(true));
        assert_eq!(p.planned.get("region"), &Value::string("cn-sh2"));
        assert_eq!(p.planned.get("project_id"), &Value::Null);
        let p = plan(Value::Null, valid_config(), Maybe::Unknown);
        assert!(p.planned.get("region").is_unknown());
        let p = plan(
            Value::Null,
            with(valid_config(), "region", Value::string("hk")),
            Maybe::Unknown,
        );
        assert_eq!(p.planned.get("region"), &Value::string("hk"));
    }

    #[test]
    fn after_import_a_matching_config_plans_no_replacement() {
        let p = plan(state_after_import(), valid_config(), Maybe::Known("cn-bj2".into()));
        assert!(p.requires_replace.is_empty(), "{:?}", p.requires_replace);
        assert!(p.legacy_type_system);
        for attr in IMPORT_ONLY {
            assert_eq!(p.planned.get(attr), &Value::Null, "{attr}");
        }
        assert_eq!(p.planned, state_after_import());
    }

    #[test]
    fn after_import_a_different_name_still_replaces() {
        let config = with(valid_config(), "name", Value::string("other"));
        let p = plan(state_after_import(), config, Maybe::Known("cn-bj2".into()));
        assert_eq!(p.requires_replace, vec![AttrPath::attr("name")]);
    }

    fn state_after_create() -> Value {
        let mut v = state_after_import();
        v.set("ufile_url", valid_config().get("ufile_url").clone());
        v.set("format", Value::string("qcow2"));
        v.set("os_type", Value::string("CentOS"));
        v
    }

    #[test]
    fn changing_each_argument_replaces_and_timeouts_do_not() {
        for (attr, x) in [
            ("name", Value::string("n2")),
            ("ufile_url", Value::string("https://b.cn-bj.ufileos.com/other.qcow2")),
            ("format", Value::string("RAW")),
            ("os_type", Value::string("Ubuntu")),
            ("os_name", Value::string("Ubuntu 22.04")),
            ("description", Value::string("d")),
            ("tag", Value::string("prod")),
            ("region", Value::string("cn-sh2")),
            ("project_id", Value::string("org-2")),
        ] {
            let p = plan(
                state_after_create(),
                with(valid_config(), attr, x),
                Maybe::Known("cn-bj2".into()),
            );
            assert_eq!(p.requires_replace, vec![AttrPath::attr(attr)], "{attr}");
            assert!(!p.legacy_type_system);
        }
        let timeouts = Value::object([("create", Value::string("5m")), ("delete", Value::Null)]);
        let p = plan(
            state_after_create(),
            with(valid_config(), "timeouts", timeouts),
            Maybe::Known("cn-bj2".into()),
        );
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn a_letter_case_change_of_format_does_not_replace() {
        let p = plan(
            state_after_create(),
            with(valid_config(), "format", Value::string("QCOW2")),
            Maybe::Known("cn-bj2".into()),
        );
        assert!(p.requires_replace.is_empty());
        assert_eq!(p.planned.get("format"), &Value::string("QCOW2"));
    }

    #[test]
    fn a_new_or_unknown_provider_region_does_not_move_existing_images() {
        for provider_region in [Maybe::Known("cn-sh2".to_string()), Maybe::Unknown] {
            let p = plan(state_after_create(), valid_config(), provider_region);
            assert!(p.requires_replace.is_empty());
            assert_eq!(p.planned.get("region"), &Value::string("cn-bj2"));
            assert_eq!(p.planned.get("project_id"), &Value::Null, "null: the default project");
        }
    }

    fn image(state: &str) -> Image {
        Image {
            image_id: "uimage-1".into(),
            image_name: "centos-7-golden".into(),
            image_description: String::new(),
            image_type: "Custom".into(),
            os_type: "Linux".into(),
            os_name: "CentOS 7.6 64位".into(),
            state: state.into(),
            image_size: 20,
            create_time: 1_700_000_000,
            tag: "Default".into(),
            features: vec!["CloudInit".into()],
            ..Image::default()
        }
    }

    #[test]
    fn read_refreshes_remote_values_and_never_the_import_only_ones() {
        let mut m = CustomImageModel::from_value(&state_after_import()).expect("model");
        m.os_name = Maybe::Null;
        m.refresh(&image("Available"), Refresh::Read);
        assert_eq!(m.os_name, Maybe::Known("CentOS 7.6 64位".into()));
        assert_eq!(
            m.os_type,
            Maybe::Null,
            "DescribeImage's OsType (Linux) is another vocabulary"
        );
        assert_eq!(m.format, Maybe::Null);
        assert_eq!(m.ufile_url, Maybe::Null);
        assert_eq!(m.size, Maybe::Known(20));
        assert_eq!(m.create_time, Maybe::Known("2023-11-14T22:13:20Z".into()));
        assert_eq!(m.features, Maybe::Known(vec!["CloudInit".to_string()]));
        assert_eq!(m.description, Maybe::Null);

        let mut created = CustomImageModel::from_value(&state_after_create()).expect("model");
        created.os_name = Maybe::Known("CentOS 7.6".into());
        created.refresh(&image("Available"), Refresh::Read);
        assert_eq!(created.os_type, Maybe::Known("CentOS".into()));
        assert_eq!(
            created.os_name,
            Maybe::Known("CentOS 7.6".into()),
            "the user's spelling stays"
        );
    }

    #[test]
    fn after_create_known_planned_values_stay_and_unknowns_are_filled() {
        let mut m = CustomImageModel::from_value(&with(valid_config(), "tag", Value::Unknown)).expect("model");
        m.status = Maybe::Unknown;
        m.refresh(&image("Available"), Refresh::AfterCreate);
        let state = m.without_unknowns().to_value();
        assert!(state.is_wholly_known());
        assert_eq!(state.get("tag"), &Value::string("Default"));
        assert_eq!(state.get("status"), &Value::string("Available"));
        assert_eq!(state.get("format"), &Value::string("qcow2"));
    }

    #[test]
    fn signed_url_queries_stay_out_of_messages() {
        assert_eq!(
            without_query("https://b.ufileos.com/a.raw?UCloudPublicKey=k&Signature=s"),
            "https://b.ufileos.com/a.raw"
        );
        let diags = validate_config(&with(
            valid_config(),
            "ufile_url",
            Value::string("ftp://h/a?Signature=secret"),
        ));
        assert!(!diags.to_string().contains("secret"));
    }

    #[test]
    fn every_attribute_is_documented_and_every_argument_forces_new() {
        let s = custom_image_schema();
        for a in &s.block.attributes {
            assert!(!a.description.is_empty(), "{}", a.name);
            let argument = a.required || a.optional;
            assert_eq!(a.force_new, argument, "{}", a.name);
            assert_eq!(FORCE_NEW.contains(&a.name.as_str()), argument, "{}", a.name);
        }
        assert_eq!(s.block.blocks.len(), 1);
        assert_eq!(s.block.blocks[0].type_name, "timeouts");
    }
}
