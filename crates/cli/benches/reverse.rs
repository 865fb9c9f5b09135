//! Reverse-execution benchmark: how long `reel debug` takes to step backwards through a trace
//! of about a million steps, for several checkpoint intervals.
//!
//! Run with `cargo bench -p reel-cli --bench reverse [-- --quick]`. `--quick` runs one debugger
//! session per interval with fewer steps back; other arguments (cargo passes `--bench`) are
//! ignored.
//!
//! The example `long_run` (two threads taking turns on a Mutex and a Condvar) is built in
//! release mode and recorded once with REEL_RECORD (`RECORDED_STEPS` steps) into a temporary
//! directory. Then, for each checkpoint interval, `reel debug TRACE --exe EXAMPLE --batch
//! --checkpoint-interval I` runs with its standard input and output piped, and is sent, one
//! command at a time: `goto 1000000` (the first time: the run forward from step 0, taking
//! checkpoints on the way), `reverse-step` several times in a row (each one resumes a
//! checkpoint and replays forward to the step before), `reverse-step 500000` (a long jump
//! back) and `goto 1000000` (forward again from there), then `quit`. A command's latency is
//! the time from writing it to reading its answer: the line after the echoed `(reel) COMMAND`
//! that says where the replay stopped (`#STEP ...`), whose step is checked. The median over
//! the sessions (and over the steps back) is reported.
//!
//! The goal: with the default interval (100,000 steps), `reverse-step` from step 1,000,000
//! answers in under a second.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Steps of the recorded run (the argument of `long_run`).
const RECORDED_STEPS: u64 = 1_050_000;
/// The step the debugger goes to before stepping back.
const TARGET_STEP: u64 = 1_000_000;
/// The long jump back: `reverse-step LONG_JUMP`.
const LONG_JUMP: u64 = 500_000;
/// The checkpoint intervals measured; the last one takes no checkpoint before the target but
/// the one at the start.
const INTERVALS: [u64; 3] = [10_000, 100_000, 1_000_000];
/// The debugger's default interval, the one the goal is about.
const DEFAULT_INTERVAL: u64 = 100_000;
/// Goal: `reverse-step` from step 1,000,000 answers in under this, at the default interval.
const GOAL_REVERSE_STEP: Duration = Duration::from_secs(1);
/// How long one answer may take before the debugger is taken to hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// How much to measure.
struct Settings {
    quick: bool,
    /// Debugger sessions per interval.
    sessions: usize,
    /// `reverse-step`s in a row in each session.
    reverse_steps: u64,
}

impl Settings {
    fn new(quick: bool) -> Settings {
        if quick {
            Settings {
                quick,
                sessions: 1,
                reverse_steps: 3,
            }
        } else {
            Settings {
                quick,
                sessions: 3,
                reverse_steps: 10,
            }
        }
    }
}

fn main() {
    let mut quick = false;
    for argument in std::env::args().skip(1) {
        // Cargo passes `--bench`; other harness flags and filters mean nothing here.
        if argument == "--quick" {
            quick = true;
        }
    }
    let settings = Settings::new(quick);
    let started = Instant::now();
    println!(
        "reel reverse-execution benchmark: {} mode, {} debugger session(s) per interval, {} \
         reverse-steps in a row each (medians reported)",
        if settings.quick { "quick" } else { "full" },
        settings.sessions,
        settings.reverse_steps,
    );
    // A missed goal is a figure (the verdict line), not a failure; a broken debugger is.
    if let Err(error) = run(&settings) {
        println!("\nFAILED: {error}");
        std::process::exit(1);
    }
    println!(
        "\n(the benchmark took {:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

/// Records the trace, measures every interval and prints the table and the verdict.
fn run(settings: &Settings) -> Result<(), String> {
    let example = build_example("long_run")?;
    let scratch = Scratch::new()?;
    let trace = scratch.0.join("long_run.reel");
    let recorded = record(&example, &trace)?;
    println!(
        "trace: {} steps, {} bytes ({:.2} bytes/step), recorded in {} by {}",
        format_count(recorded.steps),
        format_count(recorded.bytes),
        recorded.bytes as f64 / recorded.steps as f64,
        format_duration(recorded.took),
        example.display(),
    );
    if recorded.steps <= TARGET_STEP {
        return Err(format!(
            "the trace has {} steps, not more than {TARGET_STEP}",
            recorded.steps
        ));
    }

    let mut rows = Vec::new();
    for interval in INTERVALS {
        println!("\n== --checkpoint-interval {}", format_count(interval));
        let mut runs = Vec::new();
        for session in 0..settings.sessions {
            let run = measure_session(&trace, &example, interval, settings.reverse_steps).map_err(
                |error| format!("interval {interval}, session {}: {error}", session + 1),
            )?;
            let back: Vec<Duration> = run.reverse_steps.clone();
            println!(
                "  session {}: start {}, goto {TARGET_STEP} {}, reverse-step {} (max {}), \
                 reverse-step {LONG_JUMP} {}, goto {TARGET_STEP} again {}, quit {}; \
                 checkpoints every {} steps at the end, {} kept",
                session + 1,
                format_duration(run.start),
                format_duration(run.first_goto),
                format_duration(median(&back)),
                format_duration(back.iter().copied().max().unwrap_or_default()),
                format_duration(run.long_jump),
                format_duration(run.goto_again),
                format_duration(run.quit),
                format_count(run.effective_interval),
                run.checkpoints,
            );
            for note in &run.notes {
                println!("  note from the debugger: {note}");
            }
            runs.push(run);
        }
        rows.push(Row::from_runs(interval, &runs));
    }

    println!(
        "\n== reverse execution from step {} of a {}-step trace (median of {} session(s))",
        format_count(TARGET_STEP),
        format_count(recorded.steps),
        settings.sessions
    );
    println!(
        "  {:>10}  {:>10}  {:>10}  {:>18}  {:>16}  {:>16}  {:>19}  {:>19}",
        "interval",
        "effective",
        "start",
        "goto 1,000,000",
        "reverse-step med",
        "reverse-step max",
        "reverse-step 500000",
        "goto 1,000,000 again",
    );
    for row in &rows {
        println!(
            "  {:>10}  {:>10}  {:>10}  {:>18}  {:>16}  {:>16}  {:>19}  {:>19}",
            format_count(row.interval),
            format_count(row.effective_interval),
            format_duration(row.start),
            format_duration(row.first_goto),
            format_duration(row.reverse_median),
            format_duration(row.reverse_max),
            format_duration(row.long_jump),
            format_duration(row.goto_again),
        );
    }
    println!(
        "  (effective: the interval at the end; past 64 automatic checkpoints every other one \
         is let go and the interval doubles. reverse-step med/max: over all the steps back from \
         step {}, each of which resumes a checkpoint and replays up to an interval's steps)",
        format_count(TARGET_STEP)
    );

    let default = rows
        .iter()
        .find(|row| row.interval == DEFAULT_INTERVAL)
        .ok_or("the default interval was not measured")?;
    let met = default.reverse_max < GOAL_REVERSE_STEP;
    println!(
        "\ngoal: reverse-step from step {} answers in under {} s at the default interval ({}): \
         {} (median {}, max {})",
        format_count(TARGET_STEP),
        GOAL_REVERSE_STEP.as_secs(),
        format_count(DEFAULT_INTERVAL),
        if met { "met" } else { "NOT met" },
        format_duration(default.reverse_median),
        format_duration(default.reverse_max),
    );
    Ok(())
}

/// The workspace's root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the workspace's example `name` in this benchmark's profile (cargo does nothing if
/// it is up to date) and returns its path.
fn build_example(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|error| format!("no path to myself: {error}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("benchmark binaries live in <target>/<profile>/deps")?;
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(workspace())
        .args(["build", "-p", "reel-suite", "--example", name]);
    if profile_dir
        .file_name()
        .is_some_and(|profile| profile == "release")
    {
        build.arg("--release");
    }
    let status = build
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("building the example {name} failed ({status})"));
    }
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        return Err(format!("cargo built no {}", path.display()));
    }
    Ok(path)
}

/// A temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        let dir = std::env::temp_dir().join(format!("reel-bench-reverse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The recorded trace.
struct Recorded {
    steps: u64,
    bytes: u64,
    took: Duration,
}

/// Records a run of `example` to `trace` and reads its step count back with `reel stats`.
fn record(example: &Path, trace: &Path) -> Result<Recorded, String> {
    let started = Instant::now();
    let output = Command::new(example)
        .arg(RECORDED_STEPS.to_string())
        .env("REEL_RECORD", trace)
        .env_remove("REEL_REPLAY")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", example.display()))?;
    let took = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "recording {} failed ({}): {}",
            example.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stats = Command::new(env!("CARGO_BIN_EXE_reel"))
        .arg("stats")
        .arg(trace)
        .output()
        .map_err(|error| format!("cannot run reel stats: {error}"))?;
    let text = String::from_utf8_lossy(&stats.stdout);
    if !stats.status.success() {
        return Err(format!(
            "reel stats {} failed ({}): {text}{}",
            trace.display(),
            stats.status,
            String::from_utf8_lossy(&stats.stderr)
        ));
    }
    let steps = text
        .lines()
        .find_map(|line| line.strip_prefix("steps:"))
        .and_then(|steps| steps.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("reel stats printed no step count:\n{text}"))?;
    let bytes = std::fs::metadata(trace)
        .map_err(|error| format!("no trace at {}: {error}", trace.display()))?
        .len();
    Ok(Recorded { steps, bytes, took })
}

/// The figures of one debugger session.
struct SessionRun {
    /// From spawning the debugger to its "paused at step 0" line.
    start: Duration,
    first_goto: Duration,
    reverse_steps: Vec<Duration>,
    long_jump: Duration,
    goto_again: Duration,
    quit: Duration,
    /// The automatic checkpoints' interval at the end (`info checkpoints`).
    effective_interval: u64,
    /// Checkpoints kept at the end.
    checkpoints: usize,
    /// Lines the debugger printed besides the answers.
    notes: Vec<String>,
}

/// Runs one debugger session on `trace` and times its commands.
fn measure_session(
    trace: &Path,
    example: &Path,
    interval: u64,
    reverse_steps: u64,
) -> Result<SessionRun, String> {
    let mut debugger = Debugger::spawn(trace, example, interval)?;
    let result = debugger.measure(reverse_steps);
    match result {
        Ok(mut run) => {
            let quit = debugger.quit()?;
            run.quit = quit;
            run.notes.append(&mut debugger.notes);
            Ok(run)
        }
        Err(error) => {
            debugger.kill();
            let seen = debugger.transcript.join("\n  | ");
            Err(format!("{error}\n  the debugger's output:\n  | {seen}"))
        }
    }
}

/// A `reel debug --batch` process fed one command at a time.
struct Debugger {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its standard output, a line at a time with the moment each was read.
    lines: Receiver<(Instant, String)>,
    /// Everything it printed, for error messages.
    transcript: Vec<String>,
    /// Lines besides the banner, echoes and answers.
    notes: Vec<String>,
    started: Instant,
}

impl Debugger {
    fn spawn(trace: &Path, example: &Path, interval: u64) -> Result<Debugger, String> {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_reel"))
            .arg("debug")
            .arg(trace)
            .arg("--exe")
            .arg(example)
            .arg("--batch")
            .arg("--checkpoint-interval")
            .arg(interval.to_string())
            .env_remove("REEL_RECORD")
            .env_remove("REEL_REPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start reel debug: {error}"))?;
        let stdout = child.stdout.take().ok_or("no standard output")?;
        let stdin = child.stdin.take();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Debugger {
            child,
            stdin,
            lines,
            transcript: Vec::new(),
            notes: Vec::new(),
            started,
        })
    }

    /// The session's commands, timed.
    fn measure(&mut self, reverse_steps: u64) -> Result<SessionRun, String> {
        let ready = self.read_until(|line| line.contains("is paused at step 0"))?;
        self.notes.extend(
            ready
                .before
                .into_iter()
                .filter(|line| !line.starts_with("reel debug: ")),
        );
        let start = ready.at - self.started;

        let first_goto = self.timed_move(&format!("goto {TARGET_STEP}"), TARGET_STEP)?;
        let mut back = Vec::new();
        for k in 1..=reverse_steps {
            back.push(self.timed_move("reverse-step", TARGET_STEP - k)?);
        }
        let position = TARGET_STEP - reverse_steps;
        let long_jump =
            self.timed_move(&format!("reverse-step {LONG_JUMP}"), position - LONG_JUMP)?;
        let goto_again = self.timed_move(&format!("goto {TARGET_STEP}"), TARGET_STEP)?;

        self.send("when")?;
        self.read_echo("when")?;
        let when =
            self.read_until(|line| line.starts_with("step ") || line.starts_with("error:"))?;
        self.notes.extend(when.before);
        let expected = format!("step {TARGET_STEP} of ");
        if !when.line.starts_with(&expected) {
            return Err(format!(
                "`when` says {:?}, expected {expected:?}...",
                when.line
            ));
        }

        self.send("info checkpoints")?;
        self.read_echo("info checkpoints")?;
        let listing = self.read_until(|line| line.starts_with("(automatic checkpoints every "))?;
        let checkpoints = listing
            .before
            .iter()
            .filter(|line| line.contains(" step "))
            .count();
        let effective_interval = listing
            .line
            .trim_start_matches("(automatic checkpoints every ")
            .split(' ')
            .next()
            .and_then(|steps| steps.parse::<u64>().ok())
            .ok_or_else(|| format!("cannot read the interval in {:?}", listing.line))?;

        Ok(SessionRun {
            start,
            first_goto,
            reverse_steps: back,
            long_jump,
            goto_again,
            quit: Duration::ZERO,
            effective_interval,
            checkpoints,
            notes: Vec::new(),
        })
    }

    /// Sends a command that moves the replay, and times it up to the answer, which must say
    /// the replay is at step `expected`.
    fn timed_move(&mut self, command: &str, expected: u64) -> Result<Duration, String> {
        let sent = self.send(command)?;
        self.read_echo(command)?;
        let answer = self.read_until(|line| {
            line.starts_with('#')
                || line.starts_with("error:")
                || line.starts_with("the replay ")
                || line.starts_with("the program ended")
        })?;
        self.notes.extend(answer.before);
        let step = answer
            .line
            .strip_prefix('#')
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|step| step.parse::<u64>().ok());
        if step != Some(expected) {
            return Err(format!(
                "`{command}` answered {:?}, expected step {expected}",
                answer.line
            ));
        }
        Ok(answer.at - sent)
    }

    /// Writes one command line; returns when it was written.
    fn send(&mut self, command: &str) -> Result<Instant, String> {
        let stdin = self.stdin.as_mut().ok_or("standard input is closed")?;
        let sent = Instant::now();
        stdin
            .write_all(format!("{command}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|error| format!("cannot send {command:?}: {error}"))?;
        Ok(sent)
    }

    /// Reads lines up to the first that `wanted` accepts; returns it, when it was read, and
    /// the lines before it.
    fn read_until(&mut self, wanted: impl Fn(&str) -> bool) -> Result<Answer, String> {
        let mut before = Vec::new();
        loop {
            match self.lines.recv_timeout(ANSWER_TIMEOUT) {
                Ok((at, line)) => {
                    self.transcript.push(line.clone());
                    if wanted(&line) {
                        return Ok(Answer { at, line, before });
                    }
                    before.push(line);
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no answer in {} s (the debugger hangs?)",
                        ANSWER_TIMEOUT.as_secs()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map_or_else(
                        |error| format!("cannot wait for it: {error}"),
                        |status| status.to_string(),
                    );
                    return Err(format!(
                        "the debugger closed its output before answering ({status})"
                    ));
                }
            }
        }
    }

    /// Reads up to the echo of `command`; anything before it is a note.
    fn read_echo(&mut self, command: &str) -> Result<(), String> {
        let echo = format!("(reel) {command}");
        let answer = self.read_until(|line| line == echo)?;
        self.notes.extend(answer.before);
        Ok(())
    }

    /// Sends `quit` and checks that the debugger exits 0; returns how long it took.
    fn quit(&mut self) -> Result<Duration, String> {
        let sent = self.send("quit")?;
        drop(self.stdin.take());
        let deadline = sent + ANSWER_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(sent.elapsed()),
                Ok(Some(status)) => {
                    return Err(format!("the debugger exited with {status} after quit"));
                }
                Ok(None) if Instant::now() > deadline => {
                    self.kill();
                    return Err(format!(
                        "the debugger did not exit within {} s of quit",
                        ANSWER_TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(error) => return Err(format!("cannot wait for the debugger: {error}")),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line the debugger printed, when it was read, and the lines it printed before it.
struct Answer {
    at: Instant,
    line: String,
    before: Vec<String>,
}

/// One line of the table: medians over the sessions of an interval.
struct Row {
    interval: u64,
    effective_interval: u64,
    start: Duration,
    first_goto: Duration,
    reverse_median: Duration,
    reverse_max: Duration,
    long_jump: Duration,
    goto_again: Duration,
}

impl Row {
    fn from_runs(interval: u64, runs: &[SessionRun]) -> Row {
        let of = |figure: fn(&SessionRun) -> Duration| {
            median(&runs.iter().map(figure).collect::<Vec<_>>())
        };
        let back: Vec<Duration> = runs
            .iter()
            .flat_map(|run| run.reverse_steps.iter().copied())
            .collect();
        Row {
            interval,
            effective_interval: runs
                .iter()
                .map(|run| run.effective_interval)
                .max()
                .unwrap_or(0),
            start: of(|run| run.start),
            first_goto: of(|run| run.first_goto),
            reverse_median: median(&back),
            reverse_max: back.iter().copied().max().unwrap_or_default(),
            long_jump: of(|run| run.long_jump),
            goto_again: of(|run| run.goto_again),
        }
    }
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// A duration in a unit read at a glance.
fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 0.01 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.2} ms", seconds * 1e3)
    }
}

/// A count with thousands separators.
fn format_count(count: u64) -> String {
    let digits = count.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}
