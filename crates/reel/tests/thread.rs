//! Semantics of `reel::thread`: spawn/join, panics through join, Builder names and stacks, scoped
//! threads, park/unpark, sleep, yield, `is_finished`, `ThreadId` and `panicking`, ported from std's
//! thread tests and run both under `reel::run` and under schedule exploration.

use std::any::Any;
use std::collections::HashSet;
use std::time::Duration;

use reel::sync::Arc;
use reel::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use reel::sync::mpsc;
use reel::thread;

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

#[test]
fn spawn_then_join_returns_the_value() {
    let value = reel::run(|| {
        let handle = thread::spawn(|| 6 * 7);
        handle.join().unwrap()
    });
    assert_eq!(value, 42);
}

#[test]
fn run_returns_the_value_of_main() {
    assert_eq!(reel::run(|| String::from("done")), "done");
}

#[test]
fn spawn_then_join_returns_the_value_under_every_explored_schedule() {
    reel::check_random(
        || {
            let handles: Vec<_> = (0..4u64).map(|n| thread::spawn(move || n * n)).collect();
            let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(squares, vec![0, 1, 4, 9]);
        },
        200,
    );
}

#[test]
fn join_of_a_panicking_thread_returns_err_with_the_payload() {
    let text = reel::run(|| {
        let handle = thread::spawn(|| -> u32 { panic!("static payload") });
        let payload = handle.join().unwrap_err();
        payload_text(&*payload)
    });
    assert_eq!(text, "static payload");
}

#[test]
fn join_of_a_panicking_thread_carries_a_formatted_payload() {
    let report = reel::Checker::new()
        .random()
        .iterations(100)
        .allow_thread_panics(true)
        .run(|| {
            // A runtime argument, so the message is formatted into a String payload (a
            // literal argument would be folded into a &'static str).
            let code = std::hint::black_box(7);
            let handle = thread::spawn(move || -> u32 { panic!("formatted payload {code}") });
            let payload = handle.join().unwrap_err();
            assert_eq!(
                payload.downcast_ref::<String>().map(String::as_str),
                Some("formatted payload 7")
            );
        });
    assert!(!report.found(), "{report}");
    assert_eq!(report.iterations, 100);
}

#[test]
fn join_of_a_thread_panicking_with_a_custom_payload_keeps_its_type() {
    reel::run(|| {
        let handle = thread::spawn(|| std::panic::panic_any(1234_u64));
        let payload = handle.join().unwrap_err();
        assert_eq!(payload.downcast_ref::<u64>(), Some(&1234));
    });
}

#[test]
fn main_is_named_main() {
    let name = reel::run(|| thread::current().name().map(str::to_string));
    assert_eq!(name.as_deref(), Some("main"));
}

#[test]
fn builder_name_is_visible_through_current_and_the_handle() {
    reel::check_random(
        || {
            let handle = thread::Builder::new()
                .name("named-worker".to_string())
                .spawn(|| thread::current().name().map(str::to_string))
                .unwrap();
            assert_eq!(handle.thread().name(), Some("named-worker"));
            let seen = handle.join().unwrap();
            assert_eq!(seen.as_deref(), Some("named-worker"));
        },
        50,
    );
}

#[test]
fn unnamed_spawned_thread_has_no_name() {
    let name = reel::run(|| {
        thread::spawn(|| thread::current().name().map(str::to_string))
            .join()
            .unwrap()
    });
    assert_eq!(name, None);
}

#[test]
fn builder_stack_size_spawns_a_working_thread() {
    let value = reel::run(|| {
        thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| "ran")
            .unwrap()
            .join()
            .unwrap()
    });
    assert_eq!(value, "ran");
}

#[test]
fn thread_ids_are_distinct_and_match_the_handles() {
    reel::check_random(
        || {
            let main_id = thread::current().id();
            let handles: Vec<_> = (0..6)
                .map(|_| thread::spawn(|| thread::current().id()))
                .collect();
            let mut ids = HashSet::new();
            assert!(ids.insert(main_id));
            for handle in handles {
                let handle_id = handle.thread().id();
                let reported_id = handle.join().unwrap();
                assert_eq!(handle_id, reported_id);
                assert_ne!(reported_id, main_id);
                assert!(
                    ids.insert(reported_id),
                    "thread id {reported_id:?} seen twice"
                );
            }
            assert_eq!(ids.len(), 7);
            assert_eq!(thread::current().id(), main_id);
        },
        100,
    );
}

#[test]
fn scope_lets_threads_borrow_local_data() {
    reel::check_random(
        || {
            let numbers = [1, 2, 3, 4];
            let mut total = 0;
            let counter = AtomicUsize::new(0);
            let doubled = thread::scope(|scope| {
                scope.spawn(|| {
                    counter.fetch_add(numbers.len(), Ordering::SeqCst);
                });
                let doubler = scope.spawn(|| numbers.iter().map(|n| n * 2).collect::<Vec<_>>());
                scope.spawn(|| {
                    total = numbers.iter().sum();
                });
                doubler.join().unwrap()
            });
            // After the scope every scoped thread has finished, so the borrows are released.
            assert_eq!(total, 10);
            assert_eq!(doubled, vec![2, 4, 6, 8]);
            assert_eq!(counter.load(Ordering::SeqCst), 4);
        },
        200,
    );
}

#[test]
fn scope_waits_for_threads_that_were_not_joined() {
    reel::check_random(
        || {
            let finished = AtomicUsize::new(0);
            thread::scope(|scope| {
                for _ in 0..3 {
                    scope.spawn(|| {
                        thread::yield_now();
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
            assert_eq!(finished.load(Ordering::SeqCst), 3);
        },
        200,
    );
}

#[test]
fn builder_spawn_scoped_names_the_thread() {
    reel::run(|| {
        let label = String::from("borrowed");
        thread::scope(|scope| {
            let handle = thread::Builder::new()
                .name("scoped-worker".to_string())
                .spawn_scoped(scope, || {
                    format!("{} by {}", label, thread::current().name().unwrap())
                })
                .unwrap();
            assert_eq!(handle.join().unwrap(), "borrowed by scoped-worker");
        });
    });
}

#[test]
fn scope_panics_when_a_scoped_thread_panicked() {
    let outcome = std::panic::catch_unwind(|| {
        reel::run(|| {
            thread::scope(|scope| {
                scope.spawn(|| panic!("scoped thread failed"));
            });
        })
    });
    assert!(
        outcome.is_err(),
        "scope must propagate a scoped thread's panic"
    );
}

#[test]
fn unpark_before_park_does_not_block() {
    reel::check_random(
        || {
            thread::current().unpark();
            thread::park();
        },
        20,
    );
}

#[test]
fn unpark_wakes_a_parked_thread() {
    reel::check_random(
        || {
            let ready = Arc::new(AtomicBool::new(false));
            let parker = {
                let ready = ready.clone();
                thread::spawn(move || {
                    // park may wake spuriously, so wait on the flag as std's docs require.
                    while !ready.load(Ordering::SeqCst) {
                        thread::park();
                    }
                })
            };
            ready.store(true, Ordering::SeqCst);
            parker.thread().unpark();
            parker.join().unwrap();
        },
        300,
    );
}

#[test]
fn park_timeout_returns_without_an_unpark() {
    reel::check_random(
        || {
            // Virtual time: this does not really wait an hour.
            thread::park_timeout(Duration::from_secs(3600));
        },
        20,
    );
    reel::run(|| thread::park_timeout(Duration::from_millis(5)));
}

#[test]
fn park_timeout_is_cut_short_by_unpark() {
    reel::check_random(
        || {
            let ready = Arc::new(AtomicBool::new(false));
            let parker = {
                let ready = ready.clone();
                thread::spawn(move || {
                    while !ready.load(Ordering::SeqCst) {
                        thread::park_timeout(Duration::from_secs(1));
                    }
                })
            };
            ready.store(true, Ordering::SeqCst);
            parker.thread().unpark();
            parker.join().unwrap();
        },
        200,
    );
}

#[test]
fn sleep_returns_under_virtual_and_real_time() {
    reel::check_random(
        || {
            let sleeper = thread::spawn(|| {
                thread::sleep(Duration::from_secs(3600));
                "slept"
            });
            thread::sleep(Duration::from_secs(60));
            assert_eq!(sleeper.join().unwrap(), "slept");
        },
        20,
    );
    reel::run(|| thread::sleep(Duration::from_millis(2)));
}

#[test]
fn yield_now_lets_other_threads_progress() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel();
            let workers: Vec<_> = (0..3)
                .map(|n| {
                    let sender = sender.clone();
                    thread::spawn(move || {
                        for step in 0..3 {
                            sender.send((n, step)).unwrap();
                            thread::yield_now();
                        }
                    })
                })
                .collect();
            drop(sender);
            thread::yield_now();
            let received: Vec<(i32, i32)> = receiver.iter().collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(received.len(), 9);
            for n in 0..3 {
                let steps: Vec<i32> = received
                    .iter()
                    .filter(|(who, _)| *who == n)
                    .map(|(_, step)| *step)
                    .collect();
                assert_eq!(steps, vec![0, 1, 2]);
            }
        },
        200,
    );
}

#[test]
fn is_finished_becomes_true_once_the_thread_ends() {
    reel::check_random(
        || {
            let done = Arc::new(AtomicBool::new(false));
            let handle = {
                let done = done.clone();
                thread::spawn(move || done.store(true, Ordering::SeqCst))
            };
            while !handle.is_finished() {
                thread::yield_now();
            }
            assert!(done.load(Ordering::SeqCst));
            handle.join().unwrap();
        },
        200,
    );
}

#[test]
fn is_finished_is_false_while_the_thread_is_blocked() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel::<()>();
            let handle = thread::spawn(move || receiver.recv().unwrap());
            for _ in 0..3 {
                thread::yield_now();
                assert!(!handle.is_finished());
            }
            sender.send(()).unwrap();
            handle.join().unwrap();
        },
        200,
    );
}

#[test]
fn panicking_is_true_only_while_unwinding() {
    struct RecordPanicking(Arc<AtomicBool>);
    impl Drop for RecordPanicking {
        fn drop(&mut self) {
            self.0.store(thread::panicking(), Ordering::SeqCst);
        }
    }

    let report = reel::Checker::new()
        .iterations(20)
        .allow_thread_panics(true)
        .run(|| {
            assert!(!thread::panicking());
            let seen = Arc::new(AtomicBool::new(false));
            let handle = {
                let seen = seen.clone();
                thread::spawn(move || {
                    let _record = RecordPanicking(seen);
                    panic!("unwinding on purpose");
                })
            };
            assert!(handle.join().is_err());
            assert!(seen.load(Ordering::SeqCst));
            assert!(!thread::panicking());
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn threads_still_running_when_main_returns_are_abandoned() {
    let value = reel::run(|| {
        thread::spawn(|| {
            loop {
                thread::yield_now();
            }
        });
        let (_sender, receiver) = mpsc::channel::<()>();
        thread::spawn(move || receiver.recv());
        thread::yield_now();
        5
    });
    assert_eq!(value, 5);
}

#[test]
fn a_panic_in_main_is_resumed_by_run() {
    let outcome = std::panic::catch_unwind(|| reel::run(|| -> u32 { panic!("main went wrong") }));
    let payload = outcome.unwrap_err();
    assert_eq!(payload_text(&*payload), "main went wrong");
}

#[test]
fn threads_spawn_threads() {
    reel::check_random(
        || {
            let grandchild_value = thread::spawn(|| thread::spawn(|| 3).join().unwrap() + 1)
                .join()
                .unwrap();
            assert_eq!(grandchild_value, 4);
        },
        100,
    );
}

#[test]
fn hundreds_of_threads_run_and_join() {
    let total = reel::run(|| {
        let handles: Vec<_> = (0..300u64)
            .map(|n| {
                thread::spawn(move || {
                    thread::yield_now();
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, (0..300u64).sum());
}

#[test]
fn many_threads_under_exploration() {
    reel::check_random(
        || {
            let counter = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..20)
                .map(|_| {
                    let counter = counter.clone();
                    thread::spawn(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
            assert_eq!(counter.load(Ordering::SeqCst), 20);
        },
        50,
    );
}

#[test]
fn runs_on_many_kernel_threads_at_once_are_independent() {
    // Each kernel thread hosts its own runtime; they must not share state.
    let kernel_threads: Vec<_> = (0..4u64)
        .map(|n| {
            std::thread::spawn(move || {
                reel::run(move || {
                    let handles: Vec<_> = (0..10u64)
                        .map(|m| {
                            thread::spawn(move || {
                                thread::yield_now();
                                n * 100 + m
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
        })
        .collect();
    for (n, kernel_thread) in (0..4u64).zip(kernel_threads) {
        assert_eq!(kernel_thread.join().unwrap(), n * 1000 + 45);
    }
}

#[test]
fn a_detached_thread_keeps_running_after_its_handle_is_dropped() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel();
            drop(thread::spawn(move || {
                thread::yield_now();
                sender.send("from a detached thread").unwrap();
            }));
            assert_eq!(receiver.recv().unwrap(), "from a detached thread");
        },
        100,
    );
}

#[test]
fn a_yield_spin_wait_is_not_a_livelock_under_pct() {
    // A correct spin-wait: the spinner yields, so every strategy must let the setter run,
    // whatever priorities and change points PCT drew. Several seeds, so luck cannot hide it.
    for seed in 1..=8 {
        let report = reel::Checker::new()
            .pct(3)
            .seed(seed)
            .iterations(200)
            .max_steps(20_000)
            .run(|| {
                let flag = Arc::new(AtomicBool::new(false));
                {
                    let flag = flag.clone();
                    thread::spawn(move || flag.store(true, Ordering::SeqCst));
                }
                while !flag.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
            });
        assert!(!report.found(), "{report}");
    }
}
