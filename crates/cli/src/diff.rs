//! `reel diff`: the first step at which two traces differ.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// `reel diff A B [--context N] [--json]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The first trace.
    pub(crate) a: PathBuf,
    /// The second trace.
    pub(crate) b: PathBuf,
    /// Steps of context shown before the difference.
    #[arg(long, default_value_t = 5)]
    pub(crate) context: u64,
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let _ = args;
    todo!()
}
