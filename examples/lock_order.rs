//! Finds the lock-order deadlock in `reel_suite::lock_order::buggy` with PCT (depth 3).
//!
//! Run with `cargo run --example lock_order`. Prints reel's report and exits 0 when the bug
//! was found (this is a demo of finding it), 1 when the budget ran out without finding it.

use std::process::ExitCode;

use reel_suite::{PCT_DEPTH, SEARCH_BUDGET, lock_order};

fn main() -> ExitCode {
    println!(
        "Exploring up to {SEARCH_BUDGET} PCT schedules (depth {PCT_DEPTH}) of transfer(a, b) \
         racing transfer(b, a)..."
    );
    let report = reel::Checker::new()
        .pct(PCT_DEPTH)
        .iterations(SEARCH_BUDGET)
        .run(lock_order::buggy);
    println!("{report}");

    match report.iteration {
        Some(iteration) if report.found() => {
            println!("Found the deadlock at schedule {iteration} of {SEARCH_BUDGET}.");
            ExitCode::SUCCESS
        }
        _ => {
            println!("No deadlock in {} schedules.", report.iterations);
            ExitCode::FAILURE
        }
    }
}
