//! The trace codec through its public API: round trips, the step fast path against postcard,
//! and the reader's answer to every truncation, every bit flip, foreign bytes, reserved and
//! unknown events, and events that are checksummed but do not fit what came before them.

use reel_trace::{
    CHUNK_TARGET_BYTES, ChunkEncoder, ClockReading, ClockSource, Error, ErrorKind, Event,
    FORMAT_VERSION, FRAME_BYTES, FileDef, Header, IoDone, IoEvent, IoResult, LocationDef, MAGIC,
    MAX_ARGS, MAX_CHUNK_BYTES, MAX_CYCLE_THREADS, MAX_EVENT_BYTES, MAX_STRING_BYTES, ObjectKind,
    OpKind, Outcome, OutcomeKind, ReservedKind, SignalArrival, SourceLocation, Spawn, Stall, Trace,
    decode, decode_prefix, encode_prologue, signal_name, signal_number,
};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A small deterministic PRNG (SplitMix64), so that the randomised cases are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn below32(&mut self, bound: usize) -> u32 {
        self.below(bound as u64) as u32
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A u32 whose varint takes 1 to 5 bytes, about equally often.
    fn wide_u32(&mut self) -> u32 {
        let bits = [7, 14, 21, 28, 32][self.below(5) as usize];
        (self.next() & ((1u64 << bits) - 1)) as u32
    }

    fn string(&mut self, max_chars: u64) -> String {
        const CHARS: [char; 8] = ['a', 'z', '0', '_', ' ', 'é', '線', '🦀'];
        (0..self.below(max_chars + 1))
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
            .collect()
    }

    fn op(&mut self) -> OpKind {
        OpKind::ALL[self.below(OpKind::ALL.len() as u64) as usize]
    }
}

const OBJECT_KINDS: [ObjectKind; 8] = [
    ObjectKind::Mutex,
    ObjectKind::RwLock,
    ObjectKind::Condvar,
    ObjectKind::Barrier,
    ObjectKind::Once,
    ObjectKind::Channel,
    ObjectKind::Atomic,
    ObjectKind::Signals,
];

const OUTCOME_KINDS: [OutcomeKind; 6] = [
    OutcomeKind::Ok,
    OutcomeKind::Panic,
    OutcomeKind::Deadlock,
    OutcomeKind::PartialDeadlock,
    OutcomeKind::ReentrantLock,
    OutcomeKind::StepBoundExceeded,
];

fn header() -> Header {
    reel_trace::tests_support::example_header()
}

/// A trace as written, and what a reader must give back.
struct Built {
    bytes: Vec<u8>,
    events: Vec<Event>,
    threads: Vec<Spawn>,
    objects: Vec<ObjectKind>,
    files: Vec<String>,
    locations: Vec<LocationDef>,
    outcome: Option<Outcome>,
    steps: u64,
}

/// Drives a [`ChunkEncoder`] and keeps the model of what it wrote, taking sealed chunks as a
/// recorder does.
struct Builder {
    encoder: ChunkEncoder,
    built: Built,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            encoder: ChunkEncoder::new(),
            built: Built {
                bytes: encode_prologue(&header()),
                events: Vec::new(),
                threads: Vec::new(),
                objects: Vec::new(),
                files: Vec::new(),
                locations: Vec::new(),
                outcome: None,
                steps: 0,
            },
        }
    }

    fn take_sealed(&mut self) {
        if self.encoder.has_sealed() {
            self.built.bytes.extend_from_slice(self.encoder.sealed());
            self.encoder.clear_sealed();
        }
    }

    fn spawn(&mut self, parent: Option<u32>, name: Option<&str>) {
        self.encoder.spawn(parent, name);
        let spawn = Spawn {
            parent,
            name: name.map(str::to_owned),
        };
        self.built.threads.push(spawn.clone());
        self.built.events.push(Event::Spawn(Box::new(spawn)));
    }

    fn object(&mut self, kind: ObjectKind) {
        self.encoder.object(kind);
        self.built.objects.push(kind);
        self.built.events.push(Event::Object(kind));
    }

    fn file(&mut self, path: &str) {
        self.encoder.file(path);
        self.built.files.push(path.to_owned());
    }

    fn location(&mut self, location: LocationDef) {
        self.encoder.location(location);
        self.built.locations.push(location);
    }

    fn step(&mut self, thread: u32, op: OpKind, object: Option<u32>, location: u32) {
        // A run draws one random seed: a second seed step would be malformed.
        let seeded = self
            .built
            .events
            .iter()
            .any(|event| matches!(event, Event::RandomSeed { .. }));
        let op = match op {
            OpKind::RandomSeed if seeded => OpKind::Yield,
            op => op,
        };
        self.encoder.step(thread, op, object, location);
        self.built.steps += 1;
        self.built.events.push(Event::Step(reel_trace::Step {
            thread,
            op,
            object,
            location,
        }));
        // An input's value follows its step.
        match op {
            OpKind::ClockRead => {
                let steps = self.built.steps as i64;
                let reading = if steps % 2 == 0 {
                    ClockReading {
                        source: ClockSource::Monotonic,
                        nanos: steps * 1_000,
                    }
                } else {
                    ClockReading {
                        source: ClockSource::System,
                        nanos: -steps * 1_000_000_007,
                    }
                };
                self.encoder.clock_read(reading);
                self.built.events.push(Event::ClockRead(reading));
            }
            OpKind::RandomSeed => {
                let seed = u64::MAX - self.built.steps;
                self.encoder.random_seed(seed);
                self.built.events.push(Event::RandomSeed { seed });
            }
            op if op.is_io() => {
                let steps = self.built.steps;
                let result = match steps % 4 {
                    0 => IoResult::Bytes((0..(steps % 7) as u8).collect()),
                    1 => IoResult::Count(steps),
                    2 => IoResult::Error {
                        errno: 111,
                        message: String::new(),
                    },
                    _ => IoResult::WouldBlock,
                };
                let event = IoEvent::Done(IoDone {
                    asked: steps,
                    written: (steps % 2 == 0).then_some(steps),
                    target: (steps % 3 == 0).then_some(steps ^ 0x5a5a),
                    result,
                });
                self.encoder.io(&event);
                self.built.events.push(Event::Io(Box::new(event)));
            }
            _ => {}
        }
    }

    fn timeout(&mut self, thread: u32) {
        self.encoder.timeout(thread);
        self.built.events.push(Event::Timeout { thread });
    }

    fn outcome(&mut self, outcome: Outcome) {
        self.encoder.outcome(&outcome);
        self.built
            .events
            .push(Event::Outcome(Box::new(outcome.clone())));
        self.built.outcome = Some(outcome);
    }

    fn seal(&mut self) {
        self.encoder.seal();
        self.take_sealed();
    }

    fn finish(mut self) -> Built {
        self.seal();
        self.built
    }
}

fn ok_outcome(step: u64) -> Outcome {
    Outcome {
        kind: OutcomeKind::Ok,
        step,
        thread: None,
        location: None,
        message: String::new(),
        cycle: Vec::new(),
    }
}

/// A random trace of at least `steps` steps over up to `max_threads` threads.
fn random_trace(seed: u64, steps: u64, max_threads: u32) -> Built {
    let mut rng = Rng(seed);
    let mut b = Builder::new();
    b.spawn(None, Some("main"));
    b.file("src/main.rs");
    b.location(LocationDef {
        file: 0,
        line: 1,
        column: 1,
    });
    let mut last_thread = 0;
    while b.built.steps < steps {
        let threads = b.built.threads.len();
        match rng.below(100) {
            0..=3 if threads < max_threads as usize => {
                let parent = rng.below32(threads);
                let name = rng.chance(70).then(|| rng.string(12));
                b.spawn(Some(parent), name.as_deref());
            }
            4..=5 => b.object(OBJECT_KINDS[rng.below(7) as usize]),
            6 => {
                let path = format!("src/{}.rs", rng.string(10));
                b.file(&path);
            }
            7..=9 => {
                let location = LocationDef {
                    file: rng.below32(b.built.files.len()),
                    line: rng.wide_u32(),
                    column: rng.wide_u32(),
                };
                b.location(location);
            }
            10 => b.timeout(rng.below32(threads)),
            _ => {
                let thread = if rng.chance(50) {
                    last_thread
                } else {
                    rng.below32(threads)
                };
                last_thread = thread;
                let op = rng.op();
                let object = if op.object_is_thread() {
                    rng.chance(80).then(|| rng.below32(threads))
                } else if !b.built.objects.is_empty() && rng.chance(70) {
                    Some(rng.below32(b.built.objects.len()))
                } else {
                    None
                };
                let location = rng.below32(b.built.locations.len());
                b.step(thread, op, object, location);
            }
        }
        if rng.chance(5) {
            b.take_sealed();
        }
    }
    let threads = b.built.threads.len();
    let cycle = (0..rng.below(6)).map(|_| rng.below32(threads)).collect();
    let outcome = Outcome {
        kind: OUTCOME_KINDS[rng.below(6) as usize],
        step: b.built.steps,
        thread: rng.chance(50).then(|| rng.below32(threads)),
        location: rng.chance(50).then(|| SourceLocation {
            file: format!("src/{}.rs", rng.string(8)),
            line: rng.wide_u32(),
            column: rng.wide_u32(),
        }),
        message: rng.string(40),
        cycle,
    };
    b.outcome(outcome);
    b.finish()
}

/// A small complete trace in several small chunks.
fn small_trace() -> Built {
    let mut b = Builder::new();
    b.spawn(None, Some("main"));
    b.file("src/main.rs");
    b.location(LocationDef {
        file: 0,
        line: 7,
        column: 5,
    });
    b.object(ObjectKind::Mutex);
    b.step(0, OpKind::Spawn, None, 0);
    b.step(0, OpKind::Lock, Some(0), 0);
    b.seal();
    b.spawn(Some(0), Some("worker"));
    b.location(LocationDef {
        file: 0,
        line: 9,
        column: 13,
    });
    b.step(1, OpKind::BlockLock, Some(0), 1);
    b.step(0, OpKind::Unlock, Some(0), 0);
    b.step(0, OpKind::BlockJoin, Some(1), 0);
    b.seal();
    b.timeout(1);
    b.step(1, OpKind::Lock, Some(0), 1);
    b.step(1, OpKind::Exit, None, 1);
    b.seal();
    b.step(0, OpKind::Join, None, 0);
    b.outcome(ok_outcome(8));
    b.finish()
}

/// A chunk's place in a trace file.
#[derive(Clone, Copy, Debug)]
struct ChunkAt {
    /// Offset of its frame.
    at: usize,
    /// Its payload's length.
    len: usize,
}

impl ChunkAt {
    fn payload_at(self) -> usize {
        self.at + FRAME_BYTES
    }

    fn end(self) -> usize {
        self.at + FRAME_BYTES + self.len
    }
}

/// The chunks of a well-formed trace (the header chunk first).
fn chunks(bytes: &[u8]) -> Vec<ChunkAt> {
    let mut at = MAGIC.len() + 2;
    let mut chunks = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        chunks.push(ChunkAt { at, len });
        at += FRAME_BYTES + len;
    }
    assert_eq!(at, bytes.len(), "the chunks tile the file");
    chunks
}

/// A frame and payload, as a writer frames a chunk.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_BYTES + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn assert_decodes_to(trace: &Trace, built: &Built) {
    assert_eq!(trace.version, FORMAT_VERSION);
    assert_eq!(trace.header, header());
    assert_eq!(trace.threads, built.threads);
    assert_eq!(trace.objects, built.objects);
    assert_eq!(trace.files, built.files);
    assert_eq!(trace.locations, built.locations);
    assert_eq!(trace.steps, built.steps);
    assert_eq!(trace.step_events().count() as u64, built.steps);
    assert_eq!(trace.outcome, built.outcome);
    // Compared last: a mismatch in the tables above is easier to read.
    assert_eq!(trace.events.len(), built.events.len());
    for (index, (got, want)) in trace.events.iter().zip(&built.events).enumerate() {
        assert_eq!(got, want, "event {index}");
    }
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

#[test]
fn random_traces_round_trip_across_many_chunks() {
    for seed in 0..6 {
        let built = random_trace(seed, 12_000, 400);
        assert!(
            built.threads.len() > 200,
            "thread ids above 127 take two bytes"
        );
        let chunks = chunks(&built.bytes);
        assert!(
            chunks.len() >= 4,
            "seed {seed}: {} chunks; the trace should span several",
            chunks.len()
        );
        // Every event chunk but the last was sealed on reaching the target size, by the
        // event that reached it (at most 16 bytes for a step, a few dozen for the others).
        for chunk in &chunks[1..chunks.len() - 1] {
            assert!(chunk.len >= CHUNK_TARGET_BYTES, "{chunk:?}");
            assert!(chunk.len < CHUNK_TARGET_BYTES + 80, "{chunk:?}");
        }
        let trace = decode(&built.bytes).unwrap_or_else(|error| panic!("seed {seed}: {error}"));
        assert_decodes_to(&trace, &built);
        assert_eq!(trace.bytes, built.bytes.len() as u64);
        assert_eq!(trace.cut, None);
        let prefix = decode_prefix(&built.bytes).unwrap();
        assert_eq!(prefix, trace);
    }
}

#[test]
fn ids_of_every_varint_width_round_trip() {
    // 20,000 threads, objects and locations: ids of one, two and three varint bytes.
    const COUNT: u32 = 20_000;
    let mut b = Builder::new();
    b.spawn(None, None);
    b.file("a.rs");
    for index in 1..COUNT {
        b.spawn(Some(index - 1), (index % 3 == 0).then_some("t"));
    }
    for index in 0..COUNT {
        b.object(OBJECT_KINDS[index as usize % 7]);
        b.location(LocationDef {
            file: 0,
            line: index,
            column: u32::MAX - index,
        });
    }
    let ids = [
        0,
        1,
        126,
        127,
        128,
        129,
        255,
        256,
        16_383,
        16_384,
        16_385,
        COUNT - 1,
    ];
    for &thread in &ids {
        for &object in &ids {
            for &location in &ids {
                b.step(thread, OpKind::AtomicUpdate, Some(object), location);
                b.step(thread, OpKind::BlockJoin, Some(object), location);
                b.step(thread, OpKind::Fence, None, location);
            }
        }
        b.timeout(thread);
    }
    let steps = b.built.steps;
    b.outcome(Outcome {
        kind: OutcomeKind::PartialDeadlock,
        step: steps,
        thread: Some(COUNT - 1),
        location: Some(SourceLocation {
            file: "a.rs".to_owned(),
            line: u32::MAX,
            column: 0,
        }),
        message: "stuck".to_owned(),
        cycle: ids.to_vec(),
    });
    let built = b.finish();
    let trace = decode(&built.bytes).unwrap();
    assert_decodes_to(&trace, &built);
    assert_eq!(trace.thread_name(3), "T3 't'");
    assert_eq!(trace.thread_name(4), "T4");
    assert_eq!(trace.object_name(OpKind::Lock, 8), "RwLock#8");
    assert_eq!(trace.object_name(OpKind::BlockJoin, 8), "T8");
    assert_eq!(trace.location(16_384), ("a.rs", 16_384, u32::MAX - 16_384));
}

#[test]
fn strings_and_lists_are_bounded_on_a_character_boundary() {
    let long = "é".repeat(MAX_STRING_BYTES); // twice the limit in bytes
    let mut header = header();
    header.program.args = (0..MAX_ARGS + 10).map(|index| index.to_string()).collect();
    header.program.exe_path = long.clone();
    header.run.ci_commit = Some(long.clone());
    let mut bytes = encode_prologue(&header);
    let mut encoder = ChunkEncoder::new();
    encoder.spawn(None, Some(&long));
    encoder.file(&long);
    // The worst outcome: every string at the limit, the longest cycle of the widest ids.
    encoder.outcome(&Outcome {
        kind: OutcomeKind::Deadlock,
        step: 0,
        thread: Some(0),
        location: Some(SourceLocation {
            file: long.clone(),
            line: u32::MAX,
            column: u32::MAX,
        }),
        message: long.clone(),
        cycle: vec![0; MAX_CYCLE_THREADS + 10],
    });
    encoder.seal();
    bytes.extend_from_slice(encoder.sealed());
    let trace = decode(&bytes).unwrap();
    let bounded = "é".repeat(MAX_STRING_BYTES / 2);
    assert_eq!(trace.header.program.args.len(), MAX_ARGS);
    assert_eq!(trace.header.program.exe_path, bounded);
    assert_eq!(trace.header.run.ci_commit.as_deref(), Some(&*bounded));
    assert_eq!(trace.threads[0].name.as_deref(), Some(&*bounded));
    assert_eq!(trace.files[0], bounded);
    let outcome = trace.outcome.unwrap();
    assert_eq!(outcome.message, bounded);
    assert_eq!(outcome.location.unwrap().file, bounded);
    assert_eq!(outcome.cycle.len(), MAX_CYCLE_THREADS);

    // An odd limit cuts inside a two-byte character: the cut moves back to its start.
    let mut encoder = ChunkEncoder::new();
    let mut odd = "a".to_owned();
    odd.push_str(&long);
    encoder.file(&odd);
    encoder.seal();
    let payload = &encoder.sealed()[FRAME_BYTES..];
    let body: FileDef = postcard::from_bytes(&payload[4..]).unwrap();
    assert_eq!(body.path.len(), MAX_STRING_BYTES - 1);
}

#[test]
fn the_largest_outcome_fits_in_a_nearly_full_chunk() {
    // An outcome with strings at the limit and a cycle of the widest ids, written when the
    // open chunk is just short of its target size: it must fit in MAX_EVENT_BYTES.
    let long = "x".repeat(MAX_STRING_BYTES);
    let worst = Outcome {
        kind: OutcomeKind::StepBoundExceeded,
        step: u64::MAX,
        thread: Some(u32::MAX),
        location: Some(SourceLocation {
            file: long.clone(),
            line: u32::MAX,
            column: u32::MAX,
        }),
        message: long,
        cycle: vec![u32::MAX; MAX_CYCLE_THREADS],
    };
    let encoded = 1 + postcard::to_allocvec(&worst).unwrap().len();
    assert!(encoded <= MAX_EVENT_BYTES, "{encoded} > {MAX_EVENT_BYTES}");
    for fill in 0..12 {
        let mut encoder = ChunkEncoder::new();
        // Steps of 16 bytes (the thread alternates, so each is written) up to just below
        // the target (a payload of 3 + 16 * 509 = 8147 bytes), then steps of 4 bytes.
        for step in 0..509 {
            encoder.step(u32::MAX - step % 2, OpKind::Lock, Some(u32::MAX), u32::MAX);
        }
        for step in 0..fill {
            encoder.step(step % 2, OpKind::Yield, None, 0);
        }
        assert!(!encoder.has_sealed());
        encoder.outcome(&worst);
        encoder.seal();
        let sealed = encoder.sealed();
        assert!(sealed.len() <= FRAME_BYTES + CHUNK_TARGET_BYTES + MAX_EVENT_BYTES + 16);
        assert_eq!(
            &sealed[sealed.len() - encoded..],
            [&[0x85][..], &postcard::to_allocvec(&worst).unwrap()].concat()
        );
    }
}

#[test]
fn a_reset_encoder_writes_what_a_new_one_writes() {
    let write = |encoder: &mut ChunkEncoder| {
        encoder.spawn(None, Some("main"));
        encoder.file("f.rs");
        encoder.location(LocationDef {
            file: 0,
            line: 1,
            column: 2,
        });
        for step in 0..3_000 {
            encoder.step(0, OpKind::AtomicLoad, None, 0);
            if step % 7 == 0 {
                encoder.step(0, OpKind::Yield, None, 0);
            }
        }
        encoder.outcome(&ok_outcome(encoder.steps()));
        encoder.seal();
        encoder.sealed().to_vec()
    };
    let mut fresh = ChunkEncoder::new();
    let expected = write(&mut fresh);
    let mut reused = ChunkEncoder::new();
    reused.spawn(None, None);
    reused.step(5, OpKind::Lock, Some(5), 5);
    reused.seal();
    reused.step(5, OpKind::Lock, Some(5), 5);
    reused.reset();
    assert!(!reused.has_sealed());
    assert_eq!(reused.steps(), 0);
    assert_eq!(write(&mut reused), expected);
    let mut bytes = encode_prologue(&header());
    bytes.extend_from_slice(&expected);
    assert_eq!(decode(&bytes).unwrap().steps, 3_000 + 3_000 / 7 + 1);
}

// ---------------------------------------------------------------------------------------
// The bytes: the step fast path writes what postcard writes
// ---------------------------------------------------------------------------------------

/// The postcard bytes of a step's object field: id + 1, or 0 for none.
fn postcard_object(object: Option<u32>) -> Vec<u8> {
    match object {
        None => postcard::to_allocvec(&0u32).unwrap(),
        Some(id) => match id.checked_add(1) {
            Some(plus_one) => postcard::to_allocvec(&plus_one).unwrap(),
            // u32::MAX + 1 takes 33 bits: postcard's u64 encoding of it.
            None => postcard::to_allocvec(&(u64::from(id) + 1)).unwrap(),
        },
    }
}

fn postcard_u32(value: u32) -> Vec<u8> {
    postcard::to_allocvec(&value).unwrap()
}

#[test]
fn the_step_fast_path_writes_postcard_varints() {
    let edges: Vec<u32> = [0u64, 1, 2, 126, 127, 128, 129, 255, 256, 300]
        .into_iter()
        .chain([14, 21, 28].into_iter().flat_map(|bits| {
            let power = 1u64 << bits;
            [power - 2, power - 1, power, power + 1]
        }))
        .chain([u64::from(u32::MAX) - 1, u64::from(u32::MAX)])
        .map(|value| value as u32)
        .collect();
    let mut rng = Rng(42);
    let mut triples = Vec::new();
    for &thread in &edges {
        for &object in &edges {
            triples.push((
                thread,
                Some(object),
                edges[rng.below(edges.len() as u64) as usize],
            ));
            triples.push((thread, None, object));
        }
    }
    for _ in 0..5_000 {
        let object = rng.chance(80).then(|| rng.wide_u32());
        triples.push((rng.wide_u32(), object, rng.wide_u32()));
    }
    for (thread, object, location) in triples {
        let op = rng.op();
        let mut encoder = ChunkEncoder::new();
        encoder.step(thread, op, object, location);
        encoder.step(thread, op, object, location);
        encoder.seal();
        let sealed = encoder.sealed();
        let payload = &sealed[FRAME_BYTES..];
        assert_eq!(sealed[..4], (payload.len() as u32).to_le_bytes());
        assert_eq!(sealed[4..8], crc32fast::hash(payload).to_le_bytes());
        // 'E', sequence 0 (a u32), first step 1 (a u64), as postcard writes them.
        let mut expected = vec![b'E'];
        expected.extend(postcard_u32(0));
        expected.extend(postcard::to_allocvec(&1u64).unwrap());
        // The first step: op code, thread, object + 1, location.
        expected.push(op.code());
        expected.extend(postcard_u32(thread));
        expected.extend(postcard_object(object));
        expected.extend(postcard_u32(location));
        // The second repeats the thread: the tag's 0x40 bit, and no thread.
        expected.push(op.code() | 0x40);
        expected.extend(postcard_object(object));
        expected.extend(postcard_u32(location));
        assert_eq!(
            payload, expected,
            "step ({thread}, {op:?}, {object:?}, {location})"
        );
    }
}

#[test]
fn chunk_prefixes_are_postcard_varints() {
    // Many sealed chunks: each starts with 'E', its sequence number and its first step.
    let mut encoder = ChunkEncoder::new();
    let mut first_steps = Vec::new();
    for sequence in 0..300u32 {
        first_steps.push(encoder.steps() + 1);
        for _ in 0..=(sequence % 3) {
            encoder.step(0, OpKind::Yield, None, 0);
        }
        encoder.seal();
    }
    let mut at = 0;
    for (sequence, first_step) in first_steps.into_iter().enumerate() {
        let sealed = &encoder.sealed()[at..];
        let len = u32::from_le_bytes(sealed[..4].try_into().unwrap()) as usize;
        let payload = &sealed[FRAME_BYTES..FRAME_BYTES + len];
        let mut prefix = vec![b'E'];
        prefix.extend(postcard_u32(sequence as u32));
        prefix.extend(postcard::to_allocvec(&first_step).unwrap());
        assert_eq!(payload[..prefix.len()], prefix, "chunk {sequence}");
        at += FRAME_BYTES + len;
    }
    assert_eq!(at, encoder.sealed().len());
}

#[test]
fn other_events_are_a_tag_and_their_postcard_body() {
    let spawn = Spawn {
        parent: Some(300),
        name: Some("wörker".to_owned()),
    };
    let location = LocationDef {
        file: 3,
        line: 70_000,
        column: 128,
    };
    let outcome = Outcome {
        kind: OutcomeKind::Panic,
        step: 1 << 40,
        thread: Some(2),
        location: Some(SourceLocation {
            file: "src/lib.rs".to_owned(),
            line: 10,
            column: 5,
        }),
        message: "boom".to_owned(),
        cycle: vec![1, 200, 3],
    };
    /// A tag, the postcard body, and how the encoder is asked to write them.
    type Case = (u8, Vec<u8>, fn(&mut ChunkEncoder));
    let cases: Vec<Case> = vec![
        (0x80, postcard::to_allocvec(&spawn).unwrap(), |e| {
            e.spawn(Some(300), Some("wörker"))
        }),
        (
            0x81,
            postcard::to_allocvec(&ObjectKind::Channel).unwrap(),
            |e| e.object(ObjectKind::Channel),
        ),
        (
            0x82,
            postcard::to_allocvec(&FileDef {
                path: "src/x.rs".to_owned(),
            })
            .unwrap(),
            |e| e.file("src/x.rs"),
        ),
        (0x83, postcard::to_allocvec(&location).unwrap(), |e| {
            e.location(LocationDef {
                file: 3,
                line: 70_000,
                column: 128,
            })
        }),
        (0x84, postcard_u32(129), |e| e.timeout(129)),
    ];
    for (tag, body, write) in cases {
        let mut encoder = ChunkEncoder::new();
        write(&mut encoder);
        encoder.seal();
        let payload = &encoder.sealed()[FRAME_BYTES..];
        assert_eq!(payload[..3], [b'E', 0, 1]);
        assert_eq!(payload[3], tag);
        assert_eq!(payload[4..], body, "tag {tag:#04x}");
    }
    let mut encoder = ChunkEncoder::new();
    encoder.outcome(&outcome);
    encoder.seal();
    let payload = &encoder.sealed()[FRAME_BYTES..];
    assert_eq!(payload[3], 0x85);
    assert_eq!(payload[4..], postcard::to_allocvec(&outcome).unwrap());
}

#[test]
fn op_codes_are_fixed_and_fit_below_the_same_thread_bit() {
    let codes: Vec<u8> = OpKind::ALL.iter().map(|op| op.code()).collect();
    let expected: Vec<u8> = (0..=22)
        .chain(28..=29)
        .chain(32..=42)
        .chain([30, 47, 43])
        .chain(48..=55)
        .collect();
    assert_eq!(codes, expected);
    for code in 0..=255u8 {
        match OpKind::from_code(code) {
            Some(op) => assert_eq!(op.code(), code),
            None => assert!(!expected.contains(&code)),
        }
    }
    for op in OpKind::ALL {
        assert_eq!(op.is_block(), (32..48).contains(&op.code()), "{op}");
        assert_eq!(op.is_io(), (48..56).contains(&op.code()), "{op}");
        assert_eq!(op.object_is_thread(), op == OpKind::BlockJoin);
    }
}

// ---------------------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------------------

#[test]
fn every_truncation_is_an_error_and_leaves_a_readable_prefix() {
    let built = small_trace();
    let full = decode(&built.bytes).unwrap();
    assert_decodes_to(&full, &built);
    let chunks = chunks(&built.bytes);
    assert_eq!(chunks.len(), 5, "a header and four event chunks");
    let header_end = chunks[0].end();
    let full_steps: Vec<_> = full.step_events().copied().collect();

    for cut in 0..built.bytes.len() {
        let bytes = &built.bytes[..cut];
        let error = decode(bytes).expect_err("a cut trace does not decode whole");
        assert!(error.is_truncation(), "cut at {cut}: {error}");
        assert_eq!(error.offset, cut as u64, "cut at {cut}");
        let ErrorKind::Truncated { missing } = error.kind else {
            unreachable!()
        };
        // What the reader knew was missing: the rest of the magic and version, of a frame, or
        // of a payload; nothing when the cut falls between two chunks.
        let (expected_missing, expected_chunk) = if cut < MAGIC.len() {
            ((MAGIC.len() - cut) as u64, None)
        } else if cut < MAGIC.len() + 2 {
            ((MAGIC.len() + 2 - cut) as u64, None)
        } else {
            let index = chunks.iter().position(|chunk| cut < chunk.end()).unwrap();
            let chunk = chunks[index];
            let event_chunk = (index > 0).then(|| index as u32 - 1);
            if cut == chunk.at && index > 0 {
                (0, None)
            } else if cut < chunk.payload_at() {
                ((chunk.payload_at() - cut) as u64, event_chunk)
            } else {
                ((chunk.end() - cut) as u64, event_chunk)
            }
        };
        assert_eq!(missing, expected_missing, "cut at {cut}");
        assert_eq!(error.chunk, expected_chunk, "cut at {cut}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("truncated at byte {cut}"))
        );

        match decode_prefix(bytes) {
            Err(prefix_error) => {
                assert!(cut < header_end, "cut at {cut}: {prefix_error}");
                assert_eq!(prefix_error, error);
            }
            Ok(trace) => {
                assert!(cut >= header_end, "cut at {cut}");
                assert_eq!(trace.cut.as_ref(), Some(&error));
                assert_eq!(trace.header, full.header);
                assert_eq!(trace.outcome, None);
                // What was read ends at the last chunk boundary at or before the cut.
                let boundary = chunks
                    .iter()
                    .map(|chunk| chunk.end())
                    .filter(|&end| end <= cut)
                    .max()
                    .unwrap();
                assert_eq!(trace.bytes, boundary as u64, "cut at {cut}");
                assert_eq!(trace.events[..], full.events[..trace.events.len()]);
                let steps: Vec<_> = trace.step_events().copied().collect();
                assert_eq!(steps[..], full_steps[..steps.len()], "cut at {cut}");
                assert_eq!(trace.steps, steps.len() as u64);
                assert!(full.threads.starts_with(&trace.threads));
                assert!(full.locations.starts_with(&trace.locations));
            }
        }
    }
    assert_eq!(decode_prefix(&built.bytes).unwrap(), full);
}

#[test]
fn a_cut_between_chunks_says_the_outcome_is_missing() {
    let built = small_trace();
    let chunks = chunks(&built.bytes);
    let boundary = chunks[2].at;
    let error = decode(&built.bytes[..boundary]).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Truncated { missing: 0 });
    assert_eq!(
        error.to_string(),
        format!(
            "truncated at byte {boundary}: the trace ends before its outcome (the recording was \
             cut short, or the file was cut)"
        )
    );
    // A trace of only its prologue: nothing recorded yet.
    let prologue = encode_prologue(&header());
    let trace = decode_prefix(&prologue).unwrap();
    assert_eq!(trace.events, []);
    assert_eq!(trace.steps, 0);
    assert!(trace.cut.unwrap().is_truncation());
}

// ---------------------------------------------------------------------------------------
// Damage
// ---------------------------------------------------------------------------------------

#[test]
fn every_single_bit_flip_is_detected() {
    let built = small_trace();
    let chunks = chunks(&built.bytes);
    for at in 0..built.bytes.len() {
        for bit in 0..8 {
            let mut bytes = built.bytes.clone();
            bytes[at] ^= 1 << bit;
            let error = decode(&bytes).expect_err("a damaged trace does not decode");
            // The lenient reader finds the same damage (or the same truncation).
            match decode_prefix(&bytes) {
                Ok(trace) => assert_eq!(trace.cut.as_ref(), Some(&error)),
                Err(prefix_error) => assert_eq!(prefix_error, error),
            }
            let what = format!("bit {bit} of byte {at}: {error}");
            if at < MAGIC.len() {
                assert_eq!(error.kind, ErrorKind::NotATrace, "{what}");
                assert_eq!(error.offset, 0);
                continue;
            }
            if at < MAGIC.len() + 2 {
                let found = u16::from_le_bytes([bytes[8], bytes[9]]);
                assert_eq!(
                    error.kind,
                    ErrorKind::UnsupportedVersion { found },
                    "{what}"
                );
                assert_eq!(error.offset, MAGIC.len() as u64);
                continue;
            }
            let index = chunks.iter().position(|chunk| at < chunk.end()).unwrap();
            let chunk = chunks[index];
            let event_chunk = (index > 0).then(|| index as u32 - 1);
            if at < chunk.at + 4 {
                // The length: the payload runs past the end, past the limit, or its checksum
                // no longer matches.
                assert!(
                    matches!(
                        error.kind,
                        ErrorKind::Truncated { .. }
                            | ErrorKind::ChunkTooLarge { .. }
                            | ErrorKind::BadChecksum { .. }
                    ),
                    "{what}"
                );
                if !error.is_truncation() {
                    assert_eq!(error.offset, chunk.at as u64, "{what}");
                }
            } else {
                // The checksum or the payload.
                let stored =
                    u32::from_le_bytes(bytes[chunk.at + 4..chunk.at + 8].try_into().unwrap());
                let computed = crc32fast::hash(&bytes[chunk.payload_at()..chunk.end()]);
                assert_eq!(
                    error.kind,
                    ErrorKind::BadChecksum { stored, computed },
                    "{what}"
                );
                assert_eq!(error.offset, chunk.at as u64, "{what}");
            }
            assert_eq!(error.chunk, event_chunk, "{what}");
        }
    }
}

#[test]
fn a_version_this_build_cannot_read_is_named() {
    for version in [0, FORMAT_VERSION + 1, 99, u16::MAX] {
        let mut bytes = small_trace().bytes;
        bytes[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&version.to_le_bytes());
        let error = decode(&bytes).unwrap_err();
        assert_eq!(error.kind, ErrorKind::UnsupportedVersion { found: version });
        assert_eq!(error.offset, MAGIC.len() as u64);
        assert_eq!(decode_prefix(&bytes).unwrap_err(), error);
        // Even with nothing after it.
        assert_eq!(decode(&bytes[..MAGIC.len() + 2]).unwrap_err(), error);
    }
    let mut bytes = small_trace().bytes;
    bytes[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&99u16.to_le_bytes());
    assert_eq!(
        decode(&bytes).unwrap_err().to_string(),
        "unsupported trace format version 99: this build reads versions 1..=1"
    );
}

#[test]
fn foreign_files_are_not_traces() {
    for bytes in [
        &b"\x7fELF\x02\x01\x01\x00rest of a binary"[..],
        b"{\"json\": true}",
        b"\x89PNG\r\n\x1a\n",
        b"\x89REEX",
        b"R",
    ] {
        let error = decode(bytes).unwrap_err();
        assert_eq!(error.kind, ErrorKind::NotATrace, "{bytes:?}");
        assert!(!error.is_truncation());
        assert!(error.to_string().starts_with("not a reel trace"));
    }
    // An empty file, or the start of the magic, is a recording cut short.
    for len in 0..MAGIC.len() {
        let error = decode(&MAGIC[..len]).unwrap_err();
        assert_eq!(
            error.kind,
            ErrorKind::Truncated {
                missing: (MAGIC.len() - len) as u64
            }
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(7);
    let prologue = encode_prologue(&header());
    let small = small_trace();
    let small_chunks = chunks(&small.bytes);
    for round in 0..4_000 {
        let len = rng.below(if round % 10 == 0 { 4_000 } else { 200 }) as usize;
        let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();

        // After a valid magic and version.
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&garbage);
        let _ = decode(&bytes);
        let _ = decode_prefix(&bytes);

        // After a valid header chunk.
        let mut bytes = prologue.clone();
        bytes.extend_from_slice(&garbage);
        let _ = decode(&bytes);
        let _ = decode_prefix(&bytes);

        // In a validly framed event chunk, so that the checksum does not stop it.
        let mut payload = vec![b'E', 0, 1];
        payload.extend_from_slice(&garbage);
        let mut bytes = prologue.clone();
        bytes.extend(framed(&payload));
        let _ = decode(&bytes);
        let _ = decode_prefix(&bytes);

        // The same after the first chunk of a real trace, with events that define threads,
        // objects and locations, and with the garbage mixed with real step tags.
        let mut payload = vec![b'E', 1, 3];
        for byte in &garbage {
            payload.push(if rng.chance(30) { byte & 0x4f } else { *byte });
        }
        let mut bytes = small.bytes[..small_chunks[1].end()].to_vec();
        bytes.extend(framed(&payload));
        let _ = decode(&bytes);
        let _ = decode_prefix(&bytes);

        // A framed header of garbage.
        let mut payload = vec![b'H'];
        payload.extend_from_slice(&garbage);
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend(framed(&payload));
        assert!(decode_prefix(&bytes).is_err());
    }
}

// ---------------------------------------------------------------------------------------
// Checksummed chunks whose events are wrong
// ---------------------------------------------------------------------------------------

/// A trace whose first event chunk (sealed) defines thread 0 ("main"), file 0, location 0
/// and object 0 (a mutex) and holds one step, and that has no outcome yet.
fn base_trace() -> Vec<u8> {
    let mut bytes = encode_prologue(&header());
    let mut encoder = ChunkEncoder::new();
    base_events(&mut encoder);
    encoder.seal();
    bytes.extend_from_slice(encoder.sealed());
    bytes
}

fn base_events(encoder: &mut ChunkEncoder) {
    encoder.spawn(None, Some("main"));
    encoder.file("src/main.rs");
    encoder.location(LocationDef {
        file: 0,
        line: 1,
        column: 1,
    });
    encoder.object(ObjectKind::Mutex);
    encoder.step(0, OpKind::Spawn, None, 0);
}

/// `base_trace()` and a second event chunk with `events` (sequence 1, first step 2); returns
/// the trace and the offset of the first byte of `events`.
fn with_chunk(events: &[u8]) -> (Vec<u8>, u64) {
    let mut bytes = base_trace();
    let mut payload = vec![b'E', 1, 2];
    payload.extend_from_slice(events);
    let at = bytes.len() + FRAME_BYTES + 3;
    bytes.extend(framed(&payload));
    (bytes, at as u64)
}

/// Writes `base_events` and then `more` with one encoder, in one chunk; returns the trace and
/// the offset at which `more`'s events start.
fn with_events(more: impl FnOnce(&mut ChunkEncoder)) -> (Vec<u8>, u64) {
    let mut encoder = ChunkEncoder::new();
    base_events(&mut encoder);
    encoder.seal();
    let events_at = encode_prologue(&header()).len() + encoder.sealed().len();
    encoder.reset();
    base_events(&mut encoder);
    more(&mut encoder);
    encoder.seal();
    let mut bytes = encode_prologue(&header());
    bytes.extend_from_slice(encoder.sealed());
    (bytes, events_at as u64)
}

fn expect_malformed(bytes: &[u8], needle: &str) -> Error {
    let error = decode(bytes).unwrap_err();
    let ErrorKind::Malformed(message) = &error.kind else {
        panic!("expected a malformed event ({needle}), got {error}");
    };
    assert!(
        message.contains(needle),
        "{message:?} does not say {needle:?}"
    );
    assert_eq!(
        decode_prefix(bytes).unwrap_err(),
        error,
        "damage is not a truncation"
    );
    let chunk = error.chunk.expect("an event is in a chunk");
    assert_eq!(
        error.to_string(),
        format!(
            "malformed event in chunk {chunk} at byte {}: {message}",
            error.offset
        )
    );
    error
}

#[test]
fn the_base_traces_are_sound() {
    let mut bytes = base_trace();
    let mut encoder = ChunkEncoder::new();
    base_events(&mut encoder);
    encoder.seal();
    encoder.clear_sealed();
    encoder.outcome(&ok_outcome(1));
    encoder.seal();
    bytes.extend_from_slice(encoder.sealed());
    assert_eq!(decode(&bytes).unwrap().steps, 1);
    let (bytes, _) = with_chunk(&[0x03, 0, 0, 0, 0x85, 0, 2, 0, 0, 0, 0]);
    assert_eq!(decode(&bytes).unwrap().outcome, Some(ok_outcome(2)));
    let (bytes, _) = with_events(|encoder| encoder.outcome(&ok_outcome(1)));
    assert_eq!(decode(&bytes).unwrap().outcome, Some(ok_outcome(1)));
}

#[test]
fn the_tags_once_reserved_are_events_now_and_keep_their_names() {
    // Version 1 reserved 0x91 and 0x94 for inputs not recorded then; a build of that time
    // names them in its error. This build reads both as events: with nothing after the tag,
    // an event whose body is missing.
    let kinds = [
        (0x91, ReservedKind::TimerPreemption, "timer preemption"),
        (0x94, ReservedKind::IoResult, "I/O result"),
    ];
    for (tag, kind, name) in kinds {
        assert_eq!(kind.name(), name);
        let (bytes, at) = with_chunk(&[0x03, 0x00, 0x00, 0x00, tag]);
        let error = decode(&bytes).unwrap_err();
        assert!(
            matches!(&error.kind, ErrorKind::Malformed(message) if message.contains("does not decode")),
            "{error}"
        );
        assert_eq!((error.offset, error.chunk), (at + 4, Some(1)));
        assert!(!error.is_truncation());
    }
}

#[test]
fn unknown_events_name_their_tag_offset_and_chunk() {
    let (bytes, at) = with_chunk(&[0xee, 1, 2, 3]);
    let error = decode(&bytes).unwrap_err();
    assert_eq!(error.kind, ErrorKind::UnknownEvent(0xee));
    assert_eq!((error.offset, error.chunk), (at, Some(1)));
    assert_eq!(
        error.to_string(),
        format!("unknown event kind 0xee in chunk 1 at byte {at}: written by a newer reel?")
    );
    // Every tag that is neither an event this build knows nor a reserved one.
    for tag in (0x86..=0x8f).chain(0x96..=0xff) {
        let (bytes, at) = with_chunk(&[tag]);
        let error = decode(&bytes).unwrap_err();
        assert_eq!(error.kind, ErrorKind::UnknownEvent(tag));
        assert_eq!((error.offset, error.chunk), (at, Some(1)));
    }
    // Step tags whose op code is not an operation, with or without the same-thread bit.
    for tag in (0..0x80u8).filter(|tag| OpKind::from_code(tag & !0x40).is_none()) {
        let (bytes, at) = with_chunk(&[0x03, 0, 0, 0, tag, 0, 0, 0]);
        let error = decode(&bytes).unwrap_err();
        assert_eq!(error.kind, ErrorKind::UnknownEvent(tag), "tag {tag:#04x}");
        assert_eq!((error.offset, error.chunk), (at + 4, Some(1)));
    }
    // A chunk kind this build does not know.
    let mut bytes = base_trace();
    let at = bytes.len();
    bytes.extend(framed(b"Zwhatever"));
    let error = decode(&bytes).unwrap_err();
    assert_eq!(error.kind, ErrorKind::UnknownChunk(b'Z'));
    assert_eq!(
        (error.offset, error.chunk),
        ((at + FRAME_BYTES) as u64, Some(1))
    );
    assert_eq!(
        error.to_string(),
        format!(
            "unknown chunk kind 0x5a in chunk 1 at byte {}",
            at + FRAME_BYTES
        )
    );
}

#[test]
fn a_step_of_a_thread_never_spawned_is_malformed() {
    let (bytes, at) = with_events(|encoder| encoder.step(5, OpKind::Yield, None, 0));
    let error = expect_malformed(
        &bytes,
        "a step of thread 5, but only 1 threads were spawned",
    );
    assert_eq!((error.offset, error.chunk), (at, Some(0)));
    // Thread ids are not implied by steps: 300 is no more spawned than 5.
    let (bytes, _) = with_chunk(&[0x03, 0xac, 0x02, 0, 0]);
    expect_malformed(
        &bytes,
        "a step of thread 300, but only 1 threads were spawned",
    );
}

#[test]
fn a_step_at_a_location_never_defined_is_malformed() {
    let (bytes, at) = with_events(|encoder| encoder.step(0, OpKind::Yield, None, 3));
    let error = expect_malformed(
        &bytes,
        "a step at location 3, but only 1 locations are defined",
    );
    assert_eq!(error.offset, at);
}

#[test]
fn a_step_on_an_unknown_object_is_malformed() {
    let (bytes, at) = with_events(|encoder| {
        encoder.step(0, OpKind::Yield, None, 0);
        encoder.step(0, OpKind::Lock, Some(1), 0);
    });
    let error = expect_malformed(&bytes, "a step on object 1, but only 1 objects are known");
    assert_eq!(
        error.offset,
        at + 3,
        "the second step, after a three-byte one"
    );
    // A join's object is a thread: object 0 exists, thread 1 does not.
    let (bytes, _) = with_events(|encoder| encoder.step(0, OpKind::BlockJoin, Some(1), 0));
    expect_malformed(&bytes, "a step on object 1, but only 1 threads are known");
    // The object field is id + 1; 2^32 + 1 (id 2^32) is beyond any u32 id.
    let (bytes, at) = with_chunk(&[0x07, 0x00, 0x81, 0x80, 0x80, 0x80, 0x10, 0x00]);
    let error = expect_malformed(&bytes, "beyond 32 bits");
    assert_eq!(error.offset, at);
    // A varint longer than its type.
    let (bytes, _) = with_chunk(&[0x07, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x00]);
    expect_malformed(&bytes, "a varint overflows 32 bits");
}

#[test]
fn a_repeated_thread_at_the_start_of_a_chunk_is_malformed() {
    let (bytes, at) = with_chunk(&[0x43, 0x00, 0x00]);
    let error = expect_malformed(&bytes, "first in its chunk");
    assert_eq!(error.offset, at);
}

#[test]
fn events_cut_inside_a_checksummed_chunk_are_malformed() {
    let (bytes, _) = with_chunk(&[0x03, 0x00]);
    expect_malformed(&bytes, "the chunk ends inside an event");
    let (bytes, _) = with_chunk(&[0x80, 0x01]);
    expect_malformed(&bytes, "a spawn does not decode");
    let (bytes, _) = with_chunk(&[0x85]);
    expect_malformed(&bytes, "the outcome does not decode");
    let (bytes, _) = with_chunk(&[0x81, 0x0b]);
    expect_malformed(&bytes, "an object does not decode");
}

#[test]
fn an_event_after_the_outcome_is_malformed() {
    let (bytes, _) = with_events(|encoder| {
        encoder.outcome(&ok_outcome(1));
        encoder.step(0, OpKind::Yield, None, 0);
    });
    expect_malformed(&bytes, "an event follows the outcome");
    // Nor may a chunk follow the outcome's, even an empty one.
    let (mut bytes, _) = with_events(|encoder| encoder.outcome(&ok_outcome(1)));
    bytes.extend(framed(&[b'E', 1, 2]));
    expect_malformed(&bytes, "a chunk follows the one with the outcome");
}

#[test]
fn an_outcome_that_does_not_fit_is_malformed() {
    let (bytes, at) = with_events(|encoder| encoder.outcome(&ok_outcome(2)));
    let error = expect_malformed(
        &bytes,
        "the outcome is at step 2, but the trace has 1 steps",
    );
    assert_eq!(error.offset, at);
    let (bytes, _) = with_events(|encoder| {
        encoder.outcome(&Outcome {
            cycle: vec![0, 1],
            ..ok_outcome(1)
        })
    });
    expect_malformed(&bytes, "the outcome names a thread beyond the 1 that exist");
}

#[test]
fn definitions_that_do_not_fit_are_malformed() {
    let (bytes, at) = with_events(|encoder| encoder.spawn(Some(3), None));
    let error = expect_malformed(
        &bytes,
        "thread 1 was spawned by Some(3), which is not a thread",
    );
    assert_eq!(error.offset, at);
    let (bytes, _) = with_events(|encoder| encoder.spawn(None, Some("second main")));
    expect_malformed(&bytes, "thread 1 was spawned by None");
    let (bytes, _) = with_events(|encoder| {
        encoder.location(LocationDef {
            file: 4,
            line: 1,
            column: 1,
        })
    });
    expect_malformed(&bytes, "a location in file 4, but only 1 files are defined");
    let (bytes, _) = with_events(|encoder| encoder.timeout(3));
    expect_malformed(&bytes, "a timeout of thread 3, but only 1 threads exist");
}

#[test]
fn chunks_out_of_sequence_are_rejected() {
    // Three chunks of one step each.
    let mut encoder = ChunkEncoder::new();
    base_events(&mut encoder);
    encoder.seal();
    let first = encoder.sealed().to_vec();
    encoder.clear_sealed();
    encoder.step(0, OpKind::Yield, None, 0);
    encoder.seal();
    let second = encoder.sealed().to_vec();
    encoder.clear_sealed();
    encoder.step(0, OpKind::Yield, None, 0);
    encoder.outcome(&ok_outcome(3));
    encoder.seal();
    let third = encoder.sealed().to_vec();
    let prologue = encode_prologue(&header());
    let join = |chunks: &[&Vec<u8>]| {
        let mut bytes = prologue.clone();
        for chunk in chunks {
            bytes.extend_from_slice(chunk);
        }
        bytes
    };
    assert_eq!(decode(&join(&[&first, &second, &third])).unwrap().steps, 3);
    for (chunks, expected, found) in [
        (vec![&first, &third], 1, 2),
        (vec![&first, &first], 1, 0),
        (vec![&second, &first], 0, 1),
        (vec![&first, &second, &second], 2, 1),
    ] {
        let bytes = join(&chunks);
        let error = decode(&bytes).unwrap_err();
        assert_eq!(
            error.kind,
            ErrorKind::OutOfSequence { expected, found },
            "{chunks:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "chunk at byte {} has sequence number {found} where {expected} was expected: \
                 chunks are missing or out of order",
                error.offset
            )
        );
        assert_eq!(decode_prefix(&bytes).unwrap_err(), error);
    }
    // A chunk in sequence whose first step does not follow the steps before it.
    let mut bytes = base_trace();
    bytes.extend(framed(&[b'E', 1, 7, 0x03, 0, 0, 0]));
    expect_malformed(
        &bytes,
        "the chunk says it starts at step 7, but 1 steps came before it",
    );
}

#[test]
fn a_bad_header_or_frame_is_named() {
    let preamble = || {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes
    };
    // The first chunk is an event chunk.
    let mut bytes = preamble();
    bytes.extend(framed(&[b'E', 0, 1]));
    let error = decode(&bytes).unwrap_err();
    assert_eq!(
        (error.kind.clone(), error.offset),
        (ErrorKind::MissingHeader, 10)
    );
    assert_eq!(
        error.to_string(),
        "the first chunk (at byte 10) is not a header"
    );
    // An empty first chunk.
    let mut bytes = preamble();
    bytes.extend(framed(&[]));
    assert_eq!(decode(&bytes).unwrap_err().kind, ErrorKind::MissingHeader);
    // A header that does not decode, or has bytes left over.
    let mut bytes = preamble();
    bytes.extend(framed(b"H\x05ab"));
    assert!(matches!(
        decode(&bytes).unwrap_err().kind,
        ErrorKind::BadHeader(_)
    ));
    let mut payload = vec![b'H'];
    payload.extend(postcard::to_allocvec(&header()).unwrap());
    payload.push(0);
    let mut bytes = preamble();
    bytes.extend(framed(&payload));
    let error = decode(&bytes).unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::BadHeader("1 bytes left over".to_owned())
    );
    assert_eq!(
        error.to_string(),
        "the header at byte 10 does not decode: 1 bytes left over"
    );
    // A chunk longer than the limit, before its bytes are even there.
    let mut bytes = base_trace();
    let at = bytes.len();
    bytes.extend_from_slice(&(MAX_CHUNK_BYTES as u32 + 1).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let error = decode(&bytes).unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::ChunkTooLarge {
            length: MAX_CHUNK_BYTES as u64 + 1
        }
    );
    assert_eq!((error.offset, error.chunk), (at as u64, Some(1)));
    assert_eq!(
        error.to_string(),
        format!(
            "chunk in chunk 1 at byte {at} claims {} bytes, above the limit of \
             {MAX_CHUNK_BYTES}: the trace is damaged",
            MAX_CHUNK_BYTES + 1
        )
    );
    // A chunk at the limit is read (and here, found damaged by its checksum).
    let mut bytes = base_trace();
    let mut payload = vec![0u8; MAX_CHUNK_BYTES];
    payload[0] = b'E';
    bytes.extend_from_slice(&(MAX_CHUNK_BYTES as u32).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&payload);
    assert!(matches!(
        decode(&bytes).unwrap_err().kind,
        ErrorKind::BadChecksum { .. }
    ));
}

// ---------------------------------------------------------------------------------------
// Definitions chunks
// ---------------------------------------------------------------------------------------

/// A trace whose files and locations are in a definitions chunk after the header, as a
/// recording kept in memory is written.
fn definitions_trace() -> Vec<u8> {
    let mut bytes = encode_prologue(&header());
    bytes.extend(reel_trace::encode_definitions(
        &["src/main.rs", "src/lib.rs"],
        &[
            LocationDef {
                file: 1,
                line: 3,
                column: 9,
            },
            LocationDef {
                file: 0,
                line: 200,
                column: 1,
            },
        ],
    ));
    let mut encoder = ChunkEncoder::new();
    encoder.spawn(None, Some("main"));
    encoder.object(ObjectKind::Channel);
    encoder.step(0, OpKind::Send, Some(0), 1);
    encoder.step(0, OpKind::Recv, Some(0), 0);
    encoder.outcome(&ok_outcome(2));
    encoder.seal();
    bytes.extend_from_slice(encoder.sealed());
    bytes
}

#[test]
fn definitions_chunks_define_files_and_locations() {
    let bytes = definitions_trace();
    let trace = decode(&bytes).unwrap();
    assert_eq!(trace.files, ["src/main.rs", "src/lib.rs"]);
    assert_eq!(trace.location(0), ("src/lib.rs", 3, 9));
    assert_eq!(trace.location(1), ("src/main.rs", 200, 1));
    assert_eq!(trace.steps, 2);
    // The chunk: 'D', then the same events an event chunk would hold, and no prefix.
    let second = chunks(&bytes)[1];
    let payload = &bytes[second.payload_at()..second.end()];
    let mut expected = vec![b'D', 0x82];
    expected.extend(
        postcard::to_allocvec(&FileDef {
            path: "src/main.rs".to_owned(),
        })
        .unwrap(),
    );
    assert_eq!(payload[..expected.len()], expected);
    // Nothing to define: no chunk.
    assert_eq!(reel_trace::encode_definitions(&[], &[]), []);
    // Many definitions take several chunks, each below the target size.
    let names: Vec<String> = (0..3_000)
        .map(|index| format!("src/file{index}.rs"))
        .collect();
    let files: Vec<&str> = names.iter().map(String::as_str).collect();
    let locations: Vec<LocationDef> = (0..3_000)
        .map(|index| LocationDef {
            file: index,
            line: index,
            column: 1,
        })
        .collect();
    let mut bytes = encode_prologue(&header());
    bytes.extend(reel_trace::encode_definitions(&files, &locations));
    let chunks_of_definitions = chunks(&bytes).len() - 1;
    assert!(chunks_of_definitions > 3, "{chunks_of_definitions}");
    assert!(
        chunks(&bytes)
            .iter()
            .all(|chunk| chunk.len <= CHUNK_TARGET_BYTES)
    );
    let trace = decode_prefix(&bytes).unwrap();
    assert_eq!(trace.files, names);
    assert_eq!(trace.locations, locations);
}

#[test]
fn definitions_chunks_hold_only_definitions_that_fit() {
    let definitions = |payload: &[u8]| {
        let mut bytes = encode_prologue(&header());
        let at = bytes.len() + FRAME_BYTES;
        bytes.extend(framed(payload));
        (bytes, at as u64)
    };
    let (bytes, at) = definitions(&[b'D', 0x82, 0x00, 0x03, 0x00, 0x00, 0x00]);
    let error = expect_malformed(&bytes, "event kind 0x03 in a definitions chunk");
    assert_eq!(error.offset, at + 3);
    let (bytes, at) = definitions(&[b'D', 0x83, 0x00, 0x01, 0x01]);
    let error = expect_malformed(&bytes, "a location in file 0, but only 0 files are defined");
    assert_eq!(error.offset, at + 1);
    let (bytes, _) = definitions(&[b'D', 0x82, 0x05, b'a']);
    expect_malformed(&bytes, "a file does not decode");
    let (bytes, _) = definitions(&[b'D', 0x90]);
    expect_malformed(&bytes, "event kind 0x90 in a definitions chunk");
}

// ---------------------------------------------------------------------------------------
// Files and the signal handler's view of the open chunk
// ---------------------------------------------------------------------------------------

#[test]
fn files_are_read_and_errors_name_them() {
    let dir = std::env::temp_dir().join(format!("reel-trace-codec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let built = small_trace();
    let whole = dir.join("whole.reel");
    std::fs::write(&whole, &built.bytes).unwrap();
    assert_decodes_to(&reel_trace::read_file(&whole).unwrap(), &built);
    let cut = dir.join("cut.reel");
    std::fs::write(&cut, &built.bytes[..built.bytes.len() - 3]).unwrap();
    let error = reel_trace::read_file(&cut).unwrap_err();
    let name = cut.display().to_string();
    assert_eq!(error.path.as_deref(), Some(&*name));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{name}: truncated at byte"))
    );
    let trace = reel_trace::read_file_prefix(&cut).unwrap();
    assert_eq!(trace.steps, 7);
    let missing = dir.join("missing.reel");
    let error = reel_trace::read_file(&missing).unwrap_err();
    assert!(matches!(error.kind, ErrorKind::Io(_)));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot read the trace", missing.display()))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a fatal-signal handler would write: the sealed chunks, then the open one up to its
/// last complete event.
fn crash_dump(prologue: &[u8], encoder: &ChunkEncoder) -> Vec<u8> {
    let mut bytes = prologue.to_vec();
    bytes.extend_from_slice(encoder.sealed());
    // SAFETY: `encoder` is a live encoder borrowed for the whole call, and its owner (this
    // thread) does not touch it while the result is in use.
    if let Some((frame, payload)) = unsafe { ChunkEncoder::committed_chunk(encoder) } {
        bytes.extend_from_slice(&frame);
        bytes.extend_from_slice(payload);
    }
    bytes
}

#[test]
fn the_committed_chunk_is_the_open_chunk_up_to_its_last_event() {
    let prologue = encode_prologue(&header());
    let mut encoder = ChunkEncoder::new();
    // SAFETY: as in `crash_dump`.
    assert!(unsafe { ChunkEncoder::committed_chunk(&encoder) }.is_none());

    base_events(&mut encoder);
    encoder.step(0, OpKind::Lock, Some(0), 0);
    let bytes = crash_dump(&prologue, &encoder);
    // SAFETY: as in `crash_dump`.
    let (frame, payload) = unsafe { ChunkEncoder::committed_chunk(&encoder) }.unwrap();
    let (frame, payload) = (frame, payload.to_vec());
    let trace = decode_prefix(&bytes).unwrap();
    assert_eq!(trace.steps, 2);
    assert_eq!(trace.events.len(), 4);
    assert_eq!(trace.cut.unwrap().kind, ErrorKind::Truncated { missing: 0 });

    // It is what sealing the chunk would give.
    let mut sealed_now = encoder_clone_by_replay(|encoder| {
        base_events(encoder);
        encoder.step(0, OpKind::Lock, Some(0), 0);
    });
    sealed_now.seal();
    assert_eq!(sealed_now.sealed(), [&frame[..], &payload].concat());

    // After sealed chunks, the open one continues them; with the outcome it is complete.
    while !encoder.has_sealed() {
        encoder.step(0, OpKind::AtomicLoad, Some(0), 0);
    }
    encoder.step(0, OpKind::Unlock, Some(0), 0);
    let dump = crash_dump(&prologue, &encoder);
    let trace = decode_prefix(&dump).unwrap();
    assert_eq!(trace.steps, encoder.steps());
    assert!(trace.cut.is_some());
    encoder.outcome(&ok_outcome(encoder.steps()));
    let dump = crash_dump(&prologue, &encoder);
    let trace = decode(&dump).unwrap();
    assert_eq!(trace.steps, encoder.steps());
    assert_eq!(trace.outcome, Some(ok_outcome(encoder.steps())));
    encoder.seal();
    let mut written = prologue.clone();
    written.extend_from_slice(encoder.sealed());
    assert_eq!(
        written, dump,
        "the dump is the trace the recorder would have written"
    );
    // Nothing is open once sealed.
    // SAFETY: as in `crash_dump`.
    assert!(unsafe { ChunkEncoder::committed_chunk(&encoder) }.is_none());
}

/// A new encoder that was given the same events.
fn encoder_clone_by_replay(write: impl FnOnce(&mut ChunkEncoder)) -> ChunkEncoder {
    let mut encoder = ChunkEncoder::new();
    write(&mut encoder);
    encoder
}

// ---------------------------------------------------------------------------------------
// Fuzzing seeds
// ---------------------------------------------------------------------------------------

/// Writes the fuzzer's seed traces into fuzz/seeds/decode when REEL_WRITE_FUZZ_SEEDS=1.
#[test]
fn write_fuzz_seeds() {
    if std::env::var_os("REEL_WRITE_FUZZ_SEEDS").is_none_or(|value| value != "1") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/decode");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("small.reel"), small_trace().bytes).unwrap();
    let built = random_trace(1, 150, 140);
    assert!(built.bytes.len() < 4096, "{} bytes", built.bytes.len());
    std::fs::write(dir.join("random.reel"), &built.bytes).unwrap();
    std::fs::write(dir.join("definitions.reel"), definitions_trace()).unwrap();
}

// ---------------------------------------------------------------------------------------
// Signal arrivals (tag 0x90)
// ---------------------------------------------------------------------------------------

fn sigterm_after(step: u64) -> SignalArrival {
    SignalArrival {
        signal: 15,
        code: 0,
        sender: 4321,
        step,
    }
}

// Inputs: clock readings and the random seed
// ---------------------------------------------------------------------------------------

fn monotonic(nanos: i64) -> ClockReading {
    ClockReading {
        source: ClockSource::Monotonic,
        nanos,
    }
}

#[test]
fn signal_arrivals_round_trip_in_place() {
    let (bytes, _) = with_events(|encoder| {
        encoder.signal(&sigterm_after(1));
        encoder.step(0, OpKind::SignalPoll, Some(0), 0);
        encoder.signal(&SignalArrival {
            signal: 64,
            code: -6,
            sender: 0,
            step: 2,
        });
        encoder.step(0, OpKind::BlockSignal, Some(0), 0);
        encoder.outcome(&ok_outcome(3));
    });
    let trace = decode(&bytes).unwrap();
    let arrivals: Vec<SignalArrival> = trace.signal_arrivals().copied().collect();
    assert_eq!(arrivals[0], sigterm_after(1));
    assert_eq!(
        (arrivals[1].signal, arrivals[1].code, arrivals[1].step),
        (64, -6, 2)
    );
    // Each in its place: after the step it follows, before the next.
    let kinds: Vec<&str> = trace
        .events
        .iter()
        .map(|event| match event {
            Event::Step(_) => "step",
            Event::Signal(_) => "signal",
            _ => "other",
        })
        .filter(|kind| *kind != "other")
        .collect();
    assert_eq!(kinds, ["step", "signal", "step", "signal", "step"]);
    // The body is postcard: signal, si_code (zigzag), sender, step.
    let (bytes, _) = with_chunk(&[0x90, 15, 0x0b, 0xe1, 0x21, 1]);
    let trace = decode_prefix(&bytes).unwrap();
    assert_eq!(
        trace.signal_arrivals().next(),
        Some(&SignalArrival {
            signal: 15,
            code: -6,
            sender: 4321,
            step: 1
        })
    );
    assert_eq!(
        arrivals[0].to_string(),
        "SIGTERM (SI_USER from pid 4321) after step 1"
    );
}

#[test]
fn clock_readings_and_the_seed_round_trip_after_their_steps() {
    let system = ClockReading {
        source: ClockSource::System,
        nanos: -1_500_000_000,
    };
    let (bytes, at) = with_events(|encoder| {
        encoder.step(0, OpKind::ClockRead, None, 0);
        encoder.clock_read(monotonic(86_400_000_000_000));
        encoder.step(0, OpKind::ClockRead, None, 0);
        encoder.clock_read(system);
        encoder.step(0, OpKind::RandomSeed, None, 0);
        encoder.random_seed(u64::MAX);
        encoder.outcome(&ok_outcome(4));
    });
    let trace = decode(&bytes).unwrap();
    let inputs: Vec<&Event> = trace
        .events
        .iter()
        .filter(|event| matches!(event, Event::ClockRead(_) | Event::RandomSeed { .. }))
        .collect();
    assert_eq!(
        inputs,
        [
            &Event::ClockRead(monotonic(86_400_000_000_000)),
            &Event::ClockRead(system),
            &Event::RandomSeed { seed: u64::MAX },
        ]
    );
    // The wire form: the tag, then postcard (a clock's index, a zigzag varint; a varint).
    let (bytes, _) = with_chunk(&[0x1c, 0, 0, 0, 0x92, 1, 3]);
    let trace = decode_prefix(&bytes).unwrap();
    assert_eq!(
        trace.events.last(),
        Some(&Event::ClockRead(ClockReading {
            source: ClockSource::System,
            nanos: -2,
        }))
    );
    assert!(at > 0);
    assert_eq!(
        system.to_string(),
        "system clock -1.500000000 s",
        "how reel show prints it"
    );
}

#[test]
fn damaged_signal_arrivals_are_malformed_events() {
    // Not a signal number.
    for signal in [0u8, 65, 127] {
        let (bytes, at) = with_chunk(&[0x90, signal, 0, 0, 1]);
        let error = expect_malformed(&bytes, "which is not a signal number (1 to 64)");
        assert_eq!((error.offset, error.chunk), (at, Some(1)));
    }
    // A step other than the one it follows.
    let (bytes, at) = with_chunk(&[0x90, 15, 0, 0, 5]);
    let error = expect_malformed(
        &bytes,
        "a signal arrival after step 5, but it follows step 1",
    );
    assert_eq!((error.offset, error.chunk), (at, Some(1)));
    // A body cut short inside its chunk.
    let (bytes, _) = with_chunk(&[0x90, 15, 0]);
    expect_malformed(&bytes, "signal arrival");
    // A varint that runs past 32 bits.
    let (bytes, _) = with_chunk(&[0x90, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 1]);
    expect_malformed(&bytes, "signal arrival");
}

#[test]
fn signals_are_named_both_ways() {
    assert_eq!(signal_name(15), "SIGTERM");
    assert_eq!(signal_name(34), "SIGRTMIN+0");
    assert_eq!(signal_name(99), "SIG99");
    for name in ["SIGTERM", "TERM", "term", "15"] {
        assert_eq!(signal_number(name), Some(15), "{name}");
    }
    assert_eq!(signal_number("SIGRTMIN+2"), Some(36));
    assert_eq!(signal_number("NOPE"), None);
    assert_eq!(signal_number("0"), None);
    assert_eq!(signal_number("65"), None);
}

#[test]
fn damaged_clock_and_seed_events_are_malformed() {
    // A reading that follows no clock-read step.
    let (bytes, at) = with_events(|encoder| encoder.clock_read(monotonic(5)));
    let error = expect_malformed(&bytes, "follows no clock-read step");
    assert_eq!(error.offset, at);
    // A clock-read step followed by something else than its reading.
    let (bytes, _) = with_events(|encoder| {
        encoder.step(0, OpKind::ClockRead, None, 0);
        encoder.step(0, OpKind::Yield, None, 0);
    });
    expect_malformed(&bytes, "clock read step is followed by event kind 0x43");
    // The monotonic clock going backwards, or below its start.
    let (bytes, _) = with_events(|encoder| {
        for nanos in [10, 9] {
            encoder.step(0, OpKind::ClockRead, None, 0);
            encoder.clock_read(monotonic(nanos));
        }
    });
    expect_malformed(&bytes, "reads 9 ns after 10 ns: it cannot go backwards");
    let (bytes, _) = with_events(|encoder| {
        encoder.step(0, OpKind::ClockRead, None, 0);
        encoder.clock_read(monotonic(-1));
    });
    expect_malformed(&bytes, "below the clock's start");
    // A seed without its step, a second seed, a seed step without its seed.
    let (bytes, _) = with_events(|encoder| encoder.random_seed(7));
    expect_malformed(&bytes, "follows no random-seed step");
    let (bytes, _) = with_events(|encoder| {
        for seed in [1, 2] {
            encoder.step(0, OpKind::RandomSeed, None, 0);
            encoder.random_seed(seed);
        }
    });
    expect_malformed(&bytes, "a second random seed");
    let (bytes, _) = with_events(|encoder| {
        encoder.step(0, OpKind::RandomSeed, None, 0);
        encoder.outcome(&ok_outcome(2));
    });
    expect_malformed(&bytes, "random seed step is followed by event kind 0x85");
    // Bodies that do not decode: an unknown clock, a varint cut by the chunk's end.
    let (bytes, _) = with_chunk(&[0x1c, 0, 0, 0, 0x92, 7, 0]);
    expect_malformed(&bytes, "a clock reading does not decode");
    let (bytes, _) = with_chunk(&[0x1d, 0, 0, 0, 0x93, 0xff]);
    expect_malformed(&bytes, "a random seed does not decode");
}

fn io_done(asked: u64, written: Option<u64>, result: IoResult) -> IoEvent {
    IoEvent::Done(IoDone {
        asked,
        written,
        target: written.map(|hash| hash.rotate_left(7)),
        result,
    })
}

#[test]
fn io_events_round_trip_after_their_step_and_at_decisions() {
    let from: std::net::SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let results = [
        IoResult::Done,
        IoResult::Count(5),
        IoResult::Bytes(b"hello".to_vec()),
        IoResult::BytesFrom {
            bytes: vec![0; reel_trace::MAX_IO_BYTES],
            from,
        },
        IoResult::Addr("[::1]:80".parse().unwrap()),
        IoResult::Addrs(vec![from; reel_trace::MAX_IO_ADDRS]),
        IoResult::Value(vec![1, 2, 3]),
        IoResult::Error {
            errno: 111,
            message: String::new(),
        },
        IoResult::Error {
            errno: 0,
            message: "no such host".to_owned(),
        },
        IoResult::WouldBlock,
    ];
    let (bytes, _) = with_events(|encoder| {
        for (index, result) in results.iter().enumerate() {
            encoder.step(0, OpKind::IoRead, None, 0);
            encoder.io(&io_done(index as u64, Some(7), result.clone()));
        }
        encoder.io(&IoEvent::Ready { thread: 0 });
        encoder.outcome(&ok_outcome(1 + results.len() as u64));
    });
    let trace = decode(&bytes).unwrap();
    let decoded: Vec<IoEvent> = trace
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Io(io) => Some((**io).clone()),
            _ => None,
        })
        .collect();
    let mut expected: Vec<IoEvent> = results
        .iter()
        .enumerate()
        .map(|(index, result)| io_done(index as u64, Some(7), result.clone()))
        .collect();
    expected.push(IoEvent::Ready { thread: 0 });
    assert_eq!(decoded, expected);
    // The encoder writes postcard's bytes: the tag, then the body.
    let mut encoder = ChunkEncoder::new();
    let event = io_done(3, None, IoResult::Count(3));
    encoder.io(&event);
    encoder.seal();
    let payload = &encoder.sealed()[FRAME_BYTES..];
    assert_eq!(payload[3], 0x94);
    assert_eq!(payload[4..], postcard::to_allocvec(&event).unwrap());
}

#[test]
fn damaged_io_events_are_malformed() {
    // A result that follows no I/O step.
    let (bytes, at) = with_events(|encoder| encoder.io(&io_done(1, None, IoResult::Done)));
    let error = expect_malformed(&bytes, "an I/O result that follows no I/O step");
    assert_eq!(error.offset, at);
    // An I/O step followed by something else than its result.
    let (bytes, _) = with_events(|encoder| {
        encoder.step(0, OpKind::IoWrite, None, 0);
        encoder.step(0, OpKind::Yield, None, 0);
    });
    expect_malformed(&bytes, "I/O write step is followed by event kind 0x43");
    // The end of a wait of a thread that does not exist.
    let (bytes, _) = with_events(|encoder| encoder.io(&IoEvent::Ready { thread: 9 }));
    expect_malformed(&bytes, "the end of an I/O wait of thread 9");
    // Bodies that do not decode: an unknown variant, an unknown result, a cut length.
    let (bytes, _) = with_chunk(&[0x33, 0, 0, 0, 0x94, 7]);
    expect_malformed(&bytes, "an I/O event does not decode");
    let (bytes, _) = with_chunk(&[0x33, 0, 0, 0, 0x94, 0, 5, 0, 42]);
    expect_malformed(&bytes, "an I/O event does not decode");
    let (bytes, _) = with_chunk(&[0x33, 0, 0, 0, 0x94, 0, 5, 0, 0, 2, 0xff, 0xff, 0x03, 1]);
    expect_malformed(&bytes, "an I/O event does not decode");
    // A target hash cut short.
    let (bytes, _) = with_chunk(&[0x33, 0, 0, 0, 0x94, 0, 5, 0, 1, 0xff]);
    expect_malformed(&bytes, "an I/O event does not decode");
    // Contents above the limits: a reader refuses them by length (a datagram's bytes up to
    // 64 KiB, a value up to 8 KiB).
    for (variant, length, limit) in [
        (2, reel_trace::MAX_DATAGRAM_BYTES + 1, "65536"),
        (6, reel_trace::MAX_IO_BYTES + 1, "8192"),
    ] {
        let mut body = vec![0x33, 0, 0, 0, 0x94, 0, 0, 0, 0, variant];
        let mut rest = length;
        while rest >= 0x80 {
            body.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        body.push(rest as u8);
        body.extend(vec![0; length]);
        let (bytes, _) = with_chunk(&body);
        expect_malformed(&bytes, &format!("above the limit of {limit}"));
    }
    // A datagram at the limit reads.
    let (bytes, _) = with_events(|encoder| {
        encoder.step(0, OpKind::IoRead, None, 0);
        encoder.io(&io_done(
            1 << 16,
            None,
            IoResult::Bytes(vec![7; reel_trace::MAX_DATAGRAM_BYTES]),
        ));
    });
    decode_prefix(&bytes).unwrap();
    // The end of a wait where the step's result must be.
    let (bytes, at) = with_events(|encoder| {
        encoder.step(0, OpKind::IoRead, None, 0);
        encoder.io(&IoEvent::Ready { thread: 0 });
    });
    let error = expect_malformed(&bytes, "the end of an I/O wait right after an I/O step");
    assert!(error.offset > at, "{error}");
}

#[test]
fn preemptions_and_stalls_round_trip() {
    let stall = Stall {
        thread: 0,
        duration_micros: 812_345,
        syscall: Some("fsync".to_owned()),
        location: Some(SourceLocation {
            file: "src/log.rs".to_owned(),
            line: 31,
            column: 9,
        }),
        ready: 5,
    };
    let (bytes, _) = with_events(|encoder| {
        encoder.preemption(0);
        encoder.stall(&stall);
        encoder.stall(&Stall {
            syscall: None,
            location: None,
            ..stall.clone()
        });
    });
    // No outcome: a recording cut short, read as far as it goes.
    let trace = decode_prefix(&bytes).unwrap();
    let tail: Vec<&Event> = trace.events.iter().rev().take(3).collect();
    assert_eq!(
        tail[2],
        &Event::Preemption { thread: 0 },
        "{:?}",
        trace.events
    );
    assert_eq!(tail[1], &Event::Stall(Box::new(stall.clone())));
    assert!(matches!(tail[0], Event::Stall(computing) if computing.syscall.is_none()));
}

#[test]
fn preemptions_and_stalls_of_threads_that_do_not_exist_are_malformed() {
    let (bytes, _) = with_events(|encoder| encoder.preemption(7));
    expect_malformed(&bytes, "a preemption of thread 7, but only 1 threads exist");
    let (bytes, _) = with_events(|encoder| {
        encoder.stall(&Stall {
            thread: 3,
            duration_micros: 1,
            syscall: None,
            location: None,
            ready: 0,
        })
    });
    expect_malformed(&bytes, "a stall of thread 3, but only 1 threads exist");
}
