//! `hyper-floor`: the cheapest HTTP/1.1 client loops we can write, to find where hyper
//! itself is the limit of a load generator (bench/floor.sh).
//!
//! ```text
//! hyper-floor --url http://127.0.0.1:28080/ -c 64 -d 10            # hyper 1.x client loop
//! hyper-floor --url http://127.0.0.1:28080/ -c 64 -d 10 --raw      # hand-written keep-alive loop
//! hyper-floor --url http://127.0.0.1:28080/ -c 64 -d 10 --raw --record
//! ```
//!
//! One tokio current-thread runtime, `-c` connections, each a task (on a `LocalSet`)
//! sending `GET <path>` with a `Host` header and an empty body, back to back, for `-d`
//! seconds.
//!
//! * hyper mode: `hyper::client::conn::http1::handshake` over `TokioIo<TcpStream>`, the
//!   connection future spawned with `spawn_local`; the body is drained frame by frame.
//! * `--raw`: the request bytes are serialized once; each request is one `write_all`,
//!   the response is read into a per-connection buffer (4 KiB, grown only if a response
//!   does not fit) and parsed with `httparse` (status line + headers, then
//!   `Content-Length` bytes of body). Chunked responses are unsupported (error exit).
//!   Nothing is allocated per request.
//! * `--record`: two `Instant::now()` per request and one `hdrhistogram` record (1 µs ..
//!   60 s, 3 significant digits; one histogram for the thread, as a load generator with
//!   one histogram per worker thread would have).
//!
//! The run stops by a flag set by a timer, so the request loop reads no clock unless
//! `--record`. At the end it prints one JSON line with the request count, the wall time
//! (connects included, as wrk's `-d`) and the process CPU from `getrusage(RUSAGE_SELF)`.
//! Any error (connect, I/O, non-2xx status, malformed or chunked response) exits with
//! status 1.

use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Hist = Rc<RefCell<Histogram<u64>>>;
type BoxError = Box<dyn std::error::Error>;

#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    authority: String,
    path: String,
    conns: usize,
    duration: Duration,
    raw: bool,
    record: bool,
}

fn usage() -> ! {
    eprintln!("usage: hyper-floor --url http://HOST:PORT/PATH [-c CONNS] [-d SECONDS] [--raw] [--record]");
    std::process::exit(2);
}

fn parse_args() -> Result<Config, String> {
    let mut url = String::from("http://127.0.0.1:28080/");
    let (mut conns, mut secs) = (64usize, 10f64);
    let (mut raw, mut record) = (false, false);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--raw" => raw = true,
            "--record" => record = true,
            "-h" | "--help" => usage(),
            "--url" | "-c" | "-d" => {
                let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--url" => url = v.clone(),
                    "-c" => conns = v.parse().map_err(|e| format!("-c: {e}"))?,
                    _ => secs = v.trim_end_matches('s').parse().map_err(|e| format!("-d: {e}"))?,
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    if conns == 0 || !(secs > 0.0) {
        return Err("-c and -d must be positive".into());
    }
    Ok(Config {
        addr,
        authority: authority.to_string(),
        path: path.to_string(),
        conns,
        duration: Duration::from_secs_f64(secs),
        raw,
        record,
    })
}

fn fail(what: &str, e: impl std::fmt::Display) -> BoxError {
    format!("{what}: {e}").into()
}

#[inline]
fn record(hist: &Option<Hist>, t0: Option<Instant>) {
    if let (Some(h), Some(t0)) = (hist, t0) {
        let us = t0.elapsed().as_micros() as u64;
        h.borrow_mut().saturating_record(us.max(1));
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, BoxError> {
    let s = TcpStream::connect(addr).await.map_err(|e| fail("connect", e))?;
    s.set_nodelay(true).map_err(|e| fail("nodelay", e))?; // wrk sets TCP_NODELAY too
    Ok(s)
}

/// One hyper connection: `send_request` + drain the body, until `stop`.
async fn hyper_conn(
    addr: SocketAddr,
    uri: Uri,
    host: HeaderValue,
    stop: Rc<Cell<bool>>,
    hist: Option<Hist>,
) -> Result<u64, BoxError> {
    let stream = connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| fail("handshake", e))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let mut n = 0u64;
    while !stop.get() {
        let t0 = hist.as_ref().map(|_| Instant::now());
        let mut req = Request::new(Empty::<Bytes>::new());
        *req.uri_mut() = uri.clone();
        req.headers_mut().insert(HOST, host.clone());
        sender.ready().await.map_err(|e| fail("ready", e))?;
        let resp = sender.send_request(req).await.map_err(|e| fail("send_request", e))?;
        if !resp.status().is_success() {
            return Err(fail("status", resp.status()));
        }
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|e| fail("body", e))?;
        }
        record(&hist, t0);
        n += 1;
    }
    Ok(n)
}

/// One hand-written keep-alive connection: write the pre-serialized request, read and
/// parse the response in a reused buffer, until `stop`.
async fn raw_conn(
    addr: SocketAddr,
    request: Rc<[u8]>,
    stop: Rc<Cell<bool>>,
    hist: Option<Hist>,
) -> Result<u64, BoxError> {
    let mut stream = connect(addr).await?;
    let mut buf = vec![0u8; 4096];
    let mut filled = 0usize; // bytes in buf[..filled]; a response starts at buf[0]
    let mut n = 0u64;
    while !stop.get() {
        let t0 = hist.as_ref().map(|_| Instant::now());
        stream.write_all(&request).await.map_err(|e| fail("write", e))?;
        // `total` = header length + Content-Length, once the header is complete.
        let mut total: Option<usize> = None;
        loop {
            if total.is_none() && filled > 0 {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&buf[..filled]).map_err(|e| fail("parse", e))? {
                    httparse::Status::Complete(hlen) => {
                        let code = resp.code.unwrap_or(0);
                        if !(200..300).contains(&code) {
                            return Err(fail("status", code));
                        }
                        let mut clen: Option<usize> = None;
                        for h in resp.headers.iter() {
                            if h.name.eq_ignore_ascii_case("content-length") {
                                let v = std::str::from_utf8(h.value).map_err(|e| fail("content-length", e))?;
                                clen = Some(v.trim().parse().map_err(|e| fail("content-length", e))?);
                            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                                return Err(fail("transfer-encoding", "chunked/other is unsupported by --raw"));
                            }
                        }
                        let clen = clen.ok_or_else(|| fail("response", "no Content-Length"))?;
                        let t = hlen + clen;
                        if t > buf.len() {
                            buf.resize(t, 0); // once per connection at most, for large bodies
                        }
                        total = Some(t);
                    }
                    httparse::Status::Partial => {
                        if filled == buf.len() {
                            buf.resize(buf.len() * 2, 0);
                        }
                    }
                }
            }
            if let Some(t) = total {
                if filled >= t {
                    // Drop this response, keep whatever follows (nothing, without pipelining).
                    buf.copy_within(t..filled, 0);
                    filled -= t;
                    break;
                }
            }
            let r = stream.read(&mut buf[filled..]).await.map_err(|e| fail("read", e))?;
            if r == 0 {
                return Err(fail("read", "connection closed by the server"));
            }
            filled += r;
        }
        record(&hist, t0);
        n += 1;
    }
    Ok(n)
}

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn main() {
    let cfg = parse_args().unwrap_or_else(|e| {
        eprintln!("hyper-floor: {e}");
        usage()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let stop = Rc::new(Cell::new(false));
    let hist: Option<Hist> = cfg.record.then(|| {
        Rc::new(RefCell::new(
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
        ))
    });

    let start = Instant::now();
    let result: Result<u64, BoxError> = local.block_on(&rt, async {
        let mut tasks = Vec::with_capacity(cfg.conns);
        if cfg.raw {
            let request: Rc<[u8]> =
                format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", cfg.path, cfg.authority).into_bytes().into();
            for _ in 0..cfg.conns {
                tasks.push(tokio::task::spawn_local(raw_conn(cfg.addr, request.clone(), stop.clone(), hist.clone())));
            }
        } else {
            let uri: Uri = cfg.path.parse().map_err(|e| fail("path", e))?;
            let host = HeaderValue::from_str(&cfg.authority).map_err(|e| fail("host", e))?;
            for _ in 0..cfg.conns {
                tasks.push(tokio::task::spawn_local(hyper_conn(
                    cfg.addr,
                    uri.clone(),
                    host.clone(),
                    stop.clone(),
                    hist.clone(),
                )));
            }
        }
        tokio::time::sleep_until((start + cfg.duration).into()).await;
        stop.set(true);
        let mut total = 0u64;
        for t in tasks {
            total += t.await.map_err(|e| fail("task", e))??;
        }
        Ok(total)
    });
    let seconds = start.elapsed().as_secs_f64();
    let requests = match result {
        Ok(n) => n,
        Err(e) => {
            eprintln!("hyper-floor: {e}");
            std::process::exit(1);
        }
    };
    let (user, sys) = cpu_seconds();
    let mode = if cfg.raw { "raw" } else { "hyper" };
    let cpu = user + sys;
    let per_cpu = if cpu > 0.0 { requests as f64 / cpu } else { 0.0 };
    let mut line = format!(
        "{{\"mode\":\"{mode}\",\"requests\":{requests},\"seconds\":{seconds:.3},\"user_s\":{user:.3},\"sys_s\":{sys:.3},\"req_per_cpu_s\":{per_cpu:.0}"
    );
    if let Some(h) = &hist {
        let h = h.borrow();
        line.push_str(&format!(
            ",\"record\":true,\"p50_us\":{},\"p99_us\":{},\"max_us\":{}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        ));
    }
    line.push('}');
    println!("{line}");
}
