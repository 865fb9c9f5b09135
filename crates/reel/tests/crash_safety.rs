//! Crash safety of recording: a recorded run killed with SIGKILL at random moments, aborted,
//! ended with `process::exit`, or failing with a panic always leaves a trace that reads back
//! and whose prefix replays without divergence.
//!
//! The recorded runs are child processes: this test binary runs its own ignored
//! `child_records_the_workload` test, which records `workload` to the file named by
//! `REEL_CRASH_TRACE`, and the parent kills it (or lets it abort or exit) and checks the file.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use reel::reel_trace::{self, ErrorKind, OutcomeKind, Trace};
use reel::{Replay, ReplayReport, ReplayResult, Runtime};
use ring::PARTICIPANTS;

mod ring;

/// The trace file the child records to.
const TRACE_ENV: &str = "REEL_CRASH_TRACE";
/// What the child does at its milestone: `none`, `abort` or `exit`.
const ACTION_ENV: &str = "REEL_CRASH_ACTION";
/// The child test that records.
const CHILD_TEST: &str = "child_records_the_workload";

/// Rounds of the long workload: millions of steps, far longer than the latest kill.
const LONG_ROUNDS: u64 = 1_000_000;
/// Rounds of the workloads that stop at a milestone.
const SHORT_ROUNDS: u64 = 200_000;
/// The main thread's round at which the milestone action fires.
const MILESTONE_ROUND: u64 = 12_345;
/// The killed trials.
const KILL_TRIALS: u64 = 24;
/// The panic message of the milestone panic.
const MILESTONE_PANIC: &str = "the workload panics at its milestone";
/// The exit status of the milestone exit.
const MILESTONE_EXIT: i32 = 3;

/// What main does when it reaches its milestone round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Nothing (a replay, or a run without a milestone).
    Nothing,
    /// `std::process::abort()`: SIGABRT.
    Abort,
    /// `std::process::exit(MILESTONE_EXIT)`.
    Exit,
    /// A panic of main.
    Panic,
}

impl Action {
    fn from_name(name: &str) -> Action {
        match name {
            "none" => Action::Nothing,
            "abort" => Action::Abort,
            "exit" => Action::Exit,
            "panic" => Action::Panic,
            other => panic!("unknown action {other:?}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Nothing => "none",
            Action::Abort => "abort",
            Action::Exit => "exit",
            Action::Panic => "panic",
        }
    }

    fn fire(self) {
        match self {
            Action::Nothing => {}
            Action::Abort => std::process::abort(),
            Action::Exit => std::process::exit(MILESTONE_EXIT),
            Action::Panic => panic!("{MILESTONE_PANIC}"),
        }
    }
}

/// The recorded program: deterministic (no clock, no randomness, no I/O).
#[derive(Clone, Copy, Debug)]
struct Plan {
    rounds: u64,
    /// The action main takes at the start of round `MILESTONE_ROUND`.
    action: Action,
}

impl Plan {
    fn long() -> Plan {
        Plan {
            rounds: LONG_ROUNDS,
            action: Action::Nothing,
        }
    }

    fn milestone(action: Action) -> Plan {
        Plan {
            rounds: SHORT_ROUNDS,
            action,
        }
    }

    /// The same program for a replay: everything but the milestone's side effect, which is
    /// no scheduling operation (so the replay takes the same steps).
    fn for_replay(self) -> Plan {
        match self.action {
            Action::Panic => self,
            _ => Plan {
                action: Action::Nothing,
                ..self
            },
        }
    }
}

/// The ring workload with the plan's milestone action.
fn workload(plan: Plan) {
    ring::ring(plan.rounds, MILESTONE_ROUND, &|| plan.action.fire());
}

/// The recording child: records the workload to `REEL_CRASH_TRACE` (run by the tests below,
/// never on its own).
#[test]
#[ignore = "a child process of the crash-safety tests"]
fn child_records_the_workload() {
    let Some(path) = std::env::var_os(TRACE_ENV) else {
        eprintln!("{CHILD_TEST} only runs as a child of the crash-safety tests");
        return;
    };
    let action = Action::from_name(&std::env::var(ACTION_ENV).unwrap_or_else(|_| "none".into()));
    let plan = match action {
        Action::Nothing => Plan::long(),
        action => Plan::milestone(action),
    };
    Runtime::new()
        .record(PathBuf::from(path))
        .run(|| workload(plan));
}

/// A fresh directory for this process's traces.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("crash_safety")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the recording child.
fn start_child(path: &Path, action: Action, output: Stdio) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .env(TRACE_ENV, path)
        .env(ACTION_ENV, action.name())
        .env_remove("REEL_RECORD")
        .env_remove("REEL_REPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(output);
    // No core dump for the child that aborts.
    // SAFETY: the closure runs in the forked child before exec; it only calls setrlimit,
    // which is async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    command.spawn().unwrap()
}

/// Kills the child if the test fails before it did.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// splitmix64: the kill delays, reproducible from the trial number.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Waits until the child created its trace file.
fn wait_for_file(child: &mut Child, path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the child ended ({status}) before it created {}",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the child never created {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The length of the trace's prologue (magic, version, header chunk), if the file has the
/// header chunk's frame.
fn prologue_len(bytes: &[u8]) -> Option<usize> {
    let frame = bytes.get(10..14)?;
    let length = u32::from_le_bytes(frame.try_into().unwrap()) as usize;
    Some(10 + reel_trace::FRAME_BYTES + length)
}

/// The payload length of the last chunk of a trace whose chunks are all whole.
fn last_chunk_length(bytes: &[u8]) -> usize {
    let mut at = 10;
    let mut length = 0;
    while at < bytes.len() {
        length = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += reel_trace::FRAME_BYTES + length;
    }
    assert_eq!(at, bytes.len(), "the file ends with a whole chunk");
    length
}

/// Replays the trace at `path` with `plan`'s program and checks that it followed the whole
/// trace: to its end if it was cut short, to its outcome if not.
fn replay_and_check(path: &Path, trace: &Trace, plan: Plan) -> ReplayReport {
    let replay = Replay::from_file(path)
        .unwrap_or_else(|error| panic!("{} does not replay: {error}", path.display()));
    assert_eq!(replay.trace().steps, trace.steps);
    let report = replay
        .run(|| workload(plan.for_replay()))
        .unwrap_or_else(|error| panic!("{} does not replay: {error}", path.display()));
    let expected = if trace.outcome.is_some() {
        ReplayResult::Reproduced
    } else {
        ReplayResult::EndOfTrace
    };
    assert_eq!(report.result, expected, "{report}");
    assert_eq!(report.recorded_steps, trace.steps, "{report}");
    if trace.outcome.is_some() {
        // The replay's count goes on past a failure (main's exit), which a trace omits.
        assert!(report.steps >= trace.steps, "{report}");
    } else {
        assert_eq!(report.steps, trace.steps, "{report}");
        assert!(
            report.notes.iter().any(|note| note.contains("cut short")),
            "a replay of a cut-short trace says so: {report}"
        );
    }
    report
}

/// What one killed (or finished) recording left.
struct Killed {
    steps: u64,
    bytes: u64,
    events: usize,
}

/// Whether a killed trial replays a trace that has its header and no event (the kill came
/// before the first chunk was written), which reel does not replay yet (see
/// `a_recording_killed_before_its_first_chunk_replays_to_the_end_of_its_trace`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderOnly {
    Replay,
    Skip,
}

/// Checks the trace a child left when it was killed with SIGKILL (or, if it won the race,
/// finished): it reads back, as a prefix when cut short, and the prefix replays.
fn check_killed_trace(path: &Path, status: ExitStatus, header_only: HeaderOnly) -> Killed {
    let finished = status.success();
    assert!(
        finished || status.signal() == Some(libc::SIGKILL),
        "the child died of something else than the kill: {status}"
    );
    let bytes = std::fs::read(path).unwrap();
    let trace = match reel_trace::read_file_prefix(path) {
        Ok(trace) => trace,
        Err(error) => {
            // Only a kill before the header chunk was whole leaves a file with no trace.
            assert!(
                matches!(error.kind, ErrorKind::Truncated { .. }),
                "a killed recording left a damaged trace: {error}"
            );
            assert!(
                prologue_len(&bytes).is_none_or(|prologue| bytes.len() < prologue),
                "a file with a whole header chunk reads: {error}"
            );
            assert!(Replay::from_file(path).is_err());
            return Killed {
                steps: 0,
                bytes: bytes.len() as u64,
                events: 0,
            };
        }
    };
    assert_eq!(trace.cut.is_none(), trace.outcome.is_some());
    match &trace.outcome {
        Some(outcome) => {
            assert!(finished, "a killed run has no outcome: {outcome:?}");
            assert_eq!(outcome.kind, OutcomeKind::Ok);
            reel_trace::read_file(path).expect("a complete trace reads strictly");
        }
        None => {
            let cut = trace.cut.as_ref().unwrap();
            assert!(cut.is_truncation(), "{cut}");
            let error = reel_trace::read_file(path).expect_err("a cut-short trace is an error");
            assert!(
                matches!(error.kind, ErrorKind::Truncated { .. }),
                "strict decoding of a killed trace: {error}"
            );
            assert!(error.to_string().contains("truncated"), "{error}");
        }
    }
    assert!(trace.bytes <= bytes.len() as u64);
    if trace.events.is_empty() {
        assert_eq!(trace.steps, 0);
        assert_eq!(
            trace.bytes,
            prologue_len(&bytes).unwrap() as u64,
            "a trace with no event chunk is its prologue"
        );
    }
    if !trace.events.is_empty() || header_only == HeaderOnly::Replay {
        replay_and_check(path, &trace, Plan::long());
    }
    Killed {
        steps: trace.steps,
        bytes: trace.bytes,
        events: trace.events.len(),
    }
}

/// Runs one killed trial: starts the child, waits for its trace file, then `delay`, and
/// sends SIGKILL.
fn kill_trial(dir: &Path, trial: u64, delay: Duration, header_only: HeaderOnly) -> Killed {
    let path = dir.join(format!("trial-{trial}.reel"));
    let mut child = KillOnDrop(Some(start_child(&path, Action::Nothing, Stdio::null())));
    let process = child.0.as_mut().unwrap();
    wait_for_file(process, &path);
    std::thread::sleep(delay);
    // SIGKILL: nothing in the child runs after it.
    process.kill().unwrap();
    let status = process.wait().unwrap();
    child.0 = None;
    let killed = check_killed_trace(&path, status, header_only);
    eprintln!(
        "trial {trial:2}: killed {:4} ms after the file appeared ({status}): {} steps, {} \
         events, {} bytes",
        delay.as_millis(),
        killed.steps,
        killed.events,
        killed.bytes
    );
    std::fs::remove_file(&path).unwrap();
    killed
}

#[test]
fn a_recording_killed_at_random_moments_leaves_a_trace_whose_prefix_replays() {
    let dir = scratch_dir("killed");
    let mut steps = Vec::new();
    for trial in 0..KILL_TRIALS {
        let mut state = 0x5eed_0000 + trial;
        let delay = Duration::from_millis(20 + splitmix64(&mut state) % 1480);
        steps.push(kill_trial(&dir, trial, delay, HeaderOnly::Replay).steps);
    }
    assert!(
        steps.iter().any(|&steps| steps > 0),
        "no killed recording got past its first chunk: {steps:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills right after the trace file appears: mostly before the first chunk was written.
fn early_kills(name: &str, header_only: HeaderOnly) {
    let dir = scratch_dir(name);
    let mut header_only_traces = 0;
    for trial in 0..6 {
        let killed = kill_trial(&dir, trial, Duration::from_millis(trial / 2), header_only);
        if killed.events == 0 {
            header_only_traces += 1;
        }
    }
    eprintln!("{header_only_traces} of 6 early kills left a trace with no event");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recording_killed_as_soon_as_its_file_appears_leaves_a_readable_trace() {
    early_kills("early", HeaderOnly::Skip);
}

#[test]
fn a_recording_killed_before_its_first_chunk_replays_to_the_end_of_its_trace() {
    early_kills("early-replay", HeaderOnly::Replay);
}

/// Records the milestone-panic workload in this process: the reference for the number of
/// steps taken before main's milestone.
fn record_milestone_panic(path: &Path) -> Trace {
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        Runtime::new()
            .record(path)
            .run(|| workload(Plan::milestone(Action::Panic)));
    }));
    let payload = result.expect_err("the workload panics at its milestone");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_default();
    assert_eq!(message, MILESTONE_PANIC);
    reel_trace::read_file(path).expect("a run that panicked leaves a complete trace")
}

/// Runs the recording child up to its milestone `action` and returns how it ended and the
/// trace it left.
fn run_milestone_child(path: &Path, action: Action) -> (Output, Trace) {
    let output = start_child(path, action, Stdio::piped())
        .wait_with_output()
        .unwrap();
    let trace = reel_trace::read_file_prefix(path).unwrap_or_else(|error| {
        panic!(
            "the trace of a run that ended with {action:?} does not read: {error}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, trace)
}

/// Checks that the trace of a run that died at its milestone holds every step up to it:
/// the emergency flush wrote the open chunk, which holds thousands of steps.
fn check_milestone_trace(path: &Path, trace: &Trace, reference: &Trace, action: Action) {
    assert!(trace.outcome.is_none(), "{action:?} leaves no outcome");
    let cut = trace.cut.as_ref().expect("the trace was cut short");
    assert_eq!(
        cut.kind,
        ErrorKind::Truncated { missing: 0 },
        "the flush writes whole chunks: {cut}"
    );
    let reference_steps = reference.outcome.as_ref().unwrap().step;
    eprintln!(
        "{action:?} at the milestone: the trace has {} steps; main's milestone came after step \
         {reference_steps}",
        trace.steps
    );
    // A chunk holds thousands of steps: without the flush, they would be missing.
    const SLACK: u64 = 2;
    assert!(
        trace.steps + SLACK >= reference_steps && trace.steps <= reference_steps,
        "the trace has {} steps, the run took {reference_steps} before its milestone",
        trace.steps
    );
    // The recorder writes chunks of at least CHUNK_TARGET_BYTES: a shorter last chunk is
    // the emergency flush's.
    let last = last_chunk_length(&std::fs::read(path).unwrap());
    assert!(
        last < reel_trace::CHUNK_TARGET_BYTES,
        "the last chunk ({last} bytes) was not written by the flush"
    );
    // The steps are the reference run's.
    let recorded: Vec<_> = trace.step_events().collect();
    let expected: Vec<_> = reference.step_events().take(recorded.len()).collect();
    assert!(
        recorded == expected,
        "the steps differ from the reference run's"
    );
    let report = replay_and_check(path, trace, Plan::milestone(action));
    assert!(report.failure.is_none(), "{report}");
}

#[test]
fn a_recording_that_aborts_keeps_every_step_up_to_the_abort() {
    let dir = scratch_dir("abort");
    let reference = record_milestone_panic(&dir.join("reference.reel"));
    let path = dir.join("abort.reel");
    let (output, trace) = run_milestone_child(&path, Action::Abort);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "the child dies of SIGABRT: {}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    check_milestone_trace(&path, &trace, &reference, Action::Abort);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recording_that_exits_keeps_every_step_up_to_the_exit() {
    let dir = scratch_dir("exit");
    let reference = record_milestone_panic(&dir.join("reference.reel"));
    let path = dir.join("exit.reel");
    let (output, trace) = run_milestone_child(&path, Action::Exit);
    assert_eq!(
        output.status.code(),
        Some(MILESTONE_EXIT),
        "the child exits with its status: {}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    check_milestone_trace(&path, &trace, &reference, Action::Exit);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recording_whose_main_panics_is_complete_and_replays_the_panic() {
    let dir = scratch_dir("panic");
    let path = dir.join("panic.reel");
    let trace = record_milestone_panic(&path);
    let outcome = trace
        .outcome
        .clone()
        .expect("a complete trace has its outcome");
    assert_eq!(outcome.kind, OutcomeKind::Panic);
    assert_eq!(outcome.message, MILESTONE_PANIC);
    assert_eq!(outcome.thread, Some(0), "main panicked");
    assert!(trace.cut.is_none());
    // Main reached its milestone round: every participant took several steps a round.
    assert!(
        trace.steps >= MILESTONE_ROUND * PARTICIPANTS * 3,
        "{} steps",
        trace.steps
    );
    let report = replay_and_check(&path, &trace, Plan::milestone(Action::Panic));
    let failure = report
        .failure
        .as_ref()
        .expect("the replay reproduced the panic");
    assert_eq!(failure.kind, reel::FailureKind::Panic);
    assert_eq!(failure.message, MILESTONE_PANIC);
    assert_eq!(failure.step, outcome.step);
    let _ = std::fs::remove_dir_all(&dir);
}
