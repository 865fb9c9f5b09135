//! Every program's bug is found by reel's exploration within a bounded number of schedules,
//! and fails as its original does (a panic with the assertion's message, or a deadlock of its
//! threads); the fixed versions do not fail, and neither do the buggy ones under the plain
//! run-until-block schedule where the bug needs a preemption.

use reel::scheduler::{Decision, Op, Scheduler, ThreadId};
use reel::{Checker, FailureKind, Report, Strategy};
use reel_bugs::{Bug, PROGRAMS, Program};

fn program(name: &str) -> &'static Program {
    reel_bugs::program(name).unwrap_or_else(|| panic!("no program {name}"))
}

fn explore(main: fn(), strategy: &str, seed: u64, iterations: usize) -> Report {
    let strategy = Strategy::parse(strategy);
    assert!(
        !matches!(strategy, Strategy::Custom(_)),
        "reel knows the strategy {strategy}"
    );
    Checker::new()
        .strategy(strategy)
        .seed(seed)
        .iterations(iterations)
        .record(false)
        .run(main)
}

/// Asserts that the report has the program's bug: a panic whose message contains `message`,
/// raised in the program's own file, or a deadlock whose cycle holds `message` threads.
fn assert_bug(program: &Program, report: &Report, message: &str) {
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no failure found: {report}", program.name));
    match program.bug {
        Bug::Panic => {
            assert_eq!(
                failure.kind,
                FailureKind::Panic,
                "{}: {report}",
                program.name
            );
            assert!(
                failure.message.contains(message),
                "{}: the message {:?} does not say {message:?}",
                program.name,
                failure.message
            );
            let file = &failure.location.as_ref().expect("a panic's location").file;
            assert!(
                file.contains("programs/"),
                "{}: the panic is in {file}, not in the program",
                program.name
            );
        }
        Bug::Deadlock => {
            assert!(
                matches!(
                    failure.kind,
                    FailureKind::Deadlock | FailureKind::PartialDeadlock
                ),
                "{}: {report}",
                program.name
            );
            let threads: usize = message.parse().expect("a deadlock's cycle length");
            assert_eq!(failure.cycle.len(), threads, "{}: {report}", program.name);
        }
    }
    assert!(
        report
            .iteration
            .is_some_and(|iteration| iteration <= report.iterations)
    );
}

/// One test per program: `(test, program, strategy, seed, schedules, message)`, where
/// `message` is part of the panic message or, for a deadlock, the threads in the cycle.
macro_rules! found {
    ($(
        $test:ident: $name:literal, $strategy:literal, $seed:literal, $schedules:literal,
        $message:literal;
    )*) => {
        $(
            #[test]
            fn $test() {
                let program = program($name);
                let report = explore(program.reel, $strategy, $seed, $schedules);
                assert_bug(program, &report, $message);
            }
        )*

        /// Every program has a test here, or one of its own below.
        const TESTED: &[&str] = &[$($name,)* "reorder_100"];
    };
}

found! {
    account: "account", "random", 1, 2_000, "the balance after both";
    bluetooth_driver: "bluetooth_driver", "random", 1, 2_000, "stopped while in use";
    carter01: "carter01", "random", 1, 2_000, "2";
    circular_buffer: "circular_buffer", "random", 1, 2_000, "the value received in round";
    deadlock01: "deadlock01", "random", 1, 2_000, "2";
    lazy01: "lazy01", "random", 1, 2_000, "both additions came first";
    queue: "queue", "random", 1, 2_000, "the element of round";
    reorder_3: "reorder_3", "random", 1, 2_000, "one write of a pair";
    reorder_10: "reorder_10", "pct(depth 3)", 1, 10_000, "one write of a pair";
    stack: "stack", "random", 1, 2_000, "popped an empty stack";
    token_ring: "token_ring", "random", 1, 2_000, "the ring's values disagree";
    twostage: "twostage", "random", 1, 2_000, "between the two stages";
    twostage_100: "twostage_100", "surw", 1, 10_000, "between the two stages";
    wronglock: "wronglock", "random", 1, 2_000, "another increment came in between";
    workstealqueue: "workstealqueue", "pct(depth 3)", 1, 2_000, "was processed";
    late_writer: "late_writer", "pct(depth 3)", 1, 2_000, "after the late write";
    loop_99: "loop_99", "pct(depth 3)", 1, 2_000, "behind 99 iterations";
    safestack: "safestack", "random", 60, 100_000, "two threads hold item";
}

#[test]
fn every_program_is_tested() {
    for program in PROGRAMS {
        assert!(
            TESTED.contains(&program.name),
            "{} has no test",
            program.name
        );
    }
    assert_eq!(TESTED.len(), PROGRAMS.len());
}

/// Plays reorder_100's failing schedule: main spawns everything and waits; the first setter
/// writes `a` and, just before it writes `b`, the checker runs.
struct SetterThenChecker {
    main: Option<ThreadId>,
    setter_stored: bool,
}

impl Scheduler for SetterThenChecker {
    fn begin_execution(&mut self, _iteration: usize) {
        self.main = None;
        self.setter_stored = false;
    }

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        let main = *self.main.get_or_insert(decision.stepping);
        if decision.runnable.contains(main) {
            return main;
        }
        let others = || decision.runnable.iter().filter(|thread| *thread != main);
        let setter = others().min().expect("a runnable thread");
        let checker = others().max().expect("a runnable thread");
        let about_to_store = decision
            .next_step(setter)
            .is_some_and(|step| step.op == Op::AtomicStore);
        if about_to_store && self.setter_stored {
            return checker;
        }
        self.setter_stored |= about_to_store;
        setter
    }

    fn describe(&self) -> String {
        "setter then checker".to_owned()
    }
}

#[test]
fn reorder_100_fails_when_the_checker_reads_between_a_setters_writes() {
    let program = program("reorder_100");
    let scheduler = SetterThenChecker {
        main: None,
        setter_stored: false,
    };
    let report = Checker::new()
        .iterations(1)
        .record(false)
        .run_with_scheduler(Box::new(scheduler), program.reel);
    assert_bug(program, &report, "one write of a pair");
    assert_eq!(report.iteration, Some(1));
}

#[test]
fn a_random_walk_misses_the_late_and_the_hidden_bug() {
    // Both need one thread to take ~100 steps before another takes 1: about 2^-100 for a walk
    // that picks among the runnable threads uniformly at every step.
    for name in ["late_writer", "loop_99"] {
        let report = explore(program(name).reel, "random", 1, 1_000);
        assert!(!report.found(), "{name}: {report}");
        assert_eq!(report.iterations, 1_000);
    }
}

#[test]
fn the_fixed_versions_do_not_fail() {
    let mut fixed = 0;
    for program in PROGRAMS {
        let Some(version) = program.fixed else {
            continue;
        };
        fixed += 1;
        for strategy in ["random", "pct(depth 3)"] {
            let report = explore(version.reel, strategy, 7, 2_000);
            assert!(
                !report.found(),
                "{} fixed, {strategy}: {report}",
                program.name
            );
            assert_eq!(report.iterations, 2_000, "{}", program.name);
        }
    }
    assert_eq!(fixed, 11);
}

#[test]
fn bugs_that_need_a_preemption_do_not_show_in_a_plain_run() {
    for name in [
        "bluetooth_driver",
        "carter01",
        "deadlock01",
        "reorder_3",
        "reorder_10",
        "reorder_100",
        "twostage",
        "twostage_100",
        "wronglock",
        "loop_99",
    ] {
        let report = Checker::new()
            .strategy(Strategy::RunUntilBlock)
            .iterations(1)
            .record(false)
            .run(program(name).reel);
        assert!(!report.found(), "{name}: {report}");
    }
}

/// safestack's threads spin (a load and a yield) while another holds the item they want: the
/// priority strategies must let the holder run, so no execution ends in the step bound.
#[test]
fn spinning_threads_do_not_starve_the_one_they_wait_for() {
    let safestack = program("safestack");
    for strategy in ["surw", "pos", "portfolio"] {
        for seed in 0..3 {
            let report = explore(safestack.reel, strategy, seed, 200);
            if let Some(failure) = &report.failure {
                assert_ne!(
                    failure.kind,
                    FailureKind::StepBoundExceeded,
                    "{strategy}, seed {seed}: {report}"
                );
            }
        }
    }
}
