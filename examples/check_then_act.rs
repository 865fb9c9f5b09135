//! Finds the overdraft in `reel_suite::check_then_act::buggy` by exploring random schedules.
//!
//! Run with `cargo run --example check_then_act`. Prints reel's report and exits 0 when the
//! bug was found (this is a demo of finding it), 1 when the budget ran out without finding it.

use std::process::ExitCode;

use reel_suite::{SEARCH_BUDGET, check_then_act};

fn main() -> ExitCode {
    println!(
        "Exploring up to {SEARCH_BUDGET} random schedules of two withdrawals that check the \
         balance, drop the lock, then debit..."
    );
    let report = reel::Checker::new()
        .random()
        .iterations(SEARCH_BUDGET)
        .run(check_then_act::buggy);
    println!("{report}");

    match report.iteration {
        Some(iteration) if report.found() => {
            println!("Found the overdraft at schedule {iteration} of {SEARCH_BUDGET}.");
            ExitCode::SUCCESS
        }
        _ => {
            println!("No overdraft in {} schedules.", report.iterations);
            ExitCode::FAILURE
        }
    }
}
