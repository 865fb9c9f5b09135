//! Starting the recorded program in replay mode: which executable, which arguments, and the
//! debug agent's channel.
//!
//! The executable is the one the trace's header names (or `--exe`). It must exist; when its
//! contents differ from the recorded one's, that is said before anything runs (a rebuild
//! still replays as long as it takes the same steps). The arguments: the ones given after
//! `--`; else, for a test in a cargo test harness (an executable in `target/<profile>/deps`
//! whose trace names its test), that one test, exactly, on one test thread; else the
//! recorded arguments. The program learns the trace from REEL_REPLAY and its debugger from
//! REEL_DEBUG_FD, and runs in a process group of its own, so that Ctrl-C at the terminal
//! reaches the debugger, not the program.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use reel_debug_protocol::{Channel, DEBUG_FD_ENV, PROTOCOL_VERSION, Reply, Stop};
use reel_trace::Trace;

/// Which program to run, when the trace's own record of it will not do.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ProgramArgs {
    /// The executable to run (default: the one the trace names).
    #[arg(long, value_name = "PATH")]
    pub(crate) exe: Option<PathBuf>,
    /// The program's arguments (default: derived from the trace).
    #[arg(last = true, value_name = "ARGS")]
    pub(crate) args: Vec<String>,
}

/// The program that replays a trace, and how to start it.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    /// The executable.
    pub(crate) exe: PathBuf,
    /// Its arguments.
    pub(crate) args: Vec<String>,
    /// The trace, as an absolute path (the program may change directory).
    pub(crate) trace: PathBuf,
}

impl Program {
    /// The command line, for messages.
    pub(crate) fn command_line(&self) -> String {
        std::iter::once(self.exe.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Works out the program for `trace` (read from `path`), checking that it exists and saying
/// on standard error if it is not the build that recorded the trace.
pub(crate) fn program(path: &Path, trace: &Trace, given: &ProgramArgs) -> Result<Program> {
    let recorded = &trace.header.program;
    let exe = match &given.exe {
        Some(exe) => exe.clone(),
        None => PathBuf::from(&recorded.exe_path),
    };
    if given.exe.is_none() && recorded.exe_path.is_empty() {
        bail!("the trace does not say which executable recorded it; give it with --exe PATH");
    }
    let contents = std::fs::read(&exe).map_err(|error| {
        let hint = if given.exe.is_some() {
            String::new()
        } else {
            format!(
                " (the trace was recorded on {}; build '{}' here and give it with --exe PATH)",
                if trace.header.run.host.is_empty() {
                    "another machine"
                } else {
                    &trace.header.run.host
                },
                recorded.exe_name
            )
        };
        anyhow::anyhow!("cannot run the program {}: {error}{hint}", exe.display())
    })?;
    if let Some(recorded_hash) = recorded.exe_hash {
        let hash = xxhash_rust::xxh3::xxh3_64(&contents);
        if hash != recorded_hash {
            eprintln!(
                "reel: note: {} is not the build that recorded this trace (its contents differ: \
                 recorded {recorded_hash:016x}, found {hash:016x}); replaying anyway: a \
                 rebuild replays as long as it takes the same steps",
                exe.display()
            );
        }
    }
    let args = if !given.args.is_empty() {
        given.args.clone()
    } else if let Some(test) = recorded.entry.as_deref().filter(|_| {
        Path::new(&recorded.exe_path)
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|directory| directory == "deps")
    }) {
        vec![
            test.to_owned(),
            "--exact".to_owned(),
            "--nocapture".to_owned(),
            "--test-threads=1".to_owned(),
        ]
    } else {
        recorded.args.iter().skip(1).cloned().collect()
    };
    let trace = std::path::absolute(path)
        .with_context(|| format!("cannot resolve the path {}", path.display()))?;
    Ok(Program { exe, args, trace })
}

/// A program started under the debug agent, paused at step 0.
pub(crate) struct Started {
    /// The process.
    pub(crate) child: Child,
    /// The channel to its agent.
    pub(crate) channel: Channel,
    /// Its process id.
    pub(crate) pid: u32,
    /// Its kernel threads (checkpoints copy only the replaying one).
    pub(crate) kernel_threads: u32,
    /// Where it is paused.
    pub(crate) stop: Stop,
}

/// Starts `program` replaying its trace with the agent on, and waits for its greeting.
/// `stdout_to_stderr` sends the program's standard output to ours's standard error (so that
/// ours stays machine-readable).
pub(crate) fn start(program: &Program, stdout_to_stderr: bool) -> Result<Started> {
    become_subreaper();
    let (mut ours, theirs) = Channel::pair().context("cannot create the debugger's channel")?;
    let their_fd = theirs.stream().as_raw_fd();
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut status: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on our open socket, into `status`.
    if unsafe { libc::fstat(their_fd, &mut status) } != 0 {
        return Err(std::io::Error::last_os_error())
            .context("cannot inspect the debugger's channel");
    }
    let their_inode = status.st_ino;
    let mut command = Command::new(&program.exe);
    command
        .args(&program.args)
        .env("REEL_REPLAY", &program.trace)
        .env(DEBUG_FD_ENV, format!("{their_fd}:{their_inode}"))
        .env_remove("REEL_RECORD")
        .env_remove("REEL_CHECK_DETERMINISM")
        .stdin(Stdio::null());
    if stdout_to_stderr {
        command.stdout(std::io::stderr());
    }
    // SAFETY: getpid has no preconditions.
    let debugger = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec and calls only fcntl,
    // setpgid, prctl, getppid and _exit, which are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            // The program keeps its end of the channel across exec.
            if libc::fcntl(their_fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Its own process group: the terminal's Ctrl-C is for the debugger.
            libc::setpgid(0, 0);
            // It ends with the debugger, even before it attaches (its checkpoints end when
            // their channels close).
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != debugger {
                libc::_exit(1); // The debugger died before the line above.
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.exe.display()))?;
    drop(theirs);
    // A program may take a while to reach the replay (an exploration's earlier executions
    // run first): say so now and then, rather than wait in silence.
    let mut waited_seconds = 0;
    while !readable_within(&ours, 1000) {
        waited_seconds += 1;
        if waited_seconds % GREETING_NOTE_SECONDS == 0 {
            eprintln!(
                "reel: still waiting for the program to reach the replay ({waited_seconds} s; \
                 it runs as: {}; Ctrl-C gives up)",
                program.command_line()
            );
        }
    }
    let hello = ours.recv::<Reply>();
    let (pid, kernel_threads, stop) = match hello {
        Ok((
            Reply::Hello {
                version,
                pid,
                kernel_threads,
                stop,
            },
            _,
        )) => {
            if version != PROTOCOL_VERSION {
                let _ = child.kill();
                bail!(
                    "{} speaks debugger protocol {version}, this reel speaks {PROTOCOL_VERSION}: \
                     rebuild the program with this version of reel",
                    program.exe.display()
                );
            }
            (pid, kernel_threads, stop)
        }
        Ok((other, _)) => {
            let _ = child.kill();
            bail!("the program's first message was not a greeting: {other:?}");
        }
        Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} answered in a form this reel does not read ({error}): rebuild it with this \
                 version of reel",
                program.exe.display()
            );
        }
        Err(_) => {
            let status = child.wait().context("cannot wait for the program")?;
            bail!(
                "{} exited ({}) without replaying the trace. Is it a program that uses reel \
                 and recorded this trace, run with the arguments that reach it? It ran as: {} \
                 (give other arguments after `--`)",
                program.exe.display(),
                describe_status(status),
                program.command_line()
            );
        }
    };
    Ok(Started {
        child,
        channel: ours,
        pid,
        kernel_threads,
        stop,
    })
}

/// Seconds between two notes that the program has not reached the replay yet.
const GREETING_NOTE_SECONDS: u32 = 10;

/// Whether `channel` has something to read (or was closed) within `milliseconds`.
pub(crate) fn readable_within(channel: &Channel, milliseconds: i32) -> bool {
    let mut poll = libc::pollfd {
        fd: channel.stream().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, milliseconds) };
    ready > 0
}

/// Makes this process the reaper of the checkpoints its programs fork (they are orphans).
fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Reaps every child that has ended (checkpoints and copies that were let go).
pub(crate) fn reap_ended() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG on any child; `status` is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// Says how process `pid` (a child of ours, directly or as an orphan we reap) ended, waiting
/// up to a second for it; one still running then (it closed its channel but lives on) is
/// killed.
pub(crate) fn ended(pid: u32) -> String {
    for _ in 0..ENDED_POLLS {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG on a pid; `status` is a valid out-pointer.
        let waited = unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
        if waited == pid as i32 {
            return describe_raw_status(status);
        }
        if waited < 0 {
            return "it ended".to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: kill sends a signal to our child; no memory is involved.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    format!(
        "it closed the debugger's channel and was killed; {}",
        wait_for(pid)
    )
}

/// Polls of [`ended`], 10 ms apart.
const ENDED_POLLS: u32 = 100;

/// Waits for process `pid` (a child of ours, directly or as a reaped orphan) and says how it
/// ended.
pub(crate) fn wait_for(pid: u32) -> String {
    let mut status = 0;
    let waited = loop {
        // SAFETY: waitpid on a pid; `status` is a valid out-pointer.
        let waited = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
        if waited >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            break waited;
        }
    };
    if waited <= 0 {
        return "it ended".to_owned();
    }
    describe_raw_status(status)
}

/// How an exit status reads.
pub(crate) fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    describe_raw_status(status.into_raw())
}

fn describe_raw_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        format!("killed by signal {signal} ({})", signal_name(signal))
    } else {
        format!("wait status {status}")
    }
}

/// A signal's name, e.g. `SIGSEGV`.
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
