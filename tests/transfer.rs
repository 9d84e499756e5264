//! The upload logic (`ufile::upload`, `ufile::clean`) through the real
//! HTTP store (`UfileClient`) against the simulator's UFile: the ETags the
//! two sides compute must agree, an interrupted upload must be found and
//! resumed through the listings, and clean must leave nothing behind. The
//! fault cases are tested on a store in memory (`ufile::transfer` tests);
//! here only what needs the wire.

use std::sync::Mutex;
use std::time::Duration;

use test_support::sim::Sim;
use tokio_util::sync::CancellationToken;
use tpu::ucloud::ufile::{
    self, Credentials, ObjectRef, Progress, Store, TransferError, UfileClient, UfileClientConfig, UploadRequest,
};
use tpu::ucloud::{Backoff, Secret};

const BUCKET: &str = "images";

fn start(extra: &[&str]) -> (tempfile::TempDir, Sim) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
    let path = dir.path().to_string_lossy().to_string();
    let mut args = vec!["--making-time", "0s", "--ufile-dir", path.as_str()];
    args.extend_from_slice(extra);
    let sim = Sim::start(&args);
    (dir, sim)
}

fn client(sim: &Sim) -> UfileClient {
    UfileClient::new(UfileClientConfig {
        base_url: Some(sim.ufile_url()),
        credentials: Credentials::new(Sim::KEY_PUBLIC, Secret::new(Sim::KEY_PRIVATE)),
        user_agent: "tpu-test".into(),
        backoff: Backoff::none(),
        ..Default::default()
    })
    .unwrap()
}

/// A file of `len` bytes whose 4 MiB blocks all differ.
fn file(len: usize) -> tempfile::NamedTempFile {
    let data: Vec<u8> = (0..len).map(|i| ((i % 251) as u8) ^ ((i >> 22) as u8)).collect();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), data).unwrap();
    f
}

fn request(f: &tempfile::NamedTempFile, key: &str) -> UploadRequest {
    let local = ufile::file_etag(f.path()).unwrap();
    let mut req = UploadRequest::new(f.path(), ObjectRef::new(BUCKET, key), local);
    req.single_put_limit = 1 << 20;
    req
}

fn quiet(_: &Progress) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_makes_the_object_the_file_hashes_to_and_is_not_repeated() {
    let (_dir, sim) = start(&[]);
    let store = client(&sim);
    let f = file((9 << 20) + 4321);
    let req = request(&f, "disks/a.raw");
    let cancel = CancellationToken::new();
    let done = ufile::upload(&store, &req, &cancel, &quiet).await.unwrap();
    assert_eq!((done.parts_sent, done.sent_bytes), (3, req.expected.size));
    let meta = store.head(&req.object, &cancel).await.unwrap().unwrap();
    assert_eq!(meta.etag.as_deref(), Some(req.expected.etag.as_str()));
    assert!(
        req.expected.etag.starts_with("AwAAA"),
        "3 blocks: {}",
        req.expected.etag
    );

    let again = ufile::upload(&store, &req, &cancel, &quiet).await.unwrap();
    assert!(again.reused_object && again.sent_bytes == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_goes_up_in_one_put() {
    let (_dir, sim) = start(&[]);
    let store = client(&sim);
    let f = file(1000);
    let req = request(&f, "small.raw");
    let cancel = CancellationToken::new();
    ufile::upload(&store, &req, &cancel, &quiet).await.unwrap();
    let meta = store.head(&req.object, &cancel).await.unwrap().unwrap();
    assert_eq!((meta.size, meta.etag), (1000, Some(req.expected.etag.clone())));
    assert!(sim.ufile_uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_is_resumed_and_clean_leaves_nothing() {
    let (_dir, sim) = start(&["--ufile-blk-size", "1048576"]);
    let store = client(&sim);
    let f = file((6 << 20) + 1);
    let mut req = request(&f, "disks/b.raw");
    req.concurrency = 1;
    let cancel = CancellationToken::new();
    let stop = Mutex::new(Some(cancel.clone()));
    let after_three = |p: &Progress| {
        if p.parts_done >= 3
            && let Some(token) = stop.lock().unwrap().take()
        {
            token.cancel();
        }
    };
    let err = ufile::upload(&store, &req, &cancel, &after_three).await.unwrap_err();
    let TransferError::Interrupted {
        parts_done,
        parts_total,
        upload_id: Some(id),
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*parts_done, *parts_total), (3, 7));
    assert_eq!(sim.ufile_uploads().len(), 1, "the upload is kept");

    let cancel = CancellationToken::new();
    let done = ufile::upload(&store, &req, &cancel, &quiet).await.unwrap();
    assert_eq!(done.resumed_upload.as_deref(), Some(id.as_str()));
    assert_eq!((done.parts_reused, done.parts_sent), (3, 4));
    let meta = store.head(&req.object, &cancel).await.unwrap().unwrap();
    assert_eq!(meta.etag.as_deref(), Some(req.expected.etag.as_str()));

    // A stray unfinished upload to the same key, then clean.
    store.initiate(&req.object, &cancel).await.unwrap();
    let cleaned = tokio::time::timeout(Duration::from_secs(30), ufile::clean(&store, &req.object, &cancel))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleaned.aborted.len(), 1);
    assert_eq!(store.head(&req.object, &cancel).await.unwrap(), None);
    assert!(sim.ufile_uploads().is_empty());
}
