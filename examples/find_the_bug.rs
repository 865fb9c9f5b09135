//! The main demo: reel finds all three bundled bugs, saves each failing run's trace, replays
//! the trace in a new process, and shows from the trace where the bug happened.
//!
//! Run with `cargo run --release --example find_the_bug`. For each scenario in
//! [`reel_suite::SCENARIOS`] it:
//! 1. explores the buggy version with random schedules, in a process of its own
//!    (`find_the_bug --explore NAME`, so that the trace's recorded command line re-runs just
//!    that scenario), and prints reel's report, which names the trace it saved
//!    (`target/reel/traces/...`);
//! 2. replays that trace in a fresh process (the same command with `REEL_REPLAY=<trace>`,
//!    which is what `reel replay <trace>` runs), which must reproduce the same failure at
//!    the same step;
//! 3. reads the trace and prints the steps that led to the failure, with their locations,
//!    and the `reel replay` / `reel debug` commands for it;
//! 4. checks that the fixed version survives the same budget.
//!
//! A chapter does the same for a bug of signal timing, `reel_suite::shutdown_race`: a
//! logger that loses a record when SIGTERM arrives between the record's write and its index
//! update. The exploration sends SIGTERM at a step it chooses (`Checker::signal`); the
//! trace holds the arrival, the replay delivers it after the same step, and `reel debug`
//! stops there with `break signal SIGTERM`.
//!
//! Then a bug of another kind: head-of-line blocking. A green thread calls std's blocking
//! `File::sync_all` while others are ready; reel's watchdog reports which thread held the
//! kernel thread, in which system call, where, and how many threads waited.
//!
//! The last chapter is a journaling server on loopback (`reel_suite::server`), run three
//! ways: std's blocking file calls inside green threads (the watchdog reports the stalls),
//! `reel::fs` on io_uring, and `reel::fs` on the helper pool, with their requests per second
//! side by side. A run is recorded, its port closed and its journal deleted, and the trace
//! replayed in a new process (`find_the_bug --server-replay TRACE MODE DIR`), which gets the
//! same replies and journal bytes without doing the I/O.
//!
//! Exits 0 when every bug was found and reproduced, 1 otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use reel::FailureKind;
use reel::reel_trace::{self, Trace};
use reel::signal::SIGTERM;
use reel_suite::server::{self, Load, Mode, Outcome};
use reel_suite::{SCENARIOS, SEARCH_BUDGET, Scenario, shutdown_race};

/// The chapter on signal timing: explored with a SIGTERM at a chosen step.
const SHUTDOWN_RACE: Scenario = Scenario {
    name: "shutdown_race",
    headline: "Shutdown race: SIGTERM between a log record's write and its index update",
    buggy: shutdown_race::buggy,
    fixed: shutdown_race::fixed,
    expected_failure: FailureKind::Panic,
    message_contains: shutdown_race::BUG_MESSAGE,
};

/// The checker a scenario is explored with: random schedules, and for the shutdown race a
/// SIGTERM at a step the exploration chooses.
fn checker(scenario: &Scenario) -> reel::Checker {
    let checker = reel::Checker::new().random().iterations(SEARCH_BUDGET);
    if scenario.name == SHUTDOWN_RACE.name {
        checker.signal(SIGTERM)
    } else {
        checker
    }
}

/// How many of the steps before the failure the trace excerpt shows.
const STEPS_SHOWN: usize = 8;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, name] = args.as_slice()
        && flag == "--explore"
    {
        return explore(name);
    }
    if let [_, flag, trace, mode, dir] = args.as_slice()
        && flag == "--server-replay"
    {
        return server_replay(Path::new(trace), mode, Path::new(dir));
    }

    let mut unexpected = Vec::new();
    let mut traces = Vec::new();
    for (number, scenario) in SCENARIOS.iter().chain([&SHUTDOWN_RACE]).enumerate() {
        let rule = "=".repeat(78);
        println!("{rule}");
        println!("{}. {}", number + 1, scenario.headline);
        println!(
            "   reel_suite::{}::buggy, up to {SEARCH_BUDGET} random schedules",
            scenario.name
        );
        println!("{rule}");
        match find_and_replay(scenario) {
            Ok(trace) => traces.push((scenario.name, trace)),
            Err(problem) => {
                println!("-> {problem}");
                unexpected.push(scenario.name);
            }
        }
        let fixed_report = checker(scenario).run(scenario.fixed);
        if fixed_report.found() {
            println!("-> the fixed version failed too:\n{fixed_report}");
            unexpected.push(scenario.name);
        } else {
            println!(
                "-> reel_suite::{}::fixed passed all {} schedules.",
                scenario.name, fixed_report.iterations
            );
        }
        println!();
    }

    if let Err(problem) = head_of_line_stall() {
        println!("-> {problem}");
        unexpected.push("the head-of-line stall");
    }

    if let Err(problem) = with_the_reel_command(&traces) {
        println!("-> {problem}");
        unexpected.push("the reel command");
    }

    if let Err(problem) = server_three_ways() {
        println!("-> {problem}");
        unexpected.push("the server");
    }

    if unexpected.is_empty() {
        println!(
            "All {} bugs found, saved, replayed and located; all fixes hold.",
            SCENARIOS.len() + 1
        );
        ExitCode::SUCCESS
    } else {
        println!("Not as expected: {}", unexpected.join(", "));
        ExitCode::FAILURE
    }
}

/// Finds the scenario's bug (in a process of its own), replays its trace in a new process,
/// and shows where it happened.
fn find_and_replay(scenario: &Scenario) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let output = Command::new(&exe)
        .args(["--explore", scenario.name])
        .env_remove("REEL_REPLAY")
        .output()
        .map_err(|error| format!("could not start the exploration: {error}"))?;
    let report = String::from_utf8_lossy(&output.stdout);
    print!("{report}");
    if !output.status.success() {
        return Err(format!(
            "bug NOT found in {SEARCH_BUDGET} schedules{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let trace_path = report
        .lines()
        .find_map(|line| line.strip_prefix("trace saved: "))
        .map(PathBuf::from)
        .ok_or("the report names no saved trace")?;
    let trace = reel_trace::read_file(&trace_path).map_err(|error| error.to_string())?;
    let outcome = trace.outcome.as_ref().ok_or("the trace has no outcome")?;
    let iteration = trace.header.run.iteration.unwrap_or(0);
    println!("-> bug found at schedule {iteration} of {SEARCH_BUDGET}.");

    // Replay in a new process, as CI's saved trace would be on another machine.
    let output = Command::new(&exe)
        .args(["--explore", scenario.name])
        .env("REEL_REPLAY", &trace_path)
        .output()
        .map_err(|error| format!("could not start the replay: {error}"))?;
    let replay_output = String::from_utf8_lossy(&output.stdout);
    let expected = format!("at step {}: {}", outcome.step, outcome.message);
    if !output.status.success() || !replay_output.contains(&expected) {
        return Err(format!(
            "the replay did not reproduce the failure:\n{replay_output}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    println!(
        "-> replayed {} in a new process: the same {} at step {}.",
        trace_path.display(),
        outcome.kind.name(),
        outcome.step
    );
    show_where(&trace, &trace_path);
    let path = trace_path.display();
    println!("-> replay it again, on this machine or another: reel replay {path}");
    println!("-> step through it, forwards and backwards:    reel debug {path}");
    println!("   (reel is the workspace's CLI: cargo run --release -p reel-cli -- replay {path})");
    Ok(trace_path)
}

/// The debugger's script for the deadlock: run to the end, look at the threads, the locks
/// and a stack, then go back two steps, to before the cycle closed.
const DEADLOCK_SESSION: &str = "\
continue
info threads
locks
bt T1
reverse-step 2
info threads
events
";

/// The traces again, with the `reel` command (built here if it is not yet): each replayed
/// by `reel replay`, and the deadlock stepped through by `reel debug`.
fn with_the_reel_command(traces: &[(&str, PathBuf)]) -> Result<(), String> {
    let rule = "=".repeat(78);
    println!("{rule}");
    println!("The saved traces, replayed and debugged with the reel command");
    println!("{rule}");
    let workspace = env!("CARGO_MANIFEST_DIR");
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(workspace)
        .args(["build", "--quiet", "-p", "reel-cli", "--bin", "reel"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let built = build
        .status()
        .map_err(|error| format!("could not build the reel command: {error}"))?;
    if !built.success() {
        return Err("building the reel command failed".into());
    }
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let reel = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("reel"))
        .ok_or("no target directory")?;
    for (name, trace) in traces {
        println!("$ reel replay {}", trace.display());
        let output = Command::new(&reel)
            .arg("replay")
            .arg(trace)
            .env_remove("REEL_REPLAY")
            .output()
            .map_err(|error| format!("could not run reel: {error}"))?;
        let verdict = String::from_utf8_lossy(&output.stdout);
        let verdict = verdict
            .lines()
            .rev()
            .find(|line| line.starts_with("reproduced") || line.starts_with("diverged"))
            .unwrap_or("(no verdict)");
        println!("{verdict}");
        if !output.status.success() {
            return Err(format!("reel replay did not reproduce the {name} trace"));
        }
    }
    let Some((_, deadlock)) = traces.iter().find(|(name, _)| *name == "lock_order") else {
        return Ok(());
    };
    println!();
    println!(
        "$ reel debug {}   (commands on standard input)",
        deadlock.display()
    );
    let mut session = Command::new(&reel)
        .arg("debug")
        .arg(deadlock)
        .env_remove("REEL_REPLAY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|error| format!("could not run reel: {error}"))?;
    if let Some(mut stdin) = session.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(DEADLOCK_SESSION.as_bytes());
    }
    let output = session
        .wait_with_output()
        .map_err(|error| format!("reel debug failed: {error}"))?;
    let transcript = String::from_utf8_lossy(&output.stdout);
    // The program's own output (its exploration banner) comes first; the session after it.
    let start = transcript.find("reel debug:").unwrap_or(0);
    print!("{}", &transcript[start..]);
    if !output.status.success() || !transcript.contains("wait-for cycle (a deadlock)") {
        return Err("the debugger session did not show the deadlock".into());
    }
    println!();
    if let Some((_, shutdown)) = traces.iter().find(|(name, _)| *name == SHUTDOWN_RACE.name) {
        debug_the_signal(&reel, shutdown)?;
    }
    Ok(())
}

/// The shutdown race's trace in the debugger: stop where SIGTERM arrived, look at the
/// events around it, and run to the lost record.
fn debug_the_signal(reel: &Path, trace: &Path) -> Result<(), String> {
    println!(
        "$ reel debug {}   (commands on standard input)",
        trace.display()
    );
    let mut session = Command::new(reel)
        .arg("debug")
        .arg(trace)
        .env_remove("REEL_REPLAY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|error| format!("could not run reel: {error}"))?;
    if let Some(mut stdin) = session.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"break signal SIGTERM\ncontinue\nevents\ncontinue\n");
    }
    let output = session
        .wait_with_output()
        .map_err(|error| format!("reel debug failed: {error}"))?;
    let transcript = String::from_utf8_lossy(&output.stdout);
    let start = transcript.find("reel debug:").unwrap_or(0);
    print!("{}", &transcript[start..]);
    if !transcript.contains("breakpoint 1: signal SIGTERM arrives") {
        return Err("the debugger did not stop at the SIGTERM".into());
    }
    println!();
    Ok(())
}

/// How many MiB the logger writes before its `sync_all`: more on each attempt, until an
/// fsync takes longer than the threshold (its duration is up to the disk).
static LOG_MEGABYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(4);

/// A plain run in which a "logger" green thread calls std's blocking `File::sync_all` while
/// three workers are ready: the watchdog reports the stall on stderr when it ends, and the
/// recording holds it as a stall event.
fn head_of_line_stall() -> Result<(), String> {
    use reel::reel_trace::Event;
    use std::io::Write;
    use std::time::Duration;

    let rule = "=".repeat(78);
    println!("{rule}");
    println!(
        "{}. Head-of-line blocking: a std blocking call holds every green thread",
        SCENARIOS.len() + 2
    );
    println!("{rule}");
    let dir = std::env::temp_dir().join(format!("reel-find-the-bug-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let trace_path = dir.join("stall.reel");
    for _attempt in 0..4 {
        let log_path = dir.join("app.log");
        // A low threshold, so that an fsync counts even on a fast disk (the default is
        // 100 ms; REEL_STALL_MS sets it for any program).
        reel::Runtime::new()
            .stall_threshold(Some(Duration::from_millis(2)))
            .record(&trace_path)
            .run(|| {
                let done = reel::sync::Arc::new(reel::sync::atomic::AtomicUsize::new(0));
                let logger = reel::thread::Builder::new()
                    .name("logger".to_string())
                    .spawn(move || {
                        let megabytes = LOG_MEGABYTES.load(std::sync::atomic::Ordering::SeqCst);
                        let mut log = std::fs::File::create(&log_path).unwrap();
                        log.write_all(&vec![b'.'; megabytes << 20]).unwrap();
                        reel::thread::yield_now();
                        log.sync_all().unwrap(); // Blocks the kernel thread: every green thread.
                        reel::thread::yield_now();
                        drop(log);
                        std::fs::remove_file(&log_path).unwrap();
                    })
                    .unwrap();
                let workers: Vec<_> = (0..3)
                    .map(|_| {
                        let done = reel::sync::Arc::clone(&done);
                        // Work in small pieces: ready to run whenever the logger lets go.
                        reel::thread::spawn(move || {
                            for _ in 0..100 {
                                done.fetch_add(1, reel::sync::atomic::Ordering::SeqCst);
                                reel::thread::yield_now();
                            }
                        })
                    })
                    .collect();
                logger.join().unwrap();
                for worker in workers {
                    worker.join().unwrap();
                }
            });
        let trace = reel_trace::read_file(&trace_path).map_err(|error| error.to_string())?;
        let stall = trace.events.iter().find_map(|event| match event {
            Event::Stall(stall) if stall.syscall.as_deref() == Some("fsync") => Some(stall),
            _ => None,
        });
        if let Some(stall) = stall {
            println!(
                "-> the watchdog reported it (above, on stderr); the trace {} holds it too:",
                trace_path.display()
            );
            println!(
                "   {} held the kernel thread for {} ms in fsync(2) at {}; {} ready threads waited",
                trace.thread_name(stall.thread),
                stall.duration_micros / 1000,
                stall
                    .location
                    .as_ref()
                    .map_or("an unknown place".to_owned(), ToString::to_string),
                stall.ready
            );
            println!("-> list it with: reel show {}", trace_path.display());
            println!();
            return Ok(());
        }
        LOG_MEGABYTES.fetch_add(
            LOG_MEGABYTES.load(std::sync::atomic::Ordering::SeqCst) * 3,
            std::sync::atomic::Ordering::SeqCst,
        );
    }
    Err("the fsync was never slow enough to be reported".to_owned())
}

/// One scenario's exploration (`--explore NAME`); with REEL_REPLAY, the Checker replays the
/// trace instead of exploring. Exits 0 when the bug was found (or its replay reproduced it).
fn explore(name: &str) -> ExitCode {
    let Some(scenario) = SCENARIOS
        .iter()
        .chain([&SHUTDOWN_RACE])
        .find(|scenario| scenario.name == name)
    else {
        eprintln!("no bundled scenario named {name}");
        return ExitCode::FAILURE;
    };
    let report = checker(scenario).name(scenario.name).run(scenario.buggy);
    println!("{report}");
    if report.found() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints, from the trace alone, the steps that led to the recorded outcome.
fn show_where(trace: &Trace, path: &Path) {
    let Some(outcome) = &trace.outcome else {
        return;
    };
    println!(
        "-> where it happened, read from {} ({} steps, {} bytes):",
        path.display(),
        trace.steps,
        trace.bytes
    );
    let steps: Vec<_> = trace.step_events().collect();
    let first = steps.len().saturating_sub(STEPS_SHOWN);
    for (index, step) in steps.iter().enumerate().skip(first) {
        println!(
            "   #{:<4} {:<22} {:<26} {}",
            index + 1,
            trace.thread_name(step.thread),
            trace.operation(step),
            trace.location_text(step.location)
        );
    }
    println!("   => {}", trace.describe_outcome(outcome));
}

/// The server chapter: the three modes side by side, the watchdog's report of the
/// std-blocking mode's stalls, and a recorded run replayed in a new process with the port
/// closed and the journal deleted.
fn server_three_ways() -> Result<(), String> {
    use reel::reel_trace::Event;
    use std::time::Duration;

    let rule = "=".repeat(78);
    println!("{rule}");
    println!(
        "{}. A journaling server, three ways: std blocking calls, io_uring, the helper pool",
        SCENARIOS.len() + 3
    );
    println!("{rule}");
    let load = Load::DEMO;
    println!(
        "{} clients x {} requests on 127.0.0.1, each client a green thread with one request in \
         flight;\neach request: {} rounds of mixing, a journal line, fdatasync(2), an 8-byte reply",
        load.clients, load.requests, load.rounds
    );
    let mut figures = Vec::new();
    for mode in Mode::ALL {
        let dir = server::temp_dir(mode.name());
        let run = server::run(mode, &load, &dir, server::runtime(mode));
        let _ = std::fs::remove_dir_all(&dir);
        figures.push(run);
    }
    let std_rate = figures[0].per_second();
    println!(
        "   {:<13} {:<20} {:>9} {:>16} {:>20} {:>9}",
        "mode", "file calls", "req/s", "vs std blocking", "digest of replies", "journal"
    );
    for run in &figures {
        println!(
            "   {:<13} {:<20} {:>9.0} {:>15.2}x {:>#20x} {:>7} B",
            run.mode.name(),
            run.backend,
            run.per_second(),
            run.per_second() / std_rate,
            run.outcome.digest,
            run.outcome.journal_bytes
        );
    }
    let expected = server::expected_digest(&load);
    if figures.iter().any(|run| {
        run.outcome.digest != expected
            || run.outcome.journal_bytes != figures[0].outcome.journal_bytes
    }) {
        return Err("the three modes did not give the same replies and journal length".into());
    }
    println!("-> the same replies and journal length each way.");
    if figures[1].backend != "io_uring" {
        println!(
            "-> io_uring is not available here: the uring mode ran on the helper pool ({}).",
            figures[1].backend
        );
    }

    // The std-blocking mode again, with the watchdog's threshold at its finest (it ticks
    // every 0.5 ms at most), near an fsync's time.
    let dir = server::temp_dir("watchdog");
    let trace_path = dir.with_extension("reel");
    let mut stalls = Vec::new();
    // An fsync's time on a shared disk swings from a tenth of a millisecond to several:
    // a few tries, until one is slow enough to be a stall.
    for _attempt in 0..5 {
        let runtime = server::runtime(Mode::StdBlocking)
            .stall_threshold(Some(Duration::from_micros(500)))
            .record(&trace_path);
        server::run(Mode::StdBlocking, &load, &dir, runtime);
        let _ = std::fs::remove_dir_all(&dir);
        let trace = reel_trace::read_file(&trace_path).map_err(|error| error.to_string())?;
        stalls = trace
            .events
            .iter()
            .filter_map(|event| match event {
                Event::Stall(stall) => Some(format!(
                    "{} held the kernel thread for {:.1} ms in {} at {}; {} ready threads waited",
                    trace.thread_name(stall.thread),
                    stall.duration_micros as f64 / 1000.0,
                    stall
                        .syscall
                        .as_deref()
                        .map_or("computing".to_owned(), |call| format!("{call}(2)")),
                    stall
                        .location
                        .as_ref()
                        .map_or("an unknown place".to_owned(), ToString::to_string),
                    stall.ready
                )),
                _ => None,
            })
            .collect();
        if !stalls.is_empty() {
            break;
        }
    }
    let _ = std::fs::remove_file(&trace_path);
    match stalls.first() {
        Some(first) => println!(
            "-> std blocking, with the watchdog at 0.5 ms: {} stall(s) reported (above, on stderr); \
             the first:\n   {first}",
            stalls.len()
        ),
        None => println!(
            "-> std blocking, with the watchdog at 0.5 ms: in 5 runs no fsync took that long on \
             this disk, so no stall was reported"
        ),
    }

    // A recorded run, replayed in a new process with the world gone.
    let mode = Mode::Uring;
    let dir = server::temp_dir("recorded");
    let trace_path = dir.with_extension("reel");
    let recorded = server::run(mode, &load, &dir, server::runtime(mode).record(&trace_path));
    let trace = reel_trace::read_file(&trace_path).map_err(|error| error.to_string())?;
    println!(
        "-> recorded a {} run ({}) to {} ({} steps, {} bytes)",
        mode.name(),
        recorded.backend,
        trace_path.display(),
        trace.steps,
        trace.bytes
    );
    std::fs::remove_dir_all(&dir).map_err(|error| error.to_string())?;
    let refused = std::net::TcpStream::connect(recorded.outcome.address).is_err();
    println!(
        "-> deleted the journal ({}); the server is gone: {}",
        dir.display(),
        if refused {
            format!(
                "its port {} is closed (a connection is refused)",
                recorded.outcome.address
            )
        } else {
            format!(
                "another process listens on its port {} now",
                recorded.outcome.address
            )
        }
    );
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let output = Command::new(&exe)
        .arg("--server-replay")
        .arg(&trace_path)
        .arg(mode.name())
        .arg(&dir)
        .env_remove("REEL_REPLAY")
        .output()
        .map_err(|error| format!("could not start the replay: {error}"))?;
    let _ = std::fs::remove_file(&trace_path);
    let child = String::from_utf8_lossy(&output.stdout);
    let replayed = child
        .lines()
        .find_map(|line| line.strip_prefix("outcome: "))
        .and_then(Outcome::from_line);
    if !output.status.success() || replayed.as_ref() != Some(&recorded.outcome) {
        return Err(format!(
            "the replay did not give the recorded outcome:\n{child}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    println!(
        "-> replayed in a new process ({} --server-replay ...): the same outcome, the same bytes:",
        exe.file_name()
            .map_or("find_the_bug".into(), |name| name.to_string_lossy())
    );
    println!(
        "   {} requests, digest of replies {:#018x}, journal {} bytes with hash {:#018x}",
        recorded.outcome.requests,
        recorded.outcome.digest,
        recorded.outcome.journal_bytes,
        recorded.outcome.journal_hash
    );
    for line in child.lines().filter(|line| line.starts_with("   ")) {
        println!("{line}");
    }
    println!(
        "   (tests/server.rs checks with strace that a replay makes no socket or journal system call)"
    );
    println!();
    Ok(())
}

/// The server's replay, in a process of its own (`--server-replay TRACE MODE DIR`): prints
/// the outcome, and the read and write system calls the replay made.
fn server_replay(trace: &Path, mode: &str, dir: &Path) -> ExitCode {
    let Some(mode) = Mode::parse(mode) else {
        eprintln!("no server mode named {mode}");
        return ExitCode::FAILURE;
    };
    let replay = match reel::Replay::from_file(trace) {
        Ok(replay) => replay,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    // Checking that the trace is this program's reads this executable: before counting.
    if let Err(error) = replay.check_program() {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    // Reading /proc/self/io takes system calls too: counted once, and taken off.
    let (first, second) = (server::syscall_counts(), server::syscall_counts());
    let reading = first
        .zip(second)
        .map(|(first, second)| (second.0 - first.0, second.1 - first.1));
    let before = server::syscall_counts();
    let replayed = server::replay(&replay, mode, &Load::DEMO, dir);
    let after = server::syscall_counts();
    let (outcome, report) = match replayed {
        Ok(replayed) => replayed,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    if !report.reproduced() {
        eprint!("{report}");
        return ExitCode::FAILURE;
    }
    println!("outcome: {}", outcome.to_line());
    println!(
        "   the replay followed all {} recorded steps and reproduced the recording",
        report.steps
    );
    if let (Some((reads_before, writes_before)), Some((reads_after, writes_after)), Some(reading)) =
        (before, after, reading)
    {
        let reads = (reads_after - reads_before).saturating_sub(reading.0);
        let writes = (writes_after - writes_before).saturating_sub(reading.1);
        println!(
            "   and {}: {reads} read and {writes} write system calls during the replay \
             (/proc/self/io, less its own reading); the journal's directory was {}",
            if reads == 0 && writes == 0 {
                "did no I/O"
            } else {
                "made system calls it should not have (!)"
            },
            if dir.exists() {
                "created again (!)"
            } else {
                "not created again"
            }
        );
    }
    ExitCode::SUCCESS
}
