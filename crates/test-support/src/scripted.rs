//! The one scripted HTTP/1.1 server of the tests: it answers each request
//! with the next [`Reply`] of a script, or with what a responder function
//! makes of the request (status, headers, body, a declared length that may
//! lie, a trickle rate, a reset after the headers, a dropped or never
//! answered connection, a huge body generated as it is sent), and records
//! every request it read. Plus the means to measure the test process's peak
//! memory ([`CountingAlloc`], [`vm_hwm_kib`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The largest piece written at once (and the filler buffer's size).
const PIECE: usize = 64 * 1024;
/// The largest request head the server reads before giving up on it.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// What the body consists of.
#[derive(Clone, Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `prefix`, then `fill` up to `len` bytes in all, generated while it is
    /// sent: a 50 MB body costs the server nothing.
    Generated {
        prefix: Vec<u8>,
        len: u64,
        fill: u8,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Generated { len, .. } => *len,
        }
    }

    /// Copies the bytes at `offset` into `buf`; returns how many.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let len = self.len();
        if offset >= len {
            return 0;
        }
        let n = usize::try_from(len - offset).unwrap_or(usize::MAX).min(buf.len());
        match self {
            Body::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                buf[..n].copy_from_slice(&b[start..start + n]);
            }
            Body::Generated { prefix, fill, .. } => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let from_prefix = prefix.len().saturating_sub(start).min(n);
                if from_prefix > 0 {
                    buf[..from_prefix].copy_from_slice(&prefix[start..start + from_prefix]);
                }
                buf[from_prefix..n].fill(*fill);
            }
        }
        n
    }
}

/// How the body's length is announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// `Content-Length` with the real length.
    Actual,
    /// `Content-Length: n`, whatever the body really is.
    Declared(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection closes.
    CloseDelimited,
}

/// How fast the answer goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    AtOnce,
    /// `bytes` every `every`, for the body only or from the status line on.
    Trickle {
        bytes: usize,
        every: Duration,
        head_too: bool,
    },
}

/// How the exchange ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The whole answer, then a normal close.
    Close,
    /// The headers and the first `n` body bytes, then a TCP reset (RST).
    ResetAfter(u64),
    /// No answer at all: the connection is closed once the request is read.
    Drop,
    /// No answer ever: the connection stays open until the server stops.
    Hang,
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub length: Length,
    pub pace: Pace,
    pub ending: Ending,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(status, "application/json", Body::Bytes(body.into()))
    }

    /// `status` with an HTML page, as gateways and proxies send.
    pub fn html(status: u16, page: &str) -> Reply {
        Reply::new(status, "text/html", Body::Bytes(page.as_bytes().to_vec()))
    }

    /// `status` with `len` bytes of JSON-looking filler after `prefix`.
    pub fn huge(status: u16, prefix: &str, len: u64) -> Reply {
        let body = Body::Generated {
            prefix: prefix.as_bytes().to_vec(),
            len,
            fill: b' ',
        };
        Reply::new(status, "application/json", body)
    }

    fn new(status: u16, content_type: &str, body: Body) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body,
            length: Length::Actual,
            pace: Pace::AtOnce,
            ending: Ending::Close,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// UCloud's request id header.
    pub fn request_id(self, id: &str) -> Reply {
        self.header("X-UCLOUD-REQUEST-UUID", id)
    }

    pub fn length(mut self, length: Length) -> Reply {
        self.length = length;
        self
    }

    /// The body goes out `bytes` at a time, `every` apart.
    pub fn trickle(mut self, bytes: usize, every: Duration) -> Reply {
        self.pace = Pace::Trickle {
            bytes,
            every,
            head_too: false,
        };
        self
    }

    /// The status line and headers trickle too.
    pub fn trickle_head(mut self, bytes: usize, every: Duration) -> Reply {
        self.pace = Pace::Trickle {
            bytes,
            every,
            head_too: true,
        };
        self
    }

    /// The headers and the first `n` body bytes, then a reset.
    pub fn reset_after(mut self, n: u64) -> Reply {
        self.ending = Ending::ResetAfter(n);
        self
    }

    /// The connection closed without an answer.
    pub fn drop_connection() -> Reply {
        Reply {
            ending: Ending::Drop,
            ..Reply::json(200, "")
        }
    }

    /// The connection kept open, never answered.
    pub fn hang() -> Reply {
        Reply {
            ending: Ending::Hang,
            ..Reply::json(200, "")
        }
    }

    /// Only the head of this answer (for a `HEAD` request): its
    /// `Content-Length` stays the body's.
    pub fn head_only(mut self) -> Reply {
        if self.length == Length::Actual {
            self.length = Length::Declared(self.body.len());
        }
        self.body = Body::Bytes(Vec::new());
        self
    }

    fn head(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} Scripted\r\n", self.status);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        match self.length {
            Length::Actual => head.push_str(&format!("Content-Length: {}\r\n", self.body.len())),
            Length::Declared(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
            Length::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
            Length::CloseDelimited => {}
        }
        head.push_str("Connection: close\r\n\r\n");
        head.into_bytes()
    }
}

/// What the server was asked.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `POST /?Action=DescribeImage HTTP/1.1`
    pub request_line: String,
    /// The `Action` of the query string, if any.
    pub action: Option<String>,
    /// The headers, as sent.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Seen {
    /// The request's method (`GET`).
    pub fn method(&self) -> &str {
        self.request_line.split(' ').next().unwrap_or_default()
    }

    /// The request target (`/bucket/key?x=1`).
    pub fn target(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or_default()
    }

    /// The first header called `name`, in any letter case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What makes the answer to a request.
type Responder = Arc<dyn Fn(usize, &Seen) -> Option<Reply> + Send + Sync>;

/// A running server; stops (and cuts every connection) when dropped.
pub struct ScriptedServer {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
}

impl ScriptedServer {
    /// Answers request `n` with `script[n]`, repeating the last entry.
    pub async fn start(script: Vec<Reply>) -> io::Result<ScriptedServer> {
        Self::respond_with(move |n, _| script.get(n).or(script.last()).cloned()).await
    }

    /// Answers request `n` with what `respond(n, request)` makes of it;
    /// `None` closes the connection unanswered.
    pub async fn respond_with(
        respond: impl Fn(usize, &Seen) -> Option<Reply> + Send + Sync + 'static,
    ) -> io::Result<ScriptedServer> {
        let respond: Responder = Arc::new(respond);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let stop = CancellationToken::new();
        let (log, notify, halt) = (seen.clone(), arrived.clone(), stop.clone());
        tokio::spawn(async move {
            let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            loop {
                let sock = tokio::select! {
                    _ = halt.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((sock, _)) => sock,
                        Err(_) => return,
                    },
                };
                let (log, notify, halt, respond, count) = (
                    log.clone(),
                    notify.clone(),
                    halt.clone(),
                    respond.clone(),
                    count.clone(),
                );
                tokio::spawn(async move {
                    tokio::select! {
                        _ = halt.cancelled() => {}
                        _ = serve(sock, respond, count, log, notify) => {}
                    }
                });
            }
        });
        Ok(ScriptedServer {
            base_url,
            seen,
            arrived,
            stop,
        })
    }

    /// How many requests were read in full.
    pub fn requests(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Every request read in full, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Returns once `n` requests have been read in full.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let arrived = self.arrived.notified();
            if self.requests() >= n {
                return;
            }
            arrived.await;
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Reads one request, records it, sends the answer made for it. Write
/// errors end it quietly: a client that stops reading is what several
/// scripts test.
async fn serve(
    mut sock: TcpStream,
    respond: Responder,
    count: Arc<std::sync::atomic::AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: Arc<tokio::sync::Notify>,
) {
    let Some(request) = read_request(&mut sock).await else {
        return;
    };
    let n = count.fetch_add(1, Ordering::SeqCst);
    let reply = respond(n, &request);
    if let Ok(mut s) = seen.lock() {
        s.push(request);
    }
    arrived.notify_waiters();
    match reply.as_ref().map(|r| r.ending) {
        None | Some(Ending::Drop) => {}
        Some(Ending::Hang) => std::future::pending::<()>().await,
        Some(_) => {
            if let Some(reply) = reply {
                let _ = answer(&mut sock, &reply).await;
            }
        }
    }
}

/// The request, once the head and the `Content-Length` body are read.
async fn read_request(sock: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return None;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let action = request_line
        .split_whitespace()
        .nth(1)
        .and_then(|target| target.split_once("Action="))
        .map(|(_, rest)| rest.split('&').next().unwrap_or_default().to_owned());
    Some(Seen {
        request_line,
        action,
        headers,
        body: buf[head_end..head_end + length].to_vec(),
    })
}

async fn answer(sock: &mut TcpStream, reply: &Reply) -> io::Result<()> {
    let (step, every, head_too) = match reply.pace {
        Pace::AtOnce => (PIECE, Duration::ZERO, false),
        Pace::Trickle { bytes, every, head_too } => (bytes.max(1), every, head_too),
    };
    let head = reply.head();
    if head_too {
        for piece in head.chunks(step) {
            sock.write_all(piece).await?;
            tokio::time::sleep(every).await;
        }
    } else {
        sock.write_all(&head).await?;
    }
    let end = match reply.ending {
        Ending::Close | Ending::Drop | Ending::Hang => reply.body.len(),
        Ending::ResetAfter(n) => n.min(reply.body.len()),
    };
    let mut buf = vec![0u8; step.min(PIECE)];
    let mut offset = 0;
    while offset < end {
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX).min(buf.len());
        let n = reply.body.read_at(offset, &mut buf[..want]);
        if n == 0 {
            break;
        }
        if reply.length == Length::Chunked {
            sock.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            sock.write_all(&buf[..n]).await?;
            sock.write_all(b"\r\n").await?;
        } else {
            sock.write_all(&buf[..n]).await?;
        }
        offset += n as u64;
        if !every.is_zero() {
            tokio::time::sleep(every).await;
        }
    }
    match reply.ending {
        Ending::ResetAfter(_) => {
            sock.flush().await?;
            // SO_LINGER 0: close() sends RST instead of FIN.
            sock.set_zero_linger()?;
        }
        Ending::Close | Ending::Drop | Ending::Hang => {
            if reply.length == Length::Chunked {
                sock.write_all(b"0\r\n\r\n").await?;
            }
            sock.shutdown().await?;
        }
    }
    Ok(())
}

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live heap bytes and their peak. Install it
/// in a test binary with `#[global_allocator]`.
pub struct CountingAlloc;

impl CountingAlloc {
    /// Live heap bytes now.
    pub fn current() -> usize {
        CURRENT.load(Ordering::Relaxed)
    }

    /// The most live heap bytes since the last [`CountingAlloc::reset_peak`].
    pub fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }

    /// Starts a new measurement from the present level.
    pub fn reset_peak() {
        PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(by: usize) {
        CURRENT.fetch_sub(by, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters have
// no effect on the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            CountingAlloc::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            CountingAlloc::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CountingAlloc::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CountingAlloc::shrank(layout.size());
            CountingAlloc::grew(new_size);
        }
        p
    }
}

/// The process's peak resident memory (VmHWM) in KiB, where Linux reports it.
pub fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM to the current resident size (Linux >= 4.0); `false` where
/// that is not possible, and the peak then covers the whole process life.
pub fn reset_vm_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
