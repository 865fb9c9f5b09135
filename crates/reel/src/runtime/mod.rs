//! The engine: executions of green threads, their stacks, clock and failures, the one
//! vocabulary of a step, and the seams (oracle, observers) through which policies, the
//! trace and the debugger meet an execution. Nothing here knows the trace or the debugger:
//! they implement the interfaces defined in `seams`.

pub(crate) mod clock;
pub(crate) mod execution;
pub(crate) mod failure;
pub(crate) mod hook;
pub(crate) mod input;
pub(crate) mod io;
pub(crate) mod live;
pub(crate) mod os_signals;
pub(crate) mod overflow;
pub(crate) mod runnable;
pub(crate) mod seams;
pub(crate) mod signals;
pub(crate) mod stack;
pub(crate) mod vocabulary;
pub(crate) mod watchdog;
