//! Messages that point at the cause, from the binary (issue 22, item 7):
//! flag problems name the flag and its value, a k6 script is recognised,
//! `--tag` works in `validate` and `plan` as in `run`, and no hint names a
//! command that does not exist.

use std::path::{Path, PathBuf};
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

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn a_bad_flag_value_is_reported_as_the_flag_and_value_without_a_made_up_snippet() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "plan.yaml",
        "version: 1\nworkload:\n  operations:\n    a: GET /api/items\n",
    );
    for (args, origin) in [
        (
            vec!["run", "--url", "demo", "--vus", "0", "--duration", "1s"],
            "--vus 0: ",
        ),
        (
            vec!["run", "--url", "demo", "--duration", "soon"],
            "--duration soon: ",
        ),
        (
            vec!["run", "--url", "ftp://127.0.0.1/x", "--vus", "1"],
            "--url ftp://127.0.0.1/x: ",
        ),
        (
            vec![
                "run",
                "--url",
                "http://127.0.0.1:1/?q={{ nope }}",
                "-i",
                "1",
            ],
            "--url http://127.0.0.1:1/?q={{ nope }}: ",
        ),
        (
            vec!["run", &plan, "--url", "ftp://127.0.0.1/x", "-i", "1"],
            "--url ftp://127.0.0.1/x: ",
        ),
        (vec!["plan", &plan, "--rate", "0"], "--rate 0: "),
    ] {
        let o = run(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(104), "{args:?}: {err}");
        assert!(err.contains(&format!("error: {origin}")), "{args:?}: {err}");
        assert!(!err.contains(":0:0"), "{args:?}: {err}");
        assert!(!err.contains("--url:"), "{args:?}: {err}");
        assert!(!err.contains("| version: 1"), "{args:?}: {err}");
    }
}

#[test]
fn a_k6_script_given_as_a_plan_is_recognised_and_pointed_at_the_plan_format() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "load.js",
        "import http from 'k6/http';\n\nexport default function () {\n  http.get('http://127.0.0.1:8080/');\n}\n",
    );
    for cmd in ["validate", "run", "plan"] {
        let o = run(&[cmd, &script]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(104), "{cmd}: {err}");
        assert!(
            err.contains("JavaScript file (a k6 script?)"),
            "{cmd}: {err}"
        );
        assert!(err.contains("docs/plan-format.md"), "{cmd}: {err}");
        assert!(!err.contains("invalid YAML"), "{cmd}: {err}");
    }
}

#[test]
fn a_plan_with_bare_cr_line_endings_validates() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "mac.yaml",
        "# saved with CR line endings\rversion: 1\rworkload:\r  operations:\r    a: GET /api/items\r",
    );
    let o = run(&["validate", &plan]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("ok"));
}

#[test]
fn validate_and_plan_take_tags_that_thresholds_select_as_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "plan.yaml",
        "version: 1\nworkload:\n  operations:\n    a: GET /api/items\nthresholds:\n  \"http_req_duration{team:checkout}\": [\"p(95) < 5s\"]\n",
    );
    let o = run(&["validate", &plan]);
    assert_eq!(o.status.code(), Some(104), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("unknown tag `team`"));
    for args in [
        vec!["validate", &plan, "--tag", "team=checkout"],
        vec!["plan", &plan, "--tag", "team=checkout"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
    }
    // The run measures the tagged sub-metric: the threshold is evaluated and holds.
    let o = run(&["run", &plan, "-i", "2", "-q", "--tag", "team=checkout"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", text(&o.stderr));
    assert!(out.contains("team:checkout"), "{out}");
}

/// `gauntlet WORD` after a backtick or at the start of a command line in
/// the sources, docs and examples: each WORD must be a subcommand.
#[test]
fn every_command_a_hint_or_doc_names_exists() {
    let help = text(&run(&["--help"]).stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(commands.contains(&"validate"), "{help}");
    let mut files = Vec::new();
    for dir in ["crates", "docs", "examples", "bench"] {
        collect(&repo().join(dir), &mut files);
    }
    files.push(repo().join("README.md"));
    files.push(repo().join("CONTRIBUTING.md"));
    let mut unknown = Vec::new();
    for f in files {
        let Ok(src) = std::fs::read_to_string(&f) else {
            continue;
        };
        let markdown = f.extension().is_some_and(|e| e == "md");
        let mut fenced = false;
        for (i, line) in src.lines().enumerate() {
            if markdown && line.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            // A line starting with `gauntlet` is a command line in code, not in prose.
            for word in named_commands(line, fenced || !markdown) {
                if !commands.contains(&word) && !word.is_empty() {
                    unknown.push(format!("{}:{}: gauntlet {word}", f.display(), i + 1));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "commands that do not exist:\n{}",
        unknown.join("\n")
    );
}

/// The WORDs of "`gauntlet WORD" and, in code, of a line starting
/// "gauntlet WORD" or "$ gauntlet WORD" (a shell line, a help text line).
fn named_commands(line: &str, code: bool) -> Vec<&str> {
    let mut out = Vec::new();
    fn word(rest: &str) -> Option<&str> {
        let w: &str = rest
            .split(|c: char| !(c.is_ascii_lowercase() || c == '-'))
            .next()?;
        // `gauntlet --help`, `gauntlet <command>`: not a command name.
        (!w.is_empty() && !w.starts_with('-')).then_some(w)
    }
    let mut rest = line;
    while let Some(i) = rest.find("`gauntlet ") {
        rest = &rest[i + "`gauntlet ".len()..];
        out.extend(word(rest));
    }
    let t = line.trim_start().trim_start_matches("$ ");
    if code && let Some(rest) = t.strip_prefix("gauntlet ") {
        out.extend(word(rest));
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "target" || name == "node_modules" || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(&p, out);
        } else if ["rs", "md", "yaml", "sh", "txt"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
        {
            out.push(p);
        }
    }
}
