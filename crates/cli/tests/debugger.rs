//! End-to-end tests of `reel replay` and `reel debug`: the built binary replays the committed
//! traces in the example programs that recorded them, and scripted debugger sessions step,
//! break, inspect threads, locks, backtraces and code, go backwards, and survive the
//! program's death.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use reel_trace::OpKind;
use support::{committed_trace, example, reel, reencode, temp_dir};

/// Each committed trace and the phrase its reproduced outcome reads with.
const TRACES: [(&str, &str); 4] = [
    ("lost_update", "panic at step 21"),
    ("lock_order", "deadlock at step 7"),
    ("check_then_act", "panic at step 17"),
    ("pipeline", "ok: the run ended after step 332"),
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn replay(name: &str, extra: &[&str]) -> Output {
    reel()
        .arg("replay")
        .arg(committed_trace(name))
        .arg("--exe")
        .arg(example(name))
        .args(extra)
        .output()
        .expect("reel runs")
}

/// Runs a debugger script on a committed trace; returns its standard output.
fn debug_script(name: &str, script: &str, extra: &[&str]) -> (Output, String) {
    let dir = temp_dir(&format!("script-{name}-{}", script.len()));
    let path = dir.join("commands");
    std::fs::write(&path, script).expect("the script is written");
    let output = reel()
        .arg("debug")
        .arg(committed_trace(name))
        .arg("--exe")
        .arg(example(name))
        .arg("--batch")
        .arg("-x")
        .arg(&path)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("reel runs");
    let stdout = text(&output.stdout);
    assert!(
        !text(&output.stderr).contains("panicked at crates/cli"),
        "{}",
        text(&output.stderr)
    );
    (output, stdout)
}

/// The answer to each command of a batch session, by its position in the script.
fn answers(stdout: &str) -> Vec<String> {
    stdout
        .split("(reel) ")
        .skip(1)
        .map(|answer| {
            answer
                .split_once('\n')
                .map_or("", |(_, rest)| rest)
                .to_owned()
        })
        .collect()
}

/// Checks a divergence report of the lock_order trace whose step 5 was changed from a lock to
/// an unlock: each side on its own line ("lock Mutex#0" alone would also match the trace's
/// "unlock Mutex#0"), both at the same call of lock.
fn assert_step_5_unlock_vs_lock(report: &str) {
    assert!(report.contains("diverged at step 5:\n"), "{report}");
    let side = |label: &str| {
        let line = report
            .lines()
            .find_map(|line| line.trim_start().strip_prefix(label))
            .unwrap_or_else(|| panic!("no line starting with {label:?}: {report}"));
        let (step, location) = line
            .trim()
            .split_once(" at ")
            .unwrap_or_else(|| panic!("{label:?} names no location: {report}"));
        (step.to_owned(), location.to_owned())
    };
    let (expected, expected_at) = side("the trace has:");
    let (actual, actual_at) = side("the program:");
    assert_eq!(
        expected, "T0 'main' unlock Mutex#0",
        "the trace's side: {report}"
    );
    assert_eq!(
        actual, "T0 'main' lock Mutex#0",
        "the program's side: {report}"
    );
    // The edit changed the operation only: both sides are at the same call of lock.
    assert_eq!(expected_at, actual_at, "{report}");
    assert!(expected_at.starts_with("src/lib.rs:"), "{report}");
}

#[test]
fn replay_of_every_committed_trace_reproduces_its_outcome() {
    for (name, outcome) in TRACES {
        let output = replay(name, &[]);
        let stdout = text(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {stdout}\n{}",
            text(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("reproduced: {outcome}")),
            "{name}: {stdout}"
        );

        let output = replay(name, &["--json"]);
        assert_eq!(output.status.code(), Some(0), "{name}");
        let verdict: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("--json prints one JSON object");
        assert_eq!(verdict["verdict"], "reproduced", "{verdict}");
        assert!(
            verdict["recorded_outcome"]
                .as_str()
                .unwrap_or("")
                .contains(outcome)
        );
    }
}

#[test]
fn replay_of_a_trace_the_program_does_not_follow_names_the_first_divergence() {
    let trace = reel_trace::read_file(committed_trace("lock_order")).expect("decodes");
    let (bytes, _) = reencode(&trace, 1000, |number, step| {
        if number == 5 {
            step.op = OpKind::Unlock;
        }
    });
    let dir = temp_dir("diverges");
    let path = dir.join("changed.reel");
    std::fs::write(&path, bytes).expect("written");
    let output = reel()
        .arg("replay")
        .arg(&path)
        .arg("--exe")
        .arg(example("lock_order"))
        .output()
        .expect("reel runs");
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_step_5_unlock_vs_lock(&stdout);
}

#[test]
fn replay_with_the_wrong_or_a_missing_program_says_so() {
    let output = reel()
        .arg("replay")
        .arg(committed_trace("lost_update"))
        .arg("--exe")
        .arg(example("lock_order"))
        .output()
        .expect("reel runs");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("without replaying the trace"), "{stderr}");

    let output = reel()
        .arg("replay")
        .arg(committed_trace("lost_update"))
        .arg("--exe")
        .arg("/nonexistent/lost_update")
        .output()
        .expect("reel runs");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot run the program /nonexistent/lost_update"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

/// The row of thread `id` in an `info threads` answer: whether it is marked current, and its
/// other words (name, state, location).
fn thread_row<'a>(threads: &'a str, id: &str) -> (bool, Vec<&'a str>) {
    threads
        .lines()
        .find_map(|line| {
            let (current, row) = match line.strip_prefix("* ") {
                Some(row) => (true, row),
                None => (false, line),
            };
            let mut words = row.split_whitespace();
            (words.next() == Some(id)).then(|| (current, words.collect()))
        })
        .unwrap_or_else(|| panic!("no row for {id}: {threads}"))
}

/// The line of `object` in a `locks` answer.
fn lock_line<'a>(locks: &'a str, object: &str) -> &'a str {
    locks
        .lines()
        .find(|line| line.split_whitespace().next() == Some(object))
        .unwrap_or_else(|| panic!("no line for {object}: {locks}"))
}

#[test]
fn a_scripted_session_steps_breaks_inspects_goes_back_and_reaches_the_deadlock() {
    let script = "\
step 3
info threads
break src/lib.rs:248
continue
bt T1
disas T1
locks
reverse-step 2
when
info threads
continue
continue
continue
continue
info threads
locks
bt T0
";
    let (output, stdout) = debug_script("lock_order", script, &[]);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let answers = answers(&stdout);
    assert_eq!(answers.len(), 17, "{stdout}");
    // step 3: the fourth step is next... step 3 pauses at step 3.
    assert!(answers[0].starts_with("#3 "), "{}", answers[0]);
    // info threads: the one taking the step runs, the other can.
    let (current, t1) = thread_row(&answers[1], "T1");
    assert!(current && t1[1] == "running", "{}", answers[1]);
    let (current, t0) = thread_row(&answers[1], "T0");
    assert!(!current && t0[1] == "runnable", "{}", answers[1]);
    assert!(
        answers[2].contains("breakpoint 1: src/lib.rs:248"),
        "{}",
        answers[2]
    );
    // continue: the next step at line 248 is #5.
    assert!(
        answers[3].starts_with("breakpoint 1: #5 "),
        "{}",
        answers[3]
    );
    // bt of T1, suspended (T0 takes step 5), in the program's function.
    assert!(
        answers[4].starts_with("T1 'alice-pays-bob':"),
        "{}",
        answers[4]
    );
    assert!(
        answers[4].contains("transfer_locking_source_first"),
        "{}",
        answers[4]
    );
    assert!(answers[4].contains("src/lib.rs:248"), "{}", answers[4]);
    assert!(
        !answers[4].contains("reel::"),
        "runtime frames are left out: {}",
        answers[4]
    );
    // disas: capstone's listing with the call in progress marked.
    assert!(answers[5].contains("=> 0x"), "{}", answers[5]);
    assert!(
        answers[5]
            .lines()
            .filter(|line| line.contains(": "))
            .count()
            > 5,
        "{}",
        answers[5]
    );
    // locks: each thread holds the mutex the other is about to lock.
    assert!(
        lock_line(&answers[6], "Mutex#0").contains(" held by T1 'alice-pays-bob' "),
        "{}",
        answers[6]
    );
    assert!(
        lock_line(&answers[6], "Mutex#1").contains(" held by T0 'main' "),
        "{}",
        answers[6]
    );
    // reverse-step 2: back at step 3, where T0 had not locked anything yet.
    assert!(answers[7].starts_with("#3 "), "{}", answers[7]);
    assert!(answers[8].starts_with("step 3 of 7"), "{}", answers[8]);
    assert!(thread_row(&answers[9], "T1").0, "{}", answers[9]);
    let (_, t0) = thread_row(&answers[9], "T0");
    assert!(
        t0.last()
            .is_some_and(|at| at.starts_with("src/lib.rs:292:")),
        "T0 is back at its spawn: {}",
        answers[9]
    );
    assert!(
        answers[10].starts_with("breakpoint 1: #5 "),
        "{}",
        answers[10]
    );
    assert!(
        answers[11].starts_with("breakpoint 1: #6 "),
        "{}",
        answers[11]
    );
    assert!(
        answers[12].starts_with("breakpoint 1: #7 "),
        "{}",
        answers[12]
    );
    // The end: the recorded deadlock, every thread in place.
    assert!(
        answers[13].contains("reproduced the recording: deadlock"),
        "{}",
        answers[13]
    );
    assert_eq!(
        answers[14].matches("blocked: lock").count(),
        2,
        "{}",
        answers[14]
    );
    assert!(
        answers[15].contains("wait-for cycle (a deadlock)"),
        "{}",
        answers[15]
    );
    assert!(
        answers[16].contains("transfer_locking_source_first"),
        "{}",
        answers[16]
    );
}

#[test]
fn the_session_reaches_the_recorded_deadlock_with_every_thread_blocked() {
    let (output, stdout) = debug_script("lock_order", "continue\ninfo threads\nlocks\nwhen\n", &[]);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let answers = answers(&stdout);
    assert!(
        answers[0].contains("reproduced the recording: deadlock at step 7"),
        "{}",
        answers[0]
    );
    assert_eq!(
        answers[1].matches("blocked: lock").count(),
        2,
        "{}",
        answers[1]
    );
    assert!(
        answers[2].contains("wait-for cycle (a deadlock): T"),
        "{}",
        answers[2]
    );
    assert!(
        answers[3].contains("the replay has ended"),
        "{}",
        answers[3]
    );
}

#[test]
fn a_panic_breakpoint_stops_in_the_panicking_thread_before_it_unwinds() {
    let script = "break panic\ncontinue\nbt\ncontinue\nreverse-step\nwhen\n";
    let (output, stdout) = debug_script("lost_update", script, &[]);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let answers = answers(&stdout);
    assert!(
        answers[1].contains("T0 'main' panicked at src/lib.rs:168"),
        "{}",
        answers[1]
    );
    assert!(answers[1].contains("lost update"), "{}", answers[1]);
    assert!(answers[2].contains("count_with at "), "{}", answers[2]);
    assert!(answers[2].contains("src/lib.rs:168"), "{}", answers[2]);
    assert!(
        answers[3].contains("reproduced the recording: panic at step 21"),
        "{}",
        answers[3]
    );
    // One step back from the end is the last step.
    assert!(answers[4].starts_with("#21 "), "{}", answers[4]);
    assert!(answers[5].starts_with("step 21 of 21"), "{}", answers[5]);
}

#[test]
fn reverse_steps_restore_automatic_checkpoints() {
    let script = "goto 300\ninfo checkpoints\nreverse-step 10\nevents\ngoto 120\nrestart\nwhen\n";
    let (output, stdout) = debug_script("pipeline", script, &["--checkpoint-interval", "50"]);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let answers = answers(&stdout);
    assert!(answers[0].starts_with("#300 "), "{}", answers[0]);
    for step in [0, 50, 100, 150, 200, 250, 300] {
        assert!(
            answers[1].contains(&format!("step {step} ")),
            "a checkpoint at {step}: {}",
            answers[1]
        );
    }
    assert!(answers[2].starts_with("#290 "), "{}", answers[2]);
    assert!(answers[3].contains("=> #290 "), "{}", answers[3]);
    assert!(answers[4].starts_with("#120 "), "{}", answers[4]);
    assert!(
        answers[5].contains("at the start (step 0)"),
        "{}",
        answers[5]
    );
    assert!(answers[6].starts_with("step 0 of 332"), "{}", answers[6]);
}

#[test]
fn mistyped_commands_get_a_suggestion_and_the_session_goes_on() {
    let script = "stpe\nstep x\ngoto\nbreak thread 9\nbt T7\nhelp rc\nstep\n";
    let (output, stdout) = debug_script("lock_order", script, &[]);
    // A batch session with failed commands exits 1.
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let answers = answers(&stdout);
    assert!(
        answers[0].contains("unknown command 'stpe'. Did you mean 'step'?"),
        "{}",
        answers[0]
    );
    assert!(answers[1].contains("usage: step [N]"), "{}", answers[1]);
    assert!(answers[2].contains("usage: goto N"), "{}", answers[2]);
    assert!(
        answers[3].contains("there is no thread T9"),
        "{}",
        answers[3]
    );
    // bt before the first step: there are no stacks to show yet.
    assert!(
        answers[4].starts_with("error: the program has not started"),
        "{}",
        answers[4]
    );
    // help of an alias: that one command, under its full name.
    assert!(
        answers[5].starts_with("reverse-continue\n") && answers[5].contains("also: rc"),
        "{}",
        answers[5]
    );
    assert!(answers[6].starts_with("#1 "), "{}", answers[6]);
}

/// A debugger driven line by line through pipes.
struct Interactive {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Interactive {
    fn start(name: &str) -> Interactive {
        let mut child = reel()
            .arg("debug")
            .arg(committed_trace(name))
            .arg("--exe")
            .arg(example(name))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("reel starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Interactive {
            child,
            stdin,
            lines,
        }
    }

    /// Sends a command and returns the lines up to one containing `until`.
    fn command(&mut self, command: &str, until: &str) -> Vec<String> {
        writeln!(self.stdin, "{command}").expect("reel reads");
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let done = line.contains(until);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no '{until}' after {command}: {seen:?}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("reel ended before '{until}' after {command}: {seen:?}")
                }
            }
        }
    }
}

#[test]
fn the_debugger_survives_the_death_of_the_program_and_restarts_it() {
    let mut debugger = Interactive::start("lock_order");
    debugger.command("step 2", "#2 ");
    let when = debugger.command("when", "step 2 of 7");
    let pid: i32 = when
        .last()
        .and_then(|line| line.split("(pid ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("a pid in {when:?}"));
    // SAFETY: kill sends a signal to the debugged program's process; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let died = debugger.command("step", "error:");
    assert!(
        died.last()
            .is_some_and(|line| line.contains("killed by signal 9 (SIGKILL)")),
        "{died:?}"
    );
    debugger.command("when", "the program ended");
    // Back from the start's checkpoint, and on.
    debugger.command("restart", "at the start (step 0)");
    debugger.command("step 4", "#4 ");
    debugger.command("reverse-step", "#3 ");
    writeln!(debugger.stdin, "quit").expect("reel reads");
    drop(debugger.stdin);
    let status = debugger.child.wait().expect("reel ends");
    // A session fed on standard input is a batch: the failed `step` makes its status 1.
    assert_eq!(status.code(), Some(1), "{status}");
    // SAFETY: as above; signal 0 only asks whether the process exists.
    let exists = unsafe { libc::kill(pid, 0) };
    assert_eq!(exists, -1, "the killed program is gone");
}

#[test]
fn each_breakpoint_counts_its_own_matches_and_continue_stops_at_the_first() {
    let script = "break thread T1\nbreak step 4\nbreak Mutex#1\ninfo breakpoints\ncontinue\ncontinue\ndelete 1\ncontinue\ndelete\ncontinue\n";
    let (output, stdout) = debug_script("lock_order", script, &[]);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let answers = answers(&stdout);
    // T1 takes steps 2, 3 and 7; step 4 is one step; Mutex#1 is used at steps 3, 4 and 7.
    assert!(
        answers[0].contains("3 steps of the trace match, the first is #2"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("1 step of the trace matches, the first is #4"),
        "{}",
        answers[1]
    );
    assert!(
        answers[2].contains("3 steps of the trace match, the first is #3"),
        "{}",
        answers[2]
    );
    assert_eq!(answers[3].lines().count(), 3, "{}", answers[3]);
    assert!(
        answers[4].starts_with("breakpoint 1: #2 "),
        "{}",
        answers[4]
    );
    assert!(
        answers[5].starts_with("breakpoint 1: #3 "),
        "{}",
        answers[5]
    );
    assert!(
        answers[7].starts_with("breakpoint 2: #4 "),
        "{}",
        answers[7]
    );
    assert!(
        answers[9].contains("reproduced the recording"),
        "{}",
        answers[9]
    );
}

#[test]
fn a_panic_stop_is_after_its_step_and_takes_no_checkpoint() {
    let script = "break panic\ncontinue\ncheckpoint\nreverse-step\nbt\ngoto 13\nbt T1\n";
    let (output, stdout) = debug_script("check_then_act", script, &[]);
    assert_eq!(output.status.code(), Some(1), "two commands fail: {stdout}");
    let answers = answers(&stdout);
    assert!(
        answers[1].contains("panicked at src/lib.rs:402"),
        "{}",
        answers[1]
    );
    assert!(
        answers[2].contains("error: a checkpoint is taken before a step"),
        "{}",
        answers[2]
    );
    // One step back from inside the panic is the step it followed, before it ran.
    assert!(answers[3].starts_with("#17 "), "{}", answers[3]);
    assert!(
        answers[4].contains("src/lib.rs:401"),
        "before the unlock: {}",
        answers[4]
    );
    // Step 13 is T1's exit: its body has returned, and nothing of another stack is shown.
    assert!(
        answers[5].starts_with("#13 ") && answers[5].contains("exit"),
        "{}",
        answers[5]
    );
    assert!(
        answers[6].contains("error: T1 has no frames of the program's own code"),
        "{}",
        answers[6]
    );
    assert!(!answers[6].contains("main"), "{}", answers[6]);
}

#[test]
fn a_divergence_is_reported_where_it_happens() {
    let trace = reel_trace::read_file(committed_trace("lock_order")).expect("decodes");
    let (bytes, _) = reencode(&trace, 1000, |number, step| {
        if number == 5 {
            step.op = OpKind::Unlock;
        }
    });
    let dir = temp_dir("debug-diverges");
    let path = dir.join("changed.reel");
    std::fs::write(&path, bytes).expect("written");
    let script = dir.join("commands");
    std::fs::write(&script, "goto 5\nwhen\nreverse-step\n").expect("written");
    let output = reel()
        .arg("debug")
        .arg(&path)
        .arg("--exe")
        .arg(example("lock_order"))
        .args(["--batch", "-x"])
        .arg(&script)
        .output()
        .expect("reel runs");
    let stdout = text(&output.stdout);
    let answers = answers(&stdout);
    assert!(
        answers[0].contains("the replay diverged at step 5"),
        "{}",
        answers[0]
    );
    assert_step_5_unlock_vs_lock(&answers[0]);
    assert!(
        answers[1].contains("the replay has ended"),
        "{}",
        answers[1]
    );
    assert!(answers[2].starts_with("#4 "), "{}", answers[2]);
}

#[test]
fn a_checkpoint_that_is_gone_is_let_go_and_the_program_goes_on() {
    let mut debugger = Interactive::start("lock_order");
    debugger.command("step 3", "#3 ");
    let checkpoints = debugger.command("info checkpoints", "automatic checkpoints every");
    let start = checkpoints
        .iter()
        .find(|line| line.contains("the start"))
        .and_then(|line| line.split("pid ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse::<i32>().ok())
        .unwrap_or_else(|| panic!("the start's checkpoint in {checkpoints:?}"));
    // SAFETY: kill sends a signal to the checkpoint's process; no memory is involved.
    assert_eq!(unsafe { libc::kill(start, libc::SIGKILL) }, 0);
    // Going back finds the checkpoint gone, lets it go, and starts the program again.
    let back = debugger.command("reverse-step", "#2 ");
    assert!(
        back.iter()
            .any(|line| line.contains("checkpoint 0 (step 0) is gone")),
        "{back:?}"
    );
    debugger.command("when", "step 2 of 7");
    debugger.command("info checkpoints", "the start");
    writeln!(debugger.stdin, "quit").expect("reel reads");
    drop(debugger.stdin);
    let status = debugger.child.wait().expect("reel ends");
    assert_eq!(status.code(), Some(0), "{status}");
}

/// Whether process `pid` is gone (or a zombie waiting for init to reap it).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// The numbers following `pid ` in `lines`.
fn pids_in(lines: &[String]) -> Vec<i32> {
    lines
        .iter()
        .filter_map(|line| line.split("pid ").nth(1))
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|pid| pid.parse().ok())
        })
        .collect()
}

#[test]
fn nothing_outlives_a_killed_debugger() {
    let mut debugger = Interactive::start("lock_order");
    debugger.command("step 3", "#3 ");
    debugger.command("reverse-step", "#2 ");
    debugger.command("checkpoint", "checkpoint 1 at step 2");
    let mut pids = pids_in(&debugger.command("when", "step 2 of 7"));
    pids.extend(pids_in(
        &debugger.command("info checkpoints", "automatic checkpoints"),
    ));
    assert_eq!(pids.len(), 3, "the program and two checkpoints: {pids:?}");
    debugger.child.kill().expect("the debugger is killed");
    let _ = debugger.child.wait();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|&pid| gone(pid)) {
        assert!(
            std::time::Instant::now() < deadline,
            "still there: {:?}",
            pids.iter().filter(|&&pid| !gone(pid)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn replay_of_a_trace_cut_short_follows_it_to_its_end() {
    let trace = reel_trace::read_file(committed_trace("pipeline")).expect("decodes");
    let (bytes, ends) = reencode(&trace, 100, |_, _| {});
    // The first two chunks of events: a recording killed after step 200.
    let dir = temp_dir("replay-cut");
    let path = dir.join("cut.reel");
    std::fs::write(&path, &bytes[..ends[1]]).expect("written");
    let output = reel()
        .arg("replay")
        .arg(&path)
        .arg("--exe")
        .arg(example("pipeline"))
        .output()
        .expect("reel runs");
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout
            .contains("the trace was cut short after step 200, and the program followed all of it"),
        "{stdout}"
    );
    assert!(
        text(&output.stderr).contains("was cut short"),
        "the warning"
    );
}

#[test]
fn a_signal_breakpoint_stops_after_the_recorded_sigterm() {
    let trace = reel_trace::read_file(support::committed_trace("shutdown_race")).unwrap();
    let arrival = *trace
        .signal_arrivals()
        .next()
        .expect("the trace has its SIGTERM");
    let after = arrival.step + 1;
    let script = "break signal SIGTERM\nbreak signal SIGUSR1\nbreak signal NOPE\ncontinue\nevents\ncontinue\n";
    let (output, stdout) = debug_script("shutdown_race", script, &[]);
    // A batch session with a failed command (the unknown signal) exits with 1.
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let answers = answers(&stdout);
    assert!(
        answers[0].contains(&format!(
            "1 arrival of the trace matches: stops at the step after each, the first #{after}"
        )),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("no signal of the trace matches it"),
        "{}",
        answers[1]
    );
    assert!(
        answers[2].contains("no signal is called NOPE"),
        "{}",
        answers[2]
    );
    assert!(
        answers[3].starts_with(&format!(
            "breakpoint 1: signal SIGTERM arrives (SI_USER) after step {}",
            arrival.step
        )),
        "{}",
        answers[3]
    );
    assert!(answers[3].contains(&format!("#{after} ")), "{}", answers[3]);
    assert!(
        answers[4].contains("signal SIGTERM arrives (SI_USER)"),
        "{}",
        answers[4]
    );
    assert!(
        answers[5].contains("reproduced the recording"),
        "{}",
        answers[5]
    );
}
