//! Terraform-level benchmark: `cargo bench --bench terraform` (release build),
//! or `scripts/bench.sh` for every benchmark at once.
//!
//! Measures what a user waits for, with the real `terraform` driving the
//! release provider through a dev override against `ucloud-sim`:
//! `terraform providers schema -json`, then for every row of a matrix (by
//! default 10, 50 and 200 images at `-parallelism` 10 and 50): `terraform
//! apply` of the images, a `terraform plan -refresh-only` of them and
//! `terraform destroy`, and, from the simulator's request journal, the
//! UCloud API calls each phase costs per image by action and the ids each
//! DescribeImage carried.
//!
//! Floors stand beside the wall times. Imports stay `Making` for
//! `--making-time`, so apply cannot beat `ceil(count / parallelism) *
//! making-time`, the floor the done-when figures refer to. With a ceiling
//! (`--max-requests-per-second N`, the provider's `max_requests_per_second`;
//! none by default) `count` imports (or deletes) cannot leave faster than
//! `count / N`: the rate floor, where it is the larger one.
//!
//! Each cycle (apply, refresh, destroy) runs on a fresh simulator state;
//! figures are medians over a row's cycles (min and max beside the wall
//! times). One untimed cycle of the first row warms up everything first.
//! Every apply is checked to have imported each image exactly once.
//!
//! Options (after `--`; flags this bench does not know are ignored, so
//! `scripts/bench.sh` can pass one argument list to every bench):
//! `--counts 10,50,200` and `--parallelisms 10,50` (the matrix; `--count N`
//! and `--parallelism N` for a single value), `--runs N` cycles per row
//! (default 3 for rows of up to 50 images, 1 above, to keep the whole run to
//! a few minutes), `--schema-runs N` (default 10, 0 to skip),
//! `--making-time DURATION` (default 2s), `--poll-ms N` the provider's tick
//! (`UCLOUD_POLL_INTERVAL_MS`, default 200), `--max-requests-per-second N`
//! the provider's ceiling (default none), `--sim-rate-limit N` the
//! simulator throttles each key at N requests per second (`ucloud-sim
//! --rate-limit`; default 0, none), `--limiter off` the provider ignores
//! throttling (`UCLOUD_RATE_LIMITER=off`, the comparison for what the
//! adaptive limiter costs), `--concurrent N` N applies of `count` images
//! each run at the same time on one key (then destroys), timed each.
//!
//! With `--sim-rate-limit`, a third table gives per phase the requests, the
//! share UCloud throttled, and the share of the requests sent 3 s or more
//! after the phase's first import or delete that it throttled (a destroy's
//! refresh runs before, in a provider process of its own).

#[path = "common/machine.rs"]
mod machine;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::sim::{SETTLING, Sim, Throttling, performed_imports};
use test_support::terraform::Terraform;
use test_support::ucloud::{self, ProviderSettings};
use tpu::ucloud::rate::LIMITER_ENV;

/// The provider binary Cargo built for this bench (release profile).
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

/// The actions the journal is broken down by, in table order.
const ACTIONS: [&str; 3] = ["ImportCustomImage", "DescribeImage", "TerminateCustomImage"];

/// The phases of a cycle, in order.
const PHASES: [&str; 3] = ["apply", "plan -refresh-only", "destroy"];

/// Rows of more images than this run one cycle unless `--runs` says otherwise.
const LARGE_ROW: usize = 50;

/// What to run, from the command line.
struct Options {
    runs: Option<usize>,
    schema_runs: usize,
    counts: Vec<usize>,
    parallelisms: Vec<usize>,
    making_time: String,
    poll_ms: u64,
    max_requests_per_second: Option<u32>,
    sim_rate_limit: u32,
    limiter_off: bool,
    concurrent: usize,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            runs: None,
            schema_runs: 10,
            counts: vec![10, 50, 200],
            parallelisms: vec![10, 50],
            making_time: "2s".to_owned(),
            poll_ms: 200,
            max_requests_per_second: None,
            sim_rate_limit: 0,
            limiter_off: false,
            concurrent: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--runs" => options.runs = Some(number(&arg, args.next(), 1).max(1)),
                "--schema-runs" => options.schema_runs = number(&arg, args.next(), options.schema_runs),
                "--count" | "--counts" => options.counts = list(&arg, args.next(), &options.counts),
                "--parallelism" | "--parallelisms" => {
                    options.parallelisms = list(&arg, args.next(), &options.parallelisms);
                }
                "--poll-ms" => options.poll_ms = number(&arg, args.next(), 200).max(1) as u64,
                "--max-requests-per-second" => {
                    let n = number(&arg, args.next(), 0);
                    options.max_requests_per_second = Some(u32::try_from(n).unwrap_or(u32::MAX));
                }
                "--sim-rate-limit" => {
                    options.sim_rate_limit = u32::try_from(number(&arg, args.next(), 0)).unwrap_or(u32::MAX);
                }
                "--limiter" => options.limiter_off = args.next().is_some_and(|v| v == "off"),
                "--concurrent" => options.concurrent = number(&arg, args.next(), 1).max(1),
                "--making-time" => match args.next() {
                    Some(value) if humantime::parse_duration(&value).is_ok() => options.making_time = value,
                    other => eprintln!("--making-time: {other:?} is not a duration like 2s, using 2s"),
                },
                _ => {} // `--bench` from cargo, or another bench's flags
            }
        }
        options
    }

    fn making_time(&self) -> Duration {
        humantime::parse_duration(&self.making_time).unwrap_or(Duration::from_secs(2))
    }

    /// The provider's ceiling in this run (0 = none).
    fn rate(&self) -> u32 {
        self.max_requests_per_second.unwrap_or(0)
    }

    fn runs_for(&self, count: usize) -> usize {
        self.runs.unwrap_or(if count > LARGE_ROW { 1 } else { 3 })
    }
}

/// The number after flag `arg`, or `default` (said so) when there is none.
fn number(arg: &str, value: Option<String>, default: usize) -> usize {
    let value = value.unwrap_or_default();
    value.trim().parse().unwrap_or_else(|_| {
        eprintln!("{arg}: `{value}` is not a number, using {default}");
        default
    })
}

/// The list of positive numbers after flag `arg` (`10,50`), or `default`.
fn list(arg: &str, value: Option<String>, default: &[usize]) -> Vec<usize> {
    let value = value.unwrap_or_default();
    let parsed: Result<Vec<usize>, _> = value.split(',').map(|v| v.trim().parse::<usize>()).collect();
    match parsed {
        Ok(list) if !list.is_empty() && list.iter().all(|n| *n > 0) => list,
        _ => {
            eprintln!("{arg}: `{value}` is not a list of numbers like 10,50, using {default:?}");
            default.to_vec()
        }
    }
}

/// One apply/refresh/destroy cycle: wall times, API calls per (phase,
/// action), ids asked for by the DescribeImage calls of each phase, and
/// what the simulator throttled.
struct Cycle {
    apply: Duration,
    refresh: Duration,
    destroy: Duration,
    calls: BTreeMap<(&'static str, &'static str), usize>,
    describe_ids: BTreeMap<&'static str, usize>,
    throttling: BTreeMap<&'static str, Throttling>,
}

/// `n` of `of`, as a percentage.
fn percent(n: usize, of: usize) -> f64 {
    if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 }
}

/// The cycles of one row of the matrix.
struct Row {
    count: usize,
    parallelism: usize,
    cycles: Vec<Cycle>,
}

fn main() {
    let options = Options::parse();
    let tf_version = Terraform::new(PROVIDER).run(&["version"]);
    println!("provider:  {PROVIDER}");
    println!(
        "terraform: {}",
        tf_version.stdout.lines().next().unwrap_or("unknown version")
    );
    println!("machine:   {}", machine::describe());
    let ceiling = match options.rate() {
        0 => "none".to_owned(),
        n => format!("{n}/s"),
    };
    let sim_limit = match options.sim_rate_limit {
        0 => "none".to_owned(),
        n => format!("{n}/s per key"),
    };
    println!(
        "settings:  making time {}, provider tick {} ms (UCLOUD_POLL_INTERVAL_MS), ceiling {ceiling} \
         (max_requests_per_second), adaptive limiter {}, simulator throttling {sim_limit}",
        options.making_time,
        options.poll_ms,
        if options.limiter_off { "off" } else { "on" }
    );

    if options.schema_runs > 0 {
        let schema = schema_runs(options.schema_runs);
        let [median, min, max] = spread(&schema);
        println!(
            "\n| terraform providers schema -json ({} runs) | median | min | max |\n|---|---|---|---|\n| | {median} | {min} | {max} |",
            options.schema_runs
        );
    }

    let sim_rate = options.sim_rate_limit.to_string();
    let mut sim_args = vec!["--making-time", options.making_time.as_str(), "--quiet"];
    if options.sim_rate_limit > 0 {
        sim_args.extend(["--rate-limit", sim_rate.as_str()]);
    }
    let sim = Sim::start(&sim_args);
    if options.concurrent > 1 {
        concurrent_applies(&sim, &options);
        return;
    }
    let matrix: Vec<(usize, usize)> = options
        .counts
        .iter()
        .flat_map(|c| options.parallelisms.iter().map(move |p| (*c, *p)))
        .collect();
    if let Some((count, parallelism)) = matrix.first() {
        // One untimed cycle warms the page cache, Terraform's plugin loading and the simulator.
        let _ = cycle(&sim, &workspace(&sim, &options, *count), *count, *parallelism);
    }
    let rows: Vec<Row> = matrix
        .iter()
        .map(|&(count, parallelism)| {
            let tf = workspace(&sim, &options, count);
            let runs = options.runs_for(count);
            let cycles = (0..runs)
                .map(|i| {
                    eprintln!(
                        "terraform bench: {count} images, -parallelism={parallelism}, cycle {}/{runs}",
                        i + 1
                    );
                    cycle(&sim, &tf, count, parallelism)
                })
                .collect();
            Row {
                count,
                parallelism,
                cycles,
            }
        })
        .collect();

    print_times(&rows, &options);
    print_calls(&rows);
    if options.sim_rate_limit > 0 {
        print_throttling(&rows);
    }
}

/// What the simulator throttled, per phase.
fn print_throttling(rows: &[Row]) {
    println!(
        "\n| images | -parallelism | phase | requests | throttled | throttled after the first {} s of imports or deletes |",
        SETTLING.as_secs()
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        for phase in PHASES {
            // The first cycle's figures (throttling rows run one cycle).
            let Some(t) = r.cycles.first().and_then(|c| c.throttling.get(phase)) else {
                continue;
            };
            println!(
                "| {} | {} | {phase} | {} | {} ({:.1} %) | {} of {} ({:.1} %) |",
                r.count,
                r.parallelism,
                t.requests,
                t.throttled,
                percent(t.throttled, t.requests),
                t.later_throttled,
                t.later,
                percent(t.later_throttled, t.later)
            );
        }
    }
}

/// `--concurrent N`: N applies of `count` images each on one key at once,
/// each timed from the common start, then N destroys at once.
fn concurrent_applies(sim: &Sim, options: &Options) {
    println!(
        "\n| images each | runs | -parallelism | apply finishing times | slowest / fastest | throttled | destroy \
         finishing times |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &count in &options.counts {
        for &parallelism in &options.parallelisms {
            sim.reset();
            let runs: Vec<Terraform> = (0..options.concurrent)
                .map(|i| {
                    let tf = workspace(sim, options, count);
                    tf.write("main.tf", &ucloud::fleet(&format!("run{i}"), count));
                    tf
                })
                .collect();
            let parallelism_arg = format!("-parallelism={parallelism}");
            let together = |args: &[&str]| -> Vec<Duration> {
                let start = Instant::now();
                std::thread::scope(|s| {
                    let handles: Vec<_> = runs
                        .iter()
                        .map(|tf| {
                            s.spawn(move || {
                                tf.run(args).expect_success();
                                start.elapsed()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| panic!("a run failed")))
                        .collect()
                })
            };
            let applied = together(&["apply", "-auto-approve", &parallelism_arg]);
            let journal = sim.journal();
            assert_eq!(
                performed_imports(&journal),
                count * options.concurrent,
                "each image imported once"
            );
            let throttling = Throttling::of(&journal);
            let destroyed = together(&["destroy", "-auto-approve", &parallelism_arg]);
            assert!(sim.live_ids().is_empty(), "destroy left images behind");
            let ratio = |times: &[Duration]| {
                let max = times.iter().max().copied().unwrap_or_default();
                let min = times.iter().min().copied().unwrap_or_default();
                max.as_secs_f64() / min.as_secs_f64().max(f64::MIN_POSITIVE)
            };
            let list = |times: &[Duration]| times.iter().map(|d| fmt(*d)).collect::<Vec<_>>().join(", ");
            println!(
                "| {count} | {} | {parallelism} | {} | {:.2}x | {} of {} ({:.1} %) | {} |",
                options.concurrent,
                list(&applied),
                ratio(&applied),
                throttling.throttled,
                throttling.requests,
                percent(throttling.throttled, throttling.requests),
                list(&destroyed)
            );
        }
    }
}

/// Wall times against the floors.
fn print_times(rows: &[Row], options: &Options) {
    println!(
        "\n| images | -parallelism | cycles | apply (min-max) | floor (making) | rate floor | apply / floor | \
         plan -refresh-only | destroy (min-max) | rate floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let waves = u32::try_from(r.count.div_ceil(r.parallelism)).unwrap_or(u32::MAX);
        let floor = options.making_time() * waves;
        let rate_floor = rate_floor(r.count, options.rate());
        let apply: Vec<Duration> = r.cycles.iter().map(|c| c.apply).collect();
        let destroy: Vec<Duration> = r.cycles.iter().map(|c| c.destroy).collect();
        let refresh: Vec<Duration> = r.cycles.iter().map(|c| c.refresh).collect();
        let [apply_median, apply_min, apply_max] = spread(&apply);
        let [destroy_median, destroy_min, destroy_max] = spread(&destroy);
        let [refresh_median, ..] = spread(&refresh);
        let ratio = median(&apply).as_secs_f64() / floor.as_secs_f64();
        let rate_cell = rate_floor.map_or_else(|| "-".to_owned(), fmt);
        println!(
            "| {} | {} | {} | {apply_median} ({apply_min}-{apply_max}) | {} | {rate_cell} | {ratio:.2}x | \
             {refresh_median} | {destroy_median} ({destroy_min}-{destroy_max}) | {rate_cell} |",
            r.count,
            r.parallelism,
            r.cycles.len(),
            fmt(floor),
        );
    }
}

/// API calls per image by phase and action, and ids per DescribeImage.
fn print_calls(rows: &[Row]) {
    println!(
        "\n| images | -parallelism | phase | {} | total | ids per DescribeImage |",
        ACTIONS.join(" | ")
    );
    println!("|---|---|---|{}---|---|", "---|".repeat(ACTIONS.len()));
    for r in rows {
        for phase in PHASES {
            let cycles = &r.cycles;
            let per_image = |n: usize| n as f64 / r.count as f64;
            let cells: Vec<String> = ACTIONS
                .iter()
                .map(|a| {
                    let v = median_f64(cycles.iter().map(|c| per_image(calls(c, phase, a))));
                    format!("{v:.2}")
                })
                .collect();
            let total = median_f64(
                cycles
                    .iter()
                    .map(|c| per_image(ACTIONS.iter().map(|a| calls(c, phase, a)).sum())),
            );
            let ids = median_f64(cycles.iter().filter_map(|c| {
                let describes = calls(c, phase, "DescribeImage");
                (describes > 0).then(|| c.describe_ids.get(phase).copied().unwrap_or(0) as f64 / describes as f64)
            }));
            println!(
                "| {} | {} | {phase} | {} | {total:.2} | {ids:.1} |",
                r.count,
                r.parallelism,
                cells.join(" | ")
            );
        }
    }
}

fn calls(c: &Cycle, phase: &str, action: &str) -> usize {
    c.calls
        .iter()
        .find(|((p, a), _)| *p == phase && *a == action)
        .map_or(0, |(_, n)| *n)
}

/// How long `count` requests take at least under a ceiling of `rate` per
/// second (evenly spaced); `None` without a ceiling.
fn rate_floor(count: usize, rate: u32) -> Option<Duration> {
    (rate > 0 && count > 1).then(|| Duration::from_secs_f64((count - 1) as f64 / f64::from(rate)))
}

/// A working directory whose provider talks to `sim`, with `count` images
/// declared, an empty home and a clean UCloud environment.
fn workspace(sim: &Sim, options: &Options, count: usize) -> Terraform {
    let settings = ProviderSettings {
        max_requests_per_second: options.max_requests_per_second,
        ..ProviderSettings::with_sim_keys()
    };
    let mut tf = ucloud::workspace(PROVIDER, &sim.url, settings, options.poll_ms);
    if options.limiter_off {
        tf.env(LIMITER_ENV, "off");
    }
    tf.write("main.tf", &ucloud::fleet("bench", count));
    tf
}

/// Apply, refresh-only plan and destroy, each timed and checked, on a
/// simulator emptied first.
fn cycle(sim: &Sim, tf: &Terraform, count: usize, parallelism: usize) -> Cycle {
    sim.reset();
    let parallelism = format!("-parallelism={parallelism}");
    let mut calls = BTreeMap::new();
    let mut describe_ids = BTreeMap::new();
    let mut throttling = BTreeMap::new();
    let mut seen = 0;
    let mut count_calls = |phase: &'static str| {
        let journal = sim.journal();
        let entries = &journal[seen.min(journal.len())..];
        throttling.insert(phase, Throttling::of(entries));
        if phase == "apply" {
            assert_eq!(performed_imports(entries), count, "each image imported once");
        }
        for entry in entries {
            if let Some(action) = ACTIONS.iter().find(|a| entry["Action"] == **a) {
                *calls.entry((phase, *action)).or_insert(0) += 1;
            }
            if let Some(ids) = entry["IdCount"].as_u64() {
                *describe_ids.entry(phase).or_insert(0) += usize::try_from(ids).unwrap_or(0);
            }
        }
        seen = journal.len();
    };

    let (out, apply) = timed(|| tf.run(&["apply", "-auto-approve", &parallelism]));
    out.expect_success();
    count_calls("apply");
    let available = sim.live_images().iter().filter(|i| i["State"] == "Available").count();
    assert_eq!(available, count, "apply should leave every image Available");

    let (out, refresh) = timed(|| tf.run(&["plan", "-refresh-only", &parallelism]));
    out.expect_success();
    assert!(
        out.stdout.contains("No changes."),
        "the refresh should find every image as created\n{out}"
    );
    count_calls("plan -refresh-only");

    let (out, destroy) = timed(|| tf.run(&["destroy", "-auto-approve", &parallelism]));
    out.expect_success();
    count_calls("destroy");
    let live: Vec<Value> = sim.live_images();
    assert!(live.is_empty(), "destroy left {} images", live.len());

    Cycle {
        apply,
        refresh,
        destroy,
        calls,
        describe_ids,
        throttling,
    }
}

/// Wall time of `terraform providers schema -json` through the dev override.
fn schema_runs(runs: usize) -> Vec<Duration> {
    let tf = Terraform::new(PROVIDER);
    tf.write(
        "main.tf",
        "terraform {\n  required_providers {\n    ucloud = { source = \"ucloud-rs/ucloud\" }\n  }\n}\n",
    );
    tf.run(&["providers", "schema", "-json"]).expect_success(); // warm-up
    (0..runs)
        .map(|_| {
            let (out, elapsed) = timed(|| tf.run(&["providers", "schema", "-json"]));
            out.expect_success();
            elapsed
        })
        .collect()
}

/// What `f` returned and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// `[median, min, max]`, formatted.
fn spread(samples: &[Duration]) -> [String; 3] {
    let min = samples.iter().min().copied().unwrap_or_default();
    let max = samples.iter().max().copied().unwrap_or_default();
    [fmt(median(samples)), fmt(min), fmt(max)]
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn median_f64(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}
