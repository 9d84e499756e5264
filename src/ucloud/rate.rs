//! The adaptive request rate: one [`Limiter`] per endpoint and public key,
//! shared by every client of the process, that sends as fast as UCloud
//! lets it and slows down only when UCloud says so.
//!
//! UCloud publishes no limit and throttles (RetCode 153, 150, HTTP 429) per
//! key or account, so any fixed figure is either too slow for the applies
//! it would let through or too fast for an account shared with other runs.
//! The limiter therefore:
//!
//! - is **open** (sends at once) until a throttle;
//! - on a throttle **cuts** the rate once per round trip: to [`BETA`] times
//!   the pace, or when open, the rate UCloud was accepting (answers not
//!   throttled over the last [`MEASURE_WINDOW`]). Throttled answers to
//!   requests sent before the cut belong to the wave that caused it and do
//!   not cut again (TCP's rule; AWS's adaptive mode cuts on each of them and
//!   collapses);
//! - **recovers** along CUBIC's curve ([`recovered_rate`]), back to the rate
//!   at the cut after a time that grows with it (6 s from 4 requests per
//!   second, 11 s from 10) and beyond it afterwards, so that it finds room
//!   freed by other users, and processes sharing a key converge to equal
//!   shares. The curve's clock runs only while requests queue for the
//!   limiter: a quiet spell (polls only) neither grows nor shrinks the rate,
//!   so the next wave starts at the rate reached (no cold start, no
//!   collapse);
//! - goes **open** again after [`OPEN_AFTER`] without a throttle;
//! - serves the queue **fairly**: reads (polls) and other calls (imports,
//!   copies, deletes) queue apart, first come first served within each, and
//!   take turns when both wait, so neither starves the other;
//! - may be held under a **ceiling** (`max_requests_per_second`), for an
//!   account whose quota other users (the console) need.
//!
//! The curve and the bookkeeping are pure functions of explicit instants
//! ([`State`]); [`Limiter`] adds the waiting, the sharing and the report
//! logged once a process's calls go idle or it exits.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The cut: the new rate is this share of the rate UCloud was accepting
/// (TCP CUBIC's beta, RFC 8312).
pub const BETA: f64 = 0.7;
/// CUBIC's scaling constant, in requests per second per second cubed: the
/// cubic curve returns to the rate at the cut after `cbrt(peak * (1 - BETA)
/// / C)` of sending at the limiter's pace, 8 s from 4 requests per second
/// (6 s with the [`ALPHA`] line), 11 s from 10, 36 s from 400. Far smaller than AWS's 0.4 (1.4 s from 4/s), so
/// that probing past a small quota throttles once in many requests, and the
/// same for every process, so that a process cut from a higher rate takes
/// longer to get back and processes sharing a key converge to equal shares.
pub const CUBIC_C: f64 = 0.0025;
/// The least the rate grows after a cut, in requests per second per second
/// of sending at the limiter's pace: CUBIC's TCP-friendly region (RFC 8312,
/// 4.2). Near a small peak the cubic curve is nearly flat for seconds, so
/// without it a process cut to the floor by another's burst would stay
/// there; with it processes sharing a key converge within a few cuts.
pub const ALPHA: f64 = 0.2;
/// The slowest pace: a cut never goes below one request per second, so a
/// wave of throttles cannot stall a process (AWS's floor of 0.5/s is
/// where its compounding cuts end up).
pub const MIN_RATE: f64 = 1.0;
/// How long without a throttle before the limiter stops pacing.
pub const OPEN_AFTER: Duration = Duration::from_secs(120);
/// The window over which the rate UCloud accepts is counted.
pub const MEASURE_WINDOW: Duration = Duration::from_secs(1);
/// How long the calls of a process must be idle before its report is logged.
pub const IDLE_REPORT: Duration = Duration::from_secs(10);

/// Benchmark knob: `off` makes every limiter of the process ignore
/// throttling (it still counts it), to measure what the limiter costs.
/// Unset in production.
pub const LIMITER_ENV: &str = "UCLOUD_RATE_LIMITER";

/// The client-side ceiling, `max_requests_per_second`: `None` (or 0) for
/// none, the default; then only UCloud's throttling sets the pace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub ceiling: Option<u32>,
}

impl RateLimit {
    /// At most `per_second` requests per second; 0 means no ceiling.
    pub fn per_second(per_second: u32) -> Self {
        RateLimit {
            ceiling: (per_second > 0).then_some(per_second),
        }
    }

    /// No ceiling: only UCloud's throttling slows the client.
    pub fn unlimited() -> Self {
        RateLimit { ceiling: None }
    }
}

/// The rate `busy` after a cut from `peak`: CUBIC's curve (RFC 8312),
/// `peak + C * (busy - K)^3` with `K = cbrt(peak * (1 - BETA) / C)`:
/// `BETA * peak` at the cut, flat around `peak` at `K`, then growing ever
/// faster to find room that others freed.
/// At least `BETA * peak + ALPHA * busy` (the TCP-friendly region).
pub fn recovered_rate(peak: f64, busy: Duration) -> f64 {
    let t = busy.as_secs_f64();
    let k = (peak * (1.0 - BETA) / CUBIC_C).cbrt();
    let cubic = peak + CUBIC_C * (t - k).powi(3);
    cubic.max(BETA * peak + ALPHA * t)
}

/// Which queue a call waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Looking (DescribeImage): the polls of waits and refreshes.
    Read,
    /// Doing (import, copy, delete).
    Work,
}

impl Class {
    /// UCloud's read-only actions are named `Describe...` or `Get...`.
    pub fn of(action: &str) -> Class {
        if action.starts_with("Describe") || action.starts_with("Get") {
            Class::Read
        } else {
            Class::Work
        }
    }

    fn index(self) -> usize {
        match self {
            Class::Read => 0,
            Class::Work => 1,
        }
    }
}

/// The pace after a throttle.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pacing {
    /// The rate at the last cut, where the curve flattens.
    peak: f64,
    /// Requests sent before this instant belong to the wave that caused the
    /// cut: their throttled answers do not cut again.
    cut_at: Instant,
    /// The curve's clock: time spent with requests queued since the cut.
    busy: Duration,
    /// The rate before the cut (`None`: open), the most a late answer of
    /// the same wave may raise `peak` to.
    before: Option<f64>,
}

/// What a process's calls did since the last report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub requests: u64,
    pub throttled: u64,
    /// The lowest and highest pace in effect when a request left; `None`
    /// when every request left unpaced (open).
    pub lowest: Option<f64>,
    pub highest: Option<f64>,
    /// Time calls spent waiting for the limiter, summed over calls.
    pub waited: Duration,
}

impl Report {
    fn empty() -> Report {
        Report {
            requests: 0,
            throttled: 0,
            lowest: None,
            highest: None,
            waited: Duration::ZERO,
        }
    }

    /// The share of requests UCloud throttled.
    pub fn throttled_share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.throttled as f64 / self.requests as f64
        }
    }

    fn record_rate(&mut self, rate: Option<f64>) {
        if let Some(r) = rate {
            self.lowest = Some(self.lowest.map_or(r, |l| l.min(r)));
            self.highest = Some(self.highest.map_or(r, |h| h.max(r)));
        }
    }
}

/// What a call waiting in the queue should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Send now (the request has been counted).
    Go,
    /// First in line: wait until then, then ask again.
    At(Instant),
    /// Others go first: wait for a change.
    Wait,
}

/// The limiter's state: every decision is a function of it and an explicit
/// `now`, so tests drive it without a clock.
#[derive(Debug)]
pub struct State {
    /// Whether throttling sets the pace ([`LIMITER_ENV`]).
    adaptive: bool,
    ceiling: Option<f64>,
    /// `None` while open.
    pacing: Option<Pacing>,
    last_throttle: Option<Instant>,
    /// When the next paced request may leave.
    next_send: Option<Instant>,
    /// The last time the curve's clock was advanced.
    clock_mark: Instant,
    /// When answers that were not throttled arrived, over the last window.
    accepted: VecDeque<Instant>,
    /// Tickets waiting, per class, first come first.
    queues: [VecDeque<u64>; 2],
    /// The class served last, so the other goes next when both wait.
    last_served: Option<Class>,
    next_ticket: u64,
    report: Report,
}

impl State {
    pub fn new(limit: RateLimit, now: Instant) -> State {
        State {
            adaptive: true,
            ceiling: limit.ceiling.map(f64::from),
            pacing: None,
            last_throttle: None,
            next_send: None,
            clock_mark: now,
            accepted: VecDeque::new(),
            queues: [VecDeque::new(), VecDeque::new()],
            last_served: None,
            next_ticket: 0,
            report: Report::empty(),
        }
    }

    /// The pace in effect, requests per second; `None` when open.
    pub fn rate(&self) -> Option<f64> {
        let adaptive = self.pacing.map(|p| recovered_rate(p.peak, p.busy).max(MIN_RATE));
        match (adaptive, self.ceiling) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        }
    }

    /// Whether UCloud's throttling is pacing the calls.
    pub fn is_paced(&self) -> bool {
        self.pacing.is_some()
    }

    /// Moves the curve's clock to `now` (only while calls queue) and opens
    /// the limiter after a long stretch without throttling.
    fn advance(&mut self, now: Instant) {
        let queued = self.queues.iter().any(|q| !q.is_empty());
        if let Some(p) = &mut self.pacing
            && queued
        {
            p.busy += now.saturating_duration_since(self.clock_mark);
        }
        self.clock_mark = now;
        if self.pacing.is_some()
            && self
                .last_throttle
                .is_some_and(|t| now.saturating_duration_since(t) >= OPEN_AFTER)
        {
            self.pacing = None;
        }
        while self
            .accepted
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > MEASURE_WINDOW)
        {
            self.accepted.pop_front();
        }
    }

    /// The requests per second UCloud accepted over the last window.
    fn accepted_rate(&self) -> f64 {
        self.accepted.len() as f64 / MEASURE_WINDOW.as_secs_f64()
    }

    /// A call of `class` wants to send: `Go` at once when nothing paces,
    /// otherwise a ticket to wait with.
    pub fn enter(&mut self, class: Class, now: Instant) -> Result<u64, Turn> {
        self.advance(now);
        let queued = self.queues.iter().any(|q| !q.is_empty());
        if self.rate().is_none() && !queued {
            self.sent(None);
            return Err(Turn::Go);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queues[class.index()].push_back(ticket);
        Ok(ticket)
    }

    /// What `ticket` of `class` should do at `now`; on `Go` it has left the queue.
    pub fn turn(&mut self, class: Class, ticket: u64, now: Instant) -> Turn {
        self.advance(now);
        let own = &self.queues[class.index()];
        let other = &self.queues[1 - class.index()];
        let first = own.front() == Some(&ticket);
        let our_turn = first && (other.is_empty() || self.last_served != Some(class));
        if !our_turn {
            return Turn::Wait;
        }
        let rate = self.rate();
        if let (Some(_), Some(at)) = (rate, self.next_send)
            && at > now
        {
            return Turn::At(at);
        }
        self.queues[class.index()].pop_front();
        self.last_served = Some(class);
        if let Some(r) = rate {
            let interval = Duration::from_secs_f64(1.0 / r);
            // Late by more than an interval means idle: no catching up.
            self.next_send = Some(match self.next_send {
                Some(at) if at + interval >= now => at + interval,
                _ => now + interval,
            });
        }
        self.sent(rate);
        Turn::Go
    }

    /// A waiting ticket gives up (Ctrl-C, deadline).
    pub fn leave(&mut self, class: Class, ticket: u64, now: Instant) {
        self.advance(now);
        self.queues[class.index()].retain(|t| *t != ticket);
    }

    fn sent(&mut self, rate: Option<f64>) {
        self.report.requests += 1;
        self.report.record_rate(rate);
    }

    /// An answer to a request sent at `sent_at` arrived at `now`; whether
    /// it cut the rate.
    pub fn answered(&mut self, sent_at: Instant, throttled: bool, now: Instant) -> bool {
        self.advance(now);
        let same_wave = self.pacing.is_some_and(|p| sent_at < p.cut_at);
        if !throttled {
            self.accepted.push_back(now);
            // Late answers of the wave that caused the cut say UCloud
            // accepted more than was counted at the cut.
            let measured = self.accepted_rate();
            if same_wave && let Some(p) = &mut self.pacing {
                let cap = p.before.unwrap_or(f64::INFINITY);
                p.peak = p.peak.max(measured.min(cap));
            }
            return false;
        }
        self.report.throttled += 1;
        self.last_throttle = Some(now);
        if same_wave || !self.adaptive {
            return false;
        }
        // Paced, the pace is what UCloud just refused (TCP's window at a
        // loss); what it accepted is no better a measure under contention,
        // where it falls with the share throttled and would cut the smaller
        // of two processes sharing a key harder. Open, nothing else is known.
        let before = self.rate();
        let peak = before.unwrap_or_else(|| self.accepted_rate()).max(MIN_RATE);
        self.pacing = Some(Pacing {
            peak,
            cut_at: now,
            busy: Duration::ZERO,
            before,
        });
        // The next request waits one interval at the new pace.
        self.next_send = self.rate().map(|r| now + Duration::from_secs_f64(1.0 / r));
        true
    }

    /// The report since the last one, if anything was sent; starts a new one.
    pub fn take_report(&mut self) -> Option<Report> {
        let report = std::mem::replace(&mut self.report, Report::empty());
        (report.requests > 0).then_some(report)
    }

    fn waited(&mut self, d: Duration) {
        self.report.waited += d;
    }
}

/// Why a wait for the limiter ended without a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    Cancelled,
    Deadline,
}

/// The shared limiter of one endpoint and key.
#[derive(Debug)]
pub struct Limiter {
    label: String,
    state: Mutex<State>,
    changed: Notify,
    /// Calls in progress and a counter of calls started, for the idle report.
    activity: Mutex<(u64, u64)>,
}

/// Every live limiter of the process, by endpoint and public key.
type Registry = Mutex<HashMap<(String, String), Weak<Limiter>>>;

fn registry() -> &'static Registry {
    static LIMITERS: OnceLock<Registry> = OnceLock::new();
    LIMITERS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Limiter {
    /// A limiter of its own, shared with nobody (tests).
    pub fn new(label: &str, limit: RateLimit) -> Limiter {
        Limiter {
            label: label.to_owned(),
            state: Mutex::new(State::new(limit, Instant::now())),
            changed: Notify::new(),
            activity: Mutex::new((0, 0)),
        }
    }

    /// The process's limiter of `endpoint` and `public_key`. A ceiling
    /// lowers that of the shared limiter: the lowest asked for holds.
    pub fn shared(endpoint: &str, public_key: &str, limit: RateLimit) -> Arc<Limiter> {
        let mut all = lock(registry());
        all.retain(|_, l| l.strong_count() > 0);
        let key = (endpoint.to_owned(), public_key.to_owned());
        if let Some(existing) = all.get(&key).and_then(Weak::upgrade) {
            if let Some(c) = limit.ceiling {
                let mut state = lock(&existing.state);
                let c = f64::from(c);
                state.ceiling = Some(state.ceiling.map_or(c, |old| old.min(c)));
            }
            return existing;
        }
        let limiter = Arc::new(Limiter::new(endpoint, limit));
        if std::env::var_os(LIMITER_ENV).is_some_and(|v| v == "off") {
            lock(&limiter.state).adaptive = false;
        }
        all.insert(key, Arc::downgrade(&limiter));
        limiter
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Waits for the turn of a request of `class`; stops on `cancel` or at
    /// `deadline`. Returns when the request may leave.
    pub async fn acquire(&self, class: Class, cancel: &CancellationToken, deadline: Instant) -> Result<(), Stopped> {
        let started = Instant::now();
        let ticket = match self.state().enter(class, started) {
            Err(_) => return Ok(()),
            Ok(ticket) => ticket,
        };
        let result = loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let turn = self.state().turn(class, ticket, Instant::now());
            let wake = match turn {
                Turn::Go => break Ok(()),
                Turn::At(at) => at.min(deadline),
                Turn::Wait => deadline,
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break Err(Stopped::Cancelled),
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        break Err(Stopped::Deadline);
                    }
                }
                _ = &mut notified => {}
            }
        };
        let now = Instant::now();
        {
            let mut state = self.state();
            if result.is_err() {
                state.leave(class, ticket, now);
            }
            state.waited(now.saturating_duration_since(started));
        }
        // The next in line (of either queue) may go now.
        self.changed.notify_waiters();
        result
    }

    /// The answer to a request sent at `sent_at`.
    pub fn answered(&self, sent_at: Instant, throttled: bool) {
        let cut = {
            let mut state = self.state();
            let before = state.rate();
            let cut = state.answered(sent_at, throttled, Instant::now());
            cut.then(|| (before, state.rate()))
        };
        if let Some((before, after)) = cut {
            tracing::debug!(
                target: "tpu::ucloud",
                endpoint = %self.label,
                before = before.map(|r| format!("{r:.2}/s")).unwrap_or_else(|| "open".to_owned()),
                after = after.map(|r| format!("{r:.2}/s")).unwrap_or_else(|| "open".to_owned()),
                "UCloud throttled: request rate cut"
            );
            self.changed.notify_waiters();
        }
    }

    /// The pace in effect now (`None`: open).
    pub fn rate(&self) -> Option<f64> {
        let mut state = self.state();
        state.advance(Instant::now());
        state.rate()
    }

    /// A call starts; it ends when the guard is dropped. Once none has run
    /// for [`IDLE_REPORT`] the report is logged.
    pub fn active(self: &Arc<Self>) -> ActiveCall {
        let mut a = lock(&self.activity);
        a.0 += 1;
        a.1 += 1;
        ActiveCall { limiter: self.clone() }
    }

    fn call_ended(self: &Arc<Self>) {
        let (running, generation) = {
            let mut a = lock(&self.activity);
            a.0 = a.0.saturating_sub(1);
            *a
        };
        if running > 0 || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let limiter = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(IDLE_REPORT).await;
            if let Some(limiter) = limiter.upgrade()
                && *lock(&limiter.activity) == (0, generation)
            {
                limiter.log_report();
            }
        });
    }

    /// Logs what the calls did since the last report: INFO, or WARN when
    /// UCloud throttled more than a tenth of the requests.
    pub fn log_report(&self) {
        let Some(report) = self.state().take_report() else {
            return;
        };
        let rate = |r: Option<f64>| r.map_or_else(|| "open".to_owned(), |r| format!("{r:.1}/s"));
        let waited = humantime::format_duration(Duration::from_millis(
            u64::try_from(report.waited.as_millis()).unwrap_or(u64::MAX),
        ))
        .to_string();
        let (lowest, highest) = (rate(report.lowest), rate(report.highest));
        let share = report.throttled_share() * 100.0;
        if report.throttled_share() > 0.1 {
            tracing::warn!(
                target: "tpu::ucloud",
                endpoint = %self.label, requests = report.requests, throttled = report.throttled,
                lowest_rate = %lowest, highest_rate = %highest, waited = %waited,
                "UCloud throttled {share:.0} % of {} requests; other users of the key share its quota (a \
                 ceiling on this provider's request rate leaves them room)",
                report.requests
            );
        } else {
            tracing::info!(
                target: "tpu::ucloud",
                endpoint = %self.label, requests = report.requests, throttled = report.throttled,
                lowest_rate = %lowest, highest_rate = %highest, waited = %waited,
                "UCloud requests: {} sent, {} throttled ({share:.0} %), rate {lowest} to {highest}, {waited} spent \
                 waiting",
                report.requests, report.throttled
            );
        }
    }
}

/// A call in progress (see [`Limiter::active`]).
pub struct ActiveCall {
    limiter: Arc<Limiter>,
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.limiter.call_ended();
    }
}

impl Drop for Limiter {
    /// The last client of the endpoint and key is gone (the provider is
    /// shutting down): what is left unreported is reported now.
    fn drop(&mut self) {
        self.log_report();
    }
}

/// Logs the report of every limiter of the process (at exit).
pub fn log_reports() {
    let live: Vec<Arc<Limiter>> = lock(registry()).values().filter_map(Weak::upgrade).collect();
    for limiter in live {
        limiter.log_report();
    }
}

#[cfg(test)]
mod tests;
