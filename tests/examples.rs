//! End to end: reel finds each bundled bug within the search budget, with the expected kind of
//! failure, and finds nothing wrong with any of the fixes over many schedules.
//!
//! The seed of every check is reel's default, derived from the test's name, so each test
//! explores the same schedules on every run; `REEL_SEED` and `REEL_ITERATIONS` override it.

use reel::{Checker, Report};
use reel_suite::{PCT_DEPTH, SCENARIOS, SEARCH_BUDGET, Scenario};

/// How many schedules each fixed version must survive, per strategy.
const FIXED_SCHEDULES: usize = 10_000;

fn scenario(name: &str) -> &'static Scenario {
    SCENARIOS
        .iter()
        .find(|scenario| scenario.name == name)
        .unwrap_or_else(|| panic!("no bundled scenario named {name}"))
}

/// Asserts that `report` found the scenario's bug, as the expected kind of failure, within the
/// search budget.
fn assert_bug_found(scenario: &Scenario, strategy: &str, report: &Report) {
    let name = scenario.name;
    let failure = report.failure.as_ref().unwrap_or_else(|| {
        panic!(
            "{strategy} exploration missed the bug in {name}::buggy in {} schedules:\n{report}",
            report.iterations
        )
    });
    assert!(
        report.found(),
        "report has a failure but found() is false:\n{report}"
    );
    assert_eq!(
        failure.kind, scenario.expected_failure,
        "{strategy} exploration of {name}::buggy failed the wrong way:\n{report}"
    );
    assert!(
        failure.message.contains(scenario.message_contains),
        "{name}::buggy's failure message does not contain {:?}:\n{report}",
        scenario.message_contains
    );
    let iteration = report
        .iteration
        .expect("a report with a failure names the iteration it happened in");
    assert!(
        (1..=SEARCH_BUDGET).contains(&iteration),
        "{name}::buggy failed at iteration {iteration}, outside the budget of {SEARCH_BUDGET}"
    );
    assert_eq!(
        report.iterations, iteration,
        "exploration stops at the first failure"
    );
    eprintln!("{strategy}: {name}::buggy failed at schedule {iteration} of {SEARCH_BUDGET}");
}

/// Asserts that `report` explored every requested schedule of the scenario's fix and found
/// nothing.
fn assert_fix_holds(scenario: &Scenario, strategy: &str, report: &Report) {
    assert!(
        !report.found(),
        "{strategy} exploration found a failure in {}::fixed:\n{report}",
        scenario.name
    );
    assert!(report.failure.is_none() && report.iteration.is_none());
    // REEL_ITERATIONS overrides the count (to reproduce a run quickly); otherwise every
    // requested schedule must have run.
    if std::env::var_os("REEL_ITERATIONS").is_none() {
        assert_eq!(report.iterations, FIXED_SCHEDULES);
    }
}

fn random_finds_bug(name: &str) {
    let scenario = scenario(name);
    let report = Checker::new()
        .random()
        .iterations(SEARCH_BUDGET)
        .run(scenario.buggy);
    assert_bug_found(scenario, "random", &report);
}

fn pct_finds_bug(name: &str) {
    let scenario = scenario(name);
    let report = Checker::new()
        .pct(PCT_DEPTH)
        .iterations(SEARCH_BUDGET)
        .run(scenario.buggy);
    assert_bug_found(scenario, "PCT", &report);
}

fn random_finds_nothing_in_fix(name: &str) {
    let scenario = scenario(name);
    let report = Checker::new()
        .random()
        .iterations(FIXED_SCHEDULES)
        .run(scenario.fixed);
    assert_fix_holds(scenario, "random", &report);
}

fn pct_finds_nothing_in_fix(name: &str) {
    let scenario = scenario(name);
    let report = Checker::new()
        .pct(PCT_DEPTH)
        .iterations(FIXED_SCHEDULES)
        .run(scenario.fixed);
    assert_fix_holds(scenario, "PCT", &report);
}

/// One module of tests per scenario, named after it: each bug is found by both strategies,
/// and neither finds anything in the fix.
macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                const NAME: &str = stringify!($name);

                #[test]
                fn random_finds_bug() {
                    super::random_finds_bug(NAME);
                }

                #[test]
                fn pct_finds_bug() {
                    super::pct_finds_bug(NAME);
                }

                #[test]
                fn random_finds_nothing_in_fix() {
                    super::random_finds_nothing_in_fix(NAME);
                }

                #[test]
                fn pct_finds_nothing_in_fix() {
                    super::pct_finds_nothing_in_fix(NAME);
                }
            }
        )*
    };
}

scenario_tests!(lost_update, lock_order, check_then_act);

/// The scenario table and the modules agree: each scenario's name is its module's name, and
/// the examples exist under that name.
#[test]
fn every_scenario_has_an_example() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for scenario in &SCENARIOS {
        let example = examples.join(format!("{}.rs", scenario.name));
        assert!(example.is_file(), "missing example {}", example.display());
    }
    assert!(examples.join("find_the_bug.rs").is_file());
}
