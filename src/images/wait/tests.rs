//! Unit tests of the waiter and its batch poller, without HTTP: a fake
//! describe source records every call (when, which ids) and answers from a
//! table of images whose states change at set instants. Time is tokio's
//! paused clock, so every instant below is exact.

use super::*;
use crate::images::batch::{Goal, Span};
use crate::images::{DescribeIds, Location};
use crate::ucloud::{Client, ClientConfig};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

const TICK: Duration = Duration::from_secs(1);
const FIRST_LOOK: Duration = Duration::from_millis(400);
const GATHER: Duration = Duration::from_millis(20);

fn schedule() -> PollSchedule {
    PollSchedule::default()
}

/// One DescribeImage the fake answered: when, where, which ids.
#[derive(Clone, Debug)]
struct Call {
    at: Duration,
    region: String,
    ids: Vec<String>,
}

/// An image of the fake: `Making` until `ready`, then `state`; none once
/// `gone` has passed.
#[derive(Clone)]
struct FakeImage {
    ready: Duration,
    state: &'static str,
    gone: Option<Duration>,
}

/// UCloud as the poller sees it.
struct Fake {
    start: Instant,
    images: Mutex<HashMap<String, FakeImage>>,
    /// Answers given instead of the images, per region, one per call.
    failures: Mutex<HashMap<String, VecDeque<ApiError>>>,
    calls: Mutex<Vec<Call>>,
    /// How long one call takes.
    latency: Duration,
    /// What [`DescribeIds::paced`] answers.
    paced: std::sync::atomic::AtomicBool,
}

impl Fake {
    fn new(images: &[(&str, Duration, &'static str)]) -> Arc<Fake> {
        let images = images
            .iter()
            .map(|(id, ready, state)| {
                let image = FakeImage {
                    ready: *ready,
                    state,
                    gone: None,
                };
                (id.to_string(), image)
            })
            .collect();
        Arc::new(Fake {
            start: Instant::now(),
            images: Mutex::new(images),
            failures: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            latency: Duration::from_millis(50),
            paced: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn fail_next(&self, region: &str, errors: impl IntoIterator<Item = ApiError>) {
        let mut failures = self.failures.lock().expect("lock");
        failures.entry(region.to_string()).or_default().extend(errors);
    }

    fn delete_at(&self, id: &str, at: Duration) {
        if let Some(i) = self.images.lock().expect("lock").get_mut(id) {
            i.gone = Some(at);
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }
}

#[async_trait]
impl DescribeIds for Fake {
    async fn describe(
        &self,
        loc: &Location,
        ids: &[String],
        cancel: &CancellationToken,
    ) -> Result<Vec<Image>, ApiError> {
        let at = self.start.elapsed();
        self.calls.lock().expect("lock").push(Call {
            at,
            region: loc.region.clone(),
            ids: ids.to_vec(),
        });
        tokio::select! {
            _ = cancel.cancelled() => return Err(ApiError::Cancelled { action: "DescribeImage", outcome_unknown: false }),
            _ = tokio::time::sleep(self.latency) => {}
        }
        let failure = self
            .failures
            .lock()
            .expect("lock")
            .get_mut(&loc.region)
            .and_then(VecDeque::pop_front);
        if let Some(e) = failure {
            return Err(e);
        }
        let images = self.images.lock().expect("lock");
        Ok(ids
            .iter()
            .filter_map(|id| {
                let i = images.get(id)?;
                if i.gone.is_some_and(|g| at >= g) {
                    return None;
                }
                let state = if at >= i.ready { i.state } else { "Making" };
                Some(Image {
                    image_id: id.clone(),
                    state: state.to_string(),
                    ..Image::default()
                })
            })
            .collect())
    }

    fn paced(&self) -> bool {
        self.paced.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn throttled() -> ApiError {
    ApiError::Api {
        action: "DescribeImage",
        ret_code: 153,
        message: "Request throttled".into(),
        http_status: 200,
        request_id: None,
    }
}

/// A client that is never called: the waiter's source is the fake.
fn client() -> Client {
    Client::new(ClientConfig {
        base_url: "http://127.0.0.1:9".into(),
        ..ClientConfig::default()
    })
    .expect("a client")
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

fn state(s: &Settled) -> String {
    match s {
        Settled::Available(i) | Settled::Unavailable(i) | Settled::Unexpected(i) => i.state.clone(),
        Settled::Gone => "gone".into(),
        Settled::Halted(h, last) => format!("{h:?} ({last})"),
        Settled::Failed(e, last) => format!("failed ({last}): {e}"),
    }
}

#[tokio::test(start_paused = true)]
async fn waits_started_together_share_one_call_per_tick() {
    let fake = Fake::new(&[
        ("uimage-a", secs(2.0), "Available"),
        ("uimage-b", secs(2.0), "Available"),
        ("uimage-c", secs(3.5), "Unavailable"),
    ]);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let cancel = CancellationToken::new();
    let (a, b, c) = tokio::join!(
        waiter.until_settled(&api, &cancel, "uimage-a", far(), "Making"),
        waiter.until_settled(&api, &cancel, "uimage-b", far(), "Making"),
        waiter.until_settled(&api, &cancel, "uimage-c", far(), "Making"),
    );
    assert_eq!(
        [state(&a), state(&b), state(&c)],
        ["Available", "Available", "Unavailable"]
    );

    let calls = fake.calls();
    let at: Vec<u128> = calls.iter().map(|c| c.at.as_millis()).collect();
    // A first look soon after the import, then one steady tick after each
    // answer. a and b were seen done at 2.55 s, after a look at 1.45 s saw
    // them pending: such waits take 1.45-2.55 s here, so c, pending at
    // 2.5 s, is looked at once more by the end of that span (with its
    // margin), then it is back on ticks.
    assert_eq!(at, vec![400, 1450, 2500, 2600, 3650], "{calls:?}");
    let sizes: Vec<usize> = calls.iter().map(|c| c.ids.len()).collect();
    assert_eq!(sizes, vec![3, 3, 3, 1, 1], "settled images leave the batch: {calls:?}");
    assert_eq!(calls[0].ids, ["uimage-a", "uimage-b", "uimage-c"]);
    assert!(waiter.inner.batches.sizes().is_empty(), "nobody waits any more");
}

/// Waits in `cn-bj2`, one per `(id, joins at, done at)`, each for an
/// import (`Making` until done); when each ended, in joining order.
async fn waves(waiter: &Waiter, fake: &Arc<Fake>, waits: &[(&str, f64, f64)]) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for (id, joins, done) in waits {
        let image = FakeImage {
            ready: secs(*done),
            state: "Available",
            gone: None,
        };
        fake.images.lock().expect("lock").insert(id.to_string(), image);
        let (waiter, fake, id, joins) = (waiter.clone(), fake.clone(), id.to_string(), *joins);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(fake.start + secs(joins)).await;
            let client = client();
            let api = ImageApi::new(&client, Location::new("cn-bj2", None));
            let settled = waiter
                .until_settled(&api, &CancellationToken::new(), &id, far(), "Making")
                .await;
            assert_eq!(state(&settled), "Available", "{id}");
            fake.start.elapsed()
        }));
    }
    let mut ends = Vec::new();
    for task in tasks {
        ends.push(task.await.expect("the wait ended"));
    }
    ends
}

#[tokio::test(start_paused = true)]
async fn waves_of_imports_are_noticed_within_a_step_of_settling_once_the_location_learned_how_long_they_take() {
    // Every import takes 2 s. Wave 1 joins at 0 s; waves 2 and 3 when the
    // one before ended (as Terraform's -parallelism does).
    let fake = Fake::new(&[]);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let loc = Location::new("cn-bj2", None);
    let goal = Goal::Leaves("Making".into());
    let calls_from = |n: usize| -> Vec<u128> { fake.calls()[n..].iter().map(|c| c.at.as_millis()).collect() };

    let ends = waves(&waiter, &fake, &[("uimage-a1", 0.0, 2.0), ("uimage-a2", 0.0, 2.0)]).await;
    // Ticks at 0.4, 1.45, 2.5 s (each call takes 50 ms): seen done at 2.55 s.
    assert_eq!(ends, [secs(2.55); 2]);
    let span = waiter.inner.batches.span(&loc, &goal).expect("learned");
    assert_eq!((span.lo, span.hi), (secs(1.45), secs(2.55)));

    // b2 joins 0.1 s after b1. Without the span they would be looked at
    // 3.05, 4.1, 5.15 s: both done at 5.2 s. With it, their windows open
    // 1.45 s after they joined (4.0 and 4.1 s; one call takes both, as it
    // took both first looks) and they are looked at every quarter tick.
    let ends = waves(&waiter, &fake, &[("uimage-b1", 2.55, 4.55), ("uimage-b2", 2.65, 4.65)]).await;
    assert_eq!(ends, [secs(4.75); 2]);
    assert_eq!(calls_from(3), [3050, 4100, 4400, 4700]);
    let span = waiter.inner.batches.span(&loc, &goal).expect("learned");
    // Both were still pending at 4.4 s.
    assert_eq!((span.lo, span.hi), (secs(1.85), secs(2.1)), "narrowed by wave 2");

    // c1's window, 6.85-7.15 s, is narrower than two steps: after the
    // first look (5.4 s) and a tick (6.45 s), one look at its end, 0.35 s
    // sooner than the tick at 7.5 s.
    let ends = waves(&waiter, &fake, &[("uimage-c1", 5.0, 7.0)]).await;
    assert_eq!(ends, [secs(7.2)]);
    assert_eq!(calls_from(7), [5400, 6450, 7150]);
}

#[tokio::test(start_paused = true)]
async fn while_calls_are_paced_waits_keep_to_their_ticks() {
    let fake = Fake::new(&[]);
    fake.paced.store(true, std::sync::atomic::Ordering::Relaxed);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    waves(&waiter, &fake, &[("uimage-a1", 0.0, 2.0)]).await;
    assert!(
        waiter
            .inner
            .batches
            .span(&Location::new("cn-bj2", None), &Goal::Leaves("Making".into()))
            .is_some()
    );
    // The window (4.0-5.15 s) is learned but not looked in: a window look
    // would take a turn from an import at the limiter.
    let ends = waves(&waiter, &fake, &[("uimage-b1", 2.55, 4.55)]).await;
    assert_eq!(ends, [secs(5.1)]);
    let at: Vec<u128> = fake.calls()[3..].iter().map(|c| c.at.as_millis()).collect();
    assert_eq!(at, [2950, 4000, 5050]);
}

#[tokio::test(start_paused = true)]
async fn a_deletion_learns_apart_from_an_import_and_a_single_look_learns_nothing() {
    let fake = Fake::new(&[
        ("uimage-a", secs(0.0), "Available"),
        ("uimage-b", secs(0.0), "Available"),
    ]);
    fake.delete_at("uimage-a", secs(0.0));
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let loc = Location::new("cn-bj2", None);
    let api = ImageApi::new(&client, loc.clone());
    let cancel = CancellationToken::new();
    assert!(waiter.look(&api, &cancel, "uimage-b").await.is_ok());
    assert!(waiter.inner.batches.span(&loc, &Goal::Gone).is_none());
    let settled = waiter.until_settled(&api, &cancel, "uimage-b", far(), "Making").await;
    assert_eq!(state(&settled), "Available");
    let import = waiter.inner.batches.span(&loc, &Goal::Leaves("Making".into()));
    assert_eq!(import.map(|s| (s.lo, s.hi)), Some((Duration::ZERO, secs(0.45))));
    assert!(waiter.inner.batches.span(&loc, &Goal::Gone).is_none());
}

#[test]
fn spans_narrow_while_they_overlap_and_start_over_when_they_do_not() {
    let span = |lo: f64, hi: f64| Span {
        lo: secs(lo),
        hi: secs(hi),
    };
    assert_eq!(span(1.0, 3.0).narrowed(span(2.0, 4.0)), span(2.0, 3.0));
    assert_eq!(span(1.0, 3.0).narrowed(span(1.5, 2.5)), span(1.5, 2.5));
    // A wait that took 5-6 s after ones that took 1-3 s: these differ.
    assert_eq!(span(1.0, 3.0).narrowed(span(5.0, 6.0)), span(5.0, 6.0));
    assert_eq!(span(1.0, 3.0).narrowed(span(3.0, 4.0)), span(3.0, 4.0));
}

#[tokio::test(start_paused = true)]
async fn an_id_in_several_waits_is_asked_once_and_a_late_wait_rides_the_next_tick() {
    let fake = Fake::new(&[
        ("uimage-a", secs(5.0), "Available"),
        ("uimage-b", secs(5.0), "Available"),
    ]);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let cancel = CancellationToken::new();
    let late = async {
        tokio::time::sleep(secs(1.2)).await;
        waiter.until_settled(&api, &cancel, "uimage-b", far(), "Making").await
    };
    let (a1, a2, b) = tokio::join!(
        waiter.until_settled(&api, &cancel, "uimage-a", far(), "Making"),
        waiter.until_settled(&api, &cancel, "uimage-a", far(), "Making"),
        late,
    );
    assert_eq!([state(&a1), state(&a2), state(&b)], ["Available"; 3]);
    let calls = fake.calls();
    assert!(calls.iter().all(|c| c.ids.windows(2).all(|w| w[0] < w[1])), "{calls:?}");
    assert_eq!(calls[0].ids, ["uimage-a"]);
    // b joined at 1.2 s wanting a first look by 1.6 s: the tick due at
    // 1.45 s for a answered it too, and it stayed in step with a.
    assert_eq!(calls[1].at, secs(1.45));
    assert!(
        calls[1..].iter().all(|c| c.ids == ["uimage-a", "uimage-b"]),
        "{calls:?}"
    );
    assert!(
        calls.windows(2).skip(1).all(|w| w[1].at - w[0].at == secs(1.05)),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_or_timed_out_wait_leaves_the_batch_at_once() {
    let fake = Fake::new(&[
        ("uimage-a", secs(600.0), "Available"),
        ("uimage-b", secs(600.0), "Available"),
        ("uimage-c", secs(4.0), "Available"),
    ]);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let (ctrl_c, keep) = (CancellationToken::new(), CancellationToken::new());
    let interrupt = async {
        tokio::time::sleep(secs(1.0)).await;
        ctrl_c.cancel();
    };
    let (a, b, c, ()) = tokio::join!(
        waiter.until_settled(&api, &ctrl_c, "uimage-a", far(), "Making"),
        waiter.until_settled(&api, &keep, "uimage-b", Instant::now() + secs(2.0), "Making"),
        waiter.until_settled(&api, &keep, "uimage-c", far(), "Making"),
        interrupt,
    );
    assert_eq!(state(&a), "Cancelled (Making)");
    assert_eq!(state(&b), "TimedOut (Making)");
    assert_eq!(state(&c), "Available");
    let calls = fake.calls();
    let asked: Vec<(u128, usize)> = calls.iter().map(|c| (c.at.as_millis(), c.ids.len())).collect();
    // a leaves at 1 s (Ctrl-C), b at 2 s (its deadline): neither is asked again.
    assert_eq!(asked, vec![(400, 3), (1450, 2), (2500, 1), (3550, 1), (4600, 1)]);
    assert!(waiter.inner.batches.sizes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_last_wait_to_leave_cancels_the_call_in_flight_and_ends_the_group() {
    let fake = Arc::new(Fake {
        latency: secs(30.0),
        ..Arc::into_inner(Fake::new(&[("uimage-a", secs(600.0), "Available")])).expect("one owner")
    });
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let cancel = CancellationToken::new();
    let wait = waiter.until_settled(&api, &cancel, "uimage-a", Instant::now() + secs(1.0), "Making");
    assert_eq!(state(&wait.await), "TimedOut (Making)");
    tokio::time::sleep(secs(60.0)).await;
    assert_eq!(fake.calls().len(), 1, "the slow call was the only one");
    assert!(waiter.inner.batches.sizes().is_empty());

    // A later wait starts a new group.
    let wait = waiter.until_settled(&api, &cancel, "uimage-a", Instant::now() + secs(0.5), "Making");
    assert_eq!(state(&wait.await), "TimedOut (Making)");
    assert_eq!(fake.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_tick_backs_off_the_whole_location_and_only_it() {
    let fake = Fake::new(&[
        ("uimage-a", secs(20.0), "Available"),
        ("uimage-b", secs(20.0), "Available"),
        ("uimage-h", secs(3.0), "Available"),
    ]);
    // cn-bj2's first two calls are throttled, hk's never.
    fake.fail_next("cn-bj2", [throttled(), throttled()]);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let bj = ImageApi::new(&client, Location::new("cn-bj2", None));
    let hk = ImageApi::new(&client, Location::new("hk", None));
    let cancel = CancellationToken::new();
    let hk_late = async {
        tokio::time::sleep(secs(0.1)).await;
        waiter.until_settled(&hk, &cancel, "uimage-h", far(), "Making").await
    };
    let joins_during_backoff = async {
        tokio::time::sleep(secs(1.0)).await;
        waiter.until_settled(&bj, &cancel, "uimage-b", far(), "Making").await
    };
    let (a, b, h) = tokio::join!(
        waiter.until_settled(&bj, &cancel, "uimage-a", far(), "Making"),
        joins_during_backoff,
        hk_late,
    );
    assert_eq!([state(&a), state(&b), state(&h)], ["Available"; 3]);

    let calls = fake.calls();
    let bj_at: Vec<Duration> = calls.iter().filter(|c| c.region == "cn-bj2").map(|c| c.at).collect();
    let hk_at: Vec<Duration> = calls.iter().filter(|c| c.region == "hk").map(|c| c.at).collect();
    // hk was not throttled: its first look at 0.5 s, then one tick after each answer.
    assert_eq!(hk_at[..3], [secs(0.5), secs(1.55), secs(2.6)], "{calls:?}");
    // cn-bj2: throttled at 0.4 s, paused 2-4 ticks (b's first look, due at
    // 1.4 s, waited too), throttled again, paused 4-8 ticks, then steady.
    let (first, second, third) = (bj_at[0], bj_at[1], bj_at[2]);
    assert_eq!(first, secs(0.4));
    let pause1 = second - (first + secs(0.05));
    let pause2 = third - (second + secs(0.05));
    assert!((TICK * 2..=TICK * 4).contains(&pause1), "{pause1:?}");
    assert!((TICK * 4..=TICK * 8).contains(&pause2), "{pause2:?}");
    assert!(
        bj_at.windows(2).skip(2).all(|w| w[1] - w[0] == TICK + secs(0.05)),
        "steady once answered: {bj_at:?}"
    );
    assert!(
        calls
            .iter()
            .filter(|c| c.region == "cn-bj2")
            .skip(1)
            .all(|c| c.ids.len() == 2)
    );
}

fn server_error() -> ApiError {
    ApiError::Api {
        action: "DescribeImage",
        ret_code: 5000,
        message: "Internal error".into(),
        http_status: 200,
        request_id: None,
    }
}

#[tokio::test(start_paused = true)]
async fn failing_ticks_fail_every_wait_after_max_poll_errors() {
    let fake = Fake::new(&[
        ("uimage-a", secs(600.0), "Available"),
        ("uimage-b", secs(600.0), "Available"),
    ]);
    fake.fail_next("cn-bj2", (0..MAX_POLL_ERRORS).map(|_| server_error()));
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let cancel = CancellationToken::new();
    let (a, b) = tokio::join!(
        waiter.until_settled(&api, &cancel, "uimage-a", far(), "Making"),
        waiter.until_settled(&api, &cancel, "uimage-b", far(), "Making"),
    );
    for s in [&a, &b] {
        assert!(
            matches!(s, Settled::Failed(e, last) if e.ret_code() == Some(5000) && last == "Making"),
            "{s:?}"
        );
    }
    assert_eq!(
        fake.calls().len(),
        MAX_POLL_ERRORS as usize,
        "one call per tick for both waits"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_survives_more_throttled_ticks_in_a_row_than_the_poll_error_limit() {
    let fake = Fake::new(&[("uimage-a", secs(30.0), "Available")]);
    let throttled_ticks = MAX_POLL_ERRORS as usize * 2;
    fake.fail_next("cn-bj2", (0..throttled_ticks).map(|_| throttled()));
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let cancel = CancellationToken::new();
    let settled = waiter.until_settled(&api, &cancel, "uimage-a", far(), "Making").await;
    assert!(matches!(settled, Settled::Available(_)), "{settled:?}");
    assert!(fake.calls().len() > throttled_ticks, "{} calls", fake.calls().len());

    // A wait throttled throughout still ends at its deadline, not before.
    fake.fail_next("cn-bj2", (0..throttled_ticks).map(|_| throttled()));
    let deadline = Instant::now() + secs(20.0);
    let before = Instant::now();
    let settled = waiter
        .until_settled(&api, &cancel, "uimage-a", deadline, "Available")
        .await;
    assert!(
        matches!(&settled, Settled::Halted(Halt::TimedOut, _)),
        "throttled for the whole wait: {settled:?}"
    );
    assert_eq!(Instant::now() - before, secs(20.0));
}

#[tokio::test(start_paused = true)]
async fn an_image_deleted_during_a_batched_wait_is_gone_for_its_wait_only() {
    let fake = Fake::new(&[
        ("uimage-a", secs(8.0), "Available"),
        ("uimage-b", secs(8.0), "Available"),
    ]);
    fake.delete_at("uimage-b", secs(1.0));
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let cancel = CancellationToken::new();
    let (a, b) = tokio::join!(
        waiter.until_settled(&api, &cancel, "uimage-a", far(), "Making"),
        waiter.until_settled(&api, &cancel, "uimage-b", far(), "Making"),
    );
    assert_eq!((state(&a), state(&b)), ("Available".to_string(), "gone".to_string()));
    let calls = fake.calls();
    // b is missing from the answers at 1.45, 2.5 and 3.55 s, then leaves.
    let with_b = calls.iter().filter(|c| c.ids.contains(&"uimage-b".to_string())).count();
    assert_eq!(with_b, 1 + MAX_MISSING_POLLS as usize, "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn unknown_states_are_reported_after_max_unexpected_polls() {
    let fake = Fake::new(&[("uimage-a", secs(0.0), "Frozen")]);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let settled = waiter
        .until_settled(&api, &CancellationToken::new(), "uimage-a", far(), "Making")
        .await;
    assert!(
        matches!(&settled, Settled::Unexpected(i) if i.state == "Frozen"),
        "{settled:?}"
    );
    assert_eq!(fake.calls().len(), MAX_UNEXPECTED_POLLS as usize);
}

#[tokio::test(start_paused = true)]
async fn looks_within_the_gather_window_share_one_call() {
    let fake = Fake::new(&[
        ("uimage-a", secs(0.0), "Available"),
        ("uimage-b", secs(0.0), "Available"),
    ]);
    let waiter = Waiter::with_source(schedule(), fake.clone());
    let client = client();
    let api = ImageApi::new(&client, Location::new("cn-bj2", None));
    let cancel = CancellationToken::new();
    let later = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waiter.look(&api, &cancel, "uimage-b").await
    };
    let (a, missing, b) = tokio::join!(
        waiter.look(&api, &cancel, "uimage-a"),
        waiter.look(&api, &cancel, "uimage-zz"),
        later,
    );
    assert_eq!(a.ok().flatten().map(|i| i.state), Some("Available".to_string()));
    assert!(matches!(missing, Ok(None)), "{missing:?}");
    assert!(b.is_ok_and(|i| i.is_some()));
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].at, GATHER);
    assert_eq!(calls[0].ids, ["uimage-a", "uimage-b", "uimage-zz"]);
}

#[test]
fn the_production_schedule_and_the_testing_knob() {
    let p = PollSchedule::from_env_value(None);
    assert_eq!((p.tick, p.first_look, p.gather), (TICK, FIRST_LOOK, GATHER));
    assert_eq!(p.max_backoff, Duration::from_secs(30));
    let mut d = p.initial;
    let mut seen = vec![d];
    while d < p.max {
        d = p.next(d);
        seen.push(d);
    }
    assert_eq!(seen.first(), Some(&Duration::from_secs(2)));
    assert_eq!(seen.last(), Some(&Duration::from_secs(12)));
    assert!(seen.windows(2).all(|w| w[0] < w[1]));

    let fast = PollSchedule::from_env_value(Some("200"));
    let ms = |d: Duration| d.as_millis();
    assert_eq!(
        [
            fast.tick,
            fast.first_look,
            fast.gather,
            fast.max_backoff,
            fast.initial,
            fast.max
        ]
        .map(ms),
        [200, 200, 20, 6000, 200, 1200]
    );
    assert_eq!(PollSchedule::from_env_value(Some("5")).gather, Duration::from_millis(5));
    assert_eq!(PollSchedule::from_env_value(Some("soon")), PollSchedule::default());
    assert_eq!(PollSchedule::from_env_value(Some("0")), PollSchedule::default());
}

#[test]
fn the_shared_backoff_doubles_with_jitter_up_to_its_cap() {
    let pace = Pace {
        tick: TICK,
        max_backoff: Duration::from_secs(30),
    };
    for _ in 0..200 {
        for (failures, full) in [(1, 4), (2, 8), (3, 16), (4, 30), (40, 30)] {
            let d = super::super::batch::backoff(pace, failures);
            let full = Duration::from_secs(full);
            assert!(d <= full && d >= full / 2, "{failures}: {d:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_stops_on_ctrl_c_and_at_its_deadline() {
    let schedule = PollSchedule {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(2),
        ..PollSchedule::default()
    };
    let cancel = CancellationToken::new();
    let mut open = Poller::new(schedule, Instant::now() + Duration::from_secs(3600));
    assert_eq!(open.pause(&cancel).await, Ok(()));
    cancel.cancel();
    assert_eq!(open.pause(&cancel).await, Err(Halt::Cancelled));

    let mut expired = Poller::new(schedule, Instant::now());
    assert_eq!(expired.pause(&CancellationToken::new()).await, Err(Halt::TimedOut));
}
