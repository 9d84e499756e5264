//! Runs `ucloud-sim` for one test, inside the test process (the simulator
//! library on its own thread, on a free port), and talks to it over plain
//! HTTP/1.1: read the test hooks (`/_sim/images`, `/_sim/journal`), delete
//! out of band, and send raw signed requests for wire-level tests. The
//! simulator stops at once when the [`Sim`] is dropped; if the test is
//! failing, the simulator's log is printed so the failure can be read.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use ucloud_sim::Background;

/// How long one HTTP exchange with the simulator may take before it is an error.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Sim::wait_for_state`] polls before giving up.
const STATE_DEADLINE: Duration = Duration::from_secs(60);

/// A running simulator.
pub struct Sim {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    addr: String,
    /// `--ufile-dir`, when given.
    ufile_dir: Option<PathBuf>,
    /// `None` once [`Sim::terminate`] has stopped it.
    background: Option<Background>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `RetCode` of a JSON envelope.
    pub fn ret_code(&self) -> i64 {
        self.json()["RetCode"]
            .as_i64()
            .unwrap_or_else(|| panic!("no RetCode in {}", self.json()))
    }
}

/// Calls `look` every 20 ms until it gives a value; after
/// [`STATE_DEADLINE`] panics with `why` of what it last saw.
fn poll<T, S>(mut look: impl FnMut() -> Result<T, S>, why: impl Fn(S) -> String) -> T {
    let deadline = Instant::now() + STATE_DEADLINE;
    loop {
        match look() {
            Ok(found) => return found,
            Err(seen) => assert!(Instant::now() < deadline, "{}", why(seen)),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Sim {
    /// The demo key pair every simulator started here accepts (the binary's default pair).
    pub const KEY_PUBLIC: &'static str = ucloud_sim::cli::DEMO_PUBLIC_KEY;
    pub const KEY_PRIVATE: &'static str = ucloud_sim::cli::DEMO_PRIVATE_KEY;

    /// Starts the simulator on a free local port with the demo key pair
    /// plus `extra` arguments (e.g. `["--making-time", "0s"]`), parsed as
    /// `ucloud-sim`'s command line is.
    pub fn start(extra: &[&str]) -> Sim {
        let key = format!("{}:{}", Self::KEY_PUBLIC, Self::KEY_PRIVATE);
        let args = ["--listen", "127.0.0.1:0", "--key", &key]
            .into_iter()
            .chain(extra.iter().copied());
        // The environment is not consulted: `--key` is always given.
        let config =
            ucloud_sim::cli::parse(args, None).unwrap_or_else(|e| panic!("ucloud-sim arguments {extra:?}: {e}"));
        let ufile_dir = config.ufile_dir.clone();
        let background = Background::start(config).unwrap_or_else(|e| panic!("ucloud-sim did not start: {e}"));
        Sim {
            url: background.url(),
            addr: background.addr().to_string(),
            ufile_dir,
            background: Some(background),
        }
    }

    /// What the simulator logged so far (one line per request).
    pub fn log(&self) -> String {
        self.background.as_ref().map(Background::log).unwrap_or_default()
    }

    /// Polls the log until it contains `needle`; panics after a minute.
    pub fn wait_for_log(&self, needle: &str) -> String {
        poll(
            || {
                let log = self.log();
                if log.contains(needle) { Ok(log) } else { Err(log) }
            },
            |log| format!("ucloud-sim never logged {needle:?}:\n{log}"),
        )
    }

    /// Every image ever imported, deleted ones included (`Deleted: true`).
    pub fn images(&self) -> Vec<Value> {
        self.hook_list("/_sim/images")
    }

    /// Images that have not been deleted.
    pub fn live_images(&self) -> Vec<Value> {
        self.images()
            .into_iter()
            .filter(|i| i["Deleted"] == Value::Bool(false))
            .collect()
    }

    /// The image `id` as the hook shows it, deleted or not.
    pub fn image(&self, id: &str) -> Option<Value> {
        self.images().into_iter().find(|i| i["ImageId"] == id)
    }

    /// Every API request received, in order.
    pub fn journal(&self) -> Vec<Value> {
        self.hook_list("/_sim/journal")
    }

    /// The ids of the images that have not been deleted.
    pub fn live_ids(&self) -> BTreeSet<String> {
        self.live_images()
            .iter()
            .filter_map(|i| i["ImageId"].as_str().map(str::to_string))
            .collect()
    }

    /// The API requests for `action`, in order.
    pub fn journal_of(&self, action: &str) -> Vec<Value> {
        self.journal().into_iter().filter(|e| e["Action"] == action).collect()
    }

    /// Polls the journal until it holds a request for `action` (received,
    /// perhaps not answered yet). Panics after a minute.
    pub fn wait_for_action(&self, action: &str) {
        poll(
            || (self.count_action(action) > 0).then_some(()).ok_or(()),
            |()| format!("the simulator never received {action}"),
        );
    }

    /// Polls the journal until some request for `action` is followed by a
    /// DescribeImage: the provider made the call and waits on its image.
    /// Panics after a minute.
    pub fn wait_for_wait_after(&self, action: &str) {
        poll(
            || {
                let journal = self.journal();
                let made = journal.iter().position(|e| e["Action"] == action);
                let waited = made.is_some_and(|i| journal[i + 1..].iter().any(|e| e["Action"] == "DescribeImage"));
                waited.then_some(()).ok_or(journal)
            },
            |journal| format!("the provider never waited after {action}: {journal:#?}"),
        );
    }

    /// Every UFile object request received (`/ufile/BUCKET/KEY`), in order.
    pub fn object_requests(&self) -> Vec<Value> {
        self.hook_list("/_sim/ufile/journal")
    }

    /// The `ufile_base_url` under which this simulator serves its objects.
    pub fn ufile_url(&self) -> String {
        format!("{}{}", self.url, ucloud_sim::ufile::PATH_PREFIX)
    }

    /// The `--ufile-dir` the simulator was started with.
    pub fn ufile_dir(&self) -> Option<&Path> {
        self.ufile_dir.as_deref()
    }

    /// UFile's counters: `requests` per operation, `bytes_received`, `parts_stored`.
    pub fn ufile_stats(&self) -> Value {
        self.hook_value("GET", "/_sim/ufile/stats", b"")
    }

    /// Every object stored: `bucket`, `key`, `size`.
    pub fn ufile_objects(&self) -> Vec<Value> {
        self.hook_list("/_sim/ufile/objects")
    }

    /// Every unfinished multipart upload: `id`, `bucket`, `key`, `parts`.
    pub fn ufile_uploads(&self) -> Vec<Value> {
        self.hook_list("/_sim/ufile/uploads")
    }

    /// Replaces the upload faults named in `faults` (a JSON object, e.g.
    /// `{"lose_finish": 1}`); the settings now in force.
    pub fn set_ufile_faults(&self, faults: Value) -> Value {
        self.hook_value("POST", "/_sim/ufile/faults", faults.to_string().as_bytes())
    }

    /// One UFile request signed in the `Authorization` header with the demo
    /// key, path-style at `/ufile/BUCKET/KEY?QUERY` (`key` unencoded; empty
    /// for a bucket-level request, which signs the resource `/BUCKET/`).
    pub fn ufile_request(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        query: &str,
        content_type: &str,
        body: &[u8],
    ) -> io::Result<Reply> {
        let authorization = ufile_authorization(method, content_type, bucket, key, Self::KEY_PRIVATE);
        let mut path = format!("{}/{bucket}/{}", ucloud_sim::ufile::PATH_PREFIX, encode_key(key));
        if !query.is_empty() {
            path.push('?');
            path.push_str(query);
        }
        let mut headers = vec![("Authorization", authorization.as_str())];
        if !content_type.is_empty() {
            headers.push(("Content-Type", content_type));
        }
        self.request_with(method, &path, &headers, body)
    }

    /// How many API requests named `action` were received (faulted and lost ones included).
    pub fn count_action(&self, action: &str) -> usize {
        self.journal().iter().filter(|e| e["Action"] == action).count()
    }

    /// Deletes `id` behind the provider's back, as someone using the console would.
    pub fn delete_out_of_band(&self, id: &str) {
        let reply = self
            .request("POST", &format!("/_sim/images/{id}/delete"), None, b"")
            .expect("delete hook");
        assert_eq!(
            reply.status,
            200,
            "out-of-band delete of {id}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }

    /// Forgets every image and the journal.
    pub fn reset(&self) {
        let reply = self.request("POST", "/_sim/reset", None, b"").expect("reset hook");
        assert_eq!(reply.status, 200);
    }

    /// Polls until image `id` is in `state` (Making, Available, Unavailable); panics after a minute.
    pub fn wait_for_state(&self, id: &str, state: &str) -> Value {
        poll(
            || {
                let image = self.image(id);
                image.clone().filter(|i| i["State"] == state).ok_or(image)
            },
            |image| format!("image {id} never reached {state}: {image:?}"),
        )
    }

    /// Signs `Action` + `params` with the demo key and POSTs them as a form;
    /// the JSON answer. Panics if the connection fails.
    pub fn sign_and_post(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let reply = self.try_sign_and_post(action, params).expect("POST to ucloud-sim");
        reply.json()
    }

    /// Like [`Sim::sign_and_post`] but returns the whole reply or the transport error.
    pub fn try_sign_and_post(&self, action: &str, params: &[(&str, &str)]) -> io::Result<Reply> {
        let signed = signed_params(action, params, Self::KEY_PUBLIC, Self::KEY_PRIVATE);
        let pairs: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_form(&pairs)
    }

    /// POSTs exactly `params` as a form body (no signing), to `/?Action=..` as SDKs do.
    pub fn post_form(&self, params: &[(&str, &str)]) -> io::Result<Reply> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let action = params
            .iter()
            .find(|(k, _)| *k == "Action")
            .map(|(_, v)| *v)
            .unwrap_or_default();
        let path = format!("/?Action={action}");
        self.request(
            "POST",
            &path,
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        )
    }

    /// One HTTP/1.1 exchange on a fresh connection (`Connection: close`).
    /// A connection closed before a complete answer is an error.
    pub fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> io::Result<Reply> {
        let headers: Vec<(&str, &str)> = content_type.map(|ct| ("Content-Type", ct)).into_iter().collect();
        self.request_with(method, path, &headers, body)
    }

    /// Like [`Sim::request`], with any request headers. The answer to a
    /// HEAD has no body, whatever its Content-Length says.
    pub fn request_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<Reply> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_reply(&raw, method == "HEAD")
    }

    /// Stops the simulator the way SIGTERM stops the binary: in-flight
    /// requests finish and the state file is written a last time.
    pub fn terminate(mut self) -> Result<(), ucloud_sim::Error> {
        self.background.take().map_or(Ok(()), Background::shutdown)
    }

    fn hook_value(&self, method: &str, path: &str, body: &[u8]) -> Value {
        let reply = self
            .request(method, path, Some("application/json"), body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(
            reply.status,
            200,
            "{method} {path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    fn hook_list(&self, path: &str) -> Vec<Value> {
        let reply = self
            .request("GET", path, None, b"")
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        match reply.json() {
            Value::Array(items) => items,
            other => panic!("GET {path}: not a list: {other}"),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- ucloud-sim log ({}) ---\n{}--- end of ucloud-sim log ---",
                self.url,
                self.log()
            );
        }
    }
}

/// `Action` + `params` + `PublicKey` + `Signature`, signed by UCloud's rule
/// (the simulator's own signer, pinned by UCloud's vectors; empty values dropped
/// as clients drop them).
pub fn signed_params(action: &str, params: &[(&str, &str)], public: &str, private: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![("Action".to_string(), action.to_string())];
    out.extend(
        params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    out.push(("PublicKey".to_string(), public.to_string()));
    let signature = ucloud_sim::sign::signature(out.iter().map(|(k, v)| (k.as_str(), v.as_str())), private);
    out.push(("Signature".to_string(), signature));
    out
}

/// `UCloud <demo public key>:<signature>` for `verb` on `/BUCKET/KEY` by
/// UFile's rule (the simulator's verifier, pinned by the Python SDK's
/// vectors), with `private` as the private key.
pub fn ufile_authorization(verb: &str, content_type: &str, bucket: &str, key: &str, private: &str) -> String {
    let text = ucloud_sim::ufile::string_to_sign(verb, "", content_type, "", bucket, key);
    format!(
        "UCloud {}:{}",
        Sim::KEY_PUBLIC,
        ucloud_sim::ufile::signature(private, &text)
    )
}

/// A key as a URL path: every byte but `A-Z a-z 0-9 - . _ ~ /` percent-encoded.
pub fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parses one HTTP/1.1 answer; `bodiless` for the answer to a HEAD.
fn parse_reply(raw: &[u8], bodiless: bool) -> io::Result<Reply> {
    let incomplete = |what: &str| io::Error::new(io::ErrorKind::UnexpectedEof, format!("connection closed: {what}"));
    if raw.is_empty() {
        return Err(incomplete("no response at all"));
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| incomplete("incomplete head"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = if bodiless {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest).ok_or_else(|| incomplete("incomplete chunked body"))?
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < len {
            return Err(incomplete("body shorter than Content-Length"));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Reply { status, headers, body })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// How long the throttling figures give the provider's limiter to find the
/// pace after its first burst.
pub const SETTLING: Duration = Duration::from_secs(3);

/// How much of a run's share of the journal the simulator throttled
/// (`--rate-limit`): the throttling tests and the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct Throttling {
    pub requests: usize,
    pub throttled: usize,
    /// Requests sent [`SETTLING`] or more after the first import or delete,
    /// and of them the throttled. A destroy's refresh runs before it, in a
    /// provider process of its own (the plan's).
    pub later: usize,
    pub later_throttled: usize,
}

impl Throttling {
    pub fn of(entries: &[Value]) -> Throttling {
        let at = |e: &Value| e["AtMs"].as_u64().unwrap_or(0);
        let work = |e: &&Value| e["Action"] == "ImportCustomImage" || e["Action"] == "TerminateCustomImage";
        let first = entries
            .iter()
            .filter(work)
            .map(at)
            .min()
            .or_else(|| entries.iter().map(at).min())
            .unwrap_or(0);
        let settled = first + u64::try_from(SETTLING.as_millis()).unwrap_or(u64::MAX);
        let throttled = |e: &&Value| e["Throttled"] == true;
        let later: Vec<&Value> = entries.iter().filter(|e| at(e) >= settled).collect();
        Throttling {
            requests: entries.len(),
            throttled: entries.iter().filter(throttled).count(),
            later: later.len(),
            later_throttled: later.iter().copied().filter(throttled).count(),
        }
    }
}

/// The imports the simulator performed (not throttled, RetCode 0): with
/// the images' count, proof that none was made twice.
pub fn performed_imports(entries: &[Value]) -> usize {
    entries
        .iter()
        .filter(|e| e["Action"] == "ImportCustomImage" && e["Throttled"] != true && e["RetCode"] == 0)
        .count()
}
