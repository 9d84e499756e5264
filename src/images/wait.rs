//! Waiting on images: until an import or copy settles, or until a deleted
//! image is gone. Every wait stops on Ctrl-C and at its deadline, and rides
//! out a few failed polls (the client has already retried each one).
//!
//! [`Waiter`] is the one interface resources wait through; today each wait
//! polls its own image on its own schedule, and a poller that batches all
//! images in flight can replace it behind the same methods.

use super::api::ImageApi;
use super::human;
use crate::ucloud::{Error as ApiError, Image, ImageState};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Testing knob: the first delay, in milliseconds, between two polls of an
/// image that is being imported, copied or deleted. Unset in production (2 s).
pub const POLL_INTERVAL_ENV: &str = "UCLOUD_POLL_INTERVAL_MS";

/// Consecutive failed polls tolerated before a wait gives up.
const MAX_POLL_ERRORS: u32 = 5;

/// Consecutive polls that do not find a just-created image before it is
/// taken as deleted by someone else.
const MAX_MISSING_POLLS: u32 = 3;

/// Consecutive polls that see a state this provider does not know before
/// the wait reports it: long enough to ride out a transitional state, far
/// shorter than a create timeout.
const MAX_UNEXPECTED_POLLS: u32 = 5;

/// How often a long-running operation asks UCloud for news: the delay starts
/// at `initial` and grows up to `max`, like UCloud's own Packer plugin (2 s to 12 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for PollSchedule {
    fn default() -> Self {
        PollSchedule {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(12),
        }
    }
}

impl PollSchedule {
    /// The schedule for a `UCLOUD_POLL_INTERVAL_MS` value: the production one
    /// when unset or unparsable, otherwise starting there and growing to six
    /// times that (the production ratio), never beyond 12 s.
    pub fn from_env_value(value: Option<&str>) -> Self {
        let production = PollSchedule::default();
        match value.and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(ms) if ms > 0 => {
                let initial = Duration::from_millis(ms).min(production.max);
                PollSchedule {
                    initial,
                    max: (initial * 6).min(production.max),
                }
            }
            _ => production,
        }
    }

    /// The delay that follows `current`: half as long again, capped at `max`.
    pub fn next(&self, current: Duration) -> Duration {
        (current + current / 2).min(self.max).max(self.initial)
    }
}

/// Why a wait stopped before its goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// Terraform asked the provider to stop (Ctrl-C).
    Cancelled,
    /// The operation's timeout passed.
    TimedOut,
}

/// A failed call inside a bounded operation.
enum CallError {
    Api(ApiError),
    Halt(Halt),
}

/// Runs one API call that gives up on Ctrl-C or at `deadline`.
async fn bounded<T>(
    cancel: &CancellationToken,
    deadline: Instant,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, CallError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(CallError::Halt(Halt::Cancelled)),
        r = tokio::time::timeout_at(deadline, call) => match r {
            Err(_) => Err(CallError::Halt(Halt::TimedOut)),
            Ok(Err(e)) if e.is_cancelled() => Err(CallError::Halt(Halt::Cancelled)),
            Ok(Err(e)) => Err(CallError::Api(e)),
            Ok(Ok(v)) => Ok(v),
        },
    }
}

/// The growing delay between polls, bounded by a deadline.
struct Poller {
    schedule: PollSchedule,
    delay: Duration,
    deadline: Instant,
}

impl Poller {
    fn new(schedule: PollSchedule, deadline: Instant) -> Self {
        Poller {
            schedule,
            delay: schedule.initial,
            deadline,
        }
    }

    /// Sleeps until the next poll; stops early on Ctrl-C, or at the deadline.
    async fn pause(&mut self, cancel: &CancellationToken) -> Result<(), Halt> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Halt::TimedOut);
        }
        let wake = (now + self.delay).min(self.deadline);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Halt::Cancelled),
            _ = tokio::time::sleep_until(wake) => {}
        }
        self.delay = self.schedule.next(self.delay);
        if wake >= self.deadline {
            Err(Halt::TimedOut)
        } else {
            Ok(())
        }
    }
}

/// How waiting for a new image (import or copy) ended.
#[derive(Debug)]
pub enum Settled {
    Available(Image),
    Unavailable(Image),
    /// The image stayed in a state this provider does not know.
    Unexpected(Image),
    /// The image disappeared (deleted by someone else).
    Gone,
    /// Stopped by Ctrl-C or the deadline; the last state seen.
    Halted(Halt, String),
    /// Polling kept failing; the last state seen.
    Failed(ApiError, String),
}

/// Waits on images for the resources of one provider process.
#[derive(Clone, Debug, Default)]
pub struct Waiter {
    schedule: PollSchedule,
}

impl Waiter {
    pub fn new(schedule: PollSchedule) -> Self {
        Waiter { schedule }
    }

    /// The poll schedule, also the pace of lost-answer reconciliation.
    pub fn schedule(&self) -> PollSchedule {
        self.schedule
    }

    /// Polls a new image until it leaves the in-progress states (`Making`,
    /// `Copying`), starting from `first_state`.
    pub async fn until_settled(
        &self,
        api: &ImageApi<'_>,
        cancel: &CancellationToken,
        image_id: &str,
        deadline: Instant,
        first_state: &str,
    ) -> Settled {
        let mut poller = Poller::new(self.schedule, deadline);
        let mut last_state = first_state.to_string();
        let (mut errors, mut missing, mut unexpected) = (0, 0, 0);
        loop {
            match bounded(cancel, deadline, api.get(image_id, cancel)).await {
                Ok(Some(img)) => {
                    errors = 0;
                    missing = 0;
                    match img.state_kind() {
                        ImageState::Available => return Settled::Available(img),
                        ImageState::Unavailable => return Settled::Unavailable(img),
                        ImageState::Making | ImageState::Copying => unexpected = 0,
                        ImageState::Unknown(_) => {
                            unexpected += 1;
                            if unexpected >= MAX_UNEXPECTED_POLLS {
                                return Settled::Unexpected(img);
                            }
                        }
                    }
                    tracing::debug!(image_id, state = %img.state, "waiting for the image");
                    last_state = img.state;
                }
                Ok(None) => {
                    missing += 1;
                    if missing >= MAX_MISSING_POLLS {
                        return Settled::Gone;
                    }
                }
                Err(CallError::Halt(h)) => return Settled::Halted(h, last_state),
                Err(CallError::Api(e)) => {
                    errors += 1;
                    tracing::warn!(image_id, error = %e, "polling the image failed");
                    if errors >= MAX_POLL_ERRORS {
                        return Settled::Failed(e, last_state);
                    }
                }
            }
            if let Err(h) = poller.pause(cancel).await {
                return Settled::Halted(h, last_state);
            }
        }
    }

    /// Deletes the image and waits until DescribeImage no longer returns it.
    /// An image still being made or copied cannot always be deleted yet:
    /// that is waited out. The error is the detail of a diagnostic.
    pub async fn delete(
        &self,
        api: &ImageApi<'_>,
        cancel: &CancellationToken,
        image_id: &str,
        deadline: Instant,
    ) -> Result<(), String> {
        let halted = |h: Halt, what: &str, timeout: &str| match h {
            Halt::Cancelled => format!(
                "Deleting image {image_id} was interrupted {what}. It may still exist: run `terraform destroy` again."
            ),
            Halt::TimedOut => format!(
                "Image {image_id} was not gone within {timeout} {what}. Raise `timeouts.delete` or run `terraform \
                 destroy` again."
            ),
        };
        let mut poller = Poller::new(self.schedule, deadline);
        let timeout = human(deadline.saturating_duration_since(Instant::now()));
        let mut errors = 0;
        loop {
            let failure = match bounded(cancel, deadline, api.terminate(image_id, cancel)).await {
                Ok(()) => break,
                Err(CallError::Halt(h)) => return Err(halted(h, "while asking UCloud to delete it", &timeout)),
                Err(CallError::Api(e)) => e,
            };
            // Terminate refused: retry only while the image is busy.
            match bounded(cancel, deadline, api.get(image_id, cancel)).await {
                Ok(None) => return Ok(()),
                Ok(Some(img)) if img.state_kind().is_pending() => {
                    tracing::info!(image_id, state = %img.state, "image busy, deleting it once it is ready");
                    errors = 0;
                }
                Ok(Some(_)) | Err(CallError::Api(_)) => {
                    errors += 1;
                    if errors >= MAX_POLL_ERRORS.min(3) {
                        return Err(failure.to_string());
                    }
                }
                Err(CallError::Halt(h)) => return Err(halted(h, "while asking UCloud to delete it", &timeout)),
            }
            if let Err(h) = poller.pause(cancel).await {
                return Err(halted(h, &format!("(last error: {failure})"), &timeout));
            }
        }
        let mut errors = 0;
        loop {
            match bounded(cancel, deadline, api.get(image_id, cancel)).await {
                Ok(None) => return Ok(()),
                Ok(Some(img)) => {
                    errors = 0;
                    tracing::debug!(image_id, state = %img.state, "waiting for the image to be deleted");
                }
                Err(CallError::Api(e)) => {
                    errors += 1;
                    if errors >= MAX_POLL_ERRORS {
                        return Err(format!("Could not confirm that image {image_id} is deleted: {e}"));
                    }
                }
                Err(CallError::Halt(h)) => return Err(halted(h, "after UCloud accepted the deletion", &timeout)),
            }
            if let Err(h) = poller.pause(cancel).await {
                return Err(halted(h, "after UCloud accepted the deletion", &timeout));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_schedule_grows_to_twelve_seconds_in_production() {
        let p = PollSchedule::from_env_value(None);
        let mut d = p.initial;
        let mut seen = vec![d];
        while d < p.max {
            d = p.next(d);
            seen.push(d);
        }
        assert_eq!(seen.first(), Some(&Duration::from_secs(2)));
        assert_eq!(seen.last(), Some(&Duration::from_secs(12)));
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn poll_schedule_from_env_is_fast_for_tests_and_ignores_garbage() {
        let p = PollSchedule::from_env_value(Some("100"));
        assert_eq!(p.initial, Duration::from_millis(100));
        assert_eq!(p.max, Duration::from_millis(600));
        assert_eq!(PollSchedule::from_env_value(Some("soon")), PollSchedule::default());
        assert_eq!(PollSchedule::from_env_value(Some("0")), PollSchedule::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_stops_on_ctrl_c_and_at_its_deadline() {
        let schedule = PollSchedule {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let cancel = CancellationToken::new();
        let mut open = Poller::new(schedule, Instant::now() + Duration::from_secs(3600));
        assert_eq!(open.pause(&cancel).await, Ok(()));
        cancel.cancel();
        assert_eq!(open.pause(&cancel).await, Err(Halt::Cancelled));

        let mut expired = Poller::new(schedule, Instant::now());
        assert_eq!(expired.pause(&CancellationToken::new()).await, Err(Halt::TimedOut));
    }
}
