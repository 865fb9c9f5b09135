//! The helper pool: a bounded set of kernel threads that run the calls a green thread cannot
//! make without blocking the runtime's one kernel thread (`task::spawn_blocking`, host-name
//! resolution, file operations without io_uring). A job tells the driver it finished through
//! the driver's waker; the green thread that submitted it waits on the job's object.
//!
//! Threads start when jobs come and none is idle, up to the pool's size; further jobs queue.
//! When the pool is dropped (its execution ended), idle threads exit and busy ones exit after
//! their job; a job's result then has nobody to go to and is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// A job for a helper thread.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// A bounded pool of helper kernel threads.
pub(crate) struct HelperPool {
    sender: Sender<Job>,
    receiver: Arc<Mutex<Receiver<Job>>>,
    /// Threads started so far.
    started: usize,
    /// Threads waiting for a job.
    idle: Arc<AtomicUsize>,
    /// Jobs sent and not yet taken by a helper thread.
    queued: Arc<AtomicUsize>,
    /// The most threads the pool starts.
    size: usize,
}

impl HelperPool {
    /// A pool of at most `size` threads (none started yet).
    pub(crate) fn new(size: usize) -> HelperPool {
        assert!(size > 0, "a helper pool has at least one thread");
        let (sender, receiver) = channel();
        HelperPool {
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
            started: 0,
            idle: Arc::new(AtomicUsize::new(0)),
            queued: Arc::new(AtomicUsize::new(0)),
            size,
        }
    }

    /// Runs `job` on a helper thread, starting one if none is idle and the pool has room.
    pub(crate) fn submit(&mut self, job: Job) -> std::io::Result<()> {
        // An idle thread may already be promised to a job sent before this one (and may
        // block in it for long): start a thread unless enough are idle for all of them.
        let waiting = self.queued.fetch_add(1, Ordering::AcqRel) + 1;
        if self.idle.load(Ordering::Acquire) < waiting && self.started < self.size {
            let receiver = Arc::clone(&self.receiver);
            let idle = Arc::clone(&self.idle);
            let queued = Arc::clone(&self.queued);
            let spawned = std::thread::Builder::new()
                .name(format!("reel-helper-{}", self.started))
                .spawn(move || helper_loop(&receiver, &idle, &queued));
            if let Err(error) = spawned {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                return Err(error);
            }
            self.started += 1;
        }
        self.sender.send(job).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            std::io::Error::other("the helper pool has stopped")
        })
    }

    /// Threads started so far.
    #[cfg(test)]
    pub(crate) fn started(&self) -> usize {
        self.started
    }
}

/// A helper thread: runs jobs until the pool is dropped.
fn helper_loop(receiver: &Mutex<Receiver<Job>>, idle: &AtomicUsize, queued: &AtomicUsize) {
    loop {
        idle.fetch_add(1, Ordering::AcqRel);
        let job = {
            let receiver = receiver
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            receiver.recv()
        };
        // Idle first, then queued: meanwhile a submitter sees too few idle threads (and may
        // start one more), never too many.
        idle.fetch_sub(1, Ordering::AcqRel);
        match job {
            Ok(job) => {
                queued.fetch_sub(1, Ordering::AcqRel);
                job();
            }
            Err(_) => return, // The pool is gone.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_starts_no_more_threads_than_its_size() {
        let mut pool = HelperPool::new(2);
        let (done, finished) = channel();
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        for job in 0..5 {
            let done = done.clone();
            let gate = Arc::clone(&gate);
            pool.submit(Box::new(move || {
                drop(gate.lock());
                done.send(job).unwrap();
            }))
            .unwrap();
        }
        assert_eq!(pool.started(), 2);
        drop(held);
        let mut seen: Vec<i32> = (0..5).map(|_| finished.recv().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
    }
}
