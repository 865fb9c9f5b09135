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
            WAITS_FOR[slot].store(0, Ordering::SeqCst);
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

/// What each live execution's kernel thread waits for: the generation holding the data it
/// wants, by the execution's slot in `LIVE`; 0 when it waits for nothing.
static WAITS_FOR: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

/// The slot in `LIVE` of a running generation.
fn slot_of(generation: u64) -> Option<usize> {
    LIVE[..SLOTS_USED.load(Ordering::Acquire)]
        .iter()
        .position(|slot| slot.load(Ordering::Acquire) == generation)
}

/// Whether following what `holder` waits for, and what that one waits for, comes back to
/// `generation` (the executions on the way can never go on), and `generation` is the
/// youngest of them: the one to give up, so that exactly one does.
fn must_give_up(generation: u64, holder: u64) -> bool {
    let mut next = holder;
    let mut youngest = generation;
    for _ in 0..SLOTS {
        if next == generation {
            return youngest == generation;
        }
        youngest = youngest.max(next);
        let Some(slot) = slot_of(next) else {
            return false;
        };
        next = WAITS_FOR[slot].load(Ordering::SeqCst);
        if next == 0 {
            return false;
        }
    }
    false
}

/// Source of the serial numbers that name a primitive on the shared path (never 0).
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// A serial number for a primitive, unique in the process: what an execution that shares
/// the primitive with another running one keys its own object id by (an address could be
/// reused by a new primitive once the old one is dropped).
pub(crate) fn new_serial() -> u64 {
    NEXT_SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// Exclusion between executions running at once on different kernel threads, for the data
/// of a primitive they share (a `static Mutex<T>`'s `T`). Each execution explores the
/// primitive with its own state (its object id is its own), so its lock protocol keeps its
/// own green threads apart, but not two executions: this does. An execution takes it when
/// one of its threads gets the primitive's data (a guard) and gives it back when its last
/// guard goes; another execution's thread that wants the data meanwhile waits, on its kernel
/// thread, for that execution to release it or to end (an execution that ended abandoned
/// its threads, which never touch the data again, so its hold is void).
///
/// Waiting blocks the waiting execution's kernel thread, so its other green threads cannot
/// run meanwhile: two executions that each hold a datum the other wants (which happens even
/// when the program nests its statics in one order, since each execution's threads run in
/// their own order) would wait forever. That cycle is found at once (`WAITS_FOR`) and ends
/// the youngest execution in it with a panic that says so; the others go on.
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

    /// Takes the data for the execution of `generation` (once more, if it holds it already),
    /// waiting while another running execution holds it.
    #[inline]
    pub(crate) fn acquire(&self, generation: u64) {
        if let Err(holder) = self.try_acquire(generation) {
            self.acquire_contended(generation, holder);
        }
    }

    /// Takes the data for the execution of `generation` if no other running execution holds
    /// it; `Err` with the one that does.
    #[inline]
    pub(crate) fn try_acquire(&self, generation: u64) -> Result<(), u64> {
        match self
            .holder
            .compare_exchange(0, generation, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {
                self.guards.store(1, Ordering::Relaxed);
                Ok(())
            }
            Err(holder) if holder == generation => {
                let guards = self.guards.load(Ordering::Relaxed);
                self.guards.store(guards + 1, Ordering::Relaxed);
                Ok(())
            }
            Err(holder) if !is_running(holder) => self.take_over(generation, holder),
            Err(holder) => Err(holder),
        }
    }

    /// The holder ended: its hold is void.
    #[cold]
    fn take_over(&self, generation: u64, holder: u64) -> Result<(), u64> {
        match self
            .holder
            .compare_exchange(holder, generation, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {
                self.guards.store(1, Ordering::Relaxed);
                Ok(())
            }
            Err(now) => Err(now),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_contended(&self, generation: u64, holder: u64) {
        // Waiting for another execution is not a stall of this one's program.
        super::watchdog::unwatched(|| self.wait_for_data(generation, holder));
    }

    /// Waits until the execution of `generation` holds the data (see `acquire_contended`).
    fn wait_for_data(&self, generation: u64, mut holder: u64) {
        let my_slot = slot_of(generation);
        let mut spins = 0u32;
        loop {
            if let Some(slot) = my_slot {
                WAITS_FOR[slot].store(holder, Ordering::SeqCst);
                if must_give_up(generation, holder) && self.cycle_stays(generation, holder) {
                    WAITS_FOR[slot].store(0, Ordering::SeqCst);
                    panic!(
                        "reel: two executions running at once on two kernel threads each hold \
                         the data of a primitive they share (a `static`) that the other waits \
                         for, and a waiting execution holds its whole kernel thread: neither can \
                         go on. This is not a deadlock of the program (each execution alone may \
                         be fine) but of running them side by side: explore them one after the \
                         other (--test-threads=1), or give each its own primitives"
                    );
                }
            }
            match self.try_acquire(generation) {
                Ok(()) => break,
                Err(now) => holder = now,
            }
            // Spin briefly, then sleep: the holder's kernel thread needs the CPU.
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
        if let Some(slot) = my_slot {
            WAITS_FOR[slot].store(0, Ordering::SeqCst);
        }
    }
    /// Whether a cycle of waits that [`must_give_up`] saw is still there a moment later,
    /// with the same holder. An execution that has just taken the data clears its own wait
    /// right after, and a cycle seen in between is not one: only a cycle that stays is.
    #[cold]
    fn cycle_stays(&self, generation: u64, holder: u64) -> bool {
        std::thread::sleep(std::time::Duration::from_millis(2));
        self.holder.load(Ordering::SeqCst) == holder && must_give_up(generation, holder)
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
