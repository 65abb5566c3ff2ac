//! One module per subcommand.

mod capacity;
mod demo;
mod plan;
mod report;
mod run;
mod validate;

use crate::args::{Cli, Command, OverrideArgs};
use crate::exit::Exit;
use anyhow::Context as _;
use gauntlet_plan::Overrides;
use std::io::IsTerminal;

/// Run the parsed command line.
pub(crate) fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    match cli.command {
        Command::Validate { plans, tags } => validate::validate(&plans, &tags.tags, color),
        Command::Plan { plan, overrides } => plan::show(&plan, &overrides.into(), color),
        Command::Schema => {
            crate::stdout::print(gauntlet_plan::PLAN_SCHEMA).context("cannot write to stdout")?;
            Ok(Exit::Ok)
        }
        Command::Demo(args) => demo::serve(args),
        Command::Run(args) => run::run(args, color),
        Command::Capacity(args) => capacity::capacity(args),
        Command::Report {
            result,
            format,
            output,
        } => report::render(&result, &format, output.as_deref(), color),
    }
}

impl From<OverrideArgs> for Overrides {
    fn from(a: OverrideArgs) -> Overrides {
        Overrides {
            url: a.url,
            vus: a.vus,
            duration: a.duration,
            iterations: a.iterations,
            rate: a.rate,
            stages: a.stages,
            tags: a.tags.tags,
        }
    }
}
