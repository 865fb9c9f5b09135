//! One debugging session: the paused program and its checkpoints, where the replay is, the
//! breakpoints, and each command's answer.
//!
//! Every move is a `goto`: forwards, the paused program runs to the target step; backwards,
//! the nearest checkpoint at or before the target is resumed (a forked copy of it, so the
//! checkpoint stays) and runs forward. Checkpoints are taken at step 0 and automatically
//! every `interval` steps the program passes, so a backward move replays at most `interval`
//! steps. Breakpoints are matched against the trace (which says every step's thread,
//! operation, object and location), so `continue` runs straight to the step that matches;
//! only a panic is caught where it happens, by the agent.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use reel_debug_protocol::{
    Channel, CodeView, Finish, Frame, LocksView, Reply, Request, StopReason, ThreadState,
    ThreadView, Verdict,
};
use reel_trace::{Event, OutcomeKind, SignalArrival, Trace};

use super::command::{BreakSpec, Command};
use crate::launch::{self, Program, Started};

/// Set by the SIGINT handler: the user wants a running command stopped.
pub(crate) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The most checkpoints taken automatically; past it, every other one is let go and the
/// interval doubles.
const MAX_AUTO_CHECKPOINTS: usize = 64;

/// Steps of context `events` shows on each side.
const EVENTS_CONTEXT: u64 = 5;

/// The program being debugged, when it is alive.
struct Active {
    pid: u32,
    channel: Channel,
}

/// A forked copy of the paused program.
struct Checkpoint {
    id: usize,
    step: u64,
    pid: u32,
    channel: Channel,
    automatic: bool,
}

struct Breakpoint {
    id: usize,
    spec: BreakSpec,
}

/// The session.
pub(crate) struct Session {
    trace: Trace,
    program: Program,
    /// The event index of each step (step k at `steps[k - 1]`).
    steps: Vec<usize>,
    active: Option<Active>,
    /// The step the replay is at (after a crash: the last one known).
    position: u64,
    /// Why the program is paused where it is.
    reason: StopReason,
    /// How the program ended, when it died rather than finished.
    died: Option<String>,
    checkpoints: Vec<Checkpoint>,
    next_checkpoint_id: usize,
    interval: u64,
    breakpoints: Vec<Breakpoint>,
    next_breakpoint_id: usize,
    /// The thread `thread` selected.
    selected: Option<u32>,
}

/// A command's failure: said, and the session goes on.
pub(crate) type Outcome = Result<(), String>;

impl Session {
    /// A session on a program that `launch::start` started (paused at step 0).
    pub(crate) fn new(trace: Trace, program: Program, started: Started, interval: u64) -> Session {
        let steps = trace
            .events
            .iter()
            .enumerate()
            .filter(|(_, event)| matches!(event, Event::Step(_)))
            .map(|(index, _)| index)
            .collect();
        if started.kernel_threads > 1 {
            println!(
                "note: the program has {} kernel threads; a checkpoint (a fork) copies only the \
                 one that replays, so a copy hangs if it needs what another one holds (Ctrl-C \
                 twice ends a run that hangs)",
                started.kernel_threads
            );
        }
        // The child is reaped by pid like every other copy; its handle is not needed.
        drop(started.child);
        let mut session = Session {
            trace,
            program,
            steps,
            active: Some(Active {
                pid: started.pid,
                channel: started.channel,
            }),
            position: started.stop.step,
            reason: started.stop.reason,
            died: None,
            checkpoints: Vec::new(),
            next_checkpoint_id: 0,
            interval: interval.max(1),
            breakpoints: Vec::new(),
            next_breakpoint_id: 1,
            selected: None,
        };
        if let Err(error) = session.take_checkpoint(false) {
            println!(
                "note: no checkpoint at the start ({error}); going back will restart the program"
            );
        }
        session
    }

    /// The trace.
    pub(crate) fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Runs one command. `Ok(false)` when it was `quit`.
    pub(crate) fn execute(&mut self, command: Command) -> Result<bool, String> {
        match command {
            Command::Step(count) => self.step_forward(count)?,
            Command::Continue => self.continue_forward()?,
            Command::Goto(step) => {
                self.goto(step, false)?;
                self.show_stop(None);
            }
            Command::When => self.when(),
            Command::ReverseStep(count) => {
                if self.position == 0 && self.is_at_start() {
                    return Err("already at the start (step 0)".into());
                }
                let target = self.position.saturating_sub(count);
                let target = if self.is_after_a_step() && count > 0 {
                    // At the end, one step back is the last step.
                    (self.position + 1).saturating_sub(count)
                } else {
                    target
                };
                self.goto(target, false)?;
                self.show_stop(None);
            }
            Command::ReverseContinue => self.reverse_continue()?,
            Command::Break(spec) => self.add_breakpoint(spec)?,
            Command::InfoBreakpoints => self.info_breakpoints(),
            Command::Delete(id) => self.delete_breakpoint(id)?,
            Command::InfoThreads => self.info_threads()?,
            Command::Thread(thread) => {
                if thread as usize >= self.trace.threads.len() {
                    return Err(self.no_such_thread(thread));
                }
                self.selected = Some(thread);
                println!("selected {}", self.trace.thread_name(thread));
            }
            Command::Backtrace(thread) => self.backtrace(thread)?,
            Command::Events(range) => self.events(range),
            Command::Locks => self.locks()?,
            Command::Disas(thread) => self.disassemble(thread)?,
            Command::Checkpoint => {
                let id = self.take_checkpoint(false)?;
                println!("checkpoint {id} at step {}", self.position);
            }
            Command::InfoCheckpoints => self.info_checkpoints(),
            Command::Restart(id) => self.restart(id)?,
            Command::Help(topic) => println!("{}", super::command::help(topic.as_deref())?),
            Command::Quit => return Ok(false),
        }
        Ok(true)
    }

    /// Ends every process of the session.
    pub(crate) fn end(&mut self) {
        self.kill_active();
        for checkpoint in self.checkpoints.drain(..) {
            end_process(checkpoint.pid, checkpoint.channel);
        }
        launch::reap_ended();
    }

    fn is_finished(&self) -> bool {
        matches!(self.reason, StopReason::Finished(_))
    }

    /// Paused after the step at `position` rather than before it: in a panic, or at the end
    /// (unless the replay ended by diverging at that step, which it did not take).
    fn is_after_a_step(&self) -> bool {
        match &self.reason {
            StopReason::Finished(finish) => !matches!(finish.verdict, Verdict::Diverged { .. }),
            StopReason::Panic { .. } => true,
            _ => false,
        }
    }

    fn is_at_start(&self) -> bool {
        self.position == 0
            && !self.is_finished()
            && !matches!(self.reason, StopReason::Panic { .. })
    }

    // ----- moving -----

    fn step_forward(&mut self, count: u64) -> Outcome {
        self.ensure_alive()?;
        if self.is_finished() {
            return Err("the replay has ended: reverse-step, goto or restart go back".into());
        }
        let target = self.position.saturating_add(count);
        let target = if target > self.trace.steps {
            u64::MAX
        } else {
            target
        };
        self.run_to(target, self.stops_on_panic())?;
        self.show_stop(None);
        Ok(())
    }

    fn continue_forward(&mut self) -> Outcome {
        self.ensure_alive()?;
        if self.is_finished() {
            return Err("the replay has ended: reverse-continue, goto or restart go back".into());
        }
        let hit = (self.position + 1..=self.trace.steps)
            .find_map(|step| self.breakpoint_at(step).map(|id| (step, id)));
        let target = hit.map_or(u64::MAX, |(step, _)| step);
        self.run_to(target, self.stops_on_panic())?;
        let hit = hit.filter(|(step, _)| *step == self.position && !self.is_finished());
        self.show_stop(hit.map(|(_, id)| id));
        Ok(())
    }

    fn reverse_continue(&mut self) -> Outcome {
        let from = if self.is_after_a_step() {
            self.position + 1
        } else {
            self.position
        };
        let hit = (1..from)
            .rev()
            .find_map(|step| self.breakpoint_at(step).map(|id| (step, id)));
        let target = hit.map_or(0, |(step, _)| step);
        self.goto(target, false)?;
        self.show_stop(hit.map(|(_, id)| id));
        Ok(())
    }

    /// Goes to `target` (pausing earlier at a panic if `stop_on_panic`).
    fn goto(&mut self, target: u64, stop_on_panic: bool) -> Outcome {
        let behind = self.active.is_none()
            || target < self.position
            || (target == self.position
                && !matches!(
                    self.reason,
                    StopReason::Reached | StopReason::Start | StopReason::Interrupted
                ));
        if behind {
            self.restore(target)?;
        }
        if target > self.position {
            let target = if target > self.trace.steps {
                u64::MAX
            } else {
                target
            };
            self.run_to(target, stop_on_panic)?;
        }
        Ok(())
    }

    /// Resumes the latest checkpoint at or before `target` that still answers (one that
    /// does not is let go, and the next earlier one tried), else starts the program again.
    /// The program running now is ended only once its successor greets.
    fn restore(&mut self, target: u64) -> Outcome {
        loop {
            let index = self
                .checkpoints
                .iter()
                .enumerate()
                .filter(|(_, checkpoint)| checkpoint.step <= target)
                .max_by_key(|(_, checkpoint)| checkpoint.step)
                .map(|(index, _)| index);
            let Some(index) = index else {
                return self.relaunch();
            };
            match resume(&mut self.checkpoints[index]) {
                Ok((active, stop)) => {
                    self.kill_active();
                    self.active = Some(active);
                    self.position = stop.step;
                    self.reason = stop.reason;
                    self.died = None;
                    return Ok(());
                }
                Err(error) => {
                    let checkpoint = self.checkpoints.remove(index);
                    println!(
                        "note: checkpoint {} (step {}) {error}; it was let go",
                        checkpoint.id, checkpoint.step
                    );
                    end_process(checkpoint.pid, checkpoint.channel);
                }
            }
        }
    }

    /// Starts the program again (when no checkpoint can be resumed).
    fn relaunch(&mut self) -> Outcome {
        let started = launch::start(&self.program, false).map_err(|error| format!("{error:#}"))?;
        self.kill_active();
        drop(started.child);
        self.active = Some(Active {
            pid: started.pid,
            channel: started.channel,
        });
        self.position = started.stop.step;
        self.reason = started.stop.reason;
        self.died = None;
        let _ = self.take_checkpoint(false);
        Ok(())
    }

    /// Runs the program forward to `target` (or the end, or a panic, or Ctrl-C), taking the
    /// automatic checkpoints on the way.
    fn run_to(&mut self, target: u64, stop_on_panic: bool) -> Outcome {
        let checkpoints = self.automatic_checkpoints(target);
        let request = Request::Run {
            until: target,
            stop_on_panic,
            checkpoints,
        };
        self.send(&request)?;
        INTERRUPTED.store(false, Ordering::SeqCst);
        let mut interrupted = false;
        loop {
            let active = self.active.as_mut().ok_or("the program is not running")?;
            if !launch::readable_within(&active.channel, 100) {
                if INTERRUPTED.swap(false, Ordering::SeqCst) {
                    if interrupted {
                        // It did not stop at a step: it computes, or waits outside reel.
                        let pid = active.pid;
                        // SAFETY: kill sends a signal to the program we run; no memory.
                        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                        println!("(a second Ctrl-C: the program is ended; checkpoints remain)");
                    } else {
                        let _ = active.channel.send(&Request::Interrupt, None);
                        println!("(interrupting at the next step; Ctrl-C again ends the program)");
                        interrupted = true;
                    }
                }
                continue;
            }
            match active.channel.recv::<Reply>() {
                Ok((Reply::Checkpoint { pid, step }, Some(fd))) => {
                    self.add_checkpoint(pid, step, fd, true);
                }
                Ok((Reply::Stopped(stop), _)) => {
                    self.position = stop.step;
                    self.reason = stop.reason;
                    return Ok(());
                }
                Ok((Reply::Error(message), _)) => println!("note: {message}"),
                Ok((other, _)) => println!("note: unexpected answer {other:?}"),
                Err(_) => return Err(self.program_died()),
            }
        }
    }

    /// The steps in (position, target] at which to take automatic checkpoints: multiples
    /// of the interval, doubled first (letting every other checkpoint go) for as long as
    /// the plan would take the count past the limit.
    fn automatic_checkpoints(&mut self, target: u64) -> Vec<u64> {
        let end = target.min(self.trace.steps);
        loop {
            let first = (self.position / self.interval + 1) * self.interval;
            let plan: Vec<u64> = (0..)
                .map(|k| first + k * self.interval)
                .take_while(|&step| step <= end)
                .filter(|step| {
                    !self
                        .checkpoints
                        .iter()
                        .any(|checkpoint| checkpoint.step == *step)
                })
                .collect();
            let automatic = self
                .checkpoints
                .iter()
                .filter(|checkpoint| checkpoint.automatic)
                .count();
            if automatic + plan.len() <= MAX_AUTO_CHECKPOINTS {
                return plan;
            }
            self.double_interval();
        }
    }

    /// Doubles the automatic checkpoints' interval and lets go of those off it.
    fn double_interval(&mut self) {
        self.interval *= 2;
        let interval = self.interval;
        let (kept, dropped): (Vec<_>, Vec<_>) = self
            .checkpoints
            .drain(..)
            .partition(|checkpoint| !checkpoint.automatic || checkpoint.step % interval == 0);
        self.checkpoints = kept;
        for checkpoint in dropped {
            end_process(checkpoint.pid, checkpoint.channel);
        }
    }

    fn add_checkpoint(
        &mut self,
        pid: u32,
        step: u64,
        fd: std::os::fd::OwnedFd,
        automatic: bool,
    ) -> usize {
        let id = self.next_checkpoint_id;
        self.next_checkpoint_id += 1;
        let channel = Channel::new(std::os::unix::net::UnixStream::from(fd));
        let at = self
            .checkpoints
            .partition_point(|checkpoint| checkpoint.step <= step);
        self.checkpoints.insert(
            at,
            Checkpoint {
                id,
                step,
                pid,
                channel,
                automatic,
            },
        );
        let automatic_count = self
            .checkpoints
            .iter()
            .filter(|checkpoint| checkpoint.automatic)
            .count();
        if automatic_count > MAX_AUTO_CHECKPOINTS {
            // Keep every other one: the interval doubles, the cost of a step back with it.
            self.double_interval();
        }
        id
    }

    fn take_checkpoint(&mut self, automatic: bool) -> Result<usize, String> {
        self.ensure_alive()?;
        if self.is_finished() {
            return Err(
                "the replay has ended: there is nothing left to go back to from here".into(),
            );
        }
        self.send(&Request::Checkpoint)?;
        let active = self.active.as_mut().ok_or("the program is not running")?;
        match active.channel.recv::<Reply>() {
            Ok((Reply::Checkpoint { pid, step }, Some(fd))) => {
                Ok(self.add_checkpoint(pid, step, fd, automatic))
            }
            Ok((Reply::Error(message), _)) => Err(message),
            Ok((other, _)) => Err(format!("unexpected answer {other:?}")),
            Err(_) => Err(self.program_died()),
        }
    }

    fn restart(&mut self, id: Option<usize>) -> Outcome {
        let target = match id {
            None => 0,
            Some(id) => {
                self.checkpoints
                    .iter()
                    .find(|checkpoint| checkpoint.id == id)
                    .ok_or_else(|| {
                        format!("there is no checkpoint {id} (info checkpoints lists them)")
                    })?
                    .step
            }
        };
        self.restore(target)?;
        self.show_stop(None);
        Ok(())
    }

    fn kill_active(&mut self) {
        if let Some(active) = self.active.take() {
            end_process(active.pid, active.channel);
        }
    }

    /// The channel closed: the program died. Says how and forgets it.
    fn program_died(&mut self) -> String {
        let Some(active) = self.active.take() else {
            return "the program is not running".into();
        };
        drop(active.channel);
        let how = launch::ended(active.pid);
        let message = format!(
            "the program ended ({how}) after step {}; goto, reverse-step and restart go back to a \
             checkpoint",
            self.position
        );
        self.died = Some(how);
        message
    }

    fn ensure_alive(&self) -> Outcome {
        match (&self.active, &self.died) {
            (Some(_), _) => Ok(()),
            (None, Some(how)) => Err(format!(
                "the program is not running (it ended: {how}); goto, reverse-step or restart"
            )),
            (None, None) => Err("the program is not running; restart".into()),
        }
    }

    fn send(&mut self, request: &Request) -> Outcome {
        let active = self.active.as_mut().ok_or("the program is not running")?;
        if active.channel.send(request, None).is_err() {
            return Err(self.program_died());
        }
        Ok(())
    }

    /// Asks the paused program something.
    fn ask(&mut self, request: &Request) -> Result<Reply, String> {
        self.ensure_alive()?;
        self.send(request)?;
        let active = self.active.as_mut().ok_or("the program is not running")?;
        match active.channel.recv::<Reply>() {
            Ok((Reply::Error(message), _)) => Err(message),
            Ok((reply, _)) => Ok(reply),
            Err(_) => Err(self.program_died()),
        }
    }

    // ----- breakpoints -----

    fn stops_on_panic(&self) -> bool {
        self.breakpoints
            .iter()
            .any(|breakpoint| breakpoint.spec == BreakSpec::Panic)
    }

    /// The breakpoint that step `step` of the trace hits, if any.
    fn breakpoint_at(&self, step: u64) -> Option<usize> {
        self.breakpoints
            .iter()
            .find(|breakpoint| self.matches(&breakpoint.spec, step))
            .map(|breakpoint| breakpoint.id)
    }

    /// The signal arrivals a stop at `step` follows: those delivered after step `step - 1`
    /// (the step after an arrival is where the program first runs with it), or after the
    /// last step for a stop there.
    fn arrivals_at(&self, step: u64) -> impl Iterator<Item = &SignalArrival> {
        let last = self.trace.steps;
        self.trace.signal_arrivals().filter(move |arrival| {
            arrival.step + 1 == step || (arrival.step == last && step == last)
        })
    }

    /// Whether step `step` of the trace is one that `spec` stops at.
    fn matches(&self, spec: &BreakSpec, step: u64) -> bool {
        if let BreakSpec::Signal(name) = spec {
            let wanted = reel_trace::signal_number(name);
            return self
                .arrivals_at(step)
                .any(|arrival| name.is_empty() || wanted == Some(arrival.signal));
        }
        let Some(&index) = step
            .checked_sub(1)
            .and_then(|index| self.steps.get(index as usize))
        else {
            return false;
        };
        let Event::Step(recorded) = self.trace.events[index] else {
            return false;
        };
        match spec {
            BreakSpec::Step(at) => *at == step,
            BreakSpec::Thread(thread) => recorded.thread == *thread,
            BreakSpec::Location { file, line } => {
                let (recorded_file, recorded_line, _) = self.trace.location(recorded.location);
                recorded_line == *line && path_matches(recorded_file, file)
            }
            BreakSpec::Object(name) => recorded.object.is_some_and(|object| {
                self.trace
                    .object_name(recorded.op, object)
                    .eq_ignore_ascii_case(name)
            }),
            BreakSpec::Deadlock => self.trace.outcome.as_ref().is_some_and(|outcome| {
                matches!(
                    outcome.kind,
                    OutcomeKind::Deadlock | OutcomeKind::PartialDeadlock
                ) && outcome.step == step
            }),
            // Matched above; a panic is caught where it happens.
            BreakSpec::Signal(_) | BreakSpec::Panic => false,
        }
    }

    fn add_breakpoint(&mut self, spec: BreakSpec) -> Outcome {
        let matches = (1..=self.trace.steps).filter(|&step| self.matches(&spec, step));
        let (count, first) = matches.fold((0u64, None), |(count, first), step| {
            (count + 1, first.or(Some(step)))
        });
        let note = match &spec {
            BreakSpec::Thread(thread) if *thread as usize >= self.trace.threads.len() => {
                return Err(self.no_such_thread(*thread));
            }
            BreakSpec::Signal(name)
                if !name.is_empty() && reel_trace::signal_number(name).is_none() =>
            {
                return Err(format!(
                    "no signal is called {name}: give a name (SIGTERM or TERM) or a number \
                     (1 to {})",
                    reel_trace::MAX_SIGNAL
                ));
            }
            BreakSpec::Signal(_) if count == 0 => {
                "no signal of the trace matches it, so it will not stop".to_owned()
            }
            BreakSpec::Signal(_) => format!(
                "{count} arrival{} of the trace match{}: stops at the step after each, the \
                 first #{}",
                if count == 1 { "" } else { "s" },
                if count == 1 { "es" } else { "" },
                first.unwrap_or(0)
            ),
            BreakSpec::Panic => match &self.trace.outcome {
                Some(outcome) if outcome.kind == OutcomeKind::Panic => format!(
                    "stops where a thread panics; the recording panicked after step {}",
                    outcome.step
                ),
                _ => "stops where a thread panics (the recording ended without one)".to_owned(),
            },
            _ if count == 0 => "no step of the trace matches it".to_owned(),
            _ => format!(
                "{count} step{} of the trace match{}, the first is #{}",
                if count == 1 { "" } else { "s" },
                if count == 1 { "es" } else { "" },
                first.unwrap_or(0)
            ),
        };
        let id = self.next_breakpoint_id;
        self.next_breakpoint_id += 1;
        println!("breakpoint {id}: {spec} ({note})");
        self.breakpoints.push(Breakpoint { id, spec });
        Ok(())
    }

    fn delete_breakpoint(&mut self, id: Option<usize>) -> Outcome {
        match id {
            None => {
                println!("deleted {} breakpoint(s)", self.breakpoints.len());
                self.breakpoints.clear();
            }
            Some(id) => {
                let before = self.breakpoints.len();
                self.breakpoints.retain(|breakpoint| breakpoint.id != id);
                if self.breakpoints.len() == before {
                    return Err(format!(
                        "there is no breakpoint {id} (info breakpoints lists them)"
                    ));
                }
                println!("deleted breakpoint {id}");
            }
        }
        Ok(())
    }

    fn info_breakpoints(&self) {
        if self.breakpoints.is_empty() {
            println!("no breakpoints");
        }
        for breakpoint in &self.breakpoints {
            println!("  {:<3} {}", breakpoint.id, breakpoint.spec);
        }
    }

    // ----- showing -----

    /// One line for step `step` of the trace: `#12  T1 'worker'  lock Mutex#0  src/lib.rs:31:9`.
    fn step_line(&self, step: u64) -> Option<String> {
        let index = *self.steps.get(step.checked_sub(1)? as usize)?;
        let Event::Step(recorded) = &self.trace.events[index] else {
            return None;
        };
        Some(format!(
            "#{step:<6} {:<20} {:<28} {}",
            self.trace.thread_name(recorded.thread),
            self.trace.operation(recorded),
            self.trace.location_text(recorded.location)
        ))
    }

    /// Says where the program stopped, and why.
    fn show_stop(&self, breakpoint: Option<usize>) {
        if let Some(how) = &self.died {
            println!("the program ended ({how}) after step {}", self.position);
            return;
        }
        match &self.reason {
            StopReason::Finished(finish) => self.show_finish(finish),
            StopReason::Panic {
                thread,
                message,
                location,
            } => {
                println!(
                    "{} panicked at {}: {message}",
                    self.trace.thread_name(*thread),
                    location.as_deref().unwrap_or("an unknown place")
                );
                println!(
                    "(paused in the panic hook after step {}, before the unwind; bt shows where)",
                    self.position
                );
            }
            StopReason::Start | StopReason::Reached | StopReason::Interrupted => {
                if let Some(id) = breakpoint {
                    print!("breakpoint {id}: ");
                }
                if matches!(self.reason, StopReason::Interrupted) {
                    print!("interrupted: ");
                }
                for arrival in self.arrivals_at(self.position) {
                    println!(
                        "signal {} after step {}",
                        crate::show::describe_arrival(arrival),
                        arrival.step
                    );
                }
                match self.step_line(self.position) {
                    Some(line) => println!("{line}"),
                    None => println!(
                        "at the start (step 0): nothing has run yet; next is {}",
                        self.step_line(1).unwrap_or_else(|| "the end".into())
                    ),
                }
            }
        }
    }

    fn show_finish(&self, finish: &Finish) {
        let recorded = match &self.trace.outcome {
            Some(outcome) => self.trace.describe_outcome(outcome),
            None => format!("the trace was cut short after step {}", self.trace.steps),
        };
        match &finish.verdict {
            Verdict::Reproduced => println!(
                "the replay ended after step {}: reproduced the recording: {recorded}",
                self.position
            ),
            Verdict::EndOfTrace => println!("the replay followed the whole trace ({recorded})"),
            Verdict::Diverged {
                step,
                expected,
                actual,
            } => println!(
                "the replay diverged at step {step}:\n  the trace has: {expected}\n  the program: {actual}"
            ),
        }
        if self
            .breakpoints
            .iter()
            .any(|breakpoint| breakpoint.spec == BreakSpec::Deadlock)
            && self.trace.outcome.as_ref().is_some_and(|outcome| {
                matches!(
                    outcome.kind,
                    OutcomeKind::Deadlock | OutcomeKind::PartialDeadlock
                )
            })
        {
            println!(
                "(deadlock: every thread is still in place; info threads, locks and bt show it)"
            );
        }
        for note in &finish.notes {
            println!("note: {note}");
        }
    }

    fn when(&self) {
        let what = match &self.reason {
            StopReason::Finished(_) => "the replay has ended".to_owned(),
            StopReason::Panic { thread, .. } => {
                format!("{} is panicking", self.trace.thread_name(*thread))
            }
            _ => match self.step_line(self.position) {
                Some(line) => line,
                None => "nothing has run yet".to_owned(),
            },
        };
        let alive = match (&self.active, &self.died) {
            (Some(active), _) => format!("pid {}", active.pid),
            (None, Some(how)) => format!("the program ended: {how}"),
            (None, None) => "not running".to_owned(),
        };
        println!(
            "step {} of {} ({alive}): {what}",
            self.position, self.trace.steps
        );
    }

    fn info_threads(&mut self) -> Outcome {
        let Reply::Threads(threads) = self.ask(&Request::Threads)? else {
            return Err("unexpected answer".into());
        };
        if threads.is_empty() {
            println!("the program has not started: step forward first");
            return Ok(());
        }
        println!("  {:<5} {:<20} {:<48} Location", "Id", "Name", "State");
        for ThreadView {
            id,
            name,
            state,
            location,
        } in threads
        {
            let marker = if state == ThreadState::Running {
                '*'
            } else {
                ' '
            };
            let state = match state {
                ThreadState::Running => "running".to_owned(),
                ThreadState::Runnable => "runnable".to_owned(),
                ThreadState::NotStarted => "runnable (not started)".to_owned(),
                ThreadState::Finished => "finished".to_owned(),
                ThreadState::Blocked { on, timed } => {
                    format!(
                        "blocked: {on}{}",
                        if timed { " (with a timeout)" } else { "" }
                    )
                }
            };
            println!(
                "{marker} {:<5} {:<20} {:<48} {}",
                format!("T{id}"),
                name.unwrap_or_default(),
                state,
                location.as_deref().map(short_path).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// The thread bt and disas show when none is named.
    fn default_thread(&self) -> u32 {
        if let Some(thread) = self.selected {
            return thread;
        }
        match &self.reason {
            StopReason::Panic { thread, .. } => *thread,
            StopReason::Finished(_) => self
                .trace
                .outcome
                .as_ref()
                .and_then(|outcome| outcome.thread)
                .unwrap_or(0),
            _ => self
                .position
                .checked_sub(1)
                .and_then(|index| self.steps.get(index as usize))
                .and_then(|&index| match &self.trace.events[index] {
                    Event::Step(step) => Some(step.thread),
                    _ => None,
                })
                .unwrap_or(0),
        }
    }

    fn no_such_thread(&self, thread: u32) -> String {
        format!(
            "there is no thread T{thread}: the trace has T0..T{}",
            self.trace.threads.len().saturating_sub(1)
        )
    }

    fn backtrace(&mut self, thread: Option<u32>) -> Outcome {
        let thread = thread.unwrap_or_else(|| self.default_thread());
        let Reply::Backtrace(frames) = self.ask(&Request::Backtrace { thread })? else {
            return Err("unexpected answer".into());
        };
        println!("{}:", self.trace.thread_name(thread));
        for (index, frame) in frames.iter().enumerate() {
            println!("#{index:<3} {}", frame_line(frame));
        }
        Ok(())
    }

    fn disassemble(&mut self, thread: Option<u32>) -> Outcome {
        let thread = thread.unwrap_or_else(|| self.default_thread());
        let Reply::Code(code) = self.ask(&Request::Code { thread })? else {
            return Err("unexpected answer".into());
        };
        let name = self.trace.thread_name(thread);
        print_disassembly(&name, &code)
    }

    fn locks(&mut self) -> Outcome {
        let Reply::Locks(LocksView { locks, cycle }) = self.ask(&Request::Locks)? else {
            return Err("unexpected answer".into());
        };
        if locks.is_empty() {
            println!("no lock has been used yet");
        }
        for lock in &locks {
            let mut line = format!("{:<10} ", lock.name);
            if lock.holders.is_empty() {
                line.push_str("free");
            } else {
                let holders: Vec<String> = lock
                    .holders
                    .iter()
                    .map(|&t| self.trace.thread_name(t))
                    .collect();
                line.push_str(&format!(
                    "{} {}",
                    if lock.shared {
                        "read-held by"
                    } else {
                        "held by"
                    },
                    holders.join(", ")
                ));
                if let Some(at) = &lock.held_at {
                    line.push_str(&format!(" (locked at {})", short_path(at)));
                }
            }
            if !lock.waiters.is_empty() {
                let waiters: Vec<String> = lock
                    .waiters
                    .iter()
                    .map(|&t| self.trace.thread_name(t))
                    .collect();
                line.push_str(&format!("; waiting: {}", waiters.join(", ")));
            }
            if lock.poisoned {
                line.push_str("; poisoned");
            }
            println!("{line}");
        }
        if cycle.is_empty() {
            println!("no wait-for cycle");
        } else {
            let mut names: Vec<String> = cycle.iter().map(|&t| self.trace.thread_name(t)).collect();
            names.push(self.trace.thread_name(cycle[0]));
            println!("wait-for cycle (a deadlock): {}", names.join(" -> "));
        }
        Ok(())
    }

    fn events(&self, range: Option<(u64, u64)>) {
        let (from, to) = match range {
            Some((from, to)) if from == to => (
                from.saturating_sub(EVENTS_CONTEXT),
                to.saturating_add(EVENTS_CONTEXT),
            ),
            Some(range) => range,
            None => (
                self.position.saturating_sub(EVENTS_CONTEXT),
                self.position.saturating_add(EVENTS_CONTEXT),
            ),
        };
        let from = from.max(1);
        let to = to.min(self.trace.steps);
        if from > to {
            println!("the trace has {} steps", self.trace.steps);
            return;
        }
        // A spawn or a new object comes just before the step that makes it (and a timeout
        // before the step after it fires): the events shown are those after step `from - 1`,
        // up to step `to`, and the outcome after the last step.
        let first_event = match from {
            1 => 0,
            _ => self.steps[(from - 2) as usize] + 1,
        };
        let end = if to == self.trace.steps {
            self.trace.events.len()
        } else {
            self.steps[(to - 1) as usize] + 1
        };
        let mut step = from - 1;
        for (index, event) in self
            .trace
            .events
            .iter()
            .enumerate()
            .take(end)
            .skip(first_event)
        {
            match event {
                Event::Step(_) => {
                    step += 1;
                    let marker = if step == self.position && !self.is_finished() {
                        "=>"
                    } else {
                        "  "
                    };
                    println!("{marker} {}", self.step_line(step).unwrap_or_default());
                }
                Event::Spawn(spawn) => {
                    // Threads and objects are numbered in the order they appear.
                    let id = self.count_before(index, |event| matches!(event, Event::Spawn(_)));
                    println!(
                        "           {} is spawned by {}",
                        self.trace.thread_name(id),
                        spawn.parent.map_or("the runtime".to_owned(), |parent| self
                            .trace
                            .thread_name(parent))
                    );
                }
                Event::Object(kind) => {
                    let id = self.count_before(index, |event| matches!(event, Event::Object(_)));
                    println!("           {}#{id} is first used", kind.name());
                }
                Event::Timeout { thread } => println!(
                    "           the timeout of {} fires",
                    self.trace.thread_name(*thread)
                ),
                Event::Preemption { thread } => println!(
                    "           {} is preempted: its time slice ran out",
                    self.trace.thread_name(*thread)
                ),
                Event::Stall(stall) => println!(
                    "           {} {}{}",
                    self.trace.thread_name(stall.thread),
                    crate::show::stall_text(stall),
                    stall
                        .location
                        .as_ref()
                        .map(|location| format!(" at {location}"))
                        .unwrap_or_default()
                ),
                Event::Outcome(outcome) => println!(
                    "           the run ends: {}",
                    self.trace.describe_outcome(outcome)
                ),
                Event::Signal(arrival) => println!(
                    "           signal {}",
                    crate::show::describe_arrival(arrival)
                ),
                Event::ClockRead(reading) => println!("           it reads the {reading}"),
                Event::RandomSeed { seed } => {
                    println!("           it draws the random seed {seed:#018x}")
                }
                Event::Io(io) => match &**io {
                    reel_trace::IoEvent::Ready { thread } => println!(
                        "           the wait of {} for I/O ends",
                        self.trace.thread_name(*thread)
                    ),
                    io => println!("           {}", crate::show::describe_io(io)),
                },
            }
        }
    }

    /// How many of the events before `index` are `kind`.
    fn count_before(&self, index: usize, kind: impl Fn(&Event) -> bool) -> u32 {
        self.trace.events[..index]
            .iter()
            .filter(|event| kind(event))
            .count() as u32
    }

    fn info_checkpoints(&self) {
        if self.checkpoints.is_empty() {
            println!("no checkpoints");
        }
        for checkpoint in &self.checkpoints {
            println!(
                "  {:<3} step {:<10} pid {:<8} {}",
                checkpoint.id,
                checkpoint.step,
                checkpoint.pid,
                if checkpoint.automatic {
                    "automatic"
                } else if checkpoint.step == 0 {
                    "the start"
                } else {
                    "taken by hand"
                }
            );
        }
        println!("(automatic checkpoints every {} steps)", self.interval);
    }
}

/// Resumes `checkpoint`: a copy of it greets on a channel of its own.
fn resume(checkpoint: &mut Checkpoint) -> Result<(Active, reel_debug_protocol::Stop), String> {
    let resumed = checkpoint
        .channel
        .send(&Request::Resume, None)
        .and_then(|()| checkpoint.channel.recv::<Reply>());
    let (pid, fd) = match resumed {
        Ok((Reply::Resumed { pid }, Some(fd))) => (pid, fd),
        Ok((Reply::Error(message), _)) => return Err(format!("did not resume: {message}")),
        Ok((other, _)) => return Err(format!("did not resume: {other:?}")),
        Err(error) => return Err(format!("is gone ({error})")),
    };
    let mut channel = Channel::new(std::os::unix::net::UnixStream::from(fd));
    match channel.recv::<Reply>() {
        Ok((Reply::Hello { stop, .. }, _)) => Ok((Active { pid, channel }, stop)),
        Ok((other, _)) => Err(format!("resumed a copy that said {other:?}")),
        Err(error) => Err(format!("resumed a copy that did not answer ({error})")),
    }
}

/// Asks a process to end, and makes sure it does.
fn end_process(pid: u32, mut channel: Channel) {
    let _ = channel.send(&Request::Quit, None);
    drop(channel);
    // SAFETY: kill sends a signal to a pid we started (directly or as a checkpoint copy); it
    // touches no memory.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    // Reap it now (it is our child, or an orphan we reap as the subreaper), so that none is
    // left behind when the debugger exits.
    launch::wait_for(pid);
}

/// Whether a recorded path is the one the user named (the end of it).
fn path_matches(recorded: &str, named: &str) -> bool {
    recorded == named
        || recorded.ends_with(&format!("/{named}"))
        || named.ends_with(&format!("/{recorded}"))
}

/// A path without the current directory in front.
fn short_path(path: &str) -> String {
    let current = std::env::current_dir()
        .map(|dir| format!("{}/", dir.display()))
        .unwrap_or_default();
    path.strip_prefix(current.as_str())
        .unwrap_or(path)
        .to_owned()
}

fn frame_line(frame: &Frame) -> String {
    let function = frame.function.as_deref().unwrap_or("??");
    match (&frame.file, frame.line) {
        (Some(file), Some(line)) => format!(
            "{:#018x} in {function} at {}:{line}",
            frame.ip,
            short_path(file)
        ),
        _ => format!("{:#018x} in {function}", frame.ip),
    }
}

/// Disassembles `code` with capstone and marks the call in progress.
fn print_disassembly(thread: &str, code: &CodeView) -> Outcome {
    use capstone::prelude::*;
    let engine = match code.arch.as_str() {
        "x86_64" => Capstone::new()
            .x86()
            .mode(arch::x86::ArchMode::Mode64)
            .build(),
        "aarch64" => Capstone::new()
            .arm64()
            .mode(arch::arm64::ArchMode::Arm)
            .build(),
        other => return Err(format!("reel cannot disassemble {other} code")),
    }
    .map_err(|error| format!("capstone: {error}"))?;
    let instructions = engine
        .disasm_all(&code.bytes, code.base)
        .map_err(|error| format!("capstone: {error}"))?;
    let ip = code.frame.ip;
    println!("{thread}, {}", frame_line(&code.frame));
    println!("(=> marks the call in progress; the thread resumes at {ip:#x})");
    let mut out = std::io::stdout().lock();
    for instruction in instructions.iter() {
        let start = instruction.address();
        let end = start + instruction.len() as u64;
        let marker = if end == ip || (start < ip && ip < end) {
            "=>"
        } else {
            "  "
        };
        let _ = writeln!(
            out,
            "{marker} {start:#x}: {:<8} {}",
            instruction.mnemonic().unwrap_or("?"),
            instruction.op_str().unwrap_or("")
        );
    }
    Ok(())
}
