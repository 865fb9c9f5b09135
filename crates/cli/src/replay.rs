//! `reel replay`: re-executes the recorded program against its trace and reports whether it
//! reproduced the recorded outcome. Exit status 0 when it did, 1 with the first divergence
//! when it did not, 2 when it could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use reel_debug_protocol::{Finish, Reply, Request, StopReason, Verdict};

use crate::launch;

/// `reel replay TRACE [--exe PATH] [--json] [-- ARGS...]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    #[command(flatten)]
    pub(crate) program: launch::ProgramArgs,
    /// The verdict as one JSON object on standard output (the program's output goes to
    /// standard error).
    #[arg(long)]
    pub(crate) json: bool,
}

/// How the replay ended, as far as `reel replay` saw.
enum Ending {
    /// The agent said.
    Finished(Finish),
    /// The program ended before the replay did.
    Died(String),
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let trace = crate::load::trace(&args.trace)?;
    let program = launch::program(&args.trace, &trace, &args.program)?;
    let recorded = match &trace.outcome {
        Some(outcome) => trace.describe_outcome(outcome),
        None => format!("cut short after step {}", trace.steps),
    };
    if !args.json {
        eprintln!(
            "reel: replaying {} ({} steps; recorded: {recorded})\nreel: running {}",
            args.trace.display(),
            trace.steps,
            program.command_line()
        );
    }
    let mut started = launch::start(&program, args.json)?;
    let run = Request::Run {
        until: u64::MAX,
        stop_on_panic: false,
        checkpoints: Vec::new(),
    };
    let ending = match started.channel.send(&run, None) {
        Err(error) => Ending::Died(format!("the channel failed: {error}")),
        Ok(()) => loop {
            match started.channel.recv::<Reply>() {
                Ok((Reply::Stopped(stop), _)) => {
                    if let StopReason::Finished(finish) = stop.reason {
                        // Let the program finish as it would on its own (its report, its
                        // exit status).
                        let _ = started.channel.send(&Request::Detach, None);
                        break Ending::Finished(finish);
                    }
                    let _ = started.channel.send(&run, None);
                }
                Ok(_) => {}
                Err(_) => {
                    let status = started
                        .child
                        .wait()
                        .map(launch::describe_status)
                        .unwrap_or_else(|error| error.to_string());
                    break Ending::Died(status);
                }
            }
        },
    };
    let status = started
        .child
        .wait()
        .map(launch::describe_status)
        .unwrap_or_else(|error| error.to_string());
    launch::reap_ended();
    let (verdict, code) = match &ending {
        Ending::Finished(finish) => match &finish.verdict {
            Verdict::Reproduced => ("reproduced", 0),
            Verdict::EndOfTrace => ("end-of-trace", 0),
            Verdict::Diverged { .. } => ("diverged", crate::EXIT_DIFFERENT),
        },
        Ending::Died(_) => ("died", crate::EXIT_DIFFERENT),
    };
    if args.json {
        let mut object = serde_json::json!({
            "trace": args.trace.display().to_string(),
            "verdict": verdict,
            "recorded_steps": trace.steps,
            "recorded_outcome": recorded,
            "program": program.command_line(),
            "program_status": status,
        });
        match &ending {
            Ending::Finished(finish) => {
                object["failure"] = serde_json::json!(finish.failure);
                object["notes"] = serde_json::json!(finish.notes);
                if let Verdict::Diverged {
                    step,
                    expected,
                    actual,
                } = &finish.verdict
                {
                    object["divergence"] =
                        serde_json::json!({"step": step, "expected": expected, "actual": actual});
                }
            }
            Ending::Died(how) => object["died"] = serde_json::json!(how),
        }
        println!("{object}");
        return Ok(ExitCode::from(code));
    }
    let finished = matches!(ending, Ending::Finished(_));
    match ending {
        Ending::Finished(finish) => {
            for note in &finish.notes {
                println!("note: {note}");
            }
            match finish.verdict {
                Verdict::Reproduced => {
                    println!("reproduced: {recorded}");
                }
                Verdict::EndOfTrace => println!(
                    "reproduced: the trace was cut short after step {}, and the program \
                     followed all of it",
                    trace.steps
                ),
                Verdict::Diverged {
                    step,
                    expected,
                    actual,
                } => {
                    println!(
                        "diverged at step {step}:\n  the trace has: {expected}\n  the program: {actual}"
                    );
                }
            }
        }
        Ending::Died(how) => println!(
            "the program ended before the replay did ({how}); the trace records: {recorded}"
        ),
    }
    if finished {
        // A reproduced failure usually makes the program fail too: it is said, not judged.
        println!("(the program then exited: {status})");
    }
    Ok(ExitCode::from(code))
}
