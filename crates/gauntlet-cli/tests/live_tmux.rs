//! The live progress of `gauntlet run` in a real terminal: the binary runs in
//! a detached tmux session (120×40) against the embedded demo service on
//! 127.0.0.1, and the screen is read back with `tmux capture-pane`.
//!
//! Checked: the bars and the live line appear with their fields and update;
//! at the end the bars are gone (none left behind or duplicated), the summary
//! is on screen, the cursor is visible and the terminal echoes again; Ctrl-C
//! (once: graceful, twice: hard) leaves its "stopping" notice readable above
//! the summary.
//!
//! Needs tmux (`apt-get install tmux`). Every test uses its own tmux server
//! (`tmux -L <unique socket>`), killed on drop, failure included. Waits are
//! bounded polls, never timing assertions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long any one wait may take before the test fails with the screen.
const LIMIT: Duration = Duration::from_secs(90);

/// A tmux server of our own running one pane, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start `bash -c SCRIPT ARGS...` in a detached 120×40 session. The pane
    /// stays if the command ends early (`remain-on-exit`), so a failure shows
    /// its last screen.
    fn start(name: &str, script: &str, args: &[&str]) -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => panic!("tmux is needed for this test: apt-get install tmux"),
        }
        let t = Tmux {
            socket: format!("gauntlet-live-{name}-{}", std::process::id()),
        };
        let mut cmd = t.cmd();
        cmd.args(["-f", "/dev/null", "start-server", ";"])
            .args(["set-option", "-g", "remain-on-exit", "on", ";"])
            .args(["new-session", "-d", "-x", "120", "-y", "40", "-s", "live"])
            .args(["bash", "-c", script])
            .args(args);
        let out = cmd.output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let o = self.cmd().args(args).output().expect("run tmux");
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The visible screen, trailing blanks trimmed.
    fn screen(&self) -> String {
        trim(&self.run(&["capture-pane", "-p", "-t", "live"]))
    }

    /// Everything the pane printed: scrollback and screen.
    fn history(&self) -> String {
        trim(&self.run(&["capture-pane", "-p", "-S", "-", "-E", "-", "-t", "live"]))
    }

    fn format(&self, f: &str) -> String {
        self.run(&["display-message", "-p", "-t", "live", f])
            .trim()
            .to_owned()
    }

    fn cursor_visible(&self) -> bool {
        self.format("#{cursor_flag}") == "1"
    }

    fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", "live", k]);
    }

    /// Poll the screen until `ok` holds; fail with the screen after [`LIMIT`].
    fn wait_screen(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(t0.elapsed() < LIMIT, "waited for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Wait for gauntlet to end (the script's `[exit N]` line); its full output.
    fn wait_end(&self) -> String {
        self.wait_screen("the end of the run", |s| {
            s.lines().any(|l| l.starts_with("[exit "))
        });
        self.history()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn trim(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_owned()
}

/// Run gauntlet, then report whether the terminal echoes and the exit code,
/// and keep the pane open (tmux hides the cursor of a dead pane, so its
/// state is read while the shell still owns the terminal).
const SCRIPT: &str = r#""$0" run "$@"; code=$?; if stty -a | grep -qw -- -echo; then echo "[echo off]"; else echo "[echo on]"; fi; echo "[exit $code]"; exec sleep 600"#;

fn write_plan(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("live.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

/// Two scenarios, about 6 s; one threshold that always fails (a p95 under a
/// microsecond) so the live line has something to report.
const SHORT: &str = "\
version: 1
name: live-check
target: demo
workload:
  thinkTime: 20ms
  operations:
    list: GET /api/items?page=1
scenarios:
  browse: {executor: constant-vus, vus: 2, duration: 6s, gracefulStop: 2s}
  orders: {executor: constant-arrival-rate, rate: 20, timeUnit: 1s, duration: 4s, preAllocatedVUs: 2, maxVUs: 5, startTime: 2s, gracefulStop: 2s}
thresholds:
  http_req_failed: [\"rate < 0.5\"]
  http_req_duration: [\"p(95) < 0.001\"]
";

/// A bar line: the bar's end caps only appear there.
fn bar_lines(screen: &str) -> Vec<&str> {
    screen.lines().filter(|l| l.contains('▕')).collect()
}

fn live_line(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.starts_with("  running ") || l.starts_with("  stopping "))
}

/// What every ended run shows: no bars left, no live line, the summary, the
/// header once, the cursor back and echo on.
fn assert_clean_end(t: &Tmux, out: &str, code: &str) {
    assert!(bar_lines(out).is_empty(), "bars left behind:\n{out}");
    assert!(live_line(out).is_none(), "live line left behind:\n{out}");
    assert!(out.contains("█ THRESHOLDS"), "no summary:\n{out}");
    assert!(out.contains("█ TOTAL RESULTS"), "no summary:\n{out}");
    assert_eq!(
        out.matches("gauntlet: live-check").count(),
        1,
        "header duplicated:\n{out}"
    );
    assert!(!out.contains("^C"), "the terminal echoed ^C:\n{out}");
    assert!(out.contains("[echo on]"), "echo not restored:\n{out}");
    assert!(out.contains(&format!("[exit {code}]")), "exit code:\n{out}");
    assert!(t.cursor_visible(), "cursor left hidden:\n{out}");
}

#[test]
fn bars_update_then_leave_only_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), SHORT);
    let t = Tmux::start(
        "normal",
        SCRIPT,
        &[env!("CARGO_BIN_EXE_gauntlet"), plan.to_str().unwrap()],
    );
    let first = t.wait_screen("both bars and the live line", |s| {
        bar_lines(s).len() == 2 && live_line(s).is_some()
    });
    let bars = bar_lines(&first);
    assert!(
        bars[0].contains("browse") && bars[0].contains("constant-vus"),
        "{first}"
    );
    assert!(
        bars[1].contains("orders") && bars[1].contains("constant-arrival-rate"),
        "{first}"
    );
    for b in &bars {
        assert!(b.contains("iterations") && b.contains("dropped"), "{first}");
    }
    assert!(bars[0].contains("VUs "), "{first}");
    let live = live_line(&first).unwrap().to_owned();
    for field in ["req/s", "p95 ", "errors ", "/6s"] {
        assert!(live.contains(field), "missing {field:?}: {first}");
    }
    assert!(
        !t.cursor_visible(),
        "the cursor is hidden while bars are drawn"
    );
    // The view updates: a later frame differs, and the arrival-rate scenario
    // gets going after its 2 s offset.
    let later = t.wait_screen("a newer frame with orders running", |s| {
        live_line(s).is_some_and(|l| l != live)
            && bar_lines(s)
                .get(1)
                .is_some_and(|b| b.contains("20.0/s VUs") && b.contains("(at +2s)"))
    });
    assert_eq!(
        bar_lines(&later).len(),
        2,
        "one line per scenario:\n{later}"
    );
    assert!(
        live_line(&later)
            .unwrap()
            .contains("failing 1/2: http_req_duration 'p(95) < 0.001' = "),
        "the failing threshold shows live:\n{later}"
    );
    let out = t.wait_end();
    assert_clean_end(&t, &out, "99");
    assert!(out.contains("✗ 'p(95) < 0.001'"), "{out}");
}

#[test]
fn ctrl_c_notice_stays_readable_above_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &SHORT.replace("duration: 6s", "duration: 60s"));
    let t = Tmux::start(
        "graceful",
        SCRIPT,
        &[env!("CARGO_BIN_EXE_gauntlet"), plan.to_str().unwrap()],
    );
    t.wait_screen("the bars", |s| bar_lines(s).len() == 2);
    t.keys("C-c");
    let out = t.wait_end();
    assert!(
        out.lines().any(|l| l
            == "stopping: no new iterations; running ones get their gracefulStop (press Ctrl-C again to stop at once)"),
        "the stop notice is not a whole line:\n{out}"
    );
    assert!(out.contains("run interrupted: stopped by signal"), "{out}");
    assert_clean_end(&t, &out, "105");
}

#[test]
fn second_ctrl_c_stops_at_once_and_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // Requests take 20 s, so only the second Ctrl-C can end the run soon.
    let plan = write_plan(
        dir.path(),
        &SHORT
            .replace("target: demo", "target: {url: demo, demo: {latency: 20s}}")
            .replace(
                "duration: 6s, gracefulStop: 2s",
                "duration: 60s, gracefulStop: 30s",
            ),
    );
    let t = Tmux::start(
        "hard",
        SCRIPT,
        &[env!("CARGO_BIN_EXE_gauntlet"), plan.to_str().unwrap()],
    );
    t.wait_screen("the bars", |s| bar_lines(s).len() == 2);
    t.keys("C-c");
    let s = t.wait_screen("the stop notice above bars in stopping state", |s| {
        s.contains("stopping: no new iterations")
            && live_line(s).is_some_and(|l| l.starts_with("  stopping "))
    });
    // The notice sits above the bars, not under or between them.
    let notice = s.lines().position(|l| l.starts_with("stopping: ")).unwrap();
    let first_bar = s.lines().position(|l| l.contains('▕')).unwrap();
    assert!(notice < first_bar, "{s}");
    t.keys("C-c");
    let out = t.wait_end();
    assert!(
        out.lines()
            .any(|l| l == "stopping now: running iterations are interrupted"),
        "{out}"
    );
    assert!(out.contains("stopping: no new iterations"), "{out}");
    assert_clean_end(&t, &out, "105");
}
