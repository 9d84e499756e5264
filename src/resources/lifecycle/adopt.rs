//! Adopting the image of a killed run: a create that finds a record (see
//! [`crate::images::Pending`]) of an image started under its name and place
//! and never handed to Terraform takes that image instead of making another.

use super::ImageResource;
use crate::framework::{Context, Diagnostic};
use crate::images::ImageApi;
use crate::provider_data::ProviderData;

/// An image an earlier run started as `name` in this place and never handed
/// to Terraform, because Terraform was killed (see [`crate::images::Pending`]): adopted,
/// with a warning saying so, if it still exists and has not failed, instead
/// of making a second one. Records of images that are gone or failed are
/// dropped; an image that cannot be looked up now is not adopted.
pub(super) async fn adopt_pending<R: ImageResource>(
    ctx: &Context,
    data: &ProviderData,
    api: &ImageApi<'_>,
    name: &str,
) -> Option<(String, Diagnostic)> {
    let w = R::WORDS;
    while let Some(image_id) = data.pending.claim(&api.loc, name) {
        match data.waiter.look(api, &ctx.cancel, &image_id).await {
            Ok(Some(image)) if image.is_custom() && image.state != "Unavailable" => {
                tracing::warn!(image_id, state = %image.state, "adopting the {} of a killed run", w.object);
                let warning = Diagnostic::warning(
                    format!("Adopted the {} of an interrupted run", w.object),
                    format!(
                        "{} {image_id} ({name:?} in {}, {}) was started by an earlier run of this working \
                         directory that ended before Terraform could record it (Terraform was killed). This apply \
                         adopts it instead of starting a second {}.",
                        w.object_cap(),
                        api.loc,
                        image.state,
                        w.verb,
                    ),
                );
                return Some((image_id, warning));
            }
            Ok(_) => data.pending.forget(&image_id),
            Err(error) => {
                tracing::warn!(image_id, %error, "could not look up the image of a killed run; not adopting it");
                return None;
            }
        }
    }
    None
}
