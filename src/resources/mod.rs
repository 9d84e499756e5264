//! The provider's managed resources, one module each, and the list the
//! provider serves. Helpers every image resource shares live here too:
//! import ids, and how API strings become model values.

pub mod custom_image;
pub mod custom_image_copy;
pub mod import_id;

use crate::framework::{AnyResource, AttrPath, Diagnostic, Maybe};
use crate::provider_data::ProviderData;
use import_id::is_image_id;
use std::sync::Arc;

/// Every resource the provider serves.
pub fn all() -> Vec<Arc<dyn AnyResource<ProviderData>>> {
    vec![
        Arc::new(custom_image::CustomImageResource),
        Arc::new(custom_image_copy::CustomImageCopyResource),
    ]
}

/// The image id a state holds (at `path`), refused before any API call
/// when it is empty or not an image id (a hand-edited or corrupted state).
pub fn state_image_id(id: &Maybe<String>, path: AttrPath) -> Result<Option<&str>, Diagnostic> {
    match id.known().map(String::as_str) {
        None => Ok(None),
        Some(id) if is_image_id(id) => Ok(Some(id)),
        Some(id) => Err(Diagnostic::error(
            "Invalid image id in state",
            format!(
                "The state holds {id:?} as the image id, which is not a UCloud image id (uimage-...). No API call \
                 was made. Remove the resource from the state (`terraform state rm`) and adopt the image with \
                 `terraform import` if it exists."
            ),
        )
        .at(path)),
    }
}

/// An API string as a model value: UCloud answers "" for "not set".
pub fn non_empty(s: &str) -> Maybe<String> {
    if s.is_empty() {
        Maybe::Null
    } else {
        Maybe::Known(s.to_string())
    }
}

/// A URL without its query string: a signed UFile URL carries a temporary
/// credential that has no place in an error message.
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_url_queries_stay_out_of_messages() {
        assert_eq!(
            without_query("https://b.ufileos.com/a.raw?UCloudPublicKey=k&Signature=s"),
            "https://b.ufileos.com/a.raw"
        );
    }
}
