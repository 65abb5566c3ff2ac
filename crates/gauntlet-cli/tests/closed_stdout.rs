//! stdout closed by its reader (`gauntlet schema | head -1`,
//! `gauntlet run … | head -3`): gauntlet stops printing quietly, like other
//! Unix tools, instead of panicking with "failed printing to stdout: Broken
//! pipe" and exit 101, and `run` still writes its result files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run gauntlet with stdout a pipe whose read end is already closed, so the
/// first write fails with EPIPE whatever the timing.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .args(args)
        .stdout(writer)
        .output()
        .unwrap()
}

fn assert_quiet(o: &Output, what: &str) {
    let err = text(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{what}: {err}"
    );
    assert_ne!(o.status.code(), Some(101), "{what}: {err}");
}

#[test]
fn printing_commands_exit_quietly_when_stdout_is_closed() {
    let plan = repo().join("examples/quickstart.yaml");
    let plan = plan.to_str().unwrap();
    for args in [
        &["schema"][..],
        &["validate", plan][..],
        &["plan", plan][..],
    ] {
        let o = with_closed_stdout(args);
        let what = args.join(" ");
        assert_quiet(&o, &what);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o.stderr));
    }
}

#[test]
fn a_saved_result_rendered_to_a_closed_stdout_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("r.json");
    let o = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .env("NO_COLOR", "1")
        .args([
            "run",
            "--url",
            "demo",
            "--vus",
            "1",
            "--iterations",
            "3",
            "-q",
        ])
        .args(["--out", &format!("json={}", res.display())])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for format in ["summary", "md", "junit", "csv", "html"] {
        let o = with_closed_stdout(&["report", res.to_str().unwrap(), "-f", format]);
        assert_quiet(&o, format);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", text(&o.stderr));
    }
}

#[test]
fn a_run_with_a_closed_stdout_still_writes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let (res, sum) = (dir.path().join("r.json"), dir.path().join("s.json"));
    let o = with_closed_stdout(&[
        "run",
        "--url",
        "demo",
        "--vus",
        "1",
        "--iterations",
        "3",
        "-q",
        "--summary-export",
        sum.to_str().unwrap(),
        "--out",
        &format!("json={}", res.display()),
    ]);
    assert_quiet(&o, "run");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for f in [&res, &sum] {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert!(doc.is_object(), "{}", f.display());
    }
}
