//! Starting the recorded program in replay mode: which executable, which arguments, and the
//! debug agent's channel.

use std::path::PathBuf;

/// Which program to run, when the trace's own record of it will not do.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ProgramArgs {
    /// The executable to run (default: the one the trace names).
    #[arg(long, value_name = "PATH")]
    pub(crate) exe: Option<PathBuf>,
    /// The program's arguments (default: derived from the trace).
    #[arg(last = true, value_name = "ARGS")]
    pub(crate) args: Vec<String>,
}
