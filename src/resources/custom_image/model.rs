//! `ucloud_custom_image`'s model: every attribute declared once (name, type,
//! default, replacement rule, description, the values it accepts), the
//! plan-time checks between attributes, and how an image UCloud describes
//! fills the model.

use super::super::non_empty;
use super::WORDS;
use super::preflight::MAX_PRESIGNED_VALIDITY;
use super::source::{SourceModel, validate_source};
use crate::framework::timeouts::{Op, TimeoutsBlock};
use crate::framework::{Diagnostic, Diagnostics, Maybe, NestedBlock, ReplaceRequest, attr, v};
use crate::resources::lifecycle::{Refresh, TIMEOUTS, declare};
use crate::ucloud::ufile::{ObjectUrl, SIGNATURE_PARAMS};
use crate::ucloud::{Image, ImageFormat, without_query};
use crate::{attr_name, attr_path, model};
use std::time::Duration;

/// UCloud's limit on image names.
pub const MAX_NAME_CHARS: usize = 63;

/// Said of the arguments UCloud never returns.
const IMPORT_ONLY_NOTE: &str = "Not returned by the API: after `terraform import`, taken from the configuration \
                                without replacing the image.";

/// The accepted formats, as listed in messages and docs.
pub fn format_list() -> String {
    ImageFormat::ALL
        .iter()
        .map(|f| f.as_api_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `format` replaces the image only when it names another format: a change
/// of letter case, or the value learnt after `terraform import`, is not one.
fn format_changes(r: &ReplaceRequest<'_>) -> bool {
    if r.prior.is_null() {
        return false;
    }
    match (r.prior.as_str().and_then(ImageFormat::parse), r.planned.as_str()) {
        (Some(before), Some(after)) => ImageFormat::parse(after) != Some(before),
        _ => true,
    }
}

model! {
    /// The resource's values. Every field may be unknown at plan time.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct CustomImageModel {
        pub id: Maybe<String> = attr::computed("The image id (`uimage-...`).").use_state_for_unknown(),
        pub name: Maybe<String> = attr::required("The image name (`ImageName`).")
            .validate(v::length(1, MAX_NAME_CHARS))
            .requires_replace(),
        pub ufile_url: Maybe<String> = attr::optional_computed(format!(
            "The URL of the image file in UFile, e.g. `https://bucket.cn-bj.ufileos.com/images/c7.qcow2`, as \
             the state keeps it. For ImportCustomImage (`UFileUrl`) the provider presigns it with its key pair until \
             the create timeout ends, so private buckets need no signed URL here; a URL that already carries a \
             UFile signature is sent as given (a plan-time warning says that the state keeps it). Give this or a \
             `source` block; with `source`, it is the staged object's URL. {IMPORT_ONLY_NOTE}"
        ))
        .validate(v::url(["http", "https"]).with_path().help(
            "Give the http(s) URL of the image file in UFile, with host and path, e.g. \
             https://bucket.cn-bj.ufileos.com/images/c7.qcow2.",
        ))
        .validate(v::exactly_one_of([attr_name!(CustomImageModel, source)]))
        .requires_replace_if(crate::framework::plan::unless_imported)
        .use_state_for_unknown(),
        pub format: Maybe<String> = attr::required(format!(
            "The file's format. Sent in UCloud's spelling; the state keeps yours. {IMPORT_ONLY_NOTE}"
        ))
        .validate(v::one_of_any_case(ImageFormat::ALL.map(|f| f.as_api_str())))
        .requires_replace_if(format_changes),
        pub os_type: Maybe<String> = attr::required(format!(
            "The operating system platform as the UCloud console lists it (`CentOS`, `Ubuntu`, `Windows`, \
             `Debian`, ...), or `Other`. {IMPORT_ONLY_NOTE}"
        ))
        .validate(v::non_empty().help("Name the platform (CentOS, Ubuntu, Windows, ...) or \"Other\"."))
        .requires_replace_if(crate::framework::plan::unless_imported),
        pub os_name: Maybe<String> = attr::required(
            "The detailed operating system version, e.g. `CentOS 7.6 64位`; must be `Other` when `os_type` is \
             `Other`. After `terraform import`, read from the image.",
        )
        .validate(v::non_empty().help(format!(
            "Name the operating system version, e.g. \"CentOS 7.6 64位\" (\"Other\" when {} is \"Other\").",
            attr_name!(CustomImageModel, os_type)
        )))
        .requires_replace(),
        pub description: Maybe<String> = attr::optional("A description of the image (`ImageDescription`).")
            .requires_replace(),
        pub tag: Maybe<String> = attr::optional_computed(
            "The business group of the image. Default: UCloud's default group (`Default`).",
        )
        .validate(v::non_empty())
        .requires_replace()
        .use_state_for_unknown(),
        pub auth: Maybe<bool> = attr::optional(
            "Confirms that you are authorised to use the image file (`Auth`). UCloud requires `true`.",
        )
        .default(true)
        .requires_replace(),
        pub region: Maybe<String> = attr::optional_computed(
            "The region of the image, e.g. `cn-bj2`. Default: the provider's `region`. Keep the UFile bucket in \
             the same region.",
        )
        .validate(v::non_empty())
        .requires_replace()
        .use_state_for_unknown(),
        pub project_id: Maybe<String> = attr::optional_computed(
            "The project of the image (`org-...`). Default: the provider's `project_id`.",
        )
        .validate(v::non_empty())
        .requires_replace()
        .use_state_for_unknown(),
        pub status: Maybe<String> = declare::status(WORDS),
        pub size: Maybe<i64> = declare::size(WORDS),
        pub create_time: Maybe<String> = declare::create_time(WORDS),
        pub features: Maybe<Vec<String>> = declare::features(WORDS),
        pub verify_source: Maybe<bool> = attr::optional(
            "Check the image file before importing it: read its size and its first and last bytes from UFile (at \
             most 3 requests, with the provider's key pair or the URL's own signature) and fail at once, without \
             importing, when the object is missing, unreadable, empty, compressed, incomplete or not in `format`. \
             A check that cannot be made (UFile unreachable, a custom domain) only warns. Used only when the image \
             is created, so changing it never replaces the image.",
        )
        .default(true),
        pub source_size: Maybe<i64> = attr::computed(
            "The size of the image file in bytes, as the check before the import read it. Null when the check was \
             off or could not be made, and after `terraform import` (UCloud does not keep it).",
        )
        .use_state_for_unknown(),
        pub source: Option<SourceModel> = NestedBlock::single(SourceModel::block(
            "A local image file to upload to UFile and import, instead of `ufile_url`: one apply takes the file \
             from disk to an image. The upload resumes after an interruption, and the staged object is deleted \
             once the image is `Available` unless `keep_object`.",
        )),
        pub timeouts: TimeoutsBlock = TIMEOUTS.block(),
    }
}

impl CustomImageModel {
    /// The configured timeout of `op`, or its default.
    pub fn timeout(&self, op: Op) -> Duration {
        self.timeouts.get(&TIMEOUTS, op)
    }

    /// What a refresh takes beyond the attributes every image resource
    /// has; it depends on who asks (see [`Refresh`]).
    pub fn refresh_more(&mut self, img: &Image, how: Refresh) {
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
            }
        }
    }
}

/// A warning for a `ufile_url` that carries a UFile signature: it is a
/// credential for the file, and Terraform shows and stores arguments as they
/// are. The provider uses such a URL as given.
fn signed_url_warning(raw: &str) -> Option<Diagnostic> {
    let url = url::Url::parse(raw).ok()?;
    let carried: Vec<String> = url
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .filter(|k| SIGNATURE_PARAMS.contains(&k.as_str()))
        .collect();
    if carried.is_empty() {
        return None;
    }
    let until = ObjectUrl::parse(raw, None)
        .ok()
        .and_then(|o| o.presigned().map(|p| p.expires_at()))
        .map(|t| format!(" (until {})", humantime::format_rfc3339_seconds(t)))
        .unwrap_or_default();
    let name = attr_name!(CustomImageModel, ufile_url);
    Some(
        Diagnostic::warning(
            format!("Signed {name} is stored in the state"),
            format!(
                "{name} carries a UFile signature ({}), which is used as given. Terraform stores it in the state and \
                 shows it in plans, and whoever reads them can download the file while the signature is valid{until}. \
                 Give the plain URL instead ({}): the provider then signs a URL for the import itself, with its key \
                 pair, valid for the create timeout (a day at most), and keeps no signature in the state.",
                carried.join(", "),
                without_query(raw),
            ),
        )
        .at(attr_path!(CustomImageModel, ufile_url)),
    )
}

/// Plan-time checks between attributes, after the declared ones (see the
/// model): no API call, the attribute path in every diagnostic, unknown
/// values skipped until known.
pub fn validate_config(config: &CustomImageModel) -> Diagnostics {
    type M = CustomImageModel;
    let mut diags = Diagnostics::new();
    let (os_type_name, os_name_name) = (attr_name!(M, os_type), attr_name!(M, os_name));
    if let Maybe::Known(os_name) = &config.os_name
        && !os_name.trim().is_empty()
        && config.os_type.known().is_some_and(|t| t.eq_ignore_ascii_case("Other"))
        && os_name != "Other"
    {
        diags.push(
            Diagnostic::error(
                format!("Invalid {os_name_name}"),
                format!(
                    "{os_type_name} is \"Other\", so UCloud requires {os_name_name} = \"Other\" (got {os_name:?})."
                ),
            )
            .at(attr_path!(M, os_name)),
        );
    }

    if config.auth == Maybe::Known(false) {
        let name = attr_name!(M, auth);
        diags.push(
            Diagnostic::error(
                format!("Invalid {name}"),
                format!(
                    "UCloud requires {name} = true: it confirms that you may use the image file. Remove the \
                     argument or set it to true."
                ),
            )
            .at(attr_path!(M, auth)),
        );
    }

    if let Maybe::Known(url) = &config.ufile_url
        && let Some(d) = signed_url_warning(url)
    {
        diags.push(d);
    }
    diags.extend(validate_source(config));
    let create = config.timeout(Op::Create);
    if create > MAX_PRESIGNED_VALIDITY && config.ufile_url.known().is_none_or(|u| signed_url_warning(u).is_none()) {
        let url = attr_name!(M, ufile_url);
        diags.push(
            Diagnostic::warning(
                "Import URL shorter-lived than the create timeout",
                format!(
                    "timeouts.create is {}, but the provider signs the URL it sends with the import for {} at \
                     most: a longer-lived URL would be a long-lived credential for the file, signed with the \
                     account's key pair. An import still reading the file after that fails; imports take minutes \
                     to hours. To wait longer for other reasons, keep the timeout; to import with a URL of your \
                     own, give {url} with its own signature.",
                    crate::images::human(create),
                    crate::images::human(MAX_PRESIGNED_VALIDITY),
                ),
            )
            .at(attr_path!(M, timeouts).then(Op::Create.as_str())),
        );
    }
    diags
}
