//! What both image data sources share: their filter arguments (declared
//! once with the values they accept, resolved against the provider's
//! defaults), the lookup itself (DescribeImage paged until TotalCount, then
//! the filters UCloud cannot apply), and [`ImageView`], the attributes
//! reported for each image.

use crate::framework::{AttrPath, Diagnostic, Diagnostics, Maybe, attr};
use crate::images::{ImageApi, Location, human, rfc3339};
use crate::model;
use crate::provider_data::ProviderData;
use crate::ucloud::{CUSTOM_IMAGE_TYPE, DescribeImage, IMAGE_TYPES, Image, ImageState};
use regex::Regex;
use tokio_util::sync::CancellationToken;

/// How long one read of an image data source may take, pages and retries
/// included: a listing takes seconds, so this only ends a read against an
/// endpoint that accepts and never answers.
pub const READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The image type looked up by default: the images this provider makes.
pub const DEFAULT_IMAGE_TYPE: &str = CUSTOM_IMAGE_TYPE;

/// The states an image can be filtered by, and the default.
pub const STATES: [ImageState; 4] = [
    ImageState::Available,
    ImageState::Making,
    ImageState::Copying,
    ImageState::Unavailable,
];
pub const DEFAULT_STATUS: &str = "Available";

/// How many image ids an error message lists at most.
const LISTED: usize = 10;

/// The filter arguments both data sources declare, each written once:
/// description, default and the values it accepts.
pub mod filter {
    use super::{DEFAULT_IMAGE_TYPE, DEFAULT_STATUS, IMAGE_TYPES, ImageState, STATES};
    use crate::framework::{Attribute, attr, v};
    use crate::images::is_image_id;

    /// What `name` filters by; the one-image data source says more.
    pub const NAME: &str = "Only the image with exactly this name.";

    /// `image_id`: the one-image data source looks up by id.
    pub fn image_id() -> Attribute {
        attr::optional("Only the image with this id (`uimage-...`).")
            .validate(v::is(is_image_id, "a UCloud image id (uimage-...)"))
    }

    /// `name`, declared by the data source (`a`: optional, or optional and
    /// computed), with the rule every name filter follows.
    pub fn name(a: Attribute) -> Attribute {
        a.validate(v::non_empty())
    }

    pub fn name_regex() -> Attribute {
        attr::optional(
            "Only images whose name matches this regular expression (RE2 syntax, unanchored: use `^...$` for a \
             whole name).",
        )
        .validate(v::conflicts_with(["name"]).help("An exact name needs no pattern."))
        .validate(v::regex_syntax())
    }

    pub fn image_type() -> Attribute {
        attr::optional(
            "The kind of image: `Custom` (your own), `Base` (UCloud's platform images) or `Business` \
             (marketplace images).",
        )
        .default(DEFAULT_IMAGE_TYPE)
        .validate(v::one_of(IMAGE_TYPES))
    }

    pub fn status() -> Attribute {
        attr::optional("Only images in this state.")
            .default(DEFAULT_STATUS)
            .validate(v::one_of(STATES.iter().map(ImageState::as_str)))
    }

    pub fn region() -> Attribute {
        attr::optional_computed("The region to look in. Default: the provider's `region`.").validate(v::non_empty())
    }

    pub fn project_id() -> Attribute {
        attr::optional_computed("The project to look in (`org-...`). Default: the provider's `project_id`.")
            .validate(v::non_empty())
    }
}

model! {
    /// One image as the data sources report it: what DescribeImage says,
    /// under this provider's names.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ImageView {
        pub id: Maybe<String> = attr::computed("The image id (`uimage-...`)."),
        pub name: Maybe<String> = attr::computed("The image name."),
        pub description: Maybe<String> = attr::computed("The image description."),
        pub tag: Maybe<String> = attr::computed("The image's business group."),
        pub image_type: Maybe<String> = attr::computed("`Custom`, `Base` or `Business`."),
        pub status: Maybe<String> = attr::computed("The image state, e.g. `Available`."),
        pub size: Maybe<i64> = attr::computed("The image size in GB."),
        pub create_time: Maybe<String> = attr::computed("When the image was created, RFC 3339 (UTC)."),
        pub features: Maybe<Vec<String>> = attr::computed(
            "Features UCloud reports for the image, e.g. `CloudInit`, `HotPlug`, `IPv6`.",
        ),
        pub os_name: Maybe<String> = attr::computed("The operating system version, e.g. `CentOS 7.6 64位`."),
        pub os_family: Maybe<String> = attr::computed(
            "`Linux` or `Windows`, as UCloud classifies the image (DescribeImage's `OsType`; not the platform \
             name `ucloud_custom_image` takes as `os_type`).",
        ),
    }
}

/// An API string as a value: UCloud answers "" for "not set".
fn text(s: &str) -> Maybe<String> {
    if s.is_empty() {
        Maybe::Null
    } else {
        Maybe::Known(s.to_string())
    }
}

impl ImageView {
    pub fn of(img: &Image) -> Self {
        ImageView {
            id: Maybe::Known(img.image_id.clone()),
            name: Maybe::Known(img.image_name.clone()),
            description: text(&img.image_description),
            tag: text(&img.tag),
            image_type: text(&img.image_type),
            status: Maybe::Known(img.state.clone()),
            size: Maybe::Known(img.image_size),
            create_time: rfc3339(img.create_time).map_or(Maybe::Null, Maybe::Known),
            features: Maybe::Known(img.features.clone()),
            os_name: text(&img.os_name),
            os_family: text(&img.os_type),
        }
    }

    /// The attribute names, for descriptions that list them.
    pub fn attribute_list() -> String {
        <ImageView as crate::framework::Model>::block("")
            .attributes
            .iter()
            .map(|a| format!("`{}`", a.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One filter argument of a data source's configuration and its path.
pub struct Arg<'a> {
    pub value: &'a Maybe<String>,
    pub path: AttrPath,
}

impl<'a> Arg<'a> {
    pub fn new(value: &'a Maybe<String>, path: AttrPath) -> Self {
        Arg { value, path }
    }

    fn known(&self) -> Option<&'a str> {
        self.value.known().map(String::as_str)
    }

    fn name(&self) -> String {
        self.path.to_string()
    }
}

/// The filter arguments of a configuration, as both data sources have them.
pub struct FilterArgs<'a> {
    /// Only the one-image data source looks up by id.
    pub image_id: Option<Arg<'a>>,
    pub name: Arg<'a>,
    pub name_regex: Arg<'a>,
    pub image_type: Arg<'a>,
    pub status: Arg<'a>,
    pub region: Arg<'a>,
    pub project_id: Arg<'a>,
}

/// The filters of one lookup, resolved and checked.
#[derive(Clone, Debug)]
pub struct Filters {
    pub loc: Location,
    /// The filters as configured (`name = "web"`), for messages.
    pub shown: Vec<String>,
    pub image_id: Option<String>,
    pub name: Option<String>,
    pub name_regex: Option<Regex>,
    pub image_type: String,
    pub status: String,
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| e.to_string())
}

impl FilterArgs<'_> {
    /// Resolves the filters and lists what matches them: the whole read of
    /// both image data sources up to choosing what to return.
    pub async fn lookup(
        &self,
        data: &ProviderData,
        cancel: &CancellationToken,
    ) -> Result<(Filters, Found), Diagnostics> {
        let filters = self.resolve(data)?;
        let client = data.client()?;
        let api = ImageApi::new(client, filters.loc.clone());
        let Ok(found) = tokio::time::timeout(READ_DEADLINE, find(&api, &filters, cancel)).await else {
            return Err(Diagnostic::error(
                "Timed out listing images",
                format!(
                    "UCloud did not answer the image listing in {} within {}. Try again later.",
                    filters.loc,
                    human(READ_DEADLINE)
                ),
            )
            .into());
        };
        Ok((filters, found?))
    }

    /// The filters for a read (every value known, the declared checks
    /// passed): defaults filled in from the declarations and the provider.
    pub fn resolve(&self, data: &ProviderData) -> Result<Filters, Diagnostics> {
        let loc = data.locate(self.region.value, self.project_id.value, self.region.path.clone())?;
        let name_regex = match self.name_regex.known() {
            Some(p) => Some(compile(p).map_err(|why| {
                let summary = format!("Invalid {}", self.name_regex.name());
                Diagnostics::from(Diagnostic::error(summary, why).at(self.name_regex.path.clone()))
            })?),
            None => None,
        };
        let image_type = self.image_type.known().unwrap_or(DEFAULT_IMAGE_TYPE).to_string();
        let status = self.status.known().unwrap_or(DEFAULT_STATUS).to_string();
        let mut shown: Vec<String> = [self.image_id.as_ref(), Some(&self.name), Some(&self.name_regex)]
            .into_iter()
            .flatten()
            .filter_map(|arg| arg.known().map(|v| format!("{} = {v:?}", arg.name())))
            .collect();
        shown.push(format!("{} = {image_type:?}", self.image_type.name()));
        shown.push(format!("{} = {status:?}", self.status.name()));
        Ok(Filters {
            loc,
            shown,
            image_id: self.image_id.as_ref().and_then(|a| a.known()).map(str::to_string),
            name: self.name.known().map(str::to_string),
            name_regex,
            image_type,
            status,
        })
    }
}

impl Filters {
    /// Whether `img` passes the filters UCloud does not apply itself.
    pub fn matches(&self, img: &Image) -> bool {
        let type_ok = img.image_type.is_empty() || img.image_type == self.image_type;
        type_ok
            && img.state == self.status
            && self.image_id.as_ref().is_none_or(|id| *id == img.image_id)
            && self.name.as_ref().is_none_or(|n| *n == img.image_name)
            && self.name_regex.as_ref().is_none_or(|r| r.is_match(&img.image_name))
    }

    /// The filters as a user reads them in a message.
    pub fn describe(&self) -> String {
        format!("{} in {}", self.shown.join(", "), self.loc)
    }
}

/// What a lookup found: the matches, newest first, and how many images of
/// the type were looked at (for messages).
#[derive(Debug)]
pub struct Found {
    pub matches: Vec<Image>,
    pub seen: usize,
    /// The image looked up by id when it exists but other filters exclude it.
    pub excluded: Option<Image>,
}

/// Newest first by creation time; the id breaks ties so the order is stable
/// from one plan to the next.
pub fn newest_first(images: &mut [Image]) {
    images.sort_by(|a, b| {
        b.create_time
            .cmp(&a.create_time)
            .then_with(|| a.image_id.cmp(&b.image_id))
    });
}

/// Runs a lookup: by id when one is given (so an image of another type or
/// state can be explained), otherwise every image of the type, page by page.
pub async fn find(api: &ImageApi<'_>, f: &Filters, cancel: &CancellationToken) -> Result<Found, Diagnostic> {
    let failed = |e: crate::ucloud::Error| {
        Diagnostic::error(
            "Failed to look up images",
            format!("DescribeImage in {} failed: {e}", api.loc),
        )
    };
    let listed = match &f.image_id {
        Some(id) => api.get(id, cancel).await.map_err(failed)?.into_iter().collect(),
        None => {
            let req = DescribeImage {
                image_type: Some(f.image_type.clone()),
                ..api.describe()
            };
            api.list(req, cancel).await.map_err(failed)?
        }
    };
    let seen = listed.len();
    let (mut matches, excluded): (Vec<Image>, Vec<Image>) = listed.into_iter().partition(|i| f.matches(i));
    newest_first(&mut matches);
    let excluded = f.image_id.as_ref().and(excluded.into_iter().next());
    Ok(Found {
        matches,
        seen,
        excluded,
    })
}

/// Ids with their creation times, for a message; at most [`LISTED`].
pub fn list_ids(images: &[Image]) -> String {
    let mut shown: Vec<String> = images
        .iter()
        .take(LISTED)
        .map(|i| match rfc3339(i.create_time) {
            Some(t) => format!("{} ({:?}, {t})", i.image_id, i.image_name),
            None => format!("{} ({:?})", i.image_id, i.image_name),
        })
        .collect();
    if images.len() > LISTED {
        shown.push(format!("and {} more", images.len() - LISTED));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Value;

    fn image(id: &str, name: &str, created: i64) -> Image {
        Image {
            image_id: id.into(),
            image_name: name.into(),
            image_type: "Custom".into(),
            os_type: "Linux".into(),
            state: "Available".into(),
            create_time: created,
            ..Image::default()
        }
    }

    struct Config {
        values: [Maybe<String>; 7],
    }

    impl Config {
        fn new(pairs: &[(usize, &str)]) -> Self {
            let mut values: [Maybe<String>; 7] = Default::default();
            for (i, v) in pairs {
                values[*i] = Maybe::Known(v.to_string());
            }
            Config { values }
        }

        fn args(&self) -> FilterArgs<'_> {
            let [id, name, regex, ty, status, region, project] = &self.values;
            FilterArgs {
                image_id: Some(Arg::new(id, AttrPath::attr("image_id"))),
                name: Arg::new(name, AttrPath::attr("name")),
                name_regex: Arg::new(regex, AttrPath::attr("name_regex")),
                image_type: Arg::new(ty, AttrPath::attr("image_type")),
                status: Arg::new(status, AttrPath::attr("status")),
                region: Arg::new(region, AttrPath::attr("region")),
                project_id: Arg::new(project, AttrPath::attr("project_id")),
            }
        }
    }

    const ID: usize = 0;
    const NAME: usize = 1;
    const REGEX: usize = 2;
    const TYPE: usize = 3;
    const STATUS: usize = 4;
    const REGION: usize = 5;
    const PROJECT: usize = 6;

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.iter()
            .map(|d| d.attribute.as_ref().map(ToString::to_string).unwrap_or_default())
            .collect()
    }

    /// The declared checks of the one-image data source (the list data
    /// source declares the same filters, without `image_id`).
    fn declared(pairs: &[(usize, &str)]) -> Diagnostics {
        use crate::framework::Model;
        let names = [
            "image_id",
            "name",
            "name_regex",
            "image_type",
            "status",
            "region",
            "project_id",
        ];
        let mut config = super::super::custom_image::CustomImageDataModel::default().to_value();
        for (i, v) in pairs {
            config.set(names[*i], Value::string(*v));
        }
        let block = super::super::custom_image::custom_image_data_schema().block;
        crate::framework::validate::declared(&block, &config)
    }

    #[test]
    fn bad_filters_are_reported_at_their_argument() {
        for (pairs, path, says) in [
            (vec![(ID, "image-1")], "image_id", "not a UCloud image id"),
            (vec![(NAME, "")], "name", "must not be empty"),
            (vec![(REGEX, "web-(")], "name_regex", "not a valid regular expression"),
            (vec![(NAME, "a"), (REGEX, "^a")], "name_regex", "not both"),
            (vec![(TYPE, "custom")], "image_type", "Base, Business, Custom"),
            (
                vec![(STATUS, "Ready")],
                "status",
                "Available, Making, Copying, Unavailable",
            ),
            (vec![(REGION, " ")], "region", "provider's region"),
            (vec![(PROJECT, "")], "project_id", "provider's project"),
        ] {
            let d = declared(&pairs);
            assert_eq!(paths(&d), [path], "{pairs:?}: {d}");
            assert!(d.to_string().contains(says), "{d} should say {says:?}");
        }
        assert!(declared(&[(REGEX, "^web-[0-9]+$"), (TYPE, "Base")]).is_empty());
    }

    #[test]
    fn resolving_fills_the_declared_and_provider_defaults() {
        let data = ProviderData::unconfigured("t", Maybe::Known("cn-bj2".into()), Maybe::Known("org-a".into()));
        let f = Config::new(&[(NAME, "web")]).args().resolve(&data).expect("filters");
        assert_eq!(f.loc, Location::new("cn-bj2", Some("org-a".into())));
        assert_eq!((f.image_type.as_str(), f.status.as_str()), ("Custom", "Available"));
        let f = Config::new(&[(REGION, "hk"), (PROJECT, "org-b")])
            .args()
            .resolve(&data)
            .expect("filters");
        assert_eq!(f.loc, Location::new("hk", Some("org-b".into())));
        let nowhere = ProviderData::unconfigured("t", Maybe::Null, Maybe::Null);
        let err = Config::new(&[]).args().resolve(&nowhere).expect_err("no region");
        assert_eq!(paths(&err), ["region"]);
    }

    #[test]
    fn filters_match_name_pattern_type_and_state_and_sort_newest_first() {
        let data = ProviderData::unconfigured("t", Maybe::Known("cn-bj2".into()), Maybe::Null);
        let f = Config::new(&[(REGEX, "^web-")]).args().resolve(&data).expect("filters");
        let mut making = image("uimage-m", "web-3", 30);
        making.state = "Making".into();
        let mut base = image("uimage-b", "web-base", 5);
        base.image_type = "Base".into();
        let mut images: Vec<Image> = [
            image("uimage-b1", "web-1", 10),
            image("uimage-a2", "web-2", 20),
            image("uimage-a1", "web-1b", 10),
            image("uimage-x", "api-1", 40),
            making,
            base,
        ]
        .into_iter()
        .filter(|i| f.matches(i))
        .collect();
        newest_first(&mut images);
        let ids: Vec<&str> = images.iter().map(|i| i.image_id.as_str()).collect();
        assert_eq!(ids, ["uimage-a2", "uimage-a1", "uimage-b1"]);
        assert!(
            f.describe()
                .contains("name_regex = \"^web-\", image_type = \"Custom\", status = \"Available\"")
        );
        assert!(f.describe().ends_with("in region cn-bj2"));
    }

    #[test]
    fn the_view_names_the_api_os_type_os_family() {
        let v = ImageView::of(&image("uimage-1", "web", 1_700_000_000));
        assert_eq!(v.os_family, Maybe::Known("Linux".into()));
        assert_eq!(v.description, Maybe::Null);
        assert_eq!(v.create_time, Maybe::Known("2023-11-14T22:13:20Z".into()));
        assert!(ImageView::attribute_list().contains("`os_family`"));
        let many: Vec<Image> = (0..12).map(|i| image(&format!("uimage-{i}"), "w", 0)).collect();
        assert!(list_ids(&many).ends_with("and 2 more"));
    }
}
