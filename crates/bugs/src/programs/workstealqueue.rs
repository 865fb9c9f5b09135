//! workstealqueue (SCTBench CHESS, `WorkStealQueue.cpp` with `BUG3`): the CHESS work-stealing
//! queue (the Cilk THE protocol). The owner pushes and pops 4 items at the tail without a lock;
//! a stealer takes from the head under the lock, twice. Each item must be processed exactly
//! once. With `BUG3`, Push lets the queue fill all its slots, so a push can overwrite the slot
//! a steal that has already moved `head` is about to read.
//!
//! `head`, `tail` and the slots are racy (atomics of the original, or plain memory read by
//! the stealer), so every access is a step; the mask is only written by the owner under the
//! lock and read by the owner or under the lock, so it is std's atomic, no step. The queue
//! keeps its slots in place and copies on a resize through a buffer, as the original copies
//! into a new array.

for_each_runtime! {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicIsize as PlainIsize, Ordering::Relaxed};

    use rt::sync::Mutex;
    use rt::sync::atomic::{AtomicI32, AtomicIsize, AtomicUsize, Ordering::SeqCst};
    use rt::thread;

    const MAX_SIZE: isize = 1024 * 1024;
    const INITIAL_SIZE: isize = 1024;
    /// The initial size (`INITQSIZE`).
    const INIT_Q_SIZE: isize = 2;
    /// The slots the port allocates (the original grows to at most 8 here).
    const SLOTS: usize = 16;
    const N_STEALERS: usize = 1;
    const N_ITEMS: usize = 4;
    const N_STEAL_ATTEMPTS: usize = 2;

    struct WorkStealQueue {
        lock: Mutex<()>,
        head: AtomicIsize,
        tail: AtomicIsize,
        elems: Vec<AtomicUsize>,
        mask: PlainIsize,
        fixed: bool,
    }

    impl WorkStealQueue {
        fn new(size: isize, fixed: bool) -> WorkStealQueue {
            WorkStealQueue {
                lock: Mutex::new(()),
                head: AtomicIsize::new(0),
                tail: AtomicIsize::new(0),
                elems: (0..SLOTS).map(|_| AtomicUsize::new(usize::MAX)).collect(),
                mask: PlainIsize::new(size - 1),
                fixed,
            }
        }

        fn slot(&self, index: isize) -> &AtomicUsize {
            let mask = self.mask.load(Relaxed);
            &self.elems[usize::try_from(index & mask).expect("a masked index is not negative")]
        }

        fn steal(&self) -> Option<usize> {
            let _lock = self.lock.lock().unwrap();
            let h = self.head.load(SeqCst);
            self.head.store(h + 1, SeqCst);
            if h < self.tail.load(SeqCst) {
                Some(self.slot(h).load(SeqCst))
            } else {
                self.head.store(h, SeqCst);
                None
            }
        }

        fn pop(&self) -> Option<usize> {
            let t = self.tail.load(SeqCst) - 1;
            self.tail.store(t, SeqCst);
            if self.head.load(SeqCst) <= t {
                Some(self.slot(t).load(SeqCst))
            } else {
                self.tail.store(t + 1, SeqCst);
                self.sync_pop()
            }
        }

        fn sync_pop(&self) -> Option<usize> {
            let _lock = self.lock.lock().unwrap();
            let t = self.tail.load(SeqCst) - 1;
            self.tail.store(t, SeqCst);
            let found = if self.head.load(SeqCst) <= t {
                Some(self.slot(t).load(SeqCst))
            } else {
                self.tail.store(t + 1, SeqCst);
                None
            };
            if self.head.load(SeqCst) > t {
                // Empty: reset head and tail.
                self.head.store(0, SeqCst);
                self.tail.store(0, SeqCst);
                return None;
            }
            found
        }

        fn push(&self, elem: usize) {
            let t = self.tail.load(SeqCst);
            let mask = self.mask.load(Relaxed);
            // Correct: one slot stays free for a steal that has moved `head` already.
            let free = if self.fixed { mask } else { mask + 1 };
            if t < self.head.load(SeqCst) + free && t < MAX_SIZE {
                self.slot(t).store(elem, SeqCst);
                self.tail.store(t + 1, SeqCst);
            } else {
                self.sync_push(elem);
            }
        }

        fn sync_push(&self, elem: usize) {
            let _lock = self.lock.lock().unwrap();
            let mask = self.mask.load(Relaxed);
            let mut h = self.head.load(SeqCst);
            let count = self.tail.load(SeqCst) - h;
            h &= mask;
            self.head.store(h, SeqCst);
            self.tail.store(h + count, SeqCst);
            if count >= mask {
                let new_size = if mask == 0 { INITIAL_SIZE } else { 2 * (mask + 1) };
                assert!(new_size < MAX_SIZE);
                assert!(new_size as usize <= SLOTS, "the port allocates {SLOTS} slots");
                let tasks: Vec<usize> = (0..count).map(|i| self.slot(h + i).load(SeqCst)).collect();
                for (slot, task) in self.elems.iter().zip(tasks) {
                    slot.store(task, SeqCst);
                }
                self.mask.store(new_size - 1, Relaxed);
                self.head.store(0, SeqCst);
                self.tail.store(count, SeqCst);
            }
            assert!(count < self.mask.load(Relaxed));
            let t = self.tail.load(SeqCst);
            self.slot(t).store(elem, SeqCst);
            self.tail.store(t + 1, SeqCst);
        }
    }

    /// `ObjType`: processed by `field++`, checked to be 1 at the end.
    fn operation(items: &[AtomicI32], item: usize) {
        let field = items[item].load(SeqCst);
        items[item].store(field + 1, SeqCst);
    }

    fn work_steal(fixed: bool) {
        let items: Arc<Vec<AtomicI32>> =
            Arc::new((0..N_ITEMS).map(|_| AtomicI32::new(0)).collect());
        let queue = Arc::new(WorkStealQueue::new(INIT_Q_SIZE, fixed));
        let stealers: Vec<_> = (0..N_STEALERS)
            .map(|_| {
                let (queue, items) = (Arc::clone(&queue), Arc::clone(&items));
                thread::spawn(move || {
                    for _ in 0..N_STEAL_ATTEMPTS {
                        if let Some(item) = queue.steal() {
                            operation(&items, item);
                        }
                    }
                })
            })
            .collect();
        for i in 0..N_ITEMS / 2 {
            queue.push(2 * i);
            queue.push(2 * i + 1);
            if let Some(item) = queue.pop() {
                operation(&items, item);
            }
        }
        for _ in 0..N_ITEMS / 2 {
            if let Some(item) = queue.pop() {
                operation(&items, item);
            }
        }
        for stealer in stealers {
            stealer.join().unwrap();
        }
        for (index, item) in items.iter().enumerate() {
            let processed = item.load(SeqCst);
            assert_eq!(processed, 1, "item {index} was processed {processed} times");
        }
    }

    /// `BUG3`: Push fills every slot.
    pub fn bug() {
        work_steal(false);
    }

    /// Push leaves one slot free.
    pub fn fixed() {
        work_steal(true);
    }
}
