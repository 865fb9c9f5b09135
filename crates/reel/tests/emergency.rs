//! The emergency flush under process-directed signals: a Ctrl-C (SIGINT), SIGTERM or SIGHUP
//! sent to the process lands on a thread that is not recording (libtest's main thread), and
//! every recording of the process is still written out whole, by its own thread; an ignored
//! signal, or one a handler installed before takes, flushes nothing and cuts nothing short;
//! a recording whose file could not be written gets nothing appended by the flush.
//!
//! The recorded programs run in child processes: this test binary runs its own ignored
//! `child_*` tests, which record on threads they spawn (as libtest runs tests), and the
//! parent signals them and checks what they left.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reel::reel_trace::{self, ErrorKind, OutcomeKind, Trace};
use reel::sync::{Arc, Mutex};
use reel::{Checker, Replay, ReplayResult, Runtime};

mod ring;

/// The trace files a recording child writes, separated by `,` (one recording thread each).
const TRACES_ENV: &str = "REEL_EMERGENCY_TRACES";
/// A file the exploring child creates once its explorer runs.
const READY_ENV: &str = "REEL_EMERGENCY_READY";

/// Rounds of the long workload: far longer than any test waits.
const LONG_ROUNDS: u64 = 10_000_000;
/// Rounds of the short workload (runs that complete).
const SHORT_ROUNDS: u64 = 2_000;
/// The round at which the short workload's main signals itself.
const SIGNAL_ROUND: u64 = 100;

/// The ring workload; main calls `at_signal_round` at round `SIGNAL_ROUND`.
fn ring(rounds: u64, at_signal_round: fn()) {
    ring::ring(rounds, SIGNAL_ROUND, &at_signal_round);
}

fn long_ring() {
    ring(LONG_ROUNDS, || {});
}

/// The explored program: three threads contend for a lock, about 6,000 steps (a few chunks).
fn contended_counter() {
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let counter = Arc::clone(&counter);
            reel::thread::spawn(move || {
                for _ in 0..1000 {
                    *counter.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 3000);
}

/// Records `long_ring` to each file of `REEL_EMERGENCY_TRACES`, each on a std thread of its
/// own, until the parent signals the process.
#[test]
#[ignore = "a child process of the emergency tests"]
fn child_records_on_spawned_threads() {
    let Some(paths) = std::env::var_os(TRACES_ENV) else {
        return;
    };
    let recorders: Vec<_> = paths
        .to_str()
        .unwrap()
        .split(',')
        .enumerate()
        .map(|(index, path)| {
            let path = PathBuf::from(path);
            std::thread::Builder::new()
                .name(format!("recorder-{index}"))
                .spawn(move || Runtime::new().record(path).run(long_ring))
                .unwrap()
        })
        .collect();
    for recorder in recorders {
        let _ = recorder.join();
    }
    unreachable!("the parent signals this process before its recordings end");
}

/// Explores `contended_counter` (in memory, REEL_TRACE_DIR set by the parent) on a std
/// thread until the parent signals the process.
#[test]
#[ignore = "a child process of the emergency tests"]
fn child_explores_on_a_spawned_thread() {
    let Some(ready) = std::env::var_os(READY_ENV) else {
        return;
    };
    let explorer = std::thread::Builder::new()
        .name("explorer".to_owned())
        .spawn(|| {
            // One kernel thread explores, so exactly one execution runs when the signal
            // comes (with more, each running execution is saved).
            Checker::new()
                .iterations(100_000_000)
                .jobs(1)
                .run(contended_counter)
        })
        .unwrap();
    std::fs::write(ready, b"").unwrap();
    let _ = explorer.join();
    unreachable!("the parent signals this process before the exploration ends");
}

/// With SIGHUP ignored before reel starts (as under nohup), records a run whose main sends
/// SIGHUP to itself and to the process, then explores the same program: both complete.
#[test]
#[ignore = "a child process of the emergency tests"]
fn child_ignores_sighup() {
    let Some(paths) = std::env::var_os(TRACES_ENV) else {
        return;
    };
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread of ours runs.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    let program = || ring(SHORT_ROUNDS, hang_up);
    Runtime::new().record(PathBuf::from(paths)).run(program);
    let report = Checker::new().iterations(3).run(program);
    assert!(!report.found(), "{report}");
}

fn hang_up() {
    // SAFETY: kill and raise with a valid signal; SIGHUP is ignored.
    unsafe {
        libc::raise(libc::SIGHUP);
        libc::kill(libc::getpid(), libc::SIGHUP);
    }
    std::thread::sleep(Duration::from_millis(20));
}

/// SIGTERMs taken by the handler installed before reel's.
static TERMS_TAKEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn take_term(_signal: libc::c_int) {
    TERMS_TAKEN.fetch_add(1, Ordering::Relaxed);
}

/// With a SIGTERM handler installed before reel starts, records a run whose main sends
/// SIGTERM to itself and to the process: the handler takes them, and the run completes.
#[test]
#[ignore = "a child process of the emergency tests"]
fn child_has_its_own_sigterm_handler() {
    let Some(path) = std::env::var_os(TRACES_ENV) else {
        return;
    };
    // SAFETY: installing a handler that only increments an atomic, before any thread of
    // ours runs.
    unsafe { libc::signal(libc::SIGTERM, take_term as *const () as libc::sighandler_t) };
    Runtime::new()
        .record(PathBuf::from(path))
        .run(|| ring(SHORT_ROUNDS, terminate));
    assert!(TERMS_TAKEN.load(Ordering::Relaxed) >= 1);
}

fn terminate() {
    // SAFETY: kill and raise with a valid signal, which the program's handler takes.
    unsafe {
        libc::raise(libc::SIGTERM);
        libc::kill(libc::getpid(), libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(20));
}

/// The file size limit of the full-file child.
const FILE_LIMIT: u64 = 30_000;

/// Records `long_ring` with the file size limited to `FILE_LIMIT`, so that a write fails
/// half-way; then lifts the limit and sends itself SIGINT.
#[test]
#[ignore = "a child process of the emergency tests"]
fn child_records_until_its_file_is_full() {
    let Some(path) = std::env::var_os(TRACES_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    // SAFETY: SIGXFSZ ignored, so a write past the limit fails with EFBIG; getrlimit and
    // setrlimit get valid pointers.
    let old = unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut old: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_FSIZE, &mut old);
        let limited = libc::rlimit {
            rlim_cur: FILE_LIMIT,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limited), 0);
        old
    };
    let recording = path.clone();
    std::thread::spawn(move || Runtime::new().record(recording).run(long_ring));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&path).map_or(0, |metadata| metadata.len()) < FILE_LIMIT {
        assert!(
            Instant::now() < deadline,
            "the trace never reached the limit"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // The run goes on, unrecorded; the open chunk fills again.
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: restoring the limit read above; kill with a valid signal.
    unsafe {
        libc::setrlimit(libc::RLIMIT_FSIZE, &old);
        libc::kill(libc::getpid(), libc::SIGINT);
    }
    std::thread::sleep(Duration::from_secs(30));
    unreachable!("SIGINT ends this process");
}

/// Starts the child test `name` with `envs`.
fn start_child(name: &str, envs: &[(&str, &Path)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", name, "--ignored", "--nocapture"])
        .env_remove("REEL_RECORD")
        .env_remove("REEL_REPLAY")
        .env_remove("REEL_TRACE_DIR")
        .env_remove("REEL_SEED")
        .env_remove("REEL_ITERATIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    // No core dump for a child that dies of SIGQUIT or SIGABRT.
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

/// Kills the child if the test fails before it ended.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }

    /// Waits for the child's end and its output.
    fn output(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }

    /// Sends `signal` to the child process (not to one of its threads).
    fn signal(&mut self, signal: libc::c_int) {
        let pid = self.child().id() as libc::pid_t;
        // SAFETY: kill with our child's pid and a valid signal.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until every file in `paths` exists.
fn wait_for_files(child: &mut Child, paths: &[&Path]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !paths.iter().all(|path| path.exists()) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended ({status}) before it created {paths:?}");
        }
        assert!(
            Instant::now() < deadline,
            "the child never created {paths:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A fresh directory for this process's traces.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("emergency")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// splitmix64: the signal delays, reproducible from the trial number.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The delay of trial `trial`: between `min` and `max` milliseconds.
fn delay(trial: u64, min: u64, max: u64) -> Duration {
    let mut state = 0xe3e7_0000 + trial;
    Duration::from_millis(min + splitmix64(&mut state) % (max - min))
}

/// The payload length of the last chunk of a file made of whole chunks after its magic and
/// version.
fn last_chunk_length(bytes: &[u8]) -> usize {
    let mut at = 10;
    let mut length = 0;
    while at + reel_trace::FRAME_BYTES <= bytes.len() {
        length = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += reel_trace::FRAME_BYTES + length;
    }
    assert_eq!(at, bytes.len(), "the file ends with a whole chunk");
    length
}

/// Reads the trace a signalled recording left (it must read, with no damage: the signal
/// may only have cut it short), and replays it with `program` to its end.
fn check_cut_trace(path: &Path, program: fn()) -> Trace {
    let bytes = std::fs::read(path).unwrap();
    let trace = reel_trace::read_file_prefix(path)
        .unwrap_or_else(|error| panic!("{} does not read: {error}", path.display()));
    assert!(trace.outcome.is_none(), "a signalled run has no outcome");
    let cut = trace.cut.as_ref().expect("the trace was cut short");
    assert!(
        matches!(cut.kind, ErrorKind::Truncated { missing: 0 }),
        "{}: the trace ends with a whole chunk: {cut}",
        path.display()
    );
    assert_eq!(
        trace.bytes,
        bytes.len() as u64,
        "nothing after the last chunk"
    );
    if trace.steps > 0 {
        let report = Replay::from_file(path)
            .unwrap_or_else(|error| panic!("{} does not replay: {error}", path.display()))
            .run(program)
            .unwrap_or_else(|error| panic!("{} does not replay: {error}", path.display()));
        assert_eq!(report.result, ReplayResult::EndOfTrace, "{report}");
        assert_eq!(report.steps, trace.steps, "{report}");
    }
    trace
}

/// One trial of recordings on spawned threads signalled at the process: returns how many
/// of the traces end with a chunk the flush wrote (shorter than a sealed chunk).
fn signal_recordings(dir: &Path, trial: u64, recordings: usize, signal: libc::c_int) -> usize {
    let paths: Vec<PathBuf> = (0..recordings)
        .map(|index| dir.join(format!("trial-{trial}-{index}.reel")))
        .collect();
    let list = paths
        .iter()
        .map(|path| path.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(",");
    let mut child = KillOnDrop(Some(start_child(
        "child_records_on_spawned_threads",
        &[(TRACES_ENV, Path::new(&list))],
    )));
    wait_for_files(
        child.child(),
        &paths.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    let delay = delay(trial, 5, 400);
    std::thread::sleep(delay);
    child.signal(signal);
    let output = child.output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.signal(),
        Some(signal),
        "the child dies of the signal: {}\nstderr:\n{stderr}",
        output.status
    );
    let mut flushed = 0;
    for path in &paths {
        let trace = check_cut_trace(path, long_ring);
        let last = last_chunk_length(&std::fs::read(path).unwrap());
        if trace.steps > 0 && last < reel_trace::CHUNK_TARGET_BYTES {
            flushed += 1;
        }
        eprintln!(
            "trial {trial:2}: signalled {:3} ms after the files appeared: {} has {} steps, \
             last chunk {last} bytes",
            delay.as_millis(),
            path.file_name().unwrap().to_string_lossy(),
            trace.steps,
        );
        std::fs::remove_file(path).unwrap();
    }
    flushed
}

// The flush of a recording on another thread writes the open chunk, shorter than a sealed
// one, unless the chunk had just been sealed: a signal that arrives while the recording
// thread is in a critical section (sealing or writing a chunk) waits until it ends, and
// some kernels deliver a signal to a running thread only at its next system call (such as
// the end of a critical section). So a trace ends with the flush's short chunk in most
// trials, not all; the assertions below leave room for that.

#[test]
fn a_sigint_to_the_process_flushes_a_recording_on_another_thread_whole() {
    let dir = scratch_dir("sigint-file");
    const TRIALS: u64 = 30;
    let flushed: usize = (0..TRIALS)
        .map(|trial| signal_recordings(&dir, trial, 1, libc::SIGINT))
        .sum();
    eprintln!("{flushed} of {TRIALS} traces end with the chunk the flush wrote");
    assert!(
        flushed as u64 * 3 >= TRIALS,
        "only {flushed} of {TRIALS} recordings end with a flushed chunk"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sigterm_to_the_process_flushes_two_parallel_recordings_whole() {
    let dir = scratch_dir("sigterm-two");
    const TRIALS: u64 = 12;
    let flushed: Vec<usize> = (0..TRIALS)
        .map(|trial| signal_recordings(&dir, trial, 2, libc::SIGTERM))
        .collect();
    eprintln!("traces that end with the chunk the flush wrote, by trial: {flushed:?}");
    // Each recording is flushed by its own thread: both, in some trials at least.
    assert!(
        flushed.contains(&2),
        "the two recordings were never both flushed: {flushed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The traces a child says it saved on its way out.
fn saved_traces(stderr: &str) -> Vec<PathBuf> {
    stderr
        .lines()
        .filter_map(|line| {
            line.strip_prefix("reel: the crashed execution's trace so far was saved to ")
        })
        .map(|path| PathBuf::from(path.trim()))
        .collect()
}

#[test]
fn a_sigint_to_the_process_saves_the_execution_an_exploration_on_another_thread_runs() {
    const TRIALS: u64 = 20;
    let mut saved_any = 0;
    for trial in 0..TRIALS {
        let dir = scratch_dir(&format!("sigint-explore-{trial}"));
        let traces = dir.join("traces");
        let ready = dir.join("ready");
        let mut child = KillOnDrop(Some(start_child(
            "child_explores_on_a_spawned_thread",
            &[("REEL_TRACE_DIR", &traces), (READY_ENV, &ready)],
        )));
        wait_for_files(child.child(), &[&ready]);
        std::thread::sleep(delay(trial, 20, 300));
        child.signal(libc::SIGINT);
        let output = child.output();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.signal(),
            Some(libc::SIGINT),
            "the child dies of SIGINT: {}\nstderr:\n{stderr}",
            output.status
        );
        let saved = saved_traces(&stderr);
        assert!(saved.len() <= 1, "one execution runs: {saved:?}");
        let on_disk: Vec<PathBuf> = std::fs::read_dir(&traces)
            .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
            .unwrap_or_default();
        assert_eq!(on_disk, saved, "stderr:\n{stderr}");
        for path in &saved {
            let trace = check_cut_trace(path, contended_counter);
            assert!(
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("explorer-"),
                "{}",
                path.display()
            );
            eprintln!(
                "trial {trial:2}: {} has {} steps",
                path.display(),
                trace.steps
            );
            saved_any += 1;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The signal may come between two executions, when there is nothing to save.
    eprintln!("{saved_any} of {TRIALS} explorations saved their execution");
    assert!(
        saved_any * 4 >= TRIALS,
        "only {saved_any} of {TRIALS} explorations saved their execution"
    );
}

#[test]
fn an_ignored_sighup_neither_flushes_nor_cuts_the_recording_short() {
    let dir = scratch_dir("sighup-ignored");
    let path = dir.join("run.reel");
    let traces = dir.join("traces");
    let output = KillOnDrop(Some(start_child(
        "child_ignores_sighup",
        &[(TRACES_ENV, &path), ("REEL_TRACE_DIR", &traces)],
    )))
    .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\nstderr:\n{stderr}",
        output.status
    );
    let trace = reel_trace::read_file(&path)
        .unwrap_or_else(|error| panic!("the trace is not complete: {error}\nstderr:\n{stderr}"));
    let outcome = trace
        .outcome
        .as_ref()
        .expect("a complete trace has its outcome");
    assert_eq!(outcome.kind, OutcomeKind::Ok);
    assert!(saved_traces(&stderr).is_empty(), "stderr:\n{stderr}");
    assert!(!traces.exists(), "no crash file: {traces:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_handler_installed_before_takes_the_signal_and_the_recording_goes_on() {
    let dir = scratch_dir("own-handler");
    let path = dir.join("run.reel");
    let output = KillOnDrop(Some(start_child(
        "child_has_its_own_sigterm_handler",
        &[(TRACES_ENV, &path)],
    )))
    .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\nstderr:\n{stderr}",
        output.status
    );
    let trace = reel_trace::read_file(&path)
        .unwrap_or_else(|error| panic!("the trace is not complete: {error}\nstderr:\n{stderr}"));
    assert_eq!(trace.outcome.as_ref().unwrap().kind, OutcomeKind::Ok);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recording_whose_write_failed_gets_nothing_appended_by_the_flush() {
    let dir = scratch_dir("full-file");
    let path = dir.join("run.reel");
    let output = KillOnDrop(Some(start_child(
        "child_records_until_its_file_is_full",
        &[(TRACES_ENV, &path)],
    )))
    .output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGINT),
        "the child dies of SIGINT: {}\nstderr:\n{stderr}",
        output.status
    );
    // The write that failed left part of a chunk; nothing came after it.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, FILE_LIMIT);
    let trace = reel_trace::read_file_prefix(&path)
        .unwrap_or_else(|error| panic!("the trace does not read: {error}"));
    let cut = trace.cut.as_ref().expect("the trace was cut short");
    assert!(
        matches!(cut.kind, ErrorKind::Truncated { missing } if missing > 0),
        "the trace ends inside a chunk: {cut}"
    );
    assert!(trace.steps > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
