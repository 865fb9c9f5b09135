//! The watchdog: a green thread that holds the kernel thread (a blocking system call made
//! outside reel, a computation with no scheduling point) while others are ready is reported
//! with its thread, its system call or "computing", and where; in the trace as a stall
//! event, and as a failure under `Checker::fail_on_stall`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use reel::reel_trace::{self, Event, Stall};
use reel::sync::Arc;
use reel::sync::atomic::{AtomicBool, Ordering};
use reel::thread;
use reel::{Checker, FailureKind};

fn temp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("watchdog");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{}", std::process::id()))
}

/// Runs `blocker` in a green thread named "blocker" while another green thread is ready,
/// recording the run; returns the stalls in its trace.
fn stalls_of(test: &str, threshold_ms: u64, blocker: fn()) -> Vec<Stall> {
    let path = temp_path(&format!("{test}.reel"));
    reel::Runtime::new()
        .stall_threshold(Some(Duration::from_millis(threshold_ms)))
        .record(&path)
        .run(move || {
            let waited = Arc::new(AtomicBool::new(false));
            let blocking = thread::Builder::new()
                .name("blocker".to_string())
                .spawn(blocker)
                .unwrap();
            // Ready while the blocker holds the kernel thread: it yields to the blocker
            // (which runs until it blocks or yields) many times before it ends.
            let ready = {
                let waited = Arc::clone(&waited);
                thread::spawn(move || {
                    for _ in 0..1_000 {
                        thread::yield_now();
                    }
                    waited.store(true, Ordering::SeqCst);
                })
            };
            blocking.join().unwrap();
            ready.join().unwrap();
            assert!(waited.load(Ordering::SeqCst));
        });
    let trace = reel_trace::read_file(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let blocker = trace
        .threads
        .iter()
        .position(|spawn| spawn.name.as_deref() == Some("blocker"))
        .unwrap() as u32;
    trace
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Stall(stall) => Some((**stall).clone()),
            _ => None,
        })
        .inspect(|stall| assert_eq!(stall.thread, blocker, "{stall:?}"))
        .collect()
}

/// Asserts one stall, in `syscall`, at this file's `line`, with the other thread waiting.
fn assert_one_stall(stalls: &[Stall], syscall: Option<&str>, line: u32, at_least_ms: u64) {
    assert_eq!(stalls.len(), 1, "{stalls:?}");
    let stall = &stalls[0];
    assert_eq!(stall.syscall.as_deref(), syscall, "{stall:?}");
    assert!(stall.ready >= 1, "{stall:?}");
    assert!(stall.duration_micros >= at_least_ms * 1000, "{stall:?}");
    let location = stall.location.as_ref().expect("the stall has a location");
    assert!(location.file.ends_with("tests/watchdog.rs"), "{stall:?}");
    assert_eq!(location.line, line, "{stall:?}");
}

static SLEEP_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[test]
fn a_std_sleep_is_reported_with_its_system_call_and_line() {
    let stalls = stalls_of("sleep", 50, || {
        SLEEP_LINE.store(line!() + 1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        // Not a tail call, so that this closure's frame is on the stack during the sleep.
        SLEEP_LINE.fetch_add(0, std::sync::atomic::Ordering::SeqCst);
    });
    let line = SLEEP_LINE.load(std::sync::atomic::Ordering::SeqCst);
    assert_one_stall(&stalls, Some("clock_nanosleep"), line, 50);
}

static READ_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[test]
fn a_read_on_a_pipe_nobody_writes_yet_is_reported() {
    let stalls = stalls_of("pipe", 50, || {
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        // SAFETY: gettid has no preconditions.
        let runtime_thread = unsafe { libc::gettid() };
        // A kernel thread writes once the green thread sleeps in its read, and a while later.
        let writer_thread = std::thread::spawn(move || {
            for _ in 0..10_000 {
                let syscall =
                    std::fs::read_to_string(format!("/proc/self/task/{runtime_thread}/syscall"))
                        .unwrap_or_default();
                if syscall.split_whitespace().next() == Some(&libc::SYS_read.to_string()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(200));
            writer.write_all(b"x").unwrap();
        });
        let mut byte = [0u8];
        READ_LINE.store(line!() + 1, std::sync::atomic::Ordering::SeqCst);
        reader.read_exact(&mut byte).unwrap();
        writer_thread.join().unwrap();
    });
    let line = READ_LINE.load(std::sync::atomic::Ordering::SeqCst);
    assert_one_stall(&stalls, Some("read"), line, 50);
}

static SYNC_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[test]
fn a_file_sync_all_is_reported_as_fsync() {
    // How long an fsync takes is up to the disk: grow the data until one takes longer than
    // the threshold (a few MiB do on any disk; bounded).
    for megabytes in [4usize, 16, 64, 256] {
        let stalls = stalls_of("sync_all", 2, || {
            let megabytes = MEGABYTES.load(std::sync::atomic::Ordering::SeqCst);
            let path = temp_path("sync_all.data");
            let mut file = std::fs::File::create(&path).unwrap();
            file.write_all(&vec![0x5a; megabytes << 20]).unwrap();
            // A scheduling point: the stretch of the fsync starts here.
            thread::yield_now();
            SYNC_LINE.store(line!() + 1, std::sync::atomic::Ordering::SeqCst);
            file.sync_all().unwrap();
            std::fs::remove_file(&path).unwrap();
        });
        MEGABYTES.store(megabytes * 4, std::sync::atomic::Ordering::SeqCst);
        let fsync: Vec<Stall> = stalls
            .into_iter()
            .filter(|stall| stall.syscall.as_deref() == Some("fsync"))
            .collect();
        if let Some(stall) = fsync.first() {
            let line = SYNC_LINE.load(std::sync::atomic::Ordering::SeqCst);
            let location = stall.location.as_ref().expect("a location");
            assert!(location.file.ends_with("tests/watchdog.rs"), "{stall:?}");
            assert_eq!(location.line, line, "{stall:?}");
            return;
        }
        eprintln!("an fsync of {megabytes} MiB was faster than the threshold; trying more");
    }
    panic!("no fsync was ever reported");
}

static MEGABYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(4);

/// The lines from here to `COMPUTE_LAST_LINE` are where the computation below may be seen.
const COMPUTE_FIRST_LINE: u32 = line!();

/// The calling kernel thread's CPU time.
fn thread_cpu_time() -> Duration {
    // SAFETY: a zeroed timespec is a valid out buffer.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the clock id is valid.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[inline(never)]
fn compute(cpu: Duration) -> u64 {
    let start = thread_cpu_time();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    // Measured in CPU time, so a loaded machine makes this take longer, never shorter.
    while thread_cpu_time() - start < cpu {
        for round in 0..10_000u64 {
            hash = std::hint::black_box((hash ^ round).wrapping_mul(0x100_0000_01b3));
        }
    }
    hash
}

const COMPUTE_LAST_LINE: u32 = line!();

#[test]
fn a_computation_with_no_scheduling_point_is_reported_as_computing() {
    let stalls = stalls_of("compute", 50, || {
        std::hint::black_box(compute(Duration::from_millis(300)));
    });
    assert_eq!(stalls.len(), 1, "{stalls:?}");
    let stall = &stalls[0];
    assert_eq!(stall.syscall, None, "{stall:?}");
    assert!(stall.duration_micros >= 50_000, "{stall:?}");
    let location = stall.location.as_ref().expect("a location");
    assert!(location.file.ends_with("tests/watchdog.rs"), "{stall:?}");
    // Somewhere in `compute`'s loop, or the clock read it calls.
    assert!(
        (COMPUTE_FIRST_LINE..=COMPUTE_LAST_LINE).contains(&location.line),
        "{stall:?}"
    );
}

#[test]
fn a_blocking_call_with_nobody_waiting_is_not_reported() {
    let path = temp_path("alone.reel");
    reel::Runtime::new()
        .stall_threshold(Some(Duration::from_millis(20)))
        .record(&path)
        .run(|| std::thread::sleep(Duration::from_millis(150)));
    let trace = reel_trace::read_file(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        !trace
            .events
            .iter()
            .any(|event| matches!(event, Event::Stall(_))),
        "{:?}",
        trace.events
    );
}

#[test]
fn fail_on_stall_makes_a_stall_a_failure_of_the_check() {
    let report = Checker::new()
        .iterations(3)
        .stall_threshold(Some(Duration::from_millis(30)))
        .fail_on_stall(true)
        .run(|| {
            let other = thread::spawn(|| {});
            std::thread::sleep(Duration::from_millis(200));
            other.join().unwrap();
        });
    let failure = report.failure.as_ref().expect("the stall fails the check");
    assert_eq!(failure.kind, FailureKind::Stall, "{report}");
    let text = report.to_string();
    assert!(text.contains("head-of-line blocking"), "{text}");
    assert!(text.contains("clock_nanosleep(2)"), "{text}");
    assert!(text.contains("main"), "{text}");
    assert!(
        text.contains("1 green thread was ready and waited"),
        "{text}"
    );
    let location = failure.location.as_ref().expect("a location");
    assert!(location.file.ends_with("tests/watchdog.rs"), "{report}");
}

fn sleeps_in_std_while_a_thread_is_ready() {
    let other = thread::spawn(|| {});
    std::thread::sleep(Duration::from_millis(200));
    other.join().unwrap();
}

#[test]
fn a_trace_that_fails_with_a_stall_replays_to_the_same_failure() {
    let dir = temp_path("stall_replay");
    let report = Checker::new()
        .iterations(3)
        .stall_threshold(Some(Duration::from_millis(30)))
        .fail_on_stall(true)
        .trace_dir(&dir)
        .run(sleeps_in_std_while_a_thread_is_ready);
    let failure = report.failure.as_ref().expect("the stall fails the check");
    assert_eq!(failure.kind, FailureKind::Stall, "{report}");
    let path = report.trace.as_ref().expect("the trace is saved");
    // The replay runs no watchdog: it takes the recorded stall as given, at its step.
    let replayed = reel::Replay::from_file(path)
        .unwrap()
        .run(sleeps_in_std_while_a_thread_is_ready)
        .unwrap();
    assert!(replayed.reproduced(), "{replayed}");
    let again = replayed.failure.as_ref().expect("the same failure");
    assert_eq!(again.kind, FailureKind::Stall);
    assert_eq!(again.step, failure.step);
    assert_eq!(again.message, failure.message);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stall_threshold_of_off_disables_the_watchdog() {
    let report = Checker::new()
        .iterations(1)
        .stall_threshold(None)
        .fail_on_stall(true)
        .run(|| {
            let other = thread::spawn(|| {});
            std::thread::sleep(Duration::from_millis(120));
            other.join().unwrap();
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn the_watchdogs_sampling_signal_cannot_be_subscribed_to() {
    // The watchdog samples a stalled thread with a real-time signal of its own; a
    // subscription of the program to it would take its arrivals for the program's.
    let refused = reel::Runtime::new()
        .stall_threshold(Some(Duration::from_millis(100)))
        .run(|| {
            (34..=64)
                .filter_map(|signal| match reel::signal::Signals::new([signal]) {
                    Ok(signals) => {
                        signals.handle().close();
                        None
                    }
                    Err(error) => Some(error.to_string()),
                })
                .filter(|error| error.contains("watchdog"))
                .collect::<Vec<String>>()
        });
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("reel's watchdog uses it to sample a stalled thread"),
        "{refused:?}"
    );
}
