//! Creating an image exactly once with a call UCloud does not make
//! idempotent (ImportCustomImage, CopyCustomImage). When the answer is lost
//! (or arrives without an image id), the call may or may not have created
//! the image: look for it by name and creation time where it would appear,
//! adopt exactly one match, call again only when there is certainly none.

use super::api::ImageApi;
use super::unix_now;
use super::wait::PollSchedule;
use crate::ucloud::{Action, CopyCustomImage, Error as ApiError, Image, ImportCustomImage};
use std::future::Future;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How far before the call an image's CreateTime may lie and still be taken
/// for the image that call made (clock skew between us and UCloud).
const RECONCILE_SLACK_SECS: i64 = 30;

/// How many times the search for the image of a lost answer is tried.
const RECONCILE_ATTEMPTS: u32 = 5;

/// Why no image id came out of [`create_once`]: a diagnostic's summary and
/// detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateFailure {
    pub summary: String,
    pub detail: String,
}

impl CreateFailure {
    fn new(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        CreateFailure {
            summary: summary.into(),
            detail: detail.into(),
        }
    }
}

/// A call that makes one image and whose answer names it: what
/// [`create_once`] is given by the image resources.
pub trait CreatesImage: Action<Response: Send> + Send + Sync {
    /// The name the new image gets; a lost answer is reconciled by it.
    fn new_image_name(&self) -> &str;
    /// The new image's id in the answer (empty when the answer named none).
    fn new_image_id(answer: Self::Response) -> String;
}

impl CreatesImage for ImportCustomImage {
    fn new_image_name(&self) -> &str {
        &self.image_name
    }

    fn new_image_id(answer: Self::Response) -> String {
        answer.image_id
    }
}

impl CreatesImage for CopyCustomImage {
    /// A copy without a name of its own takes the source's, which the
    /// resource fills in before the call.
    fn new_image_name(&self) -> &str {
        self.target_image_name.as_deref().unwrap_or_default()
    }

    fn new_image_id(answer: Self::Response) -> String {
        answer.target_image_id
    }
}

/// After a lost answer: the images the call may have made. Retried a few
/// times on errors; the first look waits one poll delay so a call still
/// being processed has landed. Ctrl-C ends it (the error then says which
/// name to look for), since a search Terraform was asked to stop must not
/// hold the run; each look reads one page at a time.
async fn find_lost(
    api: &ImageApi<'_>,
    cancel: &CancellationToken,
    name: &str,
    since: i64,
    poll: PollSchedule,
) -> Result<Vec<Image>, ApiError> {
    let mut delay = poll.initial;
    let mut attempt = 0;
    loop {
        attempt += 1;
        tokio::select! {
            _ = cancel.cancelled() => {
                return Err(ApiError::Cancelled { action: "DescribeImage", outcome_unknown: false });
            }
            () = tokio::time::sleep(delay) => {}
        }
        match api.find_by_name(name, since, cancel).await {
            Ok(found) => return Ok(found),
            Err(e) if e.is_cancelled() || attempt >= RECONCILE_ATTEMPTS => return Err(e),
            Err(e) => tracing::warn!(error = %e, "looking for the image of a lost answer failed, trying again"),
        }
        delay = poll.next(delay);
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Calls `call` (which answers the new image's id) until it has certainly
/// created one image, named `name`, that `api`'s location will show: a lost
/// answer is reconciled, a second call is made only when the first created
/// nothing. `what` names the operation in messages ("import", "copy").
///
/// The call itself is never interrupted half-way (an interrupted call may
/// leave an image nobody knows about); `cancel` stops the search after a
/// lost answer (the error names what to look for) and, with `deadline`, a
/// second attempt.
pub async fn create_once<F, Fut>(
    api: &ImageApi<'_>,
    cancel: &CancellationToken,
    name: &str,
    what: &str,
    deadline: Instant,
    poll: PollSchedule,
    call: F,
) -> Result<String, CreateFailure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, ApiError>>,
{
    let failed = format!("Failed to {what} custom image");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let since = unix_now() - RECONCILE_SLACK_SECS;
        // An answer that said "done" without naming the image means the image
        // most likely exists: look for it, but never call a second time.
        let (lost, accepted) = match call().await {
            Ok(id) if !id.trim().is_empty() => return Ok(id),
            Ok(_) => (
                format!("UCloud accepted the {what} but its answer named no image id"),
                true,
            ),
            Err(e) if e.is_outcome_unknown() => {
                let accepted = e.missing_field().is_some();
                (e.to_string(), accepted)
            }
            Err(e) => return Err(CreateFailure::new(failed, e.to_string())),
        };
        tracing::warn!(error = %lost, image_name = %name, "{what} outcome unknown, looking for the image");
        let found = find_lost(api, cancel, name, since, poll).await.map_err(|e| {
            CreateFailure::new(
                format!("Custom image {what} outcome unknown"),
                format!(
                    "{lost}. Looking for the image failed too: {e}. An image named {name:?} may exist in {}: check \
                     the UCloud console, then delete it or adopt it with `terraform import`.",
                    api.loc
                ),
            )
        })?;
        match found.as_slice() {
            [one] if !one.image_id.is_empty() => {
                tracing::info!(image_id = %one.image_id, "adopting the image the lost {what} created");
                return Ok(one.image_id.clone());
            }
            [] if !accepted && attempt < 2 && Instant::now() < deadline && !cancel.is_cancelled() => {
                tracing::info!("the lost {what} created no image, calling again");
            }
            [] if accepted => {
                return Err(CreateFailure::new(
                    failed,
                    format!(
                        "{lost}. No image named {name:?} has appeared in {}, and the provider does not call again \
                         in case it appears late. Nothing was recorded in the state: check the UCloud console, \
                         then delete the image or adopt it with `terraform import`.",
                        api.loc
                    ),
                ));
            }
            [] => {
                return Err(CreateFailure::new(
                    failed,
                    format!("{lost}. No image named {name:?} was created, so nothing is left behind."),
                ));
            }
            several => {
                let ids: Vec<String> = several
                    .iter()
                    .map(|i| format!("{} ({})", i.image_id, i.state))
                    .collect();
                return Err(CreateFailure::new(
                    format!("Several images match {} {what} whose answer was lost", article(what)),
                    format!(
                        "{lost}. Images named {name:?} created since the call: {}. The provider cannot tell which one \
                         it made: delete the extra ones in the UCloud console, or adopt one with `terraform import`.",
                        ids.join(", ")
                    ),
                ));
            }
        }
    }
}
