//! The recorder: turns an execution's steps, threads, objects, timeouts and outcome into
//! trace events, in memory (an exploration keeps each execution until it fails) or straight
//! to a file (a recorded program), flushing whole chunks as they fill.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use reel_trace::{ChunkEncoder, Header, LocationDef, ObjectKind, OpKind, Outcome, SignalArrival};

use super::emergency::{self, EmergencyTarget};
use super::{outcome_of, wire_object, wire_op};
use crate::runtime::execution::Execution;
use crate::runtime::io::{IoAsk, IoValue};
use crate::runtime::seams::{Input, Mismatch, Observer, SignalInput, StallEvent, StepEvent};
use crate::runtime::vocabulary::{ObjectId, ObjectKind as Kind, ThreadId};

type StdLocation = std::panic::Location<'static>;

/// Interns source locations: a location's id is the order in which the recorder first saw it.
#[derive(Default)]
pub(crate) struct LocationInterner {
    /// Direct-mapped cache in front of `ids`: (location address, id + 1).
    cache: Vec<(usize, u32)>,
    ids: HashMap<usize, u32>,
    files: HashMap<&'static str, u32>,
    pub(crate) file_names: Vec<&'static str>,
    pub(crate) locations: Vec<LocationDef>,
}

const CACHE_SLOTS: usize = 256;

impl LocationInterner {
    /// The id of `location`, and whether it is new (with its file's id if the file is new).
    #[inline(always)]
    fn intern(&mut self, location: &'static StdLocation) -> (u32, bool) {
        let address = location as *const StdLocation as usize;
        // Locations are 8-aligned; neighbouring call sites differ in the bits above.
        let slot = (address >> 3) % CACHE_SLOTS;
        if let Some(&(cached, id_plus_one)) = self.cache.get(slot)
            && cached == address
        {
            return (id_plus_one - 1, false);
        }
        self.intern_slow(location, address, slot)
    }

    #[cold]
    #[inline(never)]
    fn intern_slow(
        &mut self,
        location: &'static StdLocation,
        address: usize,
        slot: usize,
    ) -> (u32, bool) {
        if self.cache.is_empty() {
            self.cache = vec![(0, 0); CACHE_SLOTS];
        }
        let (id, new) = match self.ids.get(&address) {
            Some(&id) => (id, false),
            // A fatal-signal handler of this thread reads `file_names` and `locations`
            // (saving an execution recorded in memory): they grow in a critical section.
            None => emergency::critical(|| {
                let file = match self.files.get(location.file()) {
                    Some(&file) => file,
                    None => {
                        let file = self.file_names.len() as u32;
                        self.files.insert(location.file(), file);
                        self.file_names.push(location.file());
                        file
                    }
                };
                let id = self.locations.len() as u32;
                self.locations.push(LocationDef {
                    file,
                    line: location.line(),
                    column: location.column(),
                });
                self.ids.insert(address, id);
                (id, true)
            }),
        };
        self.cache[slot] = (address, id + 1);
        (id, new)
    }
}

/// Where the events go.
enum Sink {
    /// Kept in the encoder's sealed chunks; written by [`Recorder::write_to`] if wanted.
    /// `emergency` lets a fatal-signal handler save the execution that crashed.
    Memory { emergency: Box<EmergencyTarget> },
    /// Appended to a file as chunks seal. `emergency` lets a fatal-signal handler write the
    /// chunks not written yet; `error` is the first write error, after which recording stops
    /// (and the target is withdrawn: an emergency write after a partial one would turn a
    /// truncated trace into a damaged one).
    File {
        file: File,
        path: PathBuf,
        emergency: Box<EmergencyTarget>,
        error: Option<io::Error>,
    },
}

/// An encoder whose seals run in this thread's emergency critical section.
fn emergency_encoder() -> ChunkEncoder {
    let mut encoder = ChunkEncoder::new();
    encoder.set_critical_section(emergency::encoder_section);
    encoder
}

/// Records one trace (a file) or a series of executions' traces (memory, one at a time).
pub(crate) struct Recorder {
    encoder: ChunkEncoder,
    interner: LocationInterner,
    sink: Sink,
    header: Header,
    /// A file recording: how many of the interned files it has defined.
    files_defined: u32,
    /// Whether `sink` is a file (read on every step).
    writes_file: bool,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // However the run ended (even by a panic of the runtime itself), no handler may
        // find this recorder's encoder once it is gone.
        self.end_emergency();
    }
}

impl Recorder {
    /// A recorder that keeps each execution in memory. If the process dies of a fatal
    /// signal during an execution, that execution is saved to
    /// `<crash_path_prefix><iteration>.reel`.
    pub(crate) fn in_memory(header: Header, crash_path_prefix: &Path) -> Recorder {
        emergency::install();
        let mut crash_header = header.clone();
        crash_header.run.iteration = None;
        let emergency = EmergencyTarget::new_file(
            crash_path_prefix.as_os_str().as_encoded_bytes().to_vec(),
            reel_trace::encode_prologue(&crash_header),
        );
        Recorder {
            encoder: emergency_encoder(),
            interner: LocationInterner::default(),
            sink: Sink::Memory {
                emergency: Box::new(emergency),
            },
            header,
            files_defined: 0,
            writes_file: false,
        }
    }

    /// A recorder that writes to `path` (created or truncated) as it goes.
    pub(crate) fn to_file(header: Header, path: &Path) -> io::Result<Recorder> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = File::create(path)?;
        file.write_all(&reel_trace::encode_prologue(&header))?;
        emergency::install();
        Ok(Recorder {
            encoder: emergency_encoder(),
            interner: LocationInterner::default(),
            sink: Sink::File {
                emergency: Box::new(EmergencyTarget::append_to(&file)),
                file,
                path: path.to_owned(),
                error: None,
            },
            header,
            files_defined: 0,
            writes_file: true,
        })
    }

    /// The header the trace carries.
    pub(crate) fn header_mut(&mut self) -> &mut Header {
        &mut self.header
    }

    /// Starts an execution: in memory, forgets the previous one (keeping the interned
    /// locations, whose definitions are written with each saved trace).
    pub(crate) fn begin_execution(&mut self) {
        if let Sink::Memory { emergency } = &self.sink {
            // Withdrawn between executions, so this is free; but a handler would read it.
            emergency::critical(|| self.encoder.reset());
            emergency.set_iteration(self.header.run.iteration.map_or(0, |iteration| iteration));
        }
    }

    /// Publishes this recorder to the fatal-signal handlers; it must not move until
    /// [`Recorder::end_emergency`].
    pub(crate) fn begin_emergency(&mut self) {
        let (Sink::File { emergency, .. } | Sink::Memory { emergency }) = &mut self.sink;
        emergency.publish(&self.encoder, &self.interner);
    }

    /// Withdraws what [`Recorder::begin_emergency`] published.
    pub(crate) fn end_emergency(&mut self) {
        let (Sink::File { emergency, .. } | Sink::Memory { emergency }) = &mut self.sink;
        emergency.withdraw();
    }

    /// One scheduling step.
    #[inline(always)]
    pub(crate) fn step(
        &mut self,
        thread: u32,
        op: OpKind,
        object: Option<u32>,
        location: &'static StdLocation,
    ) {
        let (location, new) = self.interner.intern(location);
        if new {
            self.define(location);
        }
        self.encoder.step(thread, op, object, location);
        // In memory, sealed chunks stay until the execution is saved or forgotten.
        if self.writes_file && self.encoder.has_sealed() {
            self.drain();
        }
    }

    /// A new location: a file recording defines it inline, before its first use; a memory
    /// recording writes every definition in front of the trace when it is saved.
    #[cold]
    fn define(&mut self, location: u32) {
        if let Sink::File { .. } = self.sink {
            let definition = self.interner.locations[location as usize];
            // Files are interned in order of first use, so the new ones are the last ones.
            while self.files_defined <= definition.file {
                self.encoder
                    .file(self.interner.file_names[self.files_defined as usize]);
                self.files_defined += 1;
            }
            self.encoder.location(definition);
        }
    }

    /// A thread was created.
    pub(crate) fn spawn(&mut self, parent: Option<usize>, name: Option<&str>) {
        self.encoder.spawn(parent.map(|parent| parent as u32), name);
        self.drain_if_sealed();
    }

    /// A shared object was first used.
    pub(crate) fn object(&mut self, kind: ObjectKind) {
        self.encoder.object(kind);
        self.drain_if_sealed();
    }

    /// A timed wait ran out.
    pub(crate) fn timeout(&mut self, thread: usize) {
        self.encoder.timeout(thread as u32);
        self.drain_if_sealed();
    }

    /// A signal arrived (after the steps encoded so far).
    pub(crate) fn signal(&mut self, signal: SignalInput) {
        let step = self.encoder.steps();
        self.encoder.signal(&SignalArrival {
            signal: signal.signal,
            code: signal.code,
            sender: signal.sender,
            step,
        });
        self.drain_if_sealed();
    }

    /// Records that `thread`'s time slice ran out before the next decision.
    pub(crate) fn preemption(&mut self, thread: usize) {
        self.encoder.preemption(thread as u32);
        self.drain_if_sealed();
    }

    /// Records a head-of-line stall the watchdog saw.
    pub(crate) fn stall(&mut self, stall: &StallEvent) {
        self.encoder.stall(&reel_trace::Stall {
            thread: stall.thread.index() as u32,
            duration_micros: u64::try_from(stall.duration.as_micros()).unwrap_or(u64::MAX),
            syscall: stall.syscall.clone(),
            location: stall.location.as_ref().map(|(file, line, column)| {
                reel_trace::SourceLocation {
                    file: file.clone(),
                    line: *line,
                    column: *column,
                }
            }),
            ready: stall.ready,
        });
        self.drain_if_sealed();
    }

    /// The run ended: records the outcome and writes out everything still open.
    pub(crate) fn finish(&mut self, outcome: &Outcome) {
        if !self.writes_file {
            // The execution is over: what a crash would save from here on is the caller's
            // business (an exploration between two executions has nothing to save).
            // Withdrawn before the outcome is committed, so a handler never saves a finished
            // execution as a crashed one; and its last seal needs no critical section, which
            // would cost two system calls per execution.
            self.end_emergency();
        }
        self.encoder.outcome(outcome);
        self.flush();
    }

    /// Seals the open chunk and, for a file, writes it: at exit, and in the panic path.
    pub(crate) fn flush(&mut self) {
        self.encoder.seal();
        self.drain();
    }

    fn drain_if_sealed(&mut self) {
        if self.writes_file && self.encoder.has_sealed() {
            self.drain();
        }
    }

    /// Writes the sealed chunks to the file (a no-op in memory, where they stay), in a
    /// critical section: a handler of this thread writes the sealed chunks not written yet,
    /// so it must not come between the write and the clear.
    #[cold]
    fn drain(&mut self) {
        let Sink::File {
            file,
            emergency,
            error,
            ..
        } = &mut self.sink
        else {
            return;
        };
        let encoder = &mut self.encoder;
        emergency::critical(|| {
            if error.is_none() && !emergency.fired() {
                if let Err(failed) = file.write_all(encoder.sealed()) {
                    *error = Some(failed);
                    // The file may end inside a chunk now: no handler may append to it.
                    emergency.withdraw();
                }
            }
            encoder.clear_sealed();
        });
    }

    /// The file's path and the first write error, if recording to a file failed.
    pub(crate) fn file_error(&self) -> Option<(&Path, &io::Error)> {
        match &self.sink {
            Sink::File {
                path,
                error: Some(error),
                ..
            } => Some((path, error)),
            _ => None,
        }
    }

    /// The complete trace of the execution just recorded in memory.
    pub(crate) fn trace_bytes(&mut self) -> Vec<u8> {
        self.encoder.seal();
        let mut bytes = reel_trace::encode_prologue(&self.header);
        bytes.extend_from_slice(&reel_trace::encode_definitions(
            &self.interner.file_names,
            &self.interner.locations,
        ));
        bytes.extend_from_slice(self.encoder.sealed());
        bytes
    }
}

/// The recorder hears everything and expects nothing: it never finds a mismatch.
impl Observer for Recorder {
    #[inline]
    fn on_step(&mut self, event: &StepEvent) -> bool {
        let (op, object) = wire_op(event.step.op, event.step.object);
        self.step(event.step.thread.index() as u32, op, object, event.location);
        true
    }

    fn on_spawn(
        &mut self,
        _thread: ThreadId,
        parent: Option<ThreadId>,
        name: Option<&str>,
    ) -> Result<(), Mismatch> {
        self.spawn(parent.map(ThreadId::index), name);
        Ok(())
    }

    fn on_object(&mut self, _object: ObjectId, kind: Kind) -> Result<(), Mismatch> {
        self.object(wire_object(kind));
        Ok(())
    }

    fn on_input(&mut self, input: Input) -> Result<(), Mismatch> {
        match input {
            Input::Timeout(thread) => self.timeout(thread.index()),
            Input::Signal(signal) => self.signal(signal),
            Input::ClockRead { source, nanos } => {
                self.encoder.clock_read(super::wire_reading(source, nanos));
                self.drain_if_sealed();
            }
            Input::RandomSeed(seed) => {
                self.encoder.random_seed(seed);
                self.drain_if_sealed();
            }
            Input::IoReady(thread) => {
                self.encoder.io(&reel_trace::IoEvent::Ready {
                    thread: thread.index() as u32,
                });
                self.drain_if_sealed();
            }
            Input::Preempt(thread) => self.preemption(thread.index()),
        }
        Ok(())
    }

    fn on_io(&mut self, ask: IoAsk<'_>, value: &IoValue) -> Result<(), Mismatch> {
        self.encoder.io(&super::io::wire_io_done(ask, value));
        self.drain_if_sealed();
        Ok(())
    }

    fn on_stall(&mut self, stall: &StallEvent) {
        self.stall(stall);
    }

    fn on_panic(&mut self, _execution: &mut Execution, _message: &str, _location: Option<String>) {
        // The panic path: whatever happens next, what was recorded so far is on disk.
        self.flush();
    }

    fn on_end(&mut self, execution: &mut Execution) -> Result<(), Mismatch> {
        let outcome = outcome_of(execution.failure(), execution.step());
        self.finish(&outcome);
        self.end_emergency();
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}
