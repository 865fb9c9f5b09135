//! The parts of `std::sync` and `std::thread` that code ported by an import swap relies on:
//! `Once::wait`, `OnceLock`'s traits, `LazyLock`'s mutable access, `RwLockWriteGuard::downgrade`,
//! a covariant read guard, a dropped `Receiver` dropping its messages, thread names with NUL,
//! and the niche in `ThreadId`. Each blocking one is also explored.

use std::panic::{self, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};

use reel::FailureKind;
use reel::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use reel::sync::mpsc::{self, TryRecvError};
use reel::sync::{Arc, LazyLock, Once, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use reel::thread::{self, ThreadId};

/// Explores `f` with spawned threads' panics going to their join handles, as in std, and
/// fails the test on any failure found.
fn explore(iterations: usize, f: impl Fn() + Sync) {
    let report = reel::Checker::new()
        .iterations(iterations)
        .allow_thread_panics(true)
        .run(f);
    assert!(!report.found(), "{report}");
}

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn once_wait_returns_only_after_another_thread_completed_the_once() {
    let body = || {
        let once = Arc::new(Once::new());
        let initialised = Arc::new(AtomicBool::new(false));
        let waiter = {
            let once = once.clone();
            let initialised = initialised.clone();
            thread::spawn(move || {
                once.wait();
                assert!(
                    initialised.load(Ordering::SeqCst),
                    "wait returned before completion"
                );
                assert!(once.is_completed());
            })
        };
        once.call_once(|| initialised.store(true, Ordering::SeqCst));
        waiter.join().unwrap();
        // On a completed Once, both return at once.
        once.wait();
        once.wait_force();
    };
    reel::check_random(body, 200);
    reel::check_dfs(body, None);
}

#[test]
fn once_wait_panics_on_poison_whether_it_came_before_or_during_the_wait() {
    explore(200, || {
        let once = Arc::new(Once::new());
        let waiter = {
            let once = once.clone();
            thread::spawn(move || once.wait())
        };
        let init = {
            let once = once.clone();
            thread::spawn(move || once.call_once(|| panic!("the initialiser fails")))
        };
        assert!(init.join().is_err());
        let payload = waiter.join().expect_err("wait on a poisoned Once panics");
        assert_eq!(
            panic_text(&*payload),
            "Once instance has previously been poisoned"
        );
    });
}

#[test]
fn once_wait_force_outlasts_a_panicking_initialiser_until_one_completes() {
    let body = || {
        let once = Arc::new(Once::new());
        let waiter = {
            let once = once.clone();
            thread::spawn(move || {
                once.wait_force();
                assert!(once.is_completed());
            })
        };
        let init = {
            let once = once.clone();
            thread::spawn(move || once.call_once(|| panic!("the first initialiser fails")))
        };
        assert!(init.join().is_err());
        let mut saw_poison = false;
        once.call_once_force(|state| saw_poison = state.is_poisoned());
        assert!(saw_poison);
        waiter.join().unwrap();
    };
    explore(200, body);
}

#[test]
fn once_wait_with_nobody_to_complete_it_is_a_deadlock() {
    let report = reel::Checker::new().iterations(5).run(|| {
        let once = Once::new();
        once.wait();
    });
    let failure = report.failure.as_ref().expect("a deadlock is found");
    assert_eq!(failure.kind, FailureKind::Deadlock, "{report}");
    assert!(report.to_string().contains("wait for Once"), "{report}");
}

#[test]
fn once_lock_wait_sees_the_value_another_thread_set() {
    let body = || {
        let cell = Arc::new(OnceLock::new());
        let waiter = {
            let cell = cell.clone();
            thread::spawn(move || *cell.wait())
        };
        assert!(cell.set(92).is_ok());
        assert_eq!(waiter.join().unwrap(), 92);
        assert_eq!(cell.wait(), &92);
    };
    reel::check_random(body, 200);
    reel::check_dfs(body, None);
}

#[test]
fn once_lock_from_clone_eq_and_debug_follow_std() {
    // std's own behaviour, side by side with reel's.
    let std_cell = std::sync::OnceLock::from(3);
    let std_empty = std::sync::OnceLock::<i32>::new();
    reel::run(|| {
        let cell = OnceLock::from(3);
        assert_eq!(cell.get(), Some(&3));
        assert!(cell.set(4).is_err());
        let empty = OnceLock::<i32>::new();
        let other = OnceLock::new();
        assert!(other.set(3).is_ok());
        assert_eq!(cell, other);
        assert_ne!(cell, empty);
        assert_eq!(empty, OnceLock::default());
        let copy = cell.clone();
        assert_eq!(copy.get(), Some(&3));
        assert_eq!(empty.clone().get(), None);
        assert_eq!(format!("{cell:?}"), format!("{std_cell:?}"));
        assert_eq!(format!("{empty:?}"), format!("{std_empty:?}"));
        assert_eq!(format!("{cell:?}"), "OnceLock(3)");
    });
    // Made and compared outside any runtime too: no scheduling point is needed there.
    let cell = OnceLock::from(String::from("x"));
    assert_eq!(cell.clone(), cell);
    assert_eq!(cell.into_inner().as_deref(), Some("x"));
}

fn assert_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

#[test]
fn once_lock_and_lazy_lock_are_unwind_safe_as_in_std() {
    assert_unwind_safe::<OnceLock<i32>>();
    assert_unwind_safe::<LazyLock<i32>>();
    assert_unwind_safe::<std::sync::OnceLock<i32>>();
}

#[test]
fn lazy_lock_force_mut_get_mut_and_deref_mut_follow_std() {
    reel::run(|| {
        let mut lazy = LazyLock::new(|| 92);
        assert_eq!(LazyLock::get(&lazy), None);
        assert_eq!(LazyLock::get_mut(&mut lazy), None);
        assert_eq!(format!("{lazy:?}"), "LazyLock(<uninit>)");
        let value = LazyLock::force_mut(&mut lazy);
        assert_eq!(*value, 92);
        *value = 44;
        assert_eq!(*lazy, 44);
        *lazy += 1;
        assert_eq!(LazyLock::get(&lazy), Some(&45));
        *LazyLock::get_mut(&mut lazy).unwrap() = 7;
        assert_eq!(format!("{lazy:?}"), "LazyLock(7)");

        // Deref after a forced shared access, then mutable access to the same value.
        let mut shared = LazyLock::new(|| String::from("a"));
        assert_eq!(LazyLock::force(&shared), "a");
        shared.push('b');
        assert_eq!(&*shared, "ab");
    });
    // force_mut needs no runtime: the exclusive borrow rules out other threads.
    let mut lazy = LazyLock::new(|| vec![1]);
    LazyLock::force_mut(&mut lazy).push(2);
    assert_eq!(LazyLock::get_mut(&mut lazy).map(|v| v.len()), Some(2));
}

#[test]
fn lazy_lock_force_mut_poisons_on_a_panicking_initialiser() {
    reel::run(|| {
        let mut lazy: LazyLock<i32> = LazyLock::new(|| panic!("no value"));
        let first = panic::catch_unwind(AssertUnwindSafe(|| *LazyLock::force_mut(&mut lazy)));
        assert_eq!(panic_text(&*first.unwrap_err()), "no value");
        let again = panic::catch_unwind(AssertUnwindSafe(|| *LazyLock::force_mut(&mut lazy)));
        assert_eq!(
            panic_text(&*again.unwrap_err()),
            "LazyLock instance has previously been poisoned"
        );
        assert_eq!(LazyLock::get_mut(&mut lazy), None);
    });
}

#[test]
fn downgrade_lets_no_writer_in_between() {
    // std's documentation example: the writer waiting on the lock cannot change the data
    // between the downgrade and the read after it.
    let body = || {
        let lock = Arc::new(RwLock::new(1));
        let mut main_write = lock.write().unwrap();
        let evil = {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut evil_guard = lock.write().unwrap();
                assert_eq!(*evil_guard, 2);
                *evil_guard = 3;
            })
        };
        *main_write = 2;
        thread::yield_now();
        let main_read = RwLockWriteGuard::downgrade(main_write);
        thread::yield_now();
        assert_eq!(*main_read, 2, "downgrade was not atomic");
        drop(main_read);
        evil.join().unwrap();
        assert_eq!(*lock.read().unwrap(), 3);
    };
    reel::check_random(body, 300);
    reel::check_dfs(body, None);
}

#[test]
fn downgrade_lets_waiting_readers_in_beside_the_downgraded_reader() {
    let body = || {
        let lock = Arc::new(RwLock::new(0));
        let (sender, receiver) = mpsc::channel();
        let mut write = lock.write().unwrap();
        let reader = {
            let lock = lock.clone();
            thread::spawn(move || sender.send(*lock.read().unwrap()).unwrap())
        };
        thread::yield_now();
        *write = 5;
        let read = RwLockWriteGuard::downgrade(write);
        // The reader gets in while this thread still holds its read lock.
        assert_eq!(receiver.recv().unwrap(), 5);
        assert_eq!(*read, 5);
        assert!(lock.try_write().is_err(), "a read lock is still held");
        drop(read);
        reader.join().unwrap();
        assert!(lock.try_write().is_ok());
    };
    reel::check_random(body, 200);
    reel::check_dfs(body, None);
}

#[test]
fn a_downgraded_guard_keeps_the_poison_of_its_lock() {
    reel::run(|| {
        let lock = Arc::new(RwLock::new(0));
        {
            let lock = lock.clone();
            let _ = thread::spawn(move || {
                let _guard = lock.write().unwrap();
                panic!("poisons the lock");
            })
            .join();
        }
        let write = lock.write().unwrap_err().into_inner();
        let read = RwLockWriteGuard::downgrade(write);
        assert_eq!(*read, 0);
        assert!(lock.is_poisoned());
        drop(read);
        assert!(lock.try_read().is_err(), "still poisoned");
    });
}

/// Compiles only if `RwLockReadGuard` is covariant in `T` (and in its lifetime), as std's.
#[allow(dead_code)]
fn shorten_the_data_lifetime<'short, 'long: 'short>(
    guard: RwLockReadGuard<'long, &'long str>,
) -> RwLockReadGuard<'short, &'short str> {
    guard
}

#[test]
fn read_guard_is_covariant_in_its_data() {
    reel::run(|| {
        let lock = RwLock::new("static text");
        let shortened = shorten_the_data_lifetime(lock.read().unwrap());
        let local = String::from("local text");
        let mut texts: Vec<&str> = vec![&local];
        texts.push(*shortened);
        assert_eq!(texts, ["local text", "static text"]);
    });
}

/// Counts the values dropped.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_receiver_drops_queued_messages_while_senders_live() {
    let body = || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (sender, receiver) = mpsc::channel();
        for _ in 0..3 {
            sender.send(Counted(drops.clone())).unwrap();
        }
        let other = sender.clone();
        let late = {
            let drops = drops.clone();
            // Queued before the drop (then dropped with the others), or refused after it
            // (then dropped in this thread): counted once either way.
            thread::spawn(move || other.send(Counted(drops)).is_ok())
        };
        drop(receiver);
        // The queued messages went with the receiver, though two senders are alive.
        assert!(drops.load(Ordering::SeqCst) >= 3);
        late.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        // A send after the drop fails and hands the message back, as std's does.
        let returned = sender.send(Counted(drops.clone())).unwrap_err().0;
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        drop(returned);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    };
    reel::check_random(body, 200);
}

#[test]
fn dropping_the_receiver_of_a_bounded_channel_drops_its_messages_and_fails_blocked_senders() {
    let body = || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (sender, receiver) = mpsc::sync_channel(2);
        sender.send(Counted(drops.clone())).unwrap();
        sender.send(Counted(drops.clone())).unwrap();
        let blocked = {
            let sender = sender.clone();
            let drops = drops.clone();
            // The channel is full: this waits for room, until the receiver goes.
            thread::spawn(move || sender.send(Counted(drops)).is_err())
        };
        thread::yield_now();
        drop(receiver);
        assert!(
            blocked.join().unwrap(),
            "a send blocked on a full channel fails"
        );
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert!(sender.try_send(Counted(drops.clone())).is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    };
    reel::check_random(body, 200);
    reel::check_dfs(body, None);
}

#[test]
fn a_rendezvous_sender_gets_its_message_back_when_the_receiver_goes() {
    let body = || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (sender, receiver) = mpsc::sync_channel(0);
        let sending = {
            let drops = drops.clone();
            thread::spawn(move || match sender.send(Counted(drops.clone())) {
                Ok(()) => false,
                Err(returned) => {
                    // Not dropped while the sender waited: it is handed back.
                    assert_eq!(drops.load(Ordering::SeqCst), 0);
                    drop(returned);
                    true
                }
            })
        };
        thread::yield_now();
        drop(receiver);
        assert!(sending.join().unwrap());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    };
    reel::check_random(body, 200);
    reel::check_dfs(body, None);
}

#[test]
fn a_message_received_before_the_drop_is_kept() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        sender.send(1).unwrap();
        sender.send(2).unwrap();
        assert_eq!(receiver.recv().unwrap(), 1);
        drop(receiver);
        assert!(sender.send(3).is_err());
    });
    // A receiver of a channel that never left its runtime is dropped outside one.
    let (sender, receiver) = reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        sender.send(String::from("kept")).unwrap();
        (sender, receiver)
    });
    drop(receiver);
    drop(sender);
    assert!(matches!(
        reel::run(|| {
            let (sender, receiver) = mpsc::channel::<i32>();
            drop(sender);
            receiver.try_recv()
        }),
        Err(TryRecvError::Disconnected)
    ));
}

#[test]
fn a_thread_name_with_a_nul_byte_panics_at_spawn_as_in_std() {
    let std_panic = std::thread::spawn(|| {
        std::thread::Builder::new()
            .name(String::from("a\0b"))
            .spawn(|| {})
    })
    .join()
    .expect_err("std panics");
    reel::run(|| {
        let outcome = panic::catch_unwind(|| {
            thread::Builder::new()
                .name(String::from("a\0b"))
                .spawn(|| {})
        });
        let payload = outcome.expect_err("spawn panics");
        assert_eq!(panic_text(&*payload), panic_text(&*std_panic));
        assert_eq!(
            panic_text(&*payload),
            "thread name may not contain interior null bytes: NulError(1, [97, 0, 98])"
        );
        // Scoped spawns refuse it too; a name without NUL is fine.
        thread::scope(|scope| {
            let scoped = panic::catch_unwind(AssertUnwindSafe(|| {
                thread::Builder::new()
                    .name(String::from("\0"))
                    .spawn_scoped(scope, || {})
            }));
            assert!(scoped.is_err());
        });
        let named = thread::Builder::new()
            .name(String::from("fine"))
            .spawn(|| thread::current().name().map(str::to_owned))
            .unwrap();
        assert_eq!(named.join().unwrap().as_deref(), Some("fine"));
    });
}

#[test]
fn option_of_thread_id_is_the_size_of_a_thread_id() {
    assert_eq!(
        std::mem::size_of::<Option<ThreadId>>(),
        std::mem::size_of::<ThreadId>()
    );
    assert_eq!(
        std::mem::size_of::<Option<std::thread::ThreadId>>(),
        std::mem::size_of::<std::thread::ThreadId>()
    );
    reel::run(|| {
        let main = thread::current().id();
        let spawned = thread::spawn(|| thread::current().id()).join().unwrap();
        assert_ne!(main, spawned);
        assert_eq!(main.index(), 0);
        assert_eq!(spawned.index(), 1);
        assert_eq!(main.as_u64().get(), 1);
        assert_eq!(format!("{main:?} {spawned}"), "ThreadId(0) T1");
        assert!(main < spawned);
    });
}

fn assert_sync<T: Sync>() {}

#[test]
fn guards_are_sync_when_their_data_is_as_in_std() {
    // Their `!Send` is checked by the `compile_fail` examples on the guard types.
    assert_sync::<reel::sync::MutexGuard<'static, i32>>();
    assert_sync::<RwLockReadGuard<'static, i32>>();
    assert_sync::<RwLockWriteGuard<'static, i32>>();
}
