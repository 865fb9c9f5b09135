//! `Barrier`, as `std::sync::Barrier`.

use std::fmt;

use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectKind, Op};

/// Lets `n` threads wait for each other; reusable round after round.
pub struct Barrier {
    object: ObjectCell,
    parties: usize,
}

/// Returned by [`Barrier::wait`]; exactly one thread per round is the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this thread was the round's leader (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` threads (0 behaves as 1, as std).
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            object: ObjectCell::new(),
            parties: n,
        }
    }

    /// Blocks until `n` threads have called `wait` in this round.
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        let location = std::panic::Location::caller();
        let object =
            execution::object_point(&self.object, ObjectKind::Barrier, Op::BarrierWait, location);
        let parties = self.parties;
        let arrival = execution::with(|execution| {
            let state = &mut execution.objects[object];
            state.count += 1;
            if state.count >= parties {
                state.count = 0;
                state.round += 1;
                execution.wake_all_waiters(object);
                None
            } else {
                let round = state.round;
                execution.enqueue_current(object);
                Some(round)
            }
        });
        let Some(round) = arrival else {
            return BarrierWaitResult(true);
        };
        loop {
            execution::block_at(Blocker::Barrier(object), None, location);
            let passed = execution::with(|execution| {
                let passed = execution.objects[object].round != round;
                if !passed {
                    execution.enqueue_current(object);
                }
                passed
            });
            if passed {
                return BarrierWaitResult(false);
            }
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .finish_non_exhaustive()
    }
}
