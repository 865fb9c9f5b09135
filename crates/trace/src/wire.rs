//! Wire-level constants and helpers shared by the encoder and the decoder: chunk frames,
//! chunk kinds, event tags and postcard's varint.

use crate::model::ReservedKind;

/// Bytes of a chunk's frame: payload length (u32 LE), then the payload's CRC-32 (u32 LE).
pub const FRAME_BYTES: usize = 8;

/// The first byte of a chunk's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ChunkKind {
    /// The header: `postcard(Header)`.
    Header = b'H',
    /// Events: varint sequence number, varint first step, then events.
    Events = b'E',
    /// Definitions only (files and locations), outside the sequence of event chunks: how a
    /// trace kept in memory gets the locations that earlier recordings defined.
    Definitions = b'D',
}

/// Set in a step's tag when the step's thread is that of the previous step in the chunk,
/// which is then not written.
pub(crate) const SAME_THREAD: u8 = 0x40;

/// Tags of the events other than steps (steps use 0x00..=0x7f: op code | SAME_THREAD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Tag {
    Spawn = 0x80,
    Object = 0x81,
    File = 0x82,
    Location = 0x83,
    Timeout = 0x84,
    Outcome = 0x85,
    Signal = 0x90,
    ClockRead = 0x92,
    RandomSeed = 0x93,
    Io = 0x94,
    Preemption = 0x91,
    Stall = 0x95,
}

impl Tag {
    pub(crate) fn from_byte(byte: u8) -> Option<Tag> {
        Some(match byte {
            0x80 => Tag::Spawn,
            0x81 => Tag::Object,
            0x82 => Tag::File,
            0x83 => Tag::Location,
            0x84 => Tag::Timeout,
            0x85 => Tag::Outcome,
            0x90 => Tag::Signal,
            0x92 => Tag::ClockRead,
            0x93 => Tag::RandomSeed,
            0x94 => Tag::Io,
            0x91 => Tag::Preemption,
            0x95 => Tag::Stall,
            _ => return None,
        })
    }
}

/// The tags reserved for inputs this version does not record yet: none any more. The tags
/// version 1 reserved (`0x90`..`0x94`) are all events now; a reader built before one of them
/// was recorded rejects it by name.
pub(crate) fn reserved(_byte: u8) -> Option<ReservedKind> {
    None
}

/// The frame of a chunk with this payload.
pub(crate) fn frame(payload: &[u8]) -> [u8; FRAME_BYTES] {
    let length = u32::try_from(payload.len()).expect("chunks are far smaller than 4 GiB");
    let mut frame = [0; FRAME_BYTES];
    frame[..4].copy_from_slice(&length.to_le_bytes());
    frame[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    frame
}

/// Writes `value` as postcard writes an unsigned integer (LEB128: seven bits a byte, low
/// first, high bit set on all but the last byte); returns the bytes written.
#[inline(always)]
pub(crate) fn put_varint(out: &mut [u8], mut value: u64) -> usize {
    let mut at = 0;
    while value >= 0x80 {
        out[at] = (value as u8) | 0x80;
        value >>= 7;
        at += 1;
    }
    out[at] = value as u8;
    at + 1
}
