//! lazy01 (SCTBench CS, `lazy01_bad.c`): two threads add 1 and 2 to a counter under a lock; a
//! third asserts that the counter has not reached 3, which fails when it runs last.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::thread;

    /// The third thread's assertion fails when both others ran before it.
    pub fn bug() {
        let data = Arc::new(Mutex::new(0));
        let (one, two) = (Arc::clone(&data), Arc::clone(&data));
        let t1 = thread::spawn(move || *one.lock().unwrap() += 1);
        let t2 = thread::spawn(move || *two.lock().unwrap() += 2);
        let t3 = thread::spawn(move || {
            let data = data.lock().unwrap();
            assert!(*data < 3, "both additions came first");
        });
        t1.join().unwrap();
        t2.join().unwrap();
        t3.join().unwrap();
    }
}
