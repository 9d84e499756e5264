//! Waiting on images: until an import or copy settles, until a deleted
//! image is gone, or for one look at an image. Every wait stops on Ctrl-C
//! and at its deadline, and rides out a few failed polls (the client has
//! already retried each one). A throttled poll is not a failed one: UCloud
//! asked the process to slow down, which its limiter does, and the wait
//! goes on until its deadline.
//!
//! [`Waiter`] is the one interface resources wait through. Behind it, every
//! wait of the process in one location shares one DescribeImage per tick
//! (see [`batch`](super::batch)). The pace, [`PollSchedule`]:
//!
//! | | default | why |
//! |---|---|---|
//! | tick | 1 s | a settled image is noticed within a second; one call per second per location whatever the number of images |
//! | first look | 400 ms | an import that fails at once (a bad URL) is reported at once, and the waits Terraform starts together share that first call |
//! | window step | a quarter tick | inside the window where a wait's goal should fall, learned from the waits of its location that reached theirs (see [`batch`](super::batch)), a wave of imports is noticed within a step of settling |
//! | gather | 20 ms | a refresh of many images (Terraform reads them in parallel) shares calls, at the cost of 20 ms per read |
//! | backoff | 2-4 s, then 4-8 s, 8-16 s, ... at most 30 s (random within each range) | after a throttled or failed tick the whole location slows down, not each image on its own |
//! | retry pace | 2 s growing to 12 s | what retries one image on its own: a delete UCloud refused while the image is busy, the search after a lost answer |
//!
//! `UCLOUD_POLL_INTERVAL_MS` ([`POLL_INTERVAL_ENV`]) is the testing knob:
//! it sets the tick, and every other figure scales down with it.

use super::api::ImageApi;
use super::batch::{Batches, DescribeIds, Goal, Look, Membership, Pace};
use super::human;
use crate::ucloud::{Error as ApiError, Image, ImageState};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Testing knob: the tick, in milliseconds, of the batched polls of images
/// being imported, copied or deleted. Unset in production (1 s).
pub const POLL_INTERVAL_ENV: &str = "UCLOUD_POLL_INTERVAL_MS";

/// Consecutive failed polls tolerated before a wait gives up (throttled
/// ones do not count).
const MAX_POLL_ERRORS: u32 = 5;

/// Consecutive polls that do not find a just-created image before it is
/// taken as deleted by someone else.
const MAX_MISSING_POLLS: u32 = 3;

/// Consecutive polls that see a state this provider does not know before
/// the wait reports it: long enough to ride out a transitional state, far
/// shorter than a create timeout.
const MAX_UNEXPECTED_POLLS: u32 = 5;

/// How often waits ask UCloud for news (see the module doc for the why of
/// each default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    /// The steady interval between two batched DescribeImage calls of a
    /// location while anything waits there.
    pub tick: Duration,
    /// How soon a new wait (an import just accepted, a delete) is first
    /// looked at; never later than one tick.
    pub first_look: Duration,
    /// How long a single look (a refresh) waits for others to share its call.
    pub gather: Duration,
    /// The longest shared pause after throttled or failed ticks.
    pub max_backoff: Duration,
    /// The first delay of operations retried one image at a time (a delete
    /// refused while the image is busy, the search after a lost answer)...
    pub initial: Duration,
    /// ...growing by half each time up to this, like UCloud's own Packer
    /// plugin (2 s to 12 s).
    pub max: Duration,
}

impl Default for PollSchedule {
    fn default() -> Self {
        PollSchedule {
            tick: Duration::from_secs(1),
            first_look: Duration::from_millis(400),
            gather: Duration::from_millis(20),
            max_backoff: Duration::from_secs(30),
            initial: Duration::from_secs(2),
            max: Duration::from_secs(12),
        }
    }
}

impl PollSchedule {
    /// The schedule for a `UCLOUD_POLL_INTERVAL_MS` value: the production
    /// one when unset or unparsable, otherwise that tick (at most 12 s) with
    /// the other figures no longer than the production ones and scaled to
    /// it: first look and gather within one tick, backoff up to 30 ticks,
    /// the retry pace starting at one tick and growing to six.
    pub fn from_env_value(value: Option<&str>) -> Self {
        let production = PollSchedule::default();
        match value.and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(ms) if ms > 0 => {
                let tick = Duration::from_millis(ms).min(production.max);
                PollSchedule {
                    tick,
                    first_look: production.first_look.min(tick),
                    gather: production.gather.min(tick),
                    max_backoff: production.max_backoff.min(tick * 30),
                    initial: tick,
                    max: (tick * 6).min(production.max),
                }
            }
            _ => production,
        }
    }

    /// The retry delay that follows `current`: half as long again, capped at `max`.
    pub fn next(&self, current: Duration) -> Duration {
        (current + current / 2).min(self.max).max(self.initial)
    }
}

/// Why a wait stopped before its goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The provider was told to stop (Ctrl-C in Terraform, a termination signal).
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

/// The growing delay between retries of one image, bounded by a deadline.
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

    /// Sleeps until the next retry; stops early on Ctrl-C, or at the deadline.
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

/// Waits on images for the resources of one provider process. Cheap to
/// clone: every clone shares the same groups of waits, so build one per
/// provider configuration.
#[derive(Clone)]
pub struct Waiter {
    inner: Arc<Inner>,
}

struct Inner {
    schedule: PollSchedule,
    batches: Arc<Batches>,
    /// Where ticks describe images; `None`: through the client of the
    /// [`ImageApi`] of the wait that starts a location's group.
    source: Option<Arc<dyn DescribeIds>>,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("schedule", &self.inner.schedule)
            .finish_non_exhaustive()
    }
}

impl Default for Waiter {
    fn default() -> Self {
        Waiter::new(PollSchedule::default())
    }
}

/// How a wait learns that its group's task stopped: as a failed poll.
fn poller_stopped() -> ApiError {
    ApiError::Network {
        action: "DescribeImage",
        detail: "the shared poller of this location stopped unexpectedly".to_string(),
        attempts: 0,
        request_id: None,
    }
}

impl Waiter {
    pub fn new(schedule: PollSchedule) -> Self {
        Waiter::build(schedule, None)
    }

    /// A waiter whose ticks ask `source` instead of UCloud (tests).
    pub fn with_source(schedule: PollSchedule, source: Arc<dyn DescribeIds>) -> Self {
        Waiter::build(schedule, Some(source))
    }

    fn build(schedule: PollSchedule, source: Option<Arc<dyn DescribeIds>>) -> Self {
        let pace = Pace {
            tick: schedule.tick,
            max_backoff: schedule.max_backoff,
        };
        Waiter {
            inner: Arc::new(Inner {
                schedule,
                batches: Arc::new(Batches::new(pace)),
                source,
            }),
        }
    }

    /// The poll schedule, also the pace of lost-answer reconciliation.
    pub fn schedule(&self) -> PollSchedule {
        self.inner.schedule
    }

    /// Joins the group of `api`'s location for `image_id`, waiting for
    /// `goal` (none for a single look), first look after `first_look`.
    fn join(&self, api: &ImageApi<'_>, image_id: &str, goal: Option<&Goal>, first_look: Duration) -> Membership {
        let source = || match &self.inner.source {
            Some(s) => s.clone(),
            None => Arc::new(api.client.clone()) as Arc<dyn DescribeIds>,
        };
        self.inner
            .batches
            .join(&api.loc, image_id, goal.cloned(), first_look, source)
    }

    /// The next look of a membership, or why the wait stops: Ctrl-C or the
    /// deadline. A group whose task stopped is joined again, and that
    /// counts as a failed poll.
    async fn next_look(
        &self,
        api: &ImageApi<'_>,
        membership: &mut Membership,
        image_id: &str,
        goal: &Goal,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Result<Look, Halt> {
        let look = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Halt::Cancelled),
            _ = tokio::time::sleep_until(deadline) => return Err(Halt::TimedOut),
            look = membership.next() => look,
        };
        Ok(look.unwrap_or_else(|| {
            *membership = self.join(api, image_id, Some(goal), self.inner.schedule.first_look);
            Err(poller_stopped())
        }))
    }

    /// The image as UCloud has it now, or `None` when it no longer exists:
    /// one look, asked together with every other wait and look of its
    /// location that is due within [`PollSchedule::gather`].
    pub async fn look(
        &self,
        api: &ImageApi<'_>,
        cancel: &CancellationToken,
        image_id: &str,
    ) -> Result<Option<Image>, ApiError> {
        let mut membership = self.join(api, image_id, None, self.inner.schedule.gather);
        for _ in 0..2 {
            let look = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(ApiError::Cancelled { action: "DescribeImage", outcome_unknown: false }),
                look = membership.next() => look,
            };
            match look {
                Some(look) => return look,
                None => membership = self.join(api, image_id, None, self.inner.schedule.gather),
            }
        }
        Err(poller_stopped())
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
        let mut last_state = first_state.to_string();
        let (mut errors, mut missing, mut unexpected) = (0, 0, 0);
        let goal = Goal::Leaves(first_state.to_string());
        let mut membership = self.join(api, image_id, Some(&goal), self.inner.schedule.first_look);
        loop {
            let look = match self
                .next_look(api, &mut membership, image_id, &goal, cancel, deadline)
                .await
            {
                Ok(look) => look,
                Err(h) => return Settled::Halted(h, last_state),
            };
            match look {
                Ok(Some(img)) => {
                    errors = 0;
                    missing = 0;
                    match img.state_kind() {
                        ImageState::Available => {
                            membership.reached();
                            return Settled::Available(img);
                        }
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
                // UCloud asked to slow down: the wait goes on at the pace
                // the shared limiter keeps, bounded by its deadline.
                Err(e) if e.is_throttled() => {
                    tracing::debug!(image_id, error = %e, "poll throttled, waiting on");
                }
                Err(e) => {
                    errors += 1;
                    tracing::warn!(image_id, error = %e, "polling the image failed");
                    if errors >= MAX_POLL_ERRORS {
                        return Settled::Failed(e, last_state);
                    }
                }
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
        let mut poller = Poller::new(self.inner.schedule, deadline);
        let timeout = human(deadline.saturating_duration_since(Instant::now()));
        let mut errors = 0;
        loop {
            let failure = match bounded(cancel, deadline, api.terminate(image_id, cancel)).await {
                Ok(()) => break,
                Err(CallError::Halt(h)) => return Err(halted(h, "while asking UCloud to delete it", &timeout)),
                Err(CallError::Api(e)) => e,
            };
            // Terminate refused: retry only while the image is busy.
            match bounded(cancel, deadline, self.look(api, cancel, image_id)).await {
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
        let mut membership = self.join(api, image_id, Some(&Goal::Gone), self.inner.schedule.first_look);
        loop {
            let look = match self
                .next_look(api, &mut membership, image_id, &Goal::Gone, cancel, deadline)
                .await
            {
                Ok(look) => look,
                Err(h) => return Err(halted(h, "after UCloud accepted the deletion", &timeout)),
            };
            match look {
                Ok(None) => {
                    membership.reached();
                    return Ok(());
                }
                Ok(Some(img)) => {
                    errors = 0;
                    tracing::debug!(image_id, state = %img.state, "waiting for the image to be deleted");
                }
                Err(e) if e.is_throttled() => {
                    tracing::debug!(image_id, error = %e, "poll throttled, waiting on");
                }
                Err(e) => {
                    errors += 1;
                    if errors >= MAX_POLL_ERRORS {
                        return Err(format!("Could not confirm that image {image_id} is deleted: {e}"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
