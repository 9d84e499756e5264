//! The provider's data sources, one module each, and the list the provider
//! serves. `query` holds what the image lookups share: filters, the paged
//! lookup and the attributes reported per image.

pub mod custom_image;
pub mod custom_images;
pub mod query;

use crate::framework::AnyDataSource;
use crate::provider_data::ProviderData;
use std::sync::Arc;

/// Every data source the provider serves.
pub fn all() -> Vec<Arc<dyn AnyDataSource<ProviderData>>> {
    vec![
        Arc::new(custom_image::CustomImageDataSource),
        Arc::new(custom_images::CustomImagesDataSource),
    ]
}
