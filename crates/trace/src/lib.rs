//! reel-trace: the data model of a reel trace and its codec. It knows nothing of the runtime.
//!
//! A trace is a file:
//! ```text
//! magic (8 bytes) | format version (u16 LE) | header chunk | event chunk | event chunk | ...
//! chunk = payload length (u32 LE) | CRC-32 of the payload (u32 LE) | payload
//! ```
//! The header ([`Header`]) names the program and the run; the events ([`Event`]) record each
//! scheduling step (thread, operation, object, interned source location), each thread and
//! object as it appears, each timeout that fired, and the outcome. Payloads are postcard
//! (serde) encodings; a step is a tag byte and three varints, usually three or four bytes.
//! docs/trace-format.md specifies every byte.
//!
//! Chunks are written whole and each carries its own checksum, so a recording that crashes
//! or is killed leaves a file that [`decode_prefix`] reads up to its last complete chunk.
//!
//! ```
//! use reel_trace::{ChunkEncoder, ObjectKind, OpKind, LocationDef, OutcomeKind, Outcome};
//! # let header = reel_trace::tests_support::example_header();
//! let mut bytes = reel_trace::encode_prologue(&header);
//! let mut events = ChunkEncoder::new();
//! events.spawn(None, Some("main"));
//! events.object(ObjectKind::Mutex);
//! events.file("src/main.rs");
//! events.location(LocationDef { file: 0, line: 7, column: 5 });
//! events.step(0, OpKind::Lock, Some(0), 0);
//! events.outcome(&Outcome {
//!     kind: OutcomeKind::Ok,
//!     step: 1,
//!     thread: None,
//!     location: None,
//!     message: String::new(),
//!     cycle: Vec::new(),
//! });
//! events.seal();
//! bytes.extend_from_slice(events.sealed());
//!
//! let trace = reel_trace::decode(&bytes).unwrap();
//! assert_eq!(trace.steps, 1);
//! assert_eq!(trace.object_name(OpKind::Lock, 0), "Mutex#0");
//! assert_eq!(trace.outcome.unwrap().kind, OutcomeKind::Ok);
//! ```

mod decode;
mod encode;
mod error;
mod model;
mod wire;

pub use decode::{Trace, decode, decode_prefix, read_file, read_file_prefix};
pub use encode::{ChunkEncoder, encode_definitions, encode_prologue, write_definitions};
pub use error::{Error, ErrorKind};
pub use model::{
    ClockKind, ClockReading, ClockSource, Event, FileDef, Header, IoDone, IoEvent, IoResult,
    LocationDef, ObjectKind, OpKind, Outcome, OutcomeKind, Program, ReservedKind, RunInfo,
    Settings, SignalArrival, SourceLocation, Spawn, Stall, Step, signal_name, signal_number,
};
pub use wire::FRAME_BYTES;

/// The first eight bytes of every trace (as PNG's: a high byte, the name, CR LF, ^Z).
pub const MAGIC: [u8; 8] = *b"\x89REEL\r\n\x1a";

/// The format version this build writes.
pub const FORMAT_VERSION: u16 = 1;

/// The oldest format version this build reads.
pub const OLDEST_READABLE_VERSION: u16 = 1;

/// The largest chunk payload a reader accepts (writers stay far below it).
pub const MAX_CHUNK_BYTES: usize = 1 << 20;

/// A writer seals a chunk once its payload reaches this many bytes.
pub const CHUNK_TARGET_BYTES: usize = 8 * 1024;

/// The longest string a writer records (longer ones are cut on a character boundary).
pub const MAX_STRING_BYTES: usize = 4 * 1024;

/// The most bytes one I/O event carries (a read's contents): a runtime reads at most this
/// much in one step.
pub const MAX_IO_BYTES: usize = 8 * 1024;

/// The most bytes of one datagram an I/O event carries (a datagram's bytes, read whole,
/// which a later read cannot complete): 64 KiB, the most a UDP datagram holds.
pub const MAX_DATAGRAM_BYTES: usize = 64 * 1024;

/// The most addresses one resolution records.
pub const MAX_IO_ADDRS: usize = 64;

/// The most arguments a header records.
pub const MAX_ARGS: usize = 64;

/// The highest signal number (Linux's `SIGRTMAX`).
pub const MAX_SIGNAL: u32 = 64;

/// The most threads an outcome's cycle records.
pub const MAX_CYCLE_THREADS: usize = 1024;

/// The most bytes one event other than a step takes when encoded, its tag included. The
/// largest is an I/O result with a datagram: its bytes and fewer than 128 bytes of other
/// fields (an outcome, with two strings, a cycle of 32-bit varints and fewer than 64 bytes
/// of other fields, is smaller).
pub const MAX_EVENT_BYTES: usize = MAX_DATAGRAM_BYTES + 128;

const _: () = assert!(2 * MAX_STRING_BYTES + 5 * MAX_CYCLE_THREADS + 64 <= MAX_EVENT_BYTES);

/// Helpers for examples and tests of code that handles traces.
#[doc(hidden)]
pub mod tests_support {
    use crate::{ClockKind, Header, Program, RunInfo, Settings};

    /// A plausible header.
    pub fn example_header() -> Header {
        Header {
            program: Program {
                exe_path: "/tmp/example".to_owned(),
                exe_name: "example".to_owned(),
                exe_hash: Some(0x1234),
                entry: Some("tests::example".to_owned()),
                args: vec!["example".to_owned()],
                reel_version: "0.1.0".to_owned(),
                rustc_version: "rustc 1.95.0".to_owned(),
                target: "x86_64-unknown-linux-gnu".to_owned(),
                profile: "debug".to_owned(),
            },
            run: RunInfo {
                strategy: "random".to_owned(),
                seed: Some(7),
                iteration: Some(3),
                host: "host".to_owned(),
                start_unix_ms: 0,
                pid: 1,
                kernel_thread: 1,
                ci_commit: None,
            },
            settings: Settings {
                max_steps: Some(100_000),
                spin_limit: None,
                stack_bytes: 256 * 1024,
                any_thread_panic_fails: true,
                clock: ClockKind::Virtual,
            },
        }
    }

    /// Where each chunk of a whole trace file is framed: (the frame's start, the payload's
    /// length). A frame is a little-endian u32 length and the payload's CRC-32, then the
    /// payload; the chunks follow the prologue (the magic and the format's version).
    pub fn chunk_frames(bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut frames = Vec::new();
        let mut start = crate::MAGIC.len() + 2;
        while start + 8 <= bytes.len() {
            let length = u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap());
            frames.push((start, length as usize));
            start += 8 + length as usize;
        }
        frames
    }

    /// The frame (as [`chunk_frames`] gives it) whose payload holds byte `at`.
    pub fn chunk_frame_around(bytes: &[u8], at: usize) -> (usize, usize) {
        chunk_frames(bytes)
            .into_iter()
            .find(|&(start, length)| (start + 8..start + 8 + length).contains(&at))
            .unwrap_or_else(|| panic!("byte {at} is in no chunk's payload"))
    }

    /// Writes the CRC-32 of the payload of the chunk framed at `start` into its frame again,
    /// after the payload was changed in place: damage behind a valid checksum.
    pub fn refresh_crc(bytes: &mut [u8], start: usize) {
        let length = u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap()) as usize;
        let crc = crc32(&bytes[start + 8..start + 8 + length]);
        bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    /// The CRC-32 (IEEE) that frames hold.
    pub fn crc32(bytes: &[u8]) -> u32 {
        crc32fast::hash(bytes)
    }
}
