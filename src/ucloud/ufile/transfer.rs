//! Taking a local file to a UFile object: skipped when the object already
//! holds the file, one PUT for small files, else a multipart upload that
//! resumes an unfinished one, checks every part against the local bytes and
//! holds a bounded number of part buffers whatever the file's size.
//!
//! Images are gigabytes and links fail: what the tools before this one got
//! wrong (whole files in memory, no retry per part, no resume, Ctrl-C not
//! reaching the upload, wrong objects left behind) is what this module is
//! shaped against. It is written against [`Store`], so it is tested without
//! HTTP; the store retries single requests, this module retries parts and
//! settles a finish whose answer was lost.
//!
//! Choices:
//! - Resume needs the part size, which only Initiate tells. An unfinished
//!   upload is resumed only when UFile lists its part 0: every part but the
//!   last is as long as part 0 (a multipart file is longer than one part, so
//!   part 0 is a full part). Otherwise it is aborted and a new one begun:
//!   guessing from other parts could take a short last part for the part
//!   size, and every later run would fail the same way.
//! - Each worker owns one buffer, lent to the request as [`Bytes`] and taken
//!   back when the request has let go of it; a request still holding its
//!   buffer makes the worker allocate one more, the old one going when the
//!   request ends: at most about 2 x concurrency x part size in memory.
//! - Cancellation drops the requests in flight and keeps the multipart
//!   upload, so the next run resumes it.

use std::fs::File;
use std::future::{Future, poll_fn};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::etag::{Fingerprint, LocalFile, part_etag};
use super::store::{Multipart, ObjectRef, PartInfo, Store, UfileError};
pub use error::TransferError;
use error::transient;
pub use report::Progress;

const TARGET: &str = "tpu::upload";

/// Files up to this size go up in one PUT (UFile allows up to 512 MB).
pub const DEFAULT_SINGLE_PUT_LIMIT: u64 = 64 << 20;
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const MAX_CONCURRENCY: usize = 32;

/// Sends of one part whose answered ETag is not that of its bytes.
const PART_SENDS: u32 = 3;
/// Attempts of one request failing transiently (on top of the store's own retries).
const TRANSIENT_ATTEMPTS: u32 = 3;
/// The pause before a transient retry, times the attempt number.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRequest {
    pub path: PathBuf,
    pub object: ObjectRef,
    /// The file as the caller hashed and checked it; the upload fails with
    /// [`TransferError::Changed`] if its fingerprint moves.
    pub expected: LocalFile,
    /// Parts in flight, 1..=[`MAX_CONCURRENCY`].
    pub concurrency: usize,
    pub single_put_limit: u64,
}

impl UploadRequest {
    pub fn new(path: impl Into<PathBuf>, object: ObjectRef, expected: LocalFile) -> Self {
        UploadRequest {
            path: path.into(),
            object,
            expected,
            concurrency: DEFAULT_CONCURRENCY,
            single_put_limit: DEFAULT_SINGLE_PUT_LIMIT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub etag: String,
    pub size: u64,
    pub sent_bytes: u64,
    /// Bytes of parts an earlier run had sent, found right and kept.
    pub reused_bytes: u64,
    pub parts_sent: u32,
    pub parts_reused: u32,
    /// Sends beyond the first of a part (transient failures, wrong ETags).
    pub parts_retried: u32,
    /// The object already held the file: nothing was sent.
    pub reused_object: bool,
    /// The id of the unfinished upload this run resumed.
    pub resumed_upload: Option<String>,
}

/// What [`clean`] removed besides the object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Ids of the unfinished uploads aborted.
    pub aborted: Vec<String>,
}

/// Uploads `req.path` to `req.object` unless the object already holds it.
/// `progress` is called after each part; the log gets a line every 5 s and
/// at each tenth (target `tpu::upload`).
pub async fn upload<S: Store + ?Sized>(
    store: &S,
    req: &UploadRequest,
    cancel: &CancellationToken,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Uploaded, TransferError> {
    if !(1..=MAX_CONCURRENCY).contains(&req.concurrency) {
        return Err(TransferError::Invalid {
            object: req.object.to_string(),
            detail: format!(
                "{} parts in flight; 1 to {MAX_CONCURRENCY} are allowed",
                req.concurrency
            ),
        });
    }
    let run = Run {
        store,
        req,
        cancel,
        progress,
        started: Instant::now(),
        stats: Mutex::new(Stats {
            parts_total: 1,
            ..Stats::default()
        }),
    };
    let result = tokio::select! {
        biased;
        () = cancel.cancelled() => Err(run.interrupted()),
        r = run.go() => r,
    };
    match result {
        Err(TransferError::Store(e)) if matches!(*e, UfileError::Cancelled) => Err(run.interrupted()),
        Err(e) if cancel.is_cancelled() && !matches!(e, TransferError::Interrupted { .. }) => Err(run.interrupted()),
        Ok(done) => {
            run.summary(&done);
            Ok(done)
        }
        Err(e) => Err(e),
    }
}

/// Deletes the object and aborts every unfinished upload to its key.
pub async fn clean<S: Store + ?Sized>(
    store: &S,
    object: &ObjectRef,
    cancel: &CancellationToken,
) -> Result<Cleaned, UfileError> {
    let mut cleaned = Cleaned::default();
    for unfinished in store.list_unfinished(&object.bucket, &object.key, cancel).await? {
        if unfinished.key == object.key {
            store.abort(object, &unfinished.upload_id, cancel).await?;
            cleaned.aborted.push(unfinished.upload_id);
        }
    }
    store.delete(object, cancel).await?;
    tracing::info!(target: TARGET, object = %object, aborted = cleaned.aborted.len(), "deleted the object and its unfinished uploads");
    Ok(cleaned)
}

/// Counters of one upload, shared by its workers.
#[derive(Default)]
struct Stats {
    sent_bytes: u64,
    reused_bytes: u64,
    parts_total: u32,
    parts_sent: u32,
    parts_reused: u32,
    parts_retried: u32,
    requests: u32,
    buffers: u32,
    upload_id: Option<String>,
    resumed: Option<String>,
    /// The last tenth of the file logged.
    tenth: u64,
}

struct Run<'a, S: ?Sized> {
    store: &'a S,
    req: &'a UploadRequest,
    cancel: &'a CancellationToken,
    progress: &'a (dyn Fn(&Progress) + Send + Sync),
    started: Instant,
    stats: Mutex<Stats>,
}

/// What the workers of a multipart upload share.
struct Plan {
    multipart: Multipart,
    parts: u32,
    file: Arc<File>,
    /// Parts UFile already holds, by number.
    listed: Vec<Option<PartInfo>>,
    next: AtomicUsize,
    etags: Mutex<Vec<Option<String>>>,
}

impl<S: Store + ?Sized> Run<'_, S> {
    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn size(&self) -> u64 {
        self.req.expected.size
    }

    fn object(&self) -> &ObjectRef {
        &self.req.object
    }

    fn interrupted(&self) -> TransferError {
        let s = self.stats();
        TransferError::Interrupted {
            object: self.object().to_string(),
            sent_bytes: s.sent_bytes,
            done_bytes: s.sent_bytes + s.reused_bytes,
            total: self.size(),
            parts_done: s.parts_sent + s.parts_reused,
            parts_total: s.parts_total,
            upload_id: s.upload_id.clone(),
        }
    }

    fn uploaded(&self) -> Uploaded {
        let s = self.stats();
        Uploaded {
            etag: self.req.expected.etag.clone(),
            size: self.size(),
            sent_bytes: s.sent_bytes,
            reused_bytes: s.reused_bytes,
            parts_sent: s.parts_sent,
            parts_reused: s.parts_reused,
            parts_retried: s.parts_retried,
            reused_object: false,
            resumed_upload: s.resumed.clone(),
        }
    }

    fn unchanged(&self, when: &'static str) -> Result<(), TransferError> {
        match Fingerprint::of(&self.req.path) {
            Ok(now) if now == self.req.expected.fingerprint => Ok(()),
            Ok(_) => Err(self.changed(when)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(self.changed(when)),
            Err(source) => Err(TransferError::Read {
                path: self.req.path.clone(),
                source,
            }),
        }
    }

    fn changed(&self, when: &'static str) -> TransferError {
        TransferError::Changed {
            path: self.req.path.clone(),
            when,
        }
    }

    async fn go(&self) -> Result<Uploaded, TransferError> {
        self.unchanged("before the upload")?;
        let existing = self
            .retrying(false, || self.store.head(self.object(), self.cancel))
            .await?;
        if let Some(meta) = existing
            && meta.size == self.size()
            && meta.etag.as_deref() == Some(self.req.expected.etag.as_str())
        {
            tracing::info!(target: TARGET, object = %self.object(), etag = %self.req.expected.etag, "the object already holds the file: nothing to upload");
            return Ok(Uploaded {
                reused_object: true,
                ..self.uploaded()
            });
        }
        if self.size() <= self.req.single_put_limit {
            return self.put().await;
        }
        match self.multipart().await {
            // UFile refused the parts it holds (one was stored wrong, or
            // lost): the upload is still there, so going through it again
            // checks every listed part against the local bytes and sends
            // again those that differ. Once: a second refusal is reported.
            Err(TransferError::Store(e)) if finish_refused(&e) => {
                tracing::warn!(target: TARGET, object = %self.object(), error = %e, "UFile refused the parts at finish; checking every part it holds against the file");
                // The second pass counts from zero for its progress; what it
                // sends again counts as retried parts in the result.
                let (sent_bytes, parts_sent) = {
                    let mut s = self.stats();
                    let first = (s.sent_bytes, s.parts_sent);
                    (s.sent_bytes, s.parts_sent, s.reused_bytes, s.parts_reused, s.tenth) = (0, 0, 0, 0, 0);
                    first
                };
                let second = self.multipart().await;
                {
                    let mut s = self.stats();
                    s.parts_retried += s.parts_sent;
                    s.sent_bytes += sent_bytes;
                    (s.parts_sent, s.reused_bytes, s.parts_reused) = (parts_sent, 0, 0);
                }
                second.map(|_| self.uploaded())
            }
            other => other,
        }
    }

    /// One request, counted.
    async fn once<T>(&self, request: impl Future<Output = T>) -> T {
        self.stats().requests += 1;
        request.await
    }

    /// Runs `op` again after transient failures, a bounded number of times.
    /// Counts every attempt as a request, and a retry of a part as such.
    async fn retrying<T, F, Fut>(&self, part: bool, mut op: F) -> Result<T, UfileError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UfileError>>,
    {
        let mut attempt = 1;
        loop {
            self.stats().requests += 1;
            match op().await {
                Err(e) if transient(&e) && attempt < TRANSIENT_ATTEMPTS => {
                    tracing::warn!(target: TARGET, object = %self.object(), attempt, error = %e, "transient failure, trying again");
                    tokio::time::sleep(RETRY_PAUSE * attempt).await;
                    attempt += 1;
                    if part {
                        self.stats().parts_retried += 1;
                    }
                }
                r => return r,
            }
        }
    }

    async fn put(&self) -> Result<Uploaded, TransferError> {
        let etag = self
            .retrying(false, || {
                self.store
                    .put_file(self.object(), &self.req.path, self.size(), self.cancel)
            })
            .await?;
        {
            let mut s = self.stats();
            s.sent_bytes = self.size();
            s.parts_sent = 1;
        }
        self.report();
        if let Err(e) = self.unchanged("during the upload") {
            // The object holds some version of the file: not one to import.
            if let Err(del) = self.once(self.store.delete(self.object(), self.cancel)).await {
                tracing::warn!(target: TARGET, object = %self.object(), error = %del, "cannot delete the object of a file that changed");
            }
            return Err(e);
        }
        self.settled(etag).await
    }

    /// Accepts the object UFile made if its ETag is the file's; else
    /// deletes it, so nothing imports a wrong object.
    async fn settled(&self, etag: String) -> Result<Uploaded, TransferError> {
        if etag == self.req.expected.etag {
            return Ok(self.uploaded());
        }
        let deleted = match self.once(self.store.delete(self.object(), self.cancel)).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(target: TARGET, object = %self.object(), error = %e, "cannot delete a wrong object");
                false
            }
        };
        Err(TransferError::WrongObject {
            object: self.object().to_string(),
            expected: self.req.expected.etag.clone(),
            got: etag,
            deleted,
        })
    }

    async fn multipart(&self) -> Result<Uploaded, TransferError> {
        let (multipart, listed) = self.find_or_initiate().await?;
        let blk = multipart.blk_size;
        let parts = u32::try_from(self.size().div_ceil(blk)).map_err(|_| TransferError::Invalid {
            object: self.object().to_string(),
            detail: format!("{} bytes in parts of {blk} are too many parts", self.size()),
        })?;
        let mut by_number = vec![None; parts as usize];
        for part in listed {
            if let Some(slot) = by_number.get_mut(part.number as usize) {
                *slot = Some(part);
            }
        }
        self.unchanged("before the first part")?;
        let file = File::open(&self.req.path).map_err(|source| TransferError::Read {
            path: self.req.path.clone(),
            source,
        })?;
        self.stats().parts_total = parts;
        let plan = Plan {
            multipart,
            parts,
            file: Arc::new(file),
            listed: by_number,
            next: AtomicUsize::new(0),
            etags: Mutex::new(vec![None; parts as usize]),
        };
        let workers = (0..self.req.concurrency.min(parts as usize).max(1))
            .map(|_| Box::pin(self.worker(&plan)))
            .collect();
        tokio::select! {
            r = all(workers) => r?,
            () = self.ticker() => {}
        }
        self.unchanged("after the last part")?;
        let etags = std::mem::take(&mut *plan.etags.lock().unwrap_or_else(|p| p.into_inner()));
        let etags: Option<Vec<String>> = etags.into_iter().collect();
        let Some(etags) = etags else {
            return Err(TransferError::Invalid {
                object: self.object().to_string(),
                detail: "a part was neither sent nor found at UFile".into(),
            });
        };
        self.finish(&plan.multipart, &etags).await
    }

    /// The newest unfinished upload to the key, with its parts, if its part
    /// size can be known (see the module doc); else a new upload.
    async fn find_or_initiate(&self) -> Result<(Multipart, Vec<PartInfo>), TransferError> {
        let object = self.object();
        let unfinished = self
            .retrying(false, || {
                self.store.list_unfinished(&object.bucket, &object.key, self.cancel)
            })
            .await?;
        let newest = unfinished
            .into_iter()
            .filter(|u| u.key == object.key)
            .max_by_key(|u| u.started);
        if let Some(found) = newest {
            let parts = self
                .retrying(false, || self.store.list_parts(object, &found.upload_id, self.cancel))
                .await?;
            match resumable(&parts, self.size()) {
                Some(blk_size) => {
                    tracing::info!(target: TARGET, object = %object, upload_id = %found.upload_id, parts_listed = parts.len(), blk_size, "resuming an unfinished upload");
                    let mut s = self.stats();
                    s.upload_id = Some(found.upload_id.clone());
                    s.resumed = Some(found.upload_id.clone());
                    drop(s);
                    let multipart = Multipart {
                        upload_id: found.upload_id,
                        blk_size,
                    };
                    return Ok((multipart, parts));
                }
                None => {
                    tracing::info!(target: TARGET, object = %object, upload_id = %found.upload_id, parts_listed = parts.len(), "an unfinished upload without its first part: aborting it and starting anew");
                    if let Err(e) = self.once(self.store.abort(object, &found.upload_id, self.cancel)).await {
                        tracing::warn!(target: TARGET, object = %object, error = %e, "cannot abort an unfinished upload");
                    }
                }
            }
        }
        let multipart = self
            .retrying(false, || self.store.initiate(object, self.cancel))
            .await?;
        if multipart.blk_size == 0 {
            return Err(UfileError::Protocol {
                op: "InitiateMultipartUpload",
                object: object.to_string(),
                detail: "part size 0".into(),
            }
            .into());
        }
        tracing::info!(target: TARGET, object = %object, upload_id = %multipart.upload_id, blk_size = multipart.blk_size, "began a multipart upload");
        self.stats().upload_id = Some(multipart.upload_id.clone());
        Ok((multipart, Vec::new()))
    }

    /// Takes parts from the plan until none is left: reads and hashes each,
    /// keeps it if UFile already holds it, else sends it.
    async fn worker(&self, plan: &Plan) -> Result<(), TransferError> {
        let blk = plan.multipart.blk_size;
        let mut lent: Option<Bytes> = None;
        loop {
            let index = plan.next.fetch_add(1, Ordering::Relaxed);
            if index >= plan.parts as usize {
                return Ok(());
            }
            let offset = index as u64 * blk;
            let len = blk.min(self.size() - offset);
            let buffer = self.buffer(lent.take(), blk)?;
            let (data, local) = self.read(plan, buffer, offset, len).await?;
            let number = index as u32;
            let kept = plan.listed[index]
                .as_ref()
                .is_some_and(|p| p.size == len && p.etag == local);
            if kept {
                let mut s = self.stats();
                s.reused_bytes += len;
                s.parts_reused += 1;
            } else {
                self.send(plan, number, &data, &local).await?;
            }
            plan.etags.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(local);
            lent = Some(data);
            self.report();
        }
    }

    /// The worker's buffer back from its last request, or a new one if the
    /// request still holds it.
    fn buffer(&self, lent: Option<Bytes>, blk: u64) -> Result<BytesMut, TransferError> {
        let blk = usize::try_from(blk).map_err(|_| TransferError::Invalid {
            object: self.object().to_string(),
            detail: format!("part size {blk} does not fit in memory"),
        })?;
        if let Some(Ok(mut buffer)) = lent.map(Bytes::try_into_mut)
            && buffer.capacity() >= blk
        {
            buffer.clear();
            return Ok(buffer);
        }
        self.stats().buffers += 1;
        Ok(BytesMut::with_capacity(blk))
    }

    async fn read(
        &self,
        plan: &Plan,
        mut buffer: BytesMut,
        offset: u64,
        len: u64,
    ) -> Result<(Bytes, String), TransferError> {
        let file = Arc::clone(&plan.file);
        let read = tokio::task::spawn_blocking(move || -> io::Result<(Bytes, String)> {
            buffer.resize(len as usize, 0);
            read_exact_at(&file, &mut buffer, offset)?;
            let etag = part_etag(&buffer);
            Ok((buffer.freeze(), etag))
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        read.map_err(|source| {
            if source.kind() == io::ErrorKind::UnexpectedEof {
                self.changed("during the upload (it is shorter)")
            } else {
                TransferError::Read {
                    path: self.req.path.clone(),
                    source,
                }
            }
        })
    }

    /// Sends a part until UFile answers the ETag of its bytes.
    async fn send(&self, plan: &Plan, number: u32, data: &Bytes, local: &str) -> Result<(), TransferError> {
        let upload_id = plan.multipart.upload_id.as_str();
        let mut sends = 0;
        loop {
            sends += 1;
            let began = Instant::now();
            let answered = self
                .retrying(true, || {
                    self.store
                        .upload_part(self.object(), upload_id, number, data.clone(), self.cancel)
                })
                .await?;
            tracing::debug!(target: TARGET, part = number, bytes = data.len(), duration_ms = began.elapsed().as_millis() as u64, attempt = sends, "part sent");
            if answered == local {
                let mut s = self.stats();
                s.sent_bytes += data.len() as u64;
                s.parts_sent += 1;
                return Ok(());
            }
            if sends >= PART_SENDS {
                return Err(TransferError::PartEtag {
                    object: self.object().to_string(),
                    number,
                    local: local.to_string(),
                    answered,
                    sends,
                });
            }
            tracing::warn!(target: TARGET, object = %self.object(), part = number, answered = %answered, local = %local, "UFile answered another ETag than the part's bytes have: sending it again");
            self.stats().parts_retried += 1;
        }
    }

    /// Finishes the upload. An answer lost on the way (a transient failure)
    /// is settled by looking at the object, then by one more finish.
    async fn finish(&self, multipart: &Multipart, etags: &[String]) -> Result<Uploaded, TransferError> {
        let object = self.object();
        let id = multipart.upload_id.as_str();
        let first = self.once(self.store.finish(object, id, etags, self.cancel)).await;
        let etag = match first {
            Ok(etag) => etag,
            // A lost answer, or (when the client's own retry came after a
            // finish that worked) an upload id UFile no longer knows: the
            // object tells.
            Err(e) if transient(&e) || matches!(e, UfileError::Protocol { .. }) || e.status() == Some(404) => {
                tracing::warn!(target: TARGET, object = %object, error = %e, "finishing the upload failed; looking whether the object is there");
                let meta = self.once(self.store.head(object, self.cancel)).await?;
                if meta.is_some_and(|m| {
                    m.size == self.size() && m.etag.as_deref() == Some(self.req.expected.etag.as_str())
                }) {
                    return Ok(self.uploaded());
                }
                if e.status() == Some(404) {
                    return Err(e.into());
                }
                self.once(self.store.finish(object, id, etags, self.cancel)).await?
            }
            Err(e) => return Err(e.into()),
        };
        self.settled(etag).await
    }
}

/// A Finish that UFile refused for the parts it holds (a 4xx other than
/// a refused signature): not transient, but the parts can be checked
/// against the file and sent again.
fn finish_refused(e: &UfileError) -> bool {
    matches!(e, UfileError::Status { op: "FinishMultipartUpload", answer, .. }
        if (400..500).contains(&answer.status) && !matches!(answer.status, 401 | 403))
}

/// The part size of an unfinished upload, if it can be known: that of
/// part 0, with every listed part inside the file.
fn resumable(parts: &[PartInfo], size: u64) -> Option<u64> {
    let blk = parts.iter().find(|p| p.number == 0)?.size;
    if blk == 0 {
        return None;
    }
    let count = size.div_ceil(blk);
    parts.iter().all(|p| u64::from(p.number) < count).then_some(blk)
}

/// Runs the workers together; the first error drops the others (and their
/// requests in flight).
async fn all<F>(mut workers: Vec<Pin<Box<F>>>) -> Result<(), TransferError>
where
    F: Future<Output = Result<(), TransferError>>,
{
    poll_fn(|cx| {
        let mut i = 0;
        while i < workers.len() {
            match workers[i].as_mut().poll(cx) {
                Poll::Ready(Ok(())) => {
                    workers.swap_remove(i);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => i += 1,
            }
        }
        if workers.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

mod error;
mod report;
#[cfg(test)]
mod tests;
