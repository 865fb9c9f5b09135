//! Finds the lost update in `reel_suite::lost_update::buggy` by exploring random schedules.
//!
//! Run with `cargo run --example lost_update`. Prints reel's report and exits 0 when the bug
//! was found (this is a demo of finding it), 1 when the budget ran out without finding it.

use std::process::ExitCode;

use reel_suite::{SEARCH_BUDGET, lost_update};

fn main() -> ExitCode {
    println!(
        "Exploring up to {SEARCH_BUDGET} random schedules of two threads that increment a \
         counter with load-then-store..."
    );
    let report = reel::Checker::new()
        .random()
        .iterations(SEARCH_BUDGET)
        .run(lost_update::buggy);
    println!("{report}");

    match report.iteration {
        Some(iteration) if report.found() => {
            println!("Found the lost update at schedule {iteration} of {SEARCH_BUDGET}.");
            ExitCode::SUCCESS
        }
        _ => {
            println!("No lost update in {} schedules.", report.iterations);
            ExitCode::FAILURE
        }
    }
}
