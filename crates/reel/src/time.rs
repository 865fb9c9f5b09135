//! Time, as `std::time`, from the runtime's one clock: every read is a scheduling point and
//! an input. In a plain run it reads the kernel's clocks (as std does) and a recording keeps
//! each reading; a replay reads them back from the trace, so a replayed program sees the
//! times the recorded one saw; under exploration the clock is virtual, a function of the
//! schedule (it moves a microsecond per step and jumps to the next deadline when every thread
//! waits).
//!
//! ```
//! use reel::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
//!
//! reel::run(|| {
//!     let start = Instant::now();
//!     reel::thread::sleep(Duration::from_millis(2));
//!     assert!(start.elapsed() >= Duration::from_millis(2));
//!     let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
//!     assert!(since_epoch.as_secs() > 0);
//! });
//! ```
//!
//! An [`Instant`] is a point on the execution's timeline: Instants of one run compare and
//! subtract as std's do; one kept from another run (or another execution of an exploration)
//! means nothing there. A [`SystemTime`] is std's, read through the runtime.

use std::fmt;
use std::hash::Hash;
use std::ops::{Add, AddAssign, Sub, SubAssign};

pub use std::time::{Duration, SystemTimeError, TryFromFloatSecsError};

use crate::runtime::execution;
use crate::runtime::seams::ClockSource;

/// A reading of the monotonic clock, as `std::time::Instant`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Time on the execution's timeline (see `runtime::clock`).
    since_start: Duration,
}

impl Instant {
    /// The current time: a scheduling point and a recorded input.
    #[track_caller]
    #[inline]
    pub fn now() -> Instant {
        let nanos = execution::read_clock(ClockSource::Monotonic, std::panic::Location::caller());
        Instant {
            since_start: Duration::from_nanos(nanos.max(0) as u64),
        }
    }

    /// The instant as the runtime's timeline counts it, for deadlines.
    pub(crate) fn timeline_nanos(self) -> u64 {
        u64::try_from(self.since_start.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The time from `earlier` to this instant, or zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// The time from `earlier` to this instant, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.since_start.checked_sub(earlier.since_start)
    }

    /// The time from `earlier` to this instant, or zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.since_start.saturating_sub(earlier.since_start)
    }

    /// The time since this instant: `Instant::now() - self` (a clock read).
    #[track_caller]
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// This instant plus `duration`, if it can be represented.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.since_start
            .checked_add(duration)
            .map(|since_start| Instant { since_start })
    }

    /// This instant minus `duration`, if it can be represented (not before the timeline's
    /// start, which lies a day or more before the run's first instant).
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.since_start
            .checked_sub(duration)
            .map(|since_start| Instant { since_start })
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instant")
            .field("since_start", &self.since_start)
            .finish()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Panics on overflow, as std's.
    fn add(self, duration: Duration) -> Instant {
        self.checked_add(duration)
            .expect("overflow when adding duration to instant")
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, duration: Duration) {
        *self = *self + duration;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// Panics on overflow, as std's.
    fn sub(self, duration: Duration) -> Instant {
        self.checked_sub(duration)
            .expect("overflow when subtracting duration from instant")
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, duration: Duration) {
        *self = *self - duration;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// The time from `other` to `self`, or zero if `other` is later (as std's).
    fn sub(self, other: Instant) -> Duration {
        self.duration_since(other)
    }
}

/// The Unix epoch, as `std::time::UNIX_EPOCH`.
pub const UNIX_EPOCH: SystemTime = SystemTime(std::time::UNIX_EPOCH);

/// A reading of the system clock, as `std::time::SystemTime` (it wraps one: everything but
/// [`SystemTime::now`] and [`SystemTime::elapsed`] is std's).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemTime(std::time::SystemTime);

impl SystemTime {
    /// The Unix epoch.
    pub const UNIX_EPOCH: SystemTime = UNIX_EPOCH;

    /// The current time: a scheduling point and a recorded input. Under exploration it is
    /// virtual, starting at 2001-09-09T01:46:40Z.
    #[track_caller]
    pub fn now() -> SystemTime {
        let nanos = execution::read_clock(ClockSource::System, std::panic::Location::caller());
        let magnitude = Duration::from_nanos(nanos.unsigned_abs());
        SystemTime(if nanos >= 0 {
            std::time::UNIX_EPOCH + magnitude
        } else {
            std::time::UNIX_EPOCH - magnitude
        })
    }

    /// The time from `earlier` to this time; `Err` (with the time the other way) if
    /// `earlier` is later.
    pub fn duration_since(&self, earlier: SystemTime) -> Result<Duration, SystemTimeError> {
        self.0.duration_since(earlier.0)
    }

    /// The time since this time: `SystemTime::now()` minus it (a clock read).
    #[track_caller]
    pub fn elapsed(&self) -> Result<Duration, SystemTimeError> {
        SystemTime::now().duration_since(*self)
    }

    /// This time plus `duration`, if it can be represented.
    pub fn checked_add(&self, duration: Duration) -> Option<SystemTime> {
        self.0.checked_add(duration).map(SystemTime)
    }

    /// This time minus `duration`, if it can be represented.
    pub fn checked_sub(&self, duration: Duration) -> Option<SystemTime> {
        self.0.checked_sub(duration).map(SystemTime)
    }
}

impl fmt::Debug for SystemTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Add<Duration> for SystemTime {
    type Output = SystemTime;

    /// Panics on overflow, as std's.
    fn add(self, duration: Duration) -> SystemTime {
        SystemTime(self.0 + duration)
    }
}

impl AddAssign<Duration> for SystemTime {
    fn add_assign(&mut self, duration: Duration) {
        self.0 += duration;
    }
}

impl Sub<Duration> for SystemTime {
    type Output = SystemTime;

    /// Panics on overflow, as std's.
    fn sub(self, duration: Duration) -> SystemTime {
        SystemTime(self.0 - duration)
    }
}

impl SubAssign<Duration> for SystemTime {
    fn sub_assign(&mut self, duration: Duration) {
        self.0 -= duration;
    }
}

impl From<SystemTime> for std::time::SystemTime {
    fn from(time: SystemTime) -> std::time::SystemTime {
        time.0
    }
}

impl From<std::time::SystemTime> for SystemTime {
    fn from(time: std::time::SystemTime) -> SystemTime {
        SystemTime(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(nanos: u64) -> Instant {
        Instant {
            since_start: Duration::from_nanos(nanos),
        }
    }

    #[test]
    fn instants_do_std_arithmetic() {
        let (early, late) = (at(1_000), at(5_000));
        assert_eq!(late - early, Duration::from_nanos(4_000));
        assert_eq!(early - late, Duration::ZERO, "saturates, as std's");
        assert_eq!(early.checked_duration_since(late), None);
        assert_eq!(
            late.checked_duration_since(early),
            Some(Duration::from_micros(4))
        );
        assert_eq!(early + Duration::from_nanos(4_000), late);
        assert_eq!(early.checked_sub(Duration::from_nanos(1_001)), None);
        assert_eq!(
            at(0).checked_add(Duration::MAX),
            Some(at(0) + Duration::MAX)
        );
        assert_eq!(
            (at(0) + Duration::MAX).checked_add(Duration::from_nanos(1)),
            None
        );
        let mut moving = early;
        moving += Duration::from_nanos(10);
        moving -= Duration::from_nanos(4);
        assert_eq!(moving, at(1_006));
        assert!(early < late && late.max(early) == late);
        assert_eq!(late.timeline_nanos(), 5_000);
        assert_eq!((at(0) + Duration::MAX).timeline_nanos(), u64::MAX);
    }

    #[test]
    #[should_panic(expected = "overflow when subtracting duration from instant")]
    fn an_instant_before_the_timeline_panics_as_std() {
        let _ = at(5) - Duration::from_nanos(6);
    }

    #[test]
    fn system_times_are_std_ones() {
        let time = UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(
            time.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_secs(10)
        );
        let error = UNIX_EPOCH.duration_since(time).unwrap_err();
        assert_eq!(error.duration(), Duration::from_secs(10));
        assert_eq!(
            std::time::SystemTime::from(time),
            std::time::UNIX_EPOCH + Duration::from_secs(10)
        );
        assert_eq!(
            format!("{time:?}"),
            format!("{:?}", std::time::SystemTime::from(time))
        );
        assert_eq!(SystemTime::UNIX_EPOCH, UNIX_EPOCH);
    }
}
