//! The journaling server (`reel_suite::server`) recorded and replayed with the world gone: a
//! recorded run replays in a new process with its port closed, its journal deleted and its
//! clients gone, to the same outcome and the same bytes; strace shows that the replay makes
//! none of the program's socket or journal system calls; and strace shows a recorded run's
//! footprint: every green thread (server, handlers, clients) on one kernel thread, which
//! makes all the socket calls, and the fsyncs on the helper pool's threads beside it.
//!
//! The tests start their child processes as this test binary running the ignored test
//! `child`, told what to do by REEL_SERVER_TEST_CHILD. The strace tests print a note and
//! return when `strace` is not installed or cannot trace (ptrace not permitted).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use reel_suite::server::{self, JOURNAL, Load, Mode, Outcome};

// The reel crate's helpers for child processes and strace, shared with its own tests.
#[path = "../crates/reel/tests/child/mod.rs"]
mod child;

/// What the child process is to do: `record|replay MODE DIR TRACE`.
const CHILD: &str = "REEL_SERVER_TEST_CHILD";

/// A small load: the tests are about bytes and system calls, not speed.
const LOAD: Load = Load {
    clients: 3,
    requests: 4,
    rounds: 200,
};

/// The system calls of the program's sockets (a TCP stream reads with readv).
const SOCKET_CALLS: [&str; 15] = [
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "sendto",
    "recvfrom",
    "readv",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "getsockname",
    "setsockopt",
];

/// The system calls that flush a file to the disk.
const SYNC_CALLS: [&str; 3] = ["fsync", "fdatasync", "sync_file_range"];

/// The system calls that name a path (the journal's, its directory's).
const PATH_CALLS: [&str; 7] = [
    "open",
    "openat",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "newfstatat",
];

/// The child process: records or replays a server run as REEL_SERVER_TEST_CHILD says, and
/// prints its outcome.
#[test]
#[ignore = "a child process of the tests below, which run it"]
fn child() {
    let spec = std::env::var(CHILD).expect("REEL_SERVER_TEST_CHILD says what to do");
    let [action, mode, dir, trace] = spec.split('\t').collect::<Vec<_>>()[..] else {
        panic!("REEL_SERVER_TEST_CHILD is `record|replay<TAB>MODE<TAB>DIR<TAB>TRACE`: {spec}");
    };
    let mode = Mode::parse(mode).expect("a server mode");
    let (dir, trace) = (Path::new(dir), Path::new(trace));
    let outcome = match action {
        "record" => {
            let figures = server::run(mode, &LOAD, dir, server::runtime(mode).record(trace));
            figures.outcome
        }
        "replay" => {
            let replay = reel::Replay::from_file(trace).expect("read the trace");
            let (outcome, report) =
                server::replay(&replay, mode, &LOAD, dir).expect("replay the run");
            assert!(report.reproduced(), "{report}");
            outcome
        }
        other => panic!("no action {other}"),
    };
    println!("outcome: {}", outcome.to_line());
}

/// Runs this test binary's `child` test with `action`, under `strace` (its options and the
/// log it writes) when given.
fn run_child(
    action: &str,
    mode: Mode,
    dir: &Path,
    trace: &Path,
    strace: Option<(&Path, &str)>,
) -> Output {
    let mut command = match strace {
        Some((log, calls)) => child::child_test_under_strace("child", CHILD, log, calls),
        None => child::child_test("child", CHILD),
    };
    command.arg("--test-threads=1").env(
        CHILD,
        format!(
            "{action}\t{}\t{}\t{}",
            mode.name(),
            dir.display(),
            trace.display()
        ),
    );
    command.output().expect("start the child process")
}

/// The outcome a child printed; panics with its output if it printed none.
fn child_outcome(output: &Output) -> Outcome {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        // libtest's "test child ... " may stand before it on the line.
        .find_map(|line| Some(&line[line.find("outcome: ")? + "outcome: ".len()..]))
        .and_then(Outcome::from_line)
        .unwrap_or_else(|| panic!("the child printed no outcome:\n{stdout}"))
}

/// A unique directory and trace path under the temp directory for `label`.
fn paths(label: &str) -> (PathBuf, PathBuf) {
    let dir = server::temp_dir(&format!("test-{label}"));
    let trace = dir.with_extension("reel");
    let _ = std::fs::remove_dir_all(&dir);
    (dir, trace)
}

/// Records a run in this process, then deletes the journal and checks that the port is
/// closed: what a replay must do without.
fn record_here(mode: Mode, dir: &Path, trace: &Path) -> Outcome {
    let figures = server::run(mode, &LOAD, dir, server::runtime(mode).record(trace));
    let outcome = figures.outcome;
    assert_eq!(outcome.requests, LOAD.total());
    assert_eq!(outcome.digest, server::expected_digest(&LOAD));
    let journal = std::fs::read(dir.join(JOURNAL)).expect("the recorded run's journal");
    assert_eq!(journal.len() as u64, outcome.journal_bytes);
    assert_eq!(server::hash(&journal), outcome.journal_hash);
    assert_eq!(
        journal.iter().filter(|&&byte| byte == b'\n').count(),
        LOAD.total(),
        "a journal line per request"
    );
    std::fs::remove_dir_all(dir).expect("delete the journal");
    // The server's listener is gone with its run (its port is free: another process may
    // take it, so nothing is asserted of it); the replay makes no socket call at all, which
    // the strace test checks.
    outcome
}

#[test]
fn a_recorded_run_replays_in_a_new_process_with_the_port_closed_and_the_journal_deleted() {
    for mode in [Mode::Uring, Mode::Pool] {
        let (dir, trace) = paths(&format!("replay-{}", mode.name()));
        let recorded = record_here(mode, &dir, &trace);
        let output = run_child("replay", mode, &dir, &trace, None);
        let replayed = child_outcome(&output);
        let _ = std::fs::remove_file(&trace);
        assert_eq!(
            replayed,
            recorded,
            "{}: the replay gets the recorded replies, journal bytes and address",
            mode.name()
        );
        assert!(
            !dir.exists(),
            "the replay created the journal's directory again: it did file I/O"
        );
    }
}

/// The system calls of a `strace -f` log: the kernel thread id, the call's name, the line.
fn calls(log: &str) -> Vec<(u32, String, String)> {
    log.lines()
        .filter_map(|line| {
            let (tid, rest) = line.split_once(' ')?;
            let rest = rest.trim_start();
            // A call that another thread's call interrupted is logged twice: "NAME(...
            // <unfinished ...>", then "<... NAME resumed>": count its first line only.
            if rest.starts_with("<... ") {
                return None;
            }
            let name = rest.split('(').next()?;
            Some((tid.parse().ok()?, name.to_owned(), line.to_owned()))
        })
        .collect()
}

#[test]
fn strace_shows_no_socket_or_journal_io_in_a_replay() {
    if !child::strace_usable() {
        return;
    }
    let mode = Mode::Uring;
    let (dir, trace) = paths("strace-replay");
    let recorded = record_here(mode, &dir, &trace);
    let log_path = dir.with_extension("strace");
    let traced: Vec<&str> = SOCKET_CALLS
        .iter()
        .chain(&SYNC_CALLS)
        .chain(&PATH_CALLS)
        .chain(&["io_uring_enter"])
        .copied()
        .collect();
    let output = run_child(
        "replay",
        mode,
        &dir,
        &trace,
        Some((&log_path, &traced.join(","))),
    );
    let replayed = child_outcome(&output);
    let log = std::fs::read_to_string(&log_path).expect("strace's log");
    let _ = std::fs::remove_file(&log_path);
    let _ = std::fs::remove_file(&trace);
    assert_eq!(replayed, recorded);
    let calls = calls(&log);
    // The log is the replay's: the child read its trace, and ran.
    let trace_name = trace.to_string_lossy();
    assert!(
        calls
            .iter()
            .any(|(_, name, line)| name == "openat" && line.contains(&*trace_name)),
        "strace's log shows the child opening the trace:\n{log}"
    );
    let dir_name = dir.to_string_lossy();
    let program_io: Vec<&str> = calls
        .iter()
        .filter(|(_, name, line)| {
            SOCKET_CALLS.contains(&name.as_str())
                || SYNC_CALLS.contains(&name.as_str())
                || name == "io_uring_enter"
                || (PATH_CALLS.contains(&name.as_str())
                    && line.contains(&*dir_name)
                    && !line.contains(&*trace_name))
        })
        .map(|(_, _, line)| line.as_str())
        .collect();
    assert!(
        program_io.is_empty(),
        "the replay made the program's I/O system calls:\n{}",
        program_io.join("\n")
    );
    eprintln!(
        "the replay's {} traced system calls (the test binary's and the trace's) include no \
         socket call, no fsync and no path under {}",
        calls.len(),
        dir.display()
    );
}

#[test]
fn strace_shows_every_green_thread_on_one_kernel_thread_and_the_fsyncs_on_helpers() {
    if !child::strace_usable() {
        return;
    }
    let mode = Mode::Pool;
    let (dir, trace) = paths("strace-footprint");
    let log_path = dir.with_extension("strace");
    let traced = "accept4,connect,sendto,readv,recvfrom,epoll_wait,epoll_pwait,fdatasync,fsync";
    let output = run_child("record", mode, &dir, &trace, Some((&log_path, traced)));
    let outcome = child_outcome(&output);
    let log = std::fs::read_to_string(&log_path).expect("strace's log");
    let _ = std::fs::remove_file(&log_path);
    let _ = std::fs::remove_file(&trace);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(outcome.digest, server::expected_digest(&LOAD));
    let calls = calls(&log);
    let threads_of = |names: &[&str]| -> BTreeSet<u32> {
        calls
            .iter()
            .filter(|(_, name, _)| names.contains(&name.as_str()))
            .map(|(tid, _, _)| *tid)
            .collect()
    };
    let socket_threads = threads_of(&["accept4", "connect", "sendto", "readv", "recvfrom"]);
    let poll_threads = threads_of(&["epoll_wait", "epoll_pwait"]);
    let sync_threads = threads_of(&["fdatasync", "fsync"]);
    let count = |name: &str| calls.iter().filter(|(_, call, _)| call == name).count();
    eprintln!(
        "the green threads' kernel thread: {socket_threads:?} ({} accept4, {} connect, {} \
         sendto, {} readv; epoll waits on {poll_threads:?}); the helper threads that \
         flushed the journal: {sync_threads:?} ({} fdatasync)",
        count("accept4"),
        count("connect"),
        count("sendto"),
        count("readv"),
        count("fdatasync")
    );
    assert_eq!(
        socket_threads.len(),
        1,
        "every socket call of the server, its handlers and its clients is made by one kernel \
         thread:\n{log}"
    );
    let runtime_thread = *socket_threads.first().expect("one thread");
    // Non-blocking: an accept may also come back with EAGAIN before the next client.
    assert!(
        count("accept4") >= LOAD.clients,
        "an accept per client:\n{log}"
    );
    assert!(
        count("connect") >= LOAD.clients,
        "a connect per client:\n{log}"
    );
    assert!(
        poll_threads.is_subset(&socket_threads),
        "the runtime's kernel thread waits on epoll itself:\n{log}"
    );
    assert_eq!(
        count("fdatasync"),
        LOAD.total(),
        "an fdatasync per request:\n{log}"
    );
    assert!(
        !sync_threads.is_empty() && !sync_threads.contains(&runtime_thread),
        "the fsyncs run on helper threads, never on the runtime's thread {runtime_thread}:\n{log}"
    );
    assert!(sync_threads.len() <= server::POOL_HELPERS);
}
