//! `reel show`: a trace's events, one line each.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// `reel show TRACE [--from N] [--to M] [--thread T] [--json]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    /// The first step to show.
    #[arg(long)]
    pub(crate) from: Option<u64>,
    /// The last step to show.
    #[arg(long)]
    pub(crate) to: Option<u64>,
    /// Only this thread's events (its id, `T3`, or its name).
    #[arg(long)]
    pub(crate) thread: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let _ = args;
    todo!()
}
