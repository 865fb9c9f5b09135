//! I/O in the trace: the runtime's I/O operations and results mapped onto the trace's wire
//! types (`OpKind::Io*`, `IoEvent`, tag 0x94), and back for a replay.

use reel_trace::{Event, IoDone, IoEvent, IoResult, ObjectKind, OpKind, Trace};

use crate::runtime::io::{IoAsk, IoValue};
use crate::runtime::seams::Mismatch;
use crate::runtime::vocabulary::IoOp;

/// The trace's operation kind of an I/O step.
pub(crate) fn wire_io_op(op: IoOp) -> OpKind {
    match op {
        IoOp::Open => OpKind::IoOpen,
        IoOp::Connect => OpKind::IoConnect,
        IoOp::Accept => OpKind::IoAccept,
        IoOp::Read => OpKind::IoRead,
        IoOp::Write => OpKind::IoWrite,
        IoOp::Control => OpKind::IoControl,
        IoOp::Resolve => OpKind::IoResolve,
        IoOp::Helper => OpKind::IoHelper,
    }
}

/// The trace's record of an I/O step's result.
pub(crate) fn wire_io_done(ask: IoAsk<'_>, value: &IoValue) -> IoEvent {
    IoEvent::Done(IoDone {
        asked: ask.asked,
        written: ask.written_hash(),
        target: ask.target_hash(),
        result: wire_io_result(value),
    })
}

/// The trace's form of a result.
pub(crate) fn wire_io_result(value: &IoValue) -> IoResult {
    match value {
        IoValue::Done => IoResult::Done,
        IoValue::Count(count) => IoResult::Count(*count),
        IoValue::Bytes(bytes) => IoResult::Bytes(bytes.clone()),
        IoValue::BytesFrom(bytes, from) => IoResult::BytesFrom {
            bytes: bytes.clone(),
            from: *from,
        },
        IoValue::Addr(addr) => IoResult::Addr(*addr),
        IoValue::Addrs(addrs) => IoResult::Addrs(addrs.clone()),
        IoValue::Value(bytes) => IoResult::Value(bytes.clone()),
        IoValue::Error(errno, message) => IoResult::Error {
            errno: *errno,
            message: message.clone(),
        },
        IoValue::WouldBlock => IoResult::WouldBlock,
        IoValue::Filled(_) => {
            unreachable!("reel: a read is kept as bytes wherever an observer is told of it")
        }
    }
}

/// The runtime's form of a recorded result.
pub(crate) fn io_value(result: &IoResult) -> IoValue {
    match result {
        IoResult::Done => IoValue::Done,
        IoResult::Count(count) => IoValue::Count(*count),
        IoResult::Bytes(bytes) => IoValue::Bytes(bytes.clone()),
        IoResult::BytesFrom { bytes, from } => IoValue::BytesFrom(bytes.clone(), *from),
        IoResult::Addr(addr) => IoValue::Addr(*addr),
        IoResult::Addrs(addrs) => IoValue::Addrs(addrs.clone()),
        IoResult::Value(bytes) => IoValue::Value(bytes.clone()),
        IoResult::Error { errno, message } => IoValue::Error(*errno, message.clone()),
        IoResult::WouldBlock => IoValue::WouldBlock,
    }
}

/// How a divergence names what the trace recorded of an I/O step.
pub(crate) fn describe_io_done(done: &IoDone) -> String {
    let written = done
        .written
        .map(|hash| format!(" (bytes hashing to {hash:#018x})"))
        .unwrap_or_default();
    let target = done
        .target
        .map(|hash| format!(" (to the place hashing to {hash:#018x})"))
        .unwrap_or_default();
    format!(
        "an I/O step asking {} bytes{written}{target}: {}",
        done.asked,
        done.result.describe()
    )
}

/// The divergence of an I/O step that asks what the recorded `done` asked but goes elsewhere
/// (another path or address): `step` is the recorded step it answers. Only hashes are
/// recorded, so neither side names the place itself.
pub(crate) fn elsewhere(
    trace: &Trace,
    step: Option<&Event>,
    done: &IoDone,
    ask: IoAsk<'_>,
) -> Mismatch {
    let (op, kind) = match step {
        Some(Event::Step(step)) => (
            Some(step.op),
            step.object
                .and_then(|object| trace.objects.get(object as usize))
                .copied(),
        ),
        _ => (None, None),
    };
    let goes = match (op, kind) {
        (Some(OpKind::IoConnect), _) => "connects to a different address",
        (Some(OpKind::IoWrite), Some(ObjectKind::Socket)) => "sends to a different address",
        (Some(OpKind::IoOpen), Some(ObjectKind::Socket)) => "binds a different address",
        (Some(OpKind::IoOpen), _) => "opens a different path",
        (_, Some(ObjectKind::Socket)) => "goes to a different address",
        _ => "names a different path",
    };
    let hash = |target: Option<u64>| {
        target.map_or_else(|| "none".to_owned(), |hash| format!("{hash:#018x}"))
    };
    Mismatch::Differs {
        expected: format!(
            "{} (the recorded place hashes to {})",
            describe_io_done(done),
            hash(done.target)
        ),
        actual: format!(
            "the same I/O step, but it {goes} (hashing to {})",
            hash(ask.target_hash())
        ),
    }
}
