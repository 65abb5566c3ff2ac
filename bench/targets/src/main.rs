//! Loopback targets for `bench/` (own code): one small tokio + hyper HTTP/1.1 server.
//!
//! It exists so the benchmark has a target whose cost is known and small (a single
//! current-thread runtime answering `ok`), and a stall server whose latency
//! distribution is known analytically, for the coordinated-omission test.
//!
//! ```text
//! bench-server --addr 127.0.0.1:28081                       # minimal hyper target
//! bench-server --addr 127.0.0.1:28082 --delay-us 1000 \
//!              --stall-period-ms 5000 --stall-ms 1000        # stall server
//! ```
//!
//! `--delay-us N` adds a service time to every request. With `--stall-period-ms P`
//! and `--stall-ms S` the server answers nothing during the last S ms of every P ms
//! (counted from its start): requests that arrive then, or whose response would
//! leave then, are held until the stall ends.
//!
//! Control endpoints (not counted): `GET /__count` returns the number of requests
//! served so far; `GET /__schedule` returns the stall schedule as JSON.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

/// Command-line configuration of one server process.
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    delay: Duration,
    period: Duration,
    stall: Duration,
}

/// State shared by the connections of one server process.
#[derive(Debug)]
struct State {
    config: Config,
    start: Instant,
    start_unix: f64,
    served: AtomicU64,
}

fn parse_args() -> Result<Config, String> {
    let mut addr: SocketAddr = "127.0.0.1:28081".parse().map_err(|e| format!("{e}"))?;
    let (mut delay_us, mut period_ms, mut stall_ms) = (0u64, 0u64, 0u64);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--addr" => addr = value.parse().map_err(|e| format!("--addr: {e}"))?,
            "--delay-us" => delay_us = num()?,
            "--stall-period-ms" => period_ms = num()?,
            "--stall-ms" => stall_ms = num()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !addr.ip().is_loopback() {
        return Err("refusing to listen on a non-loopback address".into());
    }
    if stall_ms > period_ms {
        return Err("--stall-ms must be <= --stall-period-ms".into());
    }
    Ok(Config {
        addr,
        delay: Duration::from_micros(delay_us),
        period: Duration::from_millis(period_ms),
        stall: Duration::from_millis(stall_ms),
    })
}

impl State {
    /// If `now` falls inside a stall window, how long until it ends.
    fn stall_remaining(&self, now: Instant) -> Option<Duration> {
        if self.config.period.is_zero() || self.config.stall.is_zero() {
            return None;
        }
        let p = self.config.period.as_nanos();
        let s = self.config.stall.as_nanos();
        let phase = (now - self.start).as_nanos() % p;
        (phase >= p - s).then(|| Duration::from_nanos(u64::try_from(p - phase).unwrap_or(0)))
    }

    async fn wait_out_stall(&self) {
        while let Some(rem) = self.stall_remaining(Instant::now()) {
            tokio::time::sleep(rem).await;
        }
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    match req.uri().path() {
        "/__count" => {
            let n = state.served.load(Ordering::Relaxed);
            return Ok(Response::new(Full::new(Bytes::from(format!("{n}\n")))));
        }
        "/__schedule" => {
            let c = &state.config;
            let body = format!(
                "{{\"start_unix\":{:.6},\"period_ms\":{},\"stall_ms\":{},\"delay_us\":{}}}\n",
                state.start_unix,
                c.period.as_millis(),
                c.stall.as_millis(),
                c.delay.as_micros()
            );
            return Ok(Response::new(Full::new(Bytes::from(body))));
        }
        _ => {}
    }
    state.wait_out_stall().await;
    if !state.config.delay.is_zero() {
        tokio::time::sleep(state.config.delay).await;
        state.wait_out_stall().await;
    }
    state.served.fetch_add(1, Ordering::Relaxed);
    let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(resp)
}

fn main() {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-server: {e}");
            std::process::exit(2);
        }
    };
    let start_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    eprintln!(
        "bench-server listening on {} start_unix={start_unix:.6} delay={:?} stall {:?} every {:?}",
        config.addr, config.delay, config.stall, config.period
    );
    let state = Arc::new(State {
        config,
        start: Instant::now(),
        start_unix,
        served: AtomicU64::new(0),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.set_reuseaddr(true).expect("SO_REUSEADDR");
        sock.bind(state.config.addr).expect("bind");
        let listener = sock.listen(16384).expect("listen");
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let st = Arc::clone(&state);
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let svc = service_fn(move |req| handle(Arc::clone(&st), req));
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
}
