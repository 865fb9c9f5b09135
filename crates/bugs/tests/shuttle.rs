//! The shuttle ports: each program's bug is found by one of shuttle's schedulers (through the
//! benchmark's counting runner), and the fixed versions run clean. reorder_100 is left out:
//! none of shuttle's three schedulers finds it in thousands of schedules (the benchmark
//! shows it).
//!
//! A test binary of its own, so that shuttle's panic hook and its state after a failed
//! execution meet no reel test.

use reel_bugs::run::{self, Outcome, ShuttleStrategy};
use reel_bugs::{PROGRAMS, program};

fn found(name: &str, strategy: ShuttleStrategy, seed: u64, cap: usize) -> Outcome {
    let program = program(name).unwrap_or_else(|| panic!("no program {name}"));
    run::on_shuttle(program, strategy, seed, cap)
}

#[test]
fn shuttle_finds_the_bugs() {
    use ShuttleStrategy::{Pct, Random, Urw};
    let cases = [
        ("account", Random, 1_000),
        ("bluetooth_driver", Random, 1_000),
        ("carter01", Random, 1_000),
        ("circular_buffer", Random, 1_000),
        ("deadlock01", Random, 1_000),
        ("lazy01", Random, 1_000),
        ("queue", Random, 1_000),
        ("reorder_3", Random, 1_000),
        ("reorder_10", Urw, 1_000),
        ("stack", Random, 1_000),
        ("token_ring", Random, 1_000),
        ("twostage", Random, 1_000),
        ("twostage_100", Urw, 2_000),
        ("wronglock", Random, 1_000),
        ("safestack", Urw, 50_000),
        ("workstealqueue", Random, 1_000),
        ("late_writer", Pct(3), 1_000),
        ("loop_99", Urw, 1_000),
    ];
    for (name, strategy, cap) in cases {
        let outcome = found(name, strategy, 1, cap);
        assert!(
            outcome.found().is_some_and(|schedules| schedules <= cap),
            "{name} with {strategy}: {outcome}"
        );
    }
    assert_eq!(
        cases.len() + 1,
        PROGRAMS.len(),
        "every program but reorder_100"
    );
}

#[test]
fn the_fixed_versions_run_clean_on_shuttle() {
    for program in PROGRAMS {
        let Some(fixed) = program.fixed else {
            continue;
        };
        for strategy in ShuttleStrategy::ALL {
            let outcome = run::explore_on_shuttle(fixed.shuttle, program.bug, strategy, 7, 500);
            assert_eq!(
                outcome,
                Outcome::NotFound { schedules: 500 },
                "{} fixed with {strategy}",
                program.name
            );
        }
    }
}

#[test]
fn a_deadlock_is_told_from_a_panic() {
    // deadlock01's bug is a deadlock: shuttle's deadlock panic counts as found...
    let outcome = found("deadlock01", ShuttleStrategy::Random, 1, 1_000);
    assert!(outcome.found().is_some(), "{outcome}");
    // ...and the same failure, judged as a panic's program, does not.
    let program = program("deadlock01").unwrap();
    let outcome = run::explore_on_shuttle(
        program.shuttle,
        reel_bugs::Bug::Panic,
        ShuttleStrategy::Random,
        1,
        1_000,
    );
    match outcome {
        Outcome::Other { failure, .. } => assert_eq!(failure, "deadlock"),
        other => panic!("deadlock01 as a panic: {other}"),
    }
}
