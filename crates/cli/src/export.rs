//! `reel export`: a trace in another tool's format.
//!
//! `--format chrome` writes Chrome trace-event JSON, which Perfetto UI
//! (<https://ui.perfetto.dev>) and `chrome://tracing` open:
//! `{"traceEvents":[...],"displayTimeUnit":"ns","otherData":{...}}`.
//!
//! **The time axis is the step number**: step *n* takes the microsecond [*n*, *n*+1). There
//! is no wall-clock time in a trace, and the order of steps is all that matters.
//!
//! * Every green thread is a track of process 1 (`tid` = thread id + 1), named `T3 'writer'`
//!   and sorted by id.
//! * A slice (`ph: "X"`) covers each maximal run of consecutive steps by one thread: steps
//!   *a* to *b* are the slice at `ts` *a* with `dur` *b* - *a* + 1.
//! * Each step is an instant (`ph: "i"`, thread-scoped) at the start of its microsecond,
//!   named after its operation, with args `{step, op, object, location}`.
//! * A flow (`ph: "s"` then `ph: "f"`, category `wake`) shows what woke a thread: when a
//!   thread's step blocks and it later takes its next step, the flow goes from the latest
//!   step in between by another thread on the same object (an unlock, a notify, a send...)
//!   or, for a join, from the joined thread's last step, or, for a park, from the latest
//!   unpark; to the woken thread's next step. A thread whose timed wait ran out, or whose
//!   sleep ended, gets no flow.
//! * A timeout that fired between steps *n* and *n*+1 is an instant at *n*+1 on the track of
//!   the thread it woke.
//! * The outcome is a global instant at the end of the last step (a trace cut short gets
//!   one saying so).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use reel_trace::{OpKind, Step, Trace};
use serde_json::{Value, json};

use crate::show::{
    InputValue, Item, input_kind, items, outcome_summary, run_summary, write_stdout,
};

/// The formats `reel export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// Chrome trace-event JSON (opens in Perfetto UI and chrome://tracing).
    Chrome,
}

/// `reel export TRACE --format chrome [-o FILE]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub(crate) format: Format,
    /// Where to write it (standard output if not given).
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
}

/// Runs `reel export`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let trace = crate::load::trace(&args.trace)?;
    let document = match args.format {
        Format::Chrome => chrome(&trace, &args.trace.display().to_string()),
    };
    let write = |out: &mut dyn Write| -> io::Result<()> {
        serde_json::to_writer(&mut *out, &document)?;
        writeln!(out)
    };
    match &args.output {
        None => write_stdout(write)?,
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = BufWriter::new(file);
            write(&mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The Perfetto track (`tid`) of a green thread.
fn tid(thread: u32) -> u64 {
    u64::from(thread) + 1
}

/// A blocked thread: the step at which it blocked.
struct Blocked<'a> {
    number: u64,
    step: &'a Step,
}

/// Builds the Chrome trace-event document of `trace` (read from `path`).
fn chrome(trace: &Trace, path: &str) -> Value {
    let mut events = Vec::new();
    events.push(json!({
        "ph": "M", "name": "process_name", "pid": 1, "tid": 0,
        "args": {"name": format!("reel: {}", run_summary(trace))},
    }));
    for (id, _) in trace.threads.iter().enumerate() {
        let thread = u32::try_from(id).unwrap_or(u32::MAX);
        events.push(json!({
            "ph": "M", "name": "thread_name", "pid": 1, "tid": tid(thread),
            "args": {"name": trace.thread_name(thread)},
        }));
        events.push(json!({
            "ph": "M", "name": "thread_sort_index", "pid": 1, "tid": tid(thread),
            "args": {"sort_index": id},
        }));
    }

    // The run being built: its thread, first and last step.
    let mut running: Option<(u32, u64, u64)> = None;
    let slice = |events: &mut Vec<Value>, (thread, first, last): (u32, u64, u64)| {
        let name = if first == last {
            format!("step {first}")
        } else {
            format!("steps {first}-{last}")
        };
        events.push(json!({
            "ph": "X", "name": name, "cat": "run", "pid": 1, "tid": tid(thread),
            "ts": first, "dur": last - first + 1,
            "args": {"thread": trace.thread_name(thread), "first_step": first, "last_step": last},
        }));
    };
    // For wake-ups: the latest step on each object, each thread's latest step, the latest
    // unpark, each blocked thread's block, and the threads whose timeout fired.
    let mut last_on_object: HashMap<u32, (u32, u64)> = HashMap::new();
    let mut last_of_thread: HashMap<u32, u64> = HashMap::new();
    let mut last_unpark: Option<(u32, u64)> = None;
    let mut blocked: HashMap<u32, Blocked<'_>> = HashMap::new();
    let mut timed_out: Vec<u32> = Vec::new();
    let mut flows = 0u64;

    for item in items(trace) {
        match item {
            Item::Step { number, step } => {
                match &mut running {
                    Some((thread, _, last)) if *thread == step.thread => *last = number,
                    _ => {
                        if let Some(run) = running.take() {
                            slice(&mut events, run);
                        }
                        running = Some((step.thread, number, number));
                    }
                }
                if let Some(block) = blocked.remove(&step.thread) {
                    let woken_by_time =
                        timed_out.contains(&step.thread) || block.step.op == OpKind::BlockSleep;
                    let source = match (block.step.op, block.step.object) {
                        _ if woken_by_time => None,
                        (OpKind::BlockJoin, Some(joined)) => last_of_thread
                            .get(&joined)
                            .filter(|&&at| at > block.number)
                            .map(|&at| (joined, at)),
                        (OpKind::BlockPark, _) => last_unpark,
                        (_, Some(object)) => last_on_object.get(&object).copied(),
                        (_, None) => None,
                    }
                    .filter(|&(thread, at)| thread != step.thread && at > block.number);
                    if let Some((from, at)) = source {
                        flows += 1;
                        let name = format!("wakes {}", trace.thread_name(step.thread));
                        events.push(json!({
                            "ph": "s", "name": name, "cat": "wake", "id": flows,
                            "pid": 1, "tid": tid(from), "ts": at,
                        }));
                        events.push(json!({
                            "ph": "f", "bp": "e", "name": name, "cat": "wake", "id": flows,
                            "pid": 1, "tid": tid(step.thread), "ts": number,
                        }));
                    }
                }
                timed_out.retain(|&thread| thread != step.thread);
                if step.op.is_block() {
                    blocked.insert(step.thread, Blocked { number, step });
                }
                if let Some(object) = step.object
                    && !step.op.object_is_thread()
                {
                    last_on_object.insert(object, (step.thread, number));
                }
                if step.op == OpKind::Unpark {
                    last_unpark = Some((step.thread, number));
                }
                last_of_thread.insert(step.thread, number);
                let object = step.object.map(|object| trace.object_name(step.op, object));
                events.push(json!({
                    "ph": "i", "s": "t", "name": trace.operation(step), "cat": "step",
                    "pid": 1, "tid": tid(step.thread), "ts": number,
                    "args": {
                        "step": number,
                        "op": step.op.name(),
                        "object": object,
                        "location": trace.location_text(step.location),
                    },
                }));
            }
            Item::Timeout { after, thread } => {
                timed_out.push(thread);
                events.push(json!({
                    "ph": "i", "s": "t", "name": "timeout", "cat": "timeout",
                    "pid": 1, "tid": tid(thread), "ts": after + 1,
                    "args": {"after_step": after, "thread": trace.thread_name(thread)},
                }));
            }
            Item::Signal { arrival } => {
                // A process-wide instant at the decision after its step, on every track.
                events.push(json!({
                    "ph": "i", "s": "g", "name": format!("signal {}", arrival.name()),
                    "cat": "signal", "pid": 1, "tid": tid(0), "ts": arrival.step + 1,
                    "args": {
                        "signal": arrival.signal,
                        "name": arrival.name(),
                        "code": arrival.code_name(),
                        "sender": arrival.sender,
                        "after_step": arrival.step,
                    },
                }));
            }
            Item::Input {
                after,
                thread,
                value,
            } => {
                // At the step that asked for it: an instant marker with the value.
                let mut args = json!({"step": after, "thread": trace.thread_name(thread)});
                match value {
                    InputValue::Clock(reading) => {
                        args["clock"] = json!(reading.source.name());
                        args["nanos"] = json!(reading.nanos);
                    }
                    InputValue::RandomSeed(seed) => args["seed"] = json!(seed),
                }
                events.push(json!({
                    "ph": "i", "s": "t", "name": value.to_string(), "cat": input_kind(value),
                    "pid": 1, "tid": tid(thread), "ts": after, "args": args,
                }));
            }
            Item::Io { after, thread, io } => {
                // I/O results at their step, the ends of I/O waits at the decision after.
                let (name, ts, args) = match io {
                    reel_trace::IoEvent::Done(done) => (
                        format!("I/O {}", done.result.describe()),
                        after,
                        json!({
                            "step": after, "thread": trace.thread_name(thread),
                            "asked": done.asked, "bytes": done.result.data_bytes(),
                            "result": done.result.describe(),
                        }),
                    ),
                    reel_trace::IoEvent::Ready { .. } => (
                        "I/O wait ends".to_owned(),
                        after + 1,
                        json!({"after_step": after, "thread": trace.thread_name(thread)}),
                    ),
                };
                events.push(json!({
                    "ph": "i", "s": "t", "name": name, "cat": "io",
                    "pid": 1, "tid": tid(thread), "ts": ts, "args": args,
                }));
            }
            Item::Preemption { after, thread } => {
                events.push(json!({
                    "ph": "i", "s": "t", "name": "preempted", "cat": "preemption",
                    "pid": 1, "tid": tid(thread), "ts": after + 1,
                    "args": {"after_step": after, "thread": trace.thread_name(thread)},
                }));
            }
            Item::Stall { after, stall } => {
                events.push(json!({
                    "ph": "i", "s": "p", "name": crate::show::stall_text(stall), "cat": "stall",
                    "pid": 1, "tid": tid(stall.thread), "ts": after,
                    "args": {
                        "after_step": after,
                        "thread": trace.thread_name(stall.thread),
                        "duration_us": stall.duration_micros,
                        "syscall": stall.syscall,
                        "location": stall.location.as_ref().map(ToString::to_string),
                        "ready": stall.ready,
                    },
                }));
            }
            Item::Spawn { .. } | Item::Object { .. } | Item::Outcome { .. } => {}
        }
    }
    if let Some(run) = running.take() {
        slice(&mut events, run);
    }
    let end = trace.steps + 1;
    match &trace.outcome {
        Some(outcome) => events.push(json!({
            "ph": "i", "s": "g", "name": format!("outcome: {}", outcome.kind.name()),
            "cat": "outcome", "pid": 1, "tid": tid(0), "ts": end,
            "args": serde_json::to_value(crate::show::outcome_json(trace, outcome.step, outcome))
                .unwrap_or(Value::Null),
        })),
        None => events.push(json!({
            "ph": "i", "s": "g", "name": "cut short", "cat": "outcome",
            "pid": 1, "tid": tid(0), "ts": end,
            "args": {"description": outcome_summary(trace)},
        })),
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "source": "reel export --format chrome",
            "trace": path,
            "program": trace.header.program.exe_name,
            "entry": trace.header.program.entry,
            "strategy": trace.header.run.strategy,
            "seed": trace.header.run.seed,
            "iteration": trace.header.run.iteration,
            "steps": trace.steps,
            "outcome": match &trace.outcome {
                Some(outcome) => trace.describe_outcome(outcome),
                None => outcome_summary(trace),
            },
            "time_axis": "1 us = 1 scheduling step: step n spans [n, n+1) us",
        },
    })
}
