//! Each fault, read by a raw blocking `TcpStream` client, is what the crate
//! docs say it is: the verdict tests rely on these targets being right.

use super::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream as RawStream;
use std::time::Instant;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// How long a read waits before "nothing came" is concluded.
const QUIET: Duration = Duration::from_millis(300);

fn connect(s: &FaultServer) -> RawStream {
    let c = RawStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Read until `total` bytes arrived; panics on end of stream or error.
fn read_exact(c: &mut RawStream, total: usize) -> Vec<u8> {
    let mut got = vec![0u8; total];
    c.read_exact(&mut got).unwrap();
    got
}

/// Read one response head (through the blank line).
fn read_head(c: &mut RawStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1, "closed inside a head: {head:?}");
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// Read the rest of the stream: the bytes, and how it ended.
fn read_to_end(c: &mut RawStream) -> (Vec<u8>, Result<(), ErrorKind>) {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match c.read(&mut b) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) => return (got, Err(e.kind())),
        }
    }
}

/// Nothing arrives within [`QUIET`] and the socket is still open.
fn assert_silent_and_open(c: &mut RawStream) {
    c.set_read_timeout(Some(QUIET)).unwrap();
    let mut b = [0u8; 1];
    match c.read(&mut b) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected silence on an open socket, got {other:?}"),
    }
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
}

/// Wait (bounded) until the server's counter reaches `n`: its tasks count
/// after the client's write returned.
fn eventually(what: &str, n: usize, f: impl Fn() -> usize) {
    let until = Instant::now() + Duration::from_secs(5);
    while f() < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(f(), n, "{what}");
}

#[test]
fn never_answer_reads_the_request_and_keeps_the_socket_open_silently() {
    let s = FaultServer::start(Fault::NeverAnswer);
    let mut c = connect(&s);
    c.write_all(GET).unwrap();
    eventually("requests", 1, || s.requests());
    assert_silent_and_open(&mut c);
    assert_eq!(s.connections(), 1);
}

#[test]
fn headers_then_stall_sends_a_complete_head_and_no_body() {
    let s = FaultServer::start(Fault::HeadersThenStall);
    let mut c = connect(&s);
    c.write_all(GET).unwrap();
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(content_length(&head), ANNOUNCED_LENGTH);
    assert_silent_and_open(&mut c);
}

#[test]
fn reset_mid_response_sends_part_of_the_body_then_a_reset() {
    let s = FaultServer::start(Fault::ResetMidResponse);
    let mut c = connect(&s);
    c.write_all(GET).unwrap();
    let head = read_head(&mut c);
    assert_eq!(content_length(&head), ANNOUNCED_LENGTH);
    let (body, end) = read_to_end(&mut c);
    assert_eq!(body, vec![b'x'; PARTIAL_BODY]);
    assert_eq!(end, Err(ErrorKind::ConnectionReset), "an RST, not a FIN");
}

#[test]
fn garbage_is_not_an_http_response_and_the_socket_stays_open() {
    let s = FaultServer::start(Fault::Garbage);
    let mut c = connect(&s);
    c.write_all(GET).unwrap();
    let got = read_exact(&mut c, GARBAGE.len());
    assert_eq!(got, GARBAGE);
    let mut headers = [httparse::EMPTY_HEADER; 8];
    assert!(
        httparse::Response::new(&mut headers).parse(&got).is_err(),
        "an HTTP/1 parser rejects it"
    );
    assert_silent_and_open(&mut c);
}

#[test]
fn slow_body_trickles_its_pieces_on_schedule() {
    let every = Duration::from_millis(40);
    let s = FaultServer::start(Fault::SlowBody {
        chunk: 7,
        every,
        chunks: 5,
    });
    let mut c = connect(&s);
    c.write_all(GET).unwrap();
    let head = read_head(&mut c);
    let after_head = Instant::now();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(content_length(&head), 35);
    assert_eq!(read_exact(&mut c, 35), vec![b'x'; 35]);
    // A lower bound from the server's schedule (4 full pauses after the
    // head's read), never an upper one.
    assert!(
        after_head.elapsed() >= every * 4,
        "{:?}",
        after_head.elapsed()
    );
}

#[test]
fn huge_body_streams_exactly_its_length() {
    let len = 64 * 1024 * 1024 + 3;
    let s = FaultServer::start(Fault::HugeBody(len));
    let mut c = connect(&s);
    c.write_all(GET).unwrap();
    let head = read_head(&mut c);
    assert_eq!(content_length(&head) as u64, len);
    let mut left = len;
    let mut b = vec![0u8; 1 << 20];
    while left > 0 {
        let n = c.read(&mut b[..left.min(1 << 20) as usize]).unwrap();
        assert!(n > 0, "closed with {left} bytes to go");
        assert!(b[..n].iter().all(|&x| x == b'x'));
        left -= n as u64;
    }
    // Keep-alive: the next request on the same connection is answered too.
    c.write_all(GET).unwrap();
    assert_eq!(content_length(&read_head(&mut c)) as u64, len);
    assert_eq!(s.connections(), 1);
}

#[test]
fn continue_then_stall_sends_only_the_interim_response() {
    let s = FaultServer::start(Fault::ContinueThenStall);
    let mut c = connect(&s);
    c.write_all(
        b"POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_head(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"hello").unwrap();
    assert_silent_and_open(&mut c);
}

#[test]
fn continue_then_ok_sends_100_then_a_200_and_keeps_the_connection() {
    let s = FaultServer::start(Fault::ContinueThenOk);
    let mut c = connect(&s);
    for _ in 0..2 {
        c.write_all(
            b"POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap();
        assert_eq!(read_head(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
        c.write_all(b"hello").unwrap();
        let head = read_head(&mut c);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(read_exact(&mut c, content_length(&head)), OK_BODY);
    }
    assert_eq!((s.connections(), s.requests()), (1, 2));
}

#[test]
fn half_fail_resets_every_second_connection_and_delays_the_others() {
    let latency = Duration::from_millis(30);
    let s = FaultServer::start(Fault::HalfFail { latency });
    for i in 0..4 {
        let mut c = connect(&s);
        let sent = Instant::now();
        c.write_all(GET).unwrap();
        let (got, end) = read_to_end(&mut c);
        if i % 2 == 1 {
            assert!(got.is_empty(), "no response byte before the reset");
            assert_eq!(end, Err(ErrorKind::ConnectionReset), "connection {i}");
        } else {
            let text = String::from_utf8(got).unwrap();
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
            assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
            assert!(text.ends_with("\r\n\r\nok"), "{text}");
            assert_eq!(end, Ok(()), "closed with a FIN after the answer");
            assert!(sent.elapsed() >= latency);
        }
    }
    assert_eq!((s.connections(), s.requests()), (4, 4));
}

#[test]
fn redirects_count_down_to_a_200() {
    let s = FaultServer::start(Fault::Redirects(3));
    let mut c = connect(&s);
    let mut path = "/redirect/3".to_owned();
    let mut statuses = Vec::new();
    loop {
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let head = read_head(&mut c);
        let body = read_exact(&mut c, content_length(&head));
        statuses.push(head[9..12].to_owned());
        match head.lines().find_map(|l| l.strip_prefix("Location: ")) {
            Some(next) => path = next.to_owned(),
            None => {
                assert_eq!(body, OK_BODY);
                break;
            }
        }
    }
    assert_eq!(statuses, ["302", "302", "302", "200"]);
    assert_eq!(path, "/redirect/0");
    for missing in ["/redirect/4", "/other"] {
        c.write_all(format!("GET {missing} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        assert!(read_head(&mut c).starts_with("HTTP/1.1 404 "), "{missing}");
    }
    assert_eq!((s.connections(), s.requests()), (1, 6));
}

#[test]
fn a_dropped_server_closes_its_connections_and_stops_listening() {
    let s = FaultServer::start(Fault::NeverAnswer);
    let addr = s.addr();
    let mut c = connect(&s);
    c.write_all(GET).unwrap();
    eventually("requests", 1, || s.requests());
    drop(s);
    let (got, _) = read_to_end(&mut c);
    assert!(got.is_empty());
    let refused = RawStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn urls_point_at_the_listening_port() {
    let s = FaultServer::start(Fault::Redirects(0));
    assert_eq!(
        s.base_url(),
        format!("http://127.0.0.1:{}", s.addr().port())
    );
    assert_eq!(
        s.url("/redirect/0"),
        format!("http://127.0.0.1:{}/redirect/0", s.addr().port())
    );
}

/// The testkit must never ship inside the binary: only `[dev-dependencies]`
/// (of any target) may name it.
#[test]
fn only_dev_dependencies_name_the_testkit() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut users = 0;
    for e in std::fs::read_dir(&crates).unwrap() {
        let manifest = e.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            } else if line.starts_with("gauntlet-testkit") {
                assert!(
                    section == "dev-dependencies" || section.ends_with(".dev-dependencies"),
                    "{}: gauntlet-testkit under [{section}]",
                    manifest.display()
                );
                users += 1;
            }
        }
    }
    assert!(users >= 1, "the CLI's verdict tests use it");
}
