//! The command line end to end: result paths checked before the run, atomic
//! writes, limits, and the exit code of each kind of bad input.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_missing_output_directory_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope/result.json");
    let o = run(&[
        "run",
        "--url",
        "demo",
        "--vus",
        "1",
        "--duration",
        "30s",
        "-q",
        "--out",
        &format!("json={}", missing.display()),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(111), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("nothing was run"), "{err}");
    // Nothing ran: no summary.
    assert!(
        !text(&o.stdout).contains("http_reqs"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn a_result_path_that_is_a_directory_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("summary.md");
    // A directory where the file should go: found before the run.
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    let o = run(&[
        "run",
        "--url",
        "demo",
        "--vus",
        "1",
        "--iterations",
        "2",
        "-q",
        "--out",
        &format!("md={}", good.display()),
        "--out",
        &format!("json={}", taken.display()),
    ]);
    assert_eq!(o.status.code(), Some(111), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("is a directory"));
    assert!(!good.exists(), "nothing ran, so nothing was written");
}

#[test]
fn results_replace_the_previous_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("result.json");
    std::fs::write(&res, "previous").unwrap();
    let o = run(&[
        "run",
        "--url",
        "demo",
        "--vus",
        "1",
        "--iterations",
        "2",
        "-q",
        "--out",
        &format!("json={}", res.display()),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&res).unwrap()).unwrap();
    assert!(doc.get("summary").is_some());
    // Only the result: the temporary file was renamed, not left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn an_unknown_out_format_is_an_invalid_configuration() {
    let o = run(&["run", "--url", "demo", "--out", "xml=r.xml"]);
    assert_eq!(o.status.code(), Some(104), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("unknown format `xml`"));
}

#[test]
fn too_many_workers_and_too_many_vus_are_refused_with_a_reason() {
    let o = run(&["run", "--url", "demo", "--workers", "100000"]);
    assert_eq!(o.status.code(), Some(104), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--workers 100000: at most"));
    let o = run(&["run", "--url", "demo", "--vus", "1000000000", "-q"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(104), "{err}");
    assert!(err.contains("VUs need about"), "{err}");
    assert!(err.contains("--force"), "{err}");
}

#[test]
fn every_bad_url_is_an_invalid_configuration() {
    for url in [
        "http://",
        "not a url",
        "ftp://127.0.0.1/x",
        "127.0.0.1:8080",
    ] {
        let o = run(&["run", "--url", url, "--vus", "1", "--duration", "1s", "-q"]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(104), "{url}: {err}");
        assert!(!err.contains("panicked"), "{url}: {err}");
    }
}

/// Answers 200 to requests with `Authorization: Basic <want>`, 401 to others;
/// returns its base URL and the authorization headers it saw.
fn basic_auth_server(want: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("127.0.0.1:{}", l.local_addr().unwrap().port());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(mut sock) = sock else { return };
            let mut r = BufReader::new(sock.try_clone().unwrap());
            loop {
                let mut auth = String::new();
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    let name = "authorization:";
                    if line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
                        auth = line[name.len()..].trim().to_owned();
                    }
                    line.clear();
                }
                if line.is_empty() {
                    break;
                }
                let ok = auth == format!("Basic {want}");
                let _ = tx.send(auth);
                let status = if ok { "200 OK" } else { "401 Unauthorized" };
                let _ = sock.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok").as_bytes(),
                );
            }
        }
    });
    (base, rx)
}

#[test]
fn url_credentials_are_sent_as_basic_auth_and_never_shown() {
    // admin:p@ss, the @ percent-encoded in the URL.
    let (host, seen) = basic_auth_server("YWRtaW46cEBzcw==");
    let dir = tempfile::tempdir().unwrap();
    let (res, md) = (dir.path().join("r.json"), dir.path().join("s.md"));
    let o = run(&[
        "run",
        "--url",
        &format!("http://admin:p%40ss@{host}/x"),
        "--vus",
        "1",
        "--iterations",
        "2",
        "--out",
        &format!("json={}", res.display()),
        "--out",
        &format!("md={}", md.display()),
    ]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(seen.recv().unwrap(), "Basic YWRtaW46cEBzcw==");
    let files = std::fs::read_to_string(&res).unwrap() + &std::fs::read_to_string(&md).unwrap();
    for shown in [&out, &err, &files] {
        assert!(
            !shown.contains("p%40ss") && !shown.contains("p@ss"),
            "{shown}"
        );
    }
    assert!(
        err.contains("admin:***@"),
        "the target is still named: {err}"
    );
}

fn plan_file(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("plan.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn k6_run_flags_do_what_they_do_in_k6() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_file(
        dir.path(),
        "version: 1\ntarget: demo\nworkload:\n  operations:\n    get:\n      request: GET /api/items?q={{ env.SECRET_Q }}\nthresholds:\n  http_req_duration: [p(95) < 0.001]\n",
    );
    let sum = dir.path().join("s.json");
    let o = run(&[
        "run",
        plan.to_str().unwrap(),
        "--vus",
        "1",
        "--iterations",
        "2",
        "-e",
        "SECRET_Q=s3cr3t-value",
        "--http-debug",
        "--summary-trend-stats",
        "avg,p(99.9)",
        "--no-thresholds",
        "--summary-export",
        sum.to_str().unwrap(),
    ]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    // --no-thresholds: the impossible threshold does not fail the run.
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    // --http-debug: each exchange on stderr, the -e value redacted.
    assert!(err.contains("GET http://127.0.0.1:"), "{err}");
    assert!(err.contains("/api/items?q=***"), "{err}");
    assert!(err.contains("--- response: HTTP/1.1 200"), "{err}");
    assert!(!err.contains("s3cr3t-value") && !out.contains("s3cr3t-value"));
    // --summary-trend-stats.
    assert!(out.contains("p(99.9)="), "{out}");
    assert!(!out.contains("med="), "{out}");
}

#[test]
fn k6_environment_variables_configure_the_run_below_flags() {
    let o = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .env("K6_VUS", "2")
        .env("K6_ITERATIONS", "5")
        .env("GAUNTLET_ITERATIONS", "3")
        .args(["run", "--url", "demo", "-q"])
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", text(&o.stderr));
    // GAUNTLET_ITERATIONS beats K6_ITERATIONS.
    assert!(out.contains("iterations"), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("iterations."))
        .unwrap();
    assert!(line.contains(": 3 "), "{line}");
    let o = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("K6_VUS", "lots")
        .args(["run", "--url", "demo", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(104));
    assert!(text(&o.stderr).contains("K6_VUS=lots: not a whole number"));
}

#[test]
fn throw_ends_the_iteration_at_a_transport_failure() {
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        p
    };
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_file(
        dir.path(),
        &format!(
            "version: 1\ntarget: http://127.0.0.1:{refused}\nworkload:\n  operations:\n    two:\n      steps:\n        - {{name: first, request: GET /a}}\n        - {{name: second, request: GET /b}}\n"
        ),
    );
    let reqs = |extra: &[&str]| {
        let mut a = vec![
            "run",
            plan.to_str().unwrap(),
            "--vus",
            "1",
            "--iterations",
            "1",
            "-q",
        ];
        a.extend_from_slice(extra);
        let o = run(&a);
        let out = text(&o.stdout);
        out.lines()
            .find(|l| l.trim_start().starts_with("http_reqs."))
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned()
    };
    assert!(reqs(&[]).contains(": 2 "), "both steps were sent");
    assert!(reqs(&["--throw"]).contains(": 1 "), "the second was not");
}

#[test]
fn every_command_help_gives_an_example() {
    for cmd in ["run", "validate", "plan", "schema", "demo", "report"] {
        let o = run(&[cmd, "--help"]);
        let help = text(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{cmd}: {}", text(&o.stderr));
        assert!(
            help.contains("Example"),
            "{cmd} --help has no example:\n{help}"
        );
    }
}

#[test]
fn the_readme_quick_test_against_the_demo_succeeds() {
    // README: `gauntlet demo --port 8080` then `gauntlet run --url http://127.0.0.1:8080/`.
    let mut demo = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["demo", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::BufReader::new(demo.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "demo items API on http://127.0.0.1:PORT (Ctrl-C to stop)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    let o = run(&[
        "run",
        "--url",
        &format!("{url}/"),
        "--vus",
        "2",
        "--iterations",
        "10",
        "-q",
    ]);
    let _ = demo.kill();
    let _ = demo.wait();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", text(&o.stderr));
    let failed = out
        .lines()
        .find(|l| l.trim_start().starts_with("http_req_failed."))
        .unwrap();
    assert!(failed.contains("0.00%"), "{failed}");
}
