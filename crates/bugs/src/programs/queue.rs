//! queue (SCTBench CS, `queue_bad.c`): a producer and a consumer take turns through two flags;
//! the consumer asserts that the element it dequeues in its round `i` is the `i`-th stored,
//! which fails once a round in which it was not its turn has gone by.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::thread;

    const SIZE: usize = 20;
    const EMPTY: i32 = -1;

    struct Queue {
        element: [i32; SIZE],
        head: usize,
        tail: usize,
        amount: usize,
        stored_elements: [i32; SIZE],
        enqueue_flag: bool,
        dequeue_flag: bool,
    }

    impl Queue {
        fn empty(&self) -> i32 {
            if self.head == self.tail { EMPTY } else { 0 }
        }

        fn enqueue(&mut self, x: i32) -> i32 {
            self.element[self.tail] = x;
            self.amount += 1;
            if self.tail == SIZE {
                self.tail = 1;
            } else {
                self.tail += 1;
            }
            0
        }

        fn dequeue(&mut self) -> i32 {
            let x = self.element[self.head];
            self.amount -= 1;
            if self.head == SIZE {
                self.head = 1;
            } else {
                self.head += 1;
            }
            x
        }
    }

    fn new_queue() -> Arc<Mutex<Queue>> {
        let queue = Queue {
            element: [0; SIZE],
            head: 0,
            tail: 0,
            amount: 0,
            stored_elements: [0; SIZE],
            enqueue_flag: true,
            dequeue_flag: false,
        };
        assert_eq!(queue.empty(), EMPTY);
        Arc::new(Mutex::new(queue))
    }

    /// The consumer compares with the element of its round number.
    pub fn bug() {
        let m = new_queue();
        let producer = Arc::clone(&m);
        let t1 = thread::spawn(move || {
            let mut value = 0;
            {
                let mut queue = producer.lock().unwrap();
                assert_eq!(queue.enqueue(value), 0);
                queue.stored_elements[0] = value;
                assert_eq!(queue.empty(), 0);
            }
            for i in 0..SIZE - 1 {
                let mut queue = producer.lock().unwrap();
                if queue.enqueue_flag {
                    value += 1;
                    queue.enqueue(value);
                    queue.stored_elements[i + 1] = value;
                    queue.enqueue_flag = false;
                    queue.dequeue_flag = true;
                }
            }
        });
        let t2 = thread::spawn(move || {
            for i in 0..SIZE {
                let mut queue = m.lock().unwrap();
                if queue.dequeue_flag {
                    let dequeued = queue.dequeue();
                    assert_eq!(dequeued, queue.stored_elements[i], "the element of round {i}");
                    queue.dequeue_flag = false;
                    queue.enqueue_flag = true;
                }
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
    }

    /// Each thread does all its work in one turn (`queue_ok.c`).
    pub fn fixed() {
        let m = new_queue();
        let producer = Arc::clone(&m);
        let t1 = thread::spawn(move || {
            let mut queue = producer.lock().unwrap();
            if queue.enqueue_flag {
                for (i, value) in (0..SIZE as i32).enumerate() {
                    queue.enqueue(value);
                    queue.stored_elements[i] = value;
                }
                queue.enqueue_flag = false;
                queue.dequeue_flag = true;
            }
        });
        let t2 = thread::spawn(move || {
            let mut queue = m.lock().unwrap();
            if queue.dequeue_flag {
                for i in 0..SIZE {
                    if queue.empty() != EMPTY {
                        let dequeued = queue.dequeue();
                        assert_eq!(dequeued, queue.stored_elements[i], "the element of round {i}");
                    }
                }
                queue.dequeue_flag = false;
                queue.enqueue_flag = true;
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
    }
}
