//! std's own `Barrier` tests (`library/std/tests/sync/barrier.rs` of rust-lang/rust, MIT or
//! Apache-2.0), ported by swapping `std::sync` and `std::thread` for reel's: the body is
//! unchanged and explored. std's one test is ported and passes unchanged, and so does its
//! compile-time check that a `Barrier` is `RefUnwindSafe`.

mod std_port;

use std::panic::RefUnwindSafe;

use reel::sync::mpsc::{TryRecvError, channel};
use reel::sync::{Arc, Barrier};
use reel::thread;

std_test!(explore(100) test_barrier {
    const N: usize = 10;

    let barrier = Arc::new(Barrier::new(N));
    let (tx, rx) = channel();

    for _ in 0..N - 1 {
        let c = barrier.clone();
        let tx = tx.clone();
        thread::spawn(move || {
            tx.send(c.wait().is_leader()).unwrap();
        });
    }

    // At this point, all spawned threads should be blocked,
    // so we shouldn't get anything from the port
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));

    let mut leader_found = barrier.wait().is_leader();

    // Now, the barrier is cleared and we should get data.
    for _ in 0..N - 1 {
        if rx.recv().unwrap() {
            assert!(!leader_found);
            leader_found = true;
        }
    }
    assert!(leader_found);
});

#[expect(dead_code, reason = "this is essentially a compile pass test")]
fn check_barrier_is_ref_unwind_safe() {
    let barrier = Arc::new(Barrier::new(10));

    fn check<T: RefUnwindSafe>(_: T) {}

    check(barrier);
}
