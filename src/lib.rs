//! Bundled racy programs: three classic concurrency bugs, each with a buggy and a fixed version.
//!
//! Every scenario is a plain `fn()` written against [`reel::thread`] and [`reel::sync`] exactly
//! as it would be written against `std`; it panics with a message naming the bug when the bug
//! shows. Outside an explorer the bugs are rare; under [`reel::Checker`] they appear within a
//! few hundred schedules, while the fixed versions survive thousands.
//!
//! | module             | the bug                                            | failure    |
//! |--------------------|----------------------------------------------------|------------|
//! | [`lost_update`]    | a counter incremented with a load, then a store    | `Panic`    |
//! | [`lock_order`]     | two transfers lock two accounts in opposite orders | `Deadlock` |
//! | [`check_then_act`] | a balance checked under one guard, debited later   | `Panic`    |
//!
//! (The failures are [`reel::FailureKind`] variants; [`shutdown_race`] adds signal timing.)
//!
//! [`SCENARIOS`] lists them in that order for programs that walk all three, such as the
//! `find_the_bug` example and the end-to-end tests.
//!
//! ```
//! let report = reel::Checker::new()
//!     .random()
//!     .iterations(reel_suite::SEARCH_BUDGET)
//!     .run(reel_suite::lost_update::buggy);
//! assert!(report.found(), "reel should find the lost update");
//! println!("{report}");
//! ```

use reel::FailureKind;

/// How many schedules the examples and tests explore when hunting for a bug.
///
/// Each bundled bug is found well within this budget by both the random and the PCT strategy;
/// the budget is small on purpose, so that finding the bug is a claim about the explorer.
pub const SEARCH_BUDGET: usize = 300;

/// The depth (the `d` of PCT: at most `d - 1` priority changes) used when exploring with PCT.
///
/// Each bundled bug needs one well-placed priority change (a switch between a load and its store,
/// between two locks, or between a check and its act), which PCT depth 2 can make; depth 3
/// leaves room to spare.
pub const PCT_DEPTH: usize = 3;

/// One bundled racy program: its buggy version, its fix, and the failure the bug produces.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Short name; also the module and the example that explore it (`cargo run --example NAME`).
    pub name: &'static str,
    /// One line saying what goes wrong, printed above the scenario's report.
    pub headline: &'static str,
    /// The version with the bug; panics (or deadlocks) under some schedules.
    pub buggy: fn(),
    /// The corrected version; correct under every schedule.
    pub fixed: fn(),
    /// The kind of failure the buggy version produces when the bug shows.
    pub expected_failure: FailureKind,
    /// Text that the failure's message contains when the bug shows (empty for a deadlock,
    /// whose message is written by reel).
    pub message_contains: &'static str,
}

/// The three bundled scenarios, in the order the `find_the_bug` example runs them.
pub static SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "lost_update",
        headline: "Lost update: two threads increment a counter with load-then-store",
        buggy: lost_update::buggy,
        fixed: lost_update::fixed,
        expected_failure: FailureKind::Panic,
        message_contains: lost_update::BUG_MESSAGE,
    },
    Scenario {
        name: "lock_order",
        headline: "Lock-order deadlock: transfer(a, b) races transfer(b, a)",
        buggy: lock_order::buggy,
        fixed: lock_order::fixed,
        expected_failure: FailureKind::Deadlock,
        message_contains: "",
    },
    Scenario {
        name: "check_then_act",
        headline: "Check-then-act: a withdrawal checks the balance, drops the lock, then debits",
        buggy: check_then_act::buggy,
        fixed: check_then_act::fixed,
        expected_failure: FailureKind::Panic,
        message_contains: check_then_act::BUG_MESSAGE,
    },
];

pub mod lost_update {
    //! Lost update: a read-modify-write split into a separate load and store.
    //!
    //! Two threads each add [`INCREMENTS_PER_THREAD`] to a shared [`AtomicUsize`]. The buggy
    //! increment is `let seen = counter.load(); counter.store(seen + 1)`: each half is atomic
    //! but the pair is not, so when both threads load the same value one increment overwrites
    //! the other and the final count comes up short.
    //!
    //! With real threads the window is the few nanoseconds between the load and the store,
    //! and spawning a thread takes tens of microseconds, so the first thread has usually
    //! finished all its increments before the second one starts. Run with `std` threads on a
    //! two-core machine, this program passed 10,000 times out of 10,000. Under reel every
    //! atomic operation is a scheduling point, so a schedule that switches threads between the
    //! load and the store is one random choice away.

    use reel::sync::Arc;
    use reel::sync::atomic::{AtomicUsize, Ordering};
    use reel::thread;

    /// Number of threads that increment the counter.
    pub const THREADS: usize = 2;

    /// Number of increments each thread makes.
    pub const INCREMENTS_PER_THREAD: usize = 3;

    /// The start of the panic message when an update was lost.
    pub const BUG_MESSAGE: &str = "lost update";

    /// Buggy: increments with a separate `load` then `store`, so concurrent increments can be
    /// lost.
    ///
    /// # Panics
    /// When the final count is not `THREADS * INCREMENTS_PER_THREAD`, which some schedules
    /// produce.
    pub fn buggy() {
        count_with(increment_with_load_then_store);
    }

    /// Fixed: increments with `fetch_add`, one indivisible read-modify-write.
    ///
    /// # Panics
    /// Never, under any schedule.
    pub fn fixed() {
        count_with(increment_with_fetch_add);
    }

    fn increment_with_load_then_store(counter: &AtomicUsize) {
        let seen = counter.load(Ordering::SeqCst);
        // Another thread may increment here; this store then overwrites its work.
        counter.store(seen + 1, Ordering::SeqCst);
    }

    fn increment_with_fetch_add(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs `THREADS` threads that each call `increment` `INCREMENTS_PER_THREAD` times, then
    /// checks that no increment was lost.
    fn count_with(increment: fn(&AtomicUsize)) {
        let counter = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..THREADS)
            .map(|worker| {
                let counter = Arc::clone(&counter);
                thread::Builder::new()
                    .name(format!("incrementer-{worker}"))
                    .spawn(move || {
                        for _ in 0..INCREMENTS_PER_THREAD {
                            increment(&counter);
                        }
                    })
                    .expect("spawning an incrementer thread")
            })
            .collect();
        for worker in workers {
            worker.join().expect("an incrementer thread panicked");
        }

        let expected = THREADS * INCREMENTS_PER_THREAD;
        let counted = counter.load(Ordering::SeqCst);
        assert!(
            counted == expected,
            "{BUG_MESSAGE}: counter is {counted} after {expected} increments by {THREADS} \
             threads; {} increment(s) were overwritten between a load and its store",
            expected - counted,
        );
    }
}

pub mod lock_order {
    //! Lock-order deadlock: two transfers lock the same two accounts in opposite orders.
    //!
    //! The buggy transfer locks the account it debits, then the account it credits. A spawned
    //! thread runs `transfer(alice, bob)` while the main thread runs `transfer(bob, alice)`:
    //! if each takes its first lock before the other takes its second, each waits forever for
    //! the lock the other holds. The fix locks both accounts in one global order, lowest id
    //! first, so a cycle of waiters cannot form.
    //!
    //! With real threads both transfers must take their first lock inside the same short
    //! window (a handful of instructions between two `lock` calls), and starting a thread
    //! takes so long that the main thread's transfer is usually done before the spawned one
    //! begins: the program hangs only rarely, and never when someone is watching. Under reel
    //! every `lock` is a scheduling point, and a switch right after the first lock is an
    //! ordinary schedule.

    use reel::sync::{Arc, Mutex};
    use reel::thread;

    /// Balance each account starts with.
    pub const OPENING_BALANCE: u64 = 100;

    /// A bank account: an id that fixes its place in the lock order, and a locked balance.
    pub struct Account {
        id: usize,
        balance: Mutex<u64>,
    }

    impl Account {
        /// An account with the given id and opening balance.
        pub const fn new(id: usize, balance: u64) -> Account {
            Account {
                id,
                balance: Mutex::new(balance),
            }
        }

        /// The account's id; the fixed transfer locks accounts in increasing id order.
        pub fn id(&self) -> usize {
            self.id
        }

        /// The current balance.
        pub fn balance(&self) -> u64 {
            *self.balance.lock().expect("an account lock was poisoned")
        }
    }

    /// Buggy: two threads (a spawned one and main) transfer between the same two accounts in
    /// opposite directions, each locking the source account first.
    ///
    /// # Panics
    /// Never itself; some schedules deadlock, which reel reports as
    /// [`reel::FailureKind::Deadlock`]. Panics if money is created or destroyed, which no
    /// schedule does.
    pub fn buggy() {
        run_two_opposite_transfers(transfer_locking_source_first);
    }

    /// Fixed: the same transfers, each locking the account with the lower id first.
    ///
    /// # Panics
    /// Never; no schedule deadlocks.
    pub fn fixed() {
        run_two_opposite_transfers(transfer_locking_lower_id_first);
    }

    /// Locks `from` then `to`: deadlocks against a transfer in the opposite direction.
    fn transfer_locking_source_first(from: &Account, to: &Account, amount: u64) {
        let mut from_balance = from.balance.lock().expect("an account lock was poisoned");
        // A transfer the other way may lock `to` here and then wait for `from`.
        let mut to_balance = to.balance.lock().expect("an account lock was poisoned");
        move_money(&mut from_balance, &mut to_balance, amount);
    }

    /// Locks the account with the lower id first, whichever direction the money moves.
    fn transfer_locking_lower_id_first(from: &Account, to: &Account, amount: u64) {
        assert_ne!(from.id, to.id, "a transfer needs two different accounts");
        let (mut from_balance, mut to_balance) = if from.id < to.id {
            let from_balance = from.balance.lock().expect("an account lock was poisoned");
            let to_balance = to.balance.lock().expect("an account lock was poisoned");
            (from_balance, to_balance)
        } else {
            let to_balance = to.balance.lock().expect("an account lock was poisoned");
            let from_balance = from.balance.lock().expect("an account lock was poisoned");
            (from_balance, to_balance)
        };
        move_money(&mut from_balance, &mut to_balance, amount);
    }

    /// Moves up to `amount` (no more than the source holds) between two locked balances.
    fn move_money(from_balance: &mut u64, to_balance: &mut u64, amount: u64) {
        let moved = amount.min(*from_balance);
        *from_balance -= moved;
        *to_balance += moved;
    }

    /// Runs `transfer(alice, bob, 30)` on a spawned thread while the main thread runs
    /// `transfer(bob, alice, 50)`, then checks that the total is unchanged.
    ///
    /// The main thread does one transfer itself, rather than spawning a second thread and
    /// joining both, so that a lock-order cycle always contains every thread: reel reports it
    /// as a [`reel::FailureKind::Deadlock`] the moment it forms. (With a third thread still
    /// runnable, on its way to `join`, the same cycle is a `PartialDeadlock`.)
    fn run_two_opposite_transfers(transfer: fn(&Account, &Account, u64)) {
        let accounts = Arc::new([
            Account::new(0, OPENING_BALANCE),
            Account::new(1, OPENING_BALANCE),
        ]);
        let [alice, bob] = &*accounts;

        let alice_pays_bob = {
            let accounts = Arc::clone(&accounts);
            thread::Builder::new()
                .name("alice-pays-bob".to_string())
                .spawn(move || {
                    let [alice, bob] = &*accounts;
                    transfer(alice, bob, 30);
                })
                .expect("spawning a transfer thread")
        };
        transfer(bob, alice, 50);
        alice_pays_bob.join().expect("the transfer thread panicked");

        let total: u64 = accounts.iter().map(Account::balance).sum();
        assert_eq!(
            total,
            2 * OPENING_BALANCE,
            "transfers must neither create nor destroy money"
        );
    }
}

pub mod check_then_act {
    //! Check-then-act: a withdrawal checks the balance under one lock guard and debits under
    //! another.
    //!
    //! Two threads each withdraw [`WITHDRAWAL`] from an account holding [`OPENING_BALANCE`],
    //! which covers only one of them. The buggy withdrawal locks the balance, checks that it
    //! covers the amount, unlocks, then locks again to debit. Between the two guards the other
    //! withdrawal can pass the same check, so both are approved and the balance goes
    //! negative. Every access is under the mutex, so there is no data race for a sanitizer to
    //! see: the bug is that the check and the act are two critical sections, not one. The fix
    //! checks and debits under a single guard.
    //!
    //! With real threads the other withdrawal must run its check inside the gap between one
    //! `unlock` and the next `lock` on the same thread, typically well under a microsecond.
    //! Run with `std` threads on a two-core machine, this program passed 10,000 times out of
    //! 10,000; the overdraft is the kind of bug that shows up in production instead. Under reel
    //! the unlock and the lock are both scheduling points, so the switch that opens the gap
    //! is an ordinary schedule.

    use reel::sync::{Arc, Mutex};
    use reel::thread;

    /// Balance the account starts with.
    pub const OPENING_BALANCE: i64 = 100;

    /// Amount each of the two threads tries to withdraw; only one withdrawal fits.
    pub const WITHDRAWAL: i64 = 70;

    /// The start of the panic message when the account was overdrawn.
    pub const BUG_MESSAGE: &str = "overdrawn";

    /// Buggy: checks the balance and debits it under two separate lock guards.
    ///
    /// # Panics
    /// When both withdrawals are approved and the balance goes negative, which some schedules
    /// produce.
    pub fn buggy() {
        run_two_withdrawals(withdraw_check_then_act);
    }

    /// Fixed: checks the balance and debits it under one lock guard.
    ///
    /// # Panics
    /// Never, under any schedule.
    pub fn fixed() {
        run_two_withdrawals(withdraw_under_one_guard);
    }

    /// Returns whether the withdrawal was approved. The check and the debit are separate
    /// critical sections.
    fn withdraw_check_then_act(balance: &Mutex<i64>, amount: i64) -> bool {
        let covered = *balance.lock().expect("the balance lock was poisoned") >= amount;
        // The guard is gone: another withdrawal can pass the same check here.
        if !covered {
            return false;
        }
        *balance.lock().expect("the balance lock was poisoned") -= amount;
        true
    }

    /// Returns whether the withdrawal was approved. The check and the debit happen under the
    /// same guard.
    fn withdraw_under_one_guard(balance: &Mutex<i64>, amount: i64) -> bool {
        let mut balance = balance.lock().expect("the balance lock was poisoned");
        if *balance < amount {
            return false;
        }
        *balance -= amount;
        true
    }

    /// Runs two threads that each try to withdraw `WITHDRAWAL`, then checks that the account
    /// is not overdrawn and that the balance matches the approved withdrawals.
    fn run_two_withdrawals(withdraw: fn(&Mutex<i64>, i64) -> bool) {
        let balance = Arc::new(Mutex::new(OPENING_BALANCE));
        let withdrawers: Vec<_> = ["withdraw-at-atm", "withdraw-online"]
            .into_iter()
            .map(|name| {
                let balance = Arc::clone(&balance);
                thread::Builder::new()
                    .name(name.to_string())
                    .spawn(move || withdraw(&balance, WITHDRAWAL))
                    .expect("spawning a withdrawal thread")
            })
            .collect();
        let approved = withdrawers
            .into_iter()
            .map(|withdrawer| withdrawer.join().expect("a withdrawal thread panicked"))
            .filter(|&approved| approved)
            .count() as i64;

        let final_balance = *balance.lock().expect("the balance lock was poisoned");
        assert!(
            final_balance >= 0,
            "{BUG_MESSAGE}: balance is {final_balance} after {approved} withdrawals of \
             {WITHDRAWAL} from {OPENING_BALANCE} were approved; each checked the balance \
             before the other debited it"
        );
        assert_eq!(
            final_balance,
            OPENING_BALANCE - approved * WITHDRAWAL,
            "the balance must equal the opening balance minus the approved withdrawals"
        );
    }
}

pub mod shutdown_race {
    //! Shutdown race: a logger that, on SIGTERM, flushes what it has logged and stops.
    //!
    //! A writer thread appends [`RECORDS`] records to a log; a record counts once the log's
    //! index says so. A shutdown thread waits for SIGTERM ([`reel::signal::Signals`]), then
    //! flushes the indexed records and tells the writer to stop. The buggy writer appends a
    //! record under the log's lock but updates the index after releasing it: a SIGTERM whose
    //! flush comes between the two loses that record (written, never flushed). The fixed
    //! writer appends and indexes under one lock.
    //!
    //! The window is one scheduling step wide, and the signal must land in it: explored
    //! with [`reel::Checker::signal`], the arrival's step is a choice of the exploration,
    //! and reel finds the loss within a few hundred schedules.

    use reel::signal::{SIGTERM, Signals};
    use reel::sync::atomic::{AtomicUsize, Ordering};
    use reel::sync::{Arc, Mutex};
    use reel::thread;

    /// Records the writer appends.
    pub const RECORDS: usize = 4;

    /// The start of the panic message when a record was lost.
    pub const BUG_MESSAGE: &str = "a record was lost at shutdown";

    /// The log: records appended, how many count (the index), and whether it shut down.
    struct Log {
        records: Mutex<(Vec<usize>, bool)>,
        index: AtomicUsize,
    }

    /// Buggy: the index is updated after the lock is released.
    ///
    /// # Panics
    /// When a SIGTERM's flush comes between a record's write and its index update.
    pub fn buggy() {
        run(write_then_index);
    }

    /// Fixed: a record and its index are updated under one lock.
    ///
    /// # Panics
    /// Never, under any schedule or signal timing.
    pub fn fixed() {
        run(write_and_index);
    }

    /// Appends `record` unless the log shut down; false when it did.
    fn write_then_index(log: &Log, record: usize) -> bool {
        {
            let mut records = log.records.lock().unwrap();
            if records.1 {
                return false;
            }
            records.0.push(record);
        }
        // A flush here finds the record written but not counted.
        log.index.fetch_add(1, Ordering::SeqCst);
        true
    }

    fn write_and_index(log: &Log, record: usize) -> bool {
        let mut records = log.records.lock().unwrap();
        if records.1 {
            return false;
        }
        records.0.push(record);
        log.index.fetch_add(1, Ordering::SeqCst);
        true
    }

    fn run(write: fn(&Log, usize) -> bool) {
        let log = Arc::new(Log {
            records: Mutex::new((Vec::new(), false)),
            index: AtomicUsize::new(0),
        });
        let mut signals = Signals::new([SIGTERM]).expect("SIGTERM can be handled");
        let shutdown = {
            let log = Arc::clone(&log);
            thread::Builder::new()
                .name("shutdown".to_owned())
                .spawn(move || {
                    let signal = signals.forever().next();
                    assert_eq!(signal, Some(SIGTERM));
                    // Flush: what the index counts goes out; then no more writes.
                    let mut records = log.records.lock().unwrap();
                    records.1 = true;
                    let counted = log.index.load(Ordering::SeqCst);
                    records.0[..counted].to_vec()
                })
                .unwrap()
        };
        let writer = {
            let log = Arc::clone(&log);
            thread::Builder::new()
                .name("writer".to_owned())
                .spawn(move || {
                    for record in 0..RECORDS {
                        if !write(&log, record) {
                            break;
                        }
                    }
                })
                .unwrap()
        };
        writer.join().unwrap();
        let flushed = shutdown.join().unwrap();
        let written = log.records.lock().unwrap().0.len();
        assert!(
            flushed.len() == written,
            "{BUG_MESSAGE}: {written} written, {} flushed",
            flushed.len()
        );
    }
}

pub mod server;
