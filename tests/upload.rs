//! From a local image file to a custom image in one apply (issue #18), as
//! users meet it: the real `terraform` against `ucloud-sim` playing UFile
//! (uploads spooled to a bucket directory, part size 1 MiB) and UHost. Each
//! test writes a qcow2 of its own into the working directory and reads the
//! simulator's request counters, objects and unfinished uploads: what was
//! sent, what was left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::images::write_qcow2;
use test_support::sim::Sim;
use test_support::terraform::{
    Terraform, Version, descendants_named, flat, signal_group, signal_process, terraform_version,
};
use test_support::ucloud::{self, ProviderSettings};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");
const PROVIDER_NAME: &str = "terraform-provider-ucloud";
const POLL_MS: u64 = 50;
/// The bucket files are staged in.
const BUCKET: &str = "staging";
/// UFile's part size in these tests (UFile's own is 4 MiB).
const BLK: u64 = 1 << 20;
/// Above the provider's one-PUT limit (64 MiB): a multipart upload of 70 parts.
const BIG: u64 = 70 * BLK;
/// Parts in flight by default.
const CONCURRENCY: u64 = 4;
const ADDRESS: &str = "ucloud_custom_image.disk";

/// A simulator with a bucket directory, a working directory talking to it,
/// and the image file in that directory.
struct Setup {
    sim: Sim,
    tf: Terraform,
    file: PathBuf,
    _objects: tempfile::TempDir,
}

impl Setup {
    fn new(size: u64, extra_sim: &[&str]) -> Setup {
        let objects = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(objects.path().join(BUCKET)).expect("bucket");
        let dir = objects.path().to_string_lossy().into_owned();
        let blk = BLK.to_string();
        let mut args = vec!["--making-time", "300ms", "--ufile-dir", &dir, "--ufile-blk-size", &blk];
        args.extend_from_slice(extra_sim);
        let sim = Sim::start(&args);
        let settings = ProviderSettings {
            max_retries: Some(3),
            ..ProviderSettings::with_sim_keys()
        };
        let tf = ucloud::workspace(PROVIDER, &sim.url, settings, POLL_MS);
        let file = tf.dir().join("disk.qcow2");
        write_qcow2(&file, size, 1);
        tf.write("main.tf", &image("qcow2", ""));
        Setup {
            sim,
            tf,
            file,
            _objects: objects,
        }
    }

    /// Requests of `kind` the simulator's UFile received.
    fn count(&self, kind: &str) -> u64 {
        self.sim.ufile_stats()["requests"][kind].as_u64().unwrap_or(0)
    }

    fn bytes_received(&self) -> u64 {
        self.sim.ufile_stats()["bytes_received"].as_u64().unwrap_or(0)
    }

    fn requests(&self) -> Value {
        self.sim.ufile_stats()["requests"].clone()
    }

    /// Panics unless UFile holds no object and no unfinished upload.
    #[track_caller]
    fn nothing_staged(&self) {
        assert_eq!(self.sim.ufile_objects(), Vec::<Value>::new(), "no object left");
        assert_eq!(
            self.sim.ufile_uploads(),
            Vec::<Value>::new(),
            "no unfinished upload left"
        );
    }

    fn imports(&self) -> usize {
        self.sim.count_action("ImportCustomImage")
    }
}

/// The image, from `disk.qcow2` declared as `format`, with `extra` HCL in
/// its `source` block.
fn image(format: &str, extra: &str) -> String {
    image_with(format, "", extra)
}

/// [`image`] with `top` HCL among the resource's own arguments.
fn image_with(format: &str, top: &str, extra: &str) -> String {
    format!(
        r#"resource "ucloud_custom_image" "disk" {{
  name    = "from-disk"
  format  = "{format}"
  os_type = "CentOS"
  os_name = "CentOS 7.6 64位"
{top}  source {{
    path   = "disk.qcow2"
    bucket = "{BUCKET}"
{extra}  }}
}}
"#
    )
}

fn local_etag(path: &Path) -> String {
    tpu::ucloud::ufile::file_etag(path).expect("the file's ETag").etag
}

/// Rewrites `path` in place with other bytes of the same length and puts
/// its modification time back: only a read of the content can tell.
fn change_content_keep_fingerprint(path: &Path, seed: u64) {
    let mtime = std::fs::metadata(path).expect("stat").modified().expect("mtime");
    let size = std::fs::metadata(path).expect("stat").len();
    let other = path.with_extension("other");
    write_qcow2(&other, size, seed);
    // Copy into the same inode.
    std::io::copy(
        &mut std::fs::File::open(&other).expect("open"),
        &mut std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open for writing"),
    )
    .expect("copy");
    std::fs::remove_file(&other).expect("rm");
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(mtime)
        .expect("set mtime");
}

#[test]
fn a_local_file_becomes_an_image_and_plans_read_it_only_when_it_changed() {
    let mut s = Setup::new(BIG, &[]);
    let log = s.tf.log_to_file("trace");
    let out = s.tf.apply();
    out.expect_success();
    // No credential of the upload or the import in Terraform's or the
    // provider's log (TRACE), in its output or in the state.
    let logged = std::fs::read_to_string(&log).expect("the log");
    let state = s.tf.run(&["show", "-json"]).stdout;
    for (text, what) in [(&logged, "log"), (&out.stdout, "output"), (&state, "state")] {
        for secret in ["Signature=", "Authorization: UCloud", Sim::KEY_PRIVATE] {
            assert!(!text.contains(secret), "{secret:?} in the {what}");
        }
    }
    assert!(logged.contains("uploading"), "progress lines at INFO");

    // The image is Available, and nothing is left in UFile.
    let r = s.tf.state_resource(ADDRESS);
    let v = &r["values"];
    assert_eq!(v["status"], "Available", "{v:#}");
    ucloud::assert_exactly_live(&s.tf, &s.sim, 1);
    s.nothing_staged();
    let etag = local_etag(&s.file);
    assert_eq!(v["source"]["etag"], etag.as_str(), "{v:#}");
    assert_eq!(v["source"]["size"], BIG);
    assert_eq!(v["source_size"], BIG);
    let key = format!("terraform-import/{etag}.qcow2");
    assert_eq!(v["source"]["key"], key.as_str());
    assert_eq!(v["ufile_url"], format!("{}/{BUCKET}/{key}", s.sim.ufile_url()).as_str());

    // One request of each kind around the parts, every byte once.
    let parts = BIG.div_ceil(BLK);
    let want = [
        ("HEAD", 1),
        ("ListUploads", 1),
        ("InitiateMultipartUpload", 1),
        ("UploadPart", parts),
        ("FinishMultipartUpload", 1),
        ("DeleteFile", 1),
        ("PutFile", 0),
        ("ListParts", 0),
        ("AbortMultipartUpload", 0),
    ];
    for (kind, n) in want {
        assert_eq!(s.count(kind), n, "{kind}: {:#}", s.requests());
    }
    assert_eq!(s.bytes_received(), BIG);
    assert_eq!(s.imports(), 1);

    // Unchanged: nothing to do.
    s.tf.plan_code().expect_code(0);
    // Other bytes behind the same size, mtime and inode: the plan does not
    // read the file, so it cannot see them.
    let original = std::fs::read(&s.file).expect("read");
    change_content_keep_fingerprint(&s.file, 99);
    assert_ne!(local_etag(&s.file), etag);
    s.tf.plan_code().expect_code(0);
    // Back to the imported bytes, then `touch`: read again, the same ETag.
    std::fs::write(&s.file, &original).expect("restore");
    let later = std::time::SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&s.file)
        .expect("open")
        .set_modified(later)
        .expect("touch");
    s.tf.plan_code().expect_code(0);
    // New content: a replacement.
    write_qcow2(&s.file, BIG, 7);
    let actions = s.tf.planned_actions();
    assert_eq!(actions[ADDRESS], ["delete", "create"], "{actions:?}");
    assert_eq!(
        s.count("PutFile") + s.count("InitiateMultipartUpload"),
        1,
        "plans upload nothing"
    );

    s.tf.destroy().expect_success();
    assert!(s.sim.live_ids().is_empty());
    s.nothing_staged();
}

#[test]
fn a_wrong_format_fails_before_any_byte_is_sent() {
    let s = Setup::new(BIG, &[]);
    s.tf.write("main.tf", &image("RAW", ""));
    let out = s.tf.apply();
    out.expect_code(1);
    let text = flat(&out.stderr);
    assert!(
        text.contains(r#"format is "RAW" but the file is a qcow2 image"#),
        "{out}"
    );
    assert!(text.contains("source.path") || text.contains("disk.qcow2"), "{out}");

    // A gzip file declared qcow2.
    let gz = test_support::images::fixture("gzip");
    std::fs::write(&s.file, gz).expect("write");
    s.tf.write("main.tf", &image("qcow2", ""));
    let out = s.tf.apply();
    out.expect_code(1);
    assert!(flat(&out.stderr).contains("gzip"), "{out}");

    assert_eq!(s.bytes_received(), 0, "{:#}", s.requests());
    for kind in ["PutFile", "InitiateMultipartUpload", "UploadPart"] {
        assert_eq!(s.count(kind), 0, "{kind}");
    }
    assert_eq!(s.imports(), 0);
}

#[test]
fn a_small_file_goes_in_one_put_and_a_kept_object_is_reused() {
    let size = 3 * BLK + 12_345;
    let s = Setup::new(size, &[]);
    s.tf.write("main.tf", &image("qcow2", "    keep_object = true\n"));
    s.tf.apply().expect_success();
    assert_eq!(
        (s.count("HEAD"), s.count("PutFile"), s.count("DeleteFile")),
        (1, 1, 0),
        "{:#}",
        s.requests()
    );
    assert_eq!(s.count("InitiateMultipartUpload") + s.count("ListUploads"), 0);
    assert_eq!(s.sim.ufile_objects().len(), 1, "kept");

    // Destroy keeps it too; the next apply finds it by its ETag: one HEAD, no data.
    s.tf.destroy().expect_success();
    assert_eq!(s.sim.ufile_objects().len(), 1, "kept on destroy");
    let (heads, bytes) = (s.count("HEAD"), s.bytes_received());
    s.tf.apply().expect_success();
    assert_eq!(s.count("HEAD"), heads + 1);
    assert_eq!(s.bytes_received(), bytes, "no data sent again");
    assert_eq!(s.imports(), 2);

    // keep_object = false is no replacement; destroy then removes the object.
    s.tf.write("main.tf", &image("qcow2", ""));
    let actions = s.tf.planned_actions();
    assert_eq!(actions[ADDRESS], ["update"], "{actions:?}");
    s.tf.apply().expect_success();
    s.tf.destroy().expect_success();
    s.nothing_staged();
}

/// The provider processes `terraform` (pid `parent`) runs now.
fn providers_of(parent: u32) -> Vec<u32> {
    descendants_named(parent, PROVIDER_NAME)
}

/// Waits until the simulator has stored at least `parts` parts.
fn wait_for_parts(s: &Setup, parts: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = s.sim.ufile_stats()["parts_stored"].as_u64().unwrap_or(0);
        if stored >= parts {
            return stored;
        }
        assert!(Instant::now() < deadline, "only {stored} parts stored");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_mid_upload_the_next_apply_sends_only_what_is_missing() {
    // 4 MiB/s: the 70 MiB upload takes about 17 s.
    let s = Setup::new(BIG, &[]);
    s.sim.set_ufile_faults(json!({ "bandwidth_bytes_per_sec": 4 * BLK }));
    let child = s.tf.spawn(&["apply", "-auto-approve"]);
    wait_for_parts(&s, 10);
    let providers = providers_of(child.id());
    signal_process(child.id(), "KILL");
    for pid in providers {
        signal_process(pid, "KILL");
    }
    let _ = child.wait_with_output();
    // Parts already on the wire may still land: count after the dust settles.
    std::thread::sleep(Duration::from_millis(500));
    let k = s.sim.ufile_stats()["parts_stored"].as_u64().unwrap_or(0);
    let parts_before = s.count("UploadPart");
    assert_eq!(s.imports(), 0);
    assert_eq!(s.sim.ufile_uploads().len(), 1, "the multipart upload is kept");

    s.sim.set_ufile_faults(json!({ "bandwidth_bytes_per_sec": 0 }));
    s.tf.apply().expect_success();
    let n = BIG.div_ceil(BLK);
    let sent = s.count("UploadPart") - parts_before;
    assert!(
        sent <= n - k + CONCURRENCY,
        "sent {sent} parts after {k} of {n}: {:#}",
        s.requests()
    );
    assert_eq!(s.count("InitiateMultipartUpload"), 1, "resumed, not begun again");
    assert_eq!(s.imports(), 1);
    ucloud::assert_exactly_live(&s.tf, &s.sim, 1);
    s.nothing_staged();
}

#[test]
fn ctrl_c_mid_upload_stops_within_5s_imports_nothing_and_the_next_apply_resumes() {
    let s = Setup::new(BIG, &[]);
    s.sim.set_ufile_faults(json!({ "bandwidth_bytes_per_sec": 4 * BLK }));
    let child = s.tf.spawn(&["apply", "-auto-approve"]);
    wait_for_parts(&s, 8);
    let asked = Instant::now();
    // Ctrl-C in a terminal: SIGINT to the whole process group (the provider
    // ignores it; Terraform asks it to stop).
    signal_group(&child, "INT");
    let out = child.wait_with_output().expect("terraform exits");
    let took = asked.elapsed();
    let stderr = flat(&String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(
        took < Duration::from_secs(5),
        "terraform took {took:?} to stop\n{stderr}"
    );
    // Terraform 1.0 counts a group's SIGINT twice and exits at once, before
    // the provider answers; the upload stops when the provider sees its
    // parent gone.
    if terraform_version() >= Version::parse("1.1.0").expect("a version") {
        assert!(stderr.contains("Upload interrupted"), "{stderr}");
        assert!(stderr.contains("resumes"), "{stderr}");
    }
    assert_eq!(s.imports(), 0);
    assert_eq!(s.sim.ufile_uploads().len(), 1, "the multipart upload is kept");

    let before = s.count("UploadPart");
    s.sim.set_ufile_faults(json!({ "bandwidth_bytes_per_sec": 0 }));
    s.tf.apply().expect_success();
    let n = BIG.div_ceil(BLK);
    assert!(s.count("UploadPart") - before < n, "resumed: {:#}", s.requests());
    assert_eq!(s.imports(), 1);
    s.nothing_staged();
}

#[test]
fn part_errors_resets_a_lost_finish_and_bad_parts_end_in_one_import_of_the_right_bytes() {
    let s = Setup::new(BIG, &[]);
    s.tf.write("main.tf", &image("qcow2", "    keep_object = true\n"));
    s.sim.set_ufile_faults(json!({
        "part_error_rate": 0.2,
        "reset_part_mid_body": 2,
        "lose_finish": 1,
        "corrupt_part_answer": 1,
        "corrupt_part": 1,
    }));
    s.tf.apply().expect_success();
    assert_eq!(s.imports(), 1);
    ucloud::assert_exactly_live(&s.tf, &s.sim, 1);
    // The object is the file, byte for byte.
    let objects = s.sim.ufile_objects();
    assert_eq!(objects.len(), 1, "{objects:#?}");
    let stored = s
        .sim
        .ufile_dir()
        .expect("a bucket directory")
        .join(BUCKET)
        .join(objects[0]["key"].as_str().expect("a key"));
    assert!(
        std::fs::read(&stored).expect("the object") == std::fs::read(&s.file).expect("the file"),
        "the object differs from the file"
    );
    assert!(
        s.count("UploadPart") > BIG.div_ceil(BLK),
        "faulty parts were sent again"
    );
}

#[test]
fn a_failed_import_keeps_the_staged_object_and_the_next_apply_imports_it_without_uploading() {
    let s = Setup::new(3 * BLK, &[]);
    // Declared RAW and not checked: UHost finds a qcow2 and fails the import.
    let key = "    key    = \"images/disk.img\"\n";
    s.tf.write("main.tf", &image_with("RAW", "  verify_source = false\n", key));
    let out = s.tf.apply();
    out.expect_code(1);
    let text = flat(&out.stderr);
    assert!(text.contains("stays at staging/images/disk.img"), "{out}");
    assert_eq!(s.sim.ufile_objects().len(), 1, "the object is kept");
    assert!(s.sim.live_ids().is_empty(), "the failed image was deleted");

    let bytes = s.bytes_received();
    s.tf.write("main.tf", &image_with("qcow2", "", key));
    s.tf.apply().expect_success();
    assert_eq!(s.bytes_received(), bytes, "found by its ETag: nothing sent again");
    ucloud::assert_exactly_live(&s.tf, &s.sim, 1);
    s.nothing_staged();
    s.tf.destroy().expect_success();
}

#[test]
fn two_images_from_one_file_share_one_upload_and_the_last_one_deletes_it() {
    let s = Setup::new(3 * BLK, &[]);
    let second = image("qcow2", "")
        .replace("\"disk\"", "\"again\"")
        .replace("from-disk", "from-disk-again");
    s.tf.write("main.tf", &format!("{}{second}", image("qcow2", "")));
    s.tf.apply().expect_success();
    ucloud::assert_exactly_live(&s.tf, &s.sim, 2);
    assert_eq!(s.count("PutFile"), 1, "one upload: {:#}", s.requests());
    assert_eq!(s.bytes_received(), 3 * BLK);
    assert_eq!(s.imports(), 2);
    s.nothing_staged();
    s.tf.destroy().expect_success();
}
