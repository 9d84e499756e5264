//! The batch poller behind [`Waiter`](super::Waiter): per location (region
//! and project) one task that, while anything waits there, asks
//! DescribeImage once per tick for every image id being waited on and
//! hands each waiter its image's state, or "gone". The number of calls
//! grows with time, not with the number of images.
//!
//! - A wait *joins* its location's group with the instant it wants its
//!   first look; the group's next tick is the earliest instant any member
//!   wants, so a burst of new waits shares one call. After a tick every
//!   member it answered wants the next one a steady
//!   [`tick`](super::PollSchedule::tick) later.
//! - A tick that meets a server error, or that stayed throttled (RetCode
//!   153/150, HTTP 429) for as long as the client waits, delays the next
//!   tick of the whole group: 2-4 ticks, then 4-8, 8-16 (random within each
//!   range), at most [`max_backoff`](super::PollSchedule::max_backoff).
//!   Waiters cannot outrun it by joining. A throttled tick is handed to the
//!   waits as such, and they do not count it as a failed poll.
//! - A wait that ends (settled, Ctrl-C, deadline) leaves the group when its
//!   [`Membership`] is dropped; the last one to leave removes the group,
//!   cancels its call in flight and so ends its task. An id in several
//!   waits is asked for once.
//!
//! A group has at most one call in flight, made through the client of the
//! wait that started the group (one client per provider configuration), so
//! when UCloud throttles and the process's limiter paces its calls, the
//! ticks stretch instead of piling up. Reads queue apart from imports and
//! deletes at the limiter and the two take turns: polls neither starve nor
//! are starved by the calls that do the work.
//!
//! The task owns nothing a waiter needs to finish: the channels to the
//! waiters live in the shared map, and if the task ever stopped abnormally
//! its guard removes the group, which closes them, so no wait hangs.

use super::api::{ImageApi, Location};
use crate::ucloud::{Client, Error as ApiError, Image};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// "Describe these images": what the poller needs from UCloud. The
/// production source is a [`Client`]; tests give a fake one.
#[async_trait]
pub trait DescribeIds: Send + Sync + 'static {
    /// The images among `ids` that exist in `loc`, in any order; an id
    /// without an entry is gone.
    async fn describe(
        &self,
        loc: &Location,
        ids: &[String],
        cancel: &CancellationToken,
    ) -> Result<Vec<Image>, ApiError>;
}

#[async_trait]
impl DescribeIds for Client {
    async fn describe(
        &self,
        loc: &Location,
        ids: &[String],
        cancel: &CancellationToken,
    ) -> Result<Vec<Image>, ApiError> {
        ImageApi::new(self, loc.clone()).get_many(ids, cancel).await
    }
}

/// What one tick says about one image: its state, `None` when UCloud no
/// longer has it, or why the tick failed.
pub(super) type Look = Result<Option<Image>, ApiError>;

/// The pace of every group (see [`PollSchedule`](super::PollSchedule)).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pace {
    pub tick: Duration,
    pub max_backoff: Duration,
}

/// Every group of one waiter.
pub(super) struct Batches {
    pace: Pace,
    groups: Mutex<HashMap<Location, Group>>,
    next_key: AtomicU64,
}

/// The waits of one location.
struct Group {
    /// Tells a group apart from a later one of the same location.
    generation: u64,
    members: HashMap<u64, Member>,
    /// Wakes the task when a member joins or the last one leaves.
    wake: Arc<Notify>,
    /// Cancels the call in flight, once nobody is left to read it.
    in_flight: Option<CancellationToken>,
}

struct Member {
    image_id: String,
    /// When this member wants its next look.
    due: Instant,
    tx: mpsc::UnboundedSender<Look>,
}

/// One wait's place in its group: the looks arrive here; dropping it leaves.
pub(super) struct Membership {
    batches: Arc<Batches>,
    loc: Location,
    key: u64,
    rx: mpsc::UnboundedReceiver<Look>,
}

impl Membership {
    /// The next look; `None` only if the group's task stopped abnormally
    /// (the caller may join again).
    pub(super) async fn next(&mut self) -> Option<Look> {
        self.rx.recv().await
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.batches.leave(&self.loc, self.key);
    }
}

impl Batches {
    pub(super) fn new(pace: Pace) -> Self {
        Batches {
            pace,
            groups: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(0),
        }
    }

    /// The groups, also after a panic elsewhere while they were held: every
    /// change under the lock is a single insert, remove or assignment.
    fn groups(&self) -> MutexGuard<'_, HashMap<Location, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a wait for `image_id` in `loc` that wants its first look
    /// `first_look` from now, starting the location's task if needed with
    /// the source `source` gives.
    pub(super) fn join(
        self: &Arc<Self>,
        loc: &Location,
        image_id: &str,
        first_look: Duration,
        source: impl FnOnce() -> Arc<dyn DescribeIds>,
    ) -> Membership {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let member = Member {
            image_id: image_id.to_string(),
            due: Instant::now() + first_look,
            tx,
        };
        let start = {
            let mut groups = self.groups();
            let (group, new) = match groups.get_mut(loc) {
                Some(g) => (g, false),
                None => {
                    let group = Group {
                        generation: key,
                        members: HashMap::new(),
                        wake: Arc::new(Notify::new()),
                        in_flight: None,
                    };
                    (groups.entry(loc.clone()).or_insert(group), true)
                }
            };
            group.members.insert(key, member);
            group.wake.notify_one();
            new.then(|| (group.generation, group.wake.clone()))
        };
        if let Some((generation, wake)) = start {
            let task = GroupTask {
                batches: self.clone(),
                loc: loc.clone(),
                generation,
                wake,
                source: source(),
            };
            tokio::spawn(task.run());
        }
        Membership {
            batches: self.clone(),
            loc: loc.clone(),
            key,
            rx,
        }
    }

    /// Removes a wait; the last one out removes the group, cancels its call
    /// in flight and wakes its task so that it ends.
    fn leave(&self, loc: &Location, key: u64) {
        let mut groups = self.groups();
        let Some(group) = groups.get_mut(loc) else { return };
        group.members.remove(&key);
        if group.members.is_empty()
            && let Some(group) = groups.remove(loc)
        {
            if let Some(call) = group.in_flight {
                call.cancel();
            }
            group.wake.notify_one();
        }
    }

    /// How many waits each location has (tests).
    #[cfg(test)]
    pub(super) fn sizes(&self) -> HashMap<Location, usize> {
        self.groups()
            .iter()
            .map(|(l, g)| (l.clone(), g.members.len()))
            .collect()
    }
}

/// The pause before the tick that follows `failures` throttled or failed
/// ticks in a row: `tick * 2^(failures + 1)` (2, 4, 8 ... ticks), at most
/// `max_backoff`, of which a random part (up to half) is taken off so that
/// processes throttled together do not come back together.
pub(super) fn backoff(pace: Pace, failures: u32) -> Duration {
    let full = pace
        .tick
        .checked_mul(2u32.saturating_pow(failures.saturating_add(1).min(20)))
        .unwrap_or(pace.max_backoff)
        .min(pace.max_backoff);
    let half_ms = u64::try_from(full.as_millis() / 2).unwrap_or(u64::MAX);
    full - Duration::from_millis(fastrand::u64(0..=half_ms))
}

/// Whether a failed tick should slow the whole group down.
fn backs_off(e: &ApiError) -> bool {
    e.is_throttled() || e.is_server_error()
}

/// The task of one group.
struct GroupTask {
    batches: Arc<Batches>,
    loc: Location,
    generation: u64,
    wake: Arc<Notify>,
    source: Arc<dyn DescribeIds>,
}

/// Removes the group when its task ends in any way, so that the waiters'
/// channels close instead of waiting for a task that is gone.
struct GroupGuard {
    batches: Arc<Batches>,
    loc: Location,
    generation: u64,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let mut groups = self.batches.groups();
        if groups.get(&self.loc).is_some_and(|g| g.generation == self.generation) {
            groups.remove(&self.loc);
        }
    }
}

impl GroupTask {
    async fn run(self) {
        let _guard = GroupGuard {
            batches: self.batches.clone(),
            loc: self.loc.clone(),
            generation: self.generation,
        };
        let pace = self.batches.pace;
        let mut failures = 0u32;
        let mut held_until: Option<Instant> = None;
        loop {
            let Some(due) = self.next_due() else { return };
            let at = held_until.map_or(due, |h| h.max(due));
            if Instant::now() < at {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = self.wake.notified() => continue,
                }
            }
            let Some((keys, ids, call)) = self.start_tick() else {
                continue;
            };
            tracing::debug!(
                region = %self.loc.region,
                project_id = self.loc.project_id.as_deref().unwrap_or(""),
                ids = ids.len(),
                waits = keys.len(),
                "batched DescribeImage"
            );
            let result = self.source.describe(&self.loc, &ids, &call).await;
            let finished = Instant::now();
            if call.is_cancelled() {
                // Everyone left while the call was in flight.
                continue;
            }
            match &result {
                Err(e) if backs_off(e) => {
                    failures = failures.saturating_add(1);
                    let pause = backoff(pace, failures);
                    tracing::debug!(region = %self.loc.region, error = %e, pause = ?pause, "batched DescribeImage throttled, backing off");
                    held_until = Some(finished + pause);
                }
                _ => {
                    failures = 0;
                    held_until = None;
                }
            }
            self.deliver(&keys, result, finished + pace.tick);
        }
    }

    /// The earliest instant a member wants a look; `None` (and the group
    /// removed) once nobody waits.
    fn next_due(&self) -> Option<Instant> {
        let mut groups = self.batches.groups();
        let group = groups.get(&self.loc).filter(|g| g.generation == self.generation)?;
        match group.members.values().map(|m| m.due).min() {
            Some(due) => Some(due),
            None => {
                groups.remove(&self.loc);
                None
            }
        }
    }

    /// The members this tick answers and their distinct ids, with the
    /// token that cancels the call; `None` when nobody waits any more.
    fn start_tick(&self) -> Option<(Vec<u64>, Vec<String>, CancellationToken)> {
        let mut groups = self.batches.groups();
        let group = groups.get_mut(&self.loc).filter(|g| g.generation == self.generation)?;
        if group.members.is_empty() {
            return None;
        }
        let keys: Vec<u64> = group.members.keys().copied().collect();
        let ids: BTreeSet<&str> = group.members.values().map(|m| m.image_id.as_str()).collect();
        let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
        let call = CancellationToken::new();
        group.in_flight = Some(call.clone());
        Some((keys, ids, call))
    }

    /// Hands every member the tick answered its look, and sets when it
    /// wants the next one.
    fn deliver(&self, keys: &[u64], result: Result<Vec<Image>, ApiError>, next: Instant) {
        let mut groups = self.batches.groups();
        let Some(group) = groups.get_mut(&self.loc).filter(|g| g.generation == self.generation) else {
            return;
        };
        group.in_flight = None;
        let found: HashMap<&str, &Image> = match &result {
            Ok(images) => images.iter().map(|i| (i.image_id.as_str(), i)).collect(),
            Err(_) => HashMap::new(),
        };
        for key in keys {
            let Some(member) = group.members.get_mut(key) else {
                continue;
            };
            let look = match &result {
                Ok(_) => Ok(found.get(member.image_id.as_str()).map(|i| (*i).clone())),
                Err(e) => Err(e.clone()),
            };
            // A closed channel is a wait that is leaving right now.
            let _ = member.tx.send(look);
            member.due = next;
        }
    }
}
