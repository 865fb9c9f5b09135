//! The programs, one module each, every one written once inside `for_each_runtime!`.
//!
//! Each module has `bug` (the program with its bug) and, where a fix is meaningful, `fixed`,
//! in `on_reel` and `on_shuttle`.

pub mod account;
pub mod bluetooth_driver;
pub mod carter01;
pub mod circular_buffer;
pub mod deadlock01;
pub mod late_writer;
pub mod lazy01;
pub mod loop_99;
pub mod queue;
pub mod reorder;
pub mod safestack;
pub mod stack;
pub mod token_ring;
pub mod twostage;
pub mod workstealqueue;
pub mod wronglock;
