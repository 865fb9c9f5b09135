//! Finds the shutdown race in `reel_suite::shutdown_race::buggy`: a SIGTERM that arrives
//! between a log record's write and its index update loses the record.
//!
//! Run with `cargo run --example shutdown_race`. Explores random schedules with a SIGTERM
//! at a step the exploration chooses, prints reel's report (with the signal's arrival and
//! the saved trace) and exits 0 when the bug was found, 1 otherwise. The trace replays with
//! `reel replay`, and `reel debug` stops at the arrival with `break signal SIGTERM`.

use std::process::ExitCode;

use reel::signal::SIGTERM;
use reel_suite::{SEARCH_BUDGET, shutdown_race};

fn main() -> ExitCode {
    println!(
        "Exploring up to {SEARCH_BUDGET} random schedules of a logger that flushes on SIGTERM, \
         with the SIGTERM at a chosen step..."
    );
    let report = reel::Checker::new()
        .name("shutdown_race")
        .random()
        .signal(SIGTERM)
        .iterations(SEARCH_BUDGET)
        .run(shutdown_race::buggy);
    println!("{report}");
    match report.iteration {
        Some(iteration) if report.found() => {
            println!("Found the lost record at schedule {iteration} of {SEARCH_BUDGET}.");
            ExitCode::SUCCESS
        }
        _ => {
            println!("No lost record in {} schedules.", report.iterations);
            ExitCode::FAILURE
        }
    }
}
