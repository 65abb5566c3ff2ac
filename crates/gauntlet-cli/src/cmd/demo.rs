//! `gauntlet demo`: serve the demo items API (filled in once the demo crate lands).

use crate::args::DemoArgs;
use crate::exit::Exit;

pub(crate) fn serve(_args: DemoArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("not yet")
}
