//! The inputs from outside the program that pass the execution's one door (`seams`): what
//! a decider delivers at a decision point, what the program asks for at a step, and the
//! watchdog's stall reports told to the observers.

use super::vocabulary::ThreadId;

/// An input from outside the program, delivered at a decision point or asked for at a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// A thread's timed wait runs out.
    Timeout(ThreadId),
    /// A signal arrives (`execution/signals.rs`).
    Signal(SignalInput),
    /// What a clock read, in nanoseconds (see [`ClockSource`]).
    ClockRead {
        /// Which clock.
        source: ClockSource,
        /// Its reading.
        nanos: i64,
    },
    /// The seed of the execution's random generators.
    RandomSeed(u64),
    /// The running thread used up its time slice: it is switched away from as if it
    /// yielded (a plain run's fair scheduling).
    Preempt(ThreadId),
    /// A thread's wait for I/O ends: its descriptor is ready, or its helper job finished
    /// (`execution/io/`).
    IoReady(ThreadId),
}

/// A signal's arrival: which signal, and what the kernel said of its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignalInput {
    /// The signal number.
    pub(crate) signal: u32,
    /// `si_code`.
    pub(crate) code: i32,
    /// The sender's pid (0 when none was given).
    pub(crate) sender: u32,
}

/// Which clock a program reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClockSource {
    /// The monotonic clock (`time::Instant`): nanoseconds on the execution's timeline.
    Monotonic,
    /// The system clock (`time::SystemTime`): nanoseconds since the Unix epoch.
    System,
}

/// An input the program asks for at its step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// A reading of this clock.
    Clock(ClockSource),
    /// The seed of the execution's random generators.
    RandomSeed,
}

/// A head-of-line stall the watchdog saw, as the observers are told of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StallEvent {
    /// The green thread that held the kernel thread.
    pub(crate) thread: ThreadId,
    /// For how long (time it could have run, not time the process was descheduled).
    pub(crate) duration: std::time::Duration,
    /// The system call it was in, or `None` when it was computing.
    pub(crate) syscall: Option<String>,
    /// Where in the program's code: file, line, column.
    pub(crate) location: Option<(String, u32, u32)>,
    /// How many other green threads were ready and waited.
    pub(crate) ready: u32,
}
