//! The UFile operations, one function each, behind the dispatch in
//! `http.rs`: reading objects, PutFile, the multipart calls, DeleteFile and
//! the two listings. Upload bodies go through [`receive`], which streams
//! them to disk under the link's cap and cuts them where a fault says.

use std::collections::BTreeMap;

use axum::body::Body;
use http_body_util::BodyExt as _;
use serde_json::json;

use super::super::etag;
use super::super::faults::UploadFaults;
use super::super::spool::{Broken, Spool};
use super::super::uploads::{self, NO_SUCH_UPLOAD, Part, Upload};
use super::super::{self as ufile, NOT_FOUND, Presented, Reply};
use super::{BAD_REQUEST, Call, FINISH_BODY_LIMIT, Outcome, Ufile, now_secs};
use crate::server::request_id;

/// HEAD and GET as before, plus the object's ETag and Last-Modified.
pub(super) async fn read(call: &Call<'_>, presented: &Presented<'_>) -> Reply {
    let (ufile, objects) = (call.ufile, call.objects);
    let mut reply = ufile::serve(
        objects,
        &ufile.keys,
        presented,
        call.bucket,
        call.key,
        now_secs(),
        call.session_id,
    );
    if matches!(reply.status, 200 | 206)
        && let Some(path) = objects.file(call.bucket, call.key)
    {
        if let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) {
            reply.headers.push(("Last-Modified", httpdate::fmt_http_date(modified)));
        }
        if let Some(etag) = ufile.etag_of(path).await {
            reply.headers.push(("ETag", format!("\"{etag}\"")));
        }
    }
    reply
}

/// Streams `body` into `spool` (or nowhere), under the link's cap; with
/// `cut_at`, stops after that many bytes as a connection cut mid-body would.
async fn receive(ufile: &Ufile, body: Body, mut spool: Option<&mut Spool>, cut_at: Option<u64>) -> Result<u64, Broken> {
    let mut body = body;
    let mut got = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Broken::Client)?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        if let Some(cut) = cut_at
            && got + data.len() as u64 >= cut
        {
            let keep = usize::try_from(cut - got).unwrap_or(0);
            let _ = data.split_off(keep.min(data.len()));
            ufile.received(data.len());
            return Err(Broken::Cut);
        }
        if let Some(at) = ufile.received(data.len()) {
            tokio::time::sleep_until(at.into()).await;
        }
        if let Some(spool) = spool.as_deref_mut() {
            spool.write(&data).map_err(Broken::Disk)?;
        }
        got += data.len() as u64;
    }
    Ok(got)
}

/// The refusal of a body that did not arrive whole.
fn broken(call: &Call<'_>, why: Broken) -> Outcome {
    match why {
        Broken::Cut => Outcome {
            reply: call.fail(500, BAD_REQUEST, "connection reset"),
            lost: true,
            fault: Some("reset_part_mid_body"),
        },
        Broken::Client => call.fail(400, BAD_REQUEST, "the request body was cut short").into(),
        Broken::Disk(e) => call
            .fail(500, BAD_REQUEST, &format!("cannot store the upload: {e}"))
            .into(),
    }
}

fn put_file_target(call: &Call<'_>, key: &str) -> Result<std::path::PathBuf, Reply> {
    call.objects
        .file(call.bucket, key)
        .ok_or_else(|| call.fail(400, BAD_REQUEST, "invalid key"))
}

pub(super) async fn put_file(call: &Call<'_>, body: Body) -> Reply {
    let Some(len) = call.content_length() else {
        return call.fail(411, BAD_REQUEST, "Content-Length required");
    };
    if len > call.ufile.limits.put_limit {
        return call.fail(400, BAD_REQUEST, "file too large for PutFile, use a multipart upload");
    }
    let target = match put_file_target(call, call.key) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut spool = match Spool::object(&call.spool_dir()) {
        Ok(s) => s,
        Err(_) => return call.fail(500, BAD_REQUEST, "cannot store the upload"),
    };
    if let Err(why) = receive(call.ufile, body, Some(&mut spool), None).await {
        return broken(call, why).reply;
    }
    match spool.place(&target) {
        Ok(stored) => {
            call.ufile.remember_etag(&target, &stored.etag);
            let mut reply = call.ok(200, Some(&stored.etag), None);
            reply.headers.push(("Content-Length", "0".to_owned()));
            reply
        }
        Err(_) => call.fail(500, BAD_REQUEST, "cannot store the object"),
    }
}

pub(super) fn initiate(call: &Call<'_>) -> Reply {
    let storage_class = call
        .headers
        .get("x-ufile-storage-class")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("STANDARD")
        .to_owned();
    let mut s = call.ufile.lock();
    let id = request_id(&mut s.rng);
    let upload = Upload {
        bucket: call.bucket.to_owned(),
        key: call.key.to_owned(),
        started: now_secs(),
        storage_class,
        blk_size: call.ufile.limits.blk_size,
        parts: BTreeMap::new(),
    };
    let begun = s.uploads.as_mut().map(|u| u.begin(id.clone(), upload));
    drop(s);
    match begun {
        Some(Ok(())) => call.ok(
            200,
            None,
            Some(
                json!({"UploadId": id, "BlkSize": call.ufile.limits.blk_size, "Bucket": call.bucket, "Key": call.key}),
            ),
        ),
        _ => call.fail(500, BAD_REQUEST, "cannot begin the upload"),
    }
}

/// Which fault an UploadPart meets, drawn in this order.
enum PartFault {
    None,
    Reset,
    Error,
    CorruptAnswer,
    Corrupt,
}

pub(super) async fn upload_part(call: &Call<'_>, body: Body) -> Outcome {
    let Some(n) = call.param("partNumber").and_then(|p| p.parse::<u32>().ok()) else {
        return call.fail(400, BAD_REQUEST, "invalid partNumber").into();
    };
    let (id, upload) = match call.upload() {
        Ok(found) => found,
        Err(reply) => return reply.into(),
    };
    let Some(len) = call.content_length() else {
        return call.fail(411, BAD_REQUEST, "Content-Length required").into();
    };
    let fault = {
        let mut s = call.ufile.lock();
        let s = &mut *s;
        let rate = s.faults.part_error_rate;
        if UploadFaults::take(&mut s.faults.reset_part_mid_body) {
            PartFault::Reset
        } else if rate > 0.0 && s.rng.f64() < rate {
            PartFault::Error
        } else if UploadFaults::take(&mut s.faults.corrupt_part_answer) {
            PartFault::CorruptAnswer
        } else if UploadFaults::take(&mut s.faults.corrupt_part) {
            PartFault::Corrupt
        } else {
            PartFault::None
        }
    };
    match fault {
        PartFault::Reset => {
            let cut = receive(call.ufile, body, None, Some(len / 2)).await;
            return broken(call, cut.err().unwrap_or(Broken::Cut));
        }
        PartFault::Error => {
            let _ = receive(call.ufile, body, None, None).await;
            return Outcome {
                reply: call.fail(500, -1, "internal error (simulated)"),
                lost: false,
                fault: Some("part_error"),
            };
        }
        _ => {}
    }
    let corrupt = matches!(fault, PartFault::Corrupt | PartFault::CorruptAnswer);
    let (data, blk) = {
        let s = call.ufile.lock();
        let data = s.uploads.as_ref().map(|u| u.data_path(&id));
        (data, upload.blk_size)
    };
    let Some(data) = data else {
        return call.fail(500, BAD_REQUEST, "cannot store the part").into();
    };
    // A part longer than BlkSize has no place: it is hashed and listed, and
    // Finish refuses it, as UFile documents.
    let offset = (len <= blk).then(|| u64::from(n) * blk);
    let mut spool = match Spool::part(&data, offset, corrupt.then_some(len / 2)) {
        Ok(s) => s,
        Err(_) => return call.fail(500, BAD_REQUEST, "cannot store the part").into(),
    };
    if let Err(why) = receive(call.ufile, body, Some(&mut spool), None).await {
        return broken(call, why);
    }
    let stored = spool.stored();
    let answered = match fault {
        PartFault::Corrupt => stored.answered.clone(),
        _ => stored.etag.clone(),
    };
    let kept = {
        let mut s = call.ufile.lock();
        let part = Part {
            etag: stored.etag,
            size: stored.size,
            modified: now_secs(),
        };
        let kept = s.uploads.as_mut().is_some_and(|u| u.stored(&id, n, part));
        s.parts_stored += u64::from(kept);
        kept
    };
    if !kept {
        // Aborted (its data file went with it) or finished while the body
        // was arriving: the part is not the upload's. (A part still
        // arriving when Finish renames the data file lands in the object:
        // a client that finishes before its parts are answered gets what
        // it asked for.)
        return call.fail(NO_SUCH_UPLOAD.0, NO_SUCH_UPLOAD.1, NO_SUCH_UPLOAD.2).into();
    }
    Outcome {
        reply: call.ok(200, Some(&answered), Some(json!({ "PartNumber": n }))),
        lost: false,
        fault: match fault {
            PartFault::Corrupt => Some("corrupt_part"),
            PartFault::CorruptAnswer => Some("corrupt_part_answer"),
            _ => None,
        },
    }
}

pub(super) async fn finish(call: &Call<'_>, body: Body) -> Outcome {
    let Ok(body) = axum::body::to_bytes(body, FINISH_BODY_LIMIT).await else {
        return call.fail(400, BAD_REQUEST, "unreadable body").into();
    };
    let etags = String::from_utf8_lossy(&body);
    let id = call.param("uploadId").unwrap_or_default().to_owned();
    let checked = {
        let s = call.ufile.lock();
        match s.uploads.as_ref() {
            Some(u) => u.check_finish(&id, call.bucket, call.key, &etags),
            None => Err((NO_SUCH_UPLOAD.0, NO_SUCH_UPLOAD.1, NO_SUCH_UPLOAD.2.to_owned())),
        }
    };
    let (data, size) = match checked {
        Ok(found) => found,
        Err((status, code, message)) => return call.fail(status, code, &message).into(),
    };
    // UFile's newObject: where the object goes if the key was taken meanwhile.
    let mut key = call.key.to_owned();
    if let Some(other) = call.param("newObject").filter(|o| !o.is_empty())
        && call.objects.file(call.bucket, call.key).is_some_and(|p| p.exists())
    {
        key = other.to_owned();
    }
    let target = match put_file_target(call, &key) {
        Ok(t) => t,
        Err(r) => return r.into(),
    };
    let dest = target.clone();
    // With UFile's own part size the parts are the ETag's blocks.
    let listed: Vec<&str> = etags.split(',').map(str::trim).collect();
    let known = (call.ufile.limits.blk_size == etag::BLOCK)
        .then(|| etag::of_blocks(&listed))
        .flatten();
    let assembled = tokio::task::spawn_blocking(move || uploads::complete(&data, size, known, &dest)).await;
    let Ok(Ok(etag)) = assembled else {
        return call.fail(500, BAD_REQUEST, "cannot assemble the object").into();
    };
    call.ufile.remember_etag(&target, &etag);
    let lost = {
        let mut s = call.ufile.lock();
        if let Some(u) = s.uploads.as_mut() {
            u.remove(&id);
        }
        UploadFaults::take(&mut s.faults.lose_finish)
    };
    Outcome {
        reply: call.ok(
            200,
            Some(&etag),
            Some(json!({"Bucket": call.bucket, "Key": key, "FileSize": size})),
        ),
        lost,
        fault: lost.then_some("lose_finish"),
    }
}

pub(super) fn abort(call: &Call<'_>) -> Reply {
    let (id, _) = match call.upload() {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    if let Some(u) = call.ufile.lock().uploads.as_mut() {
        u.remove(&id);
    }
    call.ok(200, None, None)
}

/// A missing object is answered 404 as HEAD and GET answer it (UFile's doc
/// shows only the 204 of a deleted one): a client must take 404 as done.
pub(super) fn delete_file(call: &Call<'_>) -> Reply {
    match call.objects.file(call.bucket, call.key) {
        Some(path) if path.is_file() => match std::fs::remove_file(&path) {
            Ok(()) => call.ok(204, None, None),
            Err(_) => call.fail(500, BAD_REQUEST, "cannot delete the object"),
        },
        _ => call.fail(404, NOT_FOUND.0, NOT_FOUND.1),
    }
}

fn number(call: &Call<'_>, name: &str, default: usize) -> usize {
    call.param(name)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(default)
        .clamp(1, 1000)
}

pub(super) fn list_parts(call: &Call<'_>) -> Reply {
    let id = call.param("uploadId").unwrap_or_default();
    let marker = call
        .param("part-number-marker")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let max = number(call, "max-parts", 1000);
    let listed = call
        .ufile
        .lock()
        .uploads
        .as_ref()
        .and_then(|u| u.list_parts(id, call.bucket, marker, max));
    match listed {
        Some(page) => call.ok(200, None, Some(page)),
        None => call.fail(NO_SUCH_UPLOAD.0, NO_SUCH_UPLOAD.1, NO_SUCH_UPLOAD.2),
    }
}

pub(super) fn list_uploads(call: &Call<'_>) -> Reply {
    let limit = number(call, "limit", 20);
    let prefix = call.param("prefix").unwrap_or_default();
    let marker = call.param("marker").unwrap_or_default();
    let page = call
        .ufile
        .lock()
        .uploads
        .as_ref()
        .map(|u| u.list_uploads(call.bucket, prefix, marker, limit));
    call.ok(200, None, page)
}
