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
//! Two floors stand beside the wall times. Imports stay `Making` for
//! `--making-time`, so apply cannot beat `ceil(count / parallelism) *
//! making-time`, the floor the done-when figures refer to. And the
//! provider's client-side rate limit (`max_requests_per_second`, default
//! 10) lets a burst of that many requests go at once and the rest at that
//! rate, so `count` imports (or deletes) cannot leave faster than
//! `(count - burst) / rate`: the rate floor, where it is the larger one.
//!
//! Each cycle (apply, refresh, destroy) runs on a fresh simulator state;
//! figures are medians over a row's cycles (min and max beside the wall
//! times). One untimed cycle of the first row warms up everything first.
//!
//! Options (after `--`; flags this bench does not know are ignored, so
//! `scripts/bench.sh` can pass one argument list to every bench):
//! `--counts 10,50,200` and `--parallelisms 10,50` (the matrix; `--count N`
//! and `--parallelism N` for a single value), `--runs N` cycles per row
//! (default 3 for rows of up to 50 images, 1 above, to keep the whole run to
//! a few minutes), `--schema-runs N` (default 10, 0 to skip),
//! `--making-time DURATION` (default 2s), `--poll-ms N` the provider's tick
//! (`UCLOUD_POLL_INTERVAL_MS`, default 200), `--max-requests-per-second N`
//! the provider's rate limit (default: the provider's own, 0 = off).

#[path = "common/machine.rs"]
mod machine;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::sim::Sim;
use test_support::terraform::Terraform;
use test_support::ucloud::{self, ProviderSettings};
use tpu::ucloud::DEFAULT_MAX_REQUESTS_PER_SECOND;

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
                    let n = number(&arg, args.next(), DEFAULT_MAX_REQUESTS_PER_SECOND as usize);
                    options.max_requests_per_second = Some(u32::try_from(n).unwrap_or(u32::MAX));
                }
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

    /// The provider's rate limit in this run (0 = none).
    fn rate(&self) -> u32 {
        self.max_requests_per_second.unwrap_or(DEFAULT_MAX_REQUESTS_PER_SECOND)
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
/// action), and ids asked for by the DescribeImage calls of each phase.
struct Cycle {
    apply: Duration,
    refresh: Duration,
    destroy: Duration,
    calls: BTreeMap<(&'static str, &'static str), usize>,
    describe_ids: BTreeMap<&'static str, usize>,
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
    let rate = match options.rate() {
        0 => "off".to_owned(),
        n => format!("{n}/s"),
    };
    println!(
        "settings:  making time {}, provider tick {} ms (UCLOUD_POLL_INTERVAL_MS), rate limit {rate} \
         (max_requests_per_second)",
        options.making_time, options.poll_ms
    );

    if options.schema_runs > 0 {
        let schema = schema_runs(options.schema_runs);
        let [median, min, max] = spread(&schema);
        println!(
            "\n| terraform providers schema -json ({} runs) | median | min | max |\n|---|---|---|---|\n| | {median} | {min} | {max} |",
            options.schema_runs
        );
    }

    let sim = Sim::start(&["--making-time", &options.making_time, "--quiet"]);
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

/// How long `count` requests take at least through a rate limit of `rate`
/// per second in bursts of as many; `None` without a limit or when they
/// fit in one burst.
fn rate_floor(count: usize, rate: u32) -> Option<Duration> {
    let queued = count.saturating_sub(rate as usize);
    (rate > 0 && queued > 0).then(|| Duration::from_secs_f64(queued as f64 / f64::from(rate)))
}

/// A working directory whose provider talks to `sim`, with `count` images
/// declared, an empty home and a clean UCloud environment.
fn workspace(sim: &Sim, options: &Options, count: usize) -> Terraform {
    let settings = ProviderSettings {
        max_requests_per_second: options.max_requests_per_second,
        ..ProviderSettings::with_sim_keys()
    };
    let tf = ucloud::workspace(PROVIDER, &sim.url, settings, options.poll_ms);
    tf.write(
        "main.tf",
        &format!(
            r#"resource "ucloud_custom_image" "bench" {{
  count     = {count}
  name      = "bench-${{count.index}}"
  ufile_url = "https://bucket.cn-bj.ufileos.com/images/bench-${{count.index}}.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}}
"#
        ),
    );
    tf
}

/// Apply, refresh-only plan and destroy, each timed and checked, on a
/// simulator emptied first.
fn cycle(sim: &Sim, tf: &Terraform, count: usize, parallelism: usize) -> Cycle {
    sim.reset();
    let parallelism = format!("-parallelism={parallelism}");
    let mut calls = BTreeMap::new();
    let mut describe_ids = BTreeMap::new();
    let mut seen = 0;
    let mut count_calls = |phase: &'static str| {
        let journal = sim.journal();
        for entry in &journal[seen.min(journal.len())..] {
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
