//! `reel stats`: what a trace contains, counted.
//!
//! The counts:
//! * **context switches**: pairs of consecutive steps taken by different threads;
//! * **preemptions**: the context switches away from a thread that could have gone on
//!   running, because its last step neither blocked, yielded nor exited;
//! * **timeouts**: timed waits that ran out (timeout events);
//! * **slice preemptions**: threads whose time slice ran out in a plain run (preemption
//!   events; each is also counted among the preemptions);
//! * **stalls**: head-of-line stalls the watchdog saw (stall events), and the longest;
//! * **signals**: signal arrivals, in all and per signal (`SIGTERM 1`);
//! * per thread: its steps, the steps at which it blocked, and its name; per operation:
//!   the steps that performed it;
//! * **bytes per step**: the trace's size divided by its steps (header included).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use reel_trace::{Event, ObjectKind, OpKind, Trace};

use crate::show::{Ordered, outcome_json, outcome_summary, run_summary, write_stdout};

/// `reel stats TRACE [--json]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The trace file.
    pub(crate) trace: PathBuf,
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Every object kind, in the order the counts list them.
const OBJECT_KINDS: [ObjectKind; 11] = [
    ObjectKind::Mutex,
    ObjectKind::RwLock,
    ObjectKind::Condvar,
    ObjectKind::Barrier,
    ObjectKind::Once,
    ObjectKind::Channel,
    ObjectKind::Atomic,
    ObjectKind::Signals,
    ObjectKind::Socket,
    ObjectKind::File,
    ObjectKind::Task,
];

/// A thread's counts.
#[derive(Default)]
struct ThreadCounts {
    steps: u64,
    blocks: u64,
}

/// The counts of one trace.
struct Counts {
    switches: u64,
    preemptions: u64,
    /// Clock readings, monotonic and system.
    clock_reads: u64,
    /// Random seeds drawn (one at most).
    random_seeds: u64,
    timeouts: u64,
    /// I/O results recorded (each I/O step's).
    io_results: u64,
    /// Bytes the program read (contents recorded in the trace).
    io_bytes_in: u64,
    /// Bytes the program wrote (counts recorded).
    io_bytes_out: u64,
    slice_preemptions: u64,
    stalls: u64,
    longest_stall_micros: u64,
    /// Signal arrivals per signal number.
    signals: BTreeMap<u32, u64>,
    threads: Vec<ThreadCounts>,
    operations: BTreeMap<OpKind, u64>,
    objects: Vec<(ObjectKind, u64)>,
}

impl Counts {
    fn of(trace: &Trace) -> Counts {
        let mut counts = Counts {
            switches: 0,
            preemptions: 0,
            clock_reads: 0,
            random_seeds: 0,
            timeouts: 0,
            io_results: 0,
            io_bytes_in: 0,
            io_bytes_out: 0,
            slice_preemptions: 0,
            stalls: 0,
            longest_stall_micros: 0,
            signals: BTreeMap::new(),
            threads: (0..trace.threads.len())
                .map(|_| ThreadCounts::default())
                .collect(),
            operations: BTreeMap::new(),
            objects: OBJECT_KINDS
                .iter()
                .map(|&kind| {
                    let count = trace.objects.iter().filter(|&&k| k == kind).count();
                    (kind, count as u64)
                })
                .collect(),
        };
        let mut previous: Option<(u32, OpKind)> = None;
        for event in &trace.events {
            match event {
                Event::Step(step) => {
                    if let Some((thread, op)) = previous
                        && thread != step.thread
                    {
                        counts.switches += 1;
                        if !op.gives_way() {
                            counts.preemptions += 1;
                        }
                    }
                    previous = Some((step.thread, step.op));
                    if let Some(thread) = counts.threads.get_mut(step.thread as usize) {
                        thread.steps += 1;
                        thread.blocks += u64::from(step.op.is_block());
                    }
                    *counts.operations.entry(step.op).or_default() += 1;
                }
                Event::ClockRead(_) => counts.clock_reads += 1,
                Event::RandomSeed { .. } => counts.random_seeds += 1,
                Event::Timeout { .. } => counts.timeouts += 1,
                Event::Signal(arrival) => *counts.signals.entry(arrival.signal).or_default() += 1,
                Event::Io(io) => {
                    if let reel_trace::IoEvent::Done(done) = &**io {
                        counts.io_results += 1;
                        counts.io_bytes_in += done.result.data_bytes();
                        if let (Some((_, OpKind::IoWrite)), reel_trace::IoResult::Count(count)) =
                            (previous, &done.result)
                        {
                            counts.io_bytes_out += count;
                        }
                    }
                }
                Event::Preemption { .. } => counts.slice_preemptions += 1,
                Event::Stall(stall) => {
                    counts.stalls += 1;
                    counts.longest_stall_micros =
                        counts.longest_stall_micros.max(stall.duration_micros);
                }
                Event::Spawn(_) | Event::Object(_) | Event::Outcome(_) => {}
            }
        }
        counts
    }

    /// All signal arrivals.
    fn signal_total(&self) -> u64 {
        self.signals.values().sum()
    }

    /// `1 (SIGTERM 1)`, or `0`.
    fn signals_text(&self) -> String {
        if self.signals.is_empty() {
            return "0".to_owned();
        }
        let each: Vec<String> = self
            .signals
            .iter()
            .map(|(&signal, n)| format!("{} {n}", reel_trace::signal_name(signal)))
            .collect();
        format!("{} ({})", self.signal_total(), each.join(", "))
    }

    /// The operations, most frequent first (ties in op code order).
    fn operations_by_count(&self) -> Vec<(OpKind, u64)> {
        let mut operations: Vec<(OpKind, u64)> =
            self.operations.iter().map(|(&op, &n)| (op, n)).collect();
        operations.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        operations
    }
}

/// Runs `reel stats`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let trace = crate::load::trace(&args.trace)?;
    let counts = Counts::of(&trace);
    let bytes_per_step = (trace.steps > 0).then(|| trace.bytes as f64 / trace.steps as f64);
    if args.json {
        let objects_by_kind = counts
            .objects
            .iter()
            .filter(|(_, n)| *n > 0)
            .fold(Ordered::new(), |object, (kind, n)| {
                object.value(kind.name(), n)
            });
        let per_thread = counts
            .threads
            .iter()
            .enumerate()
            .map(|(id, thread)| {
                let spawn = trace.threads.get(id);
                Ordered::new()
                    .value("thread", id)
                    .value("name", spawn.and_then(|spawn| spawn.name.as_deref()))
                    .value("parent", spawn.and_then(|spawn| spawn.parent))
                    .value("steps", thread.steps)
                    .value("blocks", thread.blocks)
            })
            .collect();
        let per_operation = counts
            .operations_by_count()
            .iter()
            .fold(Ordered::new(), |object, (op, n)| object.value(op.name(), n));
        let value = Ordered::new()
            .value("trace", args.trace.display().to_string())
            .value("program", &trace.header.program.exe_name)
            .value("entry", &trace.header.program.entry)
            .value("strategy", &trace.header.run.strategy)
            .value("seed", trace.header.run.seed)
            .value("iteration", trace.header.run.iteration)
            .value("steps", trace.steps)
            .value("threads", trace.threads.len())
            .value("objects", trace.objects.len())
            .object("objects_by_kind", Some(objects_by_kind))
            .value("context_switches", counts.switches)
            .value("preemptions", counts.preemptions)
            .value("clock_reads", counts.clock_reads)
            .value("random_seeds", counts.random_seeds)
            .value("timeouts", counts.timeouts)
            .value("io_results", counts.io_results)
            .value("io_bytes_in", counts.io_bytes_in)
            .value("io_bytes_out", counts.io_bytes_out)
            .value("slice_preemptions", counts.slice_preemptions)
            .value("stalls", counts.stalls)
            .value("longest_stall_us", counts.longest_stall_micros)
            .value("signals", counts.signal_total())
            .object(
                "signals_by_name",
                Some(
                    counts
                        .signals
                        .iter()
                        .fold(Ordered::new(), |object, (&signal, n)| {
                            object.value(reel_trace::signal_name(signal), n)
                        }),
                ),
            )
            .value("bytes", trace.bytes)
            .value("bytes_per_step", bytes_per_step)
            .list("per_thread", per_thread)
            .object("per_operation", Some(per_operation))
            .object(
                "outcome",
                trace
                    .outcome
                    .as_ref()
                    .map(|outcome| outcome_json(&trace, outcome.step, outcome)),
            )
            .value("cut", trace.cut.is_some());
        write_stdout(|out| writeln!(out, "{value}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let objects: Vec<String> = counts
        .objects
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{} {n}", kind.name()))
        .collect();
    let objects = if objects.is_empty() {
        "0".to_owned()
    } else {
        format!("{} ({})", trace.objects.len(), objects.join(", "))
    };
    let bytes = match bytes_per_step {
        Some(per_step) => format!("{} ({per_step:.1} per step)", trace.bytes),
        None => trace.bytes.to_string(),
    };
    let outcome = match &trace.outcome {
        Some(outcome) => trace.describe_outcome(outcome),
        None => outcome_summary(&trace),
    };
    let summary = [
        (
            "trace",
            format!("{} ({})", args.trace.display(), run_summary(&trace)),
        ),
        ("steps", trace.steps.to_string()),
        ("threads", trace.threads.len().to_string()),
        ("objects", objects),
        ("context switches", counts.switches.to_string()),
        ("preemptions", counts.preemptions.to_string()),
        ("clock reads", counts.clock_reads.to_string()),
        ("random seeds", counts.random_seeds.to_string()),
        ("timeouts", counts.timeouts.to_string()),
        (
            "I/O",
            format!(
                "{} results, {} bytes in, {} bytes out",
                counts.io_results, counts.io_bytes_in, counts.io_bytes_out
            ),
        ),
        ("slice preemptions", counts.slice_preemptions.to_string()),
        (
            "stalls",
            match counts.stalls {
                0 => "0".to_owned(),
                stalls => format!(
                    "{stalls} (longest {} ms)",
                    counts.longest_stall_micros / 1000
                ),
            },
        ),
        ("signals", counts.signals_text()),
        ("bytes", bytes),
        ("outcome", outcome),
    ];
    write_stdout(|out| {
        for (name, value) in &summary {
            writeln!(out, "{:<18}{value}", format!("{name}:"))?;
        }
        writeln!(out)?;
        writeln!(out, "per thread:")?;
        let names: Vec<String> = (0..counts.threads.len())
            .map(|id| trace.thread_name(u32::try_from(id).unwrap_or(u32::MAX)))
            .collect();
        let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let steps_width = counts
            .threads
            .iter()
            .map(|t| t.steps.to_string().len())
            .max()
            .unwrap_or(0);
        for (name, thread) in names.iter().zip(&counts.threads) {
            writeln!(
                out,
                "  {name:<name_width$}  {:>steps_width$} steps  {} blocked",
                thread.steps, thread.blocks
            )?;
        }
        writeln!(out)?;
        writeln!(out, "per operation:")?;
        let operations = counts.operations_by_count();
        let op_width = operations
            .iter()
            .map(|(op, _)| op.name().len())
            .max()
            .unwrap_or(0);
        for (op, n) in &operations {
            writeln!(out, "  {:<op_width$}  {n}", op.name())?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
