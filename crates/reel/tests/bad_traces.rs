//! Bad trace input gives a typed error, never a panic: traces cut at every byte, every
//! single-bit flip, crafted damage, wrong versions, files that are not traces, missing files,
//! traces of another program, and a corrupt REEL_REPLAY file in a child process.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use reel::reel_trace::{self, Error, ErrorKind, OutcomeKind, Trace, tests_support};
use reel::sync::{Arc, Mutex};
use reel::{Replay, ReplayError, ReplayResult, Runtime};

/// Iterations of each thread of the small trace's program (about 50 steps).
const SMALL: usize = 4;
/// Iterations of each thread of the large trace's program (several chunks).
const LARGE: usize = 600;
/// The trace that `child_runs_under_reel_replay` replays.
const CHILD_TEST: &str = "child_runs_under_reel_replay";

/// The recorded program: three threads add to a counter under a mutex, yielding in between.
fn program(iterations: usize) {
    let counter = Arc::new(Mutex::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let counter = Arc::clone(&counter);
            reel::thread::spawn(move || {
                for _ in 0..iterations {
                    *counter.lock().unwrap() += 1;
                    reel::thread::yield_now();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 3 * iterations);
}

/// This process's scratch directory.
fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_traces");
        // Earlier runs' directories, whose processes are gone, are left over: remove them.
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !Path::new("/proc").join(&pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = parent.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Writes `bytes` to a file named `name` in the scratch directory.
fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Two real traces, recorded once: (small, large).
fn traces() -> &'static (Vec<u8>, Vec<u8>) {
    static TRACES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    TRACES.get_or_init(|| {
        let record = |name: &str, iterations: usize| {
            let path = scratch_dir().join(name);
            Runtime::new()
                .record(&path)
                .run(move || program(iterations));
            std::fs::read(&path).unwrap()
        };
        (record("small.reel", SMALL), record("large.reel", LARGE))
    })
}

fn small_trace() -> &'static [u8] {
    &traces().0
}

fn large_trace() -> &'static [u8] {
    &traces().1
}

/// A chunk of a trace file: where its frame starts, and its payload's length.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    start: usize,
    length: usize,
}

impl Chunk {
    fn payload(self) -> std::ops::Range<usize> {
        self.start + 8..self.start + 8 + self.length
    }

    fn end(self) -> usize {
        self.payload().end
    }
}

/// The chunks of a whole, valid trace: the header first.
fn chunks(bytes: &[u8]) -> Vec<Chunk> {
    let chunks: Vec<Chunk> = tests_support::chunk_frames(bytes)
        .into_iter()
        .map(|(start, length)| Chunk { start, length })
        .collect();
    assert_eq!(
        chunks.last().map(|chunk| chunk.end()),
        Some(bytes.len()),
        "the chunks fill the file"
    );
    chunks
}

/// `bytes` with the payload of `chunk` replaced by `payload`, framed with a valid CRC.
fn reframe(bytes: &[u8], chunk: Chunk, payload: &[u8]) -> Vec<u8> {
    let mut out = bytes[..chunk.start].to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&tests_support::crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&bytes[chunk.end()..]);
    out
}

/// Runs `f`, failing the test with `what` if it panics.
fn no_panic<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(_) => panic!("{} panicked", what()),
    }
}

/// Replays a trace that reads (whole or cut short) with the program that recorded it, and
/// checks that the program followed it all.
fn replay_follows(replay: &Replay, iterations: usize, context: &str) {
    let trace = replay.trace();
    let report = replay
        .run(|| program(iterations))
        .unwrap_or_else(|error| panic!("{context}: {error}"));
    let expected = if trace.outcome.is_some() {
        ReplayResult::Reproduced
    } else {
        ReplayResult::EndOfTrace
    };
    assert_eq!(report.result, expected, "{context}: {report}");
    assert_eq!(report.steps, trace.steps, "{context}: {report}");
    assert_eq!(report.recorded_steps, trace.steps, "{context}: {report}");
    assert!(report.failure.is_none(), "{context}: {report}");
}

/// Checks every cut of `bytes`: the strict decoder says Truncated at the cut, the prefix
/// decoder reads the complete chunks before it once the header chunk is whole, and
/// `Replay::from_bytes` agrees. Returns the distinct prefixes (by bytes used) that have events.
fn check_every_cut(bytes: &[u8]) -> Vec<usize> {
    let full = reel_trace::decode(bytes).expect("the recorded trace decodes");
    let chunks = chunks(bytes);
    let prologue_end = chunks[0].end();
    let mut prefixes = Vec::new();
    for cut in 0..bytes.len() {
        let part = &bytes[..cut];
        let context = || format!("the trace cut at byte {cut} of {}", bytes.len());
        let error =
            no_panic(context, || reel_trace::decode(part)).expect_err("a cut trace is an error");
        assert!(
            matches!(error.kind, ErrorKind::Truncated { .. }),
            "{}: {error}",
            context()
        );
        assert_eq!(error.offset, cut as u64, "{}: {error}", context());
        assert!(error.to_string().contains("truncated"), "{error}");
        let prefix = reel_trace::decode_prefix(part);
        let replay = no_panic(context, || Replay::from_bytes(part));
        if cut < prologue_end {
            // Nothing to read before the header chunk is whole.
            assert_eq!(prefix, Err(error.clone()), "{}", context());
            assert_eq!(
                replay.expect_err("no trace before the header"),
                ReplayError::Trace(error),
                "{}",
                context()
            );
            continue;
        }
        let prefix = prefix.unwrap_or_else(|error| panic!("{}: {error}", context()));
        assert_eq!(prefix.cut, Some(error), "{}", context());
        assert!(prefix.outcome.is_none());
        // The prefix is the complete chunks before the cut.
        let whole = chunks.iter().take_while(|chunk| chunk.end() <= cut).count();
        assert_eq!(
            prefix.bytes,
            chunks[whole - 1].end() as u64,
            "{}",
            context()
        );
        assert_eq!(
            prefix.events[..],
            full.events[..prefix.events.len()],
            "{}",
            context()
        );
        assert_eq!(prefix.header, full.header);
        let replay = replay.unwrap_or_else(|error| panic!("{}: {error}", context()));
        assert_eq!(replay.trace(), &prefix);
        if !prefix.events.is_empty() {
            prefixes.push(prefix.bytes as usize);
        }
    }
    prefixes.sort_unstable();
    prefixes.dedup();
    prefixes
}

#[test]
fn a_trace_cut_at_every_byte_is_a_typed_truncation_and_its_prefix_replays() {
    for (bytes, iterations) in [(small_trace(), SMALL), (large_trace(), LARGE)] {
        let full = reel_trace::decode(bytes).unwrap();
        assert_eq!(full.outcome.as_ref().unwrap().kind, OutcomeKind::Ok);
        let prefixes = check_every_cut(bytes);
        eprintln!(
            "a {}-byte trace of {} steps in {} chunks: every cut is Truncated; {} cut-short \
             prefixes with events",
            bytes.len(),
            full.steps,
            chunks(bytes).len(),
            prefixes.len()
        );
        // The whole trace replays, and so does each cut-short prefix with events.
        replay_follows(
            &Replay::from_bytes(bytes).unwrap(),
            iterations,
            "the whole trace",
        );
        for end in prefixes {
            let replay = Replay::from_bytes(&bytes[..end]).unwrap();
            assert!(replay.trace().steps > 0 && replay.trace().steps < full.steps);
            replay_follows(&replay, iterations, &format!("the prefix of {end} bytes"));
            // The same prefix with part of the next chunk after it.
            let replay = Replay::from_bytes(&bytes[..end + 9]).unwrap();
            replay_follows(&replay, iterations, &format!("the cut at {}", end + 9));
        }
    }
    assert!(
        chunks(large_trace()).len() >= 4,
        "the large trace has several event chunks"
    );
}

#[test]
fn a_trace_cut_before_its_first_event_chunk_replays_to_its_end() {
    let bytes = small_trace();
    let prologue_end = chunks(bytes)[0].end();
    for cut in [prologue_end, prologue_end + 1, bytes.len() - 1] {
        let replay = Replay::from_bytes(&bytes[..cut]).unwrap();
        assert!(replay.trace().events.is_empty());
        replay_follows(&replay, SMALL, &format!("the cut at {cut}"));
    }
}

/// The kind of error a flip of bit `bit` of byte `at` must give, where it is certain.
fn expected_flip_error(bytes: &[u8], chunks: &[Chunk], at: usize, bit: u32) -> Option<ErrorKind> {
    if at < 8 {
        return Some(ErrorKind::NotATrace);
    }
    if at < 10 {
        let mut version = [bytes[8], bytes[9]];
        version[at - 8] ^= 1 << bit;
        return Some(ErrorKind::UnsupportedVersion {
            found: u16::from_le_bytes(version),
        });
    }
    let chunk = chunks
        .iter()
        .find(|chunk| chunk.start <= at && at < chunk.end())
        .unwrap();
    if at < chunk.start + 4 {
        // The length: the damage shows as a bad checksum, a chunk too large or running
        // past the end of the file.
        return None;
    }
    let payload = &bytes[chunk.payload()];
    let stored = u32::from_le_bytes(bytes[chunk.start + 4..chunk.start + 8].try_into().unwrap());
    let (stored, computed) = if at < chunk.start + 8 {
        (
            stored ^ (1 << (bit + 8 * (at - chunk.start - 4) as u32)),
            tests_support::crc32(payload),
        )
    } else {
        let mut flipped = payload.to_vec();
        flipped[at - chunk.start - 8] ^= 1 << bit;
        (stored, tests_support::crc32(&flipped))
    };
    Some(ErrorKind::BadChecksum { stored, computed })
}

/// What a series of bit flips gave.
#[derive(Debug, Default)]
struct Flips {
    /// Bits flipped.
    checked: u64,
    /// Flips whose error kind was predicted exactly (magic, version, checksum).
    predicted: u64,
    /// Flips that left a readable prefix (they made the file look cut short).
    prefixes: u64,
    /// Of those, the prefixes with events, which were replayed.
    replayed: u64,
}

/// Flips each chosen bit of `bytes`: the strict decoder always says what is wrong; neither
/// decoder nor `Replay::from_bytes` panics; a prefix that still reads replays.
fn check_flips(bytes: &[u8], iterations: usize, bits: impl Iterator<Item = (usize, u32)>) -> Flips {
    let chunks = chunks(bytes);
    let mut flipped = bytes.to_vec();
    let mut flips = Flips::default();
    for (at, bit) in bits {
        flipped[at] ^= 1 << bit;
        let context = || format!("the flip of bit {bit} of byte {at}");
        let error = no_panic(context, || reel_trace::decode(&flipped))
            .expect_err("a flipped bit is an error");
        if let Some(expected) = expected_flip_error(bytes, &chunks, at, bit) {
            assert_eq!(error.kind, expected, "{}: {error}", context());
            flips.predicted += 1;
        }
        let prefix = no_panic(context, || reel_trace::decode_prefix(&flipped));
        let replay = no_panic(context, || Replay::from_bytes(&flipped));
        match (&prefix, &replay) {
            (Ok(trace), Ok(replay)) => {
                // Only a flip that makes the file look cut short leaves a readable prefix.
                assert!(trace.cut.as_ref().is_some_and(Error::is_truncation));
                assert!(matches!(error.kind, ErrorKind::Truncated { .. }), "{error}");
                assert_eq!(replay.trace(), trace);
                flips.prefixes += 1;
                if !trace.events.is_empty() {
                    replay_follows(replay, iterations, &context());
                    flips.replayed += 1;
                }
            }
            (Err(prefix_error), Err(replay_error)) => {
                assert_eq!(prefix_error, &error, "{}", context());
                assert_eq!(replay_error, &ReplayError::Trace(error), "{}", context());
            }
            _ => panic!(
                "{}: decode_prefix and Replay::from_bytes disagree",
                context()
            ),
        }
        flipped[at] ^= 1 << bit;
        flips.checked += 1;
    }
    eprintln!("{} bytes: {flips:?}", bytes.len());
    flips
}

#[test]
fn every_single_bit_flip_is_a_typed_error_never_a_panic() {
    let bytes = small_trace();
    let bits = (0..bytes.len()).flat_map(|at| (0..8).map(move |bit| (at, bit)));
    let flips = check_flips(bytes, SMALL, bits);
    assert_eq!(flips.checked, bytes.len() as u64 * 8);
    // All but the 64 bits of the two length fields have a predicted error.
    assert_eq!(flips.predicted, flips.checked - 64);
}

#[test]
fn bit_flips_in_a_trace_of_several_chunks_are_typed_errors() {
    let bytes = large_trace();
    // Every bit of every frame, and of the first and last bytes of every payload...
    let mut bits: Vec<(usize, u32)> = chunks(bytes)
        .iter()
        .flat_map(|chunk| {
            let payload = chunk.payload();
            (chunk.start..payload.start + 16).chain(payload.end - 16..payload.end)
        })
        .flat_map(|at| (0..8).map(move |bit| (at, bit)))
        .collect();
    // ... and a spread of others.
    let mut state = 0x0123_4567_89ab_cdefu64;
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bits.push(((state >> 8) as usize % bytes.len(), (state % 8) as u32));
    }
    let flips = check_flips(bytes, LARGE, bits.into_iter());
    // Lengthening the last chunk cuts the file short inside it: the chunks before it replay.
    assert!(flips.replayed > 0, "{flips:?}");
}

/// Whether an error kind is the one a case expects.
type IsExpected = fn(&ErrorKind) -> bool;

/// Damage with valid checksums: each kind of bad content is named.
#[test]
fn crafted_damage_behind_valid_checksums_is_named() {
    let bytes = small_trace();
    let chunks = chunks(bytes);
    let (header, events) = (chunks[0], chunks[1]);
    let header_payload = &bytes[header.payload()];
    let events_payload = &bytes[events.payload()];
    // An event chunk's payload: 'E', sequence 0, first step 1, then the events.
    assert_eq!(&events_payload[..3], b"E\x00\x01");
    let with_events = |prefix: &[u8], events: &[u8]| {
        let mut payload = prefix.to_vec();
        payload.extend_from_slice(events);
        payload
    };
    let mut bad_header = header_payload.to_vec();
    bad_header.push(0);
    let mut wrong_kind = header_payload.to_vec();
    wrong_kind[0] = b'E';
    let cases: Vec<(&str, Vec<u8>, IsExpected)> = vec![
        (
            "a header chunk that is not a header",
            reframe(bytes, header, &wrong_kind),
            |kind| *kind == ErrorKind::MissingHeader,
        ),
        (
            "a header with a byte left over",
            reframe(bytes, header, &bad_header),
            |kind| matches!(kind, ErrorKind::BadHeader(message) if message.contains("left over")),
        ),
        (
            "a header that does not decode",
            reframe(bytes, header, &header_payload[..header_payload.len() / 2]),
            |kind| matches!(kind, ErrorKind::BadHeader(_)),
        ),
        (
            "a chunk of an unknown kind",
            reframe(bytes, events, &with_events(b"Z", &events_payload[1..])),
            |kind| *kind == ErrorKind::UnknownChunk(b'Z'),
        ),
        (
            "an event chunk out of sequence",
            reframe(
                bytes,
                events,
                &with_events(b"E\x01\x01", &events_payload[3..]),
            ),
            |kind| {
                *kind
                    == ErrorKind::OutOfSequence {
                        expected: 0,
                        found: 1,
                    }
            },
        ),
        (
            "an event chunk that starts at the wrong step",
            reframe(
                bytes,
                events,
                &with_events(b"E\x00\x05", &events_payload[3..]),
            ),
            |kind| matches!(kind, ErrorKind::Malformed(message) if message.contains("starts at step")),
        ),
        (
            "an unknown event",
            reframe(
                bytes,
                events,
                &with_events(b"E\x00\x01\xa0", &events_payload[3..]),
            ),
            |kind| *kind == ErrorKind::UnknownEvent(0xa0),
        ),
        (
            "an I/O event out of place",
            reframe(
                bytes,
                events,
                &with_events(b"E\x00\x01\x94", &events_payload[3..]),
            ),
            |kind| matches!(kind, ErrorKind::Malformed(_)),
        ),
        (
            "an event cut in half",
            reframe(bytes, events, &events_payload[..events_payload.len() - 1]),
            |kind| matches!(kind, ErrorKind::Malformed(_)),
        ),
        (
            "a chunk after the outcome",
            [bytes, &bytes[events.start..]].concat(),
            |kind| matches!(kind, ErrorKind::Malformed(message) if message.contains("outcome")),
        ),
        (
            "a chunk claiming more than the limit",
            {
                let mut damaged = bytes.to_vec();
                damaged[events.start..events.start + 4]
                    .copy_from_slice(&(2u32 << 20).to_le_bytes());
                damaged
            },
            |kind| *kind == ErrorKind::ChunkTooLarge { length: 2 << 20 },
        ),
    ];
    for (what, damaged, expected) in cases {
        let error = no_panic(|| what.to_owned(), || reel_trace::decode(&damaged)).expect_err(what);
        assert!(expected(&error.kind), "{what}: {error:?}");
        let in_events = !matches!(
            error.kind,
            ErrorKind::MissingHeader | ErrorKind::BadHeader(_)
        );
        assert_eq!(error.chunk.is_some(), in_events, "{what}: {error:?}");
        // Damage is no truncation: the prefix reader refuses it too.
        assert_eq!(
            reel_trace::decode_prefix(&damaged),
            Err(error.clone()),
            "{what}"
        );
        assert_eq!(
            no_panic(|| what.to_owned(), || Replay::from_bytes(&damaged)).unwrap_err(),
            ReplayError::Trace(error.clone()),
            "{what}"
        );
        // Read from a file, the message names the file and the offset.
        let path = write_scratch("crafted.reel.tmp", &damaged);
        let from_file = reel_trace::read_file(&path).unwrap_err();
        let message = from_file.to_string();
        assert!(
            message.starts_with(&format!("{}: ", path.display())),
            "{message}"
        );
        assert!(
            message.contains(&error.offset.to_string()),
            "{what}: {message}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn another_format_version_is_named_as_unsupported() {
    let bytes = small_trace();
    for version in [0u16, 2, 0xffff] {
        let mut other = bytes.to_vec();
        other[8..10].copy_from_slice(&version.to_le_bytes());
        let error = reel_trace::decode(&other).unwrap_err();
        assert_eq!(error.kind, ErrorKind::UnsupportedVersion { found: version });
        assert_eq!(error.offset, 8);
        let path = write_scratch(&format!("version-{version}.reel"), &other);
        let error = reel_trace::read_file(&path).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&format!("unsupported trace format version {version}")),
            "{message}"
        );
        assert!(
            message.contains("this build reads versions 1..=1"),
            "{message}"
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        match Replay::from_file(&path).unwrap_err() {
            ReplayError::Trace(from_replay) => assert_eq!(from_replay, error),
            other => panic!("{other}"),
        }
    }
}

#[test]
fn files_that_are_not_traces_are_named_as_such() {
    let exe = std::env::current_exe().unwrap();
    let elf = std::fs::read(&exe).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    let empty = write_scratch("empty.reel", b"");
    let text = write_scratch("notes.txt", b"this is a text file, not a trace\n");
    for (path, expected) in [
        (empty, ErrorKind::Truncated { missing: 8 }),
        (text, ErrorKind::NotATrace),
        (exe, ErrorKind::NotATrace),
    ] {
        let error = reel_trace::read_file(&path).unwrap_err();
        assert_eq!(error.kind, expected, "{}", path.display());
        assert_eq!(error.path.as_deref(), Some(&*path.display().to_string()));
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{}: ", path.display())),
            "{message}"
        );
        if expected == ErrorKind::NotATrace {
            assert!(message.contains("not a reel trace"), "{message}");
        }
        // The prefix reader and the replay refuse it too: it is not a trace cut short.
        assert_eq!(reel_trace::read_file_prefix(&path).unwrap_err(), error);
        assert_eq!(
            Replay::from_file(&path).unwrap_err(),
            ReplayError::Trace(error)
        );
    }
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let path = scratch_dir().join("no-such-trace.reel");
    let error = reel_trace::read_file(&path).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::Io(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("cannot read the trace"), "{message}");
    assert_eq!(reel_trace::read_file_prefix(&path).unwrap_err(), error);
    let replay_error = Replay::from_file(&path).unwrap_err();
    assert_eq!(replay_error, ReplayError::Trace(error));
    assert!(
        replay_error
            .to_string()
            .contains(&path.display().to_string())
    );
}

#[test]
fn a_trace_of_another_program_is_refused_by_name() {
    let bytes = small_trace();
    let prologue_end = 10 + 8 + u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let original = reel_trace::decode(bytes).unwrap();
    let mut header = original.header.clone();
    assert_eq!(header.program.exe_name, "bad_traces");
    header.program.exe_name = "another-program".to_owned();
    let mut other = reel_trace::encode_prologue(&header);
    other.extend_from_slice(&bytes[prologue_end..]);
    let trace: Trace = reel_trace::decode(&other).expect("the re-headed trace is valid");
    assert_eq!(trace.events, original.events);

    let error = Replay::from_bytes(&other)
        .unwrap()
        .run(|| program(SMALL))
        .unwrap_err();
    assert_eq!(
        error,
        ReplayError::OtherProgram {
            path: None,
            recorded: "another-program".to_owned(),
            running: "bad_traces".to_owned(),
        }
    );
    let path = write_scratch("other-program.reel", &other);
    let replay = Replay::from_file(&path).unwrap();
    let error = replay.run(|| program(SMALL)).unwrap_err();
    let message = error.to_string();
    assert!(matches!(
        error,
        ReplayError::OtherProgram { path: Some(_), .. }
    ));
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("'another-program'"), "{message}");
    assert!(
        message.contains("not of this one ('bad_traces')"),
        "{message}"
    );
    // Allowed, it replays: only the name differs.
    replay_follows(
        &replay.allow_other_program(true),
        SMALL,
        "another program's trace, allowed",
    );
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_default()
}

#[test]
fn replay_of_a_missing_or_damaged_file_panics_with_the_reason() {
    let missing = scratch_dir().join("missing-for-replay.reel");
    let payload = panic::catch_unwind(|| reel::replay(|| program(SMALL), &missing))
        .expect_err("replaying a missing file panics");
    let message = panic_message(payload.as_ref());
    assert!(message.contains("cannot replay"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );

    let damaged = write_scratch("damaged-for-replay.reel", &flip_payload_byte(small_trace()));
    let payload = panic::catch_unwind(|| reel::replay(|| program(SMALL), &damaged))
        .expect_err("replaying a damaged file panics");
    let message = panic_message(payload.as_ref());
    assert!(message.contains("cannot replay"), "{message}");
    assert!(message.contains("bad checksum"), "{message}");

    // The intact trace replays.
    let intact = write_scratch("intact-for-replay.reel", small_trace());
    reel::replay(|| program(SMALL), &intact);
}

/// The trace with one byte of its event chunk's payload changed.
fn flip_payload_byte(bytes: &[u8]) -> Vec<u8> {
    let events = chunks(bytes)[1];
    let mut damaged = bytes.to_vec();
    damaged[events.payload().start + 5] ^= 0x10;
    damaged
}

/// A plain program under `reel::run`, which REEL_REPLAY turns into a replay (run by the
/// test below in a child process).
#[test]
#[ignore = "a child process of a_corrupt_reel_replay_file_fails_the_run_with_the_reason"]
fn child_runs_under_reel_replay() {
    reel::run(|| program(SMALL));
}

/// Runs `child_runs_under_reel_replay` with REEL_REPLAY set to `trace`.
fn run_child_replaying(trace: &Path) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .env("REEL_REPLAY", trace)
        .env_remove("REEL_RECORD")
        .output()
        .unwrap()
}

#[test]
fn a_corrupt_reel_replay_file_fails_the_run_with_the_reason() {
    let damaged = write_scratch(
        "damaged-reel-replay.reel",
        &flip_payload_byte(small_trace()),
    );
    let output = run_child_replaying(&damaged);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "stderr:\n{stderr}");
    assert!(
        output.status.code().is_some(),
        "a failed test, not a crash: {}",
        output.status
    );
    assert!(stderr.contains("cannot replay REEL_REPLAY"), "{stderr}");
    assert!(stderr.contains("bad checksum"), "{stderr}");
    assert!(stderr.contains(&damaged.display().to_string()), "{stderr}");

    // A trace of another test's run leaves this test's reel::run running as usual.
    let other_test = write_scratch("other-test-reel-replay.reel", small_trace());
    let output = run_child_replaying(&other_test);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert!(stderr.contains("this reel::run runs as usual"), "{stderr}");

    // The child's own trace (recorded with REEL_RECORD) replays in it, which then passes.
    let own = scratch_dir().join("own-reel-replay.reel");
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .env("REEL_RECORD", &own)
        .env_remove("REEL_REPLAY")
        .output()
        .unwrap();
    assert!(output.status.success());
    let output = run_child_replaying(&own);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert!(stderr.contains("reproduced the recording"), "{stderr}");
}
