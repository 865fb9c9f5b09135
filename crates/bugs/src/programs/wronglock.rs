//! wronglock (SCTBench CS, `wronglock_bad.c`): one thread increments a counter under
//! `dataLock` and asserts that its increment was the only one; seven others increment it under
//! another lock, `thisLock`. The counter is a volatile plain variable, so an atomic whose
//! every load and store is a step.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::sync::atomic::{AtomicI32, Ordering::SeqCst};
    use rt::thread;

    const NUM1: usize = 1;
    const NUM2: usize = 7;

    struct Shared {
        data_lock: Mutex<()>,
        this_lock: Mutex<()>,
        data_value: AtomicI32,
    }

    fn func_a(shared: &Shared) {
        let _data_lock = shared.data_lock.lock().unwrap();
        let x = shared.data_value.load(SeqCst);
        let incremented = shared.data_value.load(SeqCst) + 1;
        shared.data_value.store(incremented, SeqCst);
        assert_eq!(shared.data_value.load(SeqCst), x + 1, "another increment came in between");
    }

    fn func_b(shared: &Shared, fixed: bool) {
        let lock = if fixed { &shared.data_lock } else { &shared.this_lock };
        let _lock = lock.lock().unwrap();
        let incremented = shared.data_value.load(SeqCst) + 1;
        shared.data_value.store(incremented, SeqCst);
    }

    fn wronglock(fixed: bool) {
        let shared = Arc::new(Shared {
            data_lock: Mutex::new(()),
            this_lock: Mutex::new(()),
            data_value: AtomicI32::new(0),
        });
        let num1_pool: Vec<_> = (0..NUM1)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || func_a(&shared))
            })
            .collect();
        let num2_pool: Vec<_> = (0..NUM2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || func_b(&shared, fixed))
            })
            .collect();
        for handle in num1_pool.into_iter().chain(num2_pool) {
            handle.join().unwrap();
        }
    }

    /// The others take the wrong lock.
    pub fn bug() {
        wronglock(false);
    }

    /// Everyone takes `dataLock`.
    pub fn fixed() {
        wronglock(true);
    }
}
