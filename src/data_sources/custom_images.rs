//! Data source `ucloud_custom_images`: every image that matches the filters
//! (name, name pattern, type, state, region, project), newest first, as a
//! list of objects and a list of ids. DescribeImage is read page by page
//! until its TotalCount, so no image is left out.

use super::query::{Arg, FilterArgs, Filters, ImageView, filter};
use crate::framework::{Context, DataResult, DataSource, Maybe, Model, Schema, attr};
use crate::provider_data::ProviderData;
use crate::ucloud::Image;
use crate::{attr_path, model};
use async_trait::async_trait;

/// The data source type name.
pub const TYPE_NAME: &str = "ucloud_custom_images";

model! {
    /// The data source's values: filters, then what was found.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct CustomImagesDataModel {
        pub name: Maybe<String> = filter::name(attr::optional(filter::NAME)),
        pub name_regex: Maybe<String> = filter::name_regex(),
        pub image_type: Maybe<String> = filter::image_type(),
        pub status: Maybe<String> = filter::status(),
        pub region: Maybe<String> = filter::region(),
        pub project_id: Maybe<String> = filter::project_id(),
        pub images: Maybe<Vec<ImageView>> = attr::computed(format!(
            "The matching images, newest first (ties by id). Each has {}.",
            ImageView::attribute_list()
        )),
        pub ids: Maybe<Vec<String>> = attr::computed("The ids of the matching images, in the order of `images`."),
    }
}

type M = CustomImagesDataModel;

impl CustomImagesDataModel {
    fn filter_args(&self) -> FilterArgs<'_> {
        FilterArgs {
            image_id: None,
            name: Arg::new(&self.name, attr_path!(M, name)),
            name_regex: Arg::new(&self.name_regex, attr_path!(M, name_regex)),
            image_type: Arg::new(&self.image_type, attr_path!(M, image_type)),
            status: Arg::new(&self.status, attr_path!(M, status)),
            region: Arg::new(&self.region, attr_path!(M, region)),
            project_id: Arg::new(&self.project_id, attr_path!(M, project_id)),
        }
    }

    /// The configuration with the images found and the defaults used.
    fn found(mut self, images: &[Image], f: &Filters) -> Self {
        self.ids = Maybe::Known(images.iter().map(|i| i.image_id.clone()).collect());
        self.images = Maybe::Known(images.iter().map(ImageView::of).collect());
        self.image_type = Maybe::Known(f.image_type.clone());
        self.status = Maybe::Known(f.status.clone());
        self.region = Maybe::Known(f.loc.region.clone());
        self.project_id = f.loc.project_id.clone().map_or(Maybe::Null, Maybe::Known);
        self
    }
}

/// The data source's schema.
pub fn custom_images_data_schema() -> Schema {
    M::schema(
        0,
        "Lists the UHost images that match the filters, newest first: all of them, however many pages \
         DescribeImage takes. No match is an empty list, not an error. A read that UCloud does not answer ends \
         after 5 minutes.",
    )
}

/// The `ucloud_custom_images` data source.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImagesDataSource;

#[async_trait]
impl DataSource<ProviderData> for CustomImagesDataSource {
    type Model = M;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        custom_images_data_schema()
    }

    async fn read(&self, ctx: &Context, data: &ProviderData, config: M) -> DataResult<M> {
        let (filters, found) = config.filter_args().lookup(data, &ctx.cancel).await?;
        tracing::debug!(matched = found.matches.len(), seen = found.seen, "images listed");
        Ok(config.found(&found.matches, &filters).into())
    }
}
