//! `reel diff`: the first step at which two traces differ.
//!
//! Both traces' events are walked in order and compared: a step by its thread, operation,
//! object and source location (as `file:line:column` text, since location ids are
//! numbered per trace), a spawn by its parent and name, an object by its kind, a timeout
//! by its thread, the outcome by everything it records. A trace that ends where the other
//! goes on (one cut short, say) differs at the step after its end. Headers are not
//! compared, except that a different program or entry point is noted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use reel_trace::Trace;

use crate::show::{Item, Line, Ordered, items, outcome_summary, write_labelled, write_stdout};

/// `reel diff A B [--context N] [--json]`
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The first trace.
    pub(crate) a: PathBuf,
    /// The second trace.
    pub(crate) b: PathBuf,
    /// Steps of context shown before the difference.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub(crate) context: u64,
    /// As one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What an event is, independently of how its trace numbers locations.
#[derive(PartialEq, Eq)]
enum Key {
    Step {
        thread: u32,
        op: reel_trace::OpKind,
        object: Option<u32>,
        location: String,
    },
    Spawn {
        parent: Option<u32>,
        name: Option<String>,
    },
    Object(reel_trace::ObjectKind),
    Timeout(u32),
    /// A value the program asked for, by its thread, as text.
    Input(u32, String),
    Preemption(u32),
    /// A stall's thread and system call (its duration is real time, never the same twice).
    Stall(u32, Option<String>),
    Outcome(reel_trace::Outcome),
    /// A signal's number and step (not its sender, which differs from run to run).
    Signal(u32, u64),
}

fn key(trace: &Trace, item: &Item<'_>) -> Key {
    match item {
        Item::Step { step, .. } => Key::Step {
            thread: step.thread,
            op: step.op,
            object: step.object,
            location: trace.location_text(step.location),
        },
        Item::Spawn { spawn, .. } => Key::Spawn {
            parent: spawn.parent,
            name: spawn.name.clone(),
        },
        Item::Object { kind, .. } => Key::Object(*kind),
        Item::Timeout { thread, .. } => Key::Timeout(*thread),
        Item::Input { thread, value, .. } => Key::Input(*thread, value.to_string()),
        Item::Io { thread, io, .. } => Key::Input(*thread, crate::show::describe_io(io)),
        Item::Preemption { thread, .. } => Key::Preemption(*thread),
        Item::Stall { stall, .. } => Key::Stall(stall.thread, stall.syscall.clone()),
        Item::Outcome { outcome, .. } => Key::Outcome((*outcome).clone()),
        Item::Signal { arrival } => Key::Signal(arrival.signal, arrival.step),
    }
}

/// Runs `reel diff`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let a = crate::load::trace(&args.a)?;
    let b = crate::load::trace(&args.b)?;
    let a_items = items(&a);
    let b_items = items(&b);
    let shared = a_items
        .iter()
        .zip(&b_items)
        .take_while(|(x, y)| key(&a, x) == key(&b, y))
        .count();
    let notes = notes(&a, &b);
    let a_name = args.a.display().to_string();
    let b_name = args.b.display().to_string();

    if shared == a_items.len() && shared == b_items.len() {
        let summary = match &a.outcome {
            Some(outcome) => a.describe_outcome(outcome),
            None => outcome_summary(&a),
        };
        if args.json {
            let value = Ordered::new()
                .value("same", true)
                .value("a", &a_name)
                .value("b", &b_name)
                .value("notes", &notes)
                .value("steps", a.steps)
                .value("outcome", &summary);
            write_stdout(|out| writeln!(out, "{value}"))?;
        } else {
            write_stdout(|out| {
                for note in &notes {
                    writeln!(out, "note: {note}")?;
                }
                writeln!(
                    out,
                    "the traces are the same: {} steps, outcome {summary}",
                    a.steps
                )
            })?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let a_next = a_items.get(shared);
    let b_next = b_items.get(shared);
    // What each trace has from there: one event, or, for the trace that goes on where the
    // other ends, its events up to and including its next step.
    let rest = |trace_items: &[Item<'_>], other_ends: bool| -> usize {
        let rest = trace_items.get(shared..).unwrap_or_default();
        if !other_ends {
            return rest.len().min(1);
        }
        rest.iter()
            .position(|item| matches!(item, Item::Step { .. }))
            .map_or(rest.len(), |index| index + 1)
            .min(MAX_LINES_AFTER_END)
    };
    let a_rest = &a_items[shared..shared + rest(&a_items, b_next.is_none())];
    let b_rest = &b_items[shared..shared + rest(&b_items, a_next.is_none())];
    // Where they part: the step that differs (or, past the end of one trace, the other's
    // next step), or the step the differing events follow.
    let (at, is_step) = match a_rest
        .iter()
        .chain(b_rest)
        .find(|item| matches!(item, Item::Step { .. }))
    {
        Some(item) => (item.step(), true),
        None => (
            a_rest.iter().chain(b_rest).next().map_or(0, Item::step),
            false,
        ),
    };
    let position = match (is_step, at) {
        (true, _) => format!("at step {at}"),
        (false, 0) => "before step 1".to_owned(),
        (false, _) => format!("after step {at}"),
    };
    // The shared events of the last `context` steps before the difference.
    let last_context_step = if is_step { at.saturating_sub(1) } else { at };
    let first_context_step = (last_context_step + 1).saturating_sub(args.context).max(1);
    let context_start = if args.context == 0 {
        shared
    } else {
        a_items[..shared]
            .iter()
            .rposition(
                |item| matches!(item, Item::Step { number, .. } if *number == first_context_step),
            )
            .unwrap_or(0)
    };
    let context = &a_items[context_start..shared];
    let prefix_note = match (a_next, b_next) {
        (None, Some(_)) => Some(format!(
            "A ends after step {}{}: its events are the start of B's",
            a.steps,
            cut_note(&a)
        )),
        (Some(_), None) => Some(format!(
            "B ends after step {}{}: its events are the start of A's",
            b.steps,
            cut_note(&b)
        )),
        _ => None,
    };

    if args.json {
        let side = |trace: &Trace, item: Option<&Item<'_>>| {
            item.map(|item| crate::show::json(trace, item))
        };
        let value = Ordered::new()
            .value("same", false)
            .value("a", &a_name)
            .value("b", &b_name)
            .value("notes", &notes)
            .value("differs", &position)
            .value("step", at)
            .value("steps_a", a.steps)
            .value("steps_b", b.steps)
            .value("outcome_a", outcome_summary(&a))
            .value("outcome_b", outcome_summary(&b))
            .value("prefix", &prefix_note)
            .list(
                "context",
                context
                    .iter()
                    .map(|item| crate::show::json(&a, item))
                    .collect(),
            )
            .object("a_event", side(&a, a_next))
            .object("b_event", side(&b, b_next));
        write_stdout(|out| writeln!(out, "{value}"))?;
        return Ok(ExitCode::from(crate::EXIT_DIFFERENT));
    }

    let end_line = |trace: &Trace| Line {
        step: String::new(),
        thread: String::new(),
        what: match &trace.cut {
            Some(_) => format!(
                "(the trace ends here: cut short after step {})",
                trace.steps
            ),
            None => "(the trace ends here)".to_owned(),
        },
        location: String::new(),
    };
    let context_lines: Vec<Line> = context.iter().map(|item| Line::of(&a, item)).collect();
    let side_lines = |trace: &Trace, rest: &[Item<'_>]| -> Vec<Line> {
        if rest.is_empty() {
            vec![end_line(trace)]
        } else {
            rest.iter().map(|item| Line::of(trace, item)).collect()
        }
    };
    let a_lines = side_lines(&a, a_rest);
    let b_lines = side_lines(&b, b_rest);
    let mut lines: Vec<(&str, &Line)> = context_lines.iter().map(|line| ("", line)).collect();
    lines.extend(a_lines.iter().map(|line| ("A: ", line)));
    lines.extend(b_lines.iter().map(|line| ("B: ", line)));
    write_stdout(|out| {
        for note in &notes {
            writeln!(out, "note: {note}")?;
        }
        writeln!(out, "the traces differ {position}")?;
        writeln!(
            out,
            "  A: {a_name}: {} steps, {}",
            a.steps,
            outcome_summary(&a)
        )?;
        writeln!(
            out,
            "  B: {b_name}: {} steps, {}",
            b.steps,
            outcome_summary(&b)
        )?;
        if let Some(note) = &prefix_note {
            writeln!(out, "  {note}")?;
        }
        writeln!(out)?;
        if context.is_empty() {
            writeln!(out, "(no shared steps before it)")?;
        } else {
            writeln!(out, "shared before it:")?;
        }
        write_labelled(out, &lines)
    })?;
    Ok(ExitCode::from(crate::EXIT_DIFFERENT))
}

/// The most events shown of the trace that goes on where the other ends.
const MAX_LINES_AFTER_END: usize = 8;

/// ` (it was cut short)` for a trace without its outcome.
fn cut_note(trace: &Trace) -> &'static str {
    if trace.cut.is_some() {
        " (it was cut short)"
    } else {
        ""
    }
}

/// What the headers say that makes the comparison surprising: another program, another
/// entry point.
fn notes(a: &Trace, b: &Trace) -> Vec<String> {
    let mut notes = Vec::new();
    let (pa, pb) = (&a.header.program, &b.header.program);
    if pa.exe_name != pb.exe_name {
        notes.push(format!(
            "the traces record different programs: A {}, B {}",
            pa.exe_name, pb.exe_name
        ));
    }
    if pa.entry != pb.entry {
        let entry = |entry: &Option<String>| entry.clone().unwrap_or_else(|| "none".to_owned());
        notes.push(format!(
            "the traces record different entry points: A {}, B {}",
            entry(&pa.entry),
            entry(&pb.entry)
        ));
    }
    notes
}
