//! `reel show`: a trace's events, one line each (or one JSON object each).
//!
//! It also holds what the other inspecting subcommands share: the events with the step each
//! one is placed at ([`items`]), their text columns ([`Line`]) and JSON form ([`json`]),
//! the thread selector ([`select_threads`]), and writing to standard output
//! ([`write_stdout`]).

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use reel_trace::{
    ClockReading, Event, IoEvent, ObjectKind, Outcome, SignalArrival, Spawn, Stall, Step, Trace,
};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// `reel show TRACE [--from N] [--to M] [--thread T] [--json]`
///
/// Steps are numbered from 1. An event that is not a step (a thread or object coming to
/// be, a timeout firing, the outcome) is placed at the step it follows (0 for the events
/// before the first step). It is shown where it comes in the trace, between two steps, and
/// when `--from`/`--to` select either of them.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    /// The first step to show (inclusive).
    #[arg(long, value_name = "N")]
    pub(crate) from: Option<u64>,
    /// The last step to show (inclusive).
    #[arg(long, value_name = "M")]
    pub(crate) to: Option<u64>,
    /// Only this thread's events (its id, `T3`, or its name).
    #[arg(long, value_name = "T")]
    pub(crate) thread: Option<String>,
    /// One JSON object per line (JSON Lines), without the header line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `reel show`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        bail!("--from {from} is after --to {to}: nothing to show");
    }
    let trace = crate::load::trace(&args.trace)?;
    let threads = match &args.thread {
        Some(spec) => Some(select_threads(&trace, spec)?),
        None => None,
    };
    let from = args.from.unwrap_or(0);
    let to = args.to.unwrap_or(u64::MAX);
    let shown: Vec<Item<'_>> = items(&trace)
        .into_iter()
        .filter(|item| match item {
            Item::Step { number, .. } => (from..=to).contains(number),
            // An event between steps s and s + 1 belongs to both.
            _ => from <= item.step().saturating_add(1) && item.step() <= to,
        })
        .filter(|item| match (&threads, item) {
            (None, _) | (Some(_), Item::Outcome { .. }) => true,
            (Some(threads), item) => item.thread().is_some_and(|t| threads.contains(&t)),
        })
        .collect();
    write_stdout(|out| {
        if args.json {
            for item in &shown {
                writeln!(out, "{}", json(&trace, item))?;
            }
            return Ok(());
        }
        writeln!(out, "{}", header_line(&trace))?;
        let lines: Vec<Line> = shown.iter().map(|item| Line::of(&trace, item)).collect();
        write_aligned(out, "", &lines)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// One event of a trace with the step it is placed at.
pub(crate) enum Item<'a> {
    /// Step `number` (from 1).
    Step {
        /// Its number.
        number: u64,
        /// The step.
        step: &'a Step,
    },
    /// Thread `thread` came to be, after step `after`.
    Spawn {
        /// The step it follows (0 before the first).
        after: u64,
        /// The new thread's id.
        thread: u32,
        /// Its parent and name.
        spawn: &'a Spawn,
    },
    /// Object `id` came to be, after step `after`.
    Object {
        /// The step it follows (0 before the first).
        after: u64,
        /// The object's id.
        id: u32,
        /// Its kind.
        kind: ObjectKind,
        /// The thread of the first step on it, if any.
        by: Option<u32>,
    },
    /// A timed wait of `thread` ran out, after step `after`.
    Timeout {
        /// The step it follows (0 before the first).
        after: u64,
        /// The thread whose timeout fired.
        thread: u32,
    },
    /// A signal arrived, after step `arrival.step`.
    Signal {
        /// What arrived, from whom, and when.
        arrival: &'a SignalArrival,
    },
    /// A value the program asked for at step `after` (its clock read or random-seed step).
    Input {
        /// The step it follows, the one that asked for it.
        after: u64,
        /// The thread of that step.
        thread: u32,
        /// The value.
        value: InputValue,
    },
    /// An I/O event: the result of the I/O step `after` (of `thread`), or the end of
    /// `thread`'s wait for I/O at the decision after step `after`.
    Io {
        /// The step it follows.
        after: u64,
        /// The thread of that step, or the thread whose wait ended.
        thread: u32,
        /// The event.
        io: &'a IoEvent,
    },
    /// The time slice of `thread` ran out, after step `after`: it was preempted.
    Preemption {
        /// The step it follows.
        after: u64,
        /// The thread preempted.
        thread: u32,
    },
    /// The watchdog saw `stall`, which ended at step `after`.
    Stall {
        /// The step it follows.
        after: u64,
        /// What the watchdog saw.
        stall: &'a Stall,
    },
    /// The run ended, after step `after`.
    Outcome {
        /// The step it follows (the trace's last).
        after: u64,
        /// How it ended.
        outcome: &'a Outcome,
    },
}

impl Item<'_> {
    /// The step the event is placed at: a step's own number, or the step another event
    /// follows.
    pub(crate) fn step(&self) -> u64 {
        match self {
            Item::Step { number, .. } => *number,
            Item::Spawn { after, .. }
            | Item::Object { after, .. }
            | Item::Timeout { after, .. }
            | Item::Input { after, .. }
            | Item::Io { after, .. }
            | Item::Preemption { after, .. }
            | Item::Stall { after, .. }
            | Item::Outcome { after, .. } => *after,
            Item::Signal { arrival } => arrival.step,
        }
    }

    /// The thread the event belongs to: a step's thread, the new thread of a spawn, the
    /// thread of the first step on an object, the thread whose timeout fired, the thread an
    /// outcome is blamed on.
    pub(crate) fn thread(&self) -> Option<u32> {
        match self {
            Item::Step { step, .. } => Some(step.thread),
            Item::Spawn { thread, .. }
            | Item::Timeout { thread, .. }
            | Item::Input { thread, .. }
            | Item::Io { thread, .. } => Some(*thread),
            Item::Preemption { thread, .. } => Some(*thread),
            Item::Stall { stall, .. } => Some(stall.thread),
            Item::Object { by, .. } => *by,
            Item::Outcome { outcome, .. } => outcome.thread,
            Item::Signal { .. } => None,
        }
    }
}

/// A trace's events in order, each with the step it is placed at.
pub(crate) fn items(trace: &Trace) -> Vec<Item<'_>> {
    let mut items = Vec::with_capacity(trace.events.len());
    // An object appears when a thread first asks for it, which is not always the thread of
    // the step before or after: it belongs to the thread of the first step on it.
    let mut first_user: Vec<Option<u32>> = vec![None; trace.objects.len()];
    for step in trace.step_events() {
        if let Some(object) = step.object
            && !step.op.object_is_thread()
            && let Some(user @ None) = first_user.get_mut(object as usize)
        {
            *user = Some(step.thread);
        }
    }
    let mut steps = 0u64;
    let mut threads = 0u32;
    let mut objects = 0u32;
    let mut last_thread = 0u32;
    for event in &trace.events {
        items.push(match event {
            Event::Step(step) => {
                steps += 1;
                last_thread = step.thread;
                Item::Step {
                    number: steps,
                    step,
                }
            }
            Event::Spawn(spawn) => {
                threads = threads.saturating_add(1);
                Item::Spawn {
                    after: steps,
                    thread: threads - 1,
                    spawn,
                }
            }
            Event::Object(kind) => {
                objects = objects.saturating_add(1);
                Item::Object {
                    after: steps,
                    id: objects - 1,
                    kind: *kind,
                    by: first_user.get(objects as usize - 1).copied().flatten(),
                }
            }
            Event::Timeout { thread } => Item::Timeout {
                after: steps,
                thread: *thread,
            },
            Event::Preemption { thread } => Item::Preemption {
                after: steps,
                thread: *thread,
            },
            Event::Stall(stall) => Item::Stall {
                after: steps,
                stall,
            },
            Event::Outcome(outcome) => Item::Outcome {
                after: steps,
                outcome,
            },
            Event::Signal(arrival) => Item::Signal { arrival },
            // The decoder saw that each follows the step that asked for it.
            Event::ClockRead(reading) => Item::Input {
                after: steps,
                thread: last_thread,
                value: InputValue::Clock(*reading),
            },
            Event::RandomSeed { seed } => Item::Input {
                after: steps,
                thread: last_thread,
                value: InputValue::RandomSeed(*seed),
            },
            Event::Io(io) => Item::Io {
                after: steps,
                thread: match **io {
                    IoEvent::Ready { thread } => thread,
                    IoEvent::Done(_) => last_thread,
                },
                io,
            },
        });
    }
    items
}

/// One event as text columns: where it is, whose it is, what happened, and the source
/// location (empty for events that have none).
pub(crate) struct Line {
    /// `#12` for a step; empty for other events.
    pub(crate) step: String,
    /// The thread's name, `T3 'writer'`.
    pub(crate) thread: String,
    /// What happened: `lock Mutex#2`, `new Mutex#2`, ...
    pub(crate) what: String,
    /// `file:line:column`, for steps.
    pub(crate) location: String,
}

impl Line {
    /// The columns of one event.
    pub(crate) fn of(trace: &Trace, item: &Item<'_>) -> Line {
        let thread_name = |thread: Option<u32>| {
            thread
                .map(|thread| trace.thread_name(thread))
                .unwrap_or_default()
        };
        match item {
            Item::Step { number, step } => Line {
                step: format!("#{number}"),
                thread: trace.thread_name(step.thread),
                what: trace.operation(step),
                location: trace.location_text(step.location),
            },
            Item::Spawn { thread, spawn, .. } => Line {
                step: String::new(),
                thread: trace.thread_name(*thread),
                what: match spawn.parent {
                    Some(parent) => format!("starts (spawned by {})", trace.thread_name(parent)),
                    None => "starts (the main thread)".to_owned(),
                },
                location: String::new(),
            },
            Item::Object { id, kind, by, .. } => Line {
                step: String::new(),
                thread: thread_name(*by),
                what: format!("new object {}#{id}", kind.name()),
                location: String::new(),
            },
            Item::Timeout { thread, .. } => Line {
                step: String::new(),
                thread: trace.thread_name(*thread),
                what: "timeout fires (its timed wait ran out)".to_owned(),
                location: String::new(),
            },
            Item::Input { thread, value, .. } => Line {
                step: String::new(),
                thread: trace.thread_name(*thread),
                what: value.to_string(),
                location: String::new(),
            },
            Item::Io { thread, io, .. } => Line {
                step: String::new(),
                thread: trace.thread_name(*thread),
                what: describe_io(io),
                location: String::new(),
            },
            Item::Preemption { thread, .. } => Line {
                step: String::new(),
                thread: trace.thread_name(*thread),
                what: "preempted (its time slice ran out)".to_owned(),
                location: String::new(),
            },
            Item::Stall { stall, .. } => Line {
                step: String::new(),
                thread: trace.thread_name(stall.thread),
                what: stall_text(stall),
                location: stall
                    .location
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            },
            Item::Outcome { outcome, .. } => Line {
                step: String::new(),
                thread: String::new(),
                what: format!("outcome: {}", trace.describe_outcome(outcome)),
                location: String::new(),
            },
            Item::Signal { arrival } => Line {
                step: String::new(),
                thread: String::new(),
                what: format!("signal {}", describe_arrival(arrival)),
                location: String::new(),
            },
        }
    }
}

/// Writes `lines` with aligned columns, each line starting with `prefix`. Lines without a
/// location are not padded after their last column, and do not widen the others.
pub(crate) fn write_aligned(out: &mut dyn Write, prefix: &str, lines: &[Line]) -> io::Result<()> {
    write_labelled(
        out,
        &lines
            .iter()
            .map(|line| (prefix, line))
            .collect::<Vec<(&str, &Line)>>(),
    )
}

/// Writes lines with aligned columns, each after its own label (padded to the longest).
pub(crate) fn write_labelled(out: &mut dyn Write, lines: &[(&str, &Line)]) -> io::Result<()> {
    let width = |text: &str| text.chars().count();
    let label = lines.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
    let step = lines.iter().map(|(_, l)| width(&l.step)).max().unwrap_or(0);
    let thread = lines
        .iter()
        .map(|(_, l)| width(&l.thread))
        .max()
        .unwrap_or(0);
    let what = lines
        .iter()
        .filter(|(_, l)| !l.location.is_empty())
        .map(|(_, l)| width(&l.what))
        .max()
        .unwrap_or(0);
    for (prefix, line) in lines {
        let mut text = format!(
            "{prefix:<label$}{:<step$}  {:<thread$}  ",
            line.step, line.thread
        );
        if line.location.is_empty() {
            text.push_str(&line.what);
        } else {
            text.push_str(&format!("{:<what$}  {}", line.what, line.location));
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// One event as a JSON object: `{"step":..,"event":"step","thread":..,"thread_name":..,
/// "op":..,"object":..,"blocks":..,"location":..}` for a step; `event` is `spawn`, `object`,
/// `timeout`, `signal` or `outcome` for the others, whose `step` is the step they follow.
pub(crate) fn json(trace: &Trace, item: &Item<'_>) -> Ordered {
    match item {
        Item::Step { number, step } => Ordered::new()
            .value("step", number)
            .value("event", "step")
            .value("thread", step.thread)
            .value("thread_name", trace.thread_name(step.thread))
            .value("op", step.op.name())
            .value(
                "object",
                step.object.map(|object| trace.object_name(step.op, object)),
            )
            .value("blocks", step.op.is_block())
            .value("location", trace.location_text(step.location)),
        Item::Spawn {
            after,
            thread,
            spawn,
        } => Ordered::new()
            .value("step", after)
            .value("event", "spawn")
            .value("thread", thread)
            .value("thread_name", trace.thread_name(*thread))
            .value("name", &spawn.name)
            .value("parent", spawn.parent),
        Item::Object {
            after,
            id,
            kind,
            by,
        } => Ordered::new()
            .value("step", after)
            .value("event", "object")
            .value("thread", by)
            .value("thread_name", by.map(|thread| trace.thread_name(thread)))
            .value("object", format!("{}#{id}", kind.name()))
            .value("kind", kind.name()),
        Item::Timeout { after, thread } => Ordered::new()
            .value("step", after)
            .value("event", "timeout")
            .value("thread", thread)
            .value("thread_name", trace.thread_name(*thread)),
        Item::Input {
            after,
            thread,
            value,
        } => {
            let object = Ordered::new()
                .value("step", after)
                .value("event", input_kind(*value))
                .value("thread", thread)
                .value("thread_name", trace.thread_name(*thread));
            match value {
                InputValue::Clock(reading) => object
                    .value("clock", reading.source.name())
                    .value("nanos", reading.nanos),
                InputValue::RandomSeed(seed) => object.value("seed", seed),
            }
        }
        Item::Io { after, thread, io } => {
            let object = Ordered::new()
                .value("step", after)
                .value("thread", thread)
                .value("thread_name", trace.thread_name(*thread));
            match &**io {
                IoEvent::Ready { .. } => object.value("event", "io_ready"),
                IoEvent::Done(done) => object
                    .value("event", "io_result")
                    .value("asked", done.asked)
                    .value("written_hash", done.written)
                    .value("target_hash", done.target)
                    .value("result", done.result.describe())
                    .value("bytes", done.result.data_bytes()),
            }
        }
        Item::Preemption { after, thread } => Ordered::new()
            .value("step", after)
            .value("event", "preemption")
            .value("thread", thread)
            .value("thread_name", trace.thread_name(*thread)),
        Item::Stall { after, stall } => Ordered::new()
            .value("step", after)
            .value("event", "stall")
            .value("thread", stall.thread)
            .value("thread_name", trace.thread_name(stall.thread))
            .value("duration_us", stall.duration_micros)
            .value("syscall", &stall.syscall)
            .value("location", stall.location.as_ref().map(ToString::to_string))
            .value("ready", stall.ready),
        Item::Outcome { after, outcome } => outcome_json(trace, *after, outcome),
        Item::Signal { arrival } => Ordered::new()
            .value("step", arrival.step)
            .value("event", "signal")
            .value("signal", arrival.signal)
            .value("name", arrival.name())
            .value("code", arrival.code)
            .value("code_name", arrival.code_name())
            .value("sender", arrival.sender),
    }
}

/// A signal arrival in words: `SIGTERM arrives (SI_USER from pid 812)`.
pub(crate) fn describe_arrival(arrival: &SignalArrival) -> String {
    let sender = match arrival.sender {
        0 => String::new(),
        pid => format!(" from pid {pid}"),
    };
    format!(
        "{} arrives ({}{sender})",
        arrival.name(),
        arrival.code_name()
    )
}

/// An I/O event in words: `I/O result: 5 bytes (asked 8)`, `I/O wait ends`.
pub(crate) fn describe_io(io: &IoEvent) -> String {
    match io {
        IoEvent::Ready { .. } => "I/O wait ends (ready, or its helper job finished)".to_owned(),
        IoEvent::Done(done) => {
            let written = done
                .written
                .map(|hash| format!(", bytes hashing to {hash:#018x}"))
                .unwrap_or_default();
            let target = done
                .target
                .map(|hash| format!(", to the place hashing to {hash:#018x}"))
                .unwrap_or_default();
            format!(
                "I/O result: {} (asked {}{written}{target})",
                done.result.describe(),
                done.asked
            )
        }
    }
}

/// The `event` name of an input in JSON.
pub(crate) fn input_kind(value: InputValue) -> &'static str {
    match value {
        InputValue::Clock(_) => "clock_read",
        InputValue::RandomSeed(_) => "random_seed",
    }
}

/// A value a program asked for, as a trace records it.
#[derive(Clone, Copy)]
pub(crate) enum InputValue {
    /// A clock's reading.
    Clock(ClockReading),
    /// The run's random seed.
    RandomSeed(u64),
}

impl fmt::Display for InputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputValue::Clock(reading) => write!(f, "reads the {reading}"),
            InputValue::RandomSeed(seed) => write!(f, "draws the random seed {seed:#018x}"),
        }
    }
}

/// What a stall was, in words: `held the kernel thread for 812 ms in fsync(2); 5 ready
/// threads waited`.
pub(crate) fn stall_text(stall: &Stall) -> String {
    let doing = match &stall.syscall {
        Some(syscall) => format!("in {syscall}(2)"),
        None => "computing".to_owned(),
    };
    format!(
        "stall: held the kernel thread for {} ms {doing}; {} ready thread{} waited",
        stall.duration_micros / 1000,
        stall.ready,
        if stall.ready == 1 { "" } else { "s" }
    )
}

/// An outcome as a JSON object (`event` is `outcome`).
pub(crate) fn outcome_json(trace: &Trace, after: u64, outcome: &Outcome) -> Ordered {
    Ordered::new()
        .value("step", after)
        .value("event", "outcome")
        .value("outcome", outcome.kind.name())
        .value("thread", outcome.thread)
        .value(
            "thread_name",
            outcome.thread.map(|thread| trace.thread_name(thread)),
        )
        .value(
            "location",
            outcome
                .location
                .as_ref()
                .map(|location| location.to_string()),
        )
        .value("message", &outcome.message)
        .value("cycle", &outcome.cycle)
        .value("description", trace.describe_outcome(outcome))
}

/// A JSON object that keeps its keys in the order they were added (`serde_json::Value`
/// sorts them), so that every line of `--json` output reads `step`, `event`, ... first.
#[derive(Default)]
pub(crate) struct Ordered(Vec<(String, Field)>);

/// A value of an [`Ordered`] object.
enum Field {
    Value(Value),
    Object(Ordered),
    List(Vec<Ordered>),
}

impl Ordered {
    /// An empty object.
    pub(crate) fn new() -> Ordered {
        Ordered::default()
    }

    /// Adds `key` with a plain value.
    pub(crate) fn value(mut self, key: impl Into<String>, value: impl Serialize) -> Ordered {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.0.push((key.into(), Field::Value(value)));
        self
    }

    /// Adds `key` with an object, or `null`.
    pub(crate) fn object(mut self, key: impl Into<String>, object: Option<Ordered>) -> Ordered {
        let field = match object {
            Some(object) => Field::Object(object),
            None => Field::Value(Value::Null),
        };
        self.0.push((key.into(), field));
        self
    }

    /// Adds `key` with a list of objects.
    pub(crate) fn list(mut self, key: impl Into<String>, list: Vec<Ordered>) -> Ordered {
        self.0.push((key.into(), Field::List(list)));
        self
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, field) in &self.0 {
            match field {
                Field::Value(value) => map.serialize_entry(key, value)?,
                Field::Object(object) => map.serialize_entry(key, object)?,
                Field::List(list) => map.serialize_entry(key, list)?,
            }
        }
        map.end()
    }
}

impl fmt::Display for Ordered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// How the run ended, in a few words: `deadlock at step 42`, or that the trace was cut.
pub(crate) fn outcome_summary(trace: &Trace) -> String {
    match &trace.outcome {
        Some(outcome) => format!("{} at step {}", outcome.kind.name(), outcome.step),
        None => format!("cut short after step {} (no outcome)", trace.steps),
    }
}

/// The program and the run in a few words: `lock_order (tests::x), random, seed 7,
/// iteration 3`.
pub(crate) fn run_summary(trace: &Trace) -> String {
    let program = &trace.header.program;
    let run = &trace.header.run;
    let mut text = program.exe_name.clone();
    if let Some(entry) = &program.entry {
        text.push_str(&format!(" ({entry})"));
    }
    text.push_str(&format!(", {}", run.strategy));
    if let Some(seed) = run.seed {
        text.push_str(&format!(", seed {seed}"));
    }
    if let Some(iteration) = run.iteration {
        text.push_str(&format!(", iteration {iteration}"));
    }
    text
}

/// `reel show`'s first line: the program, the run, the steps and the outcome.
fn header_line(trace: &Trace) -> String {
    format!(
        "{}: {} steps, {}",
        run_summary(trace),
        trace.steps,
        outcome_summary(trace)
    )
}

/// The threads a `--thread` argument names: an id (`3`), `T3`, a thread's full name as
/// reports spell it (`T3 'writer'`), or a name given to `thread::Builder::name` (every
/// thread of that name). Anything else is an error that lists the threads there are.
pub(crate) fn select_threads(trace: &Trace, spec: &str) -> Result<Vec<u32>> {
    let count = trace.threads.len();
    let spec = spec.trim();
    let by_id = spec
        .parse::<u32>()
        .ok()
        .or_else(|| spec.strip_prefix(['T', 't'])?.parse::<u32>().ok());
    let selected: Vec<u32> = match by_id {
        Some(id) if (id as usize) < count => vec![id],
        Some(_) => Vec::new(),
        None => (0..count)
            .filter_map(|index| u32::try_from(index).ok())
            .filter(|&thread| {
                trace
                    .threads
                    .get(thread as usize)
                    .and_then(|spawn| spawn.name.as_deref())
                    == Some(spec)
                    || trace.thread_name(thread) == spec
            })
            .collect(),
    };
    if selected.is_empty() {
        let listed: Vec<String> = (0..count.min(32))
            .filter_map(|index| u32::try_from(index).ok())
            .map(|thread| trace.thread_name(thread))
            .collect();
        let more = if count > listed.len() {
            format!(" and {} more", count - listed.len())
        } else {
            String::new()
        };
        bail!(
            "the trace has no thread {spec:?}; its threads are {}{more} (give an id, T<id> or a name)",
            listed.join(", ")
        );
    }
    Ok(selected)
}

/// Runs `write` on buffered standard output. A closed pipe (`reel show ... | head`) ends
/// the output quietly; any other write error is an error.
pub(crate) fn write_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(anyhow::Error::new(error).context("cannot write to standard output")),
    }
}
