//! Semantics of `reel::sync::{Barrier, Once, OnceLock}`, ported from std's tests: one leader per
//! barrier round and reuse, Once running once (and `call_once_force` after poison), OnceLock races.

use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::mpsc::{self, TryRecvError};
use reel::sync::{Arc, Barrier, Once, OnceLock};
use reel::thread;

#[test]
fn barrier_releases_nobody_until_everyone_arrives_and_elects_one_leader() {
    // std's barrier test: N - 1 threads wait, nobody gets through before main arrives too.
    reel::check_random(
        || {
            const PARTIES: usize = 4;
            let barrier = Arc::new(Barrier::new(PARTIES));
            let (sender, receiver) = mpsc::channel();
            for _ in 0..PARTIES - 1 {
                let barrier = barrier.clone();
                let sender = sender.clone();
                thread::spawn(move || {
                    sender.send(barrier.wait().is_leader()).unwrap();
                });
            }
            thread::yield_now();
            assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
            let mut leaders = usize::from(barrier.wait().is_leader());
            for _ in 0..PARTIES - 1 {
                if receiver.recv().unwrap() {
                    leaders += 1;
                }
            }
            assert_eq!(leaders, 1);
        },
        200,
    );
}

#[test]
fn barrier_is_reusable_with_one_leader_per_round() {
    reel::check_random(
        || {
            const PARTIES: usize = 3;
            const ROUNDS: usize = 3;
            let barrier = Arc::new(Barrier::new(PARTIES));
            let leaders_per_round: Arc<Vec<AtomicUsize>> =
                Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
            let arrivals_per_round: Arc<Vec<AtomicUsize>> =
                Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
            let workers: Vec<_> = (0..PARTIES)
                .map(|_| {
                    let barrier = barrier.clone();
                    let leaders = leaders_per_round.clone();
                    let arrivals = arrivals_per_round.clone();
                    thread::spawn(move || {
                        for round in 0..ROUNDS {
                            arrivals[round].fetch_add(1, Ordering::SeqCst);
                            let result = barrier.wait();
                            // Past the barrier, every party of this round has arrived.
                            assert_eq!(arrivals[round].load(Ordering::SeqCst), PARTIES);
                            if result.is_leader() {
                                leaders[round].fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            for leaders in leaders_per_round.iter() {
                assert_eq!(leaders.load(Ordering::SeqCst), 1);
            }
        },
        200,
    );
}

#[test]
fn more_threads_than_parties_form_successive_rounds() {
    reel::check_random(
        || {
            // Four threads on a barrier of two: two rounds, one leader each.
            let barrier = Arc::new(Barrier::new(2));
            let leaders = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let barrier = barrier.clone();
                    let leaders = leaders.clone();
                    thread::spawn(move || {
                        if barrier.wait().is_leader() {
                            leaders.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(leaders.load(Ordering::SeqCst), 2);
        },
        200,
    );
}

#[test]
fn barrier_of_one_never_blocks_and_always_leads() {
    reel::run(|| {
        let barrier = Barrier::new(1);
        assert!(barrier.wait().is_leader());
        assert!(barrier.wait().is_leader());
    });
}

#[test]
fn once_runs_its_closure_exactly_once() {
    reel::check_random(
        || {
            let once = Arc::new(Once::new());
            let runs = Arc::new(AtomicUsize::new(0));
            assert!(!once.is_completed());
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let once = once.clone();
                    let runs = runs.clone();
                    thread::spawn(move || {
                        once.call_once(|| {
                            thread::yield_now();
                            runs.fetch_add(1, Ordering::SeqCst);
                        });
                        // call_once returns only after the closure has completed.
                        assert!(once.is_completed());
                        assert_eq!(runs.load(Ordering::SeqCst), 1);
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            once.call_once(|| panic!("must not run again"));
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert!(once.is_completed());
        },
        300,
    );
}

#[test]
fn static_once_with_const_new() {
    static ONCE: Once = Once::new();
    reel::run(|| {
        let mut runs = 0;
        ONCE.call_once(|| runs += 1);
        ONCE.call_once(|| runs += 1);
        assert_eq!(runs, 1);
        assert!(ONCE.is_completed());
    });
}

#[test]
fn a_panic_in_call_once_poisons_and_call_once_force_recovers() {
    let report = reel::Checker::new()
        .iterations(50)
        .allow_thread_panics(true)
        .run(|| {
            let once = Arc::new(Once::new());
            {
                let once = once.clone();
                let outcome =
                    thread::spawn(move || once.call_once(|| panic!("first init fails"))).join();
                assert!(outcome.is_err());
            }
            assert!(!once.is_completed());
            // A plain call_once on a poisoned Once panics.
            {
                let once = once.clone();
                let outcome = thread::spawn(move || once.call_once(|| {})).join();
                assert!(outcome.is_err());
            }
            let mut saw_poison = false;
            once.call_once_force(|state| saw_poison = state.is_poisoned());
            assert!(saw_poison);
            assert!(once.is_completed());
            let mut ran_again = false;
            once.call_once_force(|_| ran_again = true);
            assert!(!ran_again);
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn call_once_force_on_a_fresh_once_is_not_poisoned() {
    reel::run(|| {
        let once = Once::new();
        let mut poisoned = true;
        once.call_once_force(|state| poisoned = state.is_poisoned());
        assert!(!poisoned);
        assert!(once.is_completed());
    });
}

#[test]
fn once_lock_set_and_get() {
    reel::run(|| {
        let cell = OnceLock::new();
        assert_eq!(cell.get(), None);
        assert_eq!(cell.set(92), Ok(()));
        assert_eq!(cell.set(62), Err(62));
        assert_eq!(cell.get(), Some(&92));
    });
}

#[test]
fn once_lock_racing_set_has_one_winner() {
    reel::check_random(
        || {
            let cell = Arc::new(OnceLock::new());
            let contenders: Vec<_> = (0..4u32)
                .map(|n| {
                    let cell = cell.clone();
                    thread::spawn(move || match cell.set(n) {
                        Ok(()) => Some(n),
                        Err(rejected) => {
                            assert_eq!(rejected, n, "set must hand back the rejected value");
                            None
                        }
                    })
                })
                .collect();
            let winners: Vec<u32> = contenders
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect();
            assert_eq!(winners.len(), 1);
            assert_eq!(cell.get(), Some(&winners[0]));
        },
        300,
    );
}

#[test]
fn once_lock_racing_get_or_init_initialises_once() {
    reel::check_random(
        || {
            let cell = Arc::new(OnceLock::new());
            let inits = Arc::new(AtomicUsize::new(0));
            let racers: Vec<_> = (0..3usize)
                .map(|n| {
                    let cell = cell.clone();
                    let inits = inits.clone();
                    thread::spawn(move || {
                        *cell.get_or_init(|| {
                            inits.fetch_add(1, Ordering::SeqCst);
                            thread::yield_now();
                            n * 10
                        })
                    })
                })
                .collect();
            let seen: Vec<usize> = racers.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(inits.load(Ordering::SeqCst), 1);
            assert!(seen.iter().all(|v| *v == seen[0]));
            assert_eq!(cell.get(), Some(&seen[0]));
        },
        300,
    );
}

#[test]
fn once_lock_into_inner_and_take() {
    reel::run(|| {
        let empty: OnceLock<String> = OnceLock::new();
        assert_eq!(empty.into_inner(), None);
        let cell = OnceLock::new();
        cell.get_or_init(|| String::from("hello"));
        assert_eq!(cell.into_inner().as_deref(), Some("hello"));
        let mut cell = OnceLock::new();
        cell.set(3).unwrap();
        assert_eq!(cell.take(), Some(3));
        assert_eq!(cell.get(), None);
        assert_eq!(cell.set(4), Ok(()));
    });
}

#[test]
fn lazy_lock_initialises_once_under_racing_threads() {
    use reel::sync::LazyLock;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    static CALLS: StdAtomicUsize = StdAtomicUsize::new(0);
    // One kernel thread: each execution resets and counts a process-wide static, which two
    // executions at once would share.
    let checker = reel::Checker::new().random().iterations(200).jobs(1);
    checker.check(|| {
        CALLS.store(0, std::sync::atomic::Ordering::SeqCst);
        let lazy = Arc::new(LazyLock::new(|| {
            CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            thread::yield_now();
            42
        }));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let lazy = Arc::clone(&lazy);
                thread::spawn(move || **lazy)
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), 42);
        }
        assert_eq!(*LazyLock::force(&lazy), 42);
        assert_eq!(CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);
    });
}
