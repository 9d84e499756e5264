//! Issue #14's table: the UCloud client against a server that answers like a
//! broken UCloud (proxies, outages, API changes). Each row states what the
//! caller must see: the error's text, how many requests the server got (more
//! than one: retried), and whether the error is "outcome unknown", the class
//! the resource reconciles by looking the image up by name and creation time.
//! The 50 MB rows also bound the test process's peak memory, as does a 50 MB
//! value from Terraform's side of the wire.

use std::time::{Duration, Instant};

use test_support::protocol::Launched;
use test_support::scripted::{CountingAlloc, Length, Reply, ScriptedServer, reset_vm_hwm, vm_hwm_kib};
use tokio_util::sync::CancellationToken;
use tpu::framework::Type;
use tpu::framework::codec::{self, CodecError};
use tpu::proto::tfplugin6 as pb;
use tpu::ucloud::{
    Backoff, Client, ClientConfig, CopyCustomImage, CopyCustomImageResponse, DescribeImage, DescribeImageResponse,
    Error, ImageFormat, ImageState, ImportCustomImage, ImportCustomImageResponse, RateLimit, Secret,
    TerminateCustomImage, TerminateCustomImageResponse,
};

/// The provider binary Cargo built for these tests.
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-ucloud");

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const PUBLIC_KEY: &str = "hostile-public@example.com";
const PRIVATE_KEY: &str = "PRIVATE-hostile-5a69788796a5b4c3d2e1f0";
const RID: &str = "req-hostile-1";
/// For rows that must not time out, however loaded the machine.
const RELAXED: Duration = Duration::from_secs(20);
/// For the slow rows: longer than the one second between trickled bytes, so
/// only a deadline on the whole exchange (not an idle timeout) ends them.
const SHORT: Duration = Duration::from_millis(1200);
/// A row that takes longer has hung.
const HUNG: Duration = Duration::from_secs(90);
const FIFTY_MB: u64 = 50 * 1024 * 1024;
/// Live heap growth allowed while a 50 MB answer is refused: the 8 MiB the
/// client may hold, with room for buffers and the runtime.
const HEAP_GROWTH_LIMIT: usize = 24 * 1024 * 1024;
/// Resident growth (VmHWM) allowed for the same, in KiB: well below 50 MB.
const RSS_GROWTH_LIMIT_KIB: u64 = 32 * 1024;

const IMPORT_OK: &str = r#"{"Action":"ImportCustomImageResponse","RetCode":0,"ImageId":"uimage-new"}"#;
const DESCRIBE_OK: &str = r#"{"Action":"DescribeImageResponse","RetCode":0,"TotalCount":1,
    "ImageSet":[{"ImageId":"uimage-1","ImageName":"web","State":"Available","ImageSize":20}]}"#;
const LOGIN_PAGE: &str = "<html><head><title>Sign in</title></head><body>Please sign in to continue</body></html>";
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad \
                         Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const NGINX_503: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n\
                         <center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n";
/// The start of an answer that would list 200,000 images.
const HUGE_PREFIX: &str = r#"{"Action":"DescribeImageResponse","RetCode":0,"TotalCount":200000,"ImageSet":["#;

/// Which action a row calls.
#[derive(Clone, Copy, Debug)]
enum Call {
    Import,
    Copy,
    Describe,
    DescribeById(&'static str),
    Terminate(&'static str),
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Import => "ImportCustomImage",
            Call::Copy => "CopyCustomImage",
            Call::Describe | Call::DescribeById(_) => "DescribeImage",
            Call::Terminate(_) => "TerminateCustomImage",
        }
    }
}

/// A successful answer, whatever the action.
#[derive(Debug)]
enum Got {
    Import(ImportCustomImageResponse),
    Copy(CopyCustomImageResponse),
    Describe(DescribeImageResponse),
    Terminate(TerminateCustomImageResponse),
}

/// What the caller must see.
enum Expect {
    /// Success; the check says what the answer holds.
    Ok(fn(&Got) -> Result<(), String>),
    /// An error whose text contains every fragment of `says`. `reconciles`:
    /// it is outcome unknown (`is_outcome_unknown()`), so the resource looks
    /// for the image by name and creation time instead of failing or retrying.
    Err {
        says: &'static [&'static str],
        reconciles: bool,
    },
}

struct Row {
    name: &'static str,
    call: Call,
    script: Vec<Reply>,
    /// The client's per-request timeout.
    timeout: Duration,
    max_retries: u32,
    /// Requests the server must have read: 1 + the retries made (0 when the
    /// client refused to send).
    requests: usize,
    expect: Expect,
    /// Runs alone, with peak memory measured.
    heavy: bool,
}

fn row(name: &'static str, call: Call, script: Vec<Reply>, requests: usize, expect: Expect) -> Row {
    Row {
        name,
        call,
        script,
        timeout: RELAXED,
        max_retries: 2,
        requests,
        expect,
        heavy: false,
    }
}

impl Row {
    fn timeout(mut self, timeout: Duration, max_retries: u32) -> Row {
        self.timeout = timeout;
        self.max_retries = max_retries;
        self
    }

    fn heavy(mut self) -> Row {
        self.heavy = true;
        self
    }
}

/// A 200 JSON answer carrying UCloud's request id.
fn answer(body: &str) -> Reply {
    Reply::json(200, body).request_id(RID)
}

const fn fails(says: &'static [&'static str], reconciles: bool) -> Expect {
    Expect::Err { says, reconciles }
}

fn rows() -> Vec<Row> {
    use Call::*;
    let second = Duration::from_secs(1);
    let huge = || Reply::huge(200, HUGE_PREFIX, FIFTY_MB).request_id(RID);
    vec![
        // RetCode 0 without the id the caller needs.
        row(
            "import: RetCode 0 without ImageId",
            Import,
            vec![answer(r#"{"Action":"ImportCustomImageResponse","RetCode":0}"#)],
            1,
            fails(
                &["required field ImageId is missing or empty", "request id req-hostile-1"],
                true,
            ),
        ),
        row(
            "import: ImageId empty",
            Import,
            vec![answer(r#"{"RetCode":0,"ImageId":""}"#)],
            1,
            fails(&["required field ImageId is missing or empty"], true),
        ),
        row(
            "import: ImageId null, RetCode as a string",
            Import,
            vec![answer(r#"{"RetCode":"0","ImageId":null}"#)],
            1,
            fails(&["required field ImageId is missing or empty"], true),
        ),
        row(
            "copy: RetCode 0 without TargetImageId",
            Copy,
            vec![answer(
                r#"{"Action":"CopyCustomImageResponse","RetCode":0,"TaskId":"task-1"}"#,
            )],
            1,
            fails(
                &[
                    "required field TargetImageId is missing or empty",
                    "request id req-hostile-1",
                ],
                true,
            ),
        ),
        row(
            "copy: RetCode 0 with TargetImageId",
            Copy,
            vec![answer(
                r#"{"RetCode":0,"TargetImageId":"uimage-copy","TaskId":"task-1"}"#,
            )],
            1,
            Expect::Ok(|got| match got {
                Got::Copy(r) if r.target_image_id == "uimage-copy" => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        row(
            "terminate: RetCode 0 without the ImageId echo is a success",
            Terminate("uimage-1"),
            vec![answer(r#"{"Action":"TerminateCustomImageResponse","RetCode":0}"#)],
            1,
            Expect::Ok(|got| match got {
                Got::Terminate(r) if r.image_id.is_empty() => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        row(
            "describe: ImageSet entry without State",
            Describe,
            vec![answer(
                r#"{"RetCode":0,"TotalCount":2,"ImageSet":[{"ImageId":"uimage-1","State":"Available"},
                {"ImageId":"uimage-2"}]}"#,
            )],
            1,
            fails(
                &[
                    "DescribeImage",
                    "required field ImageSet[1].State",
                    "request id req-hostile-1",
                ],
                false,
            ),
        ),
        row(
            "describe: ImageSet entry without ImageId",
            Describe,
            vec![answer(
                r#"{"RetCode":0,"TotalCount":1,"ImageSet":[{"ImageId":null,"State":"Available"}]}"#,
            )],
            1,
            fails(&["required field ImageSet[0].ImageId"], false),
        ),
        // Truncated JSON (complete as far as HTTP is concerned).
        row(
            "import: truncated JSON",
            Import,
            vec![answer(r#"{"Action":"ImportCustomImageResponse","RetCode":0,"Imag"#)],
            1,
            fails(
                &[
                    "HTTP 200 with a body that is not a UCloud answer (not JSON: EOF while parsing",
                    RID,
                ],
                true,
            ),
        ),
        row(
            "describe: truncated JSON",
            Describe,
            vec![answer(
                r#"{"RetCode":0,"TotalCount":1,"ImageSet":[{"ImageId":"uimage-1","Sta"#,
            )],
            1,
            fails(
                &["not a UCloud answer (not JSON: EOF while parsing", r#"{"RetCode":0,"#],
                false,
            ),
        ),
        // JSON of the wrong shape.
        row(
            "describe: a string for a number",
            Describe,
            vec![answer(r#"{"RetCode":0,"TotalCount":"many","ImageSet":[]}"#)],
            1,
            fails(
                &[
                    r#"unexpected response fields: TotalCount: expected an integer, got "many""#,
                    RID,
                ],
                false,
            ),
        ),
        row(
            "describe: a string for a number inside an entry",
            Describe,
            vec![answer(
                r#"{"RetCode":0,"ImageSet":[{"ImageId":"uimage-1","State":"Available","ImageSize":"big"}]}"#,
            )],
            1,
            fails(&[r#"ImageSet[0].ImageSize: expected an integer, got "big""#], false),
        ),
        row(
            "describe: numbers sent as numeric strings are read",
            Describe,
            vec![answer(
                r#"{"RetCode":0,"TotalCount":"1","ImageSet":[{"ImageId":"uimage-1","State":"Available",
                "ImageSize":"20","CreateTime":"1700000000"}]}"#,
            )],
            1,
            Expect::Ok(|got| match got {
                Got::Describe(r) if r.total_count == 1 && r.find("uimage-1").map(|i| i.image_size) == Some(20) => {
                    Ok(())
                }
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        row(
            "describe: an object for a list",
            Describe,
            vec![answer(
                r#"{"RetCode":0,"TotalCount":1,"ImageSet":{"ImageId":"uimage-1","State":"Available"}}"#,
            )],
            1,
            fails(&["ImageSet: invalid type: map, expected a sequence"], false),
        ),
        row(
            "import: an object for the id",
            Import,
            vec![answer(r#"{"RetCode":0,"ImageId":{"Id":"uimage-new"}}"#)],
            1,
            fails(&["ImageId: expected a string", RID], true),
        ),
        row(
            "describe: a list for the answer",
            Describe,
            vec![answer(r#"[0,{"ImageId":"uimage-1"}]"#)],
            1,
            fails(&["not a UCloud answer (JSON that is not an object)"], false),
        ),
        // HTML pages.
        row(
            "describe: HTML with 200",
            Describe,
            vec![Reply::html(200, LOGIN_PAGE)],
            1,
            fails(
                &[
                    "HTTP 200 with a body that is not a UCloud answer (not JSON",
                    "Please sign in",
                ],
                false,
            ),
        ),
        row(
            "import: HTML with 200",
            Import,
            vec![Reply::html(200, LOGIN_PAGE)],
            1,
            fails(&["not a UCloud answer", "Please sign in"], true),
        ),
        row(
            "describe: HTML with 502, retried",
            Describe,
            vec![Reply::html(502, NGINX_502)],
            3,
            fails(
                &[
                    "DescribeImage failed: HTTP 502 without a UCloud answer",
                    "<center>nginx</center>",
                ],
                false,
            ),
        ),
        row(
            "describe: HTML with 503, retried",
            Describe,
            vec![Reply::html(503, NGINX_503)],
            3,
            fails(
                &[
                    "HTTP 503 without a UCloud answer",
                    "503 Service Temporarily Unavailable",
                ],
                false,
            ),
        ),
        row(
            "describe: HTML with 503, then the answer",
            Describe,
            vec![Reply::html(503, NGINX_503), answer(DESCRIBE_OK)],
            2,
            Expect::Ok(|got| match got {
                Got::Describe(r) if r.find("uimage-1").is_some() => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        row(
            "import: HTML with 502",
            Import,
            vec![Reply::html(502, NGINX_502), answer(IMPORT_OK)],
            1,
            fails(&["may or may not have been carried out (HTTP 502", "nginx"], true),
        ),
        row(
            "import: HTML with 503",
            Import,
            vec![Reply::html(503, NGINX_503), answer(IMPORT_OK)],
            1,
            fails(&["may or may not have been carried out (HTTP 503"], true),
        ),
        // An empty body.
        row(
            "describe: empty body with 200",
            Describe,
            vec![answer("")],
            1,
            fails(
                &["HTTP 200 with a body that is not a UCloud answer (empty body)", RID],
                false,
            ),
        ),
        row(
            "import: empty body with 200",
            Import,
            vec![answer("")],
            1,
            fails(&["(empty body)"], true),
        ),
        // 50 MB.
        row(
            "describe: 50 MB body, Content-Length declared",
            Describe,
            vec![huge()],
            1,
            fails(
                &[
                    "larger than the 8 MiB the client reads (it declared 52428800 bytes)",
                    RID,
                ],
                false,
            ),
        )
        .heavy(),
        row(
            "describe: 50 MB body, chunked",
            Describe,
            vec![huge().length(Length::Chunked)],
            1,
            fails(&["larger than the 8 MiB the client reads;", RID], false),
        )
        .heavy(),
        row(
            "import: 50 MB body, until the connection closes",
            Import,
            vec![huge().length(Length::CloseDelimited)],
            1,
            fails(
                &["may or may not have been carried out (the answer is larger than the 8 MiB"],
                true,
            ),
        )
        .heavy(),
        row(
            "describe: 50 MB error page with 502, retried, read only in part",
            Describe,
            vec![Reply::huge(502, "<html>bad gateway", FIFTY_MB).length(Length::Chunked)],
            3,
            fails(&["HTTP 502 without a UCloud answer: <html>bad gateway", "..."], false),
        )
        .heavy(),
        // A body that trickles one byte a second.
        row(
            "describe: body trickles 1 byte/s, retried",
            Describe,
            vec![answer(DESCRIBE_OK).trickle(1, second)],
            2,
            fails(
                &[
                    "failed after 2 attempts: the answer was not complete within 1s 200ms",
                    "too slowly",
                    RID,
                ],
                false,
            ),
        )
        .timeout(SHORT, 1),
        row(
            "import: body trickles 1 byte/s",
            Import,
            vec![answer(IMPORT_OK).trickle(1, second)],
            1,
            fails(&["(the answer was not complete within 1s 200ms", RID], true),
        )
        .timeout(SHORT, 1),
        row(
            "describe: headers trickle 1 byte/s, retried",
            Describe,
            vec![answer(DESCRIBE_OK).trickle_head(1, second)],
            2,
            fails(&["failed after 2 attempts: no answer within 1s 200ms"], false),
        )
        .timeout(SHORT, 1),
        // A connection reset after the headers.
        row(
            "describe: reset right after the headers, retried",
            Describe,
            vec![answer(DESCRIBE_OK).reset_after(0)],
            3,
            fails(
                &[
                    "failed after 3 attempts: the connection broke off while the answer was arriving",
                    RID,
                ],
                false,
            ),
        ),
        row(
            "describe: reset in the body, then the answer",
            Describe,
            vec![answer(DESCRIBE_OK).reset_after(20), answer(DESCRIBE_OK)],
            2,
            Expect::Ok(|got| match got {
                Got::Describe(r) if r.find("uimage-1").is_some() => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        row(
            "import: reset after the headers",
            Import,
            vec![answer(IMPORT_OK).reset_after(10), answer(IMPORT_OK)],
            1,
            fails(&["(the connection broke off while the answer was arriving", RID], true),
        ),
        // An unknown image state: an answer, reported by name.
        row(
            "describe: unknown image state",
            Describe,
            vec![answer(
                r#"{"RetCode":0,"TotalCount":1,"ImageSet":[{"ImageId":"uimage-1","State":"Frozen"}]}"#,
            )],
            1,
            Expect::Ok(|got| match got {
                Got::Describe(r) => {
                    let state = r.find("uimage-1").map(|i| i.state_kind());
                    if state == Some(ImageState::Unknown("Frozen".into()))
                        && state.as_ref().is_some_and(|s| s.is_unknown() && !s.is_pending())
                    {
                        Ok(())
                    } else {
                        Err(format!("state {state:?}"))
                    }
                }
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        // RetCode as a string: accepted when it holds an integer.
        row(
            "describe: RetCode \"0\"",
            Describe,
            vec![answer(
                r#"{"RetCode":"0","TotalCount":1,"ImageSet":[{"ImageId":"uimage-1","State":"Making"}]}"#,
            )],
            1,
            Expect::Ok(|got| match got {
                Got::Describe(r) if r.find("uimage-1").map(|i| i.state_kind()) == Some(ImageState::Making) => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        row(
            "import: RetCode \"0\" with ImageId",
            Import,
            vec![answer(r#"{"RetCode":"0","ImageId":"uimage-new"}"#)],
            1,
            Expect::Ok(|got| match got {
                Got::Import(r) if r.image_id == "uimage-new" => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }),
        ),
        row(
            "terminate: RetCode \"8956\" is not found",
            Terminate("uimage-1"),
            vec![answer(
                r#"{"RetCode":"8956","Message":"resource does not exist or is not a custom image"}"#,
            )],
            1,
            fails(&["RetCode 8956: resource does not exist", RID], false),
        ),
        row(
            "describe: RetCode \"zero\"",
            Describe,
            vec![answer(r#"{"RetCode":"zero","TotalCount":0}"#)],
            1,
            fails(&[r#"RetCode "zero" is not an integer"#, RID], false),
        ),
        row(
            "import: RetCode \"zero\"",
            Import,
            vec![answer(r#"{"RetCode":"zero","ImageId":"uimage-new"}"#)],
            1,
            fails(&[r#"(RetCode "zero" is not an integer)"#], true),
        ),
        // Never sent: an empty id would be dropped from the request.
        row(
            "terminate: empty id, not sent",
            Terminate(""),
            vec![answer(r#"{"RetCode":0}"#)],
            0,
            fails(
                &["TerminateCustomImage was not sent: the required parameter ImageId is empty"],
                false,
            ),
        ),
        row(
            "describe: empty id, not sent",
            DescribeById(" "),
            vec![answer(DESCRIBE_OK)],
            0,
            fails(
                &["DescribeImage was not sent: the required parameter ImageId is empty"],
                false,
            ),
        ),
    ]
}

fn import() -> ImportCustomImage {
    ImportCustomImage {
        region: "cn-bj2".into(),
        project_id: None,
        image_name: "web-base".into(),
        ufile_url: "https://bkt.cn-bj.ufileos.com/web.qcow2?Signature=secret-query".into(),
        os_type: "CentOS".into(),
        os_name: "CentOS 7.6 64位".into(),
        format: ImageFormat::Qcow2,
        auth: true,
        image_description: None,
        tag: None,
    }
}

async fn call(client: &Client, call: Call, cancel: &CancellationToken) -> Result<Got, Error> {
    match call {
        Call::Import => client.call(&import(), cancel).await.map(Got::Import),
        Call::Copy => {
            let req = CopyCustomImage {
                region: "cn-bj2".into(),
                source_image_id: "uimage-1".into(),
                target_project_id: "org-b".into(),
                target_region: Some("cn-sh2".into()),
                ..Default::default()
            };
            client.call(&req, cancel).await.map(Got::Copy)
        }
        Call::Describe => {
            let req = DescribeImage::by_id("cn-bj2", None, "uimage-1");
            client.call(&req, cancel).await.map(Got::Describe)
        }
        Call::DescribeById(id) => {
            let req = DescribeImage::by_id("cn-bj2", None, id);
            client.call(&req, cancel).await.map(Got::Describe)
        }
        Call::Terminate(id) => {
            let req = TerminateCustomImage {
                region: "cn-bj2".into(),
                project_id: None,
                image_id: id.into(),
            };
            client.call(&req, cancel).await.map(Got::Terminate)
        }
    }
}

/// Runs one row: what the caller saw, or every way it differed from the table.
async fn run(row: &Row) -> Result<String, String> {
    let server = ScriptedServer::start(row.script.clone())
        .await
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let config = ClientConfig {
        base_url: server.base_url.clone(),
        public_key: PUBLIC_KEY.to_owned(),
        private_key: Secret::new(PRIVATE_KEY),
        max_retries: row.max_retries,
        timeout: row.timeout,
        user_agent_extra: String::new(),
        rate_limit: RateLimit::unlimited(),
    };
    let client = Client::new(config)
        .map_err(|e| e.to_string())?
        .with_backoff(Backoff::none());
    let got = tokio::time::timeout(HUNG, call(&client, row.call, &CancellationToken::new()))
        .await
        .map_err(|_| format!("no result within {HUNG:?}"))?;

    let mut wrong = Vec::new();
    let seen = match &got {
        Ok(got) => format!("{} requests, ok: {got:?}", server.requests()),
        Err(e) => format!(
            "{} requests, outcome unknown: {}, {e}",
            server.requests(),
            e.is_outcome_unknown()
        ),
    };
    if server.requests() != row.requests {
        wrong.push(format!(
            "the server read {} requests, the table says {}",
            server.requests(),
            row.requests
        ));
    }
    match (&row.expect, got) {
        (Expect::Ok(check), Ok(got)) => wrong.extend(check(&got).err()),
        (Expect::Ok(_), Err(e)) => wrong.push(format!("expected an answer, got: {e}")),
        (Expect::Err { .. }, Ok(got)) => wrong.push(format!("expected an error, got {got:?}")),
        (Expect::Err { says, reconciles }, Err(e)) => {
            let text = e.to_string();
            for fragment in says.iter().copied().chain([row.call.name()]) {
                if !text.contains(fragment) {
                    wrong.push(format!("the error lacks {fragment:?}: {text}"));
                }
            }
            if e.is_outcome_unknown() != *reconciles {
                wrong.push(format!(
                    "is_outcome_unknown() is {}, the table says {reconciles}: {text}",
                    e.is_outcome_unknown()
                ));
            }
            let shown = format!("{e:?} {text}");
            if shown.contains(PRIVATE_KEY) || shown.contains("secret-query") {
                wrong.push(format!("a secret shows in the error: {shown}"));
            }
        }
    }
    if wrong.is_empty() {
        Ok(seen)
    } else {
        Err(wrong.join("\n    "))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_answer_gives_the_tabled_outcome() {
    let started = Instant::now();
    let mut rows_run = tokio::task::JoinSet::new();
    for row in rows().into_iter().filter(|r| !r.heavy) {
        rows_run.spawn(async move {
            let t = Instant::now();
            let result = run(&row).await;
            (row.name, t.elapsed(), result)
        });
    }
    let mut failures = Vec::new();
    let mut count = 0;
    while let Some(joined) = rows_run.join_next().await {
        let (name, took, result) = joined.expect("a row panicked");
        count += 1;
        match result {
            Ok(seen) => eprintln!("{took:>10.1?}  {name}\n            {seen}"),
            Err(why) => failures.push(format!("{name}:\n    {why}")),
        }
    }
    eprintln!("{count} rows in {:.1?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_mb_answers_are_refused_with_bounded_memory() {
    let heavy: Vec<Row> = rows().into_iter().filter(|r| r.heavy).collect();
    assert!(!heavy.is_empty());
    let mut failures = Vec::new();
    for row in &heavy {
        let rss_measured = reset_vm_hwm();
        let rss_before = vm_hwm_kib();
        CountingAlloc::reset_peak();
        let heap_before = CountingAlloc::current();
        let t = Instant::now();
        let result = run(row).await;
        let took = t.elapsed();
        let heap_growth = CountingAlloc::peak().saturating_sub(heap_before);
        let rss_growth = match (rss_measured, rss_before, vm_hwm_kib()) {
            (true, Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        eprintln!(
            "{took:>10.1?}  {}: peak heap +{} KiB, peak RSS (VmHWM) +{} KiB",
            row.name,
            heap_growth / 1024,
            rss_growth.map_or("?".to_owned(), |k| k.to_string())
        );
        match result {
            Ok(seen) => eprintln!("            {seen}"),
            Err(why) => failures.push(format!("{}:\n    {why}", row.name)),
        }
        if heap_growth > HEAP_GROWTH_LIMIT {
            failures.push(format!(
                "{}: the heap grew by {heap_growth} bytes (limit {HEAP_GROWTH_LIMIT})",
                row.name
            ));
        }
        if let Some(kib) = rss_growth.filter(|k| *k > RSS_GROWTH_LIMIT_KIB) {
            failures.push(format!(
                "{}: VmHWM grew by {kib} KiB (limit {RSS_GROWTH_LIMIT_KIB})",
                row.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Terraform's side of the wire is outside the process too: a 50 MB msgpack
/// value of one-byte elements (nulls in a list) would decode into a tree
/// tens of times its size. It is refused from its bytes, before any tree is
/// built, with almost no heap.
#[test]
fn a_fifty_mb_value_of_tiny_elements_is_refused_before_it_is_decoded() {
    let n = usize::try_from(FIFTY_MB).expect("fits");
    let mut bytes = Vec::with_capacity(5 + n);
    bytes.push(0xdd);
    bytes.extend_from_slice(&u32::try_from(n).expect("fits").to_be_bytes());
    bytes.resize(5 + n, 0xc0);
    let ty = Type::List(Box::new(Type::String));

    CountingAlloc::reset_peak();
    let before = CountingAlloc::current();
    let err = codec::decode_msgpack(&bytes, &ty).expect_err("refused");
    let grew = CountingAlloc::peak().saturating_sub(before);
    assert!(matches!(err, CodecError::TooMany { .. }), "{err}");
    assert!(
        err.to_string().contains("more than 1000000 elements"),
        "the message names the bound: {err}"
    );
    assert!(grew < 1024 * 1024, "{grew} bytes of heap to refuse it");
}

/// The same through the wire: ValidateResourceConfig with a 50 MB config of
/// one-byte elements gets the diagnostic, and the provider process's peak
/// memory stays near the message's own size (prost holds the bytes), far
/// from the gigabytes a decoded tree would take.
#[tokio::test]
async fn a_fifty_mb_config_from_terraform_gets_a_diagnostic_with_bounded_memory() {
    let mut p = Launched::start(PROVIDER.as_ref(), &[]).await;
    let n = usize::try_from(FIFTY_MB).expect("fits");
    let mut bytes = Vec::with_capacity(5 + n);
    bytes.push(0xdd);
    bytes.extend_from_slice(&u32::try_from(n).expect("fits").to_be_bytes());
    bytes.resize(5 + n, 0xc0);
    let answer = p
        .client
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "ucloud_custom_image".into(),
            config: Some(pb::DynamicValue {
                msgpack: bytes,
                json: Vec::new(),
            }),
            ..Default::default()
        })
        .await
        .expect("an answer, not a broken connection")
        .into_inner();
    let said: Vec<String> = answer
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.summary, d.detail))
        .collect();
    assert!(
        said.iter()
            .any(|d| d.contains("Invalid value from Terraform") && d.contains("more than 1000000 elements")),
        "{said:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap_or_default();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(
        hwm_kib < 200 * 1024,
        "the provider peaked at {hwm_kib} KiB for a 50 MB message"
    );
}
