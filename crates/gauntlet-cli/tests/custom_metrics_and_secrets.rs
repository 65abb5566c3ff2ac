//! The binary end to end: thresholds on the plan's own metrics decide the
//! exit code and the metrics reach every output; credentials (a URL's
//! password, `{{ env.X }}` tokens in `auth:`) are sent and never shown.

use std::path::Path;
use std::process::{Command, Output};

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    c.env("NO_COLOR", "1").current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every output format, written under `dir`.
const OUTS: &[&str] = &[
    "--out",
    "json=r.json",
    "--out",
    "junit=r.xml",
    "--out",
    "md=r.md",
    "--out",
    "csv=r.csv",
    "--out",
    "html=r.html",
    "--summary-export",
    "k6.json",
];

fn outputs(dir: &Path) -> Vec<(String, String)> {
    ["r.json", "r.xml", "r.md", "r.csv", "r.html", "k6.json"]
        .iter()
        .map(|f| {
            (
                (*f).to_owned(),
                std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")),
            )
        })
        .collect()
}

const METRIC_PLAN: &str = "version: 1
name: custom-metrics
target: demo
metrics:
  items_listed: counter
  list_wait: {type: trend, time: true}
workload:
  operations:
    list:
      request: GET /api/items?per_page=5
      metrics:
        - {metric: items_listed, jsonPath: $.per_page}
        - {metric: list_wait, timing: waiting}
scenarios:
  few: {executor: shared-iterations, vus: 1, iterations: 4}
thresholds:
  items_listed: [\"count >= 20\"]
  list_wait: [\"p(95) < 10s\"]
";

#[test]
fn a_threshold_on_a_plan_metric_passes_and_the_metric_is_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), METRIC_PLAN).unwrap();
    let mut args = vec!["run", "p.yaml"];
    args.extend_from_slice(OUTS);
    let o = run_in(dir.path(), &args, &[]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("items_listed"), "terminal summary: {out}");
    assert!(out.contains("list_wait"), "terminal summary: {out}");
    for (file, content) in outputs(dir.path()) {
        // The CSV timeline and the HTML page carry the metrics; every
        // other output names them in its metrics or its thresholds.
        assert!(content.contains("items_listed"), "{file} lacks the metric");
    }
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("k6.json")).unwrap())
            .unwrap();
    let m = &result["metrics"]["items_listed"];
    assert_eq!(m["type"], "counter", "{m}");
    assert_eq!(m["values"]["count"], 20.0, "4 lists of 5: {m}");
    assert_eq!(result["metrics"]["list_wait"]["type"], "trend");
}

#[test]
fn a_broken_threshold_on_a_plan_metric_fails_the_run_with_99() {
    let dir = tempfile::tempdir().unwrap();
    let plan = METRIC_PLAN.replace("count >= 20", "count > 1000");
    std::fs::write(dir.path().join("p.yaml"), plan).unwrap();
    let o = run_in(dir.path(), &["run", "p.yaml", "--out", "junit=r.xml"], &[]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(99), "{out}\n{err}");
    let junit = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    assert!(junit.contains("items_listed"), "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
}

#[test]
fn validate_refuses_a_threshold_on_an_undeclared_metric() {
    let dir = tempfile::tempdir().unwrap();
    let plan = METRIC_PLAN.replace("  items_listed: [", "  items_liste: [");
    std::fs::write(dir.path().join("p.yaml"), plan).unwrap();
    let o = run_in(dir.path(), &["validate", "p.yaml"], &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(104), "{err}");
    assert!(err.contains("unknown metric `items_liste`"), "{err}");
    assert!(err.contains("did you mean `items_listed`?"), "{err}");
}

/// Answers 200 when the `Authorization` header is the one its path wants
/// (`/basic`: `want_basic`, `/bearer`: `want_bearer`), 401 otherwise.
fn auth_server(want_basic: String, want_bearer: String) -> String {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", l.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(mut sock) = sock else { return };
            let (want_basic, want_bearer) = (want_basic.clone(), want_bearer.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(sock.try_clone().unwrap());
                loop {
                    let (mut auth, mut path) = (String::new(), String::new());
                    let mut line = String::new();
                    while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                        if path.is_empty() {
                            path = line.split(' ').nth(1).unwrap_or("").to_owned();
                        }
                        let name = "authorization:";
                        if line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name)
                        {
                            auth = line[name.len()..].trim().to_owned();
                        }
                        line.clear();
                    }
                    if line.is_empty() {
                        break;
                    }
                    let ok = match path.as_str() {
                        "/basic" => auth == want_basic,
                        "/bearer" => auth == want_bearer,
                        _ => false,
                    };
                    let status = if ok { "200 OK" } else { "401 Unauthorized" };
                    let _ = sock.write_all(
                        format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok").as_bytes(),
                    );
                }
            });
        }
    });
    addr
}

#[test]
fn a_url_password_and_env_tokens_are_sent_and_never_shown() {
    const PASSWORD: &str = "Pw-9f3kQ";
    const TOKEN: &str = "Tok-7q2zX";
    // admin:Pw-9f3kQ
    let addr = auth_server(
        "Basic YWRtaW46UHctOWYza1E=".to_owned(),
        format!("Bearer {TOKEN}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = format!(
        "version: 1
name: secrets
target:
  url: http://admin:{PASSWORD}@{addr}
workload:
  operations:
    me:
      steps:
        - name: basic
          request: GET /basic
          checks: [{{status: 200}}]
        - name: bearer
          request: {{url: /bearer, auth: {{bearer: '{{{{ env.API_TOKEN }}}}'}}}}
          checks: [{{status: 200}}]
scenarios:
  one: {{executor: shared-iterations, vus: 1, iterations: 2}}
thresholds:
  checks: [rate == 1]
"
    );
    std::fs::write(dir.path().join("p.yaml"), plan).unwrap();
    let mut args = vec!["run", "p.yaml", "--http-debug=full"];
    args.extend_from_slice(OUTS);
    let o = run_in(dir.path(), &args, &[("API_TOKEN", TOKEN)]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(
        o.status.code(),
        Some(0),
        "both requests authenticated:\n{out}\n{err}"
    );
    assert!(
        err.contains("--- request [basic]"),
        "--http-debug ran: {err}"
    );
    assert!(
        err.contains("admin:***@"),
        "the target is still named: {err}"
    );
    let mut shown = vec![("stdout".to_owned(), out), ("stderr".to_owned(), err)];
    shown.extend(outputs(dir.path()));
    for (name, content) in &shown {
        for secret in [PASSWORD, TOKEN] {
            assert!(
                !content.contains(secret),
                "{name} shows {secret}:\n{content}"
            );
        }
    }
}
