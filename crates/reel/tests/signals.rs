//! reel::signal: subscriptions, flags and raise in a plain run; refused signals; explored
//! signal timing that replays; and real signals sent from outside to a recording child
//! process, whose traces replay in a new process with no signal sent.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use reel::reel_trace::{self, Event};
use reel::signal::{self, SIGTERM, SIGUSR1, SIGUSR2, Signals};
use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, Mutex};
use reel::{Checker, Replay, ReplayResult, Runtime};

#[test]
fn a_raised_signal_reaches_forever_and_pending() {
    reel::run(|| {
        let mut signals = Signals::new([SIGUSR1, SIGUSR2]).unwrap();
        assert_eq!(signals.pending().count(), 0, "nothing arrived yet");
        signal::raise(SIGUSR2).unwrap();
        signal::raise(SIGUSR1).unwrap();
        // Delivered at the next scheduling point (pending's own), lowest number first.
        assert_eq!(
            signals.pending().collect::<Vec<_>>(),
            vec![SIGUSR1, SIGUSR2]
        );
        let handle = signals.handle();
        let waiter = reel::thread::spawn(move || signals.forever().collect::<Vec<_>>());
        signal::raise(SIGUSR1).unwrap();
        reel::thread::yield_now();
        handle.close();
        assert!(handle.is_closed());
        assert_eq!(waiter.join().unwrap(), vec![SIGUSR1]);
    });
}

// Pending OS signals are process-wide, and the tests of this file run at once: each plain
// run subscribes to signals of its own, so that no other takes its arrival.
#[test]
fn a_signal_for_a_closed_subscription_is_dropped() {
    let after = reel::run(|| {
        let mut signals = Signals::new([libc::SIGURG]).unwrap();
        signals.handle().close();
        signal::raise(libc::SIGURG).unwrap();
        reel::thread::yield_now();
        assert!(signals.is_closed());
        (signals.pending().count(), signals.forever().next())
    });
    assert_eq!(after, (0, None), "nothing taken, and forever ends at once");
}

#[test]
fn a_flag_is_set_when_its_signal_arrives() {
    reel::run(|| {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let id = signal::flag::register(libc::SIGWINCH, std::sync::Arc::clone(&flag)).unwrap();
        signal::raise(libc::SIGWINCH).unwrap();
        reel::thread::yield_now();
        assert!(flag.load(std::sync::atomic::Ordering::SeqCst));
        assert!(signal::flag::unregister(id));
        assert!(!signal::flag::unregister(id), "undone once only");
    });
}

#[test]
fn signals_that_cannot_be_handled_are_refused_by_name() {
    reel::run(|| {
        for (signal, name) in [
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGSTOP, "SIGSTOP"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGBUS, "SIGBUS"),
            (libc::SIGILL, "SIGILL"),
            (libc::SIGFPE, "SIGFPE"),
            (0, "SIG0"),
            (65, "SIG65"),
        ] {
            let error = Signals::new([SIGTERM, signal]).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            assert!(
                error.to_string().contains(name),
                "{signal}: the error names it: {error}"
            );
            let error = signal::flag::register(signal, Default::default()).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        }
        assert!(signal::raise(0).is_err());
    });
}

#[test]
#[should_panic(expected = "SIGKILL (9) cannot be handled")]
fn exploring_an_unhandleable_signal_is_refused() {
    let _ = Checker::new().signal(libc::SIGKILL).run(|| {});
}

/// Two workers count until SIGTERM: a shutdown flag set by the signal, read under a lock.
fn counting_workers() -> usize {
    let stop = Arc::new(Mutex::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let mut signals = Signals::new([SIGTERM]).unwrap();
    let shutdown = {
        let stop = Arc::clone(&stop);
        reel::thread::spawn(move || {
            let arrived = signals.forever().next();
            *stop.lock().unwrap() = true;
            arrived
        })
    };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&count));
            reel::thread::spawn(move || {
                for _ in 0..5 {
                    if *stop.lock().unwrap() {
                        break;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(shutdown.join().unwrap(), Some(SIGTERM));
    count.load(Ordering::SeqCst)
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("signals")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn explored_arrivals_vary_in_step_and_their_traces_replay() {
    let dir = scratch_dir("explored");
    // Every execution that counts fewer than 10 stopped early because of the signal.
    let report = Checker::new()
        .random()
        .seed(3)
        .iterations(200)
        .signal(SIGTERM)
        .trace_dir(&dir)
        .run(|| assert_eq!(counting_workers(), 10, "stopped early"));
    assert!(
        report.found(),
        "some arrival comes before the workers finish"
    );
    let arrival = report
        .signals
        .first()
        .copied()
        .expect("the arrival is reported");
    assert_eq!(arrival.signal, SIGTERM as u32);
    assert!(report.to_string().contains("signal: SIGTERM"), "{report}");
    let path = report.trace.clone().unwrap();
    let trace = reel_trace::read_file(&path).unwrap();
    assert_eq!(
        trace.signal_arrivals().copied().collect::<Vec<_>>(),
        report.signals
    );
    let replayed = Replay::from_file(&path)
        .unwrap()
        .run(|| assert_eq!(counting_workers(), 10, "stopped early"))
        .unwrap();
    assert!(replayed.reproduced(), "{replayed}");
    assert_eq!(replayed.failure.unwrap().step, report.failure.unwrap().step);
}

#[test]
fn exploration_without_a_signal_reports_the_wait_as_a_deadlock() {
    let report = Checker::new().random().iterations(1).run(|| {
        counting_workers();
    });
    let failure = report.failure.expect("no signal ever comes");
    assert_eq!(failure.kind, reel::FailureKind::Deadlock);
    assert!(
        failure.to_string().contains("receive a signal on Signals#"),
        "{failure}"
    );
}

#[test]
fn a_planned_arrival_that_wakes_nobody_is_followed_by_the_next() {
    // SIGUSR2 only sets a flag; the thread waits for SIGUSR1. Both are planned for when every
    // thread waits: whichever comes first, the wait ends, and no deadlock is reported.
    for seed in 0..20 {
        let report = Checker::new()
            .random()
            .seed(seed)
            .iterations(3)
            .signal(SIGUSR2)
            .signal(SIGUSR1)
            .run(|| {
                let flag = std::sync::Arc::new(AtomicBool::new(false));
                signal::flag::register(SIGUSR2, std::sync::Arc::clone(&flag)).unwrap();
                let mut signals = Signals::new([SIGUSR1]).unwrap();
                assert_eq!(signals.forever().next(), Some(SIGUSR1));
            });
        assert!(report.failure.is_none(), "seed {seed}: {report}");
    }
}

/// Subscribes to SIGTERM, yields five times, waits for the signal and fails on purpose,
/// so that every execution fails and its trace is saved.
fn waits_then_fails() {
    let mut signals = Signals::new([SIGTERM]).unwrap();
    for _ in 0..5 {
        reel::thread::yield_now();
    }
    let arrived = signals.forever().next();
    panic!("the signal arrived: {arrived:?}");
}

fn explored_trace(name: &str) -> (PathBuf, u64) {
    let dir = scratch_dir(name);
    let report = Checker::new()
        .random()
        .iterations(1)
        .signal(SIGTERM)
        .trace_dir(&dir)
        .run(waits_then_fails);
    let arrival = report
        .signals
        .first()
        .copied()
        .expect("it arrives when all wait");
    (report.trace.expect("saved"), arrival.step)
}

#[test]
fn a_replay_whose_program_does_not_subscribe_diverges_naming_the_signal() {
    let (path, arrival_step) = explored_trace("unsubscribed");
    let replayed = Replay::from_file(&path)
        .unwrap()
        .run(|| {
            // The same steps, but a subscription to another signal.
            let mut signals = Signals::new([SIGUSR1]).unwrap();
            for _ in 0..5 {
                reel::thread::yield_now();
            }
            let _ = signals.forever().next();
        })
        .unwrap();
    let text = replayed.to_string();
    assert!(!replayed.reproduced(), "{text}");
    assert!(text.contains("the signal SIGTERM"), "{text}");
    assert!(text.contains("does not subscribe to SIGTERM"), "{text}");
    assert!(text.contains(&format!("step {arrival_step}")), "{text}");
}

#[test]
fn a_replay_that_ends_before_the_arrival_diverges() {
    let (path, arrival_step) = explored_trace("ends");
    let replayed = Replay::from_file(&path)
        .unwrap()
        .run(|| {
            let _signals = Signals::new([SIGTERM]).unwrap();
            reel::thread::yield_now();
        })
        .unwrap();
    let ReplayResult::Diverged(divergence) = &replayed.result else {
        panic!("the replay diverges: {replayed}");
    };
    assert!(divergence.step <= arrival_step, "{divergence}");
    assert!(divergence.actual.contains("exit"), "{divergence}");
}

/// The child of the real-signal tests (never run on its own): records `counting_until`
/// to REEL_SIGNAL_TRACE, or replays it when REEL_SIGNAL_REPLAY is set, and prints the count.
#[test]
#[ignore = "a child process of the real-signal tests"]
fn child_counts_until_sigterm() {
    let Some(path) = std::env::var_os("REEL_SIGNAL_TRACE") else {
        return;
    };
    if std::env::var_os("REEL_SIGNAL_UNSUBSCRIBED").is_some() {
        Runtime::new().record(PathBuf::from(path)).run(|| {
            // Subscribed, then no longer: SIGTERM is back to what it was.
            drop(Signals::new([SIGTERM]).unwrap());
            println!("ready");
            for _ in 0..20_000 {
                reel::thread::sleep(Duration::from_micros(500));
            }
        });
        return;
    }
    if std::env::var_os("REEL_SIGNAL_REPLAY").is_some() {
        let report = Replay::from_file(&path)
            .unwrap()
            .run(|| println!("count {}", counting_until_sigterm()))
            .unwrap();
        assert!(report.reproduced(), "{report}");
        println!("reproduced");
        return;
    }
    Runtime::new()
        .record(PathBuf::from(path))
        .run(|| println!("count {}", counting_until_sigterm()));
}

/// Three workers count, sleeping a little between counts, until SIGTERM sets their flag.
fn counting_until_sigterm() -> usize {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    signal::flag::register(SIGTERM, std::sync::Arc::clone(&stop)).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    // The subscription is in place: the parent may send the signal.
    println!("ready");
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (stop, count) = (std::sync::Arc::clone(&stop), Arc::clone(&count));
            reel::thread::spawn(move || {
                // Bounded: about ten seconds if the signal never came.
                for _ in 0..20_000 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    reel::thread::sleep(Duration::from_micros(500));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    count.load(Ordering::SeqCst)
}

fn child(trace: &Path, replay: bool) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_counts_until_sigterm",
            "--ignored",
            "--nocapture",
        ])
        .arg("--test-threads=1")
        .env("REEL_SIGNAL_TRACE", trace)
        .env_remove("REEL_RECORD")
        .env_remove("REEL_REPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if replay {
        command.env("REEL_SIGNAL_REPLAY", "1");
    }
    command
}

/// The "count N" line of a child's output.
fn count_line(output: &str) -> String {
    output
        .lines()
        .find(|line| line.starts_with("count "))
        .unwrap_or_else(|| panic!("no count in the child's output:\n{output}"))
        .to_owned()
}

#[test]
fn sigterm_from_outside_is_recorded_and_replays_without_a_signal() {
    let dir = scratch_dir("outside");
    let mut state = 0x5eed_u64;
    for trial in 0..20 {
        let trace = dir.join(format!("trial-{trial}.reel"));
        let mut recording = child(&trace, false).spawn().unwrap();
        let mut stdout = BufReader::new(recording.stdout.take().unwrap());
        let mut line = String::new();
        // libtest writes "test NAME ... " before the test's own output.
        while !line.trim_end().ends_with("ready") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the child ended early"
            );
        }
        // A random moment after the subscription (a reproducible one, from the trial).
        let delay_us = splitmix64(&mut state) % 20_000;
        std::thread::sleep(Duration::from_micros(delay_us));
        // SAFETY: kill has no preconditions; the pid is our live child's.
        assert_eq!(unsafe { libc::kill(recording.id() as i32, SIGTERM) }, 0);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        let status = recording.wait().unwrap();
        assert!(
            status.success(),
            "trial {trial}: the child handled SIGTERM: {status}"
        );
        let recorded_count = count_line(&rest);

        let decoded = reel_trace::read_file(&trace).unwrap();
        let arrivals: Vec<_> = decoded.signal_arrivals().copied().collect();
        assert_eq!(
            arrivals.len(),
            1,
            "trial {trial}: one arrival: {arrivals:?}"
        );
        assert_eq!(arrivals[0].signal, SIGTERM as u32);
        assert_eq!(arrivals[0].code, libc::SI_USER, "sent with kill");
        assert_eq!(arrivals[0].sender, std::process::id(), "sent by this test");
        let position = decoded
            .events
            .iter()
            .position(|event| matches!(event, Event::Signal(_)))
            .unwrap();
        let steps_before = decoded.events[..position]
            .iter()
            .filter(|event| matches!(event, Event::Step(_)))
            .count() as u64;
        assert_eq!(
            arrivals[0].step, steps_before,
            "the arrival's step is where it is"
        );

        // A new process, no signal sent: the same count, the arrival at the same step (the
        // replay checks every step and input against the trace).
        let replay = child(&trace, true).output().unwrap();
        let output = String::from_utf8_lossy(&replay.stdout);
        assert!(
            replay.status.success(),
            "trial {trial}: the replay: {output}"
        );
        assert!(output.contains("reproduced"), "trial {trial}: {output}");
        assert_eq!(count_line(&output), recorded_count, "trial {trial}");
    }
}

#[test]
fn an_unsubscribed_sigterm_still_flushes_the_recording_and_ends_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let dir = scratch_dir("unsubscribed");
    let trace = dir.join("killed.reel");
    let mut recording = child(&trace, false)
        .env("REEL_SIGNAL_UNSUBSCRIBED", "1")
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(recording.stdout.take().unwrap());
    let mut line = String::new();
    while !line.trim_end().ends_with("ready") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    std::thread::sleep(Duration::from_millis(5));
    // SAFETY: kill has no preconditions; the pid is our live child's.
    assert_eq!(unsafe { libc::kill(recording.id() as i32, SIGTERM) }, 0);
    let status = recording.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(SIGTERM),
        "the default action: {status}"
    );
    // The recording's emergency flush ran first: the trace holds the steps up to the end,
    // the subscription's (taken before "ready") among them, in a chunk no seal wrote.
    let decoded = reel_trace::read_file_prefix(&trace).unwrap();
    let first = decoded
        .step_events()
        .next()
        .expect("the subscription's step was flushed");
    assert_eq!(first.op, reel_trace::OpKind::SignalPoll);
    assert_eq!(
        decoded.signal_arrivals().count(),
        0,
        "nothing was delivered"
    );
}

/// splitmix64: the kill delays, reproducible from the trial number.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn a_plain_run_that_waits_where_no_signal_can_wake_it_is_a_deadlock() {
    // Subscriptions exist (one closed, a flag), but nobody waits on an open one: no signal
    // can end the wait, so it is reported, not slept through.
    let outcome = std::panic::catch_unwind(|| {
        reel::run(|| {
            let signals = Signals::new([libc::SIGPWR]).unwrap();
            signals.handle().close();
            let flag = std::sync::Arc::new(AtomicBool::new(false));
            signal::flag::register(libc::SIGXCPU, flag).unwrap();
            let (_sender, receiver) = reel::sync::mpsc::channel::<()>();
            let _ = receiver.recv();
        })
    });
    let payload = outcome.expect_err("the run fails");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("deadlock"), "{message}");
}

#[test]
fn a_signal_that_arrives_during_a_sleep_is_delivered_then_not_after_it() {
    // A flag wakes nobody, but the sleeper sees it when its sleep ends: the arrival is
    // delivered while the runtime waits for the timer, not after the sleep.
    let sleeps = reel::run(|| {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        signal::flag::register(libc::SIGVTALRM, std::sync::Arc::clone(&flag)).unwrap();
        let (ready, go) = std::sync::mpsc::channel::<()>();
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let sender = std::thread::spawn(move || {
            go.recv().unwrap();
            // SAFETY: kill with this process's own id and a signal it handles.
            unsafe { libc::kill(pid, libc::SIGVTALRM) };
        });
        let mut sleeps = 0;
        while !flag.load(Ordering::SeqCst) && sleeps < 5 {
            if sleeps == 0 {
                ready.send(()).unwrap();
            }
            reel::thread::sleep(std::time::Duration::from_secs(2));
            sleeps += 1;
        }
        sender.join().unwrap();
        sleeps
    });
    assert_eq!(sleeps, 1, "the flag was seen after the first sleep");
}
