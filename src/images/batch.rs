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
//! - A location learns how long its waits take. A wait that reached its
//!   goal (an import left `Making`, a deleted image is gone) reports
//!   [`reached`](Membership::reached), and the group narrows, per goal, the
//!   span its waits took from join to goal: longer than the last look
//!   that still saw it pending (from that look's start), at most the look
//!   that saw it done (to that look's finish). Every wait of that goal then
//!   has a *window* where its own goal should fall, and inside it the group
//!   looks every quarter tick instead of every tick (no sooner than the
//!   wait's first look; the looks of several windows due within half a
//!   step share one call). Images imported
//!   together in waves (Terraform's `-parallelism`) are then noticed within
//!   a quarter tick of settling instead of up to a tick late, and each wave
//!   narrows the span for the next. While the process's calls are held to
//!   a rate (UCloud throttled, or a ceiling), windows are not looked in:
//!   their calls would take turns from imports and deletes. Waits that take different times give
//!   spans that do not overlap and the newest one is kept: at worst a wait
//!   spends a few extra looks in a window that was not its own, and its
//!   next tick comes that much later.
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

    /// Whether calls are held to a rate now (UCloud throttled, or a
    /// ceiling): then the looks of learned windows would take turns from
    /// the imports and deletes, and the group keeps to its ticks.
    fn paced(&self) -> bool {
        false
    }
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

    fn paced(&self) -> bool {
        self.current_rate().is_some()
    }
}

/// What one tick says about one image: its state, `None` when UCloud no
/// longer has it, or why the tick failed.
pub(super) type Look = Result<Option<Image>, ApiError>;

/// What a wait waits for: the key under which a location learns how long
/// such waits take.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Goal {
    /// A new image leaves this in-progress state (`Making`, `Copying`).
    Leaves(String),
    /// A deleted image is no longer described.
    Gone,
}

/// How long waits of one goal take in one location, from joining to the
/// goal: longer than `lo`, at most `hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub lo: Duration,
    pub hi: Duration,
}

impl Span {
    /// This span narrowed by one more wait's, or that wait's alone when the
    /// two do not overlap (waits of this goal take different times here).
    pub(super) fn narrowed(self, sample: Span) -> Span {
        let (lo, hi) = (self.lo.max(sample.lo), self.hi.min(sample.hi));
        if lo < hi { Span { lo, hi } } else { sample }
    }

    /// Where the goal of a wait that joined at `joined` should fall, with
    /// `margin` after it for the jitter between UCloud accepting a call and
    /// the wait joining.
    fn window(self, joined: Instant, margin: Duration) -> Window {
        Window {
            start: joined + self.lo,
            end: joined + self.hi + margin,
        }
    }
}

/// A stretch of time in which a member is looked at every
/// [`Pace::step`] instead of every tick.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    /// The next look in the window, `gap` after one that finished at
    /// `after` (a step; zero for a wait not looked at yet), while the
    /// window is still ahead. The first comes a step into the window (the
    /// goal falls after its start), and none less than a step before its
    /// end: that one is made at the end, where the goal is reached if this
    /// wait takes what the others took.
    fn look(self, after: Instant, gap: Duration, step: Duration) -> Option<Instant> {
        if after >= self.end {
            return None;
        }
        let at = (after + gap).max(self.start + step);
        Some(if at + step > self.end { self.end } else { at })
    }
}

/// One delivered look with the instants its call started and finished.
struct Delivery {
    look: Look,
    started: Instant,
    finished: Instant,
}

/// The pace of every group (see [`PollSchedule`](super::PollSchedule)).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pace {
    pub tick: Duration,
    pub max_backoff: Duration,
}

impl Pace {
    /// The interval of looks inside a learned window: a quarter tick.
    fn step(self) -> Duration {
        self.tick / 4
    }

    /// Slack after a learned span's end: a twentieth of a tick.
    fn margin(self) -> Duration {
        self.tick / 20
    }
}

/// Every group of one waiter.
pub(super) struct Batches {
    pace: Pace,
    groups: Mutex<HashMap<Location, Group>>,
    /// What each location learned, kept when its group ends between two
    /// waves of waits. Locked only after `groups`, never before.
    learned: Mutex<HashMap<(Location, Goal), Span>>,
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
    /// Whether the source was [paced](DescribeIds::paced) after the
    /// latest call: no window looks then.
    paced: bool,
}

struct Member {
    image_id: String,
    /// When this member wants its next look.
    due: Instant,
    joined: Instant,
    /// `None` for a single look, which learns nothing.
    goal: Option<Goal>,
    /// When it wants its first look: no window look comes sooner, so that
    /// the waits Terraform starts together still share their first call.
    first: Instant,
    /// Where its goal should fall, once the location learned a span.
    window: Option<Window>,
    /// When its latest look's call finished.
    looked: Option<Instant>,
    tx: mpsc::UnboundedSender<Delivery>,
}

impl Member {
    /// Applies a learned span: the member's window, and an earlier look if
    /// the window asks for one (a step after its latest look at the
    /// soonest) and calls are not `paced`.
    fn learn(&mut self, span: Span, pace: Pace, now: Instant, paced: bool) {
        let window = span.window(self.joined, pace.margin());
        self.window = Some(window);
        if paced {
            return;
        }
        let at = match self.looked {
            Some(finished) => window.look(finished, pace.step(), pace.step()),
            None => window.look(now, Duration::ZERO, pace.step()),
        };
        if let Some(at) = at {
            self.due = self.due.min(at.max(now).max(self.first));
        }
    }

    /// When it wants its next look after one that finished at `finished`:
    /// a tick later, or sooner inside its window unless calls are `paced`.
    fn next_after(&self, finished: Instant, pace: Pace, paced: bool) -> Instant {
        let tick = finished + pace.tick;
        self.window
            .filter(|_| !paced)
            .and_then(|w| w.look(finished, pace.step(), pace.step()))
            .map_or(tick, |at| at.min(tick))
    }
}

/// One wait's place in its group: the looks arrive here; dropping it leaves.
pub(super) struct Membership {
    batches: Arc<Batches>,
    loc: Location,
    key: u64,
    rx: mpsc::UnboundedReceiver<Delivery>,
    /// When the call of the look before the latest one started...
    pending_since: Option<Instant>,
    /// ...and when the latest one finished.
    latest: Option<(Instant, Instant)>,
}

impl Membership {
    /// The next look; `None` only if the group's task stopped abnormally
    /// (the caller may join again).
    pub(super) async fn next(&mut self) -> Option<Look> {
        let delivery = self.rx.recv().await?;
        self.pending_since = self.latest.map(|(started, _)| started);
        self.latest = Some((delivery.started, delivery.finished));
        Some(delivery.look)
    }

    /// Says that the latest look showed this wait's goal reached, so that
    /// the location learns how long such waits take.
    pub(super) fn reached(&self) {
        if let Some((_, finished)) = self.latest {
            self.batches.learn(&self.loc, self.key, self.pending_since, finished);
        }
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
            learned: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(0),
        }
    }

    /// What the locations learned, also after a panic elsewhere: every
    /// change under the lock is a single insert.
    fn learned(&self) -> MutexGuard<'_, HashMap<(Location, Goal), Span>> {
        self.learned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Narrows the span of the goal of member `key` with its own: pending
    /// at `pending_since` (or since it joined), done by `done_by`. Every
    /// member with that goal gets the new window.
    fn learn(&self, loc: &Location, key: u64, pending_since: Option<Instant>, done_by: Instant) {
        let mut groups = self.groups();
        let Some(group) = groups.get_mut(loc) else { return };
        let Some(member) = group.members.get(&key) else { return };
        let Some(goal) = member.goal.clone() else { return };
        let sample = Span {
            lo: pending_since.map_or(Duration::ZERO, |s| s.saturating_duration_since(member.joined)),
            hi: done_by.saturating_duration_since(member.joined),
        };
        let span = {
            let mut learned = self.learned();
            let slot = learned.entry((loc.clone(), goal.clone())).or_insert(sample);
            *slot = slot.narrowed(sample);
            *slot
        };
        tracing::trace!(region = %loc.region, ?goal, ?span, "learned how long waits take here");
        let now = Instant::now();
        for m in group.members.values_mut() {
            if m.goal.as_ref() == Some(&goal) {
                m.learn(span, self.pace, now, group.paced);
            }
        }
        group.wake.notify_one();
    }

    /// The span learned for `goal` in `loc` (tests).
    #[cfg(test)]
    pub(super) fn span(&self, loc: &Location, goal: &Goal) -> Option<Span> {
        self.learned().get(&(loc.clone(), goal.clone())).copied()
    }

    /// The groups, also after a panic elsewhere while they were held: every
    /// change under the lock is a single insert, remove or assignment.
    fn groups(&self) -> MutexGuard<'_, HashMap<Location, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a wait for `image_id` in `loc` that wants its first look
    /// `first_look` from now (or sooner, inside the window the location
    /// learned for `goal`), starting the location's task if needed with the
    /// source `source` gives.
    pub(super) fn join(
        self: &Arc<Self>,
        loc: &Location,
        image_id: &str,
        goal: Option<Goal>,
        first_look: Duration,
        source: impl FnOnce() -> Arc<dyn DescribeIds>,
    ) -> Membership {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let mut member = Member {
            image_id: image_id.to_string(),
            due: now + first_look,
            first: now + first_look,
            joined: now,
            goal,
            window: None,
            looked: None,
            tx,
        };
        let start = {
            let mut groups = self.groups();
            let span = member
                .goal
                .as_ref()
                .and_then(|g| self.learned().get(&(loc.clone(), g.clone())).copied());
            let paced = groups.get(loc).is_some_and(|g| g.paced);
            if let Some(span) = span {
                member.learn(span, self.pace, now, paced);
            }
            let (group, new) = match groups.get_mut(loc) {
                Some(g) => (g, false),
                None => {
                    let group = Group {
                        generation: key,
                        members: HashMap::new(),
                        wake: Arc::new(Notify::new()),
                        in_flight: None,
                        paced: false,
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
            pending_since: None,
            latest: None,
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
            let started = Instant::now();
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
            let paced = self.source.paced();
            self.deliver(&keys, result, started, finished, paced);
        }
    }

    /// The earliest instant a member wants a look; `None` (and the group
    /// removed) once nobody waits.
    fn next_due(&self) -> Option<Instant> {
        let mut groups = self.batches.groups();
        let group = groups.get(&self.loc).filter(|g| g.generation == self.generation)?;
        let Some(first) = group.members.values().map(|m| m.due).min() else {
            groups.remove(&self.loc);
            return None;
        };
        // Waits in learned windows are due at instants of their own: one
        // call takes in those due within half a step of the first.
        let gather = first + self.batches.pace.step() / 2;
        let windowed = group.members.values().filter(|m| m.window.is_some() && m.due <= gather);
        Some(windowed.map(|m| m.due).fold(first, Instant::max))
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
    fn deliver(
        &self,
        keys: &[u64],
        result: Result<Vec<Image>, ApiError>,
        started: Instant,
        finished: Instant,
        paced: bool,
    ) {
        let pace = self.batches.pace;
        let mut groups = self.batches.groups();
        let Some(group) = groups.get_mut(&self.loc).filter(|g| g.generation == self.generation) else {
            return;
        };
        group.in_flight = None;
        group.paced = paced;
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
            let _ = member.tx.send(Delivery {
                look,
                started,
                finished,
            });
            member.due = member.next_after(finished, pace, paced);
            member.looked = Some(finished);
        }
    }
}
