//! token_ring (SCTBench CS, `token_ring_bad.c`): three threads pass a value along a ring, each
//! in an ESBMC atomic section (one global lock); a fourth asserts, once all three are done,
//! that all three values agree, which holds only in the order 1, 2, 3.
//!
//! The original's main joins no one and returns, ending the process; main joins its threads
//! here, for the reason given in `account`.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::thread;

    struct Ring {
        x1: i32,
        x2: i32,
        x3: i32,
        flag1: bool,
        flag2: bool,
        flag3: bool,
    }

    /// The checker's assertion fails unless the three ran in order.
    pub fn bug() {
        let ring = Arc::new(Mutex::new(Ring {
            x1: 1,
            x2: 2,
            x3: 1,
            flag1: false,
            flag2: false,
            flag3: false,
        }));
        let r1 = Arc::clone(&ring);
        let t1 = thread::spawn(move || {
            let mut ring = r1.lock().unwrap();
            ring.x1 = (ring.x3 + 1) % 4;
            ring.flag1 = true;
        });
        let r2 = Arc::clone(&ring);
        let t2 = thread::spawn(move || {
            let mut ring = r2.lock().unwrap();
            ring.x2 = ring.x1;
            ring.flag2 = true;
        });
        let r3 = Arc::clone(&ring);
        let t3 = thread::spawn(move || {
            let mut ring = r3.lock().unwrap();
            ring.x3 = ring.x2;
            ring.flag3 = true;
        });
        let t4 = thread::spawn(move || {
            let ring = ring.lock().unwrap();
            if ring.flag1 && ring.flag2 && ring.flag3 {
                assert!(ring.x1 == ring.x2 && ring.x2 == ring.x3, "the ring's values disagree");
            }
        });
        for thread in [t1, t2, t3, t4] {
            thread.join().unwrap();
        }
    }
}
