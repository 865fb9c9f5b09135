//! The interactive front end: a rustyline prompt with a history file, tab completion of
//! commands, threads, objects and files, hints with each command's usage, and Ctrl-C that
//! stops a running command (and at the prompt, only clears the line).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::Result;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::command::COMMANDS;
use super::session::{INTERRUPTED, Session};

/// The prompt.
const PROMPT: &str = "(reel) ";

/// The most lines the history file keeps.
const HISTORY_LINES: usize = 1000;

/// What completion offers besides command names: taken from the trace once.
struct ReelHelper {
    threads: Vec<String>,
    objects: Vec<String>,
    files: Vec<String>,
}

impl Helper for ReelHelper {}
impl Validator for ReelHelper {}
impl Highlighter for ReelHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}

impl Hinter for ReelHelper {
    type Hint = String;

    /// The rest of the command's usage, once the first word names one command.
    fn hint(&self, line: &str, position: usize, _: &Context<'_>) -> Option<String> {
        if position < line.len() || line.is_empty() || line.contains(' ') {
            return None;
        }
        let mut matching = COMMANDS
            .iter()
            .filter(|spec| spec.names[0].starts_with(line));
        let spec = matching.next()?;
        if matching.next().is_some() {
            return None;
        }
        spec.usage.strip_prefix(line).map(str::to_owned)
    }
}

impl Completer for ReelHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        position: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let line = &line[..position];
        let start = line.rfind(' ').map_or(0, |space| space + 1);
        let word = &line[start..];
        let words: Vec<&str> = line[..start].split_whitespace().collect();
        let candidates: Vec<String> = match words.as_slice() {
            [] => COMMANDS
                .iter()
                .map(|spec| spec.names[0].to_owned())
                .collect(),
            ["info" | "i"] => ["threads", "breakpoints", "checkpoints"]
                .map(str::to_owned)
                .to_vec(),
            ["thread" | "t" | "bt" | "backtrace" | "where" | "disas" | "disassemble" | "x"]
            | ["break" | "b" | "br", "thread"] => self.threads.clone(),
            ["break" | "b" | "br"] => ["step", "thread", "object", "signal", "panic", "deadlock"]
                .into_iter()
                .map(str::to_owned)
                .chain(self.objects.iter().cloned())
                .chain(self.files.iter().map(|file| format!("{file}:")))
                .collect(),
            ["break" | "b" | "br", "object"] => self.objects.clone(),
            ["help" | "h" | "?"] => COMMANDS
                .iter()
                .map(|spec| spec.names[0].to_owned())
                .collect(),
            _ => Vec::new(),
        };
        let pairs = candidates
            .into_iter()
            .filter(|candidate| candidate.starts_with(word))
            .map(|candidate| Pair {
                display: candidate.clone(),
                replacement: if candidate.ends_with(':') {
                    candidate
                } else {
                    format!("{candidate} ")
                },
            })
            .collect();
        Ok((start, pairs))
    }
}

/// Where the history lives: REEL_HISTORY, else `$XDG_STATE_HOME/reel/history`, else
/// `~/.local/state/reel/history`.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REEL_HISTORY").filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("reel").join("history"))
}

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C while a command runs sets INTERRUPTED instead of ending the debugger.
fn catch_interrupts() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
    // sigaction structure is fully initialised before use.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = note_interrupt as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// The read-eval-print loop on a terminal.
pub(super) fn run(session: &mut Session) -> Result<()> {
    let config = rustyline::Config::builder()
        .max_history_size(HISTORY_LINES)?
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<ReelHelper, rustyline::history::DefaultHistory> =
        Editor::with_config(config)?;
    // After the editor, which installs a SIGINT handler of its own for as long as it lives
    // (at its prompt the terminal sends Ctrl-C as a key; between prompts it is a signal).
    catch_interrupts();
    let trace = session.trace();
    let helper = ReelHelper {
        threads: (0..trace.threads.len())
            .map(|id| format!("T{id}"))
            .collect(),
        objects: trace
            .objects
            .iter()
            .enumerate()
            .map(|(id, kind)| format!("{}#{id}", kind.name()))
            .collect(),
        files: trace.files.clone(),
    };
    editor.set_helper(Some(helper));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let mut last = String::new();
    loop {
        match editor.readline(PROMPT) {
            Ok(line) => {
                let line = line.trim().to_owned();
                // An empty line repeats the last command, as in gdb.
                let line = if line.is_empty() { last.clone() } else { line };
                if line.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                last = line.clone();
                if let Ok(false) = super::run_line(session, &line) {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => println!("(Ctrl-C: quit leaves the debugger)"),
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(path) = &history {
        if let Some(directory) = path.parent() {
            let _ = std::fs::create_dir_all(directory);
        }
        let _ = editor.save_history(path);
    }
    Ok(())
}
