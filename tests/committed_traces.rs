//! The committed sample traces in traces/ still decode and still replay: a change to the
//! trace format or to the runtime that breaks traces recorded earlier fails here.
//!
//! Each trace was recorded from the example of the same name (the three exploration
//! examples and `shutdown_race`, which explores signal timing, save the failing execution's
//! trace; `pipeline` was recorded with REEL_RECORD).
//! Replaying one runs that example's binary, built by `cargo test`, with REEL_REPLAY.

use std::path::{Path, PathBuf};
use std::process::Command;

use reel::reel_trace::{self, Event, FORMAT_VERSION, OutcomeKind};

/// Each committed trace, the outcome it records, and a phrase of its message.
const TRACES: [(&str, OutcomeKind, &str); 5] = [
    ("lost_update", OutcomeKind::Panic, "lost update"),
    (
        "lock_order",
        OutcomeKind::Deadlock,
        "wait for each other in a cycle",
    ),
    ("check_then_act", OutcomeKind::Panic, "overdrawn"),
    ("pipeline", OutcomeKind::Ok, ""),
    (
        "shutdown_race",
        OutcomeKind::Panic,
        "a record was lost at shutdown",
    ),
];

fn trace_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("traces")
        .join(format!("{name}.reel"))
}

/// The example binary that cargo built next to this test's binary.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps");
    profile_dir.join("examples").join(name)
}

#[test]
fn every_committed_trace_decodes_with_its_recorded_outcome() {
    for (name, kind, message) in TRACES {
        let trace = reel_trace::read_file(trace_path(name))
            .unwrap_or_else(|error| panic!("traces/{name}.reel no longer decodes: {error}"));
        assert_eq!(trace.version, FORMAT_VERSION, "traces/{name}.reel");
        assert_eq!(trace.header.program.exe_name, name);
        let outcome = trace
            .outcome
            .as_ref()
            .expect("a complete trace has an outcome");
        assert_eq!(outcome.kind, kind, "traces/{name}.reel");
        assert!(outcome.message.contains(message), "{outcome:?}");
        assert_eq!(outcome.step, trace.steps);
        assert_eq!(trace.step_events().count() as u64, trace.steps);
        assert!(trace.cut.is_none());
        // Every step names a spawned thread and a defined location.
        for step in trace.step_events() {
            assert!((step.thread as usize) < trace.threads.len());
            let (file, line, _) = trace.location(step.location);
            assert!(file.ends_with(".rs") && line > 0, "{file}:{line}");
        }
    }
}

#[test]
fn the_pipeline_trace_records_real_time_timeouts() {
    let trace = reel_trace::read_file(trace_path("pipeline")).expect("decodes");
    assert!(
        trace
            .events
            .iter()
            .any(|event| matches!(event, Event::Timeout { .. })),
        "the plain run's timeouts are recorded as events"
    );
}

#[test]
fn the_shutdown_race_trace_records_the_sigterm_and_its_step() {
    let trace = reel_trace::read_file(trace_path("shutdown_race")).expect("decodes");
    let arrivals: Vec<_> = trace.signal_arrivals().collect();
    assert_eq!(arrivals.len(), 1, "{arrivals:?}");
    assert_eq!(arrivals[0].name(), "SIGTERM");
    assert!(arrivals[0].step < trace.steps);
}

#[test]
fn every_committed_trace_replays_in_its_example() {
    for (name, kind, message) in TRACES {
        let binary = example_binary(name);
        assert!(
            binary.exists(),
            "{} is missing: cargo test builds the examples",
            binary.display()
        );
        let output = Command::new(&binary)
            .env("REEL_REPLAY", trace_path(name))
            .output()
            .expect("the example runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let text = format!("{stdout}{stderr}");
        assert!(
            text.contains("reproduced"),
            "{name}: the replay did not reproduce the recording:\n{text}"
        );
        assert!(!text.contains("diverged"), "{name}:\n{text}");
        if kind != OutcomeKind::Ok {
            assert!(text.contains(message), "{name}:\n{text}");
            let trace = reel_trace::read_file(trace_path(name)).expect("decodes");
            let step = format!("at step {}", trace.steps);
            assert!(text.contains(&step), "{name}: expected {step}:\n{text}");
        } else {
            assert!(output.status.success(), "{name}:\n{text}");
        }
    }
}
