//! `#[reel::test]` as a user writes it: every argument and strategy spelling explores its body,
//! and a failure fails the test with reel's report.

use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, Mutex};

fn two_increments() {
    let counter = Arc::new(Mutex::new(0));
    let other = {
        let counter = Arc::clone(&counter);
        reel::thread::spawn(move || *counter.lock().unwrap() += 1)
    };
    *counter.lock().unwrap() += 1;
    other.join().unwrap();
    assert_eq!(*counter.lock().unwrap(), 2);
}

#[reel::test]
fn portfolio_by_default() {
    two_increments();
}

#[reel::test(
    strategy = "random",
    iterations = 20,
    seed = 3,
    jobs = 2,
    max_steps = 1000
)]
fn random_with_every_setting() {
    two_increments();
}

#[reel::test(strategy = "pct", depth = 2, iterations = 10)]
fn pct_with_a_depth() {
    two_increments();
}

#[reel::test(strategy = "pct", iterations = 10)]
fn pct_with_a_random_depth() {
    two_increments();
}

#[reel::test(strategy = "pct(depth 3)", iterations = 10)]
fn pct_spelt_in_full() {
    two_increments();
}

#[reel::test(strategy = "urw", iterations = 10)]
fn urw() {
    two_increments();
}

#[reel::test(strategy = "surw", iterations = 10)]
fn surw() {
    two_increments();
}

#[reel::test(strategy = "pos", iterations = 10)]
fn pos() {
    two_increments();
}

#[reel::test(strategy = "portfolio", iterations = 10)]
fn portfolio() {
    two_increments();
}

#[reel::test(strategy = "dfs", preemptions = 1)]
fn dfs_with_a_bound() {
    two_increments();
}

#[reel::test(strategy = "dfs(preemptions 1, delays 2)")]
fn dfs_spelt_in_full() {
    two_increments();
}

/// Other attributes stay.
#[reel::test(strategy = "random", iterations = 500, seed = 1)]
#[should_panic(expected = "reel found a failure")]
fn a_failure_fails_the_test() {
    let counter = Arc::new(AtomicUsize::new(0));
    let other = {
        let counter = Arc::clone(&counter);
        reel::thread::spawn(move || {
            let seen = counter.load(Ordering::SeqCst);
            counter.store(seen + 1, Ordering::SeqCst);
        })
    };
    let seen = counter.load(Ordering::SeqCst);
    counter.store(seen + 1, Ordering::SeqCst);
    other.join().unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
}
