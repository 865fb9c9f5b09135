//! `reel debug`: the REPL debugger. The program replays its trace as a child, paused at
//! step 0, and its debug agent answers over a socketpair (`session`); commands are parsed
//! into a closed set (`command`) from a terminal with history, completion and hints
//! (`terminal`), or from a script or standard input (batch), with the same output.

mod command;
mod session;
mod terminal;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::launch;
use session::Session;

/// `reel debug TRACE [--exe PATH] [--batch] [-x FILE] [-- ARGS...]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    #[command(flatten)]
    pub(crate) program: launch::ProgramArgs,
    /// Run the commands in FILE (one per line; lines starting with `#` are comments), then
    /// quit.
    #[arg(short = 'x', long = "command", value_name = "FILE")]
    pub(crate) script: Option<PathBuf>,
    /// No prompt, no history: read commands from -x FILE or standard input, print the
    /// answers (also the mode when standard input is not a terminal).
    #[arg(long)]
    pub(crate) batch: bool,
    /// Steps between the checkpoints taken automatically (a step backwards replays at most
    /// this many steps).
    #[arg(long, default_value_t = 100_000, value_name = "STEPS")]
    pub(crate) checkpoint_interval: u64,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let trace = crate::load::trace(&args.trace)?;
    let program = launch::program(&args.trace, &trace, &args.program)?;
    let script = match &args.script {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the commands in {}", path.display()))?,
        ),
        None => None,
    };
    let started = launch::start(&program, false)?;
    let pid = started.pid;
    let outcome = match &trace.outcome {
        Some(outcome) => trace.describe_outcome(outcome),
        None => format!("cut short after step {}", trace.steps),
    };
    println!(
        "reel debug: {} ({} steps, {} threads; recorded: {outcome})",
        args.trace.display(),
        trace.steps,
        trace.threads.len(),
    );
    println!(
        "the program ({}, pid {pid}) is paused at step 0. Type help for the commands.",
        program.command_line()
    );
    let mut session = Session::new(trace, program, started, args.checkpoint_interval);
    let interactive = script.is_none() && !args.batch && std::io::stdin().is_terminal();
    let failed = if interactive {
        terminal::run(&mut session)?;
        false
    } else {
        let lines: Box<dyn Iterator<Item = String>> = match script {
            Some(text) => Box::new(
                text.lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            None => Box::new(std::io::stdin().lock().lines().map_while(Result::ok)),
        };
        batch(&mut session, lines)
    };
    session.end();
    Ok(if failed {
        ExitCode::from(crate::EXIT_DIFFERENT)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs commands from a script or a pipe, echoing each; returns whether any failed.
fn batch(session: &mut Session, lines: impl Iterator<Item = String>) -> bool {
    let mut failed = false;
    for line in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        println!("(reel) {line}");
        match run_line(session, line) {
            Ok(true) => {}
            Ok(false) => break,
            Err(()) => failed = true,
        }
    }
    failed
}

/// Parses and runs one line, printing any error. `Ok(false)` after `quit`.
fn run_line(session: &mut Session, line: &str) -> Result<bool, ()> {
    let command = match command::parse(line) {
        Ok(Some(command)) => command,
        Ok(None) => return Ok(true),
        Err(message) => {
            println!("error: {message}");
            return Err(());
        }
    };
    match session.execute(command) {
        Ok(go_on) => Ok(go_on),
        Err(message) => {
            println!("error: {message}");
            Err(())
        }
    }
}
