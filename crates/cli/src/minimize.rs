//! `reel minimize`: shrinks a trace's failing schedule. The recorded program runs with
//! REEL_MINIMIZE (its exploration shrinks the schedule instead of exploring; see
//! `reel::minimize`) and saves a trace with fewer preemptions and steps that fails the same
//! way; this command says how much smaller it is. Exit status 0 when a trace was saved, 2
//! when it could not be (bad input, a trace without a failure, a program that no longer
//! fails as recorded).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use reel_trace::{Event, OutcomeKind, Trace};

use crate::launch;

/// `reel minimize TRACE [-o OUT] [--exe PATH] [-- ARGS...]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace of a failing run.
    pub(crate) trace: PathBuf,
    /// Where to save the shrunk trace (default: beside it, `NAME.min.reel`).
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) program: launch::ProgramArgs,
}

/// Preemptions (switches away from a thread that could go on) and steps of a trace.
fn size(trace: &Trace) -> (usize, u64) {
    let mut previous = None;
    let mut preemptions = 0;
    for event in &trace.events {
        if let Event::Step(step) = event {
            if let Some((thread, op)) = previous
                && thread != step.thread
                && !reel_trace::OpKind::gives_way(op)
            {
                preemptions += 1;
            }
            previous = Some((step.thread, step.op));
        }
    }
    (preemptions, trace.steps)
}

fn default_output(trace: &Path) -> PathBuf {
    let stem = trace
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".to_owned());
    trace.with_file_name(format!("{stem}.min.reel"))
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let trace = crate::load::trace(&args.trace)?;
    match &trace.outcome {
        Some(outcome) if outcome.kind != OutcomeKind::Ok => {}
        Some(_) => bail!(
            "{} records a run that did not fail: there is no failure to keep while shrinking",
            args.trace.display()
        ),
        None => bail!(
            "{} is cut short before its outcome: there is no failure to keep while shrinking",
            args.trace.display()
        ),
    }
    if trace.header.run.strategy == "run" {
        bail!(
            "{} is a plain run's trace (reel::run), whose main runs once; only traces saved by \
             an exploration (Checker, check_random, check_pct) can be shrunk",
            args.trace.display()
        );
    }
    let program = launch::program(&args.trace, &trace, &args.program)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.trace));
    let output = std::path::absolute(&output)
        .with_context(|| format!("cannot resolve the path {}", output.display()))?;
    if output == program.trace {
        bail!("the shrunk trace would overwrite the trace it comes from; give another -o");
    }
    match std::fs::remove_file(&output) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => bail!("cannot replace {}: {error}", output.display()),
    }
    eprintln!(
        "reel: shrinking {} ({} steps)\nreel: running {}",
        args.trace.display(),
        trace.steps,
        program.command_line()
    );
    // The program's own output goes to standard error; ours is the verdict.
    let status = Command::new(&program.exe)
        .args(&program.args)
        .env("REEL_MINIMIZE", &program.trace)
        .env("REEL_MINIMIZE_OUT", &output)
        .env_remove("REEL_REPLAY")
        .env_remove("REEL_RECORD")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .with_context(|| format!("cannot run {}", program.exe.display()))?;
    if !output.exists() {
        bail!(
            "the program saved no shrunk trace (it exited: {}); its output above says why",
            launch::describe_status(status)
        );
    }
    let shrunk = reel_trace::read_file(&output)
        .with_context(|| format!("the shrunk trace {} is unreadable", output.display()))?;
    let (before_preemptions, before_steps) = size(&trace);
    let (after_preemptions, after_steps) = size(&shrunk);
    println!(
        "shrunk: {before_preemptions} preemptions, {before_steps} steps -> \
         {after_preemptions} preemptions, {after_steps} steps"
    );
    println!("saved:  {}", output.display());
    Ok(ExitCode::SUCCESS)
}
