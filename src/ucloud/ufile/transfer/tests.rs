//! The upload against a store in memory: it keeps objects and unfinished
//! uploads, checks a finish as UFile does (part count, ETags, part sizes),
//! counts calls by kind, bytes received and requests in flight, and injects
//! faults (transient part failures, a lost finish answer, a wrong answered
//! ETag, a corrupted stored part, a wrong final object, requests that hang).
//! Time is tokio's paused clock, so retry pauses and deadlines cost nothing.

use super::*;
use crate::ucloud::ufile::etag::{EtagHasher, file_etag};
use crate::ucloud::ufile::reader::Answer;
use crate::ucloud::ufile::store::{ObjectMeta, Unfinished};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

const BLK: u64 = 64 << 10;
/// Files above this go multipart in these tests.
const PUT_LIMIT: u64 = 100 << 10;

type PartHook = Box<dyn Fn(u32) + Send + Sync>;

#[derive(Default)]
struct Faults {
    /// Every `n`-th UploadPart call fails with a 503.
    fail_every: Option<u32>,
    /// The first finish does its work, then its answer is lost.
    lose_finish: bool,
    /// The first finish fails with a 503 without doing anything.
    refuse_finish: bool,
    /// This part's first send is answered with a wrong ETag.
    wrong_answer_once: Option<u32>,
    /// Every part is answered with a wrong ETag.
    wrong_answer_always: bool,
    /// Every UploadPart fails with this status.
    part_error: Option<u16>,
    /// ListParts shows this part with a wrong ETag.
    corrupt_listed: Option<u32>,
    /// The first finish completes the object but answers 404, as a
    /// client's retry of a finish whose answer was lost meets it.
    finish_then_gone: bool,
    /// UploadPart stores this part with a byte flipped (once) but answers
    /// the ETag of the bytes it was sent: only Finish notices.
    rot_stored: Option<u32>,
    /// UploadPart of this part number (and later ones) never answers.
    hang_from: Option<u32>,
    /// Finish makes an object with another ETag than its parts give.
    wrong_final: bool,
    /// PutFile never answers.
    hang_put: bool,
    /// Every UploadPart takes this long.
    part_delay: Duration,
    /// Called with the part number when UploadPart has stored a part.
    on_part: Option<PartHook>,
}

struct Upload {
    key: String,
    started: u64,
    parts: BTreeMap<u32, Vec<u8>>,
}

#[derive(Default)]
struct State {
    objects: HashMap<String, (u64, String)>,
    uploads: BTreeMap<String, Upload>,
    calls: HashMap<&'static str, u32>,
    bytes_received: u64,
    in_flight: usize,
    max_in_flight: usize,
    in_flight_bytes: u64,
    max_in_flight_bytes: u64,
    buffers_seen: BTreeSet<usize>,
    next_id: u64,
    part_calls: u32,
}

struct Fake {
    blk: u64,
    state: Mutex<State>,
    faults: Mutex<Faults>,
}

/// Marks one UploadPart in flight until dropped (answered or abandoned).
struct InFlight<'a>(&'a Fake, u64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.in_flight -= 1;
        s.in_flight_bytes -= self.1;
    }
}

fn status(op: &'static str, code: u16) -> UfileError {
    UfileError::Status {
        op,
        object: "b/k".into(),
        answer: Answer {
            status: code,
            session_id: None,
            ret_code: None,
            message: None,
            body: None,
            storage_class: None,
        },
    }
}

fn etag_of(data: &[u8]) -> String {
    let mut h = EtagHasher::new();
    h.update(data);
    h.finish()
}

impl Fake {
    fn new() -> Self {
        Fake {
            blk: BLK,
            state: Mutex::new(State::default()),
            faults: Mutex::new(Faults::default()),
        }
    }

    fn with(faults: Faults) -> Self {
        let fake = Fake::new();
        *fake.faults.lock().unwrap() = faults;
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap()
    }

    fn count(&self, kind: &'static str) -> u32 {
        self.state().calls.get(kind).copied().unwrap_or(0)
    }

    fn calls(&self) -> BTreeMap<&'static str, u32> {
        self.state().calls.iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn called(&self, kind: &'static str) {
        *self.state().calls.entry(kind).or_default() += 1;
    }

    fn reset_counts(&self) {
        let mut s = self.state();
        s.calls.clear();
        s.bytes_received = 0;
        s.part_calls = 0;
    }

    fn object(&self, key: &str) -> Option<(u64, String)> {
        self.state().objects.get(key).cloned()
    }

    /// An unfinished upload holding the first `k` parts of `data`, as an
    /// earlier, interrupted run left it.
    fn seed(&self, key: &str, data: &[u8], k: usize) -> String {
        let mut s = self.state();
        s.next_id += 1;
        let id = format!("up-{}", s.next_id);
        let parts = data.chunks(self.blk as usize).take(k).enumerate();
        let parts = parts.map(|(i, c)| (i as u32, c.to_vec())).collect();
        let started = s.next_id;
        s.uploads.insert(
            id.clone(),
            Upload {
                key: key.into(),
                started,
                parts,
            },
        );
        id
    }
}

#[async_trait]
impl Store for Fake {
    async fn head(&self, object: &ObjectRef, _: &CancellationToken) -> Result<Option<ObjectMeta>, UfileError> {
        self.called("head");
        Ok(self
            .object(&object.key)
            .map(|(size, etag)| ObjectMeta { size, etag: Some(etag) }))
    }

    async fn put_file(
        &self,
        object: &ObjectRef,
        body: &Path,
        len: u64,
        _: &CancellationToken,
    ) -> Result<String, UfileError> {
        self.called("put");
        if self.faults().hang_put {
            std::future::pending::<()>().await;
        }
        let data = std::fs::read(body).unwrap();
        assert_eq!(data.len() as u64, len);
        let etag = etag_of(&data);
        let mut s = self.state();
        s.bytes_received += len;
        s.objects.insert(object.key.clone(), (len, etag.clone()));
        Ok(etag)
    }

    async fn initiate(&self, object: &ObjectRef, _: &CancellationToken) -> Result<Multipart, UfileError> {
        self.called("initiate");
        let mut s = self.state();
        s.next_id += 1;
        let id = format!("up-{}", s.next_id);
        let started = s.next_id;
        let upload = Upload {
            key: object.key.clone(),
            started,
            parts: BTreeMap::new(),
        };
        s.uploads.insert(id.clone(), upload);
        Ok(Multipart {
            upload_id: id,
            blk_size: self.blk,
        })
    }

    async fn upload_part(
        &self,
        _: &ObjectRef,
        upload_id: &str,
        number: u32,
        data: Bytes,
        _: &CancellationToken,
    ) -> Result<String, UfileError> {
        self.called("part");
        let len = data.len() as u64;
        let _flight = {
            let mut s = self.state();
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            s.in_flight_bytes += len;
            s.max_in_flight_bytes = s.max_in_flight_bytes.max(s.in_flight_bytes);
            s.buffers_seen.insert(data.as_ptr() as usize);
            s.part_calls += 1;
            InFlight(self, len)
        };
        let (delay, hang, fail) = {
            let f = self.faults();
            let calls = self.state().part_calls;
            let fail = f
                .fail_every
                .is_some_and(|n| calls.is_multiple_of(n))
                .then_some(503)
                .or(f.part_error);
            (f.part_delay, f.hang_from.is_some_and(|h| number >= h), fail)
        };
        if hang {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(delay).await;
        if let Some(code) = fail {
            return Err(status("UploadPart", code));
        }
        {
            let mut s = self.state();
            s.bytes_received += len;
            let upload = s.uploads.get_mut(upload_id).ok_or_else(|| status("UploadPart", 404))?;
            let mut stored = data.to_vec();
            if self.faults().rot_stored.take_if(|n| *n == number).is_some() {
                stored[0] ^= 0xff;
            }
            upload.parts.insert(number, stored);
        }
        let mut f = self.faults();
        if let Some(hook) = &f.on_part {
            hook(number);
        }
        if f.wrong_answer_always || f.wrong_answer_once == Some(number) {
            f.wrong_answer_once = None;
            return Ok(part_etag(b"not these bytes"));
        }
        Ok(part_etag(&data))
    }

    async fn finish(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        etags: &[String],
        _: &CancellationToken,
    ) -> Result<String, UfileError> {
        self.called("finish");
        if std::mem::take(&mut self.faults().refuse_finish) {
            return Err(status("FinishMultipartUpload", 503));
        }
        let mut s = self.state();
        let upload = s
            .uploads
            .get(upload_id)
            .ok_or_else(|| status("FinishMultipartUpload", 404))?;
        let parts: Vec<&Vec<u8>> = upload.parts.values().collect();
        let numbered = upload.parts.keys().copied().eq(0..parts.len() as u32);
        let sized = parts.iter().rev().skip(1).all(|p| p.len() as u64 == self.blk);
        let same = parts.len() == etags.len() && parts.iter().zip(etags).all(|(p, e)| part_etag(p) == *e);
        if !(numbered && sized && same) {
            return Err(status("FinishMultipartUpload", 400));
        }
        let data: Vec<u8> = parts.into_iter().flatten().copied().collect();
        let mut etag = etag_of(&data);
        let mut f = self.faults();
        if f.wrong_final {
            etag = etag_of(b"something else");
        }
        s.uploads.remove(upload_id);
        s.objects.insert(object.key.clone(), (data.len() as u64, etag.clone()));
        if std::mem::take(&mut f.finish_then_gone) {
            return Err(status("FinishMultipartUpload", 404));
        }
        if f.lose_finish {
            f.lose_finish = false;
            return Err(UfileError::Timeout {
                op: "FinishMultipartUpload",
                object: object.to_string(),
                endpoint: "fake".into(),
                after: Duration::from_secs(30),
            });
        }
        Ok(etag)
    }

    async fn abort(&self, _: &ObjectRef, upload_id: &str, _: &CancellationToken) -> Result<(), UfileError> {
        self.called("abort");
        self.state().uploads.remove(upload_id);
        Ok(())
    }

    async fn list_parts(
        &self,
        _: &ObjectRef,
        upload_id: &str,
        _: &CancellationToken,
    ) -> Result<Vec<PartInfo>, UfileError> {
        self.called("list_parts");
        let corrupt = self.faults().corrupt_listed;
        let s = self.state();
        let upload = s.uploads.get(upload_id).ok_or_else(|| status("ListParts", 404))?;
        let parts = upload.parts.iter().map(|(n, data)| PartInfo {
            number: *n,
            etag: if corrupt == Some(*n) {
                part_etag(b"rot")
            } else {
                part_etag(data)
            },
            size: data.len() as u64,
        });
        Ok(parts.collect())
    }

    async fn list_unfinished(
        &self,
        _: &str,
        prefix: &str,
        _: &CancellationToken,
    ) -> Result<Vec<Unfinished>, UfileError> {
        self.called("list_unfinished");
        let s = self.state();
        let found = s.uploads.iter().filter(|(_, u)| u.key.starts_with(prefix));
        let found = found.map(|(id, u)| Unfinished {
            upload_id: id.clone(),
            key: u.key.clone(),
            started: Some(u.started),
        });
        Ok(found.collect())
    }

    async fn delete(&self, object: &ObjectRef, _: &CancellationToken) -> Result<(), UfileError> {
        self.called("delete");
        self.state().objects.remove(&object.key);
        Ok(())
    }

    async fn object_url(&self, object: &ObjectRef, _: &CancellationToken) -> Result<url::Url, UfileError> {
        Ok(url::Url::parse(&format!("http://fake/{}", object.key)).unwrap())
    }
}

/// A file of `len` bytes with a pattern no two parts share.
fn file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| ((i * 7 + i / 65536) % 253) as u8).collect();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&data).unwrap();
    f.flush().unwrap();
    (f, data)
}

fn request(path: &Path, concurrency: usize) -> UploadRequest {
    let mut req = UploadRequest::new(path, ObjectRef::new("b", "images/disk.raw"), file_etag(path).unwrap());
    req.concurrency = concurrency;
    req.single_put_limit = PUT_LIMIT;
    req
}

async fn run(fake: &Fake, req: &UploadRequest) -> Result<Uploaded, TransferError> {
    upload(fake, req, &CancellationToken::new(), &|_| {}).await
}

/// 11 parts: 10 full ones and a short last one.
const N: u64 = 11;
const SIZE: usize = 10 * BLK as usize + 1000;

fn calls(list: &[(&'static str, u32)]) -> BTreeMap<&'static str, u32> {
    list.iter().copied().collect()
}

#[tokio::test(start_paused = true)]
async fn a_clean_run_makes_one_call_of_each_kind_and_one_per_part() {
    let (f, data) = file(SIZE);
    let fake = Fake::new();
    let req = request(f.path(), 4);
    let done = run(&fake, &req).await.unwrap();
    assert_eq!(
        fake.calls(),
        calls(&[
            ("head", 1),
            ("list_unfinished", 1),
            ("initiate", 1),
            ("part", N as u32),
            ("finish", 1)
        ])
    );
    assert_eq!(fake.state().bytes_received, SIZE as u64);
    assert_eq!(fake.object("images/disk.raw"), Some((SIZE as u64, etag_of(&data))));
    assert_eq!(done.etag, req.expected.etag);
    assert_eq!(
        (done.sent_bytes, done.parts_sent, done.parts_reused),
        (SIZE as u64, N as u32, 0)
    );
    assert!(!done.reused_object && done.resumed_upload.is_none());
    assert!(fake.state().uploads.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_file_up_to_the_limit_goes_in_one_put() {
    let (f, _) = file(PUT_LIMIT as usize);
    let fake = Fake::new();
    let done = run(&fake, &request(f.path(), 4)).await.unwrap();
    assert_eq!(fake.calls(), calls(&[("head", 1), ("put", 1)]));
    assert_eq!(done.sent_bytes, PUT_LIMIT);
}

#[tokio::test(start_paused = true)]
async fn an_object_holding_the_file_is_not_uploaded_again() {
    let (f, _) = file(SIZE);
    let fake = Fake::new();
    let req = request(f.path(), 4);
    run(&fake, &req).await.unwrap();
    fake.reset_counts();
    let again = run(&fake, &req).await.unwrap();
    assert_eq!(fake.calls(), calls(&[("head", 1)]));
    assert_eq!(fake.state().bytes_received, 0);
    assert!(again.reused_object);
    assert_eq!((again.sent_bytes, again.parts_sent), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_resumed_upload_sends_only_the_parts_missing() {
    let (f, data) = file(SIZE);
    let fake = Fake::new();
    let id = fake.seed("images/disk.raw", &data, 4);
    let done = run(&fake, &request(f.path(), 3)).await.unwrap();
    assert_eq!(fake.count("part"), N as u32 - 4);
    assert_eq!(fake.count("initiate"), 0);
    assert_eq!(fake.state().bytes_received, SIZE as u64 - 4 * BLK);
    assert_eq!((done.parts_reused, done.reused_bytes), (4, 4 * BLK));
    assert_eq!(done.resumed_upload, Some(id));
    assert_eq!(fake.object("images/disk.raw").unwrap().1, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn a_stored_part_with_a_wrong_etag_is_sent_again() {
    let (f, data) = file(SIZE);
    let fake = Fake::with(Faults {
        corrupt_listed: Some(1),
        ..Faults::default()
    });
    fake.seed("images/disk.raw", &data, 4);
    let done = run(&fake, &request(f.path(), 2)).await.unwrap();
    assert_eq!(fake.count("part"), N as u32 - 3);
    assert_eq!(done.parts_reused, 3);
    assert_eq!(fake.object("images/disk.raw").unwrap().1, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn a_part_stored_wrong_is_found_when_finish_refuses_and_sent_again() {
    let (f, data) = file(SIZE);
    let fake = Fake::with(Faults {
        rot_stored: Some(2),
        ..Faults::default()
    });
    let done = run(&fake, &request(f.path(), 2)).await.unwrap();
    // Every part once, then the rotten one again after the refused finish.
    assert_eq!(fake.count("part"), N as u32 + 1);
    assert_eq!(fake.count("finish"), 2);
    assert_eq!(fake.count("list_parts"), 1);
    assert_eq!(done.etag, etag_of(&data));
    assert_eq!(fake.object("images/disk.raw").unwrap().1, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn an_upload_whose_first_part_is_missing_is_abandoned() {
    let (f, data) = file(SIZE);
    let fake = Fake::new();
    let old = fake.seed("images/disk.raw", &data, 3);
    fake.state().uploads.get_mut(&old).unwrap().parts.remove(&0);
    let done = run(&fake, &request(f.path(), 2)).await.unwrap();
    assert_eq!(
        (fake.count("abort"), fake.count("initiate"), fake.count("part")),
        (1, 1, N as u32)
    );
    assert_eq!(done.resumed_upload, None);
    assert!(fake.state().uploads.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_wrong_answered_etag_sends_the_part_again() {
    let (f, _) = file(SIZE);
    let fake = Fake::with(Faults {
        wrong_answer_once: Some(2),
        ..Faults::default()
    });
    let done = run(&fake, &request(f.path(), 4)).await.unwrap();
    assert_eq!(fake.count("part"), N as u32 + 1);
    assert_eq!((done.parts_sent, done.parts_retried), (N as u32, 1));
}

#[tokio::test(start_paused = true)]
async fn a_part_always_answered_wrong_fails_after_three_sends() {
    let (f, _) = file(SIZE);
    let fake = Fake::with(Faults {
        wrong_answer_always: true,
        ..Faults::default()
    });
    let err = run(&fake, &request(f.path(), 1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::PartEtag {
                number: 0,
                sends: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!((fake.count("part"), fake.count("finish")), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_fifth_of_parts_failing_transiently_still_completes() {
    let (f, data) = file(SIZE);
    let fake = Fake::with(Faults {
        fail_every: Some(5),
        ..Faults::default()
    });
    let done = run(&fake, &request(f.path(), 3)).await.unwrap();
    let failed = fake.count("part") - N as u32;
    assert!(failed >= 2, "{failed} failures");
    assert_eq!(done.parts_retried, failed);
    assert_eq!(fake.object("images/disk.raw").unwrap().1, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn a_client_error_on_a_part_is_not_retried() {
    let (f, _) = file(SIZE);
    let fake = Fake::with(Faults {
        part_error: Some(403),
        ..Faults::default()
    });
    let err = run(&fake, &request(f.path(), 1)).await.unwrap_err();
    assert!(
        matches!(&err, TransferError::Store(e) if e.status() == Some(403)),
        "{err}"
    );
    assert_eq!(fake.count("part"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_finish_answer_is_settled_by_head() {
    let (f, data) = file(SIZE);
    let fake = Fake::with(Faults {
        lose_finish: true,
        ..Faults::default()
    });
    let done = run(&fake, &request(f.path(), 4)).await.unwrap();
    assert_eq!((fake.count("finish"), fake.count("head")), (1, 2));
    assert_eq!(done.etag, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn a_finish_retried_after_it_worked_is_settled_by_head() {
    let (f, data) = file(SIZE);
    let fake = Fake::with(Faults {
        finish_then_gone: true,
        ..Faults::default()
    });
    let done = run(&fake, &request(f.path(), 4)).await.unwrap();
    assert_eq!((fake.count("finish"), fake.count("head")), (1, 2));
    assert_eq!(done.etag, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn a_failed_finish_with_no_object_is_tried_once_more() {
    let (f, data) = file(SIZE);
    let fake = Fake::with(Faults {
        refuse_finish: true,
        ..Faults::default()
    });
    let done = run(&fake, &request(f.path(), 4)).await.unwrap();
    assert_eq!((fake.count("finish"), fake.count("head")), (2, 2));
    assert_eq!(done.etag, etag_of(&data));
    assert_eq!(fake.object("images/disk.raw").unwrap().1, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_final_object_is_deleted() {
    let (f, _) = file(SIZE);
    let fake = Fake::with(Faults {
        wrong_final: true,
        ..Faults::default()
    });
    let err = run(&fake, &request(f.path(), 4)).await.unwrap_err();
    assert!(matches!(err, TransferError::WrongObject { deleted: true, .. }), "{err}");
    assert_eq!(fake.count("delete"), 1);
    assert_eq!(fake.object("images/disk.raw"), None);
}

#[tokio::test(start_paused = true)]
async fn a_file_changed_during_the_upload_fails_before_finish() {
    let (f, _) = file(SIZE);
    let path = f.path().to_path_buf();
    let fake = Fake::with(Faults {
        on_part: Some(Box::new(move |n| {
            if n == 5 {
                let mut w = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                w.write_all(b"more").unwrap();
            }
        })),
        ..Faults::default()
    });
    let err = run(&fake, &request(f.path(), 1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Changed {
                when: "after the last part",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fake.count("finish"), 0);
    assert_eq!(fake.object("images/disk.raw"), None);
}

#[tokio::test(start_paused = true)]
async fn a_file_changed_before_the_upload_is_refused() {
    let (f, _) = file(SIZE);
    let req = request(f.path(), 1);
    std::fs::write(f.path(), b"other").unwrap();
    let fake = Fake::new();
    let err = run(&fake, &req).await.unwrap_err();
    assert!(matches!(err, TransferError::Changed { .. }), "{err}");
    assert!(fake.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancelling_returns_interrupted_within_two_seconds_and_keeps_the_upload() {
    let (f, data) = file(SIZE);
    let fake = Fake::with(Faults {
        hang_from: Some(6),
        ..Faults::default()
    });
    let req = request(f.path(), 2);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        trigger.cancel();
    });
    let began = Instant::now();
    let err = upload(&fake, &req, &cancel, &|_| {}).await.unwrap_err();
    assert!(began.elapsed() < Duration::from_secs(12), "{:?}", began.elapsed());
    let TransferError::Interrupted {
        sent_bytes,
        parts_done,
        parts_total,
        upload_id: Some(id),
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*sent_bytes, *parts_done, *parts_total), (6 * BLK, 6, N as u32));
    let text = err.to_string();
    assert!(text.contains("0.4 MiB") && text.contains("next run resumes"), "{text}");
    assert_eq!((fake.count("abort"), fake.count("finish")), (0, 0));
    assert!(fake.state().uploads.contains_key(id));
    assert_eq!(fake.state().in_flight, 0, "requests in flight were dropped");

    // The next run resumes it.
    fake.faults().hang_from = None;
    fake.reset_counts();
    let done = run(&fake, &req).await.unwrap();
    assert_eq!(done.resumed_upload.as_deref(), Some(id.as_str()));
    assert_eq!((fake.count("part"), done.parts_reused), (N as u32 - 6, 6));
    assert_eq!(fake.object("images/disk.raw").unwrap().1, etag_of(&data));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_a_request_hangs_takes_effect_at_once() {
    let (f, _) = file(SIZE);
    let fake = Fake::with(Faults {
        hang_from: Some(0),
        ..Faults::default()
    });
    let req = request(f.path(), 4);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        trigger.cancel();
    });
    let began = Instant::now();
    let err = upload(&fake, &req, &cancel, &|_| {}).await.unwrap_err();
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(matches!(err, TransferError::Interrupted { parts_done: 0, .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_put_is_interrupted_with_no_upload_to_resume() {
    let (f, _) = file(1000);
    let fake = Fake::with(Faults {
        hang_put: true,
        ..Faults::default()
    });
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.cancel();
    });
    let err = upload(&fake, &request(f.path(), 4), &cancel, &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Interrupted {
                upload_id: None,
                sent_bytes: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("resumes"), "{err}");
}

#[tokio::test]
async fn a_buffer_is_reused_once_the_request_let_go_of_it() {
    let (f, _) = file(1000);
    let fake = Fake::new();
    let req = request(f.path(), 1);
    let cancel = CancellationToken::new();
    let run = Run {
        store: &fake,
        req: &req,
        cancel: &cancel,
        progress: &|_| {},
        started: Instant::now(),
        stats: Mutex::new(Stats::default()),
    };
    let first = run.buffer(None, BLK).unwrap();
    assert!(first.capacity() >= BLK as usize);
    let at = first.as_ptr();
    let mut first = first;
    first.resize(BLK as usize, 7);
    let lent = first.freeze();
    // Given back whole: the same memory.
    let again = run.buffer(Some(lent), BLK).unwrap();
    assert_eq!((again.as_ptr(), again.len()), (at, 0));
    // Still held by a request: a new buffer, the old one going with the request.
    let mut again = again;
    again.resize(100, 1);
    let lent = again.freeze();
    let held = lent.clone();
    let other = run.buffer(Some(lent), BLK).unwrap();
    assert_ne!(other.as_ptr(), held.as_ptr());
    assert_eq!(run.stats().buffers, 2);
}

#[tokio::test(start_paused = true)]
async fn no_more_parts_are_in_flight_than_asked_and_buffers_are_reused() {
    let (f, _) = file(20 * BLK as usize);
    let fake = Fake::with(Faults {
        part_delay: Duration::from_millis(100),
        ..Faults::default()
    });
    let seen = Mutex::new(Vec::new());
    let record = |p: &Progress| seen.lock().unwrap().push(p.done_bytes);
    upload(&fake, &request(f.path(), 3), &CancellationToken::new(), &record)
        .await
        .unwrap();
    let s = fake.state();
    assert_eq!(s.max_in_flight, 3);
    assert!(s.max_in_flight_bytes <= 3 * BLK);
    assert!(s.buffers_seen.len() <= 2 * 3, "{} buffers", s.buffers_seen.len());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 20);
    assert_eq!(seen.last(), Some(&(20 * BLK)));
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_out_of_range_is_refused() {
    let (f, _) = file(SIZE);
    let fake = Fake::new();
    for c in [0, MAX_CONCURRENCY + 1] {
        let err = run(&fake, &request(f.path(), c)).await.unwrap_err();
        assert!(matches!(err, TransferError::Invalid { .. }), "{err}");
    }
    assert!(fake.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn clean_deletes_the_object_and_aborts_the_uploads_to_its_key_only() {
    let (_, data) = file(SIZE);
    let fake = Fake::new();
    let object = ObjectRef::new("b", "images/disk.raw");
    fake.state().objects.insert(object.key.clone(), (1, "x".into()));
    let a = fake.seed("images/disk.raw", &data, 1);
    let b = fake.seed("images/disk.raw", &data, 2);
    let other = fake.seed("images/disk.raw.bak", &data, 1);
    let cleaned = clean(&fake, &object, &CancellationToken::new()).await.unwrap();
    assert_eq!(
        cleaned.aborted.into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([a, b])
    );
    assert_eq!(fake.object("images/disk.raw"), None);
    assert_eq!(fake.state().uploads.keys().cloned().collect::<Vec<_>>(), vec![other]);
}

/// Events of target `tpu::upload`: level, message and fields as text.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        if event.metadata().target() == TARGET {
            let mut text = Text(String::new());
            event.record(&mut text);
            self.0.lock().unwrap().push((*event.metadata().level(), text.0));
        }
    }
}

impl Lines {
    fn count(&self, level: tracing::Level, message: &str) -> usize {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .filter(|(l, t)| *l == level && t.starts_with(message))
            .count()
    }
}

#[tokio::test(start_paused = true)]
async fn progress_is_logged_every_five_seconds_at_each_tenth_and_in_a_summary() {
    use tracing_subscriber::layer::SubscriberExt;
    let lines = Lines::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(lines.clone()));
    // With one dispatcher alive, tracing asks only the registering thread's
    // about a new callsite, and the other tests' threads have none: a second
    // one makes it ask all. Callsites other tests registered before (or
    // while) this started are asked again once that is over.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    std::thread::sleep(std::time::Duration::from_millis(50));
    tracing::callsite::rebuild_interest_cache();
    let (f, _) = file(20 * BLK as usize);
    let fake = Fake::with(Faults {
        part_delay: Duration::from_secs(1),
        ..Faults::default()
    });
    run(&fake, &request(f.path(), 1)).await.unwrap();
    // 20 s of parts: 10 tenths, and the clock's lines at 5, 10 and 15 s.
    let info = lines.count(tracing::Level::INFO, "message=uploading");
    assert!((13..=14).contains(&info), "{info} progress lines");
    assert_eq!(lines.count(tracing::Level::DEBUG, "message=part sent"), 20);
    let all = lines.0.lock().unwrap();
    let summary = all.iter().find(|(_, t)| t.starts_with("message=upload done")).unwrap();
    assert!(
        summary.1.contains("requests=24") && summary.1.contains("parts_sent=20"),
        "{}",
        summary.1
    );
    let last = all
        .iter()
        .rev()
        .find(|(_, t)| t.starts_with("message=uploading"))
        .unwrap();
    assert!(
        last.1.contains("1.2 MiB of 1.2 MiB") && last.1.contains("parts=20 of 20"),
        "{}",
        last.1
    );
}
