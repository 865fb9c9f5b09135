//! The engine: executions of green threads, their stacks, clock and failures. Policies (which
//! thread runs next) live in `crate::scheduler`.

pub(crate) mod clock;
pub(crate) mod execution;
pub(crate) mod failure;
pub(crate) mod hook;
pub(crate) mod live;
pub(crate) mod overflow;
pub(crate) mod stack;
