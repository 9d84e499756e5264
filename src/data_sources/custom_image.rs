//! Data source `ucloud_custom_image`: one image found by id, name or name
//! pattern (and type, state, region, project), e.g. the newest build of a
//! pipeline with `most_recent`. Exactly one image must match, or the error
//! says how many did and how to narrow the filters.

use super::query::{self, Arg, FilterArgs, Filters, ImageView, filter, list_ids};
use crate::framework::{Context, DataResult, DataSource, Diagnostic, Maybe, Model, Schema, attr};
use crate::provider_data::ProviderData;
use crate::ucloud::Image;
use crate::{attr_name, attr_path, model};
use async_trait::async_trait;

/// The data source type name.
pub const TYPE_NAME: &str = "ucloud_custom_image";

model! {
    /// The data source's values: filters, then what was found.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct CustomImageDataModel {
        pub image_id: Maybe<String> = filter::image_id(),
        pub name: Maybe<String> = filter::name(attr::optional_computed(format!(
            "{} Set from the image found when unset.",
            filter::NAME
        ))),
        pub name_regex: Maybe<String> = filter::name_regex(),
        pub most_recent: Maybe<bool> = attr::optional(
            "When several images match, take the one created last instead of failing.",
        )
        .default(false),
        pub image_type: Maybe<String> = filter::image_type(),
        pub status: Maybe<String> = filter::status(),
        pub region: Maybe<String> = filter::region(),
        pub project_id: Maybe<String> = filter::project_id(),
        pub id: Maybe<String> = attr::computed("The id (`uimage-...`) of the image found."),
        pub description: Maybe<String> = attr::computed("The image description."),
        pub tag: Maybe<String> = attr::computed("The image's business group."),
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

type M = CustomImageDataModel;

impl CustomImageDataModel {
    fn filter_args(&self) -> FilterArgs<'_> {
        FilterArgs {
            image_id: Some(Arg::new(&self.image_id, attr_path!(M, image_id))),
            name: Arg::new(&self.name, attr_path!(M, name)),
            name_regex: Arg::new(&self.name_regex, attr_path!(M, name_regex)),
            image_type: Arg::new(&self.image_type, attr_path!(M, image_type)),
            status: Arg::new(&self.status, attr_path!(M, status)),
            region: Arg::new(&self.region, attr_path!(M, region)),
            project_id: Arg::new(&self.project_id, attr_path!(M, project_id)),
        }
    }

    /// The configuration with the image found and the defaults used.
    fn found(mut self, img: &Image, f: &Filters) -> Self {
        let v = ImageView::of(img);
        self.name = v.name;
        self.id = v.id;
        self.description = v.description;
        self.tag = v.tag;
        self.size = v.size;
        self.create_time = v.create_time;
        self.features = v.features;
        self.os_name = v.os_name;
        self.os_family = v.os_family;
        self.most_recent = Maybe::Known(self.most_recent.known().copied().unwrap_or(false));
        self.image_type = Maybe::Known(f.image_type.clone());
        self.status = Maybe::Known(f.status.clone());
        self.region = Maybe::Known(f.loc.region.clone());
        self.project_id = f.loc.project_id.clone().map_or(Maybe::Null, Maybe::Known);
        self
    }
}

/// The data source's schema.
pub fn custom_image_data_schema() -> Schema {
    M::schema(
        0,
        "Looks up one UHost image by id, name or name pattern, e.g. the newest custom image of a build to launch \
         hosts from. Exactly one image must match, or with `most_recent` the newest is taken; otherwise reading \
         fails and says how many images matched. A read that UCloud does not answer ends after 5 minutes.",
    )
}

/// Why there is not exactly one image: none, or several without `most_recent`.
fn not_one(f: &Filters, found: &query::Found, most_recent_tie: bool) -> Diagnostic {
    let (name, regex, recent) = (
        attr_name!(M, name),
        attr_name!(M, name_regex),
        attr_name!(M, most_recent),
    );
    let (image_type, status) = (attr_name!(M, image_type), attr_name!(M, status));
    let n = found.matches.len();
    if let (0, Some(img)) = (n, &found.excluded) {
        let by_name = if f.name.is_some() || f.name_regex.is_some() {
            format!(" Its name is {:?}.", img.image_name)
        } else {
            String::new()
        };
        return Diagnostic::error(
            "No image matches",
            format!(
                "Image {} exists in {} but is a {:?} image in state {:?}, and the filters are {}.{by_name} Set \
                 {image_type} and {status} to match it.",
                img.image_id,
                f.loc,
                img.image_type,
                img.state,
                f.shown.join(", "),
            ),
        );
    }
    if n == 0 {
        let seen = match &f.image_id {
            Some(_) => String::new(),
            None => format!(" ({} {} images are there in all)", found.seen, f.image_type),
        };
        return Diagnostic::error(
            "No image matches",
            format!(
                "No image matches {}{seen}. Check the filters (is the image {:?}, of type {:?}, in that region \
                 and project?), or list what exists with the {} data source.",
                f.describe(),
                f.status,
                f.image_type,
                super::custom_images::TYPE_NAME,
            ),
        );
    }
    let detail = if most_recent_tie {
        format!(
            "{n} images match {} and the newest of them were created in the same second: {}. Narrow the \
             filters ({name}, {regex}) so one is newest.",
            f.describe(),
            list_ids(&found.matches)
        )
    } else {
        format!(
            "{n} images match {}: {}. Narrow the filters ({name}, {regex}, {status}), or set {recent} = true to \
             take the newest.",
            f.describe(),
            list_ids(&found.matches)
        )
    };
    Diagnostic::error("Several images match", detail)
}

/// The `ucloud_custom_image` data source.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImageDataSource;

#[async_trait]
impl DataSource<ProviderData> for CustomImageDataSource {
    type Model = M;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        custom_image_data_schema()
    }

    async fn read(&self, ctx: &Context, data: &ProviderData, config: M) -> DataResult<M> {
        let (filters, found) = config.filter_args().lookup(data, &ctx.cancel).await?;
        let most_recent = config.most_recent.known().copied().unwrap_or(false);
        let image = match found.matches.as_slice() {
            [one] => one,
            [newest, next, ..] if most_recent && newest.create_time > next.create_time => newest,
            [_, _, ..] if most_recent => return Err(not_one(&filters, &found, true).into()),
            _ => return Err(not_one(&filters, &found, false).into()),
        };
        tracing::debug!(image_id = %image.image_id, matched = found.matches.len(), "image found");
        Ok(config.found(image, &filters).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::Location;

    fn filters() -> Filters {
        Filters {
            loc: Location::new("cn-bj2", None),
            shown: vec!["name = \"web\"".into()],
            image_id: None,
            name: Some("web".into()),
            name_regex: None,
            image_type: "Custom".into(),
            status: "Available".into(),
        }
    }

    fn image(id: &str, created: i64) -> Image {
        Image {
            image_id: id.into(),
            image_name: "web".into(),
            image_type: "Custom".into(),
            state: "Available".into(),
            create_time: created,
            ..Image::default()
        }
    }

    #[test]
    fn errors_say_how_many_matched_and_how_to_narrow() {
        let found = |matches: Vec<Image>| query::Found {
            matches,
            seen: 7,
            excluded: None,
        };
        let none = not_one(&filters(), &found(vec![]), false).to_string();
        assert!(none.contains("No image matches name = \"web\""), "{none}");
        assert!(none.contains("7 Custom images are there"), "{none}");
        let two = not_one(
            &filters(),
            &found(vec![image("uimage-a", 2), image("uimage-b", 1)]),
            false,
        )
        .to_string();
        assert!(two.contains("2 images match"), "{two}");
        assert!(two.contains("uimage-a") && two.contains("most_recent = true"), "{two}");
        let tie = not_one(
            &filters(),
            &found(vec![image("uimage-a", 2), image("uimage-b", 2)]),
            true,
        )
        .to_string();
        assert!(tie.contains("same second"), "{tie}");
        let mut base = image("uimage-base", 1);
        base.image_type = "Base".into();
        let by_id = query::Found {
            matches: vec![],
            seen: 1,
            excluded: Some(base),
        };
        let f = Filters {
            shown: vec!["image_id = \"uimage-base\"".into()],
            image_id: Some("uimage-base".into()),
            name: None,
            ..filters()
        };
        let text = not_one(&f, &by_id, false).to_string();
        assert!(
            text.contains("is a \"Base\" image") && text.contains("Set image_type"),
            "{text}"
        );
    }

    #[test]
    fn the_image_found_fills_the_computed_values_and_the_defaults() {
        let config = CustomImageDataModel {
            name_regex: Maybe::Known("^w".into()),
            ..CustomImageDataModel::default()
        };
        let mut img = image("uimage-a", 1_700_000_000);
        img.os_type = "Windows".into();
        let m = config.found(&img, &filters());
        assert_eq!(m.id, Maybe::Known("uimage-a".into()));
        assert_eq!(m.name, Maybe::Known("web".into()));
        assert_eq!(m.os_family, Maybe::Known("Windows".into()));
        assert_eq!(m.most_recent, Maybe::Known(false));
        assert_eq!(m.image_type, Maybe::Known("Custom".into()));
        assert_eq!(m.region, Maybe::Known("cn-bj2".into()));
        assert_eq!(m.project_id, Maybe::Null);
        assert_eq!(m.image_id, Maybe::Null, "arguments stay as configured");
    }
}
