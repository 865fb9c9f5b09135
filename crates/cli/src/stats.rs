//! `reel stats`: what a trace contains, counted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// `reel stats TRACE [--json]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let _ = args;
    todo!()
}
