//! circular_buffer (SCTBench CS, `circular_buffer_bad.c`): a sender and a receiver take turns
//! through two flags, each for 7 rounds; the receiver asserts that it reads the value of its
//! own round number, which fails once the rounds in which a thread found it was not its turn
//! make the two counts drift apart.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::thread;

    const BUFFER_MAX: usize = 10;
    const N: i32 = 7;
    const ERROR: i32 = -1;

    struct Log {
        buffer: [i32; BUFFER_MAX],
        first: usize,
        next: usize,
        buffer_size: usize,
        send: bool,
        receive: bool,
        /// The value last sent (the fixed version's receiver checks against it).
        value: i32,
    }

    impl Log {
        fn remove(&mut self) -> i32 {
            if self.next > 0 && self.first < self.buffer_size {
                self.first += 1;
                self.buffer[self.first - 1]
            } else {
                ERROR
            }
        }

        fn insert(&mut self, b: i32) -> i32 {
            if self.next < self.buffer_size && self.buffer_size > 0 {
                self.buffer[self.next] = b;
                self.next = (self.next + 1) % self.buffer_size;
                assert!(self.next < self.buffer_size);
                b
            } else {
                ERROR
            }
        }
    }

    fn circular_buffer(fixed: bool) {
        let m = Arc::new(Mutex::new(Log {
            buffer: [0; BUFFER_MAX],
            first: 0,
            next: 0,
            buffer_size: BUFFER_MAX,
            send: true,
            receive: false,
            value: 0,
        }));
        let sender = Arc::clone(&m);
        let t1 = thread::spawn(move || {
            for i in 0..N {
                let mut log = sender.lock().unwrap();
                if log.send {
                    log.insert(i);
                    log.value = i;
                    log.send = false;
                    log.receive = true;
                }
            }
        });
        let t2 = thread::spawn(move || {
            for i in 0..N {
                let mut log = m.lock().unwrap();
                if log.receive {
                    let expected = if fixed { log.value } else { i };
                    assert_eq!(log.remove(), expected, "the value received in round {i}");
                    log.receive = false;
                    log.send = true;
                }
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
    }

    /// The receiver expects the value of its own round.
    pub fn bug() {
        circular_buffer(false);
    }

    /// The receiver expects the value last sent (`circular_buffer_ok.c`).
    pub fn fixed() {
        circular_buffer(true);
    }
}
