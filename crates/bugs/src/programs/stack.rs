//! stack (SCTBench CS, `stack_bad.c`): a pusher pushes 10 values and sets a flag; a popper
//! pops in each of its 10 rounds once the flag is set, and asserts that the stack is not
//! empty, which fails when it gets two rounds between two pushes.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::thread;

    const SIZE: usize = 10;
    const OVERFLOW: i32 = -1;
    const UNDERFLOW: i32 = -2;

    struct Stack {
        top: usize,
        arr: [u32; SIZE],
        flag: bool,
    }

    impl Stack {
        fn push(&mut self, x: u32) -> i32 {
            if self.top == SIZE {
                OVERFLOW
            } else {
                self.arr[self.top] = x;
                self.top += 1;
                0
            }
        }

        fn pop(&mut self) -> i32 {
            if self.top == 0 {
                UNDERFLOW
            } else {
                self.top -= 1;
                self.arr[self.top] as i32
            }
        }
    }

    fn stack(fixed: bool) {
        let m = Arc::new(Mutex::new(Stack { top: 0, arr: [0; SIZE], flag: false }));
        let pusher = Arc::clone(&m);
        let t1 = thread::spawn(move || {
            for i in 0..SIZE as u32 {
                let mut stack = pusher.lock().unwrap();
                assert_ne!(stack.push(i), OVERFLOW, "the stack overflowed");
                stack.flag = true;
            }
        });
        let t2 = thread::spawn(move || {
            for _ in 0..SIZE {
                let mut stack = m.lock().unwrap();
                if fixed {
                    if stack.top > 0 {
                        stack.pop();
                    }
                } else if stack.flag {
                    assert_ne!(stack.pop(), UNDERFLOW, "popped an empty stack");
                }
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
    }

    /// The popper trusts the flag.
    pub fn bug() {
        stack(false);
    }

    /// The popper pops only from a stack that is not empty (`stack_ok.c`).
    pub fn fixed() {
        stack(true);
    }
}
