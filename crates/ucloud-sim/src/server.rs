//! HTTP surface of the simulator: the UCloud API at `/` (form, JSON or query
//! parameters; JSON envelope; request id header), UCloud's throttling and
//! fault injection in front of it, the request journal, UFile objects at
//! `/ufile/BUCKET/...` (with their own journal, counters and upload faults;
//! see `ufile/http.rs`), and the `/_sim/` test hooks. Neither the objects
//! nor the hooks are ever throttled or delayed by the API's settings.
//!
//! The journal has one entry per API request: its action and parameters
//! (never the signature), the answer (RetCode, HTTP status, injected fault,
//! throttled, lost), `AtMs` (milliseconds since the simulator started) and,
//! for DescribeImage, `IdCount`: how many images it asked for by id
//! (`ImageIds.N` and `ImageId`; 0 for a listing).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Map, Value, json};

use crate::api::{self, Action, ApiError, Env};
use crate::cli::{Config, Keys, TerminateMaking};
use crate::conn::Kill;
use crate::faults::{FaultKind, FaultPlan, Verdict};
use crate::log::Log;
use crate::params::Params;
use crate::store::Store;
use crate::throttle::Throttle;
use crate::ufile;
use crate::ufile::http::{self, Ufile};

/// Header carrying the id of every API answer, as UCloud sends it.
pub const REQUEST_ID_HEADER: &str = "x-ucloud-request-uuid";

/// The simulator's shared state.
pub struct Sim {
    keys: Keys,
    making_time: Duration,
    copy_time: Duration,
    terminate_making: TerminateMaking,
    latency: Duration,
    quiet: bool,
    /// How often a performed import is answered without its ImageId.
    idless_answer_rate: f64,
    log: Log,
    /// What `AtMs` in the journal counts from.
    started: Instant,
    /// UFile: the objects under `--ufile-dir`, uploads, their faults and counters.
    ufile: Ufile,
    inner: Mutex<Inner>,
}

struct Inner {
    store: Store,
    journal: Vec<Value>,
    /// `--rate-limit`, when given.
    throttle: Option<Throttle>,
    faults: FaultPlan,
    rng: fastrand::Rng,
}

impl Sim {
    pub fn new(config: &Config, store: Store, seed: u64, log: Log, ufile: Ufile) -> Self {
        let faults = FaultPlan::new(
            config.fault_rate,
            config.fault_kinds.clone(),
            config.lost_response_rate,
            fastrand::Rng::with_seed(seed),
        )
        .losing(config.lose_answers.clone());
        Sim {
            keys: config.keys.clone(),
            making_time: config.making_time,
            copy_time: config.copy_time,
            terminate_making: config.terminate_making,
            latency: config.latency,
            quiet: config.quiet,
            idless_answer_rate: config.idless_answer_rate,
            log,
            started: Instant::now(),
            ufile,
            inner: Mutex::new(Inner {
                store,
                journal: Vec::new(),
                throttle: config.rate_limit.map(Throttle::new),
                faults,
                rng: fastrand::Rng::with_seed(seed ^ 0x5eed),
            }),
        }
    }

    /// The state, even if a handler panicked while holding it: every
    /// mutation is a single push or flag, so the data stays consistent.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The UFile half of the simulator.
    pub fn ufile(&self) -> &Ufile {
        &self.ufile
    }

    /// Writes the state file (if any); called once more at shutdown.
    pub fn save(&self) {
        if let Err(e) = self.lock().store.save() {
            self.log
                .line(format_args!("ucloud-sim: cannot write the state file: {e}"));
        }
    }
}

/// The simulator's routes.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/", any(api_request))
        .route("/_sim/images", get(hook_images))
        .route("/_sim/images/{id}/delete", post(hook_delete))
        .route("/_sim/journal", get(hook_journal))
        .route("/_sim/ufile/journal", get(http::hook_journal))
        .route("/_sim/ufile/faults", get(http::hook_faults).post(http::hook_set_faults))
        .route("/_sim/ufile/stats", get(http::hook_stats))
        .route("/_sim/ufile/objects", get(http::hook_objects))
        .route("/_sim/ufile/uploads", get(http::hook_uploads))
        .route("/ufile/{*object}", any(http::request))
        .route("/_sim/reset", post(hook_reset))
        .with_state(sim)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh uuid-shaped request id.
pub fn request_id(rng: &mut fastrand::Rng) -> String {
    let hex = |n: usize, rng: &mut fastrand::Rng| -> String {
        (0..n)
            .map(|_| char::from_digit(rng.u32(..16), 16).unwrap_or('0'))
            .collect()
    };
    format!(
        "{}-{}-4{}-{}-{}",
        hex(8, rng),
        hex(4, rng),
        hex(3, rng),
        hex(4, rng),
        hex(12, rng)
    )
}

/// How one API request ends.
enum Outcome {
    /// An envelope with RetCode 0 and these fields.
    Ok(Map<String, Value>),
    /// An envelope with a non-zero RetCode.
    Err(ApiError),
    /// A bare HTTP error status from an injected fault.
    Http(StatusCode),
}

/// Reads the parameters as UCloud does: the query string of a GET, the body
/// of a POST (JSON when so declared, form otherwise). On a POST the query
/// string (`?Action=..`) is informational only.
fn read_params(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Params, ApiError> {
    if *method == Method::GET {
        return Ok(Params::from_urlencoded(uri.query().unwrap_or_default().as_bytes()));
    }
    if *method != Method::POST {
        return Err(ApiError::new(
            160,
            format!("Missing Action: method {method} is not supported, use GET or POST"),
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        Params::from_json(body).map_err(|e| ApiError::new(230, format!("Params [body] not available: {e}")))
    } else {
        Ok(Params::from_urlencoded(body))
    }
}

async fn api_request(
    State(sim): State<Arc<Sim>>,
    ConnectInfo(kill): ConnectInfo<Kill>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (params, unreadable) = match read_params(&method, &uri, &headers, &body) {
        Ok(params) => (params, None),
        Err(e) => (Params::default(), Some(e)),
    };
    let action_name = params.get("Action").map(str::to_string);
    let signature = params.verify(&sim.keys);

    let mut idless = false;
    let (request_id, verdict, outcome, throttled) = {
        let mut inner = sim.lock();
        let inner = &mut *inner;
        let request_id = request_id(&mut inner.rng);
        let account = params.get("PublicKey").unwrap_or_default();
        let throttled = inner.throttle.as_mut().is_some_and(|t| !t.admit(account, started));
        // A throttled request never reaches the fault plan, which keeps
        // drawing the same faults for the requests that do.
        let verdict = if throttled {
            Verdict::Normal
        } else {
            inner.faults.next_for(action_name.as_deref())
        };
        let outcome = match verdict {
            _ if throttled => Outcome::Err(ApiError::new(153, "Request throttled")),
            Verdict::Fault(FaultKind::Http429) => Outcome::Http(StatusCode::TOO_MANY_REQUESTS),
            Verdict::Fault(FaultKind::Http503) => Outcome::Http(StatusCode::SERVICE_UNAVAILABLE),
            Verdict::Fault(FaultKind::Throttled153) => Outcome::Err(ApiError::new(153, "Request throttled")),
            Verdict::Fault(FaultKind::Unavailable150) => {
                Outcome::Err(ApiError::new(150, "Service unavailable, please retry later"))
            }
            Verdict::Normal | Verdict::Lost => {
                let checked = match unreadable {
                    Some(e) => Err(e),
                    None => Ok(&params),
                };
                match perform(&sim, inner, checked, signature, action_name.as_deref()) {
                    Ok(mut fields) => {
                        // A broken gateway: the image was made, its id is not said.
                        if action_name.as_deref() == Some("ImportCustomImage")
                            && inner.rng.f64() < sim.idless_answer_rate
                        {
                            fields.remove("ImageId");
                            idless = true;
                        }
                        Outcome::Ok(fields)
                    }
                    Err(e) => Outcome::Err(e),
                }
            }
        };
        let ret_code = match &outcome {
            Outcome::Ok(_) => Some(0),
            Outcome::Err(e) => Some(e.ret_code),
            Outcome::Http(_) => None,
        };
        let status = match &outcome {
            Outcome::Http(s) => s.as_u16(),
            _ => 200,
        };
        let shown: Map<String, Value> = params
            .unsigned()
            .map(|(k, v)| (k.to_string(), Value::String(ufile::redact_url(v))))
            .collect();
        let id_count = (action_name.as_deref() == Some("DescribeImage")).then(|| {
            shown
                .keys()
                .filter(|k| k.starts_with("ImageIds.") || *k == "ImageId")
                .count()
        });
        let seq = inner.journal.len();
        inner.journal.push(json!({
            "Seq": seq,
            "AtMs": u64::try_from(started.duration_since(sim.started).as_millis()).unwrap_or(u64::MAX),
            "Method": method.as_str(),
            "Action": action_name,
            "IdCount": id_count,
            "Params": shown,
            "SignatureValid": signature.is_ok(),
            "RetCode": ret_code,
            "HttpStatus": if verdict == Verdict::Lost { None } else { Some(status) },
            "Fault": match verdict { Verdict::Fault(k) => Some(k.label()), _ => None },
            "Lost": verdict == Verdict::Lost,
            "Throttled": throttled,
            "IdDropped": idless,
            "RequestId": request_id,
        }));
        (request_id, verdict, outcome, throttled)
    };

    if !sim.latency.is_zero() {
        tokio::time::sleep(sim.latency).await;
    }
    if !sim.quiet {
        let ret = match &outcome {
            Outcome::Ok(_) => "retcode=0".to_string(),
            Outcome::Err(e) => format!("retcode={}", e.ret_code),
            Outcome::Http(s) => format!("http={}", s.as_u16()),
        };
        let extra = match verdict {
            _ if throttled => " throttled".to_string(),
            Verdict::Fault(k) => format!(" fault={k}"),
            Verdict::Lost => " lost".to_string(),
            Verdict::Normal if idless => " idless".to_string(),
            Verdict::Normal => String::new(),
        };
        sim.log.line(format_args!(
            "{} {ret} request_id={request_id} {}ms{extra}",
            action_name.as_deref().unwrap_or("-"),
            started.elapsed().as_millis()
        ));
    }
    if verdict == Verdict::Lost {
        kill.trigger();
    }
    respond(action_name.as_deref().unwrap_or_default(), &request_id, outcome)
}

/// Checks the request, then performs its action. A request that fails the
/// signature check never reaches an action.
fn perform(
    sim: &Sim,
    inner: &mut Inner,
    params: Result<&Params, ApiError>,
    signature: Result<(), crate::params::AuthError>,
    action_name: Option<&str>,
) -> Result<Map<String, Value>, ApiError> {
    let params = params?;
    signature.map_err(|e| ApiError::new(e.ret_code(), e.message()))?;
    let name = action_name.ok_or_else(|| ApiError::new(160, "Missing Action"))?;
    let action = Action::parse(name)?;
    let env = Env {
        now_ms: now_ms(),
        making_time: sim.making_time,
        copy_time: sim.copy_time,
        terminate_making: sim.terminate_making,
        rng: &mut inner.rng,
        objects: sim.ufile.objects(),
        keys: &sim.keys,
    };
    let fields = api::perform(action, params, &mut inner.store, env)?;
    if action.mutates()
        && let Err(e) = inner.store.save()
    {
        sim.log
            .line(format_args!("ucloud-sim: cannot write the state file: {e}"));
    }
    Ok(fields)
}

fn respond(action: &str, request_id: &str, outcome: Outcome) -> Response {
    let mut response = match outcome {
        Outcome::Http(status) => (status, format!("{status}\n")).into_response(),
        Outcome::Ok(fields) => envelope(action, 0, None, fields),
        Outcome::Err(e) => envelope(action, e.ret_code, Some(e.message), Map::new()),
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn envelope(action: &str, ret_code: u32, message: Option<String>, fields: Map<String, Value>) -> Response {
    let mut body = Map::new();
    body.insert("Action".to_string(), Value::String(format!("{action}Response")));
    body.insert("RetCode".to_string(), Value::from(ret_code));
    if let Some(message) = message {
        body.insert("Message".to_string(), Value::String(message));
    }
    body.extend(fields);
    axum::Json(Value::Object(body)).into_response()
}

async fn hook_images(State(sim): State<Arc<Sim>>) -> Response {
    let now = now_ms();
    let images: Vec<Value> = sim.lock().store.images().iter().map(|i| i.hook_view(now)).collect();
    axum::Json(images).into_response()
}

async fn hook_delete(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let now = now_ms();
    let mut inner = sim.lock();
    let Some(view) = inner.store.delete_out_of_band(&id).map(|i| i.hook_view(now)) else {
        let error = json!({ "Error": format!("no live image {id}") });
        return (StatusCode::NOT_FOUND, axum::Json(error)).into_response();
    };
    if let Err(e) = inner.store.save() {
        sim.log
            .line(format_args!("ucloud-sim: cannot write the state file: {e}"));
    }
    axum::Json(view).into_response()
}

async fn hook_journal(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(sim.lock().journal.clone()).into_response()
}

async fn hook_reset(State(sim): State<Arc<Sim>>) -> Response {
    let mut inner = sim.lock();
    inner.store.clear();
    inner.journal.clear();
    sim.ufile.reset();
    if let Err(e) = inner.store.save() {
        sim.log
            .line(format_args!("ucloud-sim: cannot write the state file: {e}"));
    }
    axum::Json(json!({})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_fresh() {
        let mut rng = fastrand::Rng::with_seed(9);
        let a = request_id(&mut rng);
        let b = request_id(&mut rng);
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_post_reads_its_body_and_ignores_the_query() {
        let uri: Uri = "/?Action=DescribeImage&Region=x".parse().unwrap();
        let mut headers = HeaderMap::new();
        let p = read_params(&Method::POST, &uri, &headers, b"Action=TerminateCustomImage").unwrap();
        assert_eq!(p.get("Action"), Some("TerminateCustomImage"));
        assert_eq!(p.get("Region"), None);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let p = read_params(
            &Method::POST,
            &uri,
            &headers,
            br#"{"Action":"DescribeImage","Limit":5}"#,
        )
        .unwrap();
        assert_eq!(p.get("Limit"), Some("5"));
        let get = read_params(&Method::GET, &uri, &HeaderMap::new(), b"ignored").unwrap();
        assert_eq!(get.get("Region"), Some("x"));
    }
}
