//! Reading a trace: every length is checked against the input before anything is
//! allocated, every chunk against its checksum, every event against what came before it.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};
use crate::model::{
    ClockReading, ClockSource, Event, FileDef, Header, IoEvent, IoResult, LocationDef, ObjectKind,
    OpKind, Outcome, OutcomeKind, SignalArrival, Spawn, Stall, Step,
};
use crate::wire::{self, ChunkKind, FRAME_BYTES, Tag};
use crate::{FORMAT_VERSION, MAGIC, MAX_CHUNK_BYTES, OLDEST_READABLE_VERSION};

/// A decoded trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The format version it was written in.
    pub version: u16,
    /// The program and the run.
    pub header: Header,
    /// The threads, by id: who spawned each, and its name.
    pub threads: Vec<Spawn>,
    /// The shared objects, by id.
    pub objects: Vec<ObjectKind>,
    /// The source files, by id.
    pub files: Vec<String>,
    /// The source locations, by id.
    pub locations: Vec<LocationDef>,
    /// The events in order (definitions of files and locations are in the tables above).
    pub events: Vec<Event>,
    /// How the run ended; `None` when the recording was cut short.
    pub outcome: Option<Outcome>,
    /// The number of steps.
    pub steps: u64,
    /// Bytes of the trace that were read and used.
    pub bytes: u64,
    /// When read with [`decode_prefix`]: the truncation that ended the readable part, or
    /// `None` when the trace is complete (it ends with its outcome).
    pub cut: Option<Error>,
}

impl Trace {
    /// The steps, in order.
    pub fn step_events(&self) -> impl Iterator<Item = &Step> {
        self.events.iter().filter_map(|event| match event {
            Event::Step(step) => Some(step),
            _ => None,
        })
    }

    /// The signal arrivals, in order.
    pub fn signal_arrivals(&self) -> impl Iterator<Item = &SignalArrival> {
        self.events.iter().filter_map(|event| match event {
            Event::Signal(arrival) => Some(arrival),
            _ => None,
        })
    }

    /// A location's file path, line and column.
    ///
    /// The ids in this trace's events are always in range (the decoder checked them);
    /// another id panics, as an out-of-range index does. The same holds for the other
    /// methods that take ids.
    pub fn location(&self, location: u32) -> (&str, u32, u32) {
        let definition = self.locations[location as usize];
        (
            &self.files[definition.file as usize],
            definition.line,
            definition.column,
        )
    }

    /// How reports name a thread: `T3 'writer'` or `T3`.
    pub fn thread_name(&self, thread: u32) -> String {
        match self
            .threads
            .get(thread as usize)
            .and_then(|spawn| spawn.name.as_deref())
        {
            Some(name) => format!("T{thread} '{name}'"),
            None => format!("T{thread}"),
        }
    }

    /// How reports name a step's object: `Mutex#2`, or `T3` for a join's target.
    pub fn object_name(&self, op: OpKind, object: u32) -> String {
        if op.object_is_thread() {
            format!("T{object}")
        } else {
            format!("{}#{object}", self.objects[object as usize].name())
        }
    }

    /// What a step did: `lock Mutex#2`, `blocks: join T3`, `yield`.
    pub fn operation(&self, step: &Step) -> String {
        match step.object {
            Some(object) => format!("{} {}", step.op, self.object_name(step.op, object)),
            None => step.op.name().to_owned(),
        }
    }

    /// A location as `file:line:column`.
    pub fn location_text(&self, location: u32) -> String {
        let (file, line, column) = self.location(location);
        format!("{file}:{line}:{column}")
    }

    /// A step in one line: `T3 'writer' lock Mutex#2 at src/bank.rs:42:9`.
    pub fn describe_step(&self, step: &Step) -> String {
        format!(
            "{} {} at {}",
            self.thread_name(step.thread),
            self.operation(step),
            self.location_text(step.location)
        )
    }

    /// An outcome in one line: `panic at step 21 in T0 'main' at src/lib.rs:168:9: ...`.
    pub fn describe_outcome(&self, outcome: &Outcome) -> String {
        if outcome.kind == OutcomeKind::Ok {
            return format!("ok: the run ended after step {}", outcome.step);
        }
        let thread = outcome
            .thread
            .map(|thread| format!(" in {}", self.thread_name(thread)))
            .unwrap_or_default();
        let location = outcome
            .location
            .as_ref()
            .map(|location| format!(" at {location}"))
            .unwrap_or_default();
        format!(
            "{} at step {}{thread}{location}: {}",
            outcome.kind.name(),
            outcome.step,
            outcome.message
        )
    }
}

/// Decodes a whole trace. A complete trace ends with its outcome; any damage, truncation
/// included (a file that ends before the outcome, even between two chunks), is an error.
pub fn decode(bytes: &[u8]) -> Result<Trace, Error> {
    let mut trace = decode_prefix(bytes)?;
    match trace.cut.take() {
        Some(error) => Err(error),
        None => Ok(trace),
    }
}

/// Decodes a trace that may have been cut short (a recording that crashed or was killed):
/// the complete chunks are returned, and the truncation that ended them is in
/// [`Trace::cut`] (an [`ErrorKind::Truncated`] with `missing: 0` when every chunk is whole
/// but the outcome is missing). Any other damage is an error.
pub fn decode_prefix(bytes: &[u8]) -> Result<Trace, Error> {
    let mut reader = Reader {
        bytes,
        at: 0,
        chunk: None,
    };
    // A file shorter than the magic is a truncated trace if what there is of it matches.
    let start = &bytes[..bytes.len().min(MAGIC.len())];
    if start != &MAGIC[..start.len()] {
        return Err(Error::new(ErrorKind::NotATrace, 0, None));
    }
    reader.take(MAGIC.len())?;
    let version_bytes = reader.take(2)?;
    let version = u16::from_le_bytes([version_bytes[0], version_bytes[1]]);
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion { found: version },
            MAGIC.len() as u64,
            None,
        ));
    }
    let (header_at, payload) = reader.chunk()?;
    if payload.first() != Some(&(ChunkKind::Header as u8)) {
        return Err(Error::new(ErrorKind::MissingHeader, header_at, None));
    }
    let header: Header = match postcard::take_from_bytes(&payload[1..]) {
        Ok((header, [])) => header,
        Ok((_, rest)) => {
            return Err(Error::new(
                ErrorKind::BadHeader(format!("{} bytes left over", rest.len())),
                header_at,
                None,
            ));
        }
        Err(error) => {
            return Err(Error::new(
                ErrorKind::BadHeader(error.to_string()),
                header_at,
                None,
            ));
        }
    };
    let mut events = EventDecoder {
        trace: Trace {
            version,
            header,
            threads: Vec::new(),
            objects: Vec::new(),
            files: Vec::new(),
            locations: Vec::new(),
            events: Vec::new(),
            outcome: None,
            steps: 0,
            bytes: 0,
            cut: None,
        },
        sequence: 0,
        awaiting: None,
        last_monotonic: None,
    };
    loop {
        events.trace.bytes = reader.at as u64;
        if reader.at == bytes.len() {
            break;
        }
        reader.chunk = Some(events.sequence);
        let (chunk_at, payload) = match reader.chunk() {
            Ok(chunk) => chunk,
            Err(error) if error.is_truncation() => {
                events.trace.cut = Some(error);
                break;
            }
            Err(error) => return Err(error),
        };
        events.chunk(payload, chunk_at + FRAME_BYTES as u64)?;
    }
    if events.trace.cut.is_none() && events.trace.outcome.is_none() {
        // Every chunk is whole, but the run's last event is missing: the file was cut
        // between two chunks.
        events.trace.cut = Some(Error::new(
            ErrorKind::Truncated { missing: 0 },
            bytes.len() as u64,
            None,
        ));
    }
    Ok(events.trace)
}

/// Reads and decodes a trace file (see [`decode`]).
pub fn read_file(path: impl AsRef<Path>) -> Result<Trace, Error> {
    read_with(path.as_ref(), decode)
}

/// Reads and decodes a trace file that may have been cut short (see [`decode_prefix`]).
pub fn read_file_prefix(path: impl AsRef<Path>) -> Result<Trace, Error> {
    read_with(path.as_ref(), decode_prefix)
}

fn read_with(path: &Path, decode: fn(&[u8]) -> Result<Trace, Error>) -> Result<Trace, Error> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| Error {
        kind: ErrorKind::Io(error.to_string()),
        offset: 0,
        chunk: None,
        path: Some(name.clone()),
    })?;
    decode(&bytes).map_err(|mut error| {
        error.path = Some(name);
        error
    })
}

/// A cursor over the file's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The event chunk being read, for errors.
    chunk: Option<u32>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], Error> {
        let available = self.bytes.len() - self.at;
        if count > available {
            return Err(Error::new(
                ErrorKind::Truncated {
                    missing: (count - available) as u64,
                },
                self.bytes.len() as u64,
                self.chunk,
            ));
        }
        let taken = &self.bytes[self.at..self.at + count];
        self.at += count;
        Ok(taken)
    }

    /// One framed chunk: its offset and its checked payload.
    fn chunk(&mut self) -> Result<(u64, &'a [u8]), Error> {
        let chunk_at = self.at as u64;
        let frame = self
            .take(FRAME_BYTES)
            .inspect_err(|_| self.at = chunk_at as usize)?;
        let length = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        let stored = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if length > MAX_CHUNK_BYTES {
            return Err(Error::new(
                ErrorKind::ChunkTooLarge {
                    length: length as u64,
                },
                chunk_at,
                self.chunk,
            ));
        }
        let payload = self.take(length)?;
        let computed = crc32fast::hash(payload);
        if computed != stored {
            return Err(Error::new(
                ErrorKind::BadChecksum { stored, computed },
                chunk_at,
                self.chunk,
            ));
        }
        Ok((chunk_at, payload))
    }
}

/// Reports whatever is wrong with an event at its tag byte (`event_at` in the payload that
/// starts at `base`).
fn at_event(mut error: Error, base: u64, event_at: usize) -> Error {
    error.offset = base + event_at as u64;
    error
}

/// Decodes event chunks into a trace, checking each event against the tables so far.
struct EventDecoder {
    trace: Trace,
    sequence: u32,
    /// The step just read reads an input ([`OpKind::ClockRead`], [`OpKind::RandomSeed`]):
    /// the next event must be its value.
    awaiting: Option<OpKind>,
    /// The last monotonic clock reading, which the next may not be below.
    last_monotonic: Option<i64>,
}

/// A cursor over one chunk's payload; `base` is the payload's offset in the file.
struct Payload<'a> {
    bytes: &'a [u8],
    at: usize,
    base: u64,
    chunk: u32,
}

impl<'a> Payload<'a> {
    fn offset(&self) -> u64 {
        self.base + self.at as u64
    }

    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.offset(), Some(self.chunk))
    }

    fn malformed(&self, message: String) -> Error {
        self.error(ErrorKind::Malformed(message))
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| self.malformed("the chunk ends inside an event".to_owned()))?;
        self.at += 1;
        Ok(byte)
    }

    /// A postcard varint of at most `max_bits` bits.
    fn varint(&mut self, max_bits: u32) -> Result<u64, Error> {
        let start = self.at;
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift >= max_bits || (shift > 0 && bits >> (max_bits - shift).min(63) != 0) {
                self.at = start;
                return Err(self.malformed(format!("a varint overflows {max_bits} bits")));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(self.varint(32)? as u32)
    }

    fn body<T: DeserializeOwned>(&mut self, what: &str) -> Result<T, Error> {
        match postcard::take_from_bytes::<T>(&self.bytes[self.at..]) {
            Ok((value, rest)) => {
                self.at = self.bytes.len() - rest.len();
                Ok(value)
            }
            Err(error) => Err(self.malformed(format!("{what} does not decode: {error}"))),
        }
    }
}

impl EventDecoder {
    fn chunk(&mut self, bytes: &[u8], base: u64) -> Result<(), Error> {
        let mut payload = Payload {
            bytes,
            at: 0,
            base,
            chunk: self.sequence,
        };
        if self.trace.outcome.is_some() {
            return Err(payload.malformed("a chunk follows the one with the outcome".to_owned()));
        }
        let kind = payload.byte()?;
        if kind == ChunkKind::Definitions as u8 {
            return self.definitions(&mut payload);
        }
        if kind != ChunkKind::Events as u8 {
            payload.at = 0;
            return Err(payload.error(ErrorKind::UnknownChunk(kind)));
        }
        let sequence = payload.varint(32)?;
        if sequence != u64::from(self.sequence) {
            return Err(payload.error(ErrorKind::OutOfSequence {
                expected: self.sequence,
                found: sequence,
            }));
        }
        let first_step = payload.varint(64)?;
        if first_step != self.trace.steps + 1 {
            return Err(payload.malformed(format!(
                "the chunk says it starts at step {first_step}, but {} steps came before it",
                self.trace.steps
            )));
        }
        let mut previous_thread = None;
        while payload.at < bytes.len() {
            if self.trace.outcome.is_some() {
                return Err(payload.malformed("an event follows the outcome".to_owned()));
            }
            let event_at = payload.at;
            let tag = payload.byte()?;
            if let Some(op) = self.awaiting.take() {
                let value = match op {
                    OpKind::ClockRead => Tag::ClockRead,
                    OpKind::RandomSeed => Tag::RandomSeed,
                    _ => Tag::Io,
                };
                if tag != value as u8 {
                    payload.at = event_at;
                    return Err(payload.malformed(format!(
                        "a {op} step is followed by event kind {tag:#04x} instead of its value \
                         ({:#04x})",
                        value as u8
                    )));
                }
            }
            if tag < 0x80 {
                let step = self
                    .step(&mut payload, tag, previous_thread)
                    .map_err(|error| at_event(error, base, event_at))?;
                previous_thread = Some(step.thread);
                if matches!(step.op, OpKind::ClockRead | OpKind::RandomSeed) || step.op.is_io() {
                    self.awaiting = Some(step.op);
                }
                self.trace.steps += 1;
                self.trace.events.push(Event::Step(step));
                continue;
            }
            let Some(tag) = Tag::from_byte(tag) else {
                payload.at = event_at;
                return Err(payload.error(match wire::reserved(tag) {
                    Some(kind) => ErrorKind::ReservedEvent(kind),
                    None => ErrorKind::UnknownEvent(tag),
                }));
            };
            self.event(&mut payload, tag)
                .map_err(|error| at_event(error, base, event_at))?;
        }
        self.sequence += 1;
        Ok(())
    }

    /// A definitions chunk: files and locations only.
    fn definitions(&mut self, payload: &mut Payload<'_>) -> Result<(), Error> {
        while payload.at < payload.bytes.len() {
            let event_at = payload.at;
            let tag = payload.byte()?;
            match Tag::from_byte(tag) {
                Some(tag @ (Tag::File | Tag::Location)) => self
                    .event(payload, tag)
                    .map_err(|error| at_event(error, payload.base, event_at))?,
                _ => {
                    payload.at = event_at;
                    return Err(payload.malformed(format!(
                        "event kind {tag:#04x} in a definitions chunk, which holds only files \
                         and locations"
                    )));
                }
            }
        }
        Ok(())
    }

    fn step(
        &self,
        payload: &mut Payload<'_>,
        tag: u8,
        previous_thread: Option<u32>,
    ) -> Result<Step, Error> {
        let op = OpKind::from_code(tag & !wire::SAME_THREAD)
            .ok_or_else(|| payload.error(ErrorKind::UnknownEvent(tag)))?;
        let thread = if tag & wire::SAME_THREAD != 0 {
            previous_thread.ok_or_else(|| {
                payload.malformed("a step repeats the thread of a step before it, but it is the first in its chunk".to_owned())
            })?
        } else {
            payload.u32()?
        };
        let threads = self.trace.threads.len();
        if thread as usize >= threads {
            return Err(payload.malformed(format!(
                "a step of thread {thread}, but only {threads} threads were spawned"
            )));
        }
        // The object is written as id + 1 (0 for none), so it takes up to 33 bits.
        let object = match payload.varint(33)? {
            0 => None,
            object => Some(u32::try_from(object - 1).map_err(|_| {
                payload.malformed(format!("a step on object {}, beyond 32 bits", object - 1))
            })?),
        };
        if let Some(object) = object {
            let (known, what) = if op.object_is_thread() {
                (threads, "threads")
            } else {
                (self.trace.objects.len(), "objects")
            };
            if object as usize >= known {
                return Err(payload.malformed(format!(
                    "a step on object {object}, but only {known} {what} are known"
                )));
            }
        }
        let location = payload.u32()?;
        let locations = self.trace.locations.len();
        if location as usize >= locations {
            return Err(payload.malformed(format!(
                "a step at location {location}, but only {locations} locations are defined"
            )));
        }
        Ok(Step {
            thread,
            op,
            object,
            location,
        })
    }

    fn event(&mut self, payload: &mut Payload<'_>, tag: Tag) -> Result<(), Error> {
        let event_at = payload.at - 1;
        let trace = &mut self.trace;
        let check = |payload: &mut Payload<'_>, ok: bool, message: String| {
            if ok {
                Ok(())
            } else {
                payload.at = event_at;
                Err(payload.malformed(message))
            }
        };
        match tag {
            Tag::Spawn => {
                let spawn: Spawn = payload.body("a spawn")?;
                let threads = trace.threads.len();
                let parent_ok = match spawn.parent {
                    None => threads == 0,
                    Some(parent) => (parent as usize) < threads,
                };
                check(
                    payload,
                    parent_ok,
                    format!(
                        "thread {threads} was spawned by {:?}, which is not a thread yet",
                        spawn.parent
                    ),
                )?;
                trace.threads.push(spawn.clone());
                trace.events.push(Event::Spawn(Box::new(spawn)));
            }
            Tag::Object => {
                let kind: ObjectKind = payload.body("an object")?;
                trace.objects.push(kind);
                trace.events.push(Event::Object(kind));
            }
            Tag::File => {
                let file: FileDef = payload.body("a file")?;
                trace.files.push(file.path);
            }
            Tag::Location => {
                let location: LocationDef = payload.body("a location")?;
                let files = trace.files.len();
                check(
                    payload,
                    (location.file as usize) < files,
                    format!(
                        "a location in file {}, but only {files} files are defined",
                        location.file
                    ),
                )?;
                trace.locations.push(location);
            }
            Tag::Timeout => {
                let thread: u32 = payload.body("a timeout")?;
                let threads = trace.threads.len();
                check(
                    payload,
                    (thread as usize) < threads,
                    format!("a timeout of thread {thread}, but only {threads} threads exist"),
                )?;
                trace.events.push(Event::Timeout { thread });
            }
            Tag::Signal => {
                let arrival: SignalArrival = payload.body("a signal arrival")?;
                check(
                    payload,
                    (1..=crate::MAX_SIGNAL).contains(&arrival.signal),
                    format!(
                        "a signal arrival of signal {}, which is not a signal number (1 to {})",
                        arrival.signal,
                        crate::MAX_SIGNAL
                    ),
                )?;
                check(
                    payload,
                    arrival.step == trace.steps,
                    format!(
                        "a signal arrival after step {}, but it follows step {}",
                        arrival.step, trace.steps
                    ),
                )?;
                trace.events.push(Event::Signal(arrival));
            }
            Tag::Preemption => {
                let thread: u32 = payload.body("a preemption")?;
                let threads = trace.threads.len();
                check(
                    payload,
                    (thread as usize) < threads,
                    format!("a preemption of thread {thread}, but only {threads} threads exist"),
                )?;
                trace.events.push(Event::Preemption { thread });
            }
            Tag::Stall => {
                let stall: Stall = payload.body("a stall")?;
                let threads = trace.threads.len();
                check(
                    payload,
                    (stall.thread as usize) < threads,
                    format!(
                        "a stall of thread {}, but only {threads} threads exist",
                        stall.thread
                    ),
                )?;
                trace.events.push(Event::Stall(Box::new(stall)));
            }
            Tag::Outcome => {
                let outcome: Outcome = payload.body("the outcome")?;
                let threads = trace.threads.len();
                let threads_ok = outcome
                    .thread
                    .iter()
                    .chain(&outcome.cycle)
                    .all(|&thread| (thread as usize) < threads);
                check(
                    payload,
                    threads_ok,
                    format!("the outcome names a thread beyond the {threads} that exist"),
                )?;
                check(
                    payload,
                    outcome.step == trace.steps,
                    format!(
                        "the outcome is at step {}, but the trace has {} steps",
                        outcome.step, trace.steps
                    ),
                )?;
                trace.events.push(Event::Outcome(Box::new(outcome.clone())));
                trace.outcome = Some(outcome);
            }
            Tag::ClockRead => self.clock_read(payload, event_at)?,
            Tag::RandomSeed => self.random_seed(payload, event_at)?,
            Tag::Io => self.io(payload, event_at)?,
        }
        Ok(())
    }

    /// Whether the event before this one is a step of `op` (the step an input's value
    /// follows); the tag check in [`EventDecoder::chunk`] has made sure that such a step
    /// is followed by nothing else.
    fn follows_step(&self, op: OpKind) -> bool {
        matches!(self.trace.events.last(), Some(Event::Step(step)) if step.op == op)
    }

    /// A clock reading: after a clock-read step, in range, the monotonic clock never going
    /// backwards.
    fn clock_read(&mut self, payload: &mut Payload<'_>, event_at: usize) -> Result<(), Error> {
        let reading: ClockReading = payload.body("a clock reading")?;
        let problem = if !self.follows_step(OpKind::ClockRead) {
            Some("a clock reading that follows no clock-read step".to_owned())
        } else if reading.source == ClockSource::Monotonic && reading.nanos < 0 {
            Some(format!(
                "a monotonic clock reading of {} ns, below the clock's start",
                reading.nanos
            ))
        } else if reading.source == ClockSource::Monotonic
            && let Some(last) = self.last_monotonic
            && reading.nanos < last
        {
            Some(format!(
                "the monotonic clock reads {} ns after {last} ns: it cannot go backwards",
                reading.nanos
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            payload.at = event_at;
            return Err(payload.malformed(problem));
        }
        if reading.source == ClockSource::Monotonic {
            self.last_monotonic = Some(reading.nanos);
        }
        self.trace.events.push(Event::ClockRead(reading));
        Ok(())
    }

    /// An I/O event: a result right after an I/O step, within the limits; or the end of a
    /// wait for I/O, naming a thread that exists, anywhere but right after an I/O step.
    fn io(&mut self, payload: &mut Payload<'_>, event_at: usize) -> Result<(), Error> {
        let event: IoEvent = payload.body("an I/O event")?;
        let after_io_step =
            matches!(self.trace.events.last(), Some(Event::Step(step)) if step.op.is_io());
        let problem = match &event {
            IoEvent::Done(_) if !after_io_step => {
                Some("an I/O result that follows no I/O step".to_owned())
            }
            IoEvent::Done(done) => match &done.result {
                IoResult::Bytes(bytes) | IoResult::BytesFrom { bytes, .. }
                    if bytes.len() > crate::MAX_DATAGRAM_BYTES =>
                {
                    Some(format!(
                        "an I/O result of {} bytes, above the limit of {}",
                        bytes.len(),
                        crate::MAX_DATAGRAM_BYTES
                    ))
                }
                IoResult::Value(bytes) if bytes.len() > crate::MAX_IO_BYTES => Some(format!(
                    "an I/O result's value of {} bytes, above the limit of {}",
                    bytes.len(),
                    crate::MAX_IO_BYTES
                )),
                IoResult::Addrs(addrs) if addrs.len() > crate::MAX_IO_ADDRS => Some(format!(
                    "a resolution to {} addresses, above the limit of {}",
                    addrs.len(),
                    crate::MAX_IO_ADDRS
                )),
                IoResult::Error { message, .. } if message.len() > crate::MAX_STRING_BYTES => {
                    Some("an I/O error message above the string limit".to_owned())
                }
                _ => None,
            },
            IoEvent::Ready { .. } if after_io_step => Some(
                "the end of an I/O wait right after an I/O step, where its result must follow"
                    .to_owned(),
            ),
            IoEvent::Ready { thread } if *thread as usize >= self.trace.threads.len() => {
                Some(format!(
                    "the end of an I/O wait of thread {thread}, but only {} threads were spawned",
                    self.trace.threads.len()
                ))
            }
            IoEvent::Ready { .. } => None,
        };
        if let Some(problem) = problem {
            payload.at = event_at;
            return Err(payload.malformed(problem));
        }
        self.trace.events.push(Event::Io(Box::new(event)));
        Ok(())
    }

    /// The run's random seed: after its step, once.
    fn random_seed(&mut self, payload: &mut Payload<'_>, event_at: usize) -> Result<(), Error> {
        let seed: u64 = payload.body("a random seed")?;
        let problem = if !self.follows_step(OpKind::RandomSeed) {
            Some("a random seed that follows no random-seed step")
        } else if self
            .trace
            .events
            .iter()
            .any(|event| matches!(event, Event::RandomSeed { .. }))
        {
            Some("a second random seed: a run draws one")
        } else {
            None
        };
        if let Some(problem) = problem {
            payload.at = event_at;
            return Err(payload.malformed(problem.to_owned()));
        }
        self.trace.events.push(Event::RandomSeed { seed });
        Ok(())
    }
}
