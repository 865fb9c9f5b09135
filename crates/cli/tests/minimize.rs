//! End-to-end tests of `reel minimize`: the built binary shrinks a committed trace's schedule
//! by running the example that recorded it, the shrunk trace replays to the same failure, and
//! traces without a failure or missing files are clear errors.

mod support;

use support::{committed_trace, example, reel, temp_dir};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_lost_update_shrinks_to_one_preemption_and_replays_to_the_same_failure() {
    let dir = temp_dir("minimize-lost-update");
    let out = dir.join("small.reel");
    let output = reel()
        .arg("minimize")
        .arg(committed_trace("lost_update"))
        .arg("-o")
        .arg(&out)
        .arg("--exe")
        .arg(example("lost_update"))
        .output()
        .expect("reel runs");
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    // The committed trace was found by random scheduling: 11 preemptions in 21 steps; the
    // lost update needs one.
    assert!(
        stdout.contains("shrunk: 11 preemptions, 21 steps -> 1 preemptions,"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("saved:  {}", out.display())),
        "{stdout}"
    );
    let replay = reel()
        .arg("replay")
        .arg(&out)
        .arg("--exe")
        .arg(example("lost_update"))
        .output()
        .expect("reel runs");
    let replayed = text(&replay.stdout);
    assert!(replay.status.success(), "{replayed}");
    assert!(replayed.contains("reproduced: panic at step"), "{replayed}");
    assert!(replayed.contains("lost update"), "{replayed}");
}

#[test]
fn a_trace_without_a_failure_or_a_missing_file_is_refused() {
    let output = reel()
        .arg("minimize")
        .arg(committed_trace("pipeline"))
        .output()
        .expect("reel runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("records a run that did not fail"),
        "{}",
        text(&output.stderr)
    );
    // A failing plain run: the committed pipeline trace with its outcome made a panic.
    let dir = temp_dir("minimize-plain");
    let plain = dir.join("plain.reel");
    let mut trace = reel_trace::read_file(committed_trace("pipeline")).unwrap();
    for event in &mut trace.events {
        if let reel_trace::Event::Outcome(outcome) = event {
            outcome.kind = reel_trace::OutcomeKind::Panic;
        }
    }
    std::fs::write(&plain, support::reencode(&trace, u64::MAX, |_, _| {}).0).unwrap();
    let output = reel()
        .arg("minimize")
        .arg(&plain)
        .output()
        .expect("reel runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("is a plain run's trace"),
        "{}",
        text(&output.stderr)
    );
    let output = reel()
        .arg("minimize")
        .arg("/nonexistent/trace.reel")
        .output()
        .expect("reel runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("/nonexistent/trace.reel"),
        "{}",
        text(&output.stderr)
    );
}
