//! The runtime's one clock: virtual time under exploration, real time in a plain run.
//!
//! Nothing else in the runtime reads the time. A virtual clock starts at 0, moves
//! [`VIRTUAL_NANOS_PER_STEP`] at every scheduling step, and jumps to the earliest deadline
//! when every thread waits. So sleeps cost no real time, a timeout fires only after the other
//! threads had the steps that its duration stands for (a 10 ms timeout can race with 10,000
//! steps of work, a one-minute safety-net timeout practically never fires early), and all
//! time-dependent behaviour is a function of the schedule.

use std::time::{Duration, Instant};

/// Virtual or real time, in nanoseconds since the execution started.
#[derive(Clone, Debug)]
pub(crate) enum Clock {
    /// Time moves only when timers fire.
    Virtual { now_nanos: u64 },
    /// Wall-clock time since `origin`.
    Real { origin: Instant },
}

/// How far a virtual clock moves per scheduling step: a generous estimate of the real work
/// between two scheduling points.
pub(crate) const VIRTUAL_NANOS_PER_STEP: u64 = 1_000;

impl Clock {
    pub(crate) fn new_virtual() -> Clock {
        Clock::Virtual { now_nanos: 0 }
    }

    pub(crate) fn new_real() -> Clock {
        Clock::Real {
            origin: Instant::now(),
        }
    }

    pub(crate) fn now_nanos(&self) -> u64 {
        match self {
            Clock::Virtual { now_nanos } => *now_nanos,
            Clock::Real { origin } => {
                u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
            }
        }
    }

    /// One scheduling step passed.
    #[inline]
    pub(crate) fn tick(&mut self) {
        if let Clock::Virtual { now_nanos } = self {
            *now_nanos += VIRTUAL_NANOS_PER_STEP;
        }
    }

    /// The deadline `duration` from now, saturating.
    pub(crate) fn deadline_after(&self, duration: Duration) -> u64 {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.now_nanos().saturating_add(nanos)
    }

    /// Moves a virtual clock forward to `deadline` (never backwards); real time moves itself.
    pub(crate) fn advance_to(&mut self, deadline: u64) {
        if let Clock::Virtual { now_nanos } = self {
            *now_nanos = (*now_nanos).max(deadline);
        }
    }

    /// Nothing can run before `deadline`: jump there (virtual) or sleep the kernel thread
    /// until then (real; every green thread is blocked, so nothing else could use it).
    pub(crate) fn sleep_until(&mut self, deadline: u64) {
        match self {
            Clock::Virtual { now_nanos } => *now_nanos = (*now_nanos).max(deadline),
            Clock::Real { origin } => {
                let now = u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
                if deadline > now {
                    std::thread::sleep(Duration::from_nanos(deadline - now));
                }
            }
        }
    }
}
