//! Upload benchmark: `cargo bench --bench upload` (release build).
//!
//! What a user uploading a local image file feels, against `ucloud-sim`
//! playing UFile on loopback (run inside the bench process, parts spooled to
//! disk, UFile's 4 MiB parts):
//!
//! 1. Throughput: a file (default 2 GiB) uploaded by the provider's transfer
//!    code at concurrency 1, 4 and 8, beside one raw streamed PUT of the
//!    same file to the same simulator in the same run: the ceiling of the
//!    loopback, the disk and the simulator together.
//! 2. Memory: `terraform apply` of an image from a local file (default 1 GiB
//!    and 4 GiB, concurrency 4), the provider's peak RSS (VmHWM) over its RSS
//!    when idle, against the bound `2 x C x B + 16 MiB`.
//! 3. Requests by kind for each apply, from the simulator's counters.
//!
//! Options (after `--`): `--upload-mib N` (default 2048), `--concurrencies
//! 1,4,8`, `--rss-mib 1024,4096` (0 skips it), `--runs N` (default 1).

#[path = "common/machine.rs"]
mod machine;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::images::write_qcow2;
use test_support::sim::Sim;
use test_support::terraform::descendants_named;
use test_support::ucloud::{self, ProviderSettings};
use tokio_util::sync::CancellationToken;
use tpu::ucloud::Secret;
use tpu::ucloud::ufile::{
    self as transfer, Credentials, ObjectRef, Store, UfileClient, UfileClientConfig, UploadRequest, file_etag,
};

const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");
const MIB: u64 = 1 << 20;
/// UFile's part size.
const BLK: u64 = 4 * MIB;
const BUCKET: &str = "bench";

struct Options {
    upload_mib: u64,
    concurrencies: Vec<usize>,
    rss_mib: Vec<u64>,
    runs: usize,
}

fn list<T: std::str::FromStr>(v: Option<String>, default: Vec<T>) -> Vec<T> {
    v.map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect::<Vec<T>>())
        .filter(|l| !l.is_empty())
        .unwrap_or(default)
}

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            upload_mib: 2048,
            concurrencies: vec![1, 4, 8],
            rss_mib: vec![1024, 4096],
            runs: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--upload-mib" => o.upload_mib = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.upload_mib),
                "--concurrencies" => o.concurrencies = list(args.next(), o.concurrencies),
                "--rss-mib" => o.rss_mib = list(args.next(), o.rss_mib),
                "--runs" => o.runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(1usize).max(1),
                _ => {} // cargo's `--bench`, or another bench's flags
            }
        }
        o
    }
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

fn client(sim: &Sim) -> UfileClient {
    UfileClient::new(UfileClientConfig {
        base_url: Some(sim.ufile_url()),
        credentials: Credentials::new(Sim::KEY_PUBLIC, Secret::new(Sim::KEY_PRIVATE.to_string())),
        user_agent: "upload-bench".into(),
        ..UfileClientConfig::default()
    })
    .expect("a UFile client")
}

/// Deletes everything staged, so each row starts from an empty bucket.
async fn clear(store: &UfileClient, object: &ObjectRef) {
    let _ = transfer::clean(store, object, &CancellationToken::new()).await;
}

fn throughput(options: &Options, sim: &Sim, dir: &Path, runtime: &tokio::runtime::Runtime) {
    let size = options.upload_mib * MIB;
    let path = dir.join("upload.qcow2");
    write_qcow2(&path, size, 1);
    let local = file_etag(&path).expect("the file's ETag");
    let store = Arc::new(client(sim));
    let object = ObjectRef::new(BUCKET, "upload.qcow2");
    println!(
        "\n| {} MiB file, loopback, 4 MiB parts | median time | MiB/s | vs raw PUT |\n|---|---|---|---|",
        options.upload_mib
    );
    let mut raw = Vec::new();
    for _ in 0..options.runs {
        runtime.block_on(clear(&store, &object));
        let started = Instant::now();
        runtime
            .block_on(store.put_file(&object, &path, size, &CancellationToken::new()))
            .expect("the raw PUT");
        raw.push(started.elapsed());
    }
    raw.sort();
    let raw_median = raw[raw.len() / 2];
    println!(
        "| raw single streamed PUT | {:.2} s | {:.0} | 100 % |",
        raw_median.as_secs_f64(),
        mib_s(size, raw_median)
    );
    for &c in &options.concurrencies {
        let mut times = Vec::new();
        for _ in 0..options.runs {
            runtime.block_on(clear(&store, &object));
            let mut request = UploadRequest::new(&path, object.clone(), local.clone());
            request.concurrency = c;
            let started = Instant::now();
            let done = runtime
                .block_on(transfer::upload(
                    store.as_ref(),
                    &request,
                    &CancellationToken::new(),
                    &|_| {},
                ))
                .expect("the upload");
            assert_eq!(done.etag, local.etag);
            times.push(started.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "| transfer, concurrency {c} | {:.2} s | {:.0} | {:.0} % |",
            median.as_secs_f64(),
            mib_s(size, median),
            100.0 * raw_median.as_secs_f64() / median.as_secs_f64()
        );
    }
    runtime.block_on(clear(&store, &object));
    let _ = std::fs::remove_file(&path);
}

/// `VmHWM` and `VmRSS` of `pid`, in KiB.
fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn memory(options: &Options, sim: &Sim) {
    println!(
        "\n| terraform apply from a local file, concurrency 4 | time | provider idle RSS | peak RSS | peak over idle | bound 2 x C x B + 16 MiB | requests by kind |\n|---|---|---|---|---|---|---|"
    );
    let bound_mib = 2 * 4 * BLK / MIB + 16;
    for &mib in options.rss_mib.iter().filter(|&&m| m > 0) {
        sim.reset();
        let tf = ucloud::workspace(PROVIDER, &sim.url, ProviderSettings::with_sim_keys(), 200);
        let path: PathBuf = tf.dir().join("disk.qcow2");
        write_qcow2(&path, mib * MIB, mib);
        tf.write(
            "main.tf",
            &format!(
                "resource \"ucloud_custom_image\" \"disk\" {{\n  name    = \"bench-{mib}\"\n  format  = \"qcow2\"\n  \
                 os_type = \"CentOS\"\n  os_name = \"CentOS 7.6 64位\"\n  source {{\n    path   = \"disk.qcow2\"\n    \
                 bucket = \"{BUCKET}\"\n  }}\n}}\n"
            ),
        );
        // Terraform starts one provider to plan (which reads the file for its
        // ETag) and another to apply: the last is measured from its start.
        let started = Instant::now();
        let child = tf.spawn(&["apply", "-auto-approve"]);
        let mut idle_kb = None;
        let mut peak_kb = 0;
        let mut watched = None;
        while child_running(&child) {
            let providers = descendants_named(child.id(), "terraform-provider-ucloud");
            // The apply's provider is the last one Terraform starts.
            if let Some(&pid) = providers.last() {
                if watched != Some(pid) {
                    watched = Some(pid);
                    idle_kb = None;
                    peak_kb = 0;
                }
                if let Some((hwm, rss)) = memory_kb(pid) {
                    idle_kb.get_or_insert(rss);
                    peak_kb = peak_kb.max(hwm);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("terraform exits");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let took = started.elapsed();
        let idle = idle_kb.unwrap_or(0) as f64 / 1024.0;
        let peak = peak_kb as f64 / 1024.0;
        let requests = sim.ufile_stats()["requests"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!(
            "| {mib} MiB | {:.1} s | {idle:.1} MiB | {peak:.1} MiB | {:.1} MiB | {bound_mib} MiB | {requests} |",
            took.as_secs_f64(),
            peak - idle
        );
        tf.destroy();
    }
}

fn child_running(child: &std::process::Child) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn main() {
    let options = Options::parse();
    println!("machine: {}", machine::describe());
    let buckets = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(buckets.path().join(BUCKET)).expect("bucket");
    let dir = buckets.path().to_string_lossy().into_owned();
    // The raw single PUT of the whole file is the baseline: above UFile's
    // 512 MiB PutFile limit, which the simulator then lifts.
    let sim = Sim::start(&[
        "--making-time",
        "1s",
        "--quiet",
        "--ufile-dir",
        &dir,
        "--ufile-put-limit",
        &(64u64 << 30).to_string(),
    ]);
    let work = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if options.upload_mib > 0 {
        throughput(&options, &sim, work.path(), &runtime);
    }
    if !options.rss_mib.is_empty() {
        memory(&options, &sim);
    }
}
