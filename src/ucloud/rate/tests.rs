//! The limiter's curve and bookkeeping as functions of explicit instants:
//! no clock, no sleeping.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Rounded to hundredths, for tables.
fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn rate(state: &mut State, now: Instant) -> Option<f64> {
    state.advance(now);
    state.rate().map(r2)
}

/// `n` requests sent at once at `at` while open; they leave at once.
fn burst(state: &mut State, n: usize, at: Instant) {
    for _ in 0..n {
        assert_eq!(state.enter(Class::Work, at), Err(Turn::Go));
    }
}

/// Tickets of `class` taken at `at`.
fn queue(state: &mut State, class: Class, n: usize, at: Instant) -> Vec<u64> {
    (0..n)
        .map(|_| match state.enter(class, at) {
            Ok(t) => t,
            Err(turn) => panic!("expected to queue, got {turn:?}"),
        })
        .collect()
}

/// An open state that sent `n` requests at once at `t0`.
fn after_burst(n: usize, t0: Instant) -> State {
    let mut s = State::new(RateLimit::unlimited(), t0);
    burst(&mut s, n, t0);
    s
}

/// A state cut once: 50 sent at t0, 4 accepted, 46 throttled.
fn cut_from_burst(t0: Instant) -> State {
    let mut s = after_burst(50, t0);
    for _ in 0..4 {
        s.answered(t0, false, t0 + ms(10));
    }
    for _ in 0..46 {
        s.answered(t0, true, t0 + ms(20));
    }
    s
}

#[test]
fn the_curve_cuts_to_beta_flattens_at_the_peak_and_then_grows() {
    // (peak, busy seconds since the cut, rate)
    let table = [
        (10.0, 0, 7.0),
        (10.0, 2, 8.4),
        (10.0, 4, 9.27),
        (10.0, 8, 9.95),
        (10.0, 12, 10.01),
        (10.0, 16, 10.39),
        (10.0, 24, 15.98),
        (4.0, 0, 2.8),
        (4.0, 4, 3.86),
        (4.0, 6, 4.0),
        (4.0, 8, 4.4),
        (4.0, 12, 5.2),
        (4.0, 24, 14.57),
        (1.0, 0, 0.7),
        (1.0, 8, 2.3),
        (1.0, 16, 4.39),
        (400.0, 0, 280.0),
        (400.0, 16, 378.96),
        (400.0, 40, 400.12),
    ];
    for (peak, busy, want) in table {
        assert_eq!(r2(recovered_rate(peak, secs(busy))), want, "peak {peak}, {busy} s");
    }
    // Near a small peak the TCP-friendly line rises where the cubic is
    // flat; the lower of two processes sharing a key is back first and
    // then grows by at least as much as the higher: their shares converge.
    let (low, high) = (2.0, 6.0);
    let gain = |peak: f64, t: u64| recovered_rate(peak, secs(t)) - BETA * peak;
    assert!(gain(low, 30) / low > gain(high, 30) / high);
}

#[test]
fn open_until_the_first_throttle() {
    let t0 = Instant::now();
    let mut s = after_burst(200, t0);
    for _ in 0..200 {
        s.answered(t0, false, t0 + ms(5));
    }
    assert_eq!(rate(&mut s, t0 + secs(1)), None);
    assert!(!s.is_paced());
}

#[test]
fn a_wave_of_throttles_cuts_once_to_beta_of_what_ucloud_accepted() {
    let t0 = Instant::now();
    let mut s = cut_from_burst(t0);
    // 4 accepted within the window: 0.7 * 4, not 0.7^46 of anything.
    assert_eq!(rate(&mut s, t0 + ms(20)), Some(2.8));

    // A request sent after the cut and throttled cuts again.
    let after = t0 + ms(30);
    assert!(s.answered(after, true, t0 + ms(40)), "a cut");
    assert_eq!(rate(&mut s, t0 + ms(40)), Some(1.96));
    // Its wave's other answers do not.
    assert!(!s.answered(after, true, t0 + ms(45)), "no second cut");
    assert_eq!(rate(&mut s, t0 + ms(45)), Some(1.96));
}

#[test]
fn late_accepted_answers_of_the_same_wave_raise_the_peak() {
    let t0 = Instant::now();
    let mut s = after_burst(20, t0);
    s.answered(t0, true, t0 + ms(5)); // the first answer back is a throttle
    assert_eq!(rate(&mut s, t0 + ms(5)), Some(MIN_RATE));
    for i in 0..10 {
        s.answered(t0, false, t0 + ms(6 + i));
    }
    assert_eq!(rate(&mut s, t0 + ms(20)), Some(7.0));
}

#[test]
fn the_pace_never_drops_below_the_floor() {
    let t0 = Instant::now();
    let mut s = after_burst(3, t0);
    for i in 0..3u64 {
        // Each throttled request was sent after the previous cut.
        s.answered(t0 + ms(100 * i), true, t0 + ms(100 * i + 50));
    }
    assert_eq!(rate(&mut s, t0 + secs(1)), Some(MIN_RATE));
}

#[test]
fn the_curve_runs_only_while_calls_queue_so_a_quiet_spell_keeps_the_rate() {
    let t0 = Instant::now();
    let mut s = cut_from_burst(t0);
    let cut = t0 + ms(20);
    // A minute of nothing queued (only polls, sent as they come).
    assert_eq!(rate(&mut s, cut + secs(60)), Some(2.8));
    // Then 6 s with calls queued: back at the peak.
    let busy_from = cut + secs(60);
    let tickets = queue(&mut s, Class::Work, 1, busy_from);
    assert_eq!(rate(&mut s, busy_from + secs(6)), Some(4.0));
    s.leave(Class::Work, tickets[0], busy_from + secs(6));
    // Idle again: not collapsed, not grown.
    assert_eq!(rate(&mut s, busy_from + secs(36)), Some(4.0));
}

#[test]
fn a_long_stretch_without_throttling_opens_the_limiter_again() {
    let t0 = Instant::now();
    let mut s = cut_from_burst(t0);
    let last_throttle = t0 + ms(20);
    assert!(s.is_paced());
    assert_eq!(rate(&mut s, last_throttle + OPEN_AFTER - secs(1)), Some(2.8));
    assert_eq!(rate(&mut s, last_throttle + OPEN_AFTER), None);
    assert_eq!(s.enter(Class::Work, last_throttle + OPEN_AFTER), Err(Turn::Go));
}

#[test]
fn paced_calls_leave_one_interval_apart_in_order() {
    let t0 = Instant::now();
    let mut s = State::new(RateLimit::per_second(5), t0);
    let tickets = queue(&mut s, Class::Work, 3, t0);
    assert_eq!(s.turn(Class::Work, tickets[1], t0), Turn::Wait, "not first");
    assert_eq!(s.turn(Class::Work, tickets[0], t0), Turn::Go);
    assert_eq!(s.turn(Class::Work, tickets[1], t0), Turn::At(t0 + ms(200)));
    assert_eq!(s.turn(Class::Work, tickets[1], t0 + ms(200)), Turn::Go);
    assert_eq!(s.turn(Class::Work, tickets[2], t0 + ms(250)), Turn::At(t0 + ms(400)));
    // Idle for long: the next goes at once, with no burst to catch up.
    let later = t0 + secs(10);
    assert_eq!(s.turn(Class::Work, tickets[2], later), Turn::Go);
    let next = queue(&mut s, Class::Work, 1, later);
    assert_eq!(s.turn(Class::Work, next[0], later), Turn::At(later + ms(200)));
}

#[test]
fn the_ceiling_caps_the_adaptive_rate() {
    let t0 = Instant::now();
    let mut s = State::new(RateLimit::per_second(3), t0);
    assert_eq!(rate(&mut s, t0), Some(3.0));
    // Throttled at 3/s with 10 accepted in the window (another user's
    // share counts too): cut to 0.7 of the pace.
    for _ in 0..10 {
        s.answered(t0, false, t0 + ms(10));
    }
    s.answered(t0, true, t0 + ms(20));
    assert_eq!(rate(&mut s, t0 + ms(20)), Some(2.1));
    // Recovery never passes the ceiling.
    let tickets = queue(&mut s, Class::Work, 1, t0 + ms(20));
    assert_eq!(rate(&mut s, t0 + ms(20) + secs(60)), Some(3.0));
    s.leave(Class::Work, tickets[0], t0 + secs(61));
}

#[test]
fn reads_and_work_take_turns_so_neither_starves() {
    let t0 = Instant::now();
    let mut s = cut_from_burst(t0);
    let now = t0 + secs(1);
    // 100 imports queued, then a poll.
    let work = queue(&mut s, Class::Work, 100, now);
    let read = queue(&mut s, Class::Read, 1, now);
    let mut order = Vec::new();
    let mut t = now;
    let mut pending: Vec<(Class, u64)> = work
        .iter()
        .map(|w| (Class::Work, *w))
        .chain(read.iter().map(|r| (Class::Read, *r)))
        .collect();
    while !pending.is_empty() && order.len() < 4 {
        let mut next_at = None;
        let mut went = None;
        for (i, (class, ticket)) in pending.iter().enumerate() {
            match s.turn(*class, *ticket, t) {
                Turn::Go => {
                    went = Some(i);
                    break;
                }
                Turn::At(at) => next_at = Some(at),
                Turn::Wait => {}
            }
        }
        match (went, next_at) {
            (Some(i), _) => order.push(pending.remove(i).0),
            (None, Some(at)) => t = at,
            (None, None) => panic!("nobody may go at {t:?}"),
        }
    }
    assert_eq!(order, [Class::Work, Class::Read, Class::Work, Class::Work]);

    // With polls always waiting, work still gets every other turn.
    let mut s = State::new(RateLimit::per_second(10), t0);
    let reads = queue(&mut s, Class::Read, 3, t0);
    let works = queue(&mut s, Class::Work, 3, t0);
    let mut t = t0;
    let mut order = Vec::new();
    for _ in 0..6 {
        let (class, ticket) = [(Class::Read, &reads), (Class::Work, &works)]
            .into_iter()
            .flat_map(|(c, ts)| ts.iter().map(move |t| (c, *t)))
            .find(|(c, tk)| !matches!(s.turn(*c, *tk, t), Turn::Wait))
            .expect("someone is first");
        if let Turn::At(at) = s.turn(class, ticket, t) {
            t = at;
            assert_eq!(s.turn(class, ticket, t), Turn::Go);
        }
        order.push(class);
    }
    assert_eq!(
        order,
        [
            Class::Read,
            Class::Work,
            Class::Read,
            Class::Work,
            Class::Read,
            Class::Work
        ]
    );
}

#[test]
fn the_report_counts_requests_throttles_rates_and_waiting() {
    let t0 = Instant::now();
    let mut s = cut_from_burst(t0);
    let tickets = queue(&mut s, Class::Work, 2, t0 + ms(20));
    let mut t = t0 + ms(20);
    for ticket in tickets {
        if let Turn::At(at) = s.turn(Class::Work, ticket, t) {
            t = at;
        }
        assert_eq!(s.turn(Class::Work, ticket, t), Turn::Go);
    }
    s.waited(secs(2));
    let report = s.take_report().expect("a report");
    assert_eq!((report.requests, report.throttled), (52, 46));
    // Both left within a second of the cut to 2.8/s, the curve barely risen.
    assert!(report.lowest.is_some_and(|l| l > 2.8), "{report:?}");
    assert!(report.highest.is_some_and(|h| h < 3.1), "{report:?}");
    assert_eq!(report.waited, secs(2));
    assert!(report.throttled_share() > 0.1);
    assert_eq!(s.take_report(), None, "a new report starts empty");
}

#[test]
fn action_names_choose_the_queue() {
    assert_eq!(Class::of("DescribeImage"), Class::Read);
    assert_eq!(Class::of("GetRegion"), Class::Read);
    for work in ["ImportCustomImage", "CopyCustomImage", "TerminateCustomImage"] {
        assert_eq!(Class::of(work), Class::Work, "{work}");
    }
    assert_eq!(RateLimit::per_second(0), RateLimit::unlimited());
    assert_eq!(RateLimit::default(), RateLimit::unlimited());
}
