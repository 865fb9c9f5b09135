//! The watchdog reports nothing for the bundled correct programs: neither in plain runs nor
//! in 10,000 explored schedules of them. Stalls are measured as the runtime thread's own
//! time (CPU time while it computes, wall time only while it sleeps in a system call), so a
//! loaded machine that deschedules the process does not make one; and none of these
//! programs blocks outside reel.

use std::time::Duration;

use reel::Checker;
use reel::reel_trace::{self, Event};
use reel_suite::SCENARIOS;

/// Schedules explored in all, shared among the scenarios.
const SCHEDULES: usize = 10_000;

#[test]
fn no_stall_is_reported_in_explored_schedules_of_the_correct_programs() {
    let per_scenario = SCHEDULES.div_ceil(SCENARIOS.len());
    for scenario in &SCENARIOS {
        let report = Checker::new()
            .random()
            .iterations(per_scenario)
            .seed(7)
            .record(false)
            .stall_threshold(Some(Duration::from_millis(100)))
            .fail_on_stall(true)
            .run(scenario.fixed);
        assert!(!report.found(), "{}: {report}", scenario.name);
        assert_eq!(report.iterations, per_scenario, "{}", scenario.name);
    }
}

#[test]
fn no_stall_is_in_the_traces_of_plain_runs_of_the_correct_programs() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("watchdog_quiet");
    std::fs::create_dir_all(&dir).unwrap();
    for scenario in &SCENARIOS {
        let path = dir.join(format!("{}-{}.reel", scenario.name, std::process::id()));
        reel::Runtime::new()
            .stall_threshold(Some(Duration::from_millis(100)))
            .record(&path)
            .run(scenario.fixed);
        let trace = reel_trace::read_file(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let stalls: Vec<&Event> = trace
            .events
            .iter()
            .filter(|event| matches!(event, Event::Stall(_)))
            .collect();
        assert!(stalls.is_empty(), "{}: {stalls:?}", scenario.name);
    }
}
