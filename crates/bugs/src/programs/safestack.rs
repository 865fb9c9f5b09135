//! safestack (SCTBench, `safestack/SafeStack.cpp`, Dmitry Vyukov's lock-free stack from the
//! Relacy examples): three threads each pop an index from a lock-free stack of three, write
//! their id into its item and assert that it is still theirs, then push it back, twice. An
//! ABA race on `head` can hand one index to two threads at once. Every field is an atomic of
//! the original (`Value` is a racy volatile), so every access is a step.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::atomic::{AtomicI32, Ordering::SeqCst};
    use rt::thread;

    const NUM_THREADS: i32 = 3;

    struct Item {
        value: AtomicI32,
        next: AtomicI32,
    }

    struct SafeStack {
        head: AtomicI32,
        count: AtomicI32,
        array: Vec<Item>,
    }

    impl SafeStack {
        fn new(push_count: i32) -> SafeStack {
            let array = (0..push_count)
                .map(|i| Item {
                    value: AtomicI32::new(0),
                    next: AtomicI32::new(if i + 1 < push_count { i + 1 } else { -1 }),
                })
                .collect();
            SafeStack { head: AtomicI32::new(0), count: AtomicI32::new(push_count), array }
        }

        fn item(&self, index: i32) -> &Item {
            &self.array[usize::try_from(index).expect("an index of the stack")]
        }

        fn pop(&self) -> i32 {
            while self.count.load(SeqCst) > 1 {
                let head1 = self.head.load(SeqCst);
                let next1 = self.item(head1).next.swap(-1, SeqCst);
                if next1 >= 0 {
                    if self.head.compare_exchange(head1, next1, SeqCst, SeqCst).is_ok() {
                        self.count.fetch_sub(1, SeqCst);
                        return head1;
                    }
                    self.item(head1).next.swap(next1, SeqCst);
                } else {
                    thread::yield_now();
                }
            }
            -1
        }

        fn push(&self, index: i32) {
            let mut head1 = self.head.load(SeqCst);
            loop {
                self.item(index).next.store(head1, SeqCst);
                match self.head.compare_exchange(head1, index, SeqCst, SeqCst) {
                    Ok(_) => break,
                    Err(current) => head1 = current,
                }
            }
            self.count.fetch_add(1, SeqCst);
        }
    }

    /// Three threads, two rounds each.
    pub fn bug() {
        let stack = Arc::new(SafeStack::new(3));
        let threads: Vec<_> = (0..NUM_THREADS)
            .map(|idx| {
                let stack = Arc::clone(&stack);
                thread::spawn(move || {
                    for _ in 0..2 {
                        let elem = loop {
                            let elem = stack.pop();
                            if elem >= 0 {
                                break elem;
                            }
                            thread::yield_now();
                        };
                        stack.item(elem).value.store(idx, SeqCst);
                        let value = stack.item(elem).value.load(SeqCst);
                        assert_eq!(value, idx, "two threads hold item {elem}");
                        stack.push(elem);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
