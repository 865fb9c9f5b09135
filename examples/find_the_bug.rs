//! The main demo: reel finds all three bundled bugs, saves each failing run's trace, replays
//! the trace in a new process, and shows from the trace where the bug happened.
//!
//! Run with `cargo run --release --example find_the_bug`. For each scenario in
//! [`reel_suite::SCENARIOS`] it:
//! 1. explores the buggy version with random schedules, in a process of its own
//!    (`find_the_bug --explore NAME`, so that the trace's recorded command line re-runs just
//!    that scenario), and prints reel's report, which names the trace it saved
//!    (`target/reel/traces/...`);
//! 2. replays that trace in a fresh process (the same command with `REEL_REPLAY=<trace>`,
//!    which is what `reel replay <trace>` runs), which must reproduce the same failure at
//!    the same step;
//! 3. reads the trace and prints the steps that led to the failure, with their locations,
//!    and the `reel replay` / `reel debug` commands for it;
//! 4. checks that the fixed version survives the same budget.
//!
//! Exits 0 when every bug was found and reproduced, 1 otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use reel::reel_trace::{self, Trace};
use reel_suite::{SCENARIOS, SEARCH_BUDGET, Scenario};

/// How many of the steps before the failure the trace excerpt shows.
const STEPS_SHOWN: usize = 8;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, name] = args.as_slice()
        && flag == "--explore"
    {
        return explore(name);
    }

    let mut unexpected = Vec::new();
    for (number, scenario) in SCENARIOS.iter().enumerate() {
        let rule = "=".repeat(78);
        println!("{rule}");
        println!("{}. {}", number + 1, scenario.headline);
        println!(
            "   reel_suite::{}::buggy, up to {SEARCH_BUDGET} random schedules",
            scenario.name
        );
        println!("{rule}");
        if let Err(problem) = find_and_replay(scenario) {
            println!("-> {problem}");
            unexpected.push(scenario.name);
        }
        let fixed_report = reel::Checker::new()
            .random()
            .iterations(SEARCH_BUDGET)
            .run(scenario.fixed);
        if fixed_report.found() {
            println!("-> the fixed version failed too:\n{fixed_report}");
            unexpected.push(scenario.name);
        } else {
            println!(
                "-> reel_suite::{}::fixed passed all {} schedules.",
                scenario.name, fixed_report.iterations
            );
        }
        println!();
    }

    if unexpected.is_empty() {
        println!(
            "All {} bugs found, saved, replayed and located; all fixes hold.",
            SCENARIOS.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("Not as expected: {}", unexpected.join(", "));
        ExitCode::FAILURE
    }
}

/// Finds the scenario's bug (in a process of its own), replays its trace in a new process,
/// and shows where it happened.
fn find_and_replay(scenario: &Scenario) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let output = Command::new(&exe)
        .args(["--explore", scenario.name])
        .env_remove("REEL_REPLAY")
        .output()
        .map_err(|error| format!("could not start the exploration: {error}"))?;
    let report = String::from_utf8_lossy(&output.stdout);
    print!("{report}");
    if !output.status.success() {
        return Err(format!(
            "bug NOT found in {SEARCH_BUDGET} schedules{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let trace_path = report
        .lines()
        .find_map(|line| line.strip_prefix("trace saved: "))
        .map(PathBuf::from)
        .ok_or("the report names no saved trace")?;
    let trace = reel_trace::read_file(&trace_path).map_err(|error| error.to_string())?;
    let outcome = trace.outcome.as_ref().ok_or("the trace has no outcome")?;
    let iteration = trace.header.run.iteration.unwrap_or(0);
    println!("-> bug found at schedule {iteration} of {SEARCH_BUDGET}.");

    // Replay in a new process, as CI's saved trace would be on another machine.
    let output = Command::new(&exe)
        .args(["--explore", scenario.name])
        .env("REEL_REPLAY", &trace_path)
        .output()
        .map_err(|error| format!("could not start the replay: {error}"))?;
    let replay_output = String::from_utf8_lossy(&output.stdout);
    let expected = format!("at step {}: {}", outcome.step, outcome.message);
    if !output.status.success() || !replay_output.contains(&expected) {
        return Err(format!(
            "the replay did not reproduce the failure:\n{replay_output}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    println!(
        "-> replayed {} in a new process: the same {} at step {}.",
        trace_path.display(),
        outcome.kind.name(),
        outcome.step
    );
    show_where(&trace, &trace_path);
    let path = trace_path.display();
    println!("-> replay it again, on this machine or another: reel replay {path}");
    println!("-> step through it, forwards and backwards:    reel debug {path}");
    println!("   (reel is the workspace's CLI: cargo run --release -p reel-cli -- replay {path})");
    Ok(())
}

/// One scenario's exploration (`--explore NAME`); with REEL_REPLAY, the Checker replays the
/// trace instead of exploring. Exits 0 when the bug was found (or its replay reproduced it).
fn explore(name: &str) -> ExitCode {
    let Some(scenario) = SCENARIOS.iter().find(|scenario| scenario.name == name) else {
        eprintln!("no bundled scenario named {name}");
        return ExitCode::FAILURE;
    };
    let report = reel::Checker::new()
        .name(scenario.name)
        .random()
        .iterations(SEARCH_BUDGET)
        .run(scenario.buggy);
    println!("{report}");
    if report.found() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints, from the trace alone, the steps that led to the recorded outcome.
fn show_where(trace: &Trace, path: &Path) {
    let Some(outcome) = &trace.outcome else {
        return;
    };
    println!(
        "-> where it happened, read from {} ({} steps, {} bytes):",
        path.display(),
        trace.steps,
        trace.bytes
    );
    let steps: Vec<_> = trace.step_events().collect();
    let first = steps.len().saturating_sub(STEPS_SHOWN);
    for (index, step) in steps.iter().enumerate().skip(first) {
        println!(
            "   #{:<4} {:<22} {:<26} {}",
            index + 1,
            trace.thread_name(step.thread),
            trace.operation(step),
            trace.location_text(step.location)
        );
    }
    println!("   => {}", trace.describe_outcome(outcome));
}
