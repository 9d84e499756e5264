//! The provider's list resources (`terraform query`, Terraform >= 1.14),
//! one module each, and the list the provider serves. A list resource sits
//! above both the resources (it hands over their objects and identities)
//! and the data sources (it filters as they do).

pub mod custom_image;

use crate::framework::list::AnyListResource;
use crate::provider_data::ProviderData;
use std::sync::Arc;

/// Every list resource the provider serves.
pub fn all() -> Vec<Arc<dyn AnyListResource<ProviderData>>> {
    vec![Arc::new(custom_image::CustomImageList)]
}
