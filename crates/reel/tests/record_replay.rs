//! Record and replay end to end: a failing exploration's saved trace replays to the same
//! failure in this process and in a new one (REEL_REPLAY), nondeterminism outside reel shows
//! as a divergence or a `Nondeterminism` failure and never as a silently wrong replay, a
//! replay outlives code that only moved, a trace of another program or another test is
//! refused or ignored with a clear message, and a plain run's real-time timeouts replay.
//!
//! The tests marked `#[ignore]` are child processes of the others: each parent runs one of
//! them with `--exact NAME --ignored` and the environment (CHILD_MARKER, REEL_*) it needs,
//! and reads the `@key=value` lines it prints.

mod child;

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use reel::reel_trace::{self, ClockKind, Event, OpKind, OutcomeKind, Trace};
use reel::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use reel::sync::mpsc::{self, RecvTimeoutError};
use reel::sync::{Arc, Condvar, Mutex};
use reel::thread;
use reel::{
    Checker, FailureKind, MovedLocation, Replay, ReplayError, ReplayResult, Report, Runtime,
};

/// Set in a child process; the `#[ignore]`d child tests do nothing without it.
const CHILD_MARKER: &str = "REEL_RECORD_REPLAY_CHILD";

/// The seed the racy counter is explored with.
const RACY_SEED: u64 = 0x5eed_7ace;

/// How many schedules of the racy counter are explored (it fails within a handful).
const RACY_ITERATIONS: usize = 500;

// ---------------------------------------------------------------------------------------------
// Programs under test
// ---------------------------------------------------------------------------------------------

// Two named threads each add one to a counter with a separate load and store; main asserts
// that both updates landed. Some schedules lose one. (The consts around the function and its
// edited twin bound their lines.)
const RACY_COUNTER_FIRST_LINE: u32 = line!();
fn racy_counter() {
    let counter = Arc::new(AtomicUsize::new(0));
    let adders: Vec<_> = (0..2)
        .map(|adder| {
            let counter = Arc::clone(&counter);
            thread::Builder::new()
                .name(format!("adder-{adder}"))
                .spawn(move || {
                    let seen = counter.load(Ordering::SeqCst);
                    counter.store(seen + 1, Ordering::SeqCst);
                })
                .unwrap()
        })
        .collect();
    for adder in adders {
        adder.join().unwrap();
    }
    let total = counter.load(Ordering::SeqCst);
    assert_eq!(total, 2, "lost an update: the counter is {total}");
}
const RACY_COUNTER_LAST_LINE: u32 = line!();

// `racy_counter` after an edit that only adds lines: the same reel operations, every one of
// them on another line.
const RACY_COUNTER_EDITED_FIRST_LINE: u32 = line!();
fn racy_counter_edited() {
    let counter = Arc::new(AtomicUsize::new(0));
    // An edit that adds a line (and this comment) moves everything below it.
    std::hint::black_box("an added line");
    let adders: Vec<_> = (0..2)
        .map(|adder| {
            let counter = Arc::clone(&counter);
            thread::Builder::new()
                .name(format!("adder-{adder}"))
                .spawn(move || {
                    let seen = counter.load(Ordering::SeqCst);
                    counter.store(seen + 1, Ordering::SeqCst);
                })
                .unwrap()
        })
        .collect();
    for adder in adders {
        adder.join().unwrap();
    }
    let total = counter.load(Ordering::SeqCst);
    assert_eq!(total, 2, "lost an update: the counter is {total}");
}
const RACY_COUNTER_EDITED_LAST_LINE: u32 = line!();

/// How many mutexes `lock_first_in_order` chooses among.
const LOCKS: usize = 8;

/// Creates `LOCKS` mutexes and uses each once in index order (so lock `i` is `Mutex#i` in
/// every run), then locks the one that comes first in `order`, logging its index. With a
/// `HashSet`, whose `RandomState` is seeded from the OS, which lock that is changes from run
/// to run: a choice reel does not control.
fn lock_first_in_order(order: impl IntoIterator<Item = usize>, chosen: &StdMutex<Vec<usize>>) {
    let locks: Vec<Mutex<usize>> = (0..LOCKS).map(Mutex::new).collect();
    for lock in &locks {
        drop(lock.lock().unwrap());
    }
    let first = order.into_iter().next().unwrap();
    chosen.lock().unwrap().push(first);
    *locks[first].lock().unwrap() += 1;
}

/// `lock_first_in_order` with a fresh `HashSet`: its iteration order is random.
fn lock_first_in_hash_order(chosen: &StdMutex<Vec<usize>>) {
    let order: HashSet<usize> = (0..LOCKS).collect();
    lock_first_in_order(order, chosen);
}

/// `lock_first_in_order` with a `BTreeSet`: its iteration order is fixed.
fn lock_first_in_tree_order(chosen: &StdMutex<Vec<usize>>) {
    let order: BTreeSet<usize> = (0..LOCKS).collect();
    lock_first_in_order(order, chosen);
}

/// A program that depends only on what reel controls: threads, a mutex, a condvar, a channel
/// read with (virtual-time) timeouts, and a map with a fixed iteration order.
fn deterministic_program() {
    let (sender, receiver) = mpsc::channel();
    let total = Arc::new(Mutex::new(0u64));
    let started = Arc::new((Mutex::new(0usize), Condvar::new()));
    let producers: Vec<_> = (0..2u64)
        .map(|producer| {
            let sender = sender.clone();
            let total = Arc::clone(&total);
            let started = Arc::clone(&started);
            thread::spawn(move || {
                {
                    let (count, condvar) = &*started;
                    *count.lock().unwrap() += 1;
                    condvar.notify_all();
                }
                for item in 0..3 {
                    sender.send(producer * 10 + item).unwrap();
                    *total.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    drop(sender);
    {
        let (count, condvar) = &*started;
        let mut count = count.lock().unwrap();
        while *count < 2 {
            count = condvar.wait(count).unwrap();
        }
    }
    let mut received = Vec::new();
    loop {
        match receiver.recv_timeout(Duration::from_micros(3)) {
            Ok(item) => received.push(item),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    for producer in producers {
        producer.join().unwrap();
    }
    received.sort_unstable();
    assert_eq!(received, [0, 1, 2, 10, 11, 12]);
    assert_eq!(*total.lock().unwrap(), 6);
    let chosen = StdMutex::new(Vec::new());
    lock_first_in_tree_order(&chosen);
    assert_eq!(*chosen.lock().unwrap(), [0]);
}

// A worker adds 1 under a mutex and raises a flag while main adds 10, joins, and checks.
const ORIGINAL_FIRST_LINE: u32 = line!();
fn transfer_original() {
    let counter = Arc::new(Mutex::new(0u32));
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let counter = Arc::clone(&counter);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            *counter.lock().unwrap() += 1;
            done.store(true, Ordering::SeqCst);
        })
    };
    *counter.lock().unwrap() += 10;
    worker.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(*counter.lock().unwrap(), 11);
}
const ORIGINAL_LAST_LINE: u32 = line!();

// `transfer_original` with lines added in the middle (a log line and a comment): the same
// operations in the same order, on other lines.
const EDITED_FIRST_LINE: u32 = line!();
fn transfer_edited() {
    let counter = Arc::new(Mutex::new(0u32));
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let counter = Arc::clone(&counter);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            *counter.lock().unwrap() += 1;
            done.store(true, Ordering::SeqCst);
        })
    };
    // Added after the recording: a log line, which no scheduling point sees.
    println!("transfer_edited: the worker is started");
    *counter.lock().unwrap() += 10;
    worker.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(*counter.lock().unwrap(), 11);
}
const EDITED_LAST_LINE: u32 = line!();

/// `transfer_original` with one more operation: main locks the counter again before joining.
fn transfer_with_extra_lock() {
    let counter = Arc::new(Mutex::new(0u32));
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let counter = Arc::clone(&counter);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            *counter.lock().unwrap() += 1;
            done.store(true, Ordering::SeqCst);
        })
    };
    *counter.lock().unwrap() += 10;
    drop(counter.lock().unwrap());
    worker.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(*counter.lock().unwrap(), 11);
}

/// The 5 ms receive of `timeout_program`'s main ends before the sender's 20 ms of real work.
const EARLY_WAIT: Duration = Duration::from_millis(5);

/// How long `timeout_program`'s sender works, outside reel, before it sends.
const SENDER_WORK: Duration = Duration::from_millis(20);

/// Main waits `EARLY_WAIT` for a message that a thread sends only after `SENDER_WORK` of work
/// that reel does not see (a kernel-thread sleep), then waits for it again, then parks with a
/// timeout nobody ends. Logs what each receive returned.
///
/// In real time (a plain run) the early receive always times out: main's deadline passes
/// during the sender's work, and the sender's next scheduling point fires it. In virtual
/// time, which the sender's work does not move, it never does: the message comes first. So
/// a replay (virtual time) gets `Err(Timeout)` only by following the recorded timeout.
fn timeout_program(observed: &StdMutex<Vec<String>>) {
    let (sender, receiver) = mpsc::channel();
    let late_sender = thread::Builder::new()
        .name("late-sender".to_owned())
        .spawn(move || {
            std::thread::sleep(SENDER_WORK);
            thread::yield_now();
            sender.send(7u32).unwrap();
        })
        .unwrap();
    let early = receiver.recv_timeout(EARLY_WAIT);
    observed.lock().unwrap().push(format!("{early:?}"));
    let late = receiver.recv_timeout(Duration::from_secs(60));
    observed.lock().unwrap().push(format!("{late:?}"));
    late_sender.join().unwrap();
    thread::park_timeout(Duration::from_millis(1));
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("reel-record-replay-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The files in the directory, sorted.
    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What a child process printed.
struct ChildOutput {
    stdout: String,
    stderr: String,
}

impl ChildOutput {
    /// The value the child printed as `@key=value` on a line of its own.
    fn field(&self, key: &str) -> &str {
        let prefix = format!("@{key}=");
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("the child printed no {key}:\n{self}"))
    }
}

impl std::fmt::Display for ChildOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs the `#[ignore]`d child test `test` of this binary in a new process, with the
/// environment cleared of REEL_* settings and then given `environment`; asserts it passed.
fn run_child(test: &str, environment: &[(&str, &OsStr)]) -> ChildOutput {
    let mut command = child::child_test(test, CHILD_MARKER);
    for (name, value) in environment {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let child = ChildOutput {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "the child test {test} failed ({}):\n{child}",
        output.status
    );
    assert!(
        child.stdout.contains("1 passed"),
        "the child test {test} did not run:\n{child}"
    );
    child
}

/// Whether this process is a child run by a parent test.
fn is_child() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Prints a report as `@key=value` lines for the parent to read.
fn print_report(report: &Report) {
    let path = |path: &Option<PathBuf>| {
        path.as_ref()
            .map_or_else(|| "-".to_owned(), |path| path.display().to_string())
    };
    // A line of its own: the harness's "test NAME ... " has no newline yet.
    println!();
    println!("@found={}", report.found());
    println!("@iterations={}", report.iterations);
    println!(
        "@iteration={}",
        report
            .iteration
            .map_or_else(|| "-".to_owned(), |iteration| iteration.to_string())
    );
    println!("@trace={}", path(&report.trace));
    println!("@replayed={}", path(&report.replayed));
    println!("@test_name={}", report.test_name.as_deref().unwrap_or("-"));
    if let Some(failure) = &report.failure {
        println!("@kind={:?}", failure.kind);
        println!("@step={}", failure.step);
        println!(
            "@thread={}",
            failure
                .thread
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        );
        println!("@message={:?}", failure.message);
        println!(
            "@location={}",
            failure
                .location
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        );
    }
}

/// The 1-based step number of each step of a trace, with the step.
fn numbered_steps(trace: &Trace) -> impl Iterator<Item = (u64, &reel_trace::Step)> {
    trace
        .step_events()
        .enumerate()
        .map(|(index, step)| (index as u64 + 1, step))
}

/// A `file:line:column` location split into its parts.
fn split_location(text: &str) -> (&str, u32, u32) {
    let mut parts = text.rsplitn(3, ':');
    let column = parts.next().and_then(|part| part.parse().ok());
    let line = parts.next().and_then(|part| part.parse().ok());
    let file = parts.next();
    match (file, line, column) {
        (Some(file), Some(line), Some(column)) => (file, line, column),
        _ => panic!("not a file:line:column location: {text:?}"),
    }
}

/// Explores the racy counter with its fixed seed, saving the failing trace into `dir`.
fn explore_racy_counter(dir: &Path) -> Report {
    Checker::new()
        .random()
        .seed(RACY_SEED)
        .iterations(RACY_ITERATIONS)
        .trace_dir(dir)
        .run(racy_counter)
}

// ---------------------------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "child process of a_failing_exploration_replays_in_a_new_process"]
fn child_explores_racy_counter() {
    if !is_child() {
        return;
    }
    // REEL_TRACE_DIR (set by the parent) says where the trace goes; REEL_REPLAY, if set,
    // replays it instead of exploring.
    let report = Checker::new()
        .random()
        .seed(RACY_SEED)
        .iterations(RACY_ITERATIONS)
        .run(racy_counter);
    print_report(&report);
}

#[test]
fn a_failing_exploration_replays_in_a_new_process() {
    const CHILD: &str = "child_explores_racy_counter";
    let dir = TempDir::new("a_failing_exploration_replays_in_a_new_process");

    // Record: the child explores and saves the failing execution's trace in `dir`.
    let recorded = run_child(CHILD, &[("REEL_TRACE_DIR", dir.path().as_os_str())]);
    assert_eq!(recorded.field("found"), "true", "{recorded}");
    assert_eq!(recorded.field("kind"), "Panic", "{recorded}");
    assert_eq!(recorded.field("replayed"), "-", "{recorded}");
    assert!(
        recorded.field("message").contains("lost an update"),
        "{recorded}"
    );
    let iteration: u64 = recorded.field("iteration").parse().unwrap();
    let step: u64 = recorded.field("step").parse().unwrap();
    let trace_path = PathBuf::from(recorded.field("trace"));
    assert_eq!(
        dir.files(),
        std::slice::from_ref(&trace_path),
        "the one trace saved is in REEL_TRACE_DIR"
    );
    assert_eq!(
        trace_path.file_name().unwrap().to_string_lossy(),
        format!("{CHILD}-{RACY_SEED:#x}-{iteration}.reel")
    );

    // The file is a complete trace of that execution.
    let trace = reel_trace::read_file(&trace_path).unwrap();
    assert_eq!(trace.header.program.entry.as_deref(), Some(CHILD));
    assert_eq!(trace.header.program.exe_name, "record_replay");
    assert_eq!(trace.header.run.seed, Some(RACY_SEED));
    assert_eq!(trace.header.run.iteration, Some(iteration));
    assert_eq!(trace.header.settings.clock, ClockKind::Virtual);
    assert!(trace.cut.is_none());
    let outcome = trace
        .outcome
        .clone()
        .expect("a complete trace has an outcome");
    assert_eq!(outcome.kind, OutcomeKind::Panic);
    assert_eq!(outcome.step, step);
    assert_eq!(format!("{:?}", outcome.message), recorded.field("message"));
    assert_eq!(trace.steps, step, "the trace ends at the failing step");
    // Three threads: main and the two adders, with their names.
    let names: Vec<Option<&str>> = trace
        .threads
        .iter()
        .map(|spawn| spawn.name.as_deref())
        .collect();
    assert_eq!(names[1..], [Some("adder-0"), Some("adder-1")]);

    // Replay in a new process: the same test, with REEL_REPLAY, reproduces the failure.
    let replayed = run_child(
        CHILD,
        &[
            ("REEL_TRACE_DIR", dir.path().as_os_str()),
            ("REEL_REPLAY", trace_path.as_os_str()),
        ],
    );
    assert_eq!(
        replayed.field("replayed"),
        trace_path.display().to_string(),
        "{replayed}"
    );
    for key in ["found", "kind", "step", "thread", "message", "iteration"] {
        assert_eq!(
            replayed.field(key),
            recorded.field(key),
            "the replay's {key} differs from the recording's\nrecorded:\n{recorded}\nreplayed:\n{replayed}"
        );
    }
    assert_eq!(replayed.field("iterations"), "1", "{replayed}");
    assert!(!replayed.stderr.contains("explores as usual"), "{replayed}");
    assert_eq!(
        dir.files(),
        std::slice::from_ref(&trace_path),
        "a replay saves no new trace"
    );

    // Replay in this process: the same failure again.
    let report = Replay::from_file(&trace_path)
        .unwrap()
        .run(racy_counter)
        .unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced, "{report}");
    let failure = report
        .failure
        .as_ref()
        .expect("the replay fails as recorded");
    assert_eq!(failure.kind, FailureKind::Panic);
    assert_eq!(failure.step, step);
    assert_eq!(
        failure.thread.as_ref().unwrap().to_string(),
        recorded.field("thread")
    );
    assert_eq!(format!("{:?}", failure.message), recorded.field("message"));
    assert_eq!(
        failure.location.as_ref().unwrap().to_string(),
        recorded.field("location")
    );
    // The replay's count goes on past the failure (main's exit), which a trace omits.
    assert!(report.steps >= step, "{report}");
    assert_eq!(report.recorded_steps, step);
    assert!(report.moved.is_empty(), "{report}");
    assert_eq!(report.path.as_deref(), Some(trace_path.as_path()));
    assert!(
        report
            .notes
            .iter()
            .any(|note| note.contains(&format!("recorded by {CHILD}"))),
        "the report notes that another test recorded the trace: {:?}",
        report.notes
    );
}

#[test]
fn a_failing_exploration_replays_in_process() {
    let dir = TempDir::new("a_failing_exploration_replays_in_process");
    let explored = explore_racy_counter(dir.path());
    let recorded = explored.failure.clone().expect("the lost update is found");
    assert_eq!(recorded.kind, FailureKind::Panic);
    assert!(recorded.message.contains("lost an update"), "{explored}");
    let path = explored.trace.clone().expect("the failing trace is saved");
    assert!(explored.trace_error.is_none(), "{explored}");
    assert_eq!(path.parent(), Some(dir.path()));
    assert!(
        explored
            .to_string()
            .contains(&format!("REEL_REPLAY={}", path.display())),
        "the report says how to replay the trace:\n{explored}"
    );

    let report = Replay::from_file(&path).unwrap().run(racy_counter).unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced, "{report}");
    assert!(report.reproduced());
    let failure = report
        .failure
        .clone()
        .expect("the replay fails as recorded");
    assert_eq!(failure.kind, recorded.kind);
    assert_eq!(failure.step, recorded.step);
    assert_eq!(failure.message, recorded.message);
    assert_eq!(failure.thread, recorded.thread);
    assert_eq!(failure.location, recorded.location);
    assert_eq!(
        failure.last_steps, recorded.last_steps,
        "the replay took the recorded steps"
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert!(
        report.to_string().contains("reproduced the recording"),
        "{report}"
    );

    // `reel::replay` fails the way the recorded run did: with the same panic.
    let panic = std::panic::catch_unwind(|| reel::replay(racy_counter, &path))
        .expect_err("replaying a failure panics with it");
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("reproduced the recording") && text.contains(&recorded.message),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Nondeterminism outside the runtime
// ---------------------------------------------------------------------------------------------

/// The step at which `lock_first_in_order` locks its chosen mutex, and that mutex's index, read
/// from a trace of it: main's `LOCKS + 1`-th lock.
fn hash_choice_in_trace(trace: &Trace) -> (u64, u32) {
    let (step, choice) = numbered_steps(trace)
        .filter(|(_, step)| step.thread == 0 && step.op == OpKind::Lock)
        .nth(LOCKS)
        .expect("main locks LOCKS + 1 times");
    (step, choice.object.expect("a lock names its mutex"))
}

#[test]
fn nondeterminism_outside_reel_diverges_at_the_step_where_it_shows() {
    let dir = TempDir::new("nondeterminism_outside_reel_diverges");
    let path = dir.join("hash_order.reel");
    let recorded_log = StdMutex::new(Vec::new());
    Runtime::new()
        .record(&path)
        .run(|| lock_first_in_hash_order(&recorded_log));
    let recorded_choice = recorded_log.lock().unwrap()[0];

    let trace = reel_trace::read_file(&path).unwrap();
    assert_eq!(trace.header.run.strategy, "run");
    assert_eq!(trace.outcome.as_ref().unwrap().kind, OutcomeKind::Ok);
    let (choice_step, traced_choice) = hash_choice_in_trace(&trace);
    assert_eq!(
        traced_choice as usize, recorded_choice,
        "the trace's lock of Mutex#i is the lock of mutex i"
    );
    // Before the choice, every run takes the same steps: one lock and unlock per mutex.
    assert_eq!(choice_step, 2 * LOCKS as u64 + 1);

    let (mut reproduced, mut diverged) = (0, 0);
    for _ in 0..20 {
        let log = StdMutex::new(Vec::new());
        let report = Replay::from_file(&path)
            .unwrap()
            .run(|| lock_first_in_hash_order(&log))
            .unwrap();
        let choice = log.lock().unwrap()[0];
        match &report.result {
            ReplayResult::Reproduced => {
                assert_eq!(
                    choice, recorded_choice,
                    "a replay that chose another lock must not reproduce:\n{report}"
                );
                assert_eq!(report.steps, trace.steps);
                reproduced += 1;
            }
            ReplayResult::Diverged(divergence) => {
                assert_ne!(
                    choice, recorded_choice,
                    "the same choice must not diverge:\n{report}"
                );
                assert_eq!(divergence.step, choice_step, "{report}");
                // Main's lock, not an unlock or a blocked lock ("lock Mutex#1 " alone
                // would match "unlock Mutex#1 " and "blocks: lock Mutex#1 " too).
                assert!(
                    divergence
                        .expected
                        .starts_with(&format!("T0 'main' lock Mutex#{recorded_choice} at ")),
                    "{report}"
                );
                assert!(
                    divergence
                        .actual
                        .starts_with(&format!("T0 'main' lock Mutex#{choice} at ")),
                    "{report}"
                );
                assert!(report.failure.is_none(), "{report}");
                let text = report.to_string();
                assert!(
                    text.contains(&format!("diverged from the trace at step {choice_step}"))
                        && text.contains("HashMap iteration order"),
                    "{text}"
                );
                diverged += 1;
            }
            ReplayResult::EndOfTrace => panic!("a complete trace ended early:\n{report}"),
        }
    }
    assert_eq!(reproduced + diverged, 20);
    eprintln!("20 replays: {reproduced} made the recorded choice, {diverged} diverged");
    assert!(
        diverged >= 1,
        "20 replays all made the recorded choice among {LOCKS}"
    );
}

#[test]
fn the_determinism_check_reports_nondeterminism() {
    let dir = TempDir::new("the_determinism_check_reports_nondeterminism");
    let log = StdMutex::new(Vec::new());
    // One kernel thread: the log's last two entries are read as the failing execution's two
    // runs, which executions on another thread would interleave with.
    let report = Checker::new()
        .check_determinism(true)
        .iterations(50)
        .jobs(1)
        .trace_dir(dir.path())
        .run(|| lock_first_in_hash_order(&log));
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("the hash-ordered lock passed the determinism check:\n{report}"));
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{report}");
    // The choice is main's LOCKS + 1-th lock, after one lock and unlock per mutex.
    assert_eq!(failure.step, 2 * LOCKS as u64 + 1, "{report}");
    assert!(
        failure.message.contains("went two ways") && failure.message.contains("lock Mutex#"),
        "{report}"
    );
    // The two runs of the failing execution made different choices.
    let choices = log.lock().unwrap().clone();
    let (first, second) = (choices[choices.len() - 2], choices[choices.len() - 1]);
    assert_ne!(first, second, "{choices:?}");
    assert!(
        failure.message.contains(&format!("lock Mutex#{first} "))
            && failure.message.contains(&format!("lock Mutex#{second} ")),
        "the message names both choices ({first}, {second}):\n{report}"
    );
}

#[test]
fn a_deterministic_program_passes_the_determinism_check() {
    let dir = TempDir::new("a_deterministic_program_passes_the_determinism_check");
    let report = Checker::new()
        .check_determinism(true)
        .iterations(100)
        .trace_dir(dir.path())
        .run(deterministic_program);
    assert!(!report.found(), "{report}");
    assert_eq!(report.iterations, 100);
    assert!(dir.files().is_empty(), "no failure, no trace saved");
}

#[test]
#[ignore = "child process of reel_check_determinism_turns_the_check_on"]
fn child_explores_hash_ordered_lock() {
    if !is_child() {
        return;
    }
    let log = StdMutex::new(Vec::new());
    let report = Checker::new()
        .iterations(50)
        .run(|| lock_first_in_hash_order(&log));
    print_report(&report);
}

#[test]
fn reel_check_determinism_turns_the_check_on() {
    const CHILD: &str = "child_explores_hash_ordered_lock";
    let dir = TempDir::new("reel_check_determinism_turns_the_check_on");
    let trace_dir = ("REEL_TRACE_DIR", dir.path().as_os_str());

    // Without the check, nothing in the program fails.
    let unchecked = run_child(CHILD, &[trace_dir]);
    assert_eq!(unchecked.field("found"), "false", "{unchecked}");
    assert_eq!(unchecked.field("iterations"), "50", "{unchecked}");

    let checked = run_child(
        CHILD,
        &[trace_dir, ("REEL_CHECK_DETERMINISM", OsStr::new("1"))],
    );
    assert_eq!(checked.field("found"), "true", "{checked}");
    assert_eq!(checked.field("kind"), "Nondeterminism", "{checked}");
    assert_eq!(
        checked.field("step"),
        (2 * LOCKS + 1).to_string(),
        "{checked}"
    );
    assert!(
        checked.field("message").contains("went two ways"),
        "{checked}"
    );
}

/// Two threads lock the same two mutexes in opposite orders; with `bystander`, a third
/// thread yields for a while meanwhile, so a cycle can form while it still runs.
fn opposite_lock_orders(bystander: bool) {
    let first = Arc::new(Mutex::new(0));
    let second = Arc::new(Mutex::new(0));
    let other = {
        let (first, second) = (Arc::clone(&first), Arc::clone(&second));
        thread::spawn(move || {
            let _first = first.lock().unwrap();
            let _second = second.lock().unwrap();
        })
    };
    let bystander = bystander.then(|| {
        thread::spawn(|| {
            for _ in 0..20 {
                thread::yield_now();
            }
        })
    });
    {
        let _second = second.lock().unwrap();
        let _first = first.lock().unwrap();
    }
    other.join().unwrap();
    if let Some(bystander) = bystander {
        bystander.join().unwrap();
    }
}

/// A spawned thread panics if it sees another thread's store: a failure of a thread that is
/// not main, between two of its steps.
fn worker_sees_a_store() {
    let value = Arc::new(AtomicUsize::new(0));
    let storer = {
        let value = Arc::clone(&value);
        thread::spawn(move || value.store(1, Ordering::SeqCst))
    };
    let checker = {
        let value = Arc::clone(&value);
        thread::Builder::new()
            .name("checker".to_owned())
            .spawn(move || {
                let seen = value.load(Ordering::SeqCst);
                assert_eq!(seen, 0, "the checker saw the store");
            })
            .unwrap()
    };
    storer.join().unwrap();
    checker.join().unwrap();
}

/// Locks a mutex it already holds.
fn relock() {
    let lock = Mutex::new(0);
    let _held = lock.lock().unwrap();
    let _again = lock.lock().unwrap();
}

/// A thread waits for a flag that nobody raises, yielding as it spins.
fn spin_forever() {
    let flag = Arc::new(AtomicBool::new(false));
    let spinner = {
        let flag = Arc::clone(&flag);
        thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                thread::yield_now();
            }
        })
    };
    spinner.join().unwrap();
}

/// Explores `program` with `checker` (into `dir`), expects a failure of `kind`, replays its
/// trace to the same failure, and expects the determinism check to find the same failure.
fn assert_failure_replays(dir: &TempDir, checker: Checker, program: fn(), kind: FailureKind) {
    let checker = checker.seed(RACY_SEED).trace_dir(dir.path());
    let explored = checker.clone().run(program);
    let recorded = explored
        .failure
        .clone()
        .unwrap_or_else(|| panic!("no {kind} found:\n{explored}"));
    assert_eq!(recorded.kind, kind, "{explored}");
    let path = explored.trace.clone().expect("the failing trace is saved");
    let trace = reel_trace::read_file(&path).unwrap();
    assert_eq!(
        trace.outcome.as_ref().unwrap().kind.name(),
        kind.to_string()
    );

    let report = Replay::from_file(&path).unwrap().run(program).unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced, "{kind}: {report}");
    let failure = report
        .failure
        .clone()
        .expect("the replay fails as recorded");
    assert_eq!(
        (
            failure.kind,
            failure.step,
            &failure.message,
            &failure.thread
        ),
        (
            recorded.kind,
            recorded.step,
            &recorded.message,
            &recorded.thread
        ),
        "{report}"
    );
    assert_eq!(failure.cycle, recorded.cycle, "{report}");

    // Run twice, each execution is the same: the check finds the same failure, no
    // nondeterminism.
    let checked = checker.check_determinism(true).run(program);
    let failure = checked.failure.clone().expect("the same failure");
    assert_eq!(
        (
            failure.kind,
            failure.step,
            &failure.message,
            checked.iteration
        ),
        (
            recorded.kind,
            recorded.step,
            &recorded.message,
            explored.iteration
        ),
        "{checked}"
    );
}

#[test]
fn failures_replay_and_pass_the_determinism_check() {
    let dir = TempDir::new("every_kind_of_failure_replays");
    let checker = Checker::new().random().iterations(RACY_ITERATIONS);
    assert_failure_replays(&dir, checker.clone(), racy_counter, FailureKind::Panic);
    assert_failure_replays(
        &dir,
        checker.clone(),
        worker_sees_a_store,
        FailureKind::Panic,
    );
    assert_failure_replays(
        &dir,
        checker.clone(),
        || opposite_lock_orders(false),
        FailureKind::Deadlock,
    );
    assert_failure_replays(
        &dir,
        checker.clone(),
        || opposite_lock_orders(true),
        FailureKind::PartialDeadlock,
    );
    assert_failure_replays(
        &dir,
        checker.max_steps(300),
        spin_forever,
        FailureKind::StepBoundExceeded,
    );
}

#[test]
fn a_reentrant_lock_replays_and_passes_the_determinism_check() {
    let dir = TempDir::new("a_reentrant_lock_replays");
    let checker = Checker::new().random().iterations(RACY_ITERATIONS);
    assert_failure_replays(&dir, checker, relock, FailureKind::ReentrantLock);
}

// ---------------------------------------------------------------------------------------------
// 3. Edits that only move code
// ---------------------------------------------------------------------------------------------

/// Records a plain run of `transfer_original` into `dir` and returns the trace's path.
fn record_transfer(dir: &TempDir) -> PathBuf {
    let path = dir.join("transfer.reel");
    Runtime::new().record(&path).run(transfer_original);
    path
}

/// Asserts that `moved` maps each operation recorded in the lines `recorded` to the same
/// column of the lines `now`, all in this file, shifted by the distance between the two
/// ranges plus, for the operations after the added lines, the lines added. Returns how many
/// entries are before the added lines and how many after.
fn assert_moved_by_the_edit(
    moved: &[MovedLocation],
    recorded: (u32, u32),
    now: (u32, u32),
    report: &dyn std::fmt::Display,
) -> (usize, usize) {
    assert!(!moved.is_empty(), "no moved locations:\n{report}");
    let shift = now.0 - recorded.0;
    let added = (now.1 - now.0) - (recorded.1 - recorded.0);
    assert!(added > 0);
    let (mut before_edit, mut after_edit) = (0, 0);
    for entry in moved {
        let (recorded_file, recorded_line, recorded_column) = split_location(&entry.recorded);
        let (now_file, now_line, now_column) = split_location(&entry.now);
        assert!(recorded_file.ends_with("record_replay.rs"), "{entry}");
        assert_eq!(now_file, recorded_file, "{entry}");
        assert!(
            (recorded.0..recorded.1).contains(&recorded_line),
            "{entry}: recorded outside lines {recorded:?}"
        );
        assert!(
            (now.0..now.1).contains(&now_line),
            "{entry}: now outside lines {now:?}"
        );
        assert_eq!(now_column, recorded_column, "{entry}");
        assert!(entry.steps >= 1 && entry.first_step >= 1, "{entry}");
        let text = entry.to_string();
        assert!(
            text.contains(&entry.recorded) && text.contains(&entry.now),
            "{text}"
        );
        if now_line - recorded_line == shift {
            before_edit += 1;
        } else {
            assert_eq!(now_line - recorded_line, shift + added, "{entry}");
            after_edit += 1;
        }
    }
    (before_edit, after_edit)
}

#[test]
fn a_replay_outlives_lines_added_to_the_program() {
    let dir = TempDir::new("a_replay_outlives_lines_added");
    let path = record_transfer(&dir);
    let trace = reel_trace::read_file(&path).unwrap();
    assert_eq!(trace.outcome.as_ref().unwrap().kind, OutcomeKind::Ok);

    let report = Replay::from_file(&path)
        .unwrap()
        .run(transfer_edited)
        .unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced, "{report}");
    assert!(report.failure.is_none(), "{report}");
    assert_eq!(report.steps, trace.steps);
    let (before_edit, after_edit) = assert_moved_by_the_edit(
        &report.moved,
        (ORIGINAL_FIRST_LINE, ORIGINAL_LAST_LINE),
        (EDITED_FIRST_LINE, EDITED_LAST_LINE),
        &report,
    );
    // The worker's operations come before the added lines, main's lock and join after.
    assert!(before_edit > 0 && after_edit > 0, "{report}");
    // Every step the trace places in `transfer_original` is accounted for by a note.
    let traced_here = numbered_steps(&trace)
        .filter(|(_, step)| {
            let (file, line, _) = trace.location(step.location);
            file.ends_with("record_replay.rs")
                && (ORIGINAL_FIRST_LINE..ORIGINAL_LAST_LINE).contains(&line)
        })
        .count() as u64;
    let moved_steps: u64 = report.moved.iter().map(|moved| moved.steps).sum();
    assert_eq!(moved_steps, traced_here, "{report}");
    let text = report.to_string();
    for moved in &report.moved {
        assert!(text.contains(&format!("note: {moved}")), "{text}");
    }

    // The same holds for an exploration's failing trace: the failure is reproduced, and is
    // now reported at its new line.
    let explored = explore_racy_counter(dir.path());
    let recorded = explored.failure.clone().expect("the lost update is found");
    let report = Replay::from_file(explored.trace.as_ref().unwrap())
        .unwrap()
        .run(racy_counter_edited)
        .unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced, "{report}");
    let failure = report.failure.clone().unwrap();
    assert_eq!(
        (
            failure.kind,
            failure.step,
            &failure.message,
            &failure.thread
        ),
        (
            recorded.kind,
            recorded.step,
            &recorded.message,
            &recorded.thread
        )
    );
    let recorded_line = recorded.location.as_ref().unwrap().line;
    let replayed_line = failure.location.as_ref().unwrap().line;
    assert!((RACY_COUNTER_FIRST_LINE..RACY_COUNTER_LAST_LINE).contains(&recorded_line));
    assert!(
        (RACY_COUNTER_EDITED_FIRST_LINE..RACY_COUNTER_EDITED_LAST_LINE).contains(&replayed_line)
    );
    let (before_edit, after_edit) = assert_moved_by_the_edit(
        &report.moved,
        (RACY_COUNTER_FIRST_LINE, RACY_COUNTER_LAST_LINE),
        (
            RACY_COUNTER_EDITED_FIRST_LINE,
            RACY_COUNTER_EDITED_LAST_LINE,
        ),
        &report,
    );
    // The lines were added above every operation.
    assert_eq!(before_edit, 0, "{report}");
    assert!(after_edit > 0, "{report}");
}

#[test]
fn a_replay_of_a_program_with_another_operation_diverges() {
    let dir = TempDir::new("a_replay_with_another_operation_diverges");
    let path = record_transfer(&dir);
    let trace = reel_trace::read_file(&path).unwrap();
    // The extra lock comes where the recording has main's join.
    let (join_step, join) = numbered_steps(&trace)
        .find(|(_, step)| step.thread == 0 && matches!(step.op, OpKind::Join | OpKind::BlockJoin))
        .expect("main joins the worker");

    let report = Replay::from_file(&path)
        .unwrap()
        .run(transfer_with_extra_lock)
        .unwrap();
    let ReplayResult::Diverged(divergence) = &report.result else {
        panic!("an extra lock must diverge:\n{report}");
    };
    assert_eq!(divergence.step, join_step, "{report}");
    let (file, line, column) = trace.location(join.location);
    let object = join
        .object
        .map(|object| format!(" {}", trace.object_name(join.op, object)))
        .unwrap_or_default();
    assert!(
        divergence
            .expected
            .contains(&format!("{}{object} at {file}:{line}:{column}", join.op)),
        "the divergence names the recorded operation:\n{report}"
    );
    assert!(
        divergence.actual.starts_with("T0 'main' lock Mutex#0 at ")
            && divergence.actual.contains("record_replay.rs"),
        "the divergence names the operation the program took:\n{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains(&format!("at step {join_step}"))
            && text.contains(&divergence.expected)
            && text.contains(&divergence.actual),
        "{text}"
    );
    assert!(report.steps <= trace.steps, "{report}");
}

// ---------------------------------------------------------------------------------------------
// 4. A trace of another program
// ---------------------------------------------------------------------------------------------

#[test]
fn a_trace_of_another_program_is_refused_unless_allowed() {
    let dir = TempDir::new("a_trace_of_another_program");
    let path = record_transfer(&dir);
    let bytes = fs::read(&path).unwrap();
    let original = reel_trace::decode(&bytes).unwrap();
    assert_eq!(original.header.program.exe_name, "record_replay");

    // The same trace under another program's header.
    let header_length = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let events = &bytes[10 + 8 + header_length..];
    let mut header = original.header.clone();
    header.program.exe_name = "some-other-program".to_owned();
    let mut changed = reel_trace::encode_prologue(&header);
    changed.extend_from_slice(events);
    let other = dir.join("other.reel");
    fs::write(&other, &changed).unwrap();
    let decoded = reel_trace::read_file(&other).unwrap();
    assert_eq!(decoded.header, header);
    assert_eq!(
        (&decoded.events, &decoded.outcome, &decoded.locations),
        (&original.events, &original.outcome, &original.locations)
    );

    let replay = Replay::from_file(&other).unwrap();
    let error = replay.run(transfer_original).unwrap_err();
    match &error {
        ReplayError::OtherProgram {
            path,
            recorded,
            running,
        } => {
            assert_eq!(path.as_deref(), Some(other.as_path()));
            assert_eq!(recorded, "some-other-program");
            assert_eq!(running, "record_replay");
        }
        other => panic!("the trace itself is fine: {other}"),
    }
    assert_eq!(replay.check_program(), Err(error.clone()));
    let text = error.to_string();
    assert!(
        text.contains("'some-other-program'") && text.contains("'record_replay'"),
        "{text}"
    );

    let report = Replay::from_file(&other)
        .unwrap()
        .allow_other_program(true)
        .run(transfer_original)
        .unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced, "{report}");
    assert_eq!(report.steps, original.steps);
}

// ---------------------------------------------------------------------------------------------
// 5. REEL_REPLAY in another test
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "child process of a_trace_of_another_test_leaves_a_check_exploring"]
fn child_explores_with_another_tests_trace() {
    if !is_child() {
        return;
    }
    let report = Checker::new()
        .random()
        .iterations(25)
        .run(deterministic_program);
    print_report(&report);
}

#[test]
fn a_trace_of_another_test_leaves_a_check_exploring() {
    const CHILD: &str = "child_explores_with_another_tests_trace";
    let dir = TempDir::new("a_trace_of_another_test_leaves_a_check_exploring");
    let explored = explore_racy_counter(dir.path());
    let path = explored.trace.clone().expect("the failing trace is saved");
    let entry = reel_trace::read_file(&path).unwrap().header.program.entry;
    assert_ne!(entry.as_deref(), Some(CHILD));

    let child = run_child(
        CHILD,
        &[
            ("REEL_REPLAY", path.as_os_str()),
            ("REEL_TRACE_DIR", dir.path().as_os_str()),
        ],
    );
    assert_eq!(child.field("replayed"), "-", "{child}");
    assert_eq!(child.field("found"), "false", "{child}");
    assert_eq!(child.field("iterations"), "25", "it explored:\n{child}");
    let note = format!(
        "reel: REEL_REPLAY={} is a trace of {}; {CHILD} explores as usual",
        path.display(),
        entry.as_deref().unwrap_or("a program's main")
    );
    assert!(child.stderr.contains(&note), "no note {note:?}:\n{child}");
}

// ---------------------------------------------------------------------------------------------
// 6. Real-time timeouts of a plain run
// ---------------------------------------------------------------------------------------------

/// What `timeout_program` observes in real time: its early receive times out and its late
/// one gets the message.
const TIMEOUT_OBSERVED: [&str; 2] = ["Err(Timeout)", "Ok(7)"];

/// The timeouts in a trace, by thread.
fn timeouts(trace: &Trace) -> Vec<u32> {
    trace
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Timeout { thread } => Some(*thread),
            _ => None,
        })
        .collect()
}

#[test]
fn a_plain_runs_timeouts_replay_from_the_trace() {
    let dir = TempDir::new("a_plain_runs_timeouts_replay");
    let path = dir.join("timeouts.reel");
    let observed = StdMutex::new(Vec::new());
    Runtime::new()
        .record(&path)
        .run(|| timeout_program(&observed));
    assert_eq!(*observed.lock().unwrap(), TIMEOUT_OBSERVED);

    let trace = reel_trace::read_file(&path).unwrap();
    assert_eq!(trace.header.settings.clock, ClockKind::Real);
    assert_eq!(trace.header.run.strategy, "run");
    assert_eq!(trace.outcome.as_ref().unwrap().kind, OutcomeKind::Ok);
    // Main's early receive and its park time out; nothing else does.
    assert_eq!(timeouts(&trace), [0, 0]);

    let replayed = StdMutex::new(Vec::new());
    let report = Replay::from_file(&path)
        .unwrap()
        .run(|| timeout_program(&replayed))
        .unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced, "{report}");
    assert!(report.failure.is_none(), "{report}");
    assert_eq!(report.steps, trace.steps);
    assert_eq!(report.recorded_steps, trace.steps);
    assert_eq!(*replayed.lock().unwrap(), TIMEOUT_OBSERVED);

    // Without the trace, in virtual time, the early receive gets the message: the replay's
    // timeout came from the recording.
    let explored = StdMutex::new(Vec::new());
    // One kernel thread: the observations are read back two per execution, in order.
    let report = Checker::new()
        .iterations(3)
        .jobs(1)
        .trace_dir(dir.path())
        .run(|| timeout_program(&explored));
    assert!(!report.found(), "{report}");
    let explored = explored.lock().unwrap();
    assert_eq!(explored.len(), 6);
    assert!(
        explored.chunks(2).all(|run| run[0] == "Ok(7)"),
        "{explored:?}"
    );
}

#[test]
#[ignore = "child process of reel_record_and_reel_replay_drive_a_plain_run"]
fn child_runs_timeout_program() {
    if !is_child() {
        return;
    }
    let observed = StdMutex::new(Vec::new());
    reel::run(|| timeout_program(&observed));
    println!();
    println!("@observed={}", observed.lock().unwrap().join(","));
}

#[test]
fn reel_record_and_reel_replay_drive_a_plain_run() {
    const CHILD: &str = "child_runs_timeout_program";
    let dir = TempDir::new("reel_record_and_reel_replay_drive_a_plain_run");
    let path = dir.join("run.reel");

    let recorded = run_child(CHILD, &[("REEL_RECORD", path.as_os_str())]);
    assert_eq!(recorded.field("observed"), TIMEOUT_OBSERVED.join(","));
    let trace = reel_trace::read_file(&path).unwrap();
    assert_eq!(trace.header.program.entry.as_deref(), Some(CHILD));
    assert_eq!(trace.header.settings.clock, ClockKind::Real);
    assert_eq!(timeouts(&trace), [0, 0]);

    let replayed = run_child(CHILD, &[("REEL_REPLAY", path.as_os_str())]);
    assert_eq!(replayed.field("observed"), TIMEOUT_OBSERVED.join(","));
    let summary = format!(
        "reel: the replay of {} reproduced the recording: the run ends (ok) after step {}",
        path.display(),
        trace.steps
    );
    assert!(
        replayed.stderr.contains(&summary),
        "no {summary:?}:\n{replayed}"
    );
    assert_eq!(
        reel_trace::read_file(&path).unwrap(),
        trace,
        "a replay leaves the trace alone"
    );
}
