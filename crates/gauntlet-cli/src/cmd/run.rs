//! `gauntlet run`.

use crate::args::RunArgs;
use crate::exit::Exit;

pub(crate) fn run(_args: RunArgs, _color: bool) -> anyhow::Result<Exit> {
    anyhow::bail!("not yet")
}
