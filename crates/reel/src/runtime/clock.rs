//! The runtime's one clock: virtual time under exploration, real time in a plain run.
//!
//! Nothing else in the runtime reads the time. A virtual clock starts at
//! [`VIRTUAL_START_NANOS`], moves [`VIRTUAL_NANOS_PER_STEP`] at every scheduling step, and
//! jumps to the earliest deadline when every thread waits. So sleeps cost no real time, a
//! timeout fires only after the other threads had the steps that its duration stands for (a
//! 10 ms timeout can race with 10,000 steps of work, a one-minute safety-net timeout
//! practically never fires early), and all time-dependent behaviour is a function of the
//! schedule. A real clock is the kernel's: `CLOCK_MONOTONIC`, which std's `Instant` reads, for
//! the timeline, and `CLOCK_REALTIME` for the system time.
//!
//! The timeline (the clock's nanoseconds) is what deadlines, `time::Instant` and the
//! monotonic readings of a trace count in.

use std::time::Duration;

use super::seams::ClockSource;

/// Virtual or real time, in nanoseconds on the execution's timeline.
#[derive(Clone, Debug)]
pub(crate) enum Clock {
    /// Time moves a little at each step, and jumps when every thread waits.
    Virtual { now_nanos: u64 },
    /// The kernel's monotonic clock (nanoseconds since boot, as std's `Instant`).
    Real,
}

/// How far a virtual clock moves per scheduling step: a generous estimate of the real work
/// between two scheduling points.
pub(crate) const VIRTUAL_NANOS_PER_STEP: u64 = 1_000;

/// Where a virtual timeline starts: a day after its zero, so that a program may go back from
/// its first `Instant` as it can from one taken a while after boot.
pub(crate) const VIRTUAL_START_NANOS: u64 = 86_400 * 1_000_000_000;

/// The system time at the start of a virtual timeline, in nanoseconds since the Unix epoch:
/// 2001-09-09T01:46:40Z (10^9 seconds), a recognisably made-up date.
pub(crate) const VIRTUAL_SYSTEM_START_NANOS: i64 = 1_000_000_000 * 1_000_000_000;

impl Clock {
    pub(crate) fn new_virtual() -> Clock {
        Clock::Virtual {
            now_nanos: VIRTUAL_START_NANOS,
        }
    }

    pub(crate) fn new_real() -> Clock {
        Clock::Real
    }

    /// The time on the timeline.
    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        match self {
            Clock::Virtual { now_nanos } => *now_nanos,
            Clock::Real => kernel_clock(libc::CLOCK_MONOTONIC).max(0) as u64,
        }
    }

    /// A reading of `source`: the timeline for the monotonic clock, nanoseconds since the
    /// Unix epoch for the system clock (a virtual one starts at
    /// [`VIRTUAL_SYSTEM_START_NANOS`] and moves with the timeline).
    #[inline]
    pub(crate) fn read(&self, source: ClockSource) -> i64 {
        match (self, source) {
            (_, ClockSource::Monotonic) => i64::try_from(self.now_nanos()).unwrap_or(i64::MAX),
            (Clock::Virtual { now_nanos }, ClockSource::System) => {
                let since_start = now_nanos.saturating_sub(VIRTUAL_START_NANOS);
                VIRTUAL_SYSTEM_START_NANOS
                    .saturating_add(i64::try_from(since_start).unwrap_or(i64::MAX))
            }
            (Clock::Real, ClockSource::System) => kernel_clock(libc::CLOCK_REALTIME),
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
            Clock::Real => {
                // A sleep may end early (a signal): sleep again until the deadline is past.
                loop {
                    let now = self.now_nanos();
                    if now >= deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_nanos(deadline - now));
                }
            }
        }
    }
}

/// Nanoseconds of a kernel clock (its seconds saturate past `i64::MAX` nanoseconds, in 2262).
#[inline]
fn kernel_clock(clock: libc::clockid_t) -> i64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec to write; CLOCK_MONOTONIC and CLOCK_REALTIME exist on
    // every Linux, so the call cannot fail (and `time` stays zero if it did).
    unsafe { libc::clock_gettime(clock, &mut time) };
    time.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(time.tv_nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_clock_reads_its_timeline_and_a_made_up_date() {
        let mut clock = Clock::new_virtual();
        assert_eq!(
            clock.read(ClockSource::Monotonic),
            VIRTUAL_START_NANOS as i64
        );
        assert_eq!(clock.read(ClockSource::System), VIRTUAL_SYSTEM_START_NANOS);
        clock.tick();
        clock.advance_to(VIRTUAL_START_NANOS + 5_000_000);
        assert_eq!(
            clock.read(ClockSource::System) - VIRTUAL_SYSTEM_START_NANOS,
            5_000_000
        );
        assert_eq!(clock.deadline_after(Duration::MAX), u64::MAX);
    }

    #[test]
    fn a_real_clock_reads_the_kernels_clocks() {
        let clock = Clock::new_real();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let read = clock.read(ClockSource::System);
        assert!(read >= before, "{read} < {before}");
        let first = clock.now_nanos();
        let second = clock.now_nanos();
        assert!(second >= first);
    }
}
