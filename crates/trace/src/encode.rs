//! Writing a trace: the prologue (magic, version, header chunk) and event chunks, built one
//! event at a time into a buffer that never reallocates, so that a fatal-signal handler can
//! write out the open chunk as it stands.
//!
//! A handler that interrupts the encoder's owner reads the committed part of the open chunk
//! and the sealed chunks (see [`ChunkEncoder::committed_chunk`] and
//! [`ChunkEncoder::sealed_chunks`]). Sealing, [`ChunkEncoder::clear_sealed`] and
//! [`ChunkEncoder::reset`] change the latter; they run inside the owner's critical section
//! (see [`ChunkEncoder::set_critical_section`]), so that a handler never finds the sealed
//! chunks half-appended (perhaps in the middle of a reallocation).

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::model::{
    ClockReading, FileDef, Header, IoEvent, IoResult, LocationDef, ObjectKind, OpKind, Outcome,
    SignalArrival, Stall,
};

use crate::wire::{self, ChunkKind, FRAME_BYTES, Tag};
use crate::{CHUNK_TARGET_BYTES, FORMAT_VERSION, MAGIC, MAX_EVENT_BYTES, MAX_STRING_BYTES};

/// The most bytes one step takes: a tag and three 32-bit varints.
const MAX_STEP_BYTES: usize = 1 + 3 * 5;

/// Capacity of the open chunk: frame, chunk prefix, the target payload, and one more event.
const CHUNK_CAPACITY: usize = FRAME_BYTES + 16 + CHUNK_TARGET_BYTES + MAX_EVENT_BYTES;

/// The prologue of a trace file: magic, format version, and the header chunk.
pub fn encode_prologue(header: &Header) -> Vec<u8> {
    let mut header = header.clone();
    bound_header(&mut header);
    let mut payload = vec![ChunkKind::Header as u8];
    let body = postcard::to_allocvec(&header).expect("a header always serializes");
    payload.extend_from_slice(&body);
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + FRAME_BYTES + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&wire::frame(&payload));
    out.extend_from_slice(&payload);
    out
}

/// Framed definition chunks ('D') defining `files`, then `locations`, in order.
pub fn encode_definitions(files: &[&str], locations: &[LocationDef]) -> Vec<u8> {
    let mut out = Vec::new();
    write_definitions(files, locations, &mut |bytes| out.extend_from_slice(bytes));
    out
}

/// Writes the chunks of [`encode_definitions`] through `sink`, allocating nothing and using
/// a few dozen bytes of stack, so that a fatal-signal handler may call it: each chunk's
/// length and CRC-32 are computed in a first pass over its definitions, which are written in
/// a second.
pub fn write_definitions(files: &[&str], locations: &[LocationDef], sink: &mut dyn FnMut(&[u8])) {
    let count = files.len() + locations.len();
    // Definition `index` as its pieces: the tag and varints in `head`, then a file's path.
    let definition = |index: usize, head: &mut [u8; 16]| -> (usize, &[u8]) {
        if let Some(file) = files.get(index) {
            let path = bounded_str(file).as_bytes();
            head[0] = Tag::File as u8;
            let len = 1 + wire::put_varint(&mut head[1..], path.len() as u64);
            (len, path)
        } else {
            let location = locations[index - files.len()];
            head[0] = Tag::Location as u8;
            let mut len = 1;
            for value in [location.file, location.line, location.column] {
                len += wire::put_varint(&mut head[len..], u64::from(value));
            }
            (len, &[])
        }
    };
    let mut start = 0;
    while start < count {
        let mut head = [0u8; 16];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[ChunkKind::Definitions as u8]);
        let mut length = 1;
        let mut end = start;
        while end < count {
            let (head_len, path) = definition(end, &mut head);
            let size = head_len + path.len();
            if end > start && length + size > CHUNK_TARGET_BYTES {
                break;
            }
            hasher.update(&head[..head_len]);
            hasher.update(path);
            length += size;
            end += 1;
        }
        let mut frame = [0u8; FRAME_BYTES];
        frame[..4].copy_from_slice(&(length as u32).to_le_bytes());
        frame[4..].copy_from_slice(&hasher.finalize().to_le_bytes());
        sink(&frame);
        sink(&[ChunkKind::Definitions as u8]);
        for index in start..end {
            let (head_len, path) = definition(index, &mut head);
            sink(&head[..head_len]);
            sink(path);
        }
        start = end;
    }
}

/// Cuts a string to at most `MAX_STRING_BYTES`, on a character boundary.
pub(crate) fn bound_string(text: &mut String) {
    let end = bounded_str(text).len();
    text.truncate(end);
}

/// The longest prefix of `text` of at most `MAX_STRING_BYTES`, on a character boundary.
pub(crate) fn bounded_str(text: &str) -> &str {
    let mut end = text.len().min(MAX_STRING_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn bound_header(header: &mut Header) {
    header.program.args.truncate(crate::MAX_ARGS);
    let program = &mut header.program;
    for text in program
        .args
        .iter_mut()
        .chain([
            &mut program.exe_path,
            &mut program.exe_name,
            &mut program.reel_version,
            &mut program.rustc_version,
            &mut program.target,
            &mut program.profile,
        ])
        .chain(program.entry.as_mut())
    {
        bound_string(text);
    }
    let run = &mut header.run;
    for text in [&mut run.strategy, &mut run.host]
        .into_iter()
        .chain(run.ci_commit.as_mut())
    {
        bound_string(text);
    }
}

/// Builds event chunks. Sealed chunks (framed, ready to append to a file) collect in
/// [`ChunkEncoder::sealed`] until the owner takes them.
pub struct ChunkEncoder {
    /// The open chunk: room for the frame, then the payload. Fixed size, never reallocated.
    chunk: Box<[u8]>,
    /// Bytes of `chunk` in use (frame included).
    len: usize,
    /// `len` at the end of the last complete event, for a signal handler (see
    /// [`ChunkEncoder::committed_chunk`]).
    committed: AtomicUsize,
    /// Framed chunks sealed and not yet taken.
    sealed: Vec<u8>,
    /// Runs each seal (see [`ChunkEncoder::set_critical_section`]).
    critical_section: fn(&mut dyn FnMut()),
    /// The thread of the previous step in the open chunk.
    previous_thread: Option<u32>,
    /// The sequence number of the open (or next) chunk.
    sequence: u32,
    /// Steps encoded so far.
    steps: u64,
}

impl Default for ChunkEncoder {
    fn default() -> ChunkEncoder {
        ChunkEncoder::new()
    }
}

impl ChunkEncoder {
    /// An encoder for a new trace (its first chunk has sequence number 0).
    pub fn new() -> ChunkEncoder {
        ChunkEncoder {
            chunk: vec![0; CHUNK_CAPACITY].into_boxed_slice(),
            len: 0,
            committed: AtomicUsize::new(0),
            sealed: Vec::new(),
            critical_section: run_directly,
            previous_thread: None,
            sequence: 0,
            steps: 0,
        }
    }

    /// Has every seal run inside `section`, which calls its argument once: the owner of an
    /// encoder that a signal handler may read (see [`ChunkEncoder::committed_chunk`]) blocks
    /// those signals there, since sealing appends to the sealed chunks, which may reallocate
    /// them. A seal happens once per chunk (or when the owner asks), never on an event that
    /// leaves the chunk open. By default the seal runs directly.
    pub fn set_critical_section(&mut self, section: fn(&mut dyn FnMut())) {
        self.critical_section = section;
    }

    /// Starts a new trace, keeping the buffers. The owner of an encoder that a signal handler
    /// may read calls it in its critical section (see [`ChunkEncoder::set_critical_section`]).
    pub fn reset(&mut self) {
        self.len = 0;
        self.committed.store(0, Ordering::Release);
        self.sealed.clear();
        self.previous_thread = None;
        self.sequence = 0;
        self.steps = 0;
    }

    /// Steps encoded so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Opens a chunk if none is open, sealing the open one first if `needed` more bytes
    /// would not fit.
    #[inline(always)]
    fn make_room(&mut self, needed: usize) {
        if self.len != 0 && self.len + needed > self.chunk.len() {
            self.seal();
        }
        if self.len == 0 {
            self.open();
        }
    }

    #[cold]
    fn open(&mut self) {
        let mut len = FRAME_BYTES;
        self.chunk[len] = ChunkKind::Events as u8;
        len += 1;
        len += wire::put_varint(&mut self.chunk[len..], u64::from(self.sequence));
        len += wire::put_varint(&mut self.chunk[len..], self.steps + 1);
        self.len = len;
        self.previous_thread = None;
        self.committed.store(len, Ordering::Release);
    }

    /// Ends an event: publishes it to a signal handler, and seals the chunk once it reached
    /// its target size.
    #[inline(always)]
    fn commit(&mut self) {
        self.committed.store(self.len, Ordering::Release);
        if self.len >= FRAME_BYTES + CHUNK_TARGET_BYTES {
            self.seal();
        }
    }

    /// Records one scheduling step: the hot path.
    #[inline(always)]
    pub fn step(&mut self, thread: u32, op: OpKind, object: Option<u32>, location: u32) {
        // Every event's commit seals a chunk that reached its target, so an open chunk
        // always has room for a step: only opening one is left to do.
        if self.len == 0 {
            self.open();
        }
        debug_assert!(self.len + MAX_STEP_BYTES <= self.chunk.len());
        let object = object.map_or(0, |object| u64::from(object) + 1);
        let len = self.len;
        let same_thread = self.previous_thread == Some(thread);
        if u64::from(thread | location) | object < 0x80 {
            // The common case: every varint is one byte.
            let buffer = &mut self.chunk[len..len + 4];
            if same_thread {
                buffer[0] = op.code() | wire::SAME_THREAD;
                buffer[1] = object as u8;
                buffer[2] = location as u8;
                self.len = len + 3;
            } else {
                buffer[0] = op.code();
                buffer[1] = thread as u8;
                buffer[2] = object as u8;
                buffer[3] = location as u8;
                self.len = len + 4;
                self.previous_thread = Some(thread);
            }
        } else {
            self.step_with_long_varints(thread, op, object, location, same_thread);
        }
        self.steps += 1;
        self.commit();
    }

    /// [`ChunkEncoder::step`] when some number needs more than one byte.
    #[inline(never)]
    fn step_with_long_varints(
        &mut self,
        thread: u32,
        op: OpKind,
        object: u64,
        location: u32,
        same_thread: bool,
    ) {
        let buffer = &mut self.chunk[self.len..];
        let mut at = 1;
        if same_thread {
            buffer[0] = op.code() | wire::SAME_THREAD;
        } else {
            buffer[0] = op.code();
            at += wire::put_varint(&mut buffer[at..], u64::from(thread));
            self.previous_thread = Some(thread);
        }
        at += wire::put_varint(&mut buffer[at..], object);
        at += wire::put_varint(&mut buffer[at..], u64::from(location));
        self.len += at;
    }

    /// Records that a thread was created (it gets the next thread id).
    pub fn spawn(&mut self, parent: Option<u32>, name: Option<&str>) {
        /// [`Spawn`]'s wire form, borrowing the name: no allocation per thread.
        #[derive(Serialize)]
        struct SpawnRef<'a> {
            parent: Option<u32>,
            name: Option<&'a str>,
        }
        let name = name.map(bounded_str);
        self.body(Tag::Spawn, &SpawnRef { parent, name });
    }

    /// Records that a shared object was first used (it gets the next object id).
    pub fn object(&mut self, kind: ObjectKind) {
        self.body(Tag::Object, &kind);
    }

    /// Defines the next source file.
    pub fn file(&mut self, path: &str) {
        let mut path = path.to_owned();
        bound_string(&mut path);
        self.body(Tag::File, &FileDef { path });
    }

    /// Defines the next location.
    pub fn location(&mut self, location: LocationDef) {
        self.body(Tag::Location, &location);
    }

    /// Records that `thread`'s timed wait ran out.
    pub fn timeout(&mut self, thread: u32) {
        self.body(Tag::Timeout, &thread);
    }

    /// Records that a signal arrived and was delivered after step `arrival.step`.
    pub fn signal(&mut self, arrival: &SignalArrival) {
        debug_assert!((1..=crate::MAX_SIGNAL).contains(&arrival.signal));
        debug_assert_eq!(
            arrival.step, self.steps,
            "an arrival follows the steps before it"
        );
        self.body(Tag::Signal, arrival);
    }

    /// Records what a clock read (after its [`OpKind::ClockRead`] step).
    pub fn clock_read(&mut self, reading: ClockReading) {
        self.body(Tag::ClockRead, &reading);
    }

    /// Records the seed of the run's random generators (after its [`OpKind::RandomSeed`]
    /// step).
    pub fn random_seed(&mut self, seed: u64) {
        self.body(Tag::RandomSeed, &seed);
    }

    /// Records an I/O event: the result of the I/O step just recorded, or the end of a
    /// thread's wait for I/O at a decision point. The writer keeps within the limits
    /// ([`crate::MAX_DATAGRAM_BYTES`], [`crate::MAX_IO_BYTES`], [`crate::MAX_IO_ADDRS`],
    /// [`crate::MAX_STRING_BYTES`]), so
    /// the event fits in `MAX_EVENT_BYTES`.
    pub fn io(&mut self, event: &IoEvent) {
        if let IoEvent::Done(done) = event {
            match &done.result {
                IoResult::Bytes(bytes) | IoResult::BytesFrom { bytes, .. } => {
                    assert!(
                        bytes.len() <= crate::MAX_DATAGRAM_BYTES,
                        "an I/O result's bytes are bounded"
                    );
                }
                IoResult::Value(bytes) => {
                    assert!(
                        bytes.len() <= crate::MAX_IO_BYTES,
                        "an I/O result's value is bounded"
                    );
                }
                IoResult::Addrs(addrs) => {
                    assert!(
                        addrs.len() <= crate::MAX_IO_ADDRS,
                        "resolved addresses are bounded"
                    );
                }
                IoResult::Error { message, .. } if message.len() > crate::MAX_STRING_BYTES => {
                    let mut done = done.clone();
                    if let IoResult::Error { message, .. } = &mut done.result {
                        bound_string(message);
                    }
                    self.body(Tag::Io, &IoEvent::Done(done));
                    return;
                }
                _ => {}
            }
        }
        self.body(Tag::Io, event);
    }

    /// Records that `thread` used up its time slice and was preempted before the next step.
    pub fn preemption(&mut self, thread: u32) {
        self.body(Tag::Preemption, &thread);
    }

    /// Records a head-of-line stall.
    pub fn stall(&mut self, stall: &Stall) {
        let mut stall = stall.clone();
        if let Some(syscall) = &mut stall.syscall {
            bound_string(syscall);
        }
        if let Some(location) = &mut stall.location {
            bound_string(&mut location.file);
        }
        self.body(Tag::Stall, &stall);
    }

    /// Records how the run ended.
    pub fn outcome(&mut self, outcome: &Outcome) {
        let mut outcome = outcome.clone();
        bound_string(&mut outcome.message);
        if let Some(location) = &mut outcome.location {
            bound_string(&mut location.file);
        }
        outcome.cycle.truncate(crate::MAX_CYCLE_THREADS);
        self.body(Tag::Outcome, &outcome);
    }

    /// A tag byte, then the postcard encoding of `body`.
    fn body(&mut self, tag: Tag, body: &impl Serialize) {
        self.make_room(MAX_EVENT_BYTES);
        self.chunk[self.len] = tag as u8;
        let written = postcard::to_slice(body, &mut self.chunk[self.len + 1..])
            .expect("an event with bounded strings fits in MAX_EVENT_BYTES")
            .len();
        debug_assert!(written < MAX_EVENT_BYTES);
        self.len += 1 + written;
        self.commit();
    }

    /// Seals the open chunk, if any, into `sealed`, in the critical section.
    pub fn seal(&mut self) {
        if self.len == 0 {
            return;
        }
        let section = self.critical_section;
        section(&mut || self.seal_open_chunk());
    }

    #[inline(never)]
    fn seal_open_chunk(&mut self) {
        if self.len == 0 {
            return;
        }
        let frame = wire::frame(&self.chunk[FRAME_BYTES..self.len]);
        self.chunk[..FRAME_BYTES].copy_from_slice(&frame);
        // The chunk leaves the open chunk (for a handler) before it joins the sealed ones,
        // so that a handler never sees it in both. Asynchronous signals wait for the end of
        // the critical section anyway; this covers a fault inside the append.
        self.committed.store(0, Ordering::Release);
        self.sealed.extend_from_slice(&self.chunk[..self.len]);
        self.len = 0;
        self.sequence += 1;
    }

    /// The sealed chunks, framed, not yet taken.
    pub fn sealed(&self) -> &[u8] {
        &self.sealed
    }

    /// Forgets the sealed chunks (after writing them out). The owner of an encoder that a
    /// signal handler may read calls it in its critical section.
    pub fn clear_sealed(&mut self) {
        self.sealed.clear();
    }

    /// Whether sealed chunks wait to be taken.
    #[inline(always)]
    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }

    /// The open chunk's payload up to its last complete event, and the frame that seals it,
    /// without changing the encoder: for a fatal-signal handler, which may have interrupted
    /// an event half-way. Allocates nothing. A chunk being sealed is no longer open: the
    /// committed length drops to zero before the chunk is appended to the sealed ones.
    ///
    /// # Safety
    /// `encoder` must point to a live encoder, and the caller must run on the kernel thread
    /// that owns it (a signal handler that interrupted the owner), so that the owner is
    /// suspended while the result is used: bytes before the committed length are never
    /// written again until the chunk is sealed. The result must not be used after the owner
    /// resumes.
    pub unsafe fn committed_chunk<'a>(
        encoder: *const ChunkEncoder,
    ) -> Option<([u8; FRAME_BYTES], &'a [u8])> {
        // SAFETY: the caller guarantees `encoder` is live; `committed` is an atomic, and the
        // boxed buffer's address never changes.
        let (committed, chunk) = unsafe {
            let committed = (*encoder).committed.load(Ordering::Acquire);
            let chunk: *const [u8] = &*(*encoder).chunk;
            (committed, chunk)
        };
        if committed <= FRAME_BYTES {
            return None;
        }
        // SAFETY: `committed` never exceeds the buffer's length, and the bytes before it
        // were written before it was published (Release/Acquire).
        let payload = unsafe { &(&*chunk)[FRAME_BYTES..committed] };
        Some((wire::frame(payload), payload))
    }

    /// The sealed chunks not yet taken, for a fatal-signal handler: whole framed chunks,
    /// which come before the open chunk. Allocates nothing.
    ///
    /// # Safety
    /// As for [`ChunkEncoder::committed_chunk`], and the owner must not have been interrupted
    /// inside the critical section (see [`ChunkEncoder::set_critical_section`]), where the
    /// sealed chunks may be in the middle of an append or a reallocation.
    pub unsafe fn sealed_chunks<'a>(encoder: *const ChunkEncoder) -> &'a [u8] {
        // SAFETY: the caller guarantees `encoder` is live and that its owner is suspended
        // outside the critical section, so the vector's pointer and length describe its
        // initialised bytes and stay as they are while the result is used.
        unsafe { (*encoder).sealed.as_slice() }
    }
}

/// The default critical section: no signal handler reads the encoder.
fn run_directly(body: &mut dyn FnMut()) {
    body();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definitions as postcard encodes them, one chunk each, to compare with.
    fn postcard_definitions(files: &[&str], locations: &[LocationDef]) -> Vec<Vec<u8>> {
        files
            .iter()
            .map(|file| {
                let mut bytes = vec![Tag::File as u8];
                bytes.extend(
                    postcard::to_allocvec(&FileDef {
                        path: bounded_str(file).to_owned(),
                    })
                    .unwrap(),
                );
                bytes
            })
            .chain(locations.iter().map(|location| {
                let mut bytes = vec![Tag::Location as u8];
                bytes.extend(postcard::to_allocvec(location).unwrap());
                bytes
            }))
            .collect()
    }

    std::thread_local! {
        /// How many times the test's critical section ran.
        static SECTIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn seals_run_in_the_critical_section_and_only_seals() {
        fn section(body: &mut dyn FnMut()) {
            SECTIONS.with(|sections| sections.set(sections.get() + 1));
            body();
        }
        let mut encoder = ChunkEncoder::new();
        encoder.set_critical_section(section);
        encoder.seal(); // Nothing open: no section.
        let mut steps = 0u64;
        while !encoder.has_sealed() {
            encoder.step(1, OpKind::Lock, Some(2), 3);
            steps += 1;
        }
        // The chunk sealed by itself once full, in one section, and is no longer open.
        assert_eq!(SECTIONS.with(std::cell::Cell::get), 1);
        // SAFETY: the encoder is ours and nothing changes it while the results are used.
        let (open, sealed) = unsafe {
            (
                ChunkEncoder::committed_chunk(&encoder),
                ChunkEncoder::sealed_chunks(&encoder).len(),
            )
        };
        assert!(open.is_none());
        assert!(sealed >= FRAME_BYTES + CHUNK_TARGET_BYTES && steps > 1000);
        encoder.step(1, OpKind::Unlock, Some(2), 3);
        encoder.seal();
        assert_eq!(SECTIONS.with(std::cell::Cell::get), 2);
    }

    #[test]
    fn definitions_are_postcard_split_into_bounded_chunks() {
        let long = "x".repeat(MAX_STRING_BYTES + 10);
        let files: Vec<String> = (0..300)
            .map(|index| format!("src/module_{index}/file.rs"))
            .chain([long])
            .collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let locations: Vec<LocationDef> = (0..2_000u32)
            .map(|index| LocationDef {
                file: index % 301,
                line: index * 37,
                column: index % 120,
            })
            .collect();
        let bytes = encode_definitions(&files, &locations);
        // Walk the chunks: each is framed, checksummed, under the target, and holds the
        // postcard encodings in order.
        let expected: Vec<u8> = postcard_definitions(&files, &locations).concat();
        let mut payloads = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let length = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
            let payload = &bytes[at + FRAME_BYTES..at + FRAME_BYTES + length];
            assert_eq!(crc32fast::hash(payload), crc);
            assert_eq!(payload[0], ChunkKind::Definitions as u8);
            assert!(length <= CHUNK_TARGET_BYTES);
            payloads.extend_from_slice(&payload[1..]);
            at += FRAME_BYTES + length;
        }
        assert!(at == bytes.len() && payloads == expected);
    }
}
