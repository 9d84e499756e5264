//! The provider's managed resources, one module each, and the list the
//! provider serves. Helpers every image resource shares live here too:
//! import ids, and how API strings become model values.

pub mod custom_image;
pub mod custom_image_copy;
pub mod import_id;

use crate::framework::{AnyResource, AttrPath, Context, Diagnostic, Diagnostics, Maybe};
use crate::images::{ImageApi, Location};
use crate::provider_data::ProviderData;
use crate::ucloud::Image;
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

/// What refreshing an image resource found.
pub enum Lookup {
    /// The image, and where it was read.
    Found(Box<Image>, Location),
    /// UCloud no longer has it: the resource leaves the state.
    Gone,
    /// Nothing was learnt: keep the state as it is, with these diagnostics.
    Keep(Diagnostics),
}

/// The part of Read every image resource shares: the state's id checked
/// before any call, a refresh put off while the provider block is not known
/// yet, one read through the waiter (which shares its call with other
/// reads), and a refusal of platform images, which the resource would
/// otherwise try to delete. `what` names the resource in messages
/// ("Custom image", "Image copy").
pub async fn look_up(
    ctx: &Context,
    data: &ProviderData,
    id: &Maybe<String>,
    id_path: AttrPath,
    location: Result<Location, Diagnostic>,
    what: &str,
    type_name: &str,
) -> Lookup {
    let image_id = match state_image_id(id, id_path) {
        Ok(Some(id)) => id,
        Ok(None) => return Lookup::Gone,
        Err(d) => return Lookup::Keep(d.into()),
    };
    let Some(client) = data.client.as_deref() else {
        // Planning with a provider block that is not known yet: refreshing
        // waits for apply rather than failing the plan.
        let why = data.client().err().map(|d| d.detail).unwrap_or_default();
        return Lookup::Keep(
            Diagnostic::warning(
                format!("{what} not refreshed"),
                format!("Image {image_id} was not read from UCloud: {why}"),
            )
            .into(),
        );
    };
    let loc = match location {
        Ok(l) => l,
        Err(d) => return Lookup::Keep(d.into()),
    };
    let api = ImageApi::new(client, loc);
    match data.waiter.look(&api, &ctx.cancel, image_id).await {
        Ok(None) => {
            tracing::info!(image_id, "{what} no longer exists");
            Lookup::Gone
        }
        Ok(Some(img)) if !img.image_type.is_empty() && !img.image_type.eq_ignore_ascii_case("Custom") => Lookup::Keep(
            Diagnostic::error(
                "Not a custom image",
                format!(
                    "Image {image_id} is a {} image ({:?}), not a custom image: {type_name} manages only \
                         custom images of your account. Refer to platform images by id instead.",
                    img.image_type, img.image_name
                ),
            )
            .into(),
        ),
        Ok(Some(img)) => Lookup::Found(Box::new(img), api.loc),
        Err(e) => {
            Lookup::Keep(Diagnostic::error(format!("Failed to read {}", what.to_lowercase()), e.to_string()).into())
        }
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
