//! `reel`: replays, debugs, inspects and shrinks reel traces.
//!
//! Every subcommand reads a trace through [`load`], so a missing, foreign or damaged file is
//! one clear error; the exit status is 0 on success, 1 when a replay diverged (or two traces
//! differ), 2 on bad input.

mod debug;
mod diff;
mod export;
mod launch;
mod load;
mod minimize;
mod replay;
mod show;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Replays, debugs and inspects traces recorded by reel.
#[derive(Parser)]
#[command(name = "reel", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Re-executes the recorded program in replay mode and reports whether it reproduces.
    Replay(replay::Args),
    /// Steps through a trace in an interactive debugger (forwards and backwards).
    Debug(debug::Args),
    /// Lists a trace's events, one line each.
    Show(show::Args),
    /// Counts a trace's steps, threads, switches and operations.
    Stats(stats::Args),
    /// Converts a trace for another tool (Chrome trace-event JSON, for Perfetto).
    Export(export::Args),
    /// Finds the first step at which two traces differ.
    Diff(diff::Args),
    /// Shrinks a failing trace's schedule: fewer preemptions and steps, the same failure.
    Minimize(minimize::Args),
}

/// Exit status of a command that worked but found a difference (a divergence, two traces
/// that differ).
pub(crate) const EXIT_DIFFERENT: u8 = 1;
/// Exit status for bad input: a missing or damaged file, bad arguments.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    // Output into a closed pipe (`reel debug ... | head`) ends the command quietly, as it
    // does for other Unix tools. The debugger's channels send with MSG_NOSIGNAL, so a
    // program that dies is an error there, not this signal.
    // SAFETY: setting a signal's disposition to its default touches no memory of ours.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                0
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let result = match &cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Debug(args) => debug::run(args),
        Command::Show(args) => show::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Export(args) => export::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Minimize(args) => minimize::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("reel: error: {error:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
