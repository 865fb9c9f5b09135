//! End-to-end tests of `reel debug`'s interactive prompt, driven through a real
//! pseudo-terminal as a person would: tab completion, hints, history (kept in a file across
//! sessions), an empty line repeating the last command, Ctrl-C at the prompt, a mistyped
//! command, and `quit` ending the debugger and every process of the program.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

mod support;

/// How long any one expected answer may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The prompt.
const PROMPT: &str = "(reel) ";

/// The Up arrow, as an xterm sends it.
const UP: &str = "\x1b[A";

/// `reel debug` running on a pseudo-terminal, with everything it printed.
struct Terminal {
    master: File,
    child: Child,
    output: Receiver<Vec<u8>>,
    /// What the terminal received, as it came.
    raw: Vec<u8>,
    /// How much of `raw` the expectations have consumed.
    consumed: usize,
    /// Where in `raw` the line being typed at the last prompt starts.
    line_start: usize,
}

impl Terminal {
    /// Starts `reel debug` on the lock_order trace, on a new 120x40 terminal, with its
    /// history in `history`.
    fn start(history: &Path) -> Terminal {
        let trace = support::committed_trace("lock_order");
        Terminal::start_on(history, &trace, &support::example("lock_order"))
    }

    /// Starts `reel debug` on `trace`, replayed by `exe`, as [`Terminal::start`] does.
    fn start_on(history: &Path, trace: &Path, exe: &Path) -> Terminal {
        let (master, slave) = open_pty(40, 120);
        let mut command = support::reel();
        command
            .arg("debug")
            .arg(trace)
            .arg("--exe")
            .arg(exe)
            .env("TERM", "xterm")
            .env("REEL_HISTORY", history)
            .env_remove("COLUMNS")
            .env_remove("LINES")
            .stdin(Stdio::from(slave.try_clone().expect("dup of the terminal")))
            .stdout(Stdio::from(slave.try_clone().expect("dup of the terminal")))
            .stderr(Stdio::from(slave));
        // SAFETY: the closure runs in the child between fork and exec and calls only setsid
        // and ioctl, which are async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                // A session of its own, with the terminal (its standard input) controlling it.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("reel starts");
        let mut reader = master.try_clone().expect("dup of the terminal");
        let (sender, output) = channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            loop {
                match reader.read(&mut buffer) {
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    // EIO: every process holding the terminal has closed it.
                    Ok(0) | Err(_) => break,
                    Ok(read) => {
                        if sender.send(buffer[..read].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Terminal {
            master,
            child,
            output,
            raw: Vec::new(),
            consumed: 0,
            line_start: 0,
        }
    }

    /// Types `keys`.
    fn send(&mut self, keys: &str) {
        self.master
            .write_all(keys.as_bytes())
            .expect("writing to the terminal");
        self.master.flush().expect("writing to the terminal");
    }

    /// Waits for `needle` in what the terminal shows (escape sequences and carriage
    /// returns left out) past what earlier expectations consumed, and returns the text up
    /// to and with it.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let (text, offsets) = strip(&self.raw[self.consumed..]);
            if let Some(at) = text.find(needle) {
                let end = at + needle.len();
                let matched = text[..end].to_owned();
                self.consumed += offsets[end - 1] + 1;
                return matched;
            }
            if !self.receive(deadline) {
                panic!(
                    "expected {needle:?} on the terminal; it shows, since the last match:\n{text}\n\
                     (raw: {:?})",
                    String::from_utf8_lossy(&self.raw[self.consumed..])
                );
            }
        }
    }

    /// Waits for the prompt, where a new line starts.
    fn prompt(&mut self) -> String {
        let text = self.expect(PROMPT);
        self.line_start = self.consumed;
        text
    }

    /// Presses Enter, and returns the line as the prompt showed it then, and what the
    /// command printed up to the next prompt.
    fn enter(&mut self) -> (String, String) {
        self.end_line("\r")
    }

    /// Presses `key` (Enter or Ctrl-C), which ends the line, and returns the line as the
    /// prompt showed it then, and what was printed up to the next prompt.
    fn end_line(&mut self, key: &str) -> (String, String) {
        self.send(key);
        // Redraws of the line use carriage returns and escape sequences (each starting with
        // the prompt); only ending the line prints a newline.
        self.expect("\n");
        let (shown, _) = strip(&self.raw[self.line_start..self.consumed]);
        let line = shown
            .rsplit(PROMPT)
            .next()
            .unwrap_or_default()
            .trim_end_matches('\n')
            .to_owned();
        let output = self.prompt();
        let output = output.strip_suffix(PROMPT).unwrap_or(&output).to_owned();
        (line, output)
    }

    /// Types `line` and Enter (after the prompt), and returns what the command printed.
    fn run(&mut self, line: &str) -> String {
        self.send(line);
        let (shown, output) = self.enter();
        assert!(
            shown.starts_with(line),
            "typed {line:?}, the prompt showed {shown:?}"
        );
        output
    }

    /// Waits for more output until `deadline`; false when there is none (or no more).
    fn receive(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.output.recv_timeout(left) {
            Ok(bytes) => {
                self.raw.extend_from_slice(&bytes);
                true
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Waits for reel to end, and returns its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for reel") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "reel did not end; the terminal shows, since the last match:\n{}",
                strip(&self.raw[self.consumed..]).0
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    /// A test that failed leaves no debugger behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A new pseudo-terminal of `rows` x `columns`: its master and slave ends, both closed on
/// exec.
fn open_pty(rows: u16, columns: u16) -> (File, OwnedFd) {
    // SAFETY: posix_openpt takes flags only; its result is checked before use.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(
        master >= 0,
        "posix_openpt: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `master` is a descriptor just opened and owned by nothing else.
    let master = unsafe { File::from_raw_fd(master) };
    let fd = master.as_raw_fd();
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: grantpt and unlockpt take the master descriptor; ptsname_r writes at most
    // `name.len()` bytes into `name`, NUL included.
    let named = unsafe {
        libc::grantpt(fd) == 0
            && libc::unlockpt(fd) == 0
            && libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) == 0
    };
    assert!(
        named,
        "no pseudo-terminal: {}",
        std::io::Error::last_os_error()
    );
    let size = libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    let sized = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) };
    assert_eq!(sized, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    // SAFETY: `name` is NUL-terminated (ptsname_r succeeded); open's result is checked.
    let slave = unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    assert!(
        slave >= 0,
        "opening the pseudo-terminal: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `slave` is a descriptor just opened and owned by nothing else.
    (master, unsafe { OwnedFd::from_raw_fd(slave) })
}

/// What a terminal shows of `raw`, roughly: the text without escape sequences, carriage
/// returns and bells, each byte with its offset in `raw` (a byte that is not ASCII reads as
/// `?`, so that the two stay one to one).
fn strip(raw: &[u8]) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut offsets = Vec::new();
    let mut index = 0;
    while index < raw.len() {
        match raw[index] {
            0x1b => {
                index += 1;
                match raw.get(index) {
                    // CSI: parameters and intermediates, then a final byte in @..~.
                    Some(b'[') => {
                        index += 1;
                        while index < raw.len() && !(0x40..=0x7e).contains(&raw[index]) {
                            index += 1;
                        }
                    }
                    // OSC: up to BEL or ST.
                    Some(b']') => {
                        while index < raw.len() && raw[index] != 0x07 && raw[index] != b'\\' {
                            index += 1;
                        }
                    }
                    _ => {}
                }
            }
            b'\r' | 0x07 => {}
            byte => {
                text.push(if byte.is_ascii() {
                    char::from(byte)
                } else {
                    '?'
                });
                offsets.push(index);
            }
        }
        index += 1;
    }
    (text, offsets)
}

/// The number after `pid ` in `text` (the first one).
fn pid_in(text: &str) -> i32 {
    let (_, after) = text
        .split_once("pid ")
        .unwrap_or_else(|| panic!("no pid in {text:?}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {text:?}"))
}

/// Whether process `pid` has ended: it does not exist, or only as a zombie that nobody
/// reaped yet (reel kills the program's processes as it leaves; one that dies after reel's
/// last wait is reaped by init, in its own time).
fn ended(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    // The state follows the command's name, which is in parentheses.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// Waits (a little) for process `pid` to end.
fn assert_ends(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ended(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) still runs after quit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Help, hints, tab completion of commands, `info` topics and thread ids, the empty line
/// that repeats, a mistyped command, Ctrl-C at the prompt, and `quit` ending everything.
#[test]
fn completion_repetition_interrupt_and_quit() {
    let dir = support::temp_dir("pty-completion");
    let mut terminal = Terminal::start(&dir.join("history"));
    let banner = terminal.prompt();
    assert!(banner.contains("is paused at step 0"), "banner: {banner}");
    let program = pid_in(&banner[banner.find("the program (").expect("the banner")..]);

    let help = terminal.run("help");
    for usage in [
        "step [N]",
        "continue",
        "reverse-step [N]",
        "break <",
        "info <threads | breakpoints | checkpoints>",
        "bt [T]",
        "quit",
        "An empty line repeats the last command.",
    ] {
        assert!(help.contains(usage), "help lacks {usage:?}:\n{help}");
    }

    // A hint shows the rest of the command's usage; Tab completes the name.
    terminal.send("ste");
    terminal.expect("(reel) step [N]");
    terminal.send("\t");
    let (line, output) = terminal.enter();
    assert_eq!(line, "step ", "ste + Tab");
    assert!(output.contains("#1 "), "step answered:\n{output}");

    // An empty line repeats the last command.
    let (line, output) = terminal.enter();
    assert_eq!(line, "", "an empty line");
    assert!(output.contains("#2 "), "the empty line answered:\n{output}");

    terminal.send("info th\t");
    let (line, output) = terminal.enter();
    assert_eq!(line, "info threads ", "info th + Tab");
    assert!(
        output.contains("T0") && output.contains("T1    alice-pays-bob"),
        "info threads answered:\n{output}"
    );

    // Two threads match `T`: the first Tab completes nothing more, the second lists them.
    terminal.send("bt T\t\t");
    terminal.expect("T0  T1");
    terminal.expect("(reel) bt T");
    terminal.send("1\t");
    let (line, output) = terminal.enter();
    assert_eq!(line, "bt T1 ", "bt T + Tab, Tab, 1 + Tab");
    assert!(
        output.contains("T1 'alice-pays-bob':") && output.contains("#0 "),
        "bt T1 answered:\n{output}"
    );

    let output = terminal.run("stpe");
    assert!(
        output.contains("unknown command 'stpe'. Did you mean 'step'?"),
        "stpe answered:\n{output}"
    );
    let output = terminal.run("when");
    assert!(output.contains("step 2 of 7"), "when answered:\n{output}");

    // Ctrl-C at the prompt drops the line and asks again.
    terminal.send("goto 5");
    let (line, output) = terminal.end_line("\x03");
    assert_eq!(line, "goto 5", "the line Ctrl-C dropped");
    assert!(
        output.contains("(Ctrl-C: quit leaves the debugger)"),
        "Ctrl-C answered:\n{output}"
    );
    let output = terminal.run("when");
    assert!(
        output.contains("step 2 of 7"),
        "when after Ctrl-C answered:\n{output}"
    );

    let checkpoints = terminal.run("info checkpoints");
    let checkpoint = pid_in(&checkpoints);
    terminal.send("quit\r");
    assert_eq!(terminal.exit_code(), Some(0), "reel's exit code after quit");
    assert_ends(program, "the program");
    assert_ends(checkpoint, "the checkpoint at step 0");
}

/// Up recalls the previous command, and the history file that REEL_HISTORY names keeps the
/// commands for the next session.
#[test]
fn history_within_and_across_sessions() {
    let dir = support::temp_dir("pty-history");
    let history = dir.join("history");
    let mut terminal = Terminal::start(&history);
    terminal.prompt();
    let output = terminal.run("step");
    assert!(output.contains("#1 "), "step answered:\n{output}");
    let threads = terminal.run("info threads");
    assert!(
        threads.contains("alice-pays-bob"),
        "info threads:\n{threads}"
    );

    terminal.send(UP);
    terminal.expect("(reel) info threads");
    let (line, output) = terminal.enter();
    assert_eq!(line, "info threads", "Up recalled");
    assert_eq!(output, threads, "the recalled command's answer");

    terminal.send(UP);
    terminal.expect("(reel) info threads");
    terminal.send(UP);
    terminal.expect("(reel) step");
    let (line, output) = terminal.enter();
    assert_eq!(line, "step", "Up, Up recalled");
    assert!(
        output.contains("#2 "),
        "the recalled step answered:\n{output}"
    );

    terminal.send("quit\r");
    assert_eq!(terminal.exit_code(), Some(0), "reel's exit code after quit");
    drop(terminal);
    let saved = std::fs::read_to_string(&history).expect("the history file");
    let lines: Vec<&str> = saved
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect();
    assert_eq!(
        lines,
        ["step", "info threads", "step", "quit"],
        "the history file:\n{saved}"
    );

    // A new session recalls the last one's commands; Ctrl-D leaves it.
    let mut terminal = Terminal::start(&history);
    terminal.prompt();
    terminal.send(UP);
    terminal.expect("(reel) quit");
    terminal.send(UP);
    terminal.expect("(reel) step");
    let (line, output) = terminal.enter();
    assert_eq!(line, "step", "Up, Up in a new session recalled");
    assert!(
        output.contains("#1 "),
        "the recalled step answered:\n{output}"
    );
    for recalled in ["step", "quit", "step", "info threads"] {
        terminal.send(UP);
        terminal.expect(&format!("(reel) {recalled}"));
    }
    let (line, output) = terminal.enter();
    assert_eq!(
        line, "info threads",
        "Up (4 times) in a new session recalled"
    );
    assert_eq!(output, threads, "info threads in a new session");
    terminal.send("\x04");
    assert_eq!(
        terminal.exit_code(),
        Some(0),
        "reel's exit code after Ctrl-D"
    );
}

#[test]
fn ctrl_c_stops_a_running_continue_and_the_session_goes_on() {
    let dir = support::temp_dir("pty-interrupt");
    // A run whose replay takes seconds: 5,000 turns, each with a computation between steps.
    let exe = support::example("long_run");
    let trace = dir.join("slow.reel");
    let recorded = Command::new(&exe)
        .args(["30000", "400000"])
        .env("REEL_RECORD", &trace)
        .output()
        .expect("long_run runs");
    assert!(recorded.status.success(), "{recorded:?}");
    let mut terminal = Terminal::start_on(&dir.join("history"), &trace, &exe);
    terminal.prompt();
    terminal.send("continue");
    terminal.send("\r");
    // Only ending the line prints a newline (the redraws while typing do not).
    terminal.expect("\n");
    std::thread::sleep(Duration::from_millis(500));
    terminal.send("\x03");
    let stopped = terminal.prompt();
    assert!(stopped.contains("interrupted: #"), "{stopped}");
    let step: u64 = stopped
        .split("interrupted: #")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|step| step.parse().ok())
        .unwrap_or_else(|| panic!("a step in {stopped}"));
    assert!(step > 0 && step < 30_000, "stopped midway: {stopped}");
    // Paused there: the threads can be looked at, and the replay goes on to the end.
    let threads = terminal.run("info threads");
    assert!(
        threads.contains("ping") && threads.contains("pong"),
        "{threads}"
    );
    let when = terminal.run("when");
    assert!(when.contains(&format!("step {step} of ")), "{when}");
    let end = terminal.run("continue");
    assert!(end.contains("reproduced the recording: ok"), "{end}");
    terminal.send("quit\r");
    assert_eq!(terminal.exit_code(), Some(0));
}
