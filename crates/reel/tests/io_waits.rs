//! Waits for I/O under exploration: a wait that can never end is a deadlock after the
//! checker's patience, a slow helper job is not, a virtual timer waits for a job in flight
//! as long as it has left, and the end of a wait lands among other threads' steps.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use reel::net::{TcpListener, TcpStream};
use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, mpsc};
use reel::{Checker, FailureKind, Replay, thread};

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reel-io-waits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two ends of a loopback connection each read before they write: neither read can end.
fn both_read_first() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0; 4];
        stream.read_exact(&mut request).unwrap();
        stream.write_all(b"pong").unwrap();
    });
    let mut client = TcpStream::connect(address).unwrap();
    let mut reply = [0; 4];
    client.read_exact(&mut reply).unwrap();
    client.write_all(b"ping").unwrap();
    server.join().unwrap();
}

#[test]
fn threads_that_each_wait_to_read_first_are_a_deadlock_after_the_patience() {
    let dir = scratch_dir("deadlock");
    let patience = Duration::from_millis(200);
    let started = Instant::now();
    let report = Checker::new()
        .random()
        .seed(1)
        .iterations(5)
        .jobs(1)
        .io_patience(Some(patience))
        .trace_dir(&dir)
        .run(both_read_first);
    let failure = report.failure.clone().expect("the reads never end");
    assert_eq!(failure.kind, FailureKind::Deadlock, "{report}");
    assert!(
        failure
            .message
            .contains("2 of them wait for I/O or a helper job that did not end in time"),
        "{report}"
    );
    assert!(started.elapsed() >= patience, "the exploration waited");
    // The trace replays to the same deadlock, with no network and no waiting.
    let path = report.trace.clone().expect("the trace was saved");
    let replayed = Replay::from_file(&path)
        .unwrap()
        .run(both_read_first)
        .unwrap();
    assert!(replayed.reproduced(), "{replayed}");
    let again = replayed.failure.expect("the replay deadlocks too");
    assert_eq!(again.kind, FailureKind::Deadlock);
    assert_eq!(again.step, failure.step);
    assert_eq!(again.message, failure.message);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_helper_job_slower_than_the_patience_is_not_a_deadlock() {
    // While a job is in flight the wait lasts fifteen times the patience.
    let report = Checker::new()
        .random()
        .seed(2)
        .iterations(2)
        .jobs(1)
        .record(false)
        .io_patience(Some(Duration::from_millis(100)))
        .run(|| {
            let value = reel::task::spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(150));
                7
            });
            assert_eq!(value, 7);
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn a_virtual_timeout_waits_for_a_helper_job_in_flight() {
    // The answer comes from a helper job that takes real time; the receiver's timeout is
    // virtual. Without waiting for the job, virtual time would jump to the timeout at once.
    let report = Checker::new()
        .random()
        .seed(3)
        .iterations(10)
        .jobs(1)
        .record(false)
        .run(|| {
            let (sender, receiver) = mpsc::channel();
            let worker = thread::spawn(move || {
                let answer = reel::task::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    42
                });
                sender.send(answer).unwrap();
            });
            let answer = receiver
                .recv_timeout(Duration::from_secs(5))
                .expect("the answer comes before the timeout");
            assert_eq!(answer, 42);
            worker.join().unwrap();
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn a_virtual_timeout_shorter_than_the_job_still_fires() {
    // The timer waits only as long as it has left: the job takes longer, so it fires.
    let report = Checker::new()
        .random()
        .seed(4)
        .iterations(3)
        .jobs(1)
        .record(false)
        .run(|| {
            let (sender, receiver) = mpsc::channel();
            let worker = thread::spawn(move || {
                let answer = reel::task::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(300));
                    42
                });
                let _ = sender.send(answer);
            });
            let waited = receiver.recv_timeout(Duration::from_millis(10));
            assert!(waited.is_err(), "the job takes longer than the timeout");
            worker.join().unwrap();
        });
    assert!(!report.found(), "{report}");
}

/// The stepper's steps in [`read_among_steps`]: a millisecond each, far more than the peer's
/// 15 ms, so that a peer a loaded machine holds up still answers amid them.
const STEPS: usize = 200;

/// Main reads a byte that a peer outside the runtime sends after a while, as another green
/// thread counts, a millisecond per step; main notes how far the count got when its read
/// ended.
fn read_among_steps(seen: &StdMutex<Vec<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        std::thread::sleep(Duration::from_millis(15));
        stream.write_all(b"x").unwrap();
    });
    let (mut stream, _) = listener.accept().unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let stepper = {
        let counter = Arc::clone(&counter);
        thread::spawn(move || {
            for _ in 0..STEPS {
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let mut byte = [0];
    stream.read_exact(&mut byte).unwrap();
    let count = counter.load(Ordering::SeqCst);
    stepper.join().unwrap();
    peer.join().unwrap();
    seen.lock().unwrap().push(count);
}

#[test]
fn exploration_delivers_an_io_end_in_the_middle_of_another_threads_steps() {
    // Without drawn timing the driver is asked only when no thread can run or one yields,
    // so the read would end only after the stepper's last step, in every execution.
    let seen = StdArc::new(StdMutex::new(Vec::new()));
    let report = {
        let seen = StdArc::clone(&seen);
        Checker::new()
            .random()
            .seed(6)
            .iterations(6)
            .jobs(1)
            .record(false)
            .stall_threshold(None)
            .run(move || read_among_steps(&seen))
    };
    assert!(!report.found(), "{report}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6);
    assert!(
        seen.iter().any(|&count| count > 0 && count < STEPS),
        "the read ended amid the stepper's steps in some execution: {seen:?}"
    );
}

/// A helper job that waits for a green thread's work (a std channel that another green
/// thread sends into after the job was submitted), and one that needs a kernel thread's
/// stack.
fn job_waits_for_a_green_thread() -> usize {
    let (sender, receiver) = std::sync::mpsc::channel::<usize>();
    let waiter = thread::spawn(move || {
        reel::task::spawn_blocking(move || {
            receiver
                .recv_timeout(Duration::from_secs(20))
                .expect("the green thread sends")
                * 2
        })
    });
    let sender_thread = thread::spawn(move || sender.send(21).unwrap());
    sender_thread.join().unwrap();
    let doubled = waiter.join().unwrap();
    let deep = reel::task::spawn_blocking(|| {
        // More than a green thread's 256 KiB stack.
        let buffer = std::hint::black_box([1u8; 600 * 1024]);
        buffer.iter().map(|&byte| usize::from(byte)).sum::<usize>()
    });
    doubled + deep
}

#[test]
fn a_replayed_job_runs_where_the_recorded_one_finished_on_a_kernel_thread() {
    let dir = scratch_dir("replayed-job");
    let path = dir.join("job.reel");
    let recorded = reel::Runtime::new()
        .record(&path)
        .run(job_waits_for_a_green_thread);
    assert_eq!(recorded, 42 + 600 * 1024);
    // At its submission the job would wait for a send that comes later: the replay runs it
    // where the recording's had finished.
    let replayed = Replay::from_file(&path)
        .unwrap()
        .run(|| assert_eq!(job_waits_for_a_green_thread(), 42 + 600 * 1024))
        .unwrap();
    assert!(replayed.reproduced(), "{replayed}");
    let _ = std::fs::remove_dir_all(dir);
}
