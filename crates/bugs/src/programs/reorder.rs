//! reorder_N (SCTBench CS, `reorder_N_bad.c`; reorder_100 is the size SURW's evaluation
//! uses): N-1 setter threads each write `a = 1` then `b = -1`, with no lock; one checker asserts
//! that it sees both writes or neither, which fails when it reads between a setter's two
//! writes before any setter has finished.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::sync::atomic::{AtomicI32, Ordering::SeqCst};
    use rt::thread;

    struct Shared {
        a: AtomicI32,
        b: AtomicI32,
        /// The fixed version's lock around each setter's pair of writes and the check.
        lock: Mutex<()>,
    }

    fn reorder(setters: usize, fixed: bool) {
        let shared = Arc::new(Shared {
            a: AtomicI32::new(0),
            b: AtomicI32::new(0),
            lock: Mutex::new(()),
        });
        let set_pool: Vec<_> = (0..setters)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let _guard = fixed.then(|| shared.lock.lock().unwrap());
                    shared.a.store(1, SeqCst);
                    shared.b.store(-1, SeqCst);
                })
            })
            .collect();
        let check = thread::spawn(move || {
            let _guard = fixed.then(|| shared.lock.lock().unwrap());
            let (a, b) = (&shared.a, &shared.b);
            let consistent = (a.load(SeqCst) == 0 && b.load(SeqCst) == 0)
                || (a.load(SeqCst) == 1 && b.load(SeqCst) == -1);
            assert!(consistent, "the checker saw one write of a pair without the other");
        });
        for setter in set_pool {
            setter.join().unwrap();
        }
        check.join().unwrap();
    }

    /// reorder_3: 2 setters.
    pub fn bug_3() {
        reorder(2, false);
    }

    /// reorder_10: 9 setters.
    pub fn bug_10() {
        reorder(9, false);
    }

    /// reorder_100: 99 setters.
    pub fn bug_100() {
        reorder(99, false);
    }

    /// reorder_3 with each setter's pair of writes and the check under one lock.
    pub fn fixed_3() {
        reorder(2, true);
    }
}
