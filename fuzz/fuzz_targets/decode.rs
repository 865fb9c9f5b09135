//! Fuzzes the trace reader: any input must give a trace or an error, never a panic, and a
//! trace it gives must be consistent with itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_trace::{Event, FRAME_BYTES, MAGIC, OpKind, Trace};

fuzz_target!(|bytes: &[u8]| {
    decode_and_check(bytes);
    // Most inputs fail their checksums; the same input with every frame's CRC-32 made right
    // reaches the event decoder.
    decode_and_check(&with_valid_checksums(bytes));
});

/// Reads `bytes` with both readers, and checks what they give.
fn decode_and_check(bytes: &[u8]) {
    let whole = reel_trace::decode(bytes);
    let prefix = reel_trace::decode_prefix(bytes);
    if let Ok(trace) = &whole {
        check(trace, bytes);
        assert!(trace.cut.is_none());
        assert!(
            trace.outcome.is_some(),
            "a complete trace ends with its outcome"
        );
        assert_eq!(trace.bytes, bytes.len() as u64);
        // A complete trace is also its own longest readable prefix.
        let prefix = prefix
            .as_ref()
            .expect("decode_prefix reads what decode reads");
        assert_eq!(prefix.events, trace.events);
    }
    match &prefix {
        Ok(trace) => {
            check(trace, bytes);
            match &trace.cut {
                Some(cut) => {
                    assert!(cut.is_truncation());
                    assert!(whole.as_ref().is_err_and(|error| error == cut));
                }
                None => assert!(whole.is_ok()),
            }
        }
        // Damage that is not a truncation fails both readers alike.
        Err(error) => assert_eq!(whole.as_ref().err(), Some(error)),
    }
}

/// `bytes` with the checksum of every complete chunk frame set to its payload's CRC-32.
fn with_valid_checksums(bytes: &[u8]) -> Vec<u8> {
    let mut fixed = bytes.to_vec();
    let mut at = MAGIC.len() + 2;
    while at + FRAME_BYTES <= fixed.len() {
        let length = u32::from_le_bytes(fixed[at..at + 4].try_into().unwrap()) as usize;
        let end = at + FRAME_BYTES + length;
        if end > fixed.len() {
            break;
        }
        let crc = crc32fast::hash(&fixed[at + FRAME_BYTES..end]);
        fixed[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
    fixed
}

/// The invariants of a decoded trace.
fn check(trace: &Trace, bytes: &[u8]) {
    assert!(trace.bytes <= bytes.len() as u64);
    let steps = trace.step_events().count() as u64;
    assert_eq!(steps, trace.steps, "steps counts the Step events");
    for location in &trace.locations {
        assert!((location.file as usize) < trace.files.len());
    }
    let mut threads = 0usize;
    let mut objects = 0usize;
    let mut outcome_seen = false;
    let mut last_op: Option<OpKind> = None;
    for event in &trace.events {
        assert!(!outcome_seen, "the outcome is the last event");
        let previous = last_op;
        last_op = match event {
            Event::Step(step) => Some(step.op),
            _ => None,
        };
        match event {
            Event::Step(step) => {
                assert!((step.thread as usize) < threads);
                assert!((step.location as usize) < trace.locations.len());
                if let Some(object) = step.object {
                    if step.op.object_is_thread() {
                        assert!((object as usize) < threads);
                    } else {
                        assert!((object as usize) < objects);
                    }
                    // Names every step's object without panicking.
                    let _ = trace.object_name(step.op, object);
                }
                assert_eq!(OpKind::from_code(step.op.code()), Some(step.op));
                let _ = trace.location(step.location);
                let _ = trace.thread_name(step.thread);
            }
            Event::Spawn(spawn) => {
                match spawn.parent {
                    None => assert_eq!(threads, 0),
                    Some(parent) => assert!((parent as usize) < threads),
                }
                threads += 1;
            }
            Event::Object(_) => objects += 1,
            Event::Timeout { thread } => assert!((*thread as usize) < threads),
            Event::Signal(arrival) => {
                assert!((1..=reel_trace::MAX_SIGNAL).contains(&arrival.signal));
                assert!(arrival.step <= trace.steps);
            }
            // A value follows the step that asked for it.
            Event::ClockRead(reading) => {
                assert!(matches!(previous, Some(OpKind::ClockRead)));
                if reading.source == reel_trace::ClockSource::Monotonic {
                    assert!(reading.nanos >= 0);
                }
            }
            Event::RandomSeed { .. } => {
                assert!(matches!(previous, Some(OpKind::RandomSeed)))
            }
            // An I/O result follows its I/O step; the end of a wait names a thread.
            Event::Io(io) => match &**io {
                reel_trace::IoEvent::Done(done) => {
                    assert!(previous.is_some_and(OpKind::is_io));
                    assert!(done.result.data_bytes() <= reel_trace::MAX_IO_BYTES as u64);
                }
                reel_trace::IoEvent::Ready { thread } => {
                    assert!((*thread as usize) < threads);
                    assert!(!previous.is_some_and(OpKind::is_io));
                }
            },
            Event::Preemption { thread } => assert!((*thread as usize) < threads),
            Event::Stall(stall) => assert!((stall.thread as usize) < threads),
            Event::Outcome(outcome) => {
                assert_eq!(outcome.step, trace.steps);
                assert!(
                    outcome
                        .thread
                        .iter()
                        .chain(&outcome.cycle)
                        .all(|&t| (t as usize) < threads)
                );
                assert_eq!(trace.outcome.as_ref(), Some(&**outcome));
                outcome_seen = true;
            }
        }
    }
    assert_eq!(threads, trace.threads.len());
    assert_eq!(objects, trace.objects.len());
    assert_eq!(outcome_seen, trace.outcome.is_some());
}
