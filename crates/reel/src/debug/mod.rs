//! The debug agent: when `reel debug` (or `reel replay`) starts a program to replay a trace,
//! this answers it over the channel it passed in REEL_DEBUG_FD, pausing the replay at the
//! steps it asks for, showing threads, locks, backtraces and code, and forking checkpoints.
//!
//! The agent is an observer of the replay the debugger started (`AgentObserver`), and
//! looks at the execution at three places:
//! - at its attention step (`at_step`: the step to pause at, the next checkpoint, or the
//!   next time to look for an interrupt; the execution compares each step with it),
//! - when a thread panics (`at_panic`), when asked to stop at panics,
//! - at the end of the replay (`at_end`), with every thread still in place and the verdict
//!   known (the replay's checker is told of the end first).
//!
//! A pause serves requests on the agent's own stack (symbolizing a backtrace needs more
//! stack than a green thread may have). Nothing here runs without a debugger: an execution
//! without one never reaches its attention step (`u64::MAX`).
//!
//! Checkpoints are `fork()`s of the paused process: the replay runs on one kernel thread,
//! so the copy holds the whole replay state. Each checkpoint, and each copy resumed from one,
//! is forked twice so that it is an orphan: the debugger, a child subreaper, reaps it.

mod inspect;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

use reel_debug_protocol::{
    Channel, DEBUG_FD_ENV, Finish, PROTOCOL_VERSION, Reply, Request, Stop, StopReason, Verdict,
};

use crate::replay::ReplayResult;
use crate::runtime::execution::Execution;
use crate::runtime::seams::{Input, Mismatch, Observer, StepEvent};
use crate::runtime::vocabulary::{ObjectId, ObjectKind, ThreadId};

/// Steps between two looks at the channel for an interrupt while running.
const POLL_EVERY_STEPS: u64 = 4096;

/// The agent's own stack, for serving requests.
const AGENT_STACK_BYTES: usize = 8 << 20;

thread_local! {
    static AGENT: RefCell<Option<Agent>> = const { RefCell::new(None) };
}

/// The process attached its debugger channel already (a program may replay more than once).
static ATTACHED: AtomicBool = AtomicBool::new(false);

/// Where a pause happens, which decides what can be looked at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before the execution exists (step 0).
    Start,
    /// In a step of the current thread, on its stack.
    Step,
    /// In the panic hook of the current thread, on its stack.
    Panic,
    /// After the execution ended, in the main loop (every thread suspended).
    End,
}

/// How a pause ended.
enum Resumption {
    /// Go on running (a `Run` request).
    Run,
    /// The debugger let go: the program continues on its own.
    Detach,
}

struct Agent {
    channel: Channel,
    /// The step to pause at.
    until: u64,
    stop_on_panic: bool,
    /// Steps at which to fork checkpoints, ascending.
    checkpoints: VecDeque<u64>,
    /// The next step at which to look for an interrupt.
    next_poll: u64,
    /// How the replay ended, once it has.
    finish: Option<Finish>,
    stack: Option<corosensei::stack::DefaultStack>,
}

/// Attaches to the debugger named by REEL_DEBUG_FD, if there is one (once per process):
/// greets it paused at step 0 and serves it until it says to run. Returns the agent as an
/// observer of the replay about to start, if it is debugged.
pub(crate) fn attach() -> Option<Box<dyn Observer>> {
    let fd = take_channel()?;
    let mut agent = Agent {
        channel: Channel::new(UnixStream::from(fd)),
        until: 0,
        stop_on_panic: false,
        checkpoints: VecDeque::new(),
        next_poll: 0,
        finish: None,
        stack: None,
    };
    let hello = Reply::Hello {
        version: PROTOCOL_VERSION,
        pid: std::process::id(),
        kernel_threads: kernel_threads(),
        stop: Stop {
            step: 0,
            reason: StopReason::Start,
        },
    };
    if agent.channel.send(&hello, None).is_err() {
        return None;
    }
    match agent.pause(None, Place::Start, 0) {
        Resumption::Run => {
            let attention = agent.attention(0);
            AGENT.with(|slot| *slot.borrow_mut() = Some(agent));
            Some(Box::new(AgentObserver { attention }))
        }
        Resumption::Detach => None,
    }
}

/// The agent as an observer of the replay: it needs nothing but the execution at its
/// attention step, at a panic and at the end.
struct AgentObserver {
    /// The next step the agent wants to look at.
    attention: u64,
}

impl Observer for AgentObserver {
    fn on_step(&mut self, _event: &StepEvent) -> bool {
        true
    }

    fn on_spawn(
        &mut self,
        _thread: ThreadId,
        _parent: Option<ThreadId>,
        _name: Option<&str>,
    ) -> Result<(), Mismatch> {
        Ok(())
    }

    fn on_object(&mut self, _object: ObjectId, _kind: ObjectKind) -> Result<(), Mismatch> {
        Ok(())
    }

    fn on_input(&mut self, _input: Input) -> Result<(), Mismatch> {
        Ok(())
    }

    fn attention(&self) -> u64 {
        self.attention
    }

    fn at_attention(&mut self, execution: &mut Execution) {
        self.attention = at_step(execution);
    }

    fn on_panic(&mut self, execution: &mut Execution, message: &str, location: Option<String>) {
        if let Some(attention) = at_panic(execution, message, location) {
            self.attention = attention;
        }
    }

    fn on_end(&mut self, execution: &mut Execution) -> Result<(), Mismatch> {
        at_end(execution);
        self.attention = u64::MAX;
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The descriptor REEL_DEBUG_FD names, if it is a socket this process has not taken yet.
fn take_channel() -> Option<OwnedFd> {
    // `<descriptor>:<inode>`: the inode tells the debugger's socket from another one that
    // a process started by the debuggee might have under the same number.
    let value = std::env::var(DEBUG_FD_ENV).ok()?;
    let (number, inode) = value.trim().split_once(':')?;
    let number: i32 = number.parse().ok()?;
    let inode: u64 = inode.parse().ok()?;
    if number < 0 || ATTACHED.swap(true, Ordering::SeqCst) {
        return None;
    }
    // SAFETY: fstat on any number is safe; it fails for a descriptor that is not open.
    let mut status: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `status` is a valid stat buffer.
    if unsafe { libc::fstat(number, &mut status) } != 0
        || status.st_mode & libc::S_IFMT != libc::S_IFSOCK
        || status.st_ino != inode
    {
        // Inherited by a process the debuggee started (the descriptor is close-on-exec once
        // taken): not ours to use.
        return None;
    }
    // SAFETY: F_SETFD on an open descriptor; close-on-exec so that processes the program
    // starts do not hold the debugger's channel.
    unsafe { libc::fcntl(number, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: the debugger opened this descriptor for this process, it is open (checked
    // above), and `ATTACHED` makes sure it is taken only once.
    Some(unsafe { OwnedFd::from_raw_fd(number) })
}

/// A step reached the agent's attention step; returns the next one.
fn at_step(execution: &mut Execution) -> u64 {
    let step = execution.step();
    AGENT.with(|slot| {
        let mut slot = slot.borrow_mut();
        let Some(agent) = slot.as_mut() else {
            return u64::MAX;
        };
        if let Resumption::Detach = agent.at_step(execution, step) {
            *slot = None;
            return u64::MAX;
        }
        agent.attention(step)
    })
}

/// A green thread is panicking: pauses there if the debugger asked to stop at panics.
/// Returns the next attention step, if it paused.
fn at_panic(execution: &mut Execution, message: &str, location: Option<String>) -> Option<u64> {
    AGENT.with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return None; // A panic inside the agent itself.
        };
        let agent = slot.as_mut()?;
        if !agent.stop_on_panic {
            return None;
        }
        let step = execution.step();
        let stop = Stop {
            step,
            reason: StopReason::Panic {
                thread: execution.current as u32,
                message: truncated(message, MAX_MESSAGE_BYTES),
                location,
            },
        };
        if agent.channel.send(&Reply::Stopped(stop), None).is_err() {
            debugger_gone();
        }
        let resumption = agent.pause(Some(&mut *execution), Place::Panic, step);
        let attention = agent.attention(step);
        if matches!(resumption, Resumption::Detach) {
            *slot = None;
            return Some(u64::MAX);
        }
        Some(attention)
    })
}

/// The replay ended (the verdict is in): pauses there until the debugger lets go.
fn at_end(execution: &mut Execution) {
    AGENT.with(|slot| {
        let mut slot = slot.borrow_mut();
        let Some(agent) = slot.as_mut() else {
            return;
        };
        let finish = finish_of(execution);
        // The story ends at the failure (main's exit after a panic is not in the trace), or
        // where the replay left the trace.
        let step = match (&finish.verdict, execution.failure()) {
            (Verdict::Diverged { step, .. }, _) => *step,
            (_, Some(failure)) => failure.step,
            (_, None) => execution.step(),
        };
        agent.finish = Some(finish.clone());
        let stop = Stop {
            step,
            reason: StopReason::Finished(finish),
        };
        if agent.channel.send(&Reply::Stopped(stop), None).is_err() {
            debugger_gone();
        }
        // At the end a `Run` answers at once with the same stop; only detaching leaves.
        while let Resumption::Run = agent.pause(Some(&mut *execution), Place::End, step) {}
        *slot = None;
    });
}

/// How the replay in `execution` ended, for the debugger.
fn finish_of(execution: &Execution) -> Finish {
    let verdict = match ReplayResult::of(execution.halt()) {
        ReplayResult::Reproduced => Verdict::Reproduced,
        ReplayResult::EndOfTrace => Verdict::EndOfTrace,
        ReplayResult::Diverged(divergence) => Verdict::Diverged {
            step: divergence.step,
            expected: divergence.expected,
            actual: divergence.actual,
        },
    };
    Finish {
        verdict,
        failure: execution.failure().map(ToString::to_string),
        notes: execution.end_notes.clone(),
    }
}

/// The debugger closed its end: nothing is waiting for this process any more.
fn debugger_gone() -> ! {
    let _ = io::stdout().flush();
    // SAFETY: _exit ends the process at once, without running the program's destructors
    // or atexit handlers, which must not run in a debugging copy of it.
    unsafe { libc::_exit(0) }
}

impl Agent {
    fn attention(&self, step: u64) -> u64 {
        let checkpoint = self.checkpoints.front().copied().unwrap_or(u64::MAX);
        self.until.min(checkpoint).min(self.next_poll.max(step + 1))
    }

    fn at_step(&mut self, execution: &mut Execution, step: u64) -> Resumption {
        while let Some(&at) = self.checkpoints.front() {
            if at > step {
                break;
            }
            self.checkpoints.pop_front();
            if at == step {
                match self.fork_checkpoint(step) {
                    // A copy resumed from the new checkpoint: it is paused here.
                    Ok(true) => return self.pause(Some(execution), Place::Step, step),
                    Ok(false) => {}
                    Err(error) => {
                        let _ = self.channel.send(
                            &Reply::Error(format!("could not fork a checkpoint: {error}")),
                            None,
                        );
                    }
                }
            }
        }
        if step >= self.until {
            let stop = Stop {
                step,
                reason: StopReason::Reached,
            };
            if self.channel.send(&Reply::Stopped(stop), None).is_err() {
                debugger_gone();
            }
            return self.pause(Some(execution), Place::Step, step);
        }
        if step >= self.next_poll {
            self.next_poll = step + POLL_EVERY_STEPS;
            if self.channel.readable_now() {
                match self.channel.recv::<Request>() {
                    Ok((Request::Interrupt, _)) => {
                        let stop = Stop {
                            step,
                            reason: StopReason::Interrupted,
                        };
                        if self.channel.send(&Reply::Stopped(stop), None).is_err() {
                            debugger_gone();
                        }
                        return self.pause(Some(execution), Place::Step, step);
                    }
                    Ok((Request::Quit, _)) | Err(_) => debugger_gone(),
                    Ok(_) => {
                        let _ = self.channel.send(
                            &Reply::Error("the program is running: interrupt it first".into()),
                            None,
                        );
                    }
                }
            }
        }
        Resumption::Run
    }

    /// Serves requests until the debugger says to run (or lets go). Runs on the agent's own
    /// stack.
    fn pause(&mut self, execution: Option<&mut Execution>, place: Place, step: u64) -> Resumption {
        let stack = self.stack.take().map_or_else(
            || corosensei::stack::DefaultStack::new(AGENT_STACK_BYTES),
            Ok,
        );
        match stack {
            Ok(mut stack) => {
                let resumption =
                    corosensei::on_stack(&mut stack, || self.serve(execution, place, step));
                self.stack = Some(stack);
                resumption
            }
            // No memory for a stack: serve on this one.
            Err(_) => self.serve(execution, place, step),
        }
    }

    fn serve(
        &mut self,
        mut execution: Option<&mut Execution>,
        place: Place,
        step: u64,
    ) -> Resumption {
        loop {
            let request = match self.channel.recv::<Request>() {
                Ok((request, _)) => request,
                Err(_) => debugger_gone(),
            };
            let reply = match request {
                Request::Run {
                    until,
                    stop_on_panic,
                    checkpoints,
                } => {
                    if let Some(finish) = &self.finish {
                        let stop = Stop {
                            step,
                            reason: StopReason::Finished(finish.clone()),
                        };
                        if self.channel.send(&Reply::Stopped(stop), None).is_err() {
                            debugger_gone();
                        }
                        continue;
                    }
                    self.until = until;
                    self.stop_on_panic = stop_on_panic;
                    self.checkpoints = checkpoints.into_iter().filter(|&at| at > step).collect();
                    self.next_poll = step + 1;
                    return Resumption::Run;
                }
                Request::Interrupt => continue, // It stopped already.
                Request::Threads => match execution.as_deref() {
                    Some(execution) => Reply::Threads(inspect::threads(execution, place)),
                    None => Reply::Threads(Vec::new()),
                },
                Request::Backtrace { thread } => match execution.as_deref_mut() {
                    Some(execution) => match inspect::backtrace(execution, place, thread) {
                        Ok(frames) => Reply::Backtrace(frames),
                        Err(message) => Reply::Error(message),
                    },
                    None => Reply::Error(NOT_STARTED.to_owned()),
                },
                Request::Code { thread } => match execution.as_deref_mut() {
                    Some(execution) => match inspect::code(execution, place, thread) {
                        Ok(code) => Reply::Code(code),
                        Err(message) => Reply::Error(message),
                    },
                    None => Reply::Error(NOT_STARTED.to_owned()),
                },
                Request::Locks => match execution.as_deref() {
                    Some(execution) => Reply::Locks(inspect::locks(execution)),
                    None => Reply::Locks(reel_debug_protocol::LocksView {
                        locks: Vec::new(),
                        cycle: Vec::new(),
                    }),
                },
                Request::Checkpoint if matches!(place, Place::Panic | Place::End) => Reply::Error(
                    "a checkpoint is taken before a step, and this pause is after one (in \
                         a panic, or at the end): go back a step first"
                        .into(),
                ),
                Request::Checkpoint => match self.fork_checkpoint(step) {
                    // This is a copy resumed from the checkpoint: it greeted on its own
                    // channel and is paused here.
                    Ok(true) => continue,
                    Ok(false) => continue,
                    Err(error) => Reply::Error(format!("could not fork a checkpoint: {error}")),
                },
                Request::Resume => {
                    Reply::Error("only a checkpoint resumes; this program is running".into())
                }
                Request::Quit => debugger_gone(),
                Request::Detach => return Resumption::Detach,
            };
            self.answer(&reply);
        }
    }

    /// Sends an answer; one that cannot be encoded or is too large is answered with an
    /// error instead. A channel that fails otherwise means the debugger is gone.
    fn answer(&mut self, reply: &Reply) {
        match self.channel.send(reply, None) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                let reply = Reply::Error(format!("the answer cannot be sent: {error}"));
                if self.channel.send(&reply, None).is_err() {
                    debugger_gone();
                }
            }
            Err(_) => debugger_gone(),
        }
    }

    /// Forks a checkpoint paused at `step` and sends its channel to the debugger. Returns
    /// `true` in a copy that was later resumed from that checkpoint (its channel replaced,
    /// its greeting sent), `false` in this process.
    fn fork_checkpoint(&mut self, step: u64) -> io::Result<bool> {
        let (ours, theirs) = Channel::pair()?;
        match fork_orphan()? {
            Some(pid) => {
                drop(ours);
                self.channel.send(
                    &Reply::Checkpoint { pid, step },
                    Some(theirs.stream().as_fd()),
                )?;
                Ok(false)
            }
            None => {
                // The checkpoint: it answers only Resume and Quit, on its own channel.
                drop(theirs);
                self.channel = ours;
                self.serve_checkpoint(step);
                Ok(true)
            }
        }
    }

    /// A checkpoint's life: each Resume forks a copy that goes on from here; returns in
    /// that copy.
    fn serve_checkpoint(&mut self, step: u64) {
        loop {
            match self.channel.recv::<Request>() {
                Ok((Request::Resume, _)) => {}
                Ok((Request::Quit, _)) | Err(_) => debugger_gone(),
                Ok(_) => {
                    let reply = Reply::Error("a checkpoint only resumes".into());
                    if self.channel.send(&reply, None).is_err() {
                        debugger_gone();
                    }
                    continue;
                }
            }
            let resumed = Channel::pair().and_then(|(ours, theirs)| match fork_orphan()? {
                Some(pid) => {
                    drop(ours);
                    self.channel
                        .send(&Reply::Resumed { pid }, Some(theirs.stream().as_fd()))?;
                    Ok(false)
                }
                None => {
                    drop(theirs);
                    self.channel = ours;
                    let hello = Reply::Hello {
                        version: PROTOCOL_VERSION,
                        pid: std::process::id(),
                        kernel_threads: kernel_threads(),
                        stop: Stop {
                            step,
                            reason: StopReason::Start,
                        },
                    };
                    self.channel.send(&hello, None)?;
                    Ok(true)
                }
            });
            match resumed {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => {
                    let reply = Reply::Error(format!("could not resume: {error}"));
                    if self.channel.send(&reply, None).is_err() {
                        debugger_gone();
                    }
                }
            }
        }
    }
}

const NOT_STARTED: &str = "the program has not started: step forward first";

/// How many kernel threads the process has (`fork` copies only the calling one).
fn kernel_threads() -> u32 {
    std::fs::read_dir("/proc/self/task").map_or(1, |tasks| tasks.count() as u32)
}

/// The longest panic message a stop carries.
const MAX_MESSAGE_BYTES: usize = 4096;

/// `text`, cut to at most `limit` bytes at a character boundary.
pub(crate) fn truncated(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Forks a process that is nobody's child (forking twice; the middle one exits at once), so
/// that it is reaped by the debugger, a child subreaper. Returns its pid in this process and
/// `None` in the new one.
fn fork_orphan() -> io::Result<Option<u32>> {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    let mut pipe = [0i32; 2];
    // SAFETY: `pipe` has room for the two descriptors.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just opened and are owned here.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    // SAFETY: the child only forks again and exits, and the grandchild continues this
    // thread's work. Other kernel threads of the program (a test harness's main thread) are
    // not in the copies: the debugger warns when there are any (see `kernel_threads`).
    let middle = unsafe { libc::fork() };
    if middle < 0 {
        return Err(io::Error::last_os_error());
    }
    if middle == 0 {
        drop(read_end);
        // SAFETY: getpid has no preconditions.
        let middle = unsafe { libc::getpid() };
        // SAFETY: as above.
        let grandchild = unsafe { libc::fork() };
        if grandchild == 0 {
            drop(write_end);
            die_with_the_debugger(middle);
            return Ok(None);
        }
        let pid = grandchild.max(0) as u32;
        let mut file = std::fs::File::from(write_end);
        let _ = file.write_all(&pid.to_le_bytes());
        // SAFETY: the middle process only relays the pid; it must not run anything else of
        // the program.
        unsafe { libc::_exit(0) };
    }
    drop(write_end);
    let mut status = 0;
    // SAFETY: waiting for the middle child, which exits at once; `status` is ours.
    while unsafe { libc::waitpid(middle, &mut status, 0) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
    let mut bytes = [0u8; 4];
    let mut file = std::fs::File::from(read_end);
    io::Read::read_exact(&mut file, &mut bytes)?;
    match u32::from_le_bytes(bytes) {
        0 => Err(io::Error::other("the second fork failed")),
        pid => Ok(Some(pid)),
    }
}

/// In a new orphan: once the middle process has exited and the debugger (the subreaper) is
/// the parent, asks to be killed when it dies, so that a copy that never reads its channel
/// again (it computes, or waits outside reel) does not outlive it.
fn die_with_the_debugger(middle: libc::pid_t) {
    for _ in 0..REPARENT_POLLS {
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } != middle {
            // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory of ours.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

/// Polls for the middle process's exit, 100 us apart (it exits at once).
const REPARENT_POLLS: u32 = 10_000;
