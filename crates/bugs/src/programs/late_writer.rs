//! late_writer: a writer does 99 steps of its own work, then sets a flag; a reader, whose only
//! step is one read, asserts that it never sees the flag set. The bug needs the reader's one
//! step after all of the writer's 100: a random walk, which flips a coin between the two at
//! every step, almost never gets there (about 2^-100), while a walk uniform over
//! interleavings puts the reader's step last once in about 101 tries, and PCT by giving the
//! reader the lower priority.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use rt::thread;

    /// The writer's steps before its write.
    const WORK_STEPS: usize = 99;

    /// The reader fails when it reads after the late write.
    pub fn bug() {
        let work = Arc::new(AtomicUsize::new(0));
        let flag = Arc::new(AtomicBool::new(false));
        let written = Arc::clone(&flag);
        let writer = thread::spawn(move || {
            for _ in 0..WORK_STEPS {
                work.fetch_add(1, SeqCst);
            }
            written.store(true, SeqCst);
        });
        let reader = thread::spawn(move || {
            assert!(!flag.load(SeqCst), "the reader ran after the late write");
        });
        writer.join().unwrap();
        reader.join().unwrap();
    }
}
