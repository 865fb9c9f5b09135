//! Fair plain runs: a thread that loops over locks, atomics or non-blocking channel and once
//! operations no longer starves the others in `reel::run` (its time slice runs out), every
//! preemption is in the trace and a replay preempts at the same step; strict priorities,
//! and the priority inversion the spin detector reports.

use std::any::Any;
use std::panic;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64 as StdAtomicU64;

use reel::reel_trace::{self, Event};
use reel::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use reel::sync::mpsc;
use reel::sync::{Arc, Mutex, OnceLock};
use reel::thread;

/// A bound on every spin below: far more iterations than a time slice holds, so reaching it
/// means the others never ran.
const SPIN_BOUND: u64 = 2_000_000_000;

fn trace_path(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fairness");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{test}-{}.reel", std::process::id()))
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        String::new()
    }
}

#[test]
fn a_try_iter_loop_no_longer_starves_its_producer() {
    let received = reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        let producer = thread::spawn(move || {
            for value in 0..100u64 {
                sender.send(value).unwrap();
            }
        });
        let mut received = Vec::new();
        let mut spins = 0u64;
        while received.len() < 100 {
            received.extend(receiver.try_iter());
            spins += 1;
            assert!(spins < SPIN_BOUND, "the producer never ran");
        }
        producer.join().unwrap();
        received
    });
    assert_eq!(received, (0..100).collect::<Vec<_>>());
}

#[test]
fn an_unbounded_sender_no_longer_starves_its_receiver() {
    let sent = reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut sent = 0u64;
                // Never blocks: an unbounded channel always has room.
                while !stop.load(Ordering::SeqCst) {
                    sender.send(sent).unwrap();
                    sent += 1;
                    assert!(sent < SPIN_BOUND, "the receiver never ran");
                }
                sent
            })
        };
        assert_eq!(receiver.recv().unwrap(), 0);
        stop.store(true, Ordering::SeqCst);
        producer.join().unwrap()
    });
    assert!(sent >= 1);
}

#[test]
fn a_once_lock_get_spin_no_longer_starves_the_initialiser() {
    let value = reel::run(|| {
        let cell = Arc::new(OnceLock::new());
        let initialiser = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || {
                cell.set(42u32).unwrap();
            })
        };
        let mut spins = 0u64;
        let value = loop {
            if let Some(value) = cell.get() {
                break *value;
            }
            spins += 1;
            assert!(spins < SPIN_BOUND, "the initialiser never ran");
        };
        initialiser.join().unwrap();
        value
    });
    assert_eq!(value, 42);
}

#[test]
fn a_lock_and_atomic_loop_no_longer_starves_the_others() {
    let rounds = reel::run(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let done = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (counter, done) = (Arc::clone(&counter), Arc::clone(&done));
                thread::spawn(move || {
                    *counter.lock().unwrap() += 1;
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let mut rounds = 0u64;
        // Main polls the lock and the flag and never blocks.
        while done.load(Ordering::SeqCst) < 3 {
            let _seen = *counter.lock().unwrap();
            rounds += 1;
            assert!(rounds < SPIN_BOUND, "the workers never ran");
        }
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(*counter.lock().unwrap(), 3);
        rounds
    });
    assert!(rounds >= 1);
}

#[test]
fn without_slicing_a_spin_is_reported_as_before() {
    let outcome = panic::catch_unwind(|| {
        reel::Runtime::new()
            .time_slice(None)
            .spin_limit(Some(10_000))
            .run(|| {
                let flag = Arc::new(AtomicBool::new(false));
                let setter = {
                    let flag = Arc::clone(&flag);
                    thread::Builder::new()
                        .name("setter".to_string())
                        .spawn(move || flag.store(true, Ordering::SeqCst))
                        .unwrap()
                };
                while !flag.load(Ordering::SeqCst) {}
                setter.join().unwrap();
            })
    });
    let text = payload_text(&*outcome.expect_err("a spin with slicing off never ends"));
    assert!(text.contains("10000 times in a row"), "{text}");
    assert!(text.contains("setter"), "{text}");
}

#[test]
fn without_slicing_a_try_recv_or_once_get_spin_is_reported_as_spinning() {
    let try_recv = panic::catch_unwind(|| {
        reel::Runtime::new()
            .time_slice(None)
            .spin_limit(Some(10_000))
            .run(|| {
                let (sender, receiver) = mpsc::channel::<u32>();
                let producer = thread::Builder::new()
                    .name("producer".to_string())
                    .spawn(move || sender.send(1).unwrap())
                    .unwrap();
                while receiver.try_recv().is_err() {}
                producer.join().unwrap();
            })
    });
    let text = payload_text(&*try_recv.expect_err("the spin never ends without slicing"));
    assert!(text.contains("10000 times in a row"), "{text}");
    assert!(text.contains("Channel#"), "{text}");
    assert!(text.contains("producer"), "{text}");

    let once_get = panic::catch_unwind(|| {
        reel::Runtime::new()
            .time_slice(None)
            .spin_limit(Some(10_000))
            .run(|| {
                let cell = Arc::new(OnceLock::new());
                let setter = {
                    let cell = Arc::clone(&cell);
                    thread::Builder::new()
                        .name("setter".to_string())
                        .spawn(move || cell.set(7u8).unwrap())
                        .unwrap()
                };
                while cell.get().is_none() {}
                setter.join().unwrap();
            })
    });
    let text = payload_text(&*once_get.expect_err("the spin never ends without slicing"));
    assert!(text.contains("10000 times in a row"), "{text}");
    assert!(text.contains("setter"), "{text}");
}

/// How many times main's spin below went round before the spinner let it through.
static SPINS: StdAtomicU64 = StdAtomicU64::new(0);

/// Main spins on a flag that a thread sets only after spinning a while itself: each gets
/// preempted at least once.
fn spin_until_released() {
    let flag = Arc::new(AtomicBool::new(false));
    let worker = {
        let flag = Arc::clone(&flag);
        thread::Builder::new()
            .name("releaser".to_string())
            .spawn(move || {
                let ticks = Arc::new(AtomicUsize::new(0));
                for _ in 0..200_000 {
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
                flag.store(true, Ordering::SeqCst);
            })
            .unwrap()
    };
    let mut spins = 0u64;
    while !flag.load(Ordering::SeqCst) {
        spins += 1;
        assert!(spins < SPIN_BOUND, "the releaser never ran");
    }
    worker.join().unwrap();
    SPINS.store(spins, std::sync::atomic::Ordering::SeqCst);
}

#[test]
fn preemptions_are_recorded_and_replay_at_the_same_step() {
    let path = trace_path("preemptions");
    reel::Runtime::new().record(&path).run(spin_until_released);
    let recorded_spins = SPINS.load(std::sync::atomic::Ordering::SeqCst);
    let trace = reel_trace::read_file(&path).unwrap();
    let preemptions: Vec<(usize, u32)> = trace
        .events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| match event {
            Event::Preemption { thread } => Some((index, *thread)),
            _ => None,
        })
        .collect();
    assert!(
        !preemptions.is_empty(),
        "main spins until the releaser runs: its slice must run out"
    );
    // Each preemption is followed by another thread's step.
    for &(index, thread) in &preemptions {
        let next = trace.events[index + 1..]
            .iter()
            .find_map(|event| match event {
                Event::Step(step) => Some(step.thread),
                _ => None,
            })
            .expect("a step follows a preemption");
        assert_ne!(
            next, thread,
            "a preempted thread does not take the next step"
        );
    }

    SPINS.store(0, std::sync::atomic::Ordering::SeqCst);
    let report = reel::Replay::from_file(&path)
        .unwrap()
        .run(spin_until_released)
        .unwrap();
    assert!(report.reproduced(), "{report}");
    assert_eq!(report.steps, trace.steps);
    // The spin went round exactly as often: the replay preempted main at the same steps.
    assert_eq!(
        SPINS.load(std::sync::atomic::Ordering::SeqCst),
        recorded_spins
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn strict_priority_runs_the_highest_priority_thread_first() {
    let order = reel::run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        // Below main's default 0, so that main spawns all three before any runs.
        let handles: Vec<_> = [(-5, "low"), (-1, "high"), (-3, "middle")]
            .into_iter()
            .map(|(priority, name)| {
                let order = Arc::clone(&order);
                thread::Builder::new()
                    .name(name.to_string())
                    .priority(priority)
                    .spawn(move || order.lock().unwrap().push(name))
                    .unwrap()
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        order.lock().unwrap().clone()
    });
    assert_eq!(order, ["high", "middle", "low"]);
}

#[test]
fn a_priority_inversion_is_reported_naming_spinner_holder_and_priorities() {
    let outcome = panic::catch_unwind(|| {
        reel::Runtime::new().spin_limit(Some(100_000)).run(|| {
            let lock = Arc::new(Mutex::new(0u32));
            let (start, started) = mpsc::channel::<()>();
            // The high-priority thread runs first and waits to be told to start.
            let high = {
                let lock = Arc::clone(&lock);
                thread::Builder::new()
                    .name("high".to_string())
                    .priority(10)
                    .spawn(move || {
                        started.recv().unwrap();
                        for _ in 0..SPIN_BOUND {
                            if let Ok(mut guard) = lock.try_lock() {
                                *guard += 1;
                                return;
                            }
                            thread::yield_now();
                        }
                    })
                    .unwrap()
            };
            // The low-priority thread takes the lock, then wakes the high one, which from
            // then on always runs first: the lock is never released.
            let low = {
                let lock = Arc::clone(&lock);
                thread::Builder::new()
                    .name("low".to_string())
                    .priority(1)
                    .spawn(move || {
                        let mut guard = lock.lock().unwrap();
                        start.send(()).unwrap();
                        // Its next step (still holding the lock) lets the woken thread in.
                        thread::yield_now();
                        *guard += 1;
                    })
                    .unwrap()
            };
            high.join().unwrap();
            low.join().unwrap();
        })
    });
    let text = payload_text(&*outcome.expect_err("the inversion never ends"));
    assert!(text.contains("priority inversion"), "{text}");
    assert!(text.contains("'high' (T1) (priority 10)"), "{text}");
    assert!(text.contains("'low' (T2) (priority 1)"), "{text}");
    assert!(text.contains("held by"), "{text}");
}

/// Main spins on a flag that a thread of its own sets: that thread runs only once main's
/// time slice runs out, far more polls into the spin than the spin detector's limit.
fn spins_until_a_preemption() {
    let flag = Arc::new(AtomicBool::new(false));
    let setter = {
        let flag = Arc::clone(&flag);
        thread::spawn(move || flag.store(true, Ordering::SeqCst))
    };
    let mut spins = 0u64;
    while !flag.load(Ordering::SeqCst) {
        spins += 1;
        assert!(spins < SPIN_BOUND, "the setter never ran");
    }
    setter.join().unwrap();
}

#[test]
fn a_replay_of_a_sliced_spin_follows_its_preemptions_instead_of_reporting_a_spin() {
    let path = trace_path("sliced_spin");
    reel::Runtime::new()
        .spin_limit(Some(5_000))
        .record(&path)
        .run(spins_until_a_preemption);
    let trace = reel_trace::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        trace
            .events
            .iter()
            .any(|event| matches!(event, Event::Preemption { .. })),
        "the recording was preempted"
    );
    assert!(trace.steps > 5_000, "{} steps", trace.steps);
    let replayed = reel::Replay::from_file(&path)
        .unwrap()
        .run(spins_until_a_preemption)
        .unwrap();
    assert!(replayed.reproduced(), "{replayed}");
    assert!(replayed.failure.is_none(), "{replayed}");
    let _ = std::fs::remove_file(&path);
}
