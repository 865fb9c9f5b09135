//! `reel export`: a trace in another tool's format.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// The formats `reel export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// Chrome trace-event JSON (opens in Perfetto UI and chrome://tracing).
    Chrome,
}

/// `reel export TRACE --format chrome [-o FILE]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub(crate) format: Format,
    /// Where to write it (standard output if not given).
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let _ = args;
    todo!()
}
