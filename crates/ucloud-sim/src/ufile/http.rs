//! UFile's HTTP surface in the simulator: every request under
//! `/ufile/BUCKET/...` (objects read and written, multipart uploads, the
//! two bucket-level listings), each signed by UFile's rule, counted,
//! journaled (never a body or a signature) and logged; and the
//! `/_sim/ufile/` hooks that set upload faults and show what is stored.
//! Upload bodies are streamed to disk as they arrive, hashed on the way,
//! so a multi-gigabyte upload never sits in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

mod ops;

use super::etag::{self, Stamp};
use super::faults::{Link, UploadFaults};
use super::uploads::{self, NO_SUCH_UPLOAD, Upload, Uploads};
use super::{Objects, PATH_PREFIX, Presented, Reply, SESSION_ID_HEADER};
use crate::cli::Keys;
use crate::conn::Kill;
use crate::log::Log;
use crate::server::{Sim, request_id};

/// UFile refuses PutFile above 512 MB (its limits page): larger files go multipart.
pub const PUT_LIMIT: u64 = 512 << 20;

/// The sizes UFile imposes on uploads.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    /// The BlkSize InitiateMultipartUpload answers.
    pub blk_size: u64,
    /// The largest PutFile; [`PUT_LIMIT`] as UFile documents it.
    pub put_limit: u64,
}
/// The most a Finish body (part ETags joined by commas) may hold.
const FINISH_BODY_LIMIT: usize = 64 << 20;
const BUCKET_NOT_FOUND: (i64, &str) = (-30010, "bucket not exist");
const BAD_REQUEST: i64 = -148600;

/// The operations, named as the stats hook counts them.
const OPS: [&str; 10] = [
    "HEAD",
    "GET",
    "PutFile",
    "InitiateMultipartUpload",
    "UploadPart",
    "FinishMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "ListUploads",
    "DeleteFile",
];

/// What the simulator's UFile knows and counts.
pub struct Ufile {
    keys: Keys,
    objects: Option<Objects>,
    limits: UploadLimits,
    quiet: bool,
    log: Log,
    /// The faults given at start, restored by `/_sim/reset`.
    start_faults: UploadFaults,
    state: Mutex<UfileState>,
}

struct UfileState {
    /// `None` without `--ufile-dir`.
    uploads: Option<Uploads>,
    faults: UploadFaults,
    rng: fastrand::Rng,
    link: Link,
    journal: Vec<Value>,
    requests: BTreeMap<&'static str, u64>,
    bytes_received: u64,
    parts_stored: u64,
    etags: etag::Cache,
}

impl Ufile {
    /// Opens the upload spool under the objects' directory (emptying it).
    pub fn new(
        keys: Keys,
        objects: Option<Objects>,
        limits: UploadLimits,
        faults: UploadFaults,
        seed: u64,
        quiet: bool,
        log: Log,
    ) -> Result<Ufile, String> {
        let uploads = match &objects {
            Some(o) => Some(Uploads::open(o.root()).map_err(|e| {
                format!(
                    "--ufile-dir {}: cannot prepare {}: {e}",
                    o.root().display(),
                    uploads::SPOOL
                )
            })?),
            None => None,
        };
        Ok(Ufile {
            keys,
            objects,
            limits,
            quiet,
            log,
            start_faults: faults.clone(),
            state: Mutex::new(UfileState {
                uploads,
                faults,
                rng: fastrand::Rng::with_seed(seed ^ 0x0f11e),
                link: Link::default(),
                journal: Vec::new(),
                requests: OPS.iter().map(|op| (*op, 0)).collect(),
                bytes_received: 0,
                parts_stored: 0,
                etags: etag::Cache::default(),
            }),
        })
    }

    pub fn objects(&self) -> Option<&Objects> {
        self.objects.as_ref()
    }

    /// The state, even after a panic elsewhere: every change is a single step.
    fn lock(&self) -> MutexGuard<'_, UfileState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets the journal and counters, and puts the start faults back.
    pub fn reset(&self) {
        let mut s = self.lock();
        s.journal.clear();
        s.requests.values_mut().for_each(|n| *n = 0);
        s.bytes_received = 0;
        s.parts_stored = 0;
        s.faults = self.start_faults.clone();
        s.link = Link::default();
    }

    /// Counts `n` received body bytes; when the link is capped, the instant
    /// they may be taken in.
    fn received(&self, n: usize) -> Option<Instant> {
        let mut s = self.lock();
        s.bytes_received += n as u64;
        let cap = s.faults.bandwidth_bytes_per_sec;
        s.link.slot(n, cap, Instant::now())
    }

    /// The object ETag of `path`, hashed once per version of the file.
    async fn etag_of(&self, path: std::path::PathBuf) -> Option<String> {
        let stamp = Stamp::of(&path).ok()?;
        if let Some(etag) = self.lock().etags.get(&path, &stamp) {
            return Some(etag);
        }
        let hashed = path.clone();
        let etag = tokio::task::spawn_blocking(move || etag::of_file(&hashed))
            .await
            .ok()?
            .ok()?;
        self.lock().etags.put(path, stamp, etag.clone());
        Some(etag)
    }

    fn remember_etag(&self, path: &std::path::Path, etag: &str) {
        if let Ok(stamp) = Stamp::of(path) {
            self.lock().etags.put(path.to_path_buf(), stamp, etag.to_owned());
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One request, as the handlers see it.
struct Call<'a> {
    ufile: &'a Ufile,
    objects: &'a Objects,
    headers: &'a HeaderMap,
    query: &'a [(String, String)],
    bucket: &'a str,
    key: &'a str,
    session_id: &'a str,
}

/// How a request ends.
struct Outcome {
    reply: Reply,
    /// Close the connection instead of answering.
    lost: bool,
    fault: Option<&'static str>,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Outcome {
            reply,
            lost: false,
            fault: None,
        }
    }
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn fail(&self, status: u16, code: i64, message: &str) -> Reply {
        Reply {
            status,
            headers: vec![
                (SESSION_ID_HEADER, self.session_id.to_owned()),
                ("Content-Type", "application/json".to_owned()),
            ],
            body: json!({ "RetCode": code, "ErrMsg": message }).to_string().into_bytes(),
        }
    }

    fn ok(&self, status: u16, etag: Option<&str>, body: Option<Value>) -> Reply {
        let mut headers = vec![(SESSION_ID_HEADER, self.session_id.to_owned())];
        // UFile quotes its ETags, as HTTP does.
        headers.extend(etag.map(|e| ("ETag", format!("\"{e}\""))));
        if body.is_some() {
            headers.push(("Content-Type", "application/json".to_owned()));
        }
        Reply {
            status,
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        }
    }

    fn content_length(&self) -> Option<u64> {
        self.headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }

    /// The upload named by `uploadId` for this object, or UFile's refusal.
    fn upload(&self) -> Result<(String, Upload), Reply> {
        let id = self.param("uploadId").unwrap_or_default().to_owned();
        let s = self.ufile.lock();
        match s.uploads.as_ref().and_then(|u| u.get(&id, self.bucket, self.key)) {
            Some(upload) => Ok((id, upload.clone())),
            None => Err(self.fail(NO_SUCH_UPLOAD.0, NO_SUCH_UPLOAD.1, NO_SUCH_UPLOAD.2)),
        }
    }

    fn spool_dir(&self) -> std::path::PathBuf {
        uploads::tmp_dir(self.objects.root())
    }
}

/// Which operation a request is, by method, query and whether it names a key.
fn op_of(method: &Method, key: &str, query: &[(String, String)]) -> Option<&'static str> {
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let op = match (method.as_str(), key.is_empty()) {
        ("GET", true) if has("muploadpart") => "ListParts",
        ("GET", true) if has("muploadid") => "ListUploads",
        (_, true) => return None,
        ("HEAD", false) => "HEAD",
        ("GET", false) => "GET",
        ("PUT", false) if has("uploadId") => "UploadPart",
        ("PUT", false) => "PutFile",
        ("POST", false) if has("uploads") => "InitiateMultipartUpload",
        ("POST", false) if has("uploadId") => "FinishMultipartUpload",
        ("DELETE", false) if has("uploadId") => "AbortMultipartUpload",
        ("DELETE", false) => "DeleteFile",
        _ => return None,
    };
    Some(op)
}

/// Every request under `/ufile/`: UFile's answer, one journal entry, one
/// log line, and a closed connection where a fault says so.
pub async fn request(State(sim): State<Arc<Sim>>, ConnectInfo(kill): ConnectInfo<Kill>, req: Request) -> Response {
    let ufile = sim.ufile();
    let (parts, body) = req.into_parts();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let object = parts.uri.path().strip_prefix(PATH_PREFIX).unwrap_or_default();
    let (bucket, raw_key) = object.trim_start_matches('/').split_once('/').unwrap_or((object, ""));
    let bucket = bucket.trim_start_matches('/');
    let key = super::percent_decode(raw_key).unwrap_or_default();
    let op = op_of(&parts.method, &key, &query);
    let session_id = request_id(&mut ufile.lock().rng);
    let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let presented = Presented {
        verb: parts.method.as_str(),
        authorization: header(header::AUTHORIZATION),
        content_md5: parts
            .headers
            .get("content-md5")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        content_type: header(header::CONTENT_TYPE).unwrap_or_default(),
        date: header(header::DATE).unwrap_or_default(),
        query: &query,
        range: header(header::RANGE),
    };

    let outcome = match (&ufile.objects, op) {
        (None, _) => super::not_served(&session_id).into(),
        (Some(objects), op) => {
            let call = Call {
                ufile,
                objects,
                headers: &parts.headers,
                query: &query,
                bucket,
                key: &key,
                session_id: &session_id,
            };
            perform(&call, op, &presented, body).await
        }
    };

    let auth = match (presented.authorization, query.iter().any(|(k, _)| k == "Signature")) {
        (Some(_), _) => "header",
        (None, true) => "url",
        (None, false) => "none",
    };
    let status = outcome.reply.status;
    {
        let mut s = ufile.lock();
        if let Some(n) = op.and_then(|op| s.requests.get_mut(op)) {
            *n += 1;
        }
        let seq = s.journal.len();
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        s.journal.push(json!({
            "Seq": seq,
            "Method": parts.method.as_str(),
            "Op": op,
            "Bucket": bucket,
            "Key": key,
            "UploadId": param("uploadId"),
            "PartNumber": param("partNumber"),
            "Range": presented.range,
            "Auth": auth,
            "HttpStatus": if outcome.lost { None } else { Some(status) },
            "Fault": outcome.fault,
            "Lost": outcome.lost,
            "SessionId": session_id,
        }));
    }
    if !ufile.quiet {
        ufile.log.line(format_args!(
            "UFile {} {bucket}/{key} range={} auth={auth} http={status}{}{} session_id={session_id}",
            op.unwrap_or(parts.method.as_str()),
            presented.range.unwrap_or("-"),
            outcome.fault.map(|f| format!(" fault={f}")).unwrap_or_default(),
            if outcome.lost { " lost" } else { "" },
        ));
    }
    if outcome.lost {
        kill.trigger();
    }
    into_response(outcome.reply)
}

fn into_response(reply: Reply) -> Response {
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Checks the signature (bucket-level requests sign the resource
/// `/BUCKET/`, as UFile's SDKs do), then performs the operation.
async fn perform(call: &Call<'_>, op: Option<&'static str>, presented: &Presented<'_>, body: Body) -> Outcome {
    let Some(op) = op else {
        return call
            .fail(405, BAD_REQUEST, "operation not supported by ucloud-sim")
            .into();
    };
    if matches!(op, "HEAD" | "GET") {
        return ops::read(call, presented).await.into();
    }
    if let Err(r) = super::authorize(&call.ufile.keys, presented, call.bucket, call.key, now_secs()) {
        let (status, code, message) = r.answer();
        return call.fail(status, code, &message).into();
    }
    if !call.objects.has_bucket(call.bucket) {
        return call.fail(404, BUCKET_NOT_FOUND.0, BUCKET_NOT_FOUND.1).into();
    }
    match op {
        "PutFile" => ops::put_file(call, body).await.into(),
        "InitiateMultipartUpload" => ops::initiate(call).into(),
        "UploadPart" => ops::upload_part(call, body).await,
        "FinishMultipartUpload" => ops::finish(call, body).await,
        "AbortMultipartUpload" => ops::abort(call).into(),
        "ListParts" => ops::list_parts(call).into(),
        "ListUploads" => ops::list_uploads(call).into(),
        _ => ops::delete_file(call).into(),
    }
}

/// `GET /_sim/ufile/journal`: every object request, in order.
pub async fn hook_journal(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(sim.ufile().lock().journal.clone()).into_response()
}

/// `GET /_sim/ufile/faults`.
pub async fn hook_faults(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(sim.ufile().lock().faults.clone()).into_response()
}

/// `POST /_sim/ufile/faults`: the fields given replace the current ones.
pub async fn hook_set_faults(State(sim): State<Arc<Sim>>, body: axum::body::Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({"Error": e.to_string()}))).into_response(),
    };
    let mut s = sim.ufile().lock();
    match s.faults.patched(&patch) {
        Ok(faults) => {
            s.faults = faults.clone();
            axum::Json(faults).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({"Error": e}))).into_response(),
    }
}

/// `GET /_sim/ufile/stats`.
pub async fn hook_stats(State(sim): State<Arc<Sim>>) -> Response {
    let s = sim.ufile().lock();
    axum::Json(json!({
        "requests": s.requests,
        "bytes_received": s.bytes_received,
        "parts_stored": s.parts_stored,
    }))
    .into_response()
}

/// `GET /_sim/ufile/objects`: every object of every bucket.
pub async fn hook_objects(State(sim): State<Arc<Sim>>) -> Response {
    let listed: Vec<Value> = sim
        .ufile()
        .objects()
        .map(Objects::list)
        .unwrap_or_default()
        .into_iter()
        .map(|(bucket, key, size)| json!({"bucket": bucket, "key": key, "size": size}))
        .collect();
    axum::Json(listed).into_response()
}

/// `GET /_sim/ufile/uploads`: every unfinished upload and its parts.
pub async fn hook_uploads(State(sim): State<Arc<Sim>>) -> Response {
    let view = sim
        .ufile()
        .lock()
        .uploads
        .as_ref()
        .map(Uploads::view)
        .unwrap_or_default();
    axum::Json(view).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_follow_method_query_and_key() {
        let q = |s: &str| -> Vec<(String, String)> { url::form_urlencoded::parse(s.as_bytes()).into_owned().collect() };
        let cases = [
            ("GET", "", "muploadpart&uploadId=u", Some("ListParts")),
            ("GET", "", "muploadid&prefix=a", Some("ListUploads")),
            ("GET", "", "list", None),
            ("PUT", "k", "uploadId=u&partNumber=0", Some("UploadPart")),
            ("PUT", "k", "", Some("PutFile")),
            ("POST", "k", "uploads", Some("InitiateMultipartUpload")),
            ("POST", "k", "uploadId=u", Some("FinishMultipartUpload")),
            ("POST", "k", "", None),
            ("DELETE", "k", "uploadId=u", Some("AbortMultipartUpload")),
            ("DELETE", "k", "", Some("DeleteFile")),
            ("HEAD", "k", "", Some("HEAD")),
        ];
        for (method, key, query, op) in cases {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(op_of(&method, key, &q(query)), op, "{method} {key}?{query}");
        }
    }
}
