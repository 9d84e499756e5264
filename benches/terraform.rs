//! Terraform-level benchmark: `cargo bench --bench terraform` (release build),
//! or `scripts/bench.sh` for every benchmark at once.
//!
//! Measures what a user waits for, with the real `terraform` driving the
//! release provider through a dev override against `ucloud-sim`:
//! `terraform providers schema -json`; `terraform apply` of `count` images at
//! `-parallelism`; a `terraform plan -refresh-only` of them; `terraform
//! destroy`; and, from the simulator's request journal, the UCloud API calls
//! each phase costs per image. Imports stay `Making` for `--making-time`, so
//! apply has a floor of `ceil(count / parallelism) * making-time`; the table
//! prints it next to the figure.
//!
//! Each cycle (apply, refresh, destroy) runs on a fresh simulator state;
//! figures are medians over the cycles (min and max beside them).
//!
//! Options (after `--`; flags this bench does not know are ignored, so
//! `scripts/bench.sh` can pass one argument list to every bench):
//! `--runs N` apply/refresh/destroy cycles (default 5), `--schema-runs N`
//! (default 10, 0 to skip), `--count N` images (default 50), `--parallelism N`
//! (default 10), `--making-time DURATION` (default 2s), `--poll-ms N` first
//! poll delay of the provider (default 200).

#[path = "common/machine.rs"]
mod machine;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::sim::Sim;
use test_support::terraform::Terraform;
use test_support::ucloud;

/// The provider binary Cargo built for this bench (release profile).
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

/// The actions the journal is broken down by, in table order.
const ACTIONS: [&str; 3] = ["ImportCustomImage", "DescribeImage", "TerminateCustomImage"];

/// What to run, from the command line.
struct Options {
    runs: usize,
    schema_runs: usize,
    count: usize,
    parallelism: usize,
    making_time: String,
    poll_ms: u64,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            runs: 5,
            schema_runs: 10,
            count: 50,
            parallelism: 10,
            making_time: "2s".to_owned(),
            poll_ms: 200,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = |default: usize| {
                let value = args.next().unwrap_or_default();
                value.parse().unwrap_or_else(|_| {
                    eprintln!("{arg}: `{value}` is not a number, using {default}");
                    default
                })
            };
            match arg.as_str() {
                "--runs" => options.runs = number(options.runs).max(1),
                "--schema-runs" => options.schema_runs = number(options.schema_runs),
                "--count" => options.count = number(options.count).max(1),
                "--parallelism" => options.parallelism = number(options.parallelism).max(1),
                "--poll-ms" => options.poll_ms = number(options.poll_ms as usize).max(1) as u64,
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
}

/// One apply/refresh/destroy cycle: wall times and API calls per action.
struct Cycle {
    apply: Duration,
    refresh: Duration,
    destroy: Duration,
    calls: BTreeMap<(&'static str, &'static str), usize>,
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

    let mut rows: Vec<[String; 4]> = Vec::new();
    if options.schema_runs > 0 {
        let schema = schema_runs(options.schema_runs);
        rows.push(row(
            format!("terraform providers schema -json ({} runs)", options.schema_runs),
            &schema,
        ));
    }

    let sim = Sim::start(&["--making-time", &options.making_time, "--quiet"]);
    let tf = workspace(&sim, &options);
    // One untimed cycle warms the page cache, Terraform's plugin loading and the simulator.
    let _ = cycle(&sim, &tf, &options);
    let cycles: Vec<Cycle> = (0..options.runs)
        .map(|i| {
            eprintln!("terraform bench: cycle {}/{}", i + 1, options.runs);
            cycle(&sim, &tf, &options)
        })
        .collect();

    let count = options.count;
    let waves = count.div_ceil(options.parallelism) as u32;
    let floor = options.making_time() * waves;
    rows.push(row(
        format!(
            "terraform apply, {count} images, -parallelism={} (floor {} = {waves} x {} making time)",
            options.parallelism,
            secs(floor),
            options.making_time
        ),
        &cycles.iter().map(|c| c.apply).collect::<Vec<_>>(),
    ));
    rows.push(row(
        format!("terraform plan -refresh-only, {count} images"),
        &cycles.iter().map(|c| c.refresh).collect::<Vec<_>>(),
    ));
    rows.push(row(
        format!("terraform destroy, {count} images"),
        &cycles.iter().map(|c| c.destroy).collect::<Vec<_>>(),
    ));

    println!(
        "\n| measure (median of {} cycles; {count} images; making time {}; first poll {} ms) | median | min | max |",
        options.runs, options.making_time, options.poll_ms
    );
    println!("|---|---|---|---|");
    for [name, median, min, max] in &rows {
        println!("| {name} | {median} | {min} | {max} |");
    }

    println!(
        "\n| UCloud API calls per image (median of {} cycles) | {} | total |",
        options.runs,
        ACTIONS.join(" | ")
    );
    println!("|---|{}---|", "---|".repeat(ACTIONS.len()));
    for phase in ["apply", "plan -refresh-only", "destroy"] {
        let per_image: Vec<f64> = ACTIONS
            .iter()
            .map(|action| median_f64(cycles.iter().map(|c| per(c.calls.get(&(phase, *action)), count))))
            .collect();
        let total = median_f64(cycles.iter().map(|c| {
            let n: usize = ACTIONS.iter().filter_map(|a| c.calls.get(&(phase, *a))).sum();
            n as f64 / count as f64
        }));
        let cells: Vec<String> = per_image.iter().map(|v| format!("{v:.2}")).collect();
        println!("| {phase} | {} | {total:.2} |", cells.join(" | "));
    }
}

/// A working directory whose provider talks to `sim`, with `count` images
/// declared, an empty home and a clean UCloud environment.
fn workspace(sim: &Sim, options: &Options) -> Terraform {
    let tf = ucloud::workspace(PROVIDER, sim, None, options.poll_ms);
    tf.write(
        "main.tf",
        &format!(
            r#"resource "ucloud_custom_image" "bench" {{
  count     = {}
  name      = "bench-${{count.index}}"
  ufile_url = "https://bucket.cn-bj.ufileos.com/images/bench-${{count.index}}.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}}
"#,
            options.count
        ),
    );
    tf
}

/// Apply, refresh-only plan and destroy, each timed and checked, on a
/// simulator emptied first.
fn cycle(sim: &Sim, tf: &Terraform, options: &Options) -> Cycle {
    sim.reset();
    let parallelism = format!("-parallelism={}", options.parallelism);
    let mut calls = BTreeMap::new();
    let mut seen = 0;
    let mut count_calls = |phase: &'static str| {
        let journal = sim.journal();
        for entry in &journal[seen.min(journal.len())..] {
            if let Some(action) = ACTIONS.iter().find(|a| entry["Action"] == **a) {
                *calls.entry((phase, *action)).or_insert(0) += 1;
            }
        }
        seen = journal.len();
    };

    let (out, apply) = timed(|| tf.run(&["apply", "-auto-approve", &parallelism]));
    out.expect_success();
    count_calls("apply");
    let available = sim.live_images().iter().filter(|i| i["State"] == "Available").count();
    assert_eq!(available, options.count, "apply should leave every image Available");

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

/// `[name, median, min, max]`.
fn row(name: String, samples: &[Duration]) -> [String; 4] {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let median = sorted[(sorted.len() - 1) / 2];
    let fmt = |d: Duration| {
        if d < Duration::from_secs(1) {
            format!("{:.0} ms", d.as_secs_f64() * 1000.0)
        } else {
            secs(d)
        }
    };
    [name, fmt(median), fmt(sorted[0]), fmt(sorted[sorted.len() - 1])]
}

fn per(calls: Option<&usize>, count: usize) -> f64 {
    calls.copied().unwrap_or(0) as f64 / count as f64
}

fn median_f64(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
