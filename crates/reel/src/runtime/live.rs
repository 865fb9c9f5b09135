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
