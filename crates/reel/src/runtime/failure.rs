//! Failures an execution can end in, and their human-readable reports.

use std::fmt;

use super::vocabulary::ThreadId;

/// What went wrong in a failing execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// A green thread panicked.
    Panic,
    /// No thread can run: every live thread is blocked.
    Deadlock,
    /// Some threads wait on each other in a cycle while others can still run.
    PartialDeadlock,
    /// A thread tried to lock a lock it already holds, which can never succeed.
    ReentrantLock,
    /// The execution took more scheduling steps than its bound: a likely livelock.
    StepBoundExceeded,
    /// The determinism self-check ran the same schedule twice and the two runs differed:
    /// the program depends on something reel does not control.
    Nondeterminism,
    /// The watchdog saw a green thread hold the kernel thread (a blocking system call, or a
    /// computation with no scheduling point) while others waited, and the check was asked
    /// to fail on such a stall (`Checker::fail_on_stall`).
    Stall,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panic => "panic",
            FailureKind::Deadlock => "deadlock",
            FailureKind::PartialDeadlock => "partial deadlock",
            FailureKind::ReentrantLock => "re-entrant lock",
            FailureKind::StepBoundExceeded => "step bound exceeded",
            FailureKind::Nondeterminism => "nondeterminism",
            FailureKind::Stall => "head-of-line stall",
        })
    }
}

/// A source location, owned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// Source file path as the compiler saw it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Location {
    pub(crate) fn from_std(location: &std::panic::Location<'_>) -> Location {
        Location {
            file: location.file().to_owned(),
            line: location.line(),
            column: location.column(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A green thread as a report names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreadInfo {
    /// The thread's id within its execution (the main thread is 0).
    pub id: ThreadId,
    /// The name given with `Builder::name`, or "main" for the main thread.
    pub name: Option<String>,
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "thread '{name}' ({})", self.id),
            None => write!(f, "thread <unnamed> ({})", self.id),
        }
    }
}

/// One blocked thread in a deadlock report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedThread {
    /// The blocked thread.
    pub thread: ThreadInfo,
    /// What it waits for, e.g. "lock Mutex#1 held by thread 'b' (T2)".
    pub waiting_for: String,
    /// Where it blocked.
    pub location: Option<Location>,
}

/// The first failure found in an execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure this is.
    pub kind: FailureKind,
    /// The scheduling step at which it happened (1-based).
    pub step: u64,
    /// The thread that failed: the one that panicked, locked re-entrantly, closed the wait-for
    /// cycle, or spun past the step bound.
    pub thread: Option<ThreadInfo>,
    /// Where in the source it happened.
    pub location: Option<Location>,
    /// The panic message, or a one-line summary for the other kinds.
    pub message: String,
    /// For deadlocks: the threads in the wait-for cycle, in order (empty when there is none).
    pub cycle: Vec<BlockedThread>,
    /// For deadlocks: every other blocked thread.
    pub blocked: Vec<BlockedThread>,
    /// The steps that led here, oldest first (the last few; exploration only).
    pub last_steps: Vec<StepRecord>,
}

impl Failure {
    /// A failure of `kind` at `step` with `message`, attributed to no thread or location
    /// yet, with no cycle and no steps listed: the fields a report fills in as it knows them.
    pub(crate) fn new(kind: FailureKind, step: u64, message: String) -> Failure {
        Failure {
            kind,
            step,
            thread: None,
            location: None,
            message,
            cycle: Vec::new(),
            blocked: Vec::new(),
            last_steps: Vec::new(),
        }
    }
}

/// One scheduling step, as a report lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// The 1-based step number.
    pub step: u64,
    /// The thread that took it.
    pub thread: ThreadInfo,
    /// What it did, e.g. "lock Mutex#1".
    pub operation: String,
    /// Where.
    pub location: Location,
}

impl fmt::Display for StepRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{:<6} {:<28} {:<28} {}",
            self.step,
            self.thread.to_string(),
            self.operation,
            self.location
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FailureKind::Panic => {
                write!(f, "panic in ")?;
                write_thread(f, &self.thread)?;
                writeln!(f, " at step {}: {}", self.step, self.message)?;
            }
            _ => {
                writeln!(f, "{} at step {}: {}", self.kind, self.step, self.message)?;
                if let Some(thread) = &self.thread {
                    writeln!(f, "  thread: {thread}")?;
                }
            }
        }
        if let Some(location) = &self.location {
            writeln!(f, "  at {location}")?;
        }
        if !self.cycle.is_empty() {
            writeln!(f, "  wait-for cycle:")?;
            for blocked in &self.cycle {
                write_blocked(f, blocked)?;
            }
        }
        if !self.blocked.is_empty() {
            writeln!(f, "  other blocked threads:")?;
            for blocked in &self.blocked {
                write_blocked(f, blocked)?;
            }
        }
        if !self.last_steps.is_empty() {
            writeln!(f, "  the last {} steps:", self.last_steps.len())?;
            for step in &self.last_steps {
                writeln!(f, "    {step}")?;
            }
        }
        Ok(())
    }
}

fn write_thread(f: &mut fmt::Formatter<'_>, thread: &Option<ThreadInfo>) -> fmt::Result {
    match thread {
        Some(thread) => write!(f, "{thread}"),
        None => write!(f, "the runtime"),
    }
}

fn write_blocked(f: &mut fmt::Formatter<'_>, blocked: &BlockedThread) -> fmt::Result {
    writeln!(f, "    {} waits to {}", blocked.thread, blocked.waiting_for)?;
    if let Some(location) = &blocked.location {
        writeln!(f, "      at {location}")?;
    }
    Ok(())
}
