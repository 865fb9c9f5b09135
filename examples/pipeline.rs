//! A plain program on reel, recorded and replayed: a producer, two workers and a collector
//! joined by channels, where real time decides what happens (workers give up waiting after
//! a timeout; the producer sleeps between batches).
//!
//! Run it normally with `cargo run --release --example pipeline`. Record a run with
//! `REEL_RECORD=pipeline.reel cargo run --release --example pipeline`; replay it with
//! `REEL_REPLAY=pipeline.reel cargo run --release --example pipeline`: the replay prints the
//! same numbers, timeouts included, because which timeouts fired is in the trace. The
//! committed `traces/pipeline.reel` is such a recording.

use std::time::Duration;

use reel::sync::mpsc::{self, RecvTimeoutError};
use reel::sync::{Arc, Mutex};
use reel::thread;

/// Batches the producer sends.
const BATCHES: u64 = 4;
/// Items per batch.
const BATCH_ITEMS: u64 = 5;

fn main() {
    let (items, timeouts) = reel::run(|| {
        let (to_workers, from_producer) = mpsc::sync_channel::<u64>(2);
        let from_producer = Arc::new(Mutex::new(from_producer));
        let (to_collector, from_workers) = mpsc::channel::<(usize, u64)>();
        let timeouts = Arc::new(Mutex::new(0u64));

        let producer = thread::Builder::new()
            .name("producer".to_owned())
            .spawn(move || {
                for batch in 0..BATCHES {
                    for item in 0..BATCH_ITEMS {
                        to_workers
                            .send(batch * BATCH_ITEMS + item)
                            .expect("a worker is alive");
                    }
                    thread::sleep(Duration::from_millis(3));
                }
            })
            .expect("spawn the producer");

        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let from_producer = Arc::clone(&from_producer);
                let to_collector = to_collector.clone();
                let timeouts = Arc::clone(&timeouts);
                thread::Builder::new()
                    .name(format!("worker-{worker}"))
                    .spawn(move || {
                        loop {
                            let next = from_producer
                                .lock()
                                .expect("no worker panics")
                                .recv_timeout(Duration::from_micros(500));
                            match next {
                                Ok(item) => to_collector
                                    .send((worker, item * item))
                                    .expect("the collector is alive"),
                                Err(RecvTimeoutError::Timeout) => {
                                    *timeouts.lock().expect("no worker panics") += 1;
                                }
                                Err(RecvTimeoutError::Disconnected) => break,
                            }
                        }
                    })
                    .expect("spawn a worker")
            })
            .collect();
        drop(to_collector);

        let mut total = 0;
        let mut count = 0;
        for (_worker, square) in from_workers.iter() {
            total += square;
            count += 1;
        }
        producer.join().expect("the producer finishes");
        for worker in workers {
            worker.join().expect("the workers finish");
        }
        assert_eq!(count, BATCHES * BATCH_ITEMS, "every item was processed");
        let expected: u64 = (0..BATCHES * BATCH_ITEMS).map(|item| item * item).sum();
        assert_eq!(total, expected, "every square was collected");
        let timeouts = *timeouts.lock().expect("no worker panics");
        (count, timeouts)
    });
    println!("processed {items} items; the workers timed out waiting {timeouts} times");
}
