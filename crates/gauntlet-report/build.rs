//! Fetches the HTML report's chart library, uPlot, from the npm registry at
//! build time, pinned by `web/package-lock.json`, so no third-party code is
//! committed: `web/package.json` and the lock file are copied into `OUT_DIR`,
//! `npm ci` installs them there, and `src/html.rs` includes the minified
//! script, its stylesheet and its licence from `OUT_DIR/node_modules/uplot`.
//!
//! Needs `npm` (Node.js 20 or later) and access to the npm registry (or a
//! warm npm cache); without them the build fails with what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

const WEB_FILES: [&str; 2] = ["package.json", "package-lock.json"];

/// What `src/html.rs` includes, relative to `OUT_DIR`.
const BUNDLED: [&str; 3] = [
    "node_modules/uplot/dist/uPlot.iife.min.js",
    "node_modules/uplot/dist/uPlot.min.css",
    "node_modules/uplot/LICENSE",
];

fn fail(msg: &str) -> ! {
    panic!("gauntlet-report build failed: {msg}");
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let web = manifest.join("web");
    for f in WEB_FILES {
        println!("cargo:rerun-if-changed=web/{f}");
        let from = web.join(f);
        let to = out.join(f);
        let text = std::fs::read(&from)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", from.display())));
        // Rewrite only when different, so an unchanged lock does not reinstall.
        if std::fs::read(&to).ok().as_deref() != Some(&text[..]) {
            std::fs::write(&to, &text)
                .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", to.display())));
            let _ = std::fs::remove_dir_all(out.join("node_modules"));
        }
    }
    if !BUNDLED.iter().all(|f| out.join(f).is_file()) {
        npm_ci(&out);
    }
    for f in BUNDLED {
        let path = out.join(f);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| fail(&format!("`npm ci` did not produce {}: {e}", path.display())));
        // The report inlines these into <script> and <style>: a closing tag
        // inside would end the element early.
        let lower = text.to_ascii_lowercase();
        if lower.contains("</script") || lower.contains("</style") {
            fail(&format!(
                "{f} contains a closing </script> or </style> tag and cannot be inlined"
            ));
        }
    }
}

fn npm_ci(dir: &Path) {
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "`npm ci` in {} failed ({s}); the HTML report's chart library (uPlot, pinned in \
             crates/gauntlet-report/web/package-lock.json) comes from the npm registry: check \
             that https://registry.npmjs.org is reachable (or the npm cache holds uplot)",
            dir.display()
        )),
        Err(e) => fail(&format!(
            "cannot run `npm` ({e}): install Node.js 20+ with npm (Debian: `apt-get install -y \
             nodejs npm`); the HTML report's chart library (uPlot) is installed from the npm \
             registry at build time"
        )),
    }
}
