//! The main demo: reel finds all three bundled bugs, one after another.
//!
//! Run with `cargo run --example find_the_bug`. For each scenario in
//! [`reel_suite::SCENARIOS`] it explores the buggy version with random schedules, prints a
//! headline and reel's report, then checks that the fixed version survives the same budget.
//! Exits 0 when every bug was found, 1 if any was not.

use std::process::ExitCode;

use reel_suite::{SCENARIOS, SEARCH_BUDGET};

fn main() -> ExitCode {
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

        let report = reel::Checker::new()
            .random()
            .iterations(SEARCH_BUDGET)
            .run(scenario.buggy);
        println!("{report}");
        match report.iteration {
            Some(iteration) if report.found() => {
                println!("-> bug found at schedule {iteration} of {SEARCH_BUDGET}.");
            }
            _ => {
                println!("-> bug NOT found in {} schedules.", report.iterations);
                unexpected.push(scenario.name);
            }
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
        println!("All {} bugs found; all fixes hold.", SCENARIOS.len());
        ExitCode::SUCCESS
    } else {
        println!("Not as expected: {}", unexpected.join(", "));
        ExitCode::FAILURE
    }
}
