//! deadlock01 (SCTBench CS, `deadlock01_bad.c`): two threads take two locks in opposite
//! orders.

for_each_runtime! {
    use std::sync::Arc;
    use std::sync::atomic::AtomicI32;
    use std::sync::atomic::Ordering::Relaxed;

    use rt::sync::Mutex;
    use rt::thread;

    fn deadlock(fixed: bool) {
        let a = Arc::new(Mutex::new(()));
        let b = Arc::new(Mutex::new(()));
        // Guarded by both locks: std's atomic, no step.
        let counter = Arc::new(AtomicI32::new(1));
        let (a1, b1, counter1) = (Arc::clone(&a), Arc::clone(&b), Arc::clone(&counter));
        let t1 = thread::spawn(move || {
            let _a = a1.lock().unwrap();
            let _b = b1.lock().unwrap();
            counter1.fetch_add(1, Relaxed);
        });
        let t2 = thread::spawn(move || {
            if fixed {
                let _a = a.lock().unwrap();
                let _b = b.lock().unwrap();
                counter.fetch_sub(1, Relaxed);
            } else {
                let _b = b.lock().unwrap();
                let _a = a.lock().unwrap();
                counter.fetch_sub(1, Relaxed);
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
    }

    /// `a` then `b`, and `b` then `a`.
    pub fn bug() {
        deadlock(false);
    }

    /// Both take `a` then `b`.
    pub fn fixed() {
        deadlock(true);
    }
}
