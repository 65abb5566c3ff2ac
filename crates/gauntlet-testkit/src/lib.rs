//! # gauntlet-testkit: targets that misbehave on purpose
//!
//! gauntlet once reported GO, exit 0, against a target that never answered:
//! nothing failed because nothing finished. A load tester's verdict is only
//! trustworthy if it has been run against targets that fail in every way a
//! real one can, so this crate provides them: a [`FaultServer`] on
//! `127.0.0.1` that speaks raw TCP / HTTP/1.1 and breaks one way, chosen by a
//! [`Fault`]. The end-to-end verdict tests
//! (`crates/gauntlet-cli/tests/verdicts.rs`) point the `gauntlet` binary at
//! these servers and pin the exit code and result users must get.
//!
//! Dev-only: `publish = false`, and only `[dev-dependencies]` may name it
//! (checked by a test in this crate).
//!
//! ## How a server behaves
//!
//! * One server, one fault: [`FaultServer::start`] binds `127.0.0.1:0` (a
//!   fresh port, so tests run in parallel) and applies its [`Fault`] to every
//!   connection and request. Only [`Fault::Redirects`] looks at the path.
//! * It reads each request head (and a `Content-Length` body) before it
//!   misbehaves, so a fault is always a fault of the *response*, and the
//!   request is counted ([`FaultServer::requests`]) whatever follows.
//! * Modes that answer normally keep the connection alive (HTTP/1.1
//!   default), except [`Fault::HalfFail`], whose answers close it.
//! * "Stall" means: send nothing more, keep the socket open, and read (and
//!   drop) whatever the client still sends until it closes. The server never
//!   closes a stalled connection itself, so only the client's own timeouts or
//!   stops can end the request.
//! * It runs on its own thread with its own single-threaded tokio runtime, so
//!   it works the same from a `#[test]` that spawns the `gauntlet` binary and
//!   from one inside another runtime. Dropping the [`FaultServer`] stops it:
//!   the listener and every connection are closed before `drop` returns.
//!
//! Request bodies must be sent with `Content-Length` (no chunked request
//! bodies: gauntlet sends none).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

#[cfg(test)]
mod tests;

/// The body of every `200 OK` the servers send (except [`Fault::SlowBody`]
/// and [`Fault::HugeBody`], whose bodies are `x` bytes).
pub const OK_BODY: &[u8] = b"ok";

/// The `Content-Length` announced by [`Fault::HeadersThenStall`] and
/// [`Fault::ResetMidResponse`]: more than they ever send.
pub const ANNOUNCED_LENGTH: usize = 1024;

/// How many body bytes [`Fault::ResetMidResponse`] sends before the reset.
pub const PARTIAL_BODY: usize = 100;

/// What [`Fault::Garbage`] answers: no status line, a NUL and a non-UTF-8
/// byte, so no HTTP/1 parser can take it for a response.
pub const GARBAGE: &[u8] = b"SSH-2.0-not-http \x00\xff\r\n\r\n";

/// One way for a target to break. Each [`FaultServer`] applies one to every
/// request it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, never answer, keep the socket open (a hung
    /// service): only a timeout or a stop ends the request.
    NeverAnswer,
    /// Send a valid `200` head with `Content-Length: 1024`
    /// ([`ANNOUNCED_LENGTH`]), then stall: the response never completes.
    HeadersThenStall,
    /// Send the `200` head announcing [`ANNOUNCED_LENGTH`] bytes and the first
    /// [`PARTIAL_BODY`] of them, then reset the connection (`SO_LINGER` 0,
    /// then close: a TCP RST), as a crashing server does.
    ResetMidResponse,
    /// Answer with [`GARBAGE`], bytes that are not HTTP (the wrong service on
    /// the port), then stall.
    Garbage,
    /// A valid `200` whose body trickles: the head at once, then `chunks`
    /// pieces of `chunk` bytes, each `every` after the previous one (the
    /// first `every` after the head). The body so takes at least
    /// `chunks × every` after the head.
    SlowBody {
        /// Bytes per piece.
        chunk: usize,
        /// Pause before each piece.
        every: Duration,
        /// Pieces; `Content-Length` is `chunk × chunks`.
        chunks: usize,
    },
    /// A valid `200` with a body of this many bytes (`x`), generated as it
    /// is written (never held in memory): for body-size limits.
    HugeBody(u64),
    /// A `100-continue` target that stops there: send
    /// `HTTP/1.1 100 Continue\r\n\r\n` and then stall, so no final response
    /// ever comes.
    ContinueThenStall,
    /// `HTTP/1.1 100 Continue\r\n\r\n`, then (after reading the request body)
    /// a normal `200` with [`OK_BODY`]: the interim response must be skipped.
    ContinueThenOk,
    /// A half-broken backend. Every answer carries `Connection: close`, so
    /// each connection carries one request; the 2nd, 4th, … connection
    /// (counted by the server in accept order) is reset right after its
    /// request is read, before any response byte; the others get a `200`
    /// after `latency`. Closing after each answer keeps the failures
    /// visible: a client may silently retry a request that failed on a
    /// *reused* connection, never one on a fresh connection.
    HalfFail {
        /// Delay before each successful answer.
        latency: Duration,
    },
    /// A redirect chain: `GET /redirect/N` for `1 ≤ N ≤ n` answers `302`
    /// with `Location: /redirect/N-1`; `/redirect/0` answers `200` with
    /// [`OK_BODY`]. Any other path (or `N > n`) is a `404`. Start at
    /// `/redirect/n` for `n` hops.
    Redirects(u32),
}

/// A running fault target on `127.0.0.1`. Counts what it saw; stops when
/// dropped.
#[derive(Debug)]
pub struct FaultServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What a server saw, shared with its connection tasks.
#[derive(Debug, Default)]
struct Counts {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

impl FaultServer {
    /// Bind `127.0.0.1:0` and serve `fault` on a thread of its own. The port
    /// is listening when this returns.
    ///
    /// # Panics
    /// When no loopback port can be bound or the thread cannot start: a
    /// test cannot run without its target.
    pub fn start(fault: Fault) -> FaultServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = oneshot::channel();
        let c = counts.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-{}", addr.port()))
            .spawn(move || run(listener, fault, c, stopped))
            .expect("spawn the fault server thread");
        FaultServer {
            addr,
            counts,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the plan's `target`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }

    /// Request heads read so far (each counted before the fault applies).
    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The server thread: accept until told to stop, then drop the runtime,
/// which drops every connection task and so closes its socket.
fn run(
    listener: std::net::TcpListener,
    fault: Fault,
    counts: Arc<Counts>,
    stopped: oneshot::Receiver<()>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("fault server runtime");
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let accept = async {
            while let Ok((stream, _)) = listener.accept().await {
                // Delayed ACKs would otherwise hold small writes back.
                let _ = stream.set_nodelay(true);
                let index = counts.connections.fetch_add(1, Ordering::SeqCst);
                let conn = Conn {
                    stream,
                    buf: Vec::new(),
                    counts: counts.clone(),
                };
                tokio::spawn(serve(conn, fault, index));
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = stopped => {}
        }
    });
}

/// Request heads larger than this end the connection (a test bug, not a fault).
const MAX_HEAD: usize = 64 * 1024;

/// The block [`Fault::HugeBody`] and [`Fault::SlowBody`] bodies are cut from.
static X: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// What the server needs of a request.
struct Request {
    path: String,
    content_length: usize,
}

/// One accepted connection with the bytes read past the last request.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    counts: Arc<Counts>,
}

impl Conn {
    /// The next request head, counted; `None` when the client closed or sent
    /// something that is not a request.
    async fn next_request(&mut self) -> Option<Request> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head_len = end + 4;
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut headers);
                let Ok(httparse::Status::Complete(_)) = req.parse(&self.buf[..head_len]) else {
                    return None;
                };
                let path = req.path.unwrap_or("/").to_owned();
                let content_length = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                self.buf.drain(..head_len);
                self.counts.requests.fetch_add(1, Ordering::SeqCst);
                return Some(Request {
                    path,
                    content_length,
                });
            }
            if self.buf.len() > MAX_HEAD || !self.fill().await {
                return None;
            }
        }
    }

    /// Read more bytes into `buf`; `false` at end of stream or on error.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Consume a request body of `n` bytes; `false` if the client left.
    async fn skip_body(&mut self, n: usize) -> bool {
        while self.buf.len() < n {
            if !self.fill().await {
                return false;
            }
        }
        self.buf.drain(..n);
        true
    }

    /// Write all of `bytes`; `false` if the client is gone.
    async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// Send nothing more and keep the socket open until the client closes
    /// it, reading and dropping what it sends (unread bytes would turn our
    /// eventual close into a reset).
    async fn stall(mut self) {
        let mut sink = [0u8; 4096];
        while let Ok(n) = self.stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    }

    /// Close with a TCP RST: `SO_LINGER` 0, then close.
    fn reset(self) {
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }
}

/// A response head with a `Content-Length`.
fn head(status: &str, content_length: u64, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Length: {content_length}\r\n{extra}\r\n").into_bytes()
}

/// A complete `200 OK` with [`OK_BODY`].
fn ok(extra: &str) -> Vec<u8> {
    let mut r = head("200 OK", OK_BODY.len() as u64, extra);
    r.extend_from_slice(OK_BODY);
    r
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Apply `fault` to every request on one connection; `index` is its accept
/// order from 0.
async fn serve(mut c: Conn, fault: Fault, index: usize) {
    while let Some(req) = c.next_request().await {
        match fault {
            Fault::NeverAnswer => return c.stall().await,
            Fault::HeadersThenStall => {
                c.send(&head("200 OK", ANNOUNCED_LENGTH as u64, "")).await;
                return c.stall().await;
            }
            Fault::ResetMidResponse => {
                let mut r = head("200 OK", ANNOUNCED_LENGTH as u64, "");
                r.extend_from_slice(&X[..PARTIAL_BODY]);
                c.send(&r).await;
                return c.reset();
            }
            Fault::Garbage => {
                c.send(GARBAGE).await;
                return c.stall().await;
            }
            Fault::ContinueThenStall => {
                c.send(CONTINUE).await;
                return c.stall().await;
            }
            Fault::ContinueThenOk => {
                if !c.send(CONTINUE).await || !c.skip_body(req.content_length).await {
                    return;
                }
                if !c.send(&ok("")).await {
                    return;
                }
            }
            Fault::SlowBody {
                chunk,
                every,
                chunks,
            } => {
                if !c.skip_body(req.content_length).await
                    || !c.send(&head("200 OK", (chunk * chunks) as u64, "")).await
                {
                    return;
                }
                let piece: Vec<u8> = X.iter().copied().cycle().take(chunk).collect();
                for _ in 0..chunks {
                    tokio::time::sleep(every).await;
                    if !c.send(&piece).await {
                        return;
                    }
                }
            }
            Fault::HugeBody(len) => {
                if !c.skip_body(req.content_length).await || !c.send(&head("200 OK", len, "")).await
                {
                    return;
                }
                let mut left = len;
                while left > 0 {
                    let n = left.min(X.len() as u64) as usize;
                    if c.stream.write_all(&X[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            }
            Fault::HalfFail { latency } => {
                if index % 2 == 1 {
                    return c.reset();
                }
                if !c.skip_body(req.content_length).await {
                    return;
                }
                tokio::time::sleep(latency).await;
                c.send(&ok("Connection: close\r\n")).await;
                // Request fully read, so dropping sends a FIN, not a reset.
                return;
            }
            Fault::Redirects(n) => {
                if !c.skip_body(req.content_length).await {
                    return;
                }
                let hop = req
                    .path
                    .strip_prefix("/redirect/")
                    .and_then(|h| h.parse::<u32>().ok())
                    .filter(|h| *h <= n);
                let r = match hop {
                    Some(0) => ok(""),
                    Some(h) => head(
                        "302 Found",
                        0,
                        &format!("Location: /redirect/{}\r\n", h - 1),
                    ),
                    None => head("404 Not Found", 0, ""),
                };
                if !c.send(&r).await {
                    return;
                }
            }
        }
    }
}
