//! A trace of a later execution of an exploration replays in a new process even when the
//! executions before it left state behind in statics (a completed `LazyLock`, a std atomic
//! counter): REEL_REPLAY re-runs those executions first, from the trace's strategy and seed.

mod child;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, LazyLock};
use reel::{Checker, Replay, ReplayResult, thread};

/// Set in the environment of the child processes.
const CHILD_MARKER: &str = "REEL_REPLAY_STATICS_CHILD";
/// The exploration's seed: its first failure is in execution 6 (asserted to be after 1).
const SEED: u64 = 3;

/// Initialised by the first execution that uses it, and never again in the process.
static INCREMENTS: LazyLock<usize> = LazyLock::new(|| 1);
/// Counts executions across the process, as a program's global statistics might.
static EXECUTIONS: StdAtomicUsize = StdAtomicUsize::new(0);

/// A lost update whose shape depends on process-wide state: every other execution spawns a
/// bystander thread.
fn program() {
    let execution = EXECUTIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let increments = *INCREMENTS;
    let counter = Arc::new(AtomicUsize::new(0));
    let bystander = (execution % 2 == 1).then(|| thread::spawn(thread::yield_now));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..increments {
                    let seen = counter.load(Ordering::SeqCst);
                    counter.store(seen + 1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    if let Some(bystander) = bystander {
        bystander.join().unwrap();
    }
    assert_eq!(
        counter.load(Ordering::SeqCst),
        2 * increments,
        "lost update"
    );
}

/// One kernel thread: the program's shape depends on how many executions ran before it in
/// the process, so the executions must run in order.
fn checker() -> Checker {
    Checker::new().random().seed(SEED).iterations(200).jobs(1)
}

fn is_child() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Runs an ignored child test in a new process with `environment`; returns its output.
fn run_child(test: &str, environment: &[(&str, &Path)]) -> String {
    let mut command = child::child_test(test, CHILD_MARKER);
    for (name, value) in environment {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{test} failed:\n{text}");
    text
}

/// The value of a `@key=value` line a child printed.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("@{key}=");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no @{key} in:\n{text}"))
}

#[test]
#[ignore = "child process of the tests below"]
fn child_explores() {
    if !is_child() {
        return;
    }
    let report = checker().run(program);
    let failure = report.failure.as_ref().expect("the lost update is found");
    println!();
    println!("@iteration={}", report.iteration.unwrap());
    println!("@replayed={}", report.replayed.is_some());
    println!("@step={}", failure.step);
    println!("@message={}", failure.message);
    println!(
        "@trace={}",
        report.trace.as_deref().map(Path::display).unwrap()
    );
}

#[test]
#[ignore = "child process of the tests below"]
fn child_replays_without_the_earlier_executions() {
    if !is_child() {
        return;
    }
    let path = PathBuf::from(std::env::var_os("STATICS_TRACE").unwrap());
    let report = Replay::from_file(path).unwrap().run(program).unwrap();
    println!();
    println!(
        "@result={}",
        match &report.result {
            ReplayResult::Diverged(divergence) => format!("diverged: {}", divergence.actual),
            other => format!("{other:?}"),
        }
    );
}

#[test]
fn a_later_executions_trace_replays_after_the_executions_before_it() {
    let dir = std::env::temp_dir().join(format!("reel-replay-statics-{}", std::process::id()));
    let recorded = run_child("child_explores", &[("REEL_TRACE_DIR", &dir)]);
    let iteration: usize = field(&recorded, "iteration").parse().unwrap();
    assert!(
        iteration > 1,
        "the test needs a failure after execution 1, so that statics matter:\n{recorded}"
    );
    assert_eq!(field(&recorded, "replayed"), "false");
    let trace = PathBuf::from(field(&recorded, "trace"));

    // REEL_REPLAY in the same check, in a new process: the earlier executions run first, so
    // the LazyLock is initialised and the counter is where it was, and the replay follows the
    // trace to the same failure.
    let replayed = run_child("child_explores", &[("REEL_REPLAY", &trace)]);
    assert_eq!(field(&replayed, "replayed"), "true", "{replayed}");
    assert_eq!(field(&replayed, "iteration"), iteration.to_string());
    assert_eq!(field(&replayed, "step"), field(&recorded, "step"));
    assert_eq!(field(&replayed, "message"), field(&recorded, "message"));

    // The plain Replay API runs only the recorded execution: in a fresh process the
    // LazyLock is not initialised yet, and the divergence says why that may be.
    let alone = run_child(
        "child_replays_without_the_earlier_executions",
        &[("STATICS_TRACE", &trace)],
    );
    let result = field(&alone, "result");
    assert!(
        result.starts_with("diverged") && result.contains("Once, OnceLock or LazyLock"),
        "{alone}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
