//! `reel debug`: the REPL debugger.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// `reel debug TRACE [--exe PATH] [--batch] [-x FILE]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    #[command(flatten)]
    pub(crate) program: crate::launch::ProgramArgs,
    /// Run the commands of this file, then quit.
    #[arg(short = 'x', long = "command", value_name = "FILE")]
    pub(crate) script: Option<PathBuf>,
    /// No prompt, no history: read commands from -x or standard input, print answers.
    #[arg(long)]
    pub(crate) batch: bool,
    /// Steps between the checkpoints taken automatically.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) checkpoint_interval: u64,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let _ = args;
    todo!()
}
