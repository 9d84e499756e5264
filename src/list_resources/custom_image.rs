//! List resource `ucloud_custom_image`: the custom images of a region and
//! project that match the data sources' filters (name or name pattern,
//! state), each with its identity, so `terraform query
//! -generate-config-out=FILE` writes an import block and a resource block
//! for every one. Pages of DescribeImage are read one at a time and no more
//! once Terraform has what it asked for.

use crate::data_sources::query::{Arg, FilterArgs, filter};
use crate::framework::{Context, Diagnostic, ListOutput, ListResource, Listed, Maybe, Model, attr, v};
use crate::images::ImageApi;
use crate::provider_data::ProviderData;
use crate::resources::custom_image::model::CustomImageModel;
use crate::resources::lifecycle::{ImageIdentity, adopted};
use crate::ucloud::{CUSTOM_IMAGE_TYPE, DescribeImage};
use crate::{attr_path, model};
use async_trait::async_trait;

model! {
    /// The filters of a query; every one is optional.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct CustomImageListModel {
        pub name: Maybe<String> = filter::name(attr::optional(filter::NAME)),
        pub name_regex: Maybe<String> = filter::name_regex(),
        pub status: Maybe<String> = filter::status(),
        pub region: Maybe<String> = attr::optional("The region to look in. Default: the provider's `region`.")
            .validate(v::non_empty()),
        pub project_id: Maybe<String> = attr::optional(
            "The project to look in (`org-...`). Default: the provider's `project_id`.",
        )
        .validate(v::non_empty()),
    }
}

type M = CustomImageListModel;

/// Only custom images: the list hands over `ucloud_custom_image` objects.
static CUSTOM: Maybe<String> = Maybe::Null;

impl CustomImageListModel {
    fn filter_args(&self) -> FilterArgs<'_> {
        FilterArgs {
            image_id: None,
            name: Arg::new(&self.name, attr_path!(M, name)),
            name_regex: Arg::new(&self.name_regex, attr_path!(M, name_regex)),
            image_type: Arg::new(&CUSTOM, crate::framework::AttrPath::attr("image_type")),
            status: Arg::new(&self.status, attr_path!(M, status)),
            region: Arg::new(&self.region, attr_path!(M, region)),
            project_id: Arg::new(&self.project_id, attr_path!(M, project_id)),
        }
    }
}

/// The `ucloud_custom_image` list resource.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustomImageList;

#[async_trait]
impl ListResource<ProviderData> for CustomImageList {
    type Model = M;

    fn type_name(&self) -> &'static str {
        "ucloud_custom_image"
    }

    fn description(&self) -> String {
        format!(
            "Finds the custom images of a region and project (`terraform query`, Terraform >= 1.14), newest \
             pages first as UCloud lists them, each with its identity and the name `NAME (ID)`. With \
             `-generate-config-out`, Terraform writes an `import` block and a `ucloud_custom_image` block for \
             each; fill in `ufile_url`, `format` and `os_type` there, which UCloud does not keep. Only \
             `{CUSTOM_IMAGE_TYPE}` images are listed."
        )
    }

    async fn list(&self, ctx: &Context, data: &ProviderData, config: M, out: &mut ListOutput) {
        let filters = match config.filter_args().resolve(data) {
            Ok(f) => f,
            Err(d) => return out.report(d).await,
        };
        let client = match data.client() {
            Ok(c) => c,
            Err(d) => return out.report(d.into()).await,
        };
        let api = ImageApi::new(client, filters.loc.clone());
        let mut pages = api.pages(DescribeImage {
            image_type: Some(CUSTOM_IMAGE_TYPE.to_string()),
            ..api.describe()
        });
        while !out.is_done() {
            let page = match pages.next(&ctx.cancel).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    let failed = Diagnostic::error(
                        "Failed to list custom images",
                        format!("DescribeImage in {} failed: {e}", api.loc),
                    );
                    return out.report(failed.into()).await;
                }
            };
            for img in page.iter().filter(|i| i.is_custom() && filters.matches(i)) {
                let object: CustomImageModel = adopted(img, &api.loc);
                let listed = Listed {
                    identity: ImageIdentity::of(&object).to_value(),
                    display_name: format!("{} ({})", img.image_name, img.image_id),
                    object: out.wants_objects().then(|| object.to_value()),
                };
                if !out.send(listed).await {
                    return;
                }
            }
        }
    }
}
