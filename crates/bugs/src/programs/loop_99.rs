//! loop_99: a bug behind 99 loop iterations. A thread counts 0 to 100 in a shared variable, one
//! store a step; another reads it once and asserts that it is not 99, so the read must fall
//! exactly between the 100th and the 101st store. A random walk gets there with probability
//! about 2^-100 and PCT needs a priority change point at that one step, while a walk uniform
//! over interleavings places the read at each of its 102 places alike.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use rt::thread;

    /// The value the reader must not see: reached after 99 iterations and overwritten at once.
    const BAD: usize = 99;

    /// The reader fails when it reads between the stores of 99 and 100.
    pub fn bug() {
        let counter = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&counter);
        let counter_thread = thread::spawn(move || {
            for i in 1..=BAD + 1 {
                written.store(i, SeqCst);
            }
        });
        let reader = thread::spawn(move || {
            assert_ne!(counter.load(SeqCst), BAD, "the reader saw the value behind 99 iterations");
        });
        counter_thread.join().unwrap();
        reader.join().unwrap();
    }
}
