//! The UCloud client against an in-process HTTP server that answers each
//! connection from a script: what goes on the wire, which failures are
//! retried for which action, what errors say, cancellation, and that the
//! private key never shows up in logs or `Debug` output.

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use test_support::scripted::{Reply, ScriptedServer, Seen};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tpu::images::{ImageApi, Location};
use tpu::ucloud::{
    Action, Backoff, Client, ClientConfig, DescribeImage, Error, ImageFormat, ImportCustomImage, RateLimit, Secret,
    Settings, TerminateCustomImage, resolve, sign,
};
use tracing_subscriber::layer::SubscriberExt;

const PUBLIC_KEY: &str = "test-public@example.com";
const PRIVATE_KEY: &str = "PRIVATE-0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// An answer of UCloud's: `body` as JSON, with a request id.
fn json(body: &str) -> Reply {
    Reply::json(200, body).request_id("req-0001")
}

/// An answer with HTTP status `code` and no request id.
fn status(code: u16, body: &str) -> Reply {
    Reply::json(code, body)
}

/// Starts the scripted server on `script` (request `n` gets `script[n]`, the
/// last one repeated).
async fn serve(script: Vec<Reply>) -> ScriptedServer {
    ScriptedServer::start(script).await.expect("scripted server")
}

fn config(base_url: &str) -> ClientConfig {
    ClientConfig {
        base_url: base_url.to_owned(),
        public_key: PUBLIC_KEY.to_owned(),
        private_key: Secret::new(PRIVATE_KEY),
        max_retries: 3,
        timeout: Duration::from_secs(30),
        user_agent_extra: "terraform/1.11.4".to_owned(),
        rate_limit: RateLimit::unlimited(),
    }
}

fn client(server: &ScriptedServer) -> Client {
    Client::new(config(&server.base_url))
        .expect("client")
        .with_backoff(Backoff::none())
}

fn describe() -> DescribeImage {
    DescribeImage::by_id("cn-bj2", Some("org-test".into()), "uimage-1")
}

fn import() -> ImportCustomImage {
    ImportCustomImage {
        region: "cn-bj2".into(),
        project_id: None,
        image_name: "web-base".into(),
        ufile_url: "https://bkt.cn-bj.ufileos.com/web.qcow2".into(),
        os_type: "CentOS".into(),
        os_name: "CentOS 7.6 64位".into(),
        format: ImageFormat::Qcow2,
        auth: true,
        image_description: Some("base image".into()),
        tag: None,
    }
}

const DESCRIBE_OK: &str = r#"{"Action":"DescribeImageResponse","RetCode":0,"TotalCount":1,
    "ImageSet":[{"ImageId":"uimage-1","ImageName":"web-base","State":"Available","ImageSize":20}]}"#;
const IMPORT_OK: &str = r#"{"Action":"ImportCustomImageResponse","RetCode":0,"ImageId":"uimage-new"}"#;
const THROTTLED: &str = r#"{"Action":"DescribeImageResponse","RetCode":153,"Message":"Request throttled"}"#;

/// Keeps a test from hanging forever if cancellation is broken.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the call did not return")
}

/// A DescribeImage answer holding `ids`, out of `total`.
fn images_answer(ids: impl Iterator<Item = String>, total: usize) -> Reply {
    let set: Vec<String> = ids
        .map(|id| format!(r#"{{"ImageId":"{id}","State":"Making"}}"#))
        .collect();
    json(&format!(
        r#"{{"RetCode":0,"TotalCount":{total},"ImageSet":[{}]}}"#,
        set.join(",")
    ))
}

/// The form parameters of a recorded request.
fn form(r: &Seen) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn many_images_by_id_take_one_call_per_hundred_ids_and_follow_short_pages() {
    let ids: Vec<String> = (0..130).map(|i| format!("uimage-{i:03}")).collect();
    // The first batch of 100 comes back in two short pages (the server caps
    // Limit at 60), the second batch of 30 in one, missing one id.
    let server = serve(vec![
        images_answer(ids[..60].iter().cloned(), 100),
        images_answer(ids[60..100].iter().cloned(), 100),
        images_answer(ids[100..129].iter().cloned(), 29),
    ])
    .await;
    let client = client(&server);
    let api = ImageApi::new(&client, Location::new("cn-bj2", Some("org-test".into())));
    let found = bounded(api.get_many(&ids, &CancellationToken::new()))
        .await
        .expect("described");
    let found: Vec<&str> = found.iter().map(|i| i.image_id.as_str()).collect();
    assert_eq!(found, ids[..129].iter().map(String::as_str).collect::<Vec<_>>());

    let forms: Vec<Vec<(String, String)>> = server.seen().iter().map(form).collect();
    assert_eq!(forms.len(), 3);
    let count = |f: &[(String, String)]| f.iter().filter(|(k, _)| k.starts_with("ImageIds.")).count();
    let shape: Vec<(usize, Option<&str>, Option<&str>)> = forms
        .iter()
        .map(|f| (count(f), param(f, "Offset"), param(f, "Limit")))
        .collect();
    assert_eq!(
        shape,
        vec![
            (100, Some("0"), Some("100")),
            (100, Some("60"), Some("100")),
            (30, Some("0"), Some("100"))
        ]
    );
    assert_eq!(param(&forms[2], "ImageIds.0"), Some("uimage-100"));
    assert!(
        forms
            .iter()
            .all(|f| param(f, "ImageId").is_none() && param(f, "ProjectId") == Some("org-test"))
    );
}

#[tokio::test]
async fn sends_a_signed_form_post_with_the_expected_headers() {
    let server = serve(vec![json(IMPORT_OK)]).await;
    let resp = client(&server)
        .call(&import(), &CancellationToken::new())
        .await
        .expect("import");
    assert_eq!(resp.image_id, "uimage-new");

    let reqs = server.seen();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.request_line, "POST /?Action=ImportCustomImage HTTP/1.1");
    assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(
        r.header("user-agent").map(str::to_owned),
        Some(format!(
            "terraform-provider-ucloud/{} (+https://registry.terraform.io/providers/ucloud-rs/ucloud) terraform/1.11.4",
            env!("CARGO_PKG_VERSION")
        ))
    );
    let ts: u64 = r
        .header("u-timestamp-ms")
        .and_then(|v| v.parse().ok())
        .expect("U-Timestamp-Ms");
    assert!(ts > 1_600_000_000_000, "{ts} is not unix milliseconds");

    let signature = sign::signature(
        [
            ("Action", "ImportCustomImage"),
            ("Region", "cn-bj2"),
            ("ImageName", "web-base"),
            ("UFileUrl", "https://bkt.cn-bj.ufileos.com/web.qcow2"),
            ("OsType", "CentOS"),
            ("OsName", "CentOS 7.6 64位"),
            ("Format", "qcow2"),
            ("Auth", "true"),
            ("ImageDescription", "base image"),
            ("PublicKey", PUBLIC_KEY),
        ],
        PRIVATE_KEY,
    );
    assert_eq!(
        r.body_text(),
        format!(
            "Action=ImportCustomImage&Region=cn-bj2&ImageName=web-base\
             &UFileUrl=https%3A%2F%2Fbkt.cn-bj.ufileos.com%2Fweb.qcow2&OsType=CentOS&OsName=CentOS+7.6+64%E4%BD%8D\
             &Format=qcow2&Auth=true&ImageDescription=base+image&PublicKey=test-public%40example.com\
             &Signature={signature}"
        )
    );
}

#[tokio::test]
async fn describe_retries_429_503_and_throttling_then_succeeds() {
    let server = serve(vec![
        status(429, ""),
        status(503, "Service Unavailable"),
        json(THROTTLED),
        json(DESCRIBE_OK),
    ])
    .await;
    let resp = client(&server)
        .call(&describe(), &CancellationToken::new())
        .await
        .expect("describe");
    assert_eq!(server.requests(), 4);
    assert_eq!(resp.total_count, 1);
    assert_eq!(resp.find("uimage-1").map(|i| i.image_size), Some(20));
}

#[tokio::test]
async fn describe_gives_up_after_max_retries() {
    let server = serve(vec![status(503, "<html>down</html>")]).await;
    let mut cfg = config(&server.base_url);
    cfg.max_retries = 2;
    let client = Client::new(cfg).expect("client").with_backoff(Backoff::none());
    let err = client
        .call(&describe(), &CancellationToken::new())
        .await
        .expect_err("must fail");
    assert_eq!(server.requests(), 3);
    assert_eq!(err.http_status(), Some(503));
    assert!(
        err.to_string().contains("HTTP 503") && err.to_string().contains("<html>down</html>"),
        "{err}"
    );
    assert!(!err.is_outcome_unknown());
}

#[tokio::test]
async fn import_is_not_repeated_when_the_connection_drops_after_sending() {
    let server = serve(vec![Reply::drop_connection(), json(IMPORT_OK)]).await;
    let err = client(&server)
        .call(&import(), &CancellationToken::new())
        .await
        .expect_err("must fail");
    assert_eq!(server.requests(), 1, "a dropped import must not be sent again");
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(
        err.to_string().contains("may or may not have been carried out"),
        "{err}"
    );
}

#[tokio::test]
async fn import_is_not_repeated_after_a_gateway_error() {
    let server = serve(vec![status(503, ""), json(IMPORT_OK)]).await;
    let err = client(&server)
        .call(&import(), &CancellationToken::new())
        .await
        .expect_err("must fail");
    assert_eq!(server.requests(), 1);
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn import_is_not_repeated_after_a_timeout() {
    let server = serve(vec![Reply::hang(), json(IMPORT_OK)]).await;
    let mut cfg = config(&server.base_url);
    cfg.timeout = Duration::from_millis(300);
    let client = Client::new(cfg).expect("client").with_backoff(Backoff::none());
    let err = bounded(client.call(&import(), &CancellationToken::new()))
        .await
        .expect_err("must fail");
    assert_eq!(server.requests(), 1);
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(err.to_string().contains("no answer within 300ms"), "{err}");
}

#[tokio::test]
async fn describe_is_repeated_after_a_timeout_or_drop() {
    let server = serve(vec![Reply::hang(), Reply::drop_connection(), json(DESCRIBE_OK)]).await;
    let mut cfg = config(&server.base_url);
    cfg.timeout = Duration::from_millis(300);
    let client = Client::new(cfg).expect("client").with_backoff(Backoff::none());
    bounded(client.call(&describe(), &CancellationToken::new()))
        .await
        .expect("describe");
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn import_is_repeated_when_throttled() {
    let server = serve(vec![status(429, ""), json(THROTTLED), json(IMPORT_OK)]).await;
    let resp = client(&server)
        .call(&import(), &CancellationToken::new())
        .await
        .expect("import");
    assert_eq!(resp.image_id, "uimage-new");
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn import_is_repeated_when_the_connection_is_refused() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let client = Client::new(config(&format!("http://{addr}")))
        .expect("client")
        .with_backoff(Backoff::none());
    let err = client
        .call(&import(), &CancellationToken::new())
        .await
        .expect_err("must fail");
    assert!(!err.is_outcome_unknown(), "{err:?}");
    assert!(err.to_string().contains("failed after 4 attempts"), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[tokio::test]
async fn api_errors_carry_ret_code_message_and_request_id_and_are_not_retried() {
    let body = r#"{"Action":"DescribeImageResponse","RetCode":171,"Message":"Signature VerifyAC Error"}"#;
    let server = serve(vec![json(body), json(DESCRIBE_OK)]).await;
    let err = client(&server)
        .call(&describe(), &CancellationToken::new())
        .await
        .expect_err("must fail");
    assert_eq!(server.requests(), 1);
    assert_eq!(err.ret_code(), Some(171));
    assert_eq!(err.request_id(), Some("req-0001"));
    let shown = err.to_string();
    assert!(shown.contains("RetCode 171: Signature VerifyAC Error"), "{shown}");
    assert!(
        shown.contains("request id req-0001") && shown.contains("public_key and private_key"),
        "{shown}"
    );
}

#[tokio::test]
async fn ret_code_may_be_a_string() {
    let ok = r#"{"RetCode":"0","TotalCount":"0","ImageSet":[]}"#;
    let gone = r#"{"RetCode":"8956","Message":"resource does not exist or is not a custom image"}"#;
    let server = serve(vec![json(ok), json(gone), json(ok)]).await;
    let client = client(&server);
    let resp = client
        .call(&describe(), &CancellationToken::new())
        .await
        .expect("describe");
    assert!(resp.image_set.is_empty());
    let terminate = TerminateCustomImage {
        region: "cn-bj2".into(),
        project_id: None,
        image_id: "uimage-1".into(),
    };
    let err = client
        .call(&terminate, &CancellationToken::new())
        .await
        .expect_err("gone");
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(server.requests(), 2, "not-found is a definite answer, not retried");
}

#[tokio::test]
async fn an_answer_that_is_not_an_envelope_is_an_error_with_status() {
    let server = serve(vec![status(500, "<html>Internal Server Error</html>")]).await;
    let err = client(&server)
        .call(&describe(), &CancellationToken::new())
        .await
        .expect_err("must fail");
    assert_eq!(server.requests(), 1);
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err:?}");
    let server = serve(vec![json("<html>login portal</html>")]).await;
    let err = client(&server)
        .call(&import(), &CancellationToken::new())
        .await
        .expect_err("must fail");
    assert!(
        err.is_outcome_unknown(),
        "an import whose answer cannot be read may have happened: {err:?}"
    );
}

/// Every event and span of the whole test binary, as text. Installed once as
/// the global subscriber: per-thread subscribers would miss events from other
/// threads and interfere with each other's callsite caches.
struct Captured {
    lines: Mutex<Vec<String>>,
    added: tokio::sync::Notify,
}

impl Captured {
    fn get() -> &'static Captured {
        static CAPTURED: OnceLock<&'static Captured> = OnceLock::new();
        CAPTURED.get_or_init(|| {
            let captured: &'static Captured = Box::leak(Box::new(Captured {
                lines: Mutex::new(Vec::new()),
                added: tokio::sync::Notify::new(),
            }));
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture(captured)))
                .expect("install the capturing subscriber");
            captured
        })
    }

    fn text(&self) -> String {
        self.lines.lock().expect("lock").join("\n")
    }

    /// Returns once a captured line contains every one of `needles`.
    async fn wait_for(&self, needles: &[&str]) {
        loop {
            let added = self.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            if self
                .lines
                .lock()
                .expect("lock")
                .iter()
                .any(|l| needles.iter().all(|n| l.contains(n)))
            {
                return;
            }
            added.await;
        }
    }

    fn push(&self, line: String) {
        self.lines.lock().expect("lock").push(line);
        self.added.notify_waiters();
    }
}

struct Capture(&'static Captured);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields(format!("{} {}", event.metadata().level(), event.metadata().target()));
        event.record(&mut f);
        self.0.push(f.0);
    }
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut f = Fields(format!("span {}", attrs.metadata().name()));
        attrs.record(&mut f);
        self.0.push(f.0);
    }
}

/// An idempotent action of its own, so its log lines are told apart from
/// those of the tests running alongside.
struct Probe;

impl Action for Probe {
    const NAME: &'static str = "ProbeCancelDuringBackoff";
    const IDEMPOTENT: bool = true;
    type Response = serde_json::Value;

    fn params(&self) -> Vec<(String, String)> {
        vec![("Region".to_owned(), "cn-bj2".to_owned())]
    }
}

#[tokio::test]
async fn cancellation_interrupts_the_wait_between_retries() {
    let captured = Captured::get();
    let server = serve(vec![status(503, "")]).await;
    let hour = Duration::from_secs(3600);
    let backoff = Backoff {
        base: hour,
        jitter: Duration::ZERO,
        factor: 1,
        cap: hour,
    };
    let client = Client::new(config(&server.base_url))
        .expect("client")
        .with_backoff(backoff);
    let cancel = CancellationToken::new();
    let cancel_on_retry = async {
        // The retry line is logged just before the client starts waiting.
        captured
            .wait_for(&["action=ProbeCancelDuringBackoff", "outcome=retry"])
            .await;
        cancel.cancel();
    };
    let (result, ()) = bounded(async { tokio::join!(client.call(&Probe, &cancel), cancel_on_retry) }).await;
    let err = result.expect_err("cancelled");
    assert!(err.is_cancelled() && !err.is_outcome_unknown(), "{err:?}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn cancelling_an_import_in_flight_leaves_its_outcome_unknown() {
    let server = serve(vec![Reply::hang()]).await;
    let client = client(&server);
    let cancel = CancellationToken::new();
    let cancel_when_received = async {
        server.wait_for_requests(1).await;
        cancel.cancel();
    };
    let req = import();
    let (result, ()) = bounded(async { tokio::join!(client.call(&req, &cancel), cancel_when_received) }).await;
    let err = result.expect_err("cancelled");
    assert!(err.is_cancelled() && err.is_outcome_unknown(), "{err:?}");
    assert!(
        err.to_string().contains("may or may not have been carried out"),
        "{err}"
    );

    let err = client.call(&describe(), &cancel).await.expect_err("already cancelled");
    assert!(err.is_cancelled() && !err.is_outcome_unknown(), "{err:?}");
}

#[tokio::test]
async fn the_private_key_never_appears_in_logs_errors_or_debug_output() {
    let captured = Captured::get();

    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join(".ucloud")).expect("mkdir");
    std::fs::write(
        home.path().join(".ucloud/credential.json"),
        format!(r#"[{{"profile":"default","public_key":"{PUBLIC_KEY}","private_key":"{PRIVATE_KEY}"}}]"#),
    )
    .expect("write");
    std::fs::write(
        home.path().join(".ucloud/config.json"),
        "[{\"profile\":\"default\",\"active\":true,\"region\":1}]",
    )
    .expect("write");
    let bad_config = resolve(&Settings::default(), &|_| None, Some(home.path())).expect_err("region must be a string");
    std::fs::write(
        home.path().join(".ucloud/config.json"),
        r#"[{"profile":"default","region":"cn-bj2"}]"#,
    )
    .expect("write");
    let explicit = Settings {
        private_key: Some(Secret::new(PRIVATE_KEY)),
        ..Default::default()
    };
    let resolved = resolve(&explicit, &|_| None, Some(home.path())).expect("resolve");
    assert_eq!(resolved.private_key.expose(), PRIVATE_KEY);

    let body = r#"{"Action":"DescribeImageResponse","RetCode":171,"Message":"Signature VerifyAC Error"}"#;
    let server = serve(vec![json(body), Reply::drop_connection()]).await;
    let mut cfg = resolved.client_config("terraform/1.11.4");
    cfg.base_url = server.base_url.clone();
    let client = Client::new(cfg.clone()).expect("client").with_backoff(Backoff::none());
    let api_err = client
        .call(&describe(), &CancellationToken::new())
        .await
        .expect_err("171");
    let net_err = client
        .call(&import(), &CancellationToken::new())
        .await
        .expect_err("dropped");

    // Everything logged so far by every test in this binary, all at TRACE.
    let captured = captured.text();
    assert!(
        captured.contains("action=DescribeImage attempt=1"),
        "nothing captured:\n{captured}"
    );
    assert!(captured.contains("ret_code=171"), "{captured}");
    assert!(captured.contains("UCloud credentials resolved"), "{captured}");
    assert!(
        captured.contains("TRACE tpu::ucloud") && captured.contains(PUBLIC_KEY),
        "{captured}"
    );
    let shown = [
        captured,
        format!("{explicit:?}"),
        format!("{resolved:?}"),
        format!("{cfg:?}"),
        format!("{client:?}"),
        format!("{api_err:?} {api_err}"),
        format!("{net_err:?} {net_err}"),
        format!("{bad_config:?} {bad_config}"),
        server.seen().iter().map(|r| format!("{r:?}")).collect::<String>(),
    ];
    for text in shown {
        assert!(!text.contains(PRIVATE_KEY), "private key leaked in: {text}");
    }
}

/// UCloud's quota as the simulator plays it, on tokio's clock: a bucket of
/// `per_second` requests per second holding one second's worth.
struct Quota {
    per_second: f64,
    bucket: Mutex<(f64, tokio::time::Instant)>,
}

impl Quota {
    fn new(per_second: f64) -> Quota {
        Quota {
            per_second,
            bucket: Mutex::new((per_second, tokio::time::Instant::now())),
        }
    }

    fn admit(&self) -> bool {
        let now = tokio::time::Instant::now();
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let refill = now.saturating_duration_since(b.1).as_secs_f64() * self.per_second;
        b.0 = (b.0 + refill).min(self.per_second);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a throttling server saw: when each request came (since the start)
/// and whether it was throttled.
type Arrivals = std::sync::Arc<Mutex<Vec<(Duration, bool)>>>;

/// A server that throttles at `per_second` and otherwise answers each action
/// with its success; every request is recorded in the returned log.
async fn throttling_server(per_second: f64) -> (ScriptedServer, Arrivals) {
    let quota = Quota::new(per_second);
    let start = tokio::time::Instant::now();
    let log: Arrivals = Default::default();
    let seen = log.clone();
    let server = ScriptedServer::respond_with(move |_, request| {
        let admitted = quota.admit();
        let mut log = seen.lock().unwrap_or_else(|p| p.into_inner());
        log.push((start.elapsed(), !admitted));
        let body = request.body_text();
        Some(json(match () {
            _ if !admitted => THROTTLED,
            _ if body.contains("Action=ImportCustomImage") => IMPORT_OK,
            _ => DESCRIBE_OK,
        }))
    })
    .await
    .expect("scripted server");
    (server, log)
}

/// Runs every future of `futures` together on this task; their outputs in order.
async fn join_all<T, F: std::future::Future<Output = T>>(futures: impl Iterator<Item = F>) -> Vec<T> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut done: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, out) in pending.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// A client of `server` that does not retry anything but throttling.
fn no_retries(server: &ScriptedServer) -> Client {
    let mut cfg = config(&server.base_url);
    cfg.max_retries = 0;
    Client::new(cfg).expect("client")
}

#[tokio::test(start_paused = true)]
async fn throttled_attempts_do_not_count_toward_max_retries() {
    let mut script = vec![json(THROTTLED); 6];
    script.push(json(IMPORT_OK));
    let server = serve(script).await;
    let client = no_retries(&server);
    let resp = bounded(client.call(&import(), &CancellationToken::new()))
        .await
        .expect("the seventh attempt is let through");
    assert_eq!(resp.image_id, "uimage-new");
    assert_eq!(server.requests(), 7);
    assert!(client.current_rate().is_some(), "the throttling set a pace");
}

#[tokio::test(start_paused = true)]
async fn a_call_throttled_until_its_deadline_says_so_and_ctrl_c_stops_an_import_waiting_for_its_turn() {
    let server = serve(vec![json(THROTTLED)]).await;
    let client = no_retries(&server);
    let start = tokio::time::Instant::now();
    let deadline = start + Duration::from_secs(10);
    let err = bounded(client.call_whole(&describe(), &CancellationToken::new(), deadline))
        .await
        .expect_err("throttled throughout");
    assert!(matches!(err, Error::Throttled { .. }) && err.is_throttled(), "{err:?}");
    assert!(err.to_string().contains("was not sent"), "{err}");
    assert_eq!(tokio::time::Instant::now(), deadline);
    // At the floor of one request per second.
    assert!((9..=11).contains(&server.requests()), "{}", server.requests());

    // An import that is never interrupted in flight still stops on Ctrl-C
    // while it waits for its turn, with nothing left unknown.
    let cancel = CancellationToken::new();
    let stop = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        cancel.cancel();
    };
    let far = tokio::time::Instant::now() + Duration::from_secs(3600);
    let import = import();
    let (result, ()) = bounded(async { tokio::join!(client.call_whole(&import, &cancel, far), stop) }).await;
    let err = result.expect_err("cancelled");
    assert!(err.is_cancelled() && !err.is_outcome_unknown(), "{err:?}");
}

/// Sixty imports started within half a second against a quota of four per
/// second, while a poll asks every second: every call succeeds with no
/// retries allowed, the throttled answers are the first burst's, and the
/// polls are never stuck behind the queue of imports.
#[tokio::test(start_paused = true)]
async fn sixty_imports_against_a_quota_of_four_converge_without_starving_the_polls() {
    let (server, arrivals) = throttling_server(4.0).await;
    let client = no_retries(&server);
    let start = tokio::time::Instant::now();
    let mut rng = fastrand::Rng::with_seed(19);
    let offsets: Vec<u64> = (0..60).map(|_| rng.u64(0..500)).collect();
    let imports = offsets.iter().map(|ms| {
        let client = client.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            let import = import();
            client.call(&import, &CancellationToken::new()).await
        }
    });
    let polls = async {
        let mut worst = Duration::ZERO;
        for _ in 0..15 {
            let asked = tokio::time::Instant::now();
            client
                .call(&describe(), &CancellationToken::new())
                .await
                .expect("a poll");
            worst = worst.max(asked.elapsed());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        worst
    };
    let (results, worst_poll) = bounded(async { tokio::join!(join_all(imports), polls) }).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let took = start.elapsed();

    let log = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let throttled = log.iter().filter(|(_, t)| *t).count();
    let later: Vec<&(Duration, bool)> = log.iter().filter(|(at, _)| *at >= Duration::from_secs(3)).collect();
    let later_throttled = later.iter().filter(|(_, t)| *t).count();
    eprintln!(
        "{} requests, {throttled} throttled, {later_throttled} of {} after 3 s; {took:?}; worst poll {worst_poll:?}",
        log.len(),
        later.len()
    );
    assert!(
        later_throttled * 20 <= later.len(),
        "at most 5 % throttled after the first 3 s"
    );
    assert!(throttled * 10 <= log.len() * 6, "the first burst, then few");
    // 75 calls at 4 per second take 19 s at best.
    assert!(took < Duration::from_secs(35), "{took:?}");
    assert!(worst_poll < Duration::from_secs(3), "{worst_poll:?}");
}

/// Two clients of one endpoint and key (two provider configurations of
/// one process) share one limiter: one's throttling paces the other.
#[tokio::test(start_paused = true)]
async fn clients_of_one_endpoint_and_key_share_the_pace() {
    let server = serve(vec![json(THROTTLED), json(DESCRIBE_OK)]).await;
    let first = no_retries(&server);
    let second = no_retries(&server);
    assert_eq!(second.current_rate(), None, "open until a throttle");
    bounded(first.call(&describe(), &CancellationToken::new()))
        .await
        .expect("describe");
    assert!(second.current_rate().is_some());
    let own = no_retries(&server).with_own_limiter();
    assert_eq!(own.current_rate(), None);
}
