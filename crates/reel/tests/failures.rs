//! Every failure kind, found through `Checker::run` and reported in a `Report`: panics, full and
//! partial deadlocks, re-entrant locking and step-bound livelocks; plus `check_random` panicking
//! with the report and a correct program not being reported.

use std::any::Any;
use std::panic;

use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, Barrier, Mutex, RwLock};
use reel::thread;
use reel::{Checker, Failure, FailureKind, Report};

/// The message of a panic payload, whether it was raised with a literal or a formatted string.
fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        String::from("<non-string payload>")
    }
}

/// Checks what every failing report shares and returns its Display text.
fn assert_failure_found(report: &Report, expected: FailureKind) -> String {
    let text = report.to_string();
    assert!(report.found(), "expected a failure, got:\n{text}");
    let failure = report.failure.as_ref().expect("found() implies a failure");
    assert_eq!(
        std::mem::discriminant(&failure.kind),
        std::mem::discriminant(&expected),
        "wrong failure kind in:\n{text}"
    );
    let iteration = report.iteration.expect("a failure names its iteration");
    assert!(iteration >= 1, "iteration is 1-based:\n{text}");
    assert_eq!(
        report.iterations, iteration,
        "exploration stops at the first failure"
    );
    text
}

/// Checks that a report's wait-for cycle is exactly the two threads `names` (in either order),
/// each waiting to `verb` an object (`object` names its kind, e.g. "Mutex#") that the other
/// holds, two different objects, with every location in this file. Returns the failure.
fn assert_two_thread_cycle<'a>(
    report: &'a Report,
    names: [Option<&str>; 2],
    verb: &str,
    object: &str,
) -> &'a Failure {
    let text = report.to_string();
    let failure = report.failure.as_ref().expect("a failure");
    let cycle = &failure.cycle;
    assert_eq!(cycle.len(), 2, "{text}");
    let found: Vec<_> = cycle
        .iter()
        .map(|blocked| blocked.thread.name.as_deref())
        .collect();
    assert!(
        found == names || found == [names[1], names[0]],
        "the cycle is {found:?}, not {names:?}: {text}"
    );
    let mut waited_for = Vec::new();
    for (blocked, other) in [(&cycle[0], &cycle[1]), (&cycle[1], &cycle[0])] {
        let (waited, rest) = blocked
            .waiting_for
            .strip_prefix(verb)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|rest| rest.split_once(' '))
            .unwrap_or_else(|| panic!("{} does not wait to {verb}: {text}", blocked.thread));
        assert!(waited.starts_with(object), "{text}");
        waited_for.push(waited);
        let holder = format!("held by {} (acquired at ", other.thread);
        assert!(rest.starts_with(&holder), "{}: {text}", blocked.waiting_for);
        // Where the holder took it, and where this thread blocked: two calls in this file.
        let acquired = rest[holder.len()..]
            .strip_suffix(')')
            .unwrap_or_else(|| panic!("{}: {text}", blocked.waiting_for));
        assert!(acquired.contains("tests/failures.rs:"), "{text}");
        let location = blocked
            .location
            .as_ref()
            .expect("a blocked thread's location");
        assert!(location.file.ends_with("tests/failures.rs"), "{text}");
        assert_ne!(acquired, location.to_string(), "{text}");
    }
    assert_ne!(
        waited_for[0], waited_for[1],
        "two different objects: {text}"
    );
    failure
}

/// Spawns a named thread that locks `first`, meets its partner at `barrier`, then locks `second`:
/// with a partner doing the same in the other order, every schedule deadlocks.
fn lock_in_order(
    name: &str,
    first: &Arc<Mutex<()>>,
    second: &Arc<Mutex<()>>,
    barrier: &Arc<Barrier>,
) -> thread::JoinHandle<()> {
    let (first, second, barrier) = (first.clone(), second.clone(), barrier.clone());
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _first = first.lock().unwrap();
            barrier.wait();
            let _second = second.lock().unwrap();
        })
        .unwrap()
}

#[test]
fn a_panic_in_a_spawned_thread_is_reported() {
    let report = Checker::new().random().iterations(10).seed(1).run(|| {
        let worker = thread::Builder::new()
            .name("exploder".to_string())
            .spawn(|| panic!("exploded at line {}", line!()))
            .unwrap();
        let _ = worker.join();
    });
    let text = assert_failure_found(&report, FailureKind::Panic);
    assert_eq!(
        report.iteration,
        Some(1),
        "this program panics in every execution"
    );
    assert_eq!(report.seed, 1);
    let failure = report.failure.as_ref().unwrap();
    assert!(failure.message.starts_with("exploded at line "), "{text}");
    let panic_line: u32 = failure.message["exploded at line ".len()..]
        .parse()
        .unwrap();

    let thread_info = failure.thread.as_ref().expect("a panic names its thread");
    assert_eq!(thread_info.name.as_deref(), Some("exploder"));
    let location = failure.location.as_ref().expect("a panic has a location");
    assert!(location.file.ends_with("failures.rs"), "{location}");
    assert_eq!(location.line, panic_line);
    assert!(location.column > 0);
    assert_eq!(
        location.to_string(),
        format!("{}:{}:{}", location.file, location.line, location.column)
    );

    assert!(text.contains("exploder"), "{text}");
    assert!(text.contains(&failure.message), "{text}");
    assert!(text.contains(&location.to_string()), "{text}");
    assert!(text.contains(&format!("step {}", failure.step)), "{text}");
    // The failure's own Display carries the same facts.
    let failure_text = failure.to_string();
    assert!(failure_text.contains("exploder"), "{failure_text}");
    assert!(failure_text.contains(&failure.message), "{failure_text}");
}

#[test]
fn a_panic_in_main_is_reported_with_main_as_the_thread() {
    let report = Checker::new().iterations(5).run(|| {
        let value = thread::spawn(|| 1).join().unwrap();
        assert_eq!(value, 2, "main disagrees");
    });
    let text = assert_failure_found(&report, FailureKind::Panic);
    let failure = report.failure.as_ref().unwrap();
    assert_eq!(
        failure.thread.as_ref().unwrap().name.as_deref(),
        Some("main")
    );
    assert!(failure.message.contains("main disagrees"), "{text}");
    assert!(text.contains("main"), "{text}");
}

#[test]
fn a_spawned_panic_is_not_a_failure_when_thread_panics_are_allowed() {
    let report = Checker::new()
        .iterations(20)
        .allow_thread_panics(true)
        .run(|| {
            let worker = thread::spawn(|| panic!("goes to join"));
            let payload = worker.join().unwrap_err();
            assert_eq!(payload_text(&*payload), "goes to join");
        });
    assert!(!report.found(), "{report}");
    assert_eq!(report.iterations, 20);
}

#[test]
fn a_main_panic_is_a_failure_even_when_thread_panics_are_allowed() {
    let report = Checker::new()
        .iterations(20)
        .allow_thread_panics(true)
        .run(|| panic!("main always fails"));
    let text = assert_failure_found(&report, FailureKind::Panic);
    assert!(text.contains("main always fails"), "{text}");
}

#[test]
fn a_two_lock_deadlock_is_reported_with_its_wait_for_cycle() {
    let report = Checker::new().random().iterations(50).run(|| {
        let first = Arc::new(Mutex::new(()));
        let second = Arc::new(Mutex::new(()));
        let barrier = Arc::new(Barrier::new(2));
        let alpha = lock_in_order("alpha", &first, &second, &barrier);
        let beta = lock_in_order("beta", &second, &first, &barrier);
        alpha.join().unwrap();
        beta.join().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::Deadlock);
    assert_eq!(
        report.iteration,
        Some(1),
        "this program deadlocks in every execution"
    );
    assert!(text.to_lowercase().contains("deadlock"), "{text}");
    assert!(text.contains("wait-for cycle"), "{text}");
    let failure = assert_two_thread_cycle(&report, [Some("alpha"), Some("beta")], "lock", "Mutex#");
    let cycle = &failure.cycle;
    assert!(
        cycle
            .iter()
            .any(|blocked| Some(&blocked.thread) == failure.thread.as_ref()),
        "the thread that closed the cycle is in it: {text}"
    );
    assert_eq!(
        cycle[0].location, cycle[1].location,
        "both block in lock_in_order: {text}"
    );
    // Main waits outside the cycle, joining alpha.
    assert_eq!(failure.blocked.len(), 1, "{text}");
    assert_eq!(failure.blocked[0].thread.name.as_deref(), Some("main"));
    assert!(
        failure.blocked[0]
            .waiting_for
            .starts_with("join thread 'alpha'"),
        "{text}"
    );
}

#[test]
fn a_racy_lock_order_deadlock_is_found_by_exploration() {
    // Without a barrier the deadlock needs an unlucky interleaving; exploration must find it.
    let report = Checker::new().random().iterations(1000).run(|| {
        let first = Arc::new(Mutex::new(0));
        let second = Arc::new(Mutex::new(0));
        let forward = {
            let (first, second) = (first.clone(), second.clone());
            thread::Builder::new()
                .name("forward".to_string())
                .spawn(move || {
                    let _a = first.lock().unwrap();
                    let _b = second.lock().unwrap();
                })
                .unwrap()
        };
        let backward = {
            let (first, second) = (first.clone(), second.clone());
            thread::Builder::new()
                .name("backward".to_string())
                .spawn(move || {
                    let _b = second.lock().unwrap();
                    let _a = first.lock().unwrap();
                })
                .unwrap()
        };
        forward.join().unwrap();
        backward.join().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::Deadlock);
    assert!(
        text.contains("forward") && text.contains("backward"),
        "{text}"
    );
    assert!(text.contains("wait-for cycle"), "{text}");
    let failure = assert_two_thread_cycle(
        &report,
        [Some("forward"), Some("backward")],
        "lock",
        "Mutex#",
    );
    assert_eq!(
        failure.blocked.len(),
        1,
        "only main waits outside the cycle: {text}"
    );
    assert_eq!(failure.blocked[0].thread.name.as_deref(), Some("main"));
}

#[test]
fn the_same_deadlock_is_found_by_pct() {
    let report = Checker::new().pct(2).iterations(1000).run(|| {
        let first = Arc::new(Mutex::new(0));
        let second = Arc::new(Mutex::new(0));
        let backward = {
            let (first, second) = (first.clone(), second.clone());
            thread::spawn(move || {
                let _b = second.lock().unwrap();
                let _a = first.lock().unwrap();
            })
        };
        {
            let _a = first.lock().unwrap();
            let _b = second.lock().unwrap();
        }
        backward.join().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::Deadlock);
    assert!(text.contains("wait-for cycle"), "{text}");
    // Main and the unnamed thread, each holding the mutex the other waits for.
    let failure = assert_two_thread_cycle(&report, [Some("main"), None], "lock", "Mutex#");
    assert!(failure.blocked.is_empty(), "{text}");
}

#[test]
fn a_partial_deadlock_beside_a_running_thread_is_reported_as_such() {
    // Two threads deadlock while a third keeps running forever: no global deadlock ever happens,
    // but the cycle must be reported as a partial deadlock, not as a step bound.
    let report = Checker::new()
        .random()
        .iterations(20)
        .max_steps(100_000)
        .run(|| {
            let first = Arc::new(Mutex::new(()));
            let second = Arc::new(Mutex::new(()));
            let barrier = Arc::new(Barrier::new(2));
            let ticks = Arc::new(AtomicUsize::new(0));
            {
                let ticks = ticks.clone();
                thread::Builder::new()
                    .name("ticker".to_string())
                    .spawn(move || {
                        loop {
                            ticks.fetch_add(1, Ordering::SeqCst);
                            thread::yield_now();
                        }
                    })
                    .unwrap();
            }
            let left = lock_in_order("left", &first, &second, &barrier);
            let right = lock_in_order("right", &second, &first, &barrier);
            left.join().unwrap();
            right.join().unwrap();
        });
    let text = assert_failure_found(&report, FailureKind::PartialDeadlock);
    assert_eq!(
        report.iteration,
        Some(1),
        "this program deadlocks in every execution"
    );
    assert!(text.to_lowercase().contains("deadlock"), "{text}");
    assert!(text.contains("wait-for cycle"), "{text}");
    assert!(text.contains("left"), "{text}");
    assert!(text.contains("right"), "{text}");
    // The ticker still runs: it is neither in the cycle nor blocked; main waits for left.
    let failure = assert_two_thread_cycle(&report, [Some("left"), Some("right")], "lock", "Mutex#");
    assert_eq!(failure.blocked.len(), 1, "{text}");
    assert_eq!(failure.blocked[0].thread.name.as_deref(), Some("main"));
    assert!(
        failure.blocked[0]
            .waiting_for
            .starts_with("join thread 'left'"),
        "{text}"
    );
}

#[test]
fn a_partial_rwlock_deadlock_is_reported() {
    let report = Checker::new().iterations(10).max_steps(100_000).run(|| {
        let first = Arc::new(RwLock::new(()));
        let second = Arc::new(RwLock::new(()));
        let barrier = Arc::new(Barrier::new(2));
        thread::Builder::new()
            .name("spinner".to_string())
            .spawn(|| {
                loop {
                    thread::yield_now();
                }
            })
            .unwrap();
        let spawn_writer = |name: &str, a: &Arc<RwLock<()>>, b: &Arc<RwLock<()>>| {
            let (a, b, barrier) = (a.clone(), b.clone(), barrier.clone());
            thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    let _a = a.write().unwrap();
                    barrier.wait();
                    let _b = b.write().unwrap();
                })
                .unwrap()
        };
        let up = spawn_writer("up", &first, &second);
        let down = spawn_writer("down", &second, &first);
        up.join().unwrap();
        down.join().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::PartialDeadlock);
    assert!(text.contains("up") && text.contains("down"), "{text}");
    // The spinner still runs: it is neither in the cycle nor blocked.
    let failure =
        assert_two_thread_cycle(&report, [Some("up"), Some("down")], "write-lock", "RwLock#");
    assert_eq!(failure.blocked.len(), 1, "{text}");
    assert_eq!(failure.blocked[0].thread.name.as_deref(), Some("main"));
}

#[test]
fn locking_a_mutex_already_held_is_reported() {
    let report = Checker::new().iterations(10).run(|| {
        let mutex = Arc::new(Mutex::new(0));
        let clone = mutex.clone();
        let relocker = thread::Builder::new()
            .name("relocker".to_string())
            .spawn(move || {
                let _held = clone.lock().unwrap();
                let _again = clone.lock().unwrap();
            })
            .unwrap();
        let _ = relocker.join();
    });
    let text = assert_failure_found(&report, FailureKind::ReentrantLock);
    assert_eq!(report.iteration, Some(1));
    assert!(text.contains("already holds"), "{text}");
    assert!(text.contains("relocker"), "{text}");
    let failure = report.failure.as_ref().unwrap();
    assert_eq!(
        failure.thread.as_ref().unwrap().name.as_deref(),
        Some("relocker")
    );
}

#[test]
fn run_panics_with_the_report_on_reentrant_locking() {
    let outcome = panic::catch_unwind(|| {
        reel::run(|| {
            let mutex = Mutex::new(0);
            let _held = mutex.lock().unwrap();
            let _again = mutex.lock().unwrap();
        })
    });
    let text = payload_text(&*outcome.unwrap_err());
    assert!(text.contains("already holds"), "{text}");
}

#[test]
fn run_panics_with_the_report_on_deadlock() {
    let outcome = panic::catch_unwind(|| {
        reel::run(|| {
            let first = Arc::new(Mutex::new(()));
            let second = Arc::new(Mutex::new(()));
            let barrier = Arc::new(Barrier::new(2));
            let alpha = lock_in_order("alpha", &first, &second, &barrier);
            let beta = lock_in_order("beta", &second, &first, &barrier);
            alpha.join().unwrap();
            beta.join().unwrap();
        })
    });
    let text = payload_text(&*outcome.unwrap_err());
    assert!(text.to_lowercase().contains("deadlock"), "{text}");
    assert!(text.contains("alpha") && text.contains("beta"), "{text}");
}

#[test]
fn main_waiting_on_itself_is_a_deadlock() {
    // A receive on a channel whose sender main itself holds can never complete.
    let report = Checker::new().iterations(5).run(|| {
        let (_sender, receiver) = reel::sync::mpsc::channel::<()>();
        receiver.recv().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::Deadlock);
    assert!(text.contains("main"), "{text}");
    // Main alone, blocked on the receive: no cycle, no other thread.
    let failure = report.failure.as_ref().unwrap();
    assert!(failure.cycle.is_empty(), "{text}");
    assert_eq!(failure.blocked.len(), 1, "{text}");
    let main = &failure.blocked[0];
    assert_eq!(main.thread.name.as_deref(), Some("main"), "{text}");
    assert!(
        main.waiting_for.starts_with("receive on Channel#"),
        "{text}"
    );
    let location = main.location.as_ref().expect("where main blocked");
    assert!(location.file.ends_with("tests/failures.rs"), "{text}");
}

#[test]
fn a_spin_that_never_ends_exceeds_the_step_bound() {
    let report = Checker::new().iterations(5).max_steps(1000).run(|| {
        let flag = Arc::new(AtomicUsize::new(0));
        let spinner = {
            let flag = flag.clone();
            thread::Builder::new()
                .name("spinner".to_string())
                .spawn(move || {
                    // Nobody ever sets the flag: a livelock.
                    while flag.load(Ordering::SeqCst) == 0 {
                        thread::yield_now();
                    }
                })
                .unwrap()
        };
        spinner.join().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::StepBoundExceeded);
    assert_eq!(report.iteration, Some(1));
    assert!(text.contains("step bound"), "{text}");
    assert!(text.contains("spinner"), "{text}");
    assert!(text.contains("failures.rs"), "{text}");
    let failure = report.failure.as_ref().unwrap();
    assert!(
        failure.step + 1 >= 1000,
        "stopped at step {} before the bound",
        failure.step
    );
    assert_eq!(
        failure.thread.as_ref().unwrap().name.as_deref(),
        Some("spinner")
    );
}

#[test]
fn two_threads_spinning_on_each_other_exceed_the_step_bound() {
    let report = Checker::new().iterations(3).max_steps(1000).run(|| {
        let turn = Arc::new(AtomicUsize::new(0));
        let spawn_polite = |name: &str, mine: usize| {
            let turn = turn.clone();
            thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    // Each insists the other goes first, forever.
                    // The turn is always 0 or 1, so this never ends.
                    while turn.load(Ordering::SeqCst) < 2 {
                        turn.store(1 - mine, Ordering::SeqCst);
                        thread::yield_now();
                    }
                })
                .unwrap()
        };
        let a = spawn_polite("polite-a", 0);
        let b = spawn_polite("polite-b", 1);
        a.join().unwrap();
        b.join().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::StepBoundExceeded);
    assert!(text.contains("step bound"), "{text}");
    // The thread named is one of the two spinning, not main waiting to join them.
    let failure = report.failure.as_ref().unwrap();
    let spinning = failure
        .thread
        .as_ref()
        .and_then(|thread| thread.name.as_deref());
    assert!(matches!(spinning, Some("polite-a" | "polite-b")), "{text}");
}

#[test]
fn check_random_panics_with_the_report() {
    let outcome = panic::catch_unwind(|| {
        reel::check_random(
            || {
                thread::Builder::new()
                    .name("doomed".to_string())
                    .spawn(|| panic!("doomed thread gave up"))
                    .unwrap()
                    .join()
                    .ok();
            },
            10,
        );
    });
    let text = payload_text(&*outcome.expect_err("check_random must panic on a failure"));
    assert!(text.contains("doomed thread gave up"), "{text}");
    assert!(text.contains("doomed"), "{text}");
    assert!(text.contains("failures.rs"), "{text}");
}

#[test]
fn check_pct_panics_with_the_report() {
    let outcome = panic::catch_unwind(|| {
        reel::check_pct(
            || {
                let mutex = Mutex::new(());
                let _held = mutex.lock().unwrap();
                let _again = mutex.lock().unwrap();
            },
            10,
            2,
        );
    });
    let text = payload_text(&*outcome.expect_err("check_pct must panic on a failure"));
    assert!(text.contains("already holds"), "{text}");
}

/// A correct program: three threads increment a counter under a mutex.
fn correct_counter_program() {
    let mutex = Arc::new(Mutex::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let mutex = mutex.clone();
            thread::spawn(move || *mutex.lock().unwrap() += 1)
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(*mutex.lock().unwrap(), 3);
}

/// Checks that a report of a correct program ran every iteration and found nothing.
fn assert_nothing_found(report: &Report, iterations: usize) {
    assert!(!report.found(), "{report}");
    assert!(report.failure.is_none());
    assert_eq!(report.iteration, None);
    assert_eq!(report.iterations, iterations);
}

#[test]
fn a_correct_program_is_not_reported() {
    let random = Checker::new()
        .random()
        .iterations(150)
        .run(correct_counter_program);
    assert_nothing_found(&random, 150);
    let pct = Checker::new()
        .pct(3)
        .iterations(120)
        .run(correct_counter_program);
    assert_nothing_found(&pct, 120);
    // Display of a clean report still says something (seed and iterations).
    assert!(!random.to_string().is_empty());
}

#[test]
fn check_random_and_check_pct_return_for_a_correct_program() {
    reel::check_random(|| assert_eq!(thread::spawn(|| 1).join().unwrap(), 1), 50);
    reel::check_pct(|| assert_eq!(thread::spawn(|| 2).join().unwrap(), 2), 50, 2);
}

#[test]
fn a_lost_wakeup_is_found_as_a_deadlock() {
    // The waiter checks nothing before waiting, so a notify that comes first is lost and the
    // waiter sleeps forever in some schedules.
    let report = Checker::new().random().iterations(1000).run(|| {
        let pair = Arc::new((Mutex::new(()), reel::sync::Condvar::new()));
        let waiter = {
            let pair = pair.clone();
            thread::Builder::new()
                .name("sleeper".to_string())
                .spawn(move || {
                    let (lock, condvar) = &*pair;
                    let guard = lock.lock().unwrap();
                    drop(condvar.wait(guard).unwrap());
                })
                .unwrap()
        };
        pair.1.notify_one();
        waiter.join().unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::Deadlock);
    assert!(text.contains("sleeper"), "{text}");
    assert!(text.contains("main"), "{text}");
    // No cycle: the sleeper waits for a notification that already came, main joins it.
    let failure = report.failure.as_ref().unwrap();
    assert!(failure.cycle.is_empty(), "{text}");
    let waiting: Vec<_> = failure
        .blocked
        .iter()
        .map(|blocked| (blocked.thread.name.as_deref(), blocked.waiting_for.as_str()))
        .collect();
    assert_eq!(waiting.len(), 2, "{text}");
    assert!(
        waiting.contains(&(Some("main"), "join thread 'sleeper' (T1)")),
        "{text}"
    );
    assert!(
        waiting
            .iter()
            .any(|&(name, what)| name == Some("sleeper")
                && what.starts_with("be notified on Condvar#")),
        "{text}"
    );
}

#[test]
fn a_runtime_step_bound_panics_with_a_livelock_report() {
    let outcome = panic::catch_unwind(|| {
        reel::Runtime::new().max_steps(1000).run(|| {
            let spinner = thread::Builder::new()
                .name("runtime-spinner".to_string())
                .spawn(|| {
                    let flag = AtomicUsize::new(0);
                    while flag.load(Ordering::SeqCst) == 0 {
                        thread::yield_now();
                    }
                })
                .unwrap();
            spinner.join().unwrap();
        })
    });
    let text = payload_text(&*outcome.expect_err("the step bound must stop the run"));
    assert!(text.contains("step bound"), "{text}");
    assert!(text.contains("runtime-spinner"), "{text}");
}

#[test]
fn parking_with_nobody_to_unpark_is_a_deadlock() {
    let report = Checker::new().iterations(5).run(thread::park);
    let text = assert_failure_found(&report, FailureKind::Deadlock);
    assert!(text.contains("main"), "{text}");
    let failure = report.failure.as_ref().unwrap();
    assert!(failure.cycle.is_empty(), "{text}");
    assert_eq!(failure.blocked.len(), 1, "{text}");
    assert_eq!(failure.blocked[0].thread.name.as_deref(), Some("main"));
    assert_eq!(failure.blocked[0].waiting_for, "be unparked", "{text}");
}

#[test]
fn a_scope_waiting_on_a_blocked_thread_is_a_deadlock() {
    let report = Checker::new().iterations(5).run(|| {
        let (sender, receiver) = reel::sync::mpsc::channel::<()>();
        thread::scope(|scope| {
            thread::Builder::new()
                .name("scoped-receiver".to_string())
                .spawn_scoped(scope, move || receiver.recv())
                .unwrap();
        });
        // Never reached: the scope waits for a receive that only this send could satisfy.
        sender.send(()).unwrap();
    });
    let text = assert_failure_found(&report, FailureKind::Deadlock);
    assert!(text.contains("scoped-receiver"), "{text}");
}

#[test]
fn write_locking_an_rwlock_while_reading_it_is_reported() {
    let report = Checker::new().iterations(5).run(|| {
        let lock = RwLock::new(0);
        let _reading = lock.read().unwrap();
        let _writing = lock.write();
    });
    let text = assert_failure_found(&report, FailureKind::ReentrantLock);
    assert!(text.contains("already holds"), "{text}");
}

#[test]
fn a_scoped_thread_panic_fails_main_even_when_thread_panics_are_allowed() {
    // std: the scope itself panics in main once a scoped thread panicked.
    let report = Checker::new()
        .iterations(5)
        .allow_thread_panics(true)
        .run(|| {
            thread::scope(|scope| {
                scope.spawn(|| panic!("scoped thread failed"));
            });
        });
    let text = assert_failure_found(&report, FailureKind::Panic);
    let failure = report.failure.as_ref().unwrap();
    assert_eq!(
        failure.thread.as_ref().unwrap().name.as_deref(),
        Some("main"),
        "{text}"
    );
}

#[test]
fn zero_iterations_explore_nothing() {
    let report = Checker::new().iterations(0).run(|| panic!("never runs"));
    assert!(!report.found(), "{report}");
    assert_eq!(report.iterations, 0);
    assert_eq!(report.iteration, None);
}
