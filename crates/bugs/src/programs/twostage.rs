//! twostage and twostage_100 (SCTBench CS, `twostage_bad.c`, `twostage_100_bad.c`): writers
//! set `data1` under one lock and then `data2 = data1 + 1` under another; a reader that sees
//! `data1` set asserts that `data2` is `data1 + 1`, which fails between a writer's two
//! stages. twostage has 1 writer, twostage_100 has 99, and both 1 reader.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::sync::atomic::{AtomicI32, Ordering::SeqCst};
    use rt::thread;

    struct Data {
        /// `data1Value` is written under `data1Lock` but read without it by the writers'
        /// second stage: a racy plain variable, so an atomic.
        data1_lock: Mutex<()>,
        data1: AtomicI32,
        data2: Mutex<i32>,
    }

    fn stages(data: &Data, fixed: bool) {
        let data1_lock = data.data1_lock.lock().unwrap();
        data.data1.store(1, SeqCst);
        // The fix holds the first lock through the second stage.
        let data1_lock = if fixed {
            Some(data1_lock)
        } else {
            drop(data1_lock);
            None
        };
        let mut data2 = data.data2.lock().unwrap();
        *data2 = data.data1.load(SeqCst) + 1;
        drop(data2);
        drop(data1_lock);
    }

    fn read(data: &Data, fixed: bool) {
        let data1_lock = data.data1_lock.lock().unwrap();
        if data.data1.load(SeqCst) == 0 {
            return;
        }
        let t1 = data.data1.load(SeqCst);
        // The fix reads both under the first lock.
        let data1_lock = if fixed {
            Some(data1_lock)
        } else {
            drop(data1_lock);
            None
        };
        let t2 = *data.data2.lock().unwrap();
        drop(data1_lock);
        assert_eq!(t2, t1 + 1, "the reader came between the two stages");
    }

    fn twostage(writers: usize, fixed: bool) {
        let data = Arc::new(Data {
            data1_lock: Mutex::new(()),
            data1: AtomicI32::new(0),
            data2: Mutex::new(0),
        });
        let t_pool: Vec<_> = (0..writers)
            .map(|_| {
                let data = Arc::clone(&data);
                thread::spawn(move || stages(&data, fixed))
            })
            .collect();
        let reader = thread::spawn(move || read(&data, fixed));
        for writer in t_pool {
            writer.join().unwrap();
        }
        reader.join().unwrap();
    }

    /// One writer, one reader.
    pub fn bug() {
        twostage(1, false);
    }

    /// 99 writers, one reader.
    pub fn bug_100() {
        twostage(99, false);
    }

    /// One writer does both stages under the first lock, and the reader reads both under it.
    pub fn fixed() {
        twostage(1, true);
    }
}
