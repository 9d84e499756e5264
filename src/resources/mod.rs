//! The provider's managed resources, one module each, and the list the
//! provider serves. What every image resource shares lives here too: the
//! image lifecycle, import ids, and how API strings become model values.

pub mod custom_image;
pub mod custom_image_copy;
pub mod import_id;
pub mod lifecycle;

use crate::framework::{AnyResource, Maybe};
use crate::provider_data::ProviderData;
use std::sync::Arc;

/// Every resource the provider serves.
pub fn all() -> Vec<Arc<dyn AnyResource<ProviderData>>> {
    vec![
        Arc::new(custom_image::CustomImageResource),
        Arc::new(custom_image_copy::CustomImageCopyResource),
    ]
}

/// An API string as a model value: UCloud answers "" for "not set".
pub fn non_empty(s: &str) -> Maybe<String> {
    if s.is_empty() {
        Maybe::Null
    } else {
        Maybe::Known(s.to_string())
    }
}

/// Where each diagnostic points, for the resources' unit tests.
#[cfg(test)]
pub fn diagnostic_paths(diags: &crate::framework::Diagnostics) -> Vec<String> {
    diags
        .iter()
        .map(|d| d.attribute.as_ref().map_or(String::from("<none>"), |p| p.to_string()))
        .collect()
}

/// An image as UCloud describes it, for the resources' unit tests.
#[cfg(test)]
pub fn sample_image(id: &str, name: &str, description: &str, state: &str) -> crate::ucloud::Image {
    crate::ucloud::Image {
        image_id: id.into(),
        image_name: name.into(),
        image_description: description.into(),
        image_type: crate::ucloud::CUSTOM_IMAGE_TYPE.into(),
        os_type: "Linux".into(),
        os_name: "CentOS 7.6 64位".into(),
        state: state.into(),
        image_size: 20,
        create_time: 1_700_000_000,
        tag: "Default".into(),
        features: vec!["CloudInit".into()],
        ..crate::ucloud::Image::default()
    }
}
