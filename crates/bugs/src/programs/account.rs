//! account (SCTBench CS, `account_bad.c`): a checker asserts the wrong balance once both a
//! deposit and a withdrawal are done; main spawns the checker first, so it must run after
//! both others.
//!
//! The original's main joins no one and returns, which ends the process and every thread
//! with it. shuttle runs a thread whose handle was dropped to its end after main returns,
//! while reel abandons it as a process exit would; so that the program is the same on both
//! runtimes, main joins its threads here.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::thread;

    const X: i32 = 1;
    const Y: i32 = 2;
    const Z: i32 = 4;

    struct Account {
        balance: i32,
        deposit_done: bool,
        withdraw_done: bool,
    }

    fn account(expected: i32) {
        let m = Arc::new(Mutex::new(Account {
            balance: X,
            deposit_done: false,
            withdraw_done: false,
        }));
        let check = Arc::clone(&m);
        let checker = thread::spawn(move || {
            let account = check.lock().unwrap();
            if account.deposit_done && account.withdraw_done {
                assert_eq!(account.balance, expected, "the balance after both");
            }
        });
        let deposit = Arc::clone(&m);
        let depositor = thread::spawn(move || {
            let mut account = deposit.lock().unwrap();
            account.balance += Y;
            account.deposit_done = true;
        });
        let withdrawer = thread::spawn(move || {
            let mut account = m.lock().unwrap();
            account.balance -= Z;
            account.withdraw_done = true;
        });
        checker.join().unwrap();
        depositor.join().unwrap();
        withdrawer.join().unwrap();
    }

    /// The checker expects `(x - y) - z`: wrong once both are done.
    pub fn bug() {
        account((X - Y) - Z);
    }

    /// The checker expects `(x + y) - z` (`account_ok.c`).
    pub fn fixed() {
        account((X + Y) - Z);
    }
}
