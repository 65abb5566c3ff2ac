//! Writing to stdout when the reader may have gone away.
//!
//! `print!` panics when stdout is a pipe whose reader has closed it
//! (`gauntlet schema | head -1`: "failed printing to stdout: Broken pipe",
//! exit 101). Unix tools stop quietly instead, usually by dying of SIGPIPE;
//! gauntlet cannot take that route (restoring SIGPIPE needs `unsafe`, which
//! the workspace forbids) and must not anyway: `gauntlet run` prints the
//! summary *before* it writes the `--out` and `--summary-export` files, and a
//! process killed by SIGPIPE would never write them. So every command prints
//! through [`print`], which treats a closed stdout as "nobody is reading" and
//! lets the command carry on with the rest of its work and its exit code.

use std::io::{self, Write as _};

/// Write `text` to stdout and flush it. A closed stdout (`EPIPE`) is not an
/// error: the text is dropped. Any other write error is returned.
pub(crate) fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
