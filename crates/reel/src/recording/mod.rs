//! Recording and replay: the one place where an execution's scheduling decisions and
//! nondeterministic inputs (timeouts that fired) are written to a trace, or read back from
//! one. The trace's wire types live in `reel_trace`; this module maps the runtime's
//! vocabulary onto them. The recorder is an observer of the execution; the replayer is an
//! oracle (`ReplayOracle`, which decides) and an observer (`ReplayChecker`, which checks).

pub(crate) mod emergency;
pub(crate) mod io;
pub(crate) mod program;
pub(crate) mod recorder;
pub(crate) mod replayer;

use reel_trace::{
    ClockReading, ClockSource as WireClock, ObjectKind as WireObject, OpKind, Outcome, OutcomeKind,
    SourceLocation,
};

use crate::runtime::failure::{Failure, FailureKind};
use crate::runtime::seams::ClockSource;
use crate::runtime::vocabulary::{Blocker, ObjectId, ObjectKind, Op};

/// The trace's name for a step: its operation kind, and its object (a thread for a join).
/// The one table between the runtime's vocabulary and the trace's.
#[inline]
pub(crate) fn wire_op(op: Op, object: Option<ObjectId>) -> (OpKind, Option<u32>) {
    let kind = wire_kind(op);
    let object = match op {
        // A join waits for a thread, which the trace names where an object goes.
        Op::Block(Blocker::Join(thread)) => Some(thread.index() as u32),
        _ => object.map(|object| object.index() as u32),
    };
    (kind, object)
}

/// The operation kind of a step: constants only, so that the match compiles to a table
/// lookup rather than a jump on the recording's hot path.
#[inline]
fn wire_kind(op: Op) -> OpKind {
    match op {
        Op::Spawn => OpKind::Spawn,
        Op::Join => OpKind::Join,
        Op::Exit => OpKind::Exit,
        Op::Yield => OpKind::Yield,
        Op::Sleep => OpKind::Sleep,
        Op::Park => OpKind::Park,
        Op::Unpark => OpKind::Unpark,
        Op::Lock => OpKind::Lock,
        Op::Unlock => OpKind::Unlock,
        Op::ReadLock => OpKind::ReadLock,
        Op::WriteLock => OpKind::WriteLock,
        Op::ReadUnlock => OpKind::ReadUnlock,
        Op::WriteUnlock => OpKind::WriteUnlock,
        Op::Wait => OpKind::CondvarWait,
        Op::Notify => OpKind::CondvarNotify,
        Op::BarrierWait => OpKind::BarrierWait,
        Op::OnceCall => OpKind::OnceCall,
        Op::Send => OpKind::Send,
        Op::Recv => OpKind::Recv,
        Op::AtomicLoad => OpKind::AtomicLoad,
        Op::AtomicStore => OpKind::AtomicStore,
        Op::AtomicUpdate => OpKind::AtomicUpdate,
        Op::Fence => OpKind::Fence,
        Op::SignalPoll => OpKind::SignalPoll,
        Op::Block(Blocker::Signal(_)) => OpKind::BlockSignal,
        Op::ClockRead => OpKind::ClockRead,
        Op::RandomSeed => OpKind::RandomSeed,
        Op::Block(Blocker::Lock(_)) => OpKind::BlockLock,
        Op::Block(Blocker::ReadLock(_)) => OpKind::BlockRead,
        Op::Block(Blocker::WriteLock(_)) => OpKind::BlockWrite,
        Op::Block(Blocker::Condvar(_)) => OpKind::BlockCondvar,
        Op::Block(Blocker::Join(_)) => OpKind::BlockJoin,
        Op::Block(Blocker::Recv(_)) => OpKind::BlockRecv,
        Op::Block(Blocker::Send(_)) => OpKind::BlockSend,
        Op::Block(Blocker::Barrier(_)) => OpKind::BlockBarrier,
        Op::Block(Blocker::Once(_)) => OpKind::BlockOnce,
        Op::Block(Blocker::Park) => OpKind::BlockPark,
        Op::Block(Blocker::Sleep) => OpKind::BlockSleep,
        Op::Block(Blocker::Io(_)) => OpKind::BlockIo,
        Op::Io(io) => io::wire_io_op(io),
    }
}

/// A clock reading as the trace writes it.
pub(crate) fn wire_reading(source: ClockSource, nanos: i64) -> ClockReading {
    let source = match source {
        ClockSource::Monotonic => WireClock::Monotonic,
        ClockSource::System => WireClock::System,
    };
    ClockReading { source, nanos }
}

/// The runtime's clock of a trace's reading.
pub(crate) fn clock_of(reading: ClockReading) -> ClockSource {
    match reading.source {
        WireClock::Monotonic => ClockSource::Monotonic,
        WireClock::System => ClockSource::System,
    }
}

/// The trace's name for an object kind.
pub(crate) fn wire_object(kind: ObjectKind) -> WireObject {
    match kind {
        ObjectKind::Mutex => WireObject::Mutex,
        ObjectKind::RwLock => WireObject::RwLock,
        ObjectKind::Condvar => WireObject::Condvar,
        ObjectKind::Barrier => WireObject::Barrier,
        ObjectKind::Once => WireObject::Once,
        ObjectKind::Channel => WireObject::Channel,
        ObjectKind::Atomic => WireObject::Atomic,
        ObjectKind::Signals => WireObject::Signals,
        ObjectKind::Socket => WireObject::Socket,
        ObjectKind::File => WireObject::File,
        ObjectKind::Task => WireObject::Task,
    }
}

/// The outcome a trace records for an execution that ended with `failure` after `steps`.
pub(crate) fn outcome_of(failure: Option<&Failure>, steps: u64) -> Outcome {
    let Some(failure) = failure else {
        return Outcome {
            kind: OutcomeKind::Ok,
            step: steps,
            thread: None,
            location: None,
            message: String::new(),
            cycle: Vec::new(),
        };
    };
    Outcome {
        kind: match failure.kind {
            FailureKind::Panic => OutcomeKind::Panic,
            FailureKind::Deadlock => OutcomeKind::Deadlock,
            FailureKind::PartialDeadlock => OutcomeKind::PartialDeadlock,
            FailureKind::ReentrantLock => OutcomeKind::ReentrantLock,
            FailureKind::StepBoundExceeded => OutcomeKind::StepBoundExceeded,
            FailureKind::Stall => OutcomeKind::Stall,
            // Found by comparing two runs, never the end of one.
            FailureKind::Nondeterminism => unreachable!("no execution ends in nondeterminism"),
        },
        step: failure.step,
        thread: failure
            .thread
            .as_ref()
            .map(|thread| thread.id.index() as u32),
        location: failure.location.as_ref().map(|location| SourceLocation {
            file: location.file.clone(),
            line: location.line,
            column: location.column,
        }),
        message: failure.message.clone(),
        cycle: failure
            .cycle
            .iter()
            .map(|blocked| blocked.thread.id.index() as u32)
            .collect(),
    }
}

/// Whether a replay's outcome is the recorded one. Its location may have moved (the caller
/// notes it, as for steps); messages are cut as the recorder cuts them.
pub(crate) fn same_outcome(recorded: &Outcome, replayed: &Outcome) -> bool {
    let mut replayed = replayed.clone();
    if replayed.message.len() > reel_trace::MAX_STRING_BYTES {
        let mut end = reel_trace::MAX_STRING_BYTES;
        while !replayed.message.is_char_boundary(end) {
            end -= 1;
        }
        replayed.message.truncate(end);
    }
    replayed.cycle.truncate(reel_trace::MAX_CYCLE_THREADS);
    recorded.kind == replayed.kind
        && recorded.step == replayed.step
        && recorded.thread == replayed.thread
        && recorded.message == replayed.message
        && recorded.cycle == replayed.cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime and the trace each name object kinds in their own vocabulary; reports
    /// and traces must still spell them alike.
    #[test]
    fn object_kinds_are_spelt_alike_in_reports_and_traces() {
        for kind in [
            ObjectKind::Mutex,
            ObjectKind::RwLock,
            ObjectKind::Condvar,
            ObjectKind::Barrier,
            ObjectKind::Once,
            ObjectKind::Channel,
            ObjectKind::Atomic,
            ObjectKind::Signals,
        ] {
            assert_eq!(kind.name(), wire_object(kind).name());
        }
    }

    /// A join's block names the thread joined where the trace puts an object.
    #[test]
    fn a_join_names_its_thread() {
        use crate::runtime::vocabulary::ThreadId;
        let join = Op::Block(Blocker::Join(ThreadId::from_index(3)));
        assert_eq!(wire_op(join, None), (OpKind::BlockJoin, Some(3)));
        let lock = Op::Block(Blocker::Lock(ObjectId::from_index(2)));
        assert_eq!(
            wire_op(lock, Some(ObjectId::from_index(2))),
            (OpKind::BlockLock, Some(2))
        );
        assert_eq!(wire_op(Op::Yield, None), (OpKind::Yield, None));
    }
}
