//! The `gauntlet` binary: a thin shell over the library crates.
//!
//! Parsing is clap; every command lives in `cmd/`; the exit code comes from
//! [`exit::Exit`], never from a `std::process::exit` buried in a library.

mod args;
mod cmd;
mod config;
mod exit;
mod limits;
mod live;
mod output;
mod stdout;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let code = match cmd::dispatch(cli) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::Exit::Failure
        }
    };
    #[allow(clippy::exit)]
    std::process::exit(code.code());
}
