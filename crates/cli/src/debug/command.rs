//! The debugger's commands: a closed set, parsed from a line, with gdb's short aliases, the
//! help text, and a suggestion for a mistyped name.

use std::fmt::Write as _;

/// One command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run forward N steps.
    Step(u64),
    /// Run forward to the next breakpoint (or the end).
    Continue,
    /// Go to step N, forwards or backwards.
    Goto(u64),
    /// Where the replay is.
    When,
    /// Run backward N steps.
    ReverseStep(u64),
    /// Run backward to the previous breakpoint (or the start).
    ReverseContinue,
    /// Set a breakpoint.
    Break(BreakSpec),
    /// List breakpoints.
    InfoBreakpoints,
    /// Delete one breakpoint, or all.
    Delete(Option<usize>),
    /// List the green threads.
    InfoThreads,
    /// Select the thread that bt and disas show.
    Thread(u32),
    /// A thread's backtrace.
    Backtrace(Option<u32>),
    /// The trace's events around a step, or in a range.
    Events(Option<(u64, u64)>),
    /// The locks, their holders and waiters, and a wait-for cycle.
    Locks,
    /// Disassemble around a thread's instruction.
    Disas(Option<u32>),
    /// Take a checkpoint here.
    Checkpoint,
    /// List checkpoints.
    InfoCheckpoints,
    /// Back to the start, or to a checkpoint.
    Restart(Option<usize>),
    /// Help, on everything or one command.
    Help(Option<String>),
    /// Leave.
    Quit,
}

/// What a breakpoint stops at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BreakSpec {
    /// Step N.
    Step(u64),
    /// Any step of thread T.
    Thread(u32),
    /// A step at FILE:LINE (FILE matches a suffix of the recorded path).
    Location {
        /// The file, or the end of its path.
        file: String,
        /// The line.
        line: u32,
    },
    /// A step on an object, e.g. `Mutex#2`.
    Object(String),
    /// A signal's arrival: the name as typed (`SIGTERM`, `TERM`, `15`), empty for any.
    Signal(String),
    /// A thread panicking (stops in the panic hook, before unwinding).
    Panic,
    /// A deadlock: stops where the replay ends in one, with every thread in place.
    Deadlock,
}

impl std::fmt::Display for BreakSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakSpec::Step(step) => write!(f, "step {step}"),
            BreakSpec::Thread(thread) => write!(f, "thread T{thread}"),
            BreakSpec::Location { file, line } => write!(f, "{file}:{line}"),
            BreakSpec::Object(object) => write!(f, "object {object}"),
            BreakSpec::Signal(signal) if signal.is_empty() => write!(f, "signal (any)"),
            BreakSpec::Signal(signal) => write!(f, "signal {signal}"),
            BreakSpec::Panic => f.write_str("panic"),
            BreakSpec::Deadlock => f.write_str("deadlock"),
        }
    }
}

/// A command's names, usage and help.
pub(crate) struct Spec {
    /// The name, then its aliases.
    pub(crate) names: &'static [&'static str],
    /// How it is written.
    pub(crate) usage: &'static str,
    /// What it does.
    pub(crate) help: &'static str,
}

/// Every command, in the order help lists them.
pub(crate) const COMMANDS: &[Spec] = &[
    Spec {
        names: &["step", "s", "next", "n", "stepi", "si"],
        usage: "step [N]",
        help: "Run forward N steps (default 1) and show the step reached.",
    },
    Spec {
        names: &["continue", "c", "cont"],
        usage: "continue",
        help: "Run forward to the next breakpoint, or to the end of the replay.",
    },
    Spec {
        names: &["goto", "g", "run"],
        usage: "goto N",
        help: "Go to step N, forwards or backwards (backwards restores a checkpoint).",
    },
    Spec {
        names: &["when"],
        usage: "when",
        help: "Say which step the replay is at, of how many, and what it is.",
    },
    Spec {
        names: &["reverse-step", "rs", "reverse-next", "rn"],
        usage: "reverse-step [N]",
        help: "Run backward N steps (default 1): resume the nearest checkpoint at or before \
               the target and run forward to it.",
    },
    Spec {
        names: &["reverse-continue", "rc"],
        usage: "reverse-continue",
        help: "Run backward to the previous step a breakpoint matches, or to the start.",
    },
    Spec {
        names: &["break", "b", "br"],
        usage: "break <step N | N | thread T | FILE:LINE | Mutex#N | object NAME | signal [SIG] \
                | panic | deadlock>",
        help: "Set a breakpoint: at step N; at any step of thread T; at a step at FILE:LINE \
               (FILE may be the end of the path); at a step on an object; at the step after \
               a signal's arrival (any signal, or SIG: SIGTERM, TERM or 15); where a thread panics (before it \
               unwinds); where the run deadlocks.",
    },
    Spec {
        names: &["delete", "d"],
        usage: "delete [ID]",
        help: "Delete breakpoint ID, or every breakpoint.",
    },
    Spec {
        names: &["info", "i"],
        usage: "info <threads | breakpoints | checkpoints>",
        help: "List the green threads (id, name, state, location), the breakpoints, or the \
               checkpoints.",
    },
    Spec {
        names: &["thread", "t"],
        usage: "thread T",
        help: "Select thread T: bt and disas show it when given no thread.",
    },
    Spec {
        names: &["bt", "backtrace", "where"],
        usage: "bt [T]",
        help: "The backtrace of thread T (default: the selected thread, else the one taking \
               the current step), suspended threads included.",
    },
    Spec {
        names: &["events", "e", "list", "l"],
        usage: "events [N | FROM-TO]",
        help: "The trace's events around the current step (or step N, or steps FROM to TO), \
               read from the trace without running anything.",
    },
    Spec {
        names: &["locks"],
        usage: "locks",
        help: "Each lock's holder and waiters, and the wait-for cycle if there is one.",
    },
    Spec {
        names: &["disas", "disassemble", "x"],
        usage: "disas [T]",
        help: "Disassemble the machine code around thread T's current instruction in the \
               program's code; => marks the call in progress.",
    },
    Spec {
        names: &["checkpoint", "cp"],
        usage: "checkpoint",
        help: "Take a checkpoint here (a forked copy of the paused program).",
    },
    Spec {
        names: &["restart"],
        usage: "restart [ID]",
        help: "Go back to the start, or to checkpoint ID.",
    },
    Spec {
        names: &["help", "h", "?"],
        usage: "help [COMMAND]",
        help: "List the commands, or explain one.",
    },
    Spec {
        names: &["quit", "q", "exit"],
        usage: "quit",
        help: "Leave the debugger (the program is ended).",
    },
];

/// The width of the usage column in `help`.
const USAGE_COLUMN: usize = 34;

/// Parses one line. `Ok(None)` for an empty line.
pub(crate) fn parse(line: &str) -> Result<Option<Command>, String> {
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return Ok(None);
    };
    let rest: Vec<&str> = words.collect();
    let spec = COMMANDS
        .iter()
        .find(|spec| spec.names.contains(&name))
        .ok_or_else(|| unknown(name))?;
    let usage = || format!("usage: {}", spec.usage);
    let count = |rest: &[&str]| -> Result<u64, String> {
        match rest {
            [] => Ok(1),
            [number] => parse_number(number).ok_or_else(usage),
            _ => Err(usage()),
        }
    };
    let thread = |rest: &[&str]| -> Result<Option<u32>, String> {
        match rest {
            [] => Ok(None),
            [thread] => parse_thread(thread).map(Some).ok_or_else(usage),
            _ => Err(usage()),
        }
    };
    let command = match spec.names[0] {
        "step" => Command::Step(count(&rest)?),
        "continue" if rest.is_empty() => Command::Continue,
        "goto" => match rest.as_slice() {
            [step] => Command::Goto(parse_number(step).ok_or_else(usage)?),
            _ => return Err(usage()),
        },
        "when" if rest.is_empty() => Command::When,
        "reverse-step" => Command::ReverseStep(count(&rest)?),
        "reverse-continue" if rest.is_empty() => Command::ReverseContinue,
        "break" => Command::Break(parse_break(&rest).ok_or_else(usage)?),
        "delete" => match rest.as_slice() {
            [] => Command::Delete(None),
            [id] => Command::Delete(Some(id.parse().map_err(|_| usage())?)),
            _ => return Err(usage()),
        },
        "info" => match rest.as_slice() {
            [what] if "threads".starts_with(what) => Command::InfoThreads,
            [what] if "breakpoints".starts_with(what) => Command::InfoBreakpoints,
            [what] if "checkpoints".starts_with(what) => Command::InfoCheckpoints,
            _ => return Err(usage()),
        },
        "thread" => match thread(&rest)? {
            Some(thread) => Command::Thread(thread),
            None => return Err(usage()),
        },
        "bt" => Command::Backtrace(thread(&rest)?),
        "events" => match rest.as_slice() {
            [] => Command::Events(None),
            [range] => Command::Events(Some(parse_range(range).ok_or_else(usage)?)),
            _ => return Err(usage()),
        },
        "locks" if rest.is_empty() => Command::Locks,
        "disas" => Command::Disas(thread(&rest)?),
        "checkpoint" if rest.is_empty() => Command::Checkpoint,
        "restart" => match rest.as_slice() {
            [] => Command::Restart(None),
            [id] => Command::Restart(Some(id.parse().map_err(|_| usage())?)),
            _ => return Err(usage()),
        },
        "help" => Command::Help(rest.first().map(|word| (*word).to_owned())),
        "quit" if rest.is_empty() => Command::Quit,
        _ => return Err(usage()),
    };
    Ok(Some(command))
}

fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim_start_matches('#');
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.replace('_', "").parse().ok(),
    }
}

fn parse_thread(text: &str) -> Option<u32> {
    text.strip_prefix(['T', 't']).unwrap_or(text).parse().ok()
}

fn parse_range(text: &str) -> Option<(u64, u64)> {
    let (from, to) = text
        .split_once("..")
        .or_else(|| text.split_once('-'))
        .or_else(|| text.split_once(':'))
        .unwrap_or((text, text));
    let from = parse_number(from)?;
    let to = parse_number(to.trim_start_matches('='))?;
    (from <= to).then_some((from, to))
}

fn parse_break(words: &[&str]) -> Option<BreakSpec> {
    Some(match words {
        ["step", step] => BreakSpec::Step(parse_number(step)?),
        ["thread", thread] => BreakSpec::Thread(parse_thread(thread)?),
        ["object", object] => BreakSpec::Object((*object).to_owned()),
        ["signal"] => BreakSpec::Signal(String::new()),
        ["signal", signal] => BreakSpec::Signal(signal.to_ascii_uppercase()),
        ["panic"] => BreakSpec::Panic,
        ["deadlock"] => BreakSpec::Deadlock,
        [word] if word.contains('#') => BreakSpec::Object((*word).to_owned()),
        [word] if word.contains(':') => {
            let (file, line) = word.rsplit_once(':')?;
            // FILE:LINE:COLUMN as `events` prints it: the column is ignored.
            let (file, line) = match file.rsplit_once(':') {
                Some((path, line_text)) if line_text.parse::<u32>().is_ok() => (path, line_text),
                _ => (file, line),
            };
            BreakSpec::Location {
                file: file.to_owned(),
                line: line.parse().ok()?,
            }
        }
        [word] => BreakSpec::Step(parse_number(word)?),
        _ => return None,
    })
}

/// The message for a name that is no command, with the nearest one.
fn unknown(name: &str) -> String {
    let nearest = COMMANDS
        .iter()
        .flat_map(|spec| spec.names.iter())
        .map(|candidate| (strsim::damerau_levenshtein(name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min();
    match nearest {
        Some((_, candidate)) => {
            format!("unknown command '{name}'. Did you mean '{candidate}'? (help lists them all)")
        }
        None => format!("unknown command '{name}' (help lists them all)"),
    }
}

/// The help text: every command, or one.
pub(crate) fn help(topic: Option<&str>) -> Result<String, String> {
    let mut text = String::new();
    match topic {
        None => {
            text.push_str(
                "Commands (a step is one scheduling point; the replay pauses before it runs):\n",
            );
            for spec in COMMANDS {
                let aliases = spec.names[1..].join(", ");
                if spec.usage.len() < USAGE_COLUMN {
                    let _ = write!(text, "  {:<USAGE_COLUMN$}", spec.usage);
                } else {
                    let _ = write!(text, "  {}\n  {:<USAGE_COLUMN$}", spec.usage, "");
                }
                let first_sentence = spec.help.split(". ").next().unwrap_or(spec.help);
                let _ = write!(text, "{}", first_sentence.trim_end_matches('.'));
                if !aliases.is_empty() {
                    let _ = write!(text, " [{aliases}]");
                }
                text.push('\n');
            }
            text.push_str(
                "An empty line repeats the last command. Ctrl-C stops a running continue.",
            );
        }
        Some(name) => {
            let spec = COMMANDS
                .iter()
                .find(|spec| spec.names.contains(&name))
                .ok_or_else(|| unknown(name))?;
            let _ = write!(text, "{}\n  {}", spec.usage, spec.help);
            if spec.names.len() > 1 {
                let _ = write!(text, "\n  also: {}", spec.names[1..].join(", "));
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_aliases() {
        assert_eq!(parse("s").unwrap(), Some(Command::Step(1)));
        assert_eq!(parse("step 10").unwrap(), Some(Command::Step(10)));
        assert_eq!(parse("rs 3").unwrap(), Some(Command::ReverseStep(3)));
        assert_eq!(
            parse("b src/lib.rs:42").unwrap(),
            Some(Command::Break(BreakSpec::Location {
                file: "src/lib.rs".into(),
                line: 42
            }))
        );
        assert_eq!(
            parse("b src/lib.rs:42:9").unwrap(),
            Some(Command::Break(BreakSpec::Location {
                file: "src/lib.rs".into(),
                line: 42
            }))
        );
        assert_eq!(
            parse("break Mutex#2").unwrap(),
            Some(Command::Break(BreakSpec::Object("Mutex#2".into())))
        );
        assert_eq!(
            parse("break 12").unwrap(),
            Some(Command::Break(BreakSpec::Step(12)))
        );
        assert_eq!(parse("bt T2").unwrap(), Some(Command::Backtrace(Some(2))));
        assert_eq!(
            parse("events 3-9").unwrap(),
            Some(Command::Events(Some((3, 9))))
        );
        assert_eq!(parse("info th").unwrap(), Some(Command::InfoThreads));
        assert_eq!(parse("   ").unwrap(), None);
    }

    #[test]
    fn mistakes_get_a_message_and_a_suggestion() {
        assert!(parse("stpe").unwrap_err().contains("Did you mean 'step'"));
        assert!(parse("reverse-stpe").unwrap_err().contains("reverse-step"));
        assert!(parse("frobnicate").unwrap_err().contains("unknown command"));
        assert!(parse("step x").unwrap_err().contains("usage: step [N]"));
        assert!(parse("goto").unwrap_err().contains("usage"));
        assert!(parse("events 9-3").unwrap_err().contains("usage"));
        assert!(help(Some("nope")).is_err());
        assert!(help(Some("rc")).unwrap().contains("reverse-continue"));
    }
}
