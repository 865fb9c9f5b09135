//! `reel replay`: re-executes the recorded program against its trace.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// `reel replay TRACE [--exe PATH] [-- ARGS...]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    #[command(flatten)]
    pub(crate) program: crate::launch::ProgramArgs,
    /// The verdict as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let _ = args;
    todo!()
}
