//! The reader's error: what is wrong with a trace, and where.

use std::fmt;

use crate::model::ReservedKind;
use crate::{FORMAT_VERSION, MAX_CHUNK_BYTES, OLDEST_READABLE_VERSION};

/// Why a trace could not be read, and where in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The byte offset in the file where it was found.
    pub offset: u64,
    /// The event chunk it was found in (0-based), when it was in one.
    pub chunk: Option<u32>,
    /// The file, when the trace was read from one.
    pub path: Option<String>,
}

/// What is wrong with a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io(String),
    /// The file does not start with reel's magic number.
    NotATrace,
    /// The format version is one this build cannot read.
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
    },
    /// The file ends inside a chunk (or before the first one), or between two chunks before
    /// the outcome.
    Truncated {
        /// Bytes the chunk (or its frame) needed past the end of the file; 0 when the file
        /// ends between two chunks.
        missing: u64,
    },
    /// A chunk claims a length above the limit.
    ChunkTooLarge {
        /// The claimed length.
        length: u64,
    },
    /// A chunk's bytes do not match its CRC-32.
    BadChecksum {
        /// The checksum stored in the frame.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The first chunk is not a header.
    MissingHeader,
    /// The header chunk does not decode.
    BadHeader(String),
    /// A chunk of a kind this build does not know.
    UnknownChunk(u8),
    /// Chunks are missing or out of order.
    OutOfSequence {
        /// The sequence number expected.
        expected: u32,
        /// The one found.
        found: u64,
    },
    /// An event kind this build does not know.
    UnknownEvent(u8),
    /// An event kind the format reserves for inputs this build cannot replay.
    ReservedEvent(ReservedKind),
    /// An event that does not decode or does not fit what came before it.
    Malformed(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, offset: u64, chunk: Option<u32>) -> Error {
        Error {
            kind,
            offset,
            chunk,
            path: None,
        }
    }

    /// Whether the trace was only cut short (a recording that crashed or was killed), as
    /// opposed to damaged or foreign.
    pub fn is_truncation(&self) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        let offset = self.offset;
        let chunk = match self.chunk {
            Some(chunk) => format!(" in chunk {chunk}"),
            None => String::new(),
        };
        match &self.kind {
            ErrorKind::Io(message) => write!(f, "cannot read the trace: {message}"),
            ErrorKind::NotATrace => write!(
                f,
                "not a reel trace: it does not start with reel's magic number (\\x89REEL\\r\\n\\x1a)"
            ),
            ErrorKind::UnsupportedVersion { found } => write!(
                f,
                "unsupported trace format version {found}: this build reads versions \
                 {OLDEST_READABLE_VERSION}..={FORMAT_VERSION}"
            ),
            ErrorKind::Truncated { missing: 0 } => write!(
                f,
                "truncated at byte {offset}: the trace ends before its outcome (the recording \
                 was cut short, or the file was cut)"
            ),
            ErrorKind::Truncated { missing } => write!(
                f,
                "truncated at byte {offset}{chunk}: {missing} more bytes were expected (the \
                 recording was cut short, or the file was cut)"
            ),
            ErrorKind::ChunkTooLarge { length } => write!(
                f,
                "chunk{chunk} at byte {offset} claims {length} bytes, above the limit of \
                 {MAX_CHUNK_BYTES}: the trace is damaged"
            ),
            ErrorKind::BadChecksum { stored, computed } => write!(
                f,
                "bad checksum{chunk} at byte {offset} (stored {stored:#010x}, computed \
                 {computed:#010x}): the trace is damaged"
            ),
            ErrorKind::MissingHeader => {
                write!(f, "the first chunk (at byte {offset}) is not a header")
            }
            ErrorKind::BadHeader(message) => {
                write!(f, "the header at byte {offset} does not decode: {message}")
            }
            ErrorKind::UnknownChunk(kind) => {
                write!(f, "unknown chunk kind {kind:#04x}{chunk} at byte {offset}")
            }
            ErrorKind::OutOfSequence { expected, found } => write!(
                f,
                "chunk at byte {offset} has sequence number {found} where {expected} was \
                 expected: chunks are missing or out of order"
            ),
            ErrorKind::UnknownEvent(tag) => write!(
                f,
                "unknown event kind {tag:#04x}{chunk} at byte {offset}: written by a newer reel?"
            ),
            ErrorKind::ReservedEvent(kind) => write!(
                f,
                "{} event{chunk} at byte {offset}: this build of reel cannot replay {}s",
                kind.name(),
                kind.name()
            ),
            ErrorKind::Malformed(message) => {
                write!(f, "malformed event{chunk} at byte {offset}: {message}")
            }
        }
    }
}

impl std::error::Error for Error {}
