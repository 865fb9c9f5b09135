//! carter01 (SCTBench CS, `carter01_bad.c`, from Inspect's examples): two classes of
//! operation; the first of a class to enter takes lock `l` while holding `m`, and the last to
//! leave releases it under `m`. A thread of class A holds `l` and needs `m` to leave while a
//! thread of class B holds `m` and waits for `l`: a deadlock. Two more threads do nothing, as
//! in the original.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::thread;

    struct Counts {
        a: i32,
        b: i32,
    }

    struct Locks {
        m: Mutex<Counts>,
        l: Mutex<()>,
    }

    /// The count of class A (`class_a`) or B.
    fn count(counts: &mut Counts, class_a: bool) -> &mut i32 {
        if class_a { &mut counts.a } else { &mut counts.b }
    }

    /// One operation of class A (`class_a`) or B: enter, work, leave.
    fn operation(locks: &Locks, class_a: bool, fixed: bool) {
        let held = {
            let mut counts = locks.m.lock().unwrap();
            *count(&mut counts, class_a) += 1;
            if *count(&mut counts, class_a) == 1 {
                if fixed {
                    // The fix waits for `l` without holding `m`.
                    drop(counts);
                    Some(locks.l.lock().unwrap())
                } else {
                    Some(locks.l.lock().unwrap())
                }
            } else {
                None
            }
        };
        // Perform the class's operation.
        let mut counts = locks.m.lock().unwrap();
        *count(&mut counts, class_a) -= 1;
        if *count(&mut counts, class_a) == 0 {
            drop(held);
        }
    }

    fn carter(fixed: bool) {
        let locks = Arc::new(Locks {
            m: Mutex::new(Counts { a: 0, b: 0 }),
            l: Mutex::new(()),
        });
        let for_a = Arc::clone(&locks);
        let a1 = thread::spawn(move || operation(&for_a, true, fixed));
        let b1 = thread::spawn(move || operation(&locks, false, fixed));
        let a2 = thread::spawn(|| {});
        let b2 = thread::spawn(|| {});
        a1.join().unwrap();
        b1.join().unwrap();
        a2.join().unwrap();
        b2.join().unwrap();
    }

    /// The first of a class waits for `l` while holding `m`.
    pub fn bug() {
        carter(false);
    }

    /// The first of a class lets go of `m` before it waits for `l`.
    pub fn fixed() {
        carter(true);
    }
}
