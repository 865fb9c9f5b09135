//! Which executions are running right now, across all kernel threads, so that a primitive
//! shared between two runtimes at once (two tests using one `static`) is caught instead of
//! silently losing mutual exclusion.
//!
//! Every execution gets a generation number and, while it runs, holds one slot of a fixed
//! table. A primitive remembers the generation that last used it; another execution may take
//! it over only when that generation is no longer in the table.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Executions that can run at once and still be checked; beyond this, sharing goes unchecked.
const SLOTS: usize = 1024;

static LIVE: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// One more than the highest slot ever claimed: lookups scan only this far.
static SLOTS_USED: AtomicUsize = AtomicUsize::new(0);
/// Source of generations; 0 is never handed out (it means "no generation"). Generations
/// have GENERATION_BITS bits (see `ObjectCell`): 2^40 executions, which no process reaches.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Bits of a generation, as an `ObjectCell` stores it.
pub(crate) const GENERATION_BITS: u32 = 40;

thread_local! {
    /// The slot this kernel thread used last, tried first next time.
    static HINT: Cell<usize> = const { Cell::new(0) };
}

/// An execution's claim on the table; released on drop, even when the execution panics.
#[derive(Debug)]
pub(crate) struct LiveExecution {
    generation: u64,
    slot: Option<usize>,
}

impl LiveExecution {
    /// A new generation, entered in the table.
    pub(crate) fn begin() -> LiveExecution {
        let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        assert!(
            generation < 1 << GENERATION_BITS,
            "reel: more than 2^40 executions in one process"
        );
        let hint = HINT.with(Cell::get);
        let slot = (hint..SLOTS).chain(0..hint).find(|&slot| {
            LIVE[slot]
                .compare_exchange(0, generation, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(slot) = slot {
            HINT.with(|hint| hint.set(slot));
            SLOTS_USED.fetch_max(slot + 1, Ordering::AcqRel);
        }
        LiveExecution { generation, slot }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

impl Drop for LiveExecution {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            LIVE[slot].store(0, Ordering::Release);
        }
    }
}

/// Whether the execution of `generation` is running now (on any kernel thread).
pub(crate) fn is_running(generation: u64) -> bool {
    generation != 0
        && LIVE[..SLOTS_USED.load(Ordering::Acquire)]
            .iter()
            .any(|slot| slot.load(Ordering::Acquire) == generation)
}

/// How long an execution waits for a primitive's data that an execution on another kernel
/// thread holds before it says why it is stuck.
const DATA_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Exclusion between executions running at once on different kernel threads, for the data
/// of a primitive they share (a `static Mutex<T>`'s `T`). Each execution explores the
/// primitive with its own state (its object id is its own), so its lock protocol keeps its
/// own green threads apart, but not two executions: this does. An execution takes it when
/// one of its threads gets the primitive's data (a guard) and gives it back when its last
/// guard goes; another execution's thread that wants the data meanwhile waits, on its kernel
/// thread, for that execution to release it or to end (an execution that ended abandoned
/// its threads, which never touch the data again, so its hold is void).
#[derive(Debug, Default)]
pub(crate) struct DataLock {
    /// The generation holding the data; 0 when free.
    holder: AtomicU64,
    /// Guards the holder has out; read and written only by the holder's kernel thread.
    guards: AtomicU64,
}

impl DataLock {
    pub(crate) const fn new() -> DataLock {
        DataLock {
            holder: AtomicU64::new(0),
            guards: AtomicU64::new(0),
        }
    }

    /// Takes the data for the execution of `generation` (once more, if it holds it already).
    #[inline]
    pub(crate) fn acquire(&self, generation: u64) {
        match self
            .holder
            .compare_exchange(0, generation, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => self.guards.store(1, Ordering::Relaxed),
            Err(holder) if holder == generation => {
                let guards = self.guards.load(Ordering::Relaxed);
                self.guards.store(guards + 1, Ordering::Relaxed);
            }
            Err(holder) => self.acquire_contended(generation, holder),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_contended(&self, generation: u64, mut holder: u64) {
        let started = std::time::Instant::now();
        loop {
            // A holder that ended abandoned its guards: its hold is void.
            let expected = if holder == 0 || !is_running(holder) {
                holder
            } else {
                assert!(
                    started.elapsed() < DATA_WAIT_LIMIT,
                    "reel: a primitive shared by two executions running at once on two kernel \
                     threads (a `static`) has been held by the other one for {} s: do they \
                     lock shared statics in opposite orders? Run them one after the other \
                     (--test-threads=1, or Checker::jobs(1))",
                    DATA_WAIT_LIMIT.as_secs()
                );
                std::thread::yield_now();
                holder = self.holder.load(Ordering::Relaxed);
                continue;
            };
            match self.holder.compare_exchange(
                expected,
                generation,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.guards.store(1, Ordering::Relaxed);
                    return;
                }
                Err(now) => holder = now,
            }
        }
    }

    /// Gives back one guard of the execution of `generation`.
    #[inline]
    pub(crate) fn release(&self, generation: u64) {
        if self.holder.load(Ordering::Relaxed) != generation {
            return; // Taken over after this execution ended (never while it runs).
        }
        let guards = self.guards.load(Ordering::Relaxed).saturating_sub(1);
        self.guards.store(guards, Ordering::Relaxed);
        if guards == 0 {
            self.holder.store(0, Ordering::Release);
        }
    }
}
