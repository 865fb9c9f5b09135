//! The driver: runs one execution from main's first step to its end (protocol rule 1),
//! resuming the thread each step picked, then tells the observers of the end and tears the
//! execution down (rule 5), keeping its buffers for the next execution on this kernel
//! thread.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use corosensei::CoroutineResult;

use super::super::failure::Failure;
use super::super::live::LiveExecution;
use super::super::overflow;
use super::super::seams::{Decider, Halt, Observer, PendingStep, RunnableSet};
use super::super::stack;
use super::super::watchdog;
use super::diagnosis::{RecentSteps, SpinDetector};
use super::objects::ObjectState;
use super::threads::{CoroutineBox, GreenCoroutine, panic_message};
use super::{CURRENT, Execution, ExecutionConfig, in_runtime};

/// How an execution ended.
pub(crate) struct Outcome {
    pub(crate) failure: Option<Failure>,
    pub(crate) steps: u64,
    /// The decider, given back (a strategy keeps learning across executions).
    pub(crate) decider: Decider,
    /// The observers, given back.
    pub(crate) observers: Vec<Box<dyn Observer>>,
    /// Why the execution stopped before the program's end without a failure, if it did.
    pub(crate) halt: Option<Halt>,
    /// Whether a replay diverged at a Once.
    pub(crate) diverged_at_once: bool,
    /// Whether a Once's initialiser completed (its completion outlives the execution).
    pub(crate) completed_once: bool,
}

/// Runs one execution of `main` to its end, decided by `decider` and told to `observers`.
pub(crate) fn run_execution(
    main: &mut dyn FnMut(),
    decider: Decider,
    observers: Vec<Box<dyn Observer>>,
    config: ExecutionConfig,
) -> Outcome {
    assert!(
        !in_runtime(),
        "reel: a runtime cannot be started inside another reel runtime"
    );
    overflow::install();
    super::super::hook::install();
    let live = LiveExecution::begin();
    let mut buffers = SPARE_BUFFERS.with(|spare| spare.take()).unwrap_or_default();
    buffers.recent.begin(config.max_steps.is_some());
    let attention = observers
        .iter()
        .map(|observer| observer.attention())
        .min()
        .unwrap_or(u64::MAX);
    let signals = super::signals::SignalState::new(config.signals.clone());
    let cell = RefCell::new(Execution {
        threads: buffers.threads,
        current: 0,
        next: 0,
        step: 0,
        pending: buffers.pending,
        keeps_running: decider.keeps_running_thread(),
        fires_own_timers: decider.fires_own_timers(),
        decider,
        runnable: buffers.runnable,
        objects: buffers.objects,
        shared_objects: buffers.shared_objects,
        spare_objects: buffers.spare_objects,
        spare_coroutines: buffers.spare_coroutines,
        generation: live.generation(),
        timers: BTreeSet::new(),
        clock: config.clock.clone(),
        random_seed: None,
        generators: Vec::new(),
        config,
        failure: None,
        main_finished: false,
        in_green_thread: false,
        spin: SpinDetector::default(),
        unwinding: Vec::new(),
        recent: buffers.recent,
        observers,
        attention,
        halt: None,
        quiet: false,
        diverged_at_once: false,
        completed_once: false,
        end_notes: Vec::new(),
        signals,
        io: Default::default(),
        watchdog: None,
        slicing: false,
        slice_ticks: 0,
        priorities_differ: false,
        spun: false,
    });
    {
        let mut execution = cell.borrow_mut();
        let settings = execution.config.watch;
        let timing = execution.config.io_timing;
        execution.io.time_with(timing);
        execution.watchdog = watchdog::for_this_thread(settings);
        // Without its watchdog a time slice never runs out.
        execution.slicing = (settings.time_slice.is_some() && execution.watchdog.is_some())
            || settings.replays_slices;
        execution.set_watched(true);
    }
    CURRENT.with(|current| current.set(&cell));
    // Clear CURRENT even if the loop below panics (a runtime bug), so the dangling pointer
    // is never seen.
    struct ClearCurrent;
    impl Drop for ClearCurrent {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(std::ptr::null()));
            overflow::clear_running();
        }
    }
    let _clear = ClearCurrent;

    // `main` is borrowed for the whole of this function, and the main thread finishes or is
    // abandoned before it returns.
    let main_body = move || main();
    let main_stack = stack::allocate(cell.borrow().config.stack_bytes)
        .expect("reel: could not map a stack for the main green thread");
    // SAFETY: as above.
    unsafe {
        cell.borrow_mut().spawn_thread(
            Some(MAIN_NAME.with(Arc::clone)),
            main_stack,
            main_body,
            std::panic::Location::caller(),
        )
    };

    loop {
        let (coroutine, running, wake) = {
            let mut execution = cell.borrow_mut();
            let next = execution.next;
            if execution.current != next {
                execution.start_slice();
            }
            execution.note_running(next);
            execution.current = next;
            execution.in_green_thread = true;
            let slot = &mut execution.threads[next];
            let wake = slot.woken_by;
            let coroutine: *mut GreenCoroutine = (*slot.coroutine)
                .as_mut()
                .expect("the decider picked a finished thread");
            (coroutine, slot.running_stack, wake)
        };
        overflow::set_running(running);
        // SAFETY: the coroutine is boxed in its slot, so it does not move when `threads`
        // grows, and slots are only emptied by this loop, below, after the coroutine returned.
        // No borrow of the execution is held (rule 4).
        let result = panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*coroutine).resume(wake) }));
        let result = match result {
            Ok(result) => result,
            Err(payload) => internal_error(&cell, payload.as_ref()),
        };
        let mut execution = cell.borrow_mut();
        execution.in_green_thread = false;
        if let CoroutineResult::Return(()) = result {
            overflow::clear_running(); // Its stack goes back to the pool.
            let current = execution.current;
            if let Some(coroutine) = (*execution.threads[current].coroutine).take() {
                stack::release(coroutine.into_stack());
            }
        }
        if execution.failure.is_some() || execution.main_finished || execution.halt.is_some() {
            break;
        }
    }

    // The observers see the end with every thread still in place, in order: a replay's
    // checks give the verdict before the debugger shows it.
    {
        let mut execution = cell.borrow_mut();
        execution.report_pending_stall();
        execution.set_watched(false);
        if !execution.observers.is_empty() {
            tell_end(&mut execution);
        }
    }
    tear_down(&cell);
    // No reel call may reach this execution from here on: the slots dropped below hold
    // names and queues only (abandoned threads' values were leaked by `tear_down`), but
    // clear the pointer first anyway.
    drop(_clear);
    let mut execution = cell.into_inner();
    // Every coroutine finished or was taken by `tear_down`: keep their boxes.
    for slot in execution.threads.drain(..) {
        if slot.coroutine.is_none() {
            execution.spare_coroutines.push(slot.coroutine);
        }
    }
    for mut object in execution.objects.drain(..) {
        object.waiters.clear();
        object.readers.clear();
        execution.spare_objects.push(object);
    }
    execution.pending.clear();
    execution.shared_objects.clear();
    execution.runnable.clear();
    let buffers = Buffers {
        threads: execution.threads,
        pending: execution.pending,
        objects: execution.objects,
        shared_objects: execution.shared_objects,
        spare_objects: execution.spare_objects,
        spare_coroutines: execution.spare_coroutines,
        recent: execution.recent,
        runnable: execution.runnable,
    };
    SPARE_BUFFERS.with(|spare| spare.set(Some(buffers)));
    Outcome {
        failure: execution.failure,
        steps: execution.step,
        decider: execution.decider,
        observers: execution.observers,
        halt: execution.halt,
        diverged_at_once: execution.diverged_at_once,
        completed_once: execution.completed_once,
    }
}

/// Tells each observer of the end; the first mismatch (a replay that did not end as
/// recorded) is the verdict the later ones see.
#[cold]
fn tell_end(execution: &mut Execution) {
    execution.with_observers(|observer, execution| {
        if let Err(mismatch) = observer.on_end(execution) {
            // `stop_on` keeps the first halt.
            execution.stop_on(mismatch, String::new());
        }
    });
}

/// An execution's growable storage, emptied and kept for the next execution on this kernel
/// thread, so that exploring thousands of executions does not allocate it thousands of times.
#[derive(Default)]
struct Buffers {
    threads: Vec<super::ThreadSlot>,
    pending: Vec<PendingStep>,
    objects: Vec<ObjectState>,
    shared_objects: Vec<(u64, super::ObjectId)>,
    /// Objects of earlier executions, emptied, whose queues can be reused.
    spare_objects: Vec<ObjectState>,
    /// Emptied coroutine boxes of earlier threads, for the threads to come.
    spare_coroutines: Vec<CoroutineBox>,
    recent: RecentSteps,
    runnable: RunnableSet,
}

thread_local! {
    /// The main thread's name, shared by every execution on this kernel thread.
    static MAIN_NAME: Arc<str> = Arc::from("main");
    static SPARE_BUFFERS: Cell<Option<Buffers>> = const { Cell::new(None) };
}

/// A panic escaped a green thread outside the program's code: a bug in reel. Reports it
/// loudly (exploration silences panics on green threads, so it would otherwise go unseen)
/// and leaks the threads rather than unwinding program code on a broken runtime.
fn internal_error(cell: &RefCell<Execution>, payload: &(dyn Any + Send)) -> ! {
    let threads = {
        let mut execution = cell.borrow_mut();
        execution.in_green_thread = false; // So that the hook prints this panic.
        std::mem::take(&mut execution.threads)
    };
    std::mem::forget(threads);
    panic!(
        "reel: internal error: a panic escaped a green thread outside the program's code: {}",
        panic_message(payload)
    );
}

/// Abandons every unfinished thread (rule 5). The stacks of threads that never started are
/// recycled; those of threads that ran are leaked, mapping and all, as process exit would
/// leave them: something outside may still borrow from them (a `std::thread::scope` whose
/// kernel threads read the green thread's locals, a pinned value in an intrusive list), so
/// their memory must stay as it is.
fn tear_down(cell: &RefCell<Execution>) {
    let mut execution = cell.borrow_mut();
    for slot in &mut execution.threads {
        if let Some(mut coroutine) = (*slot.coroutine).take() {
            // Its thread-local values are part of what it owned: leaked with it, since the
            // thread may have lent them out (and their destructors must not run now).
            Execution::leak_locals(slot);
            let ran = coroutine.started() && !coroutine.done();
            // SAFETY: the coroutine is suspended (or never started) and is never resumed
            // again, so none of its frames' destructors run: that is a leak, not a use. The
            // frames themselves stay intact, because a stack that ran is never reused (below),
            // so whatever points into them stays valid. A stack that never ran holds only the
            // thread's closure, which nothing outside refers to.
            unsafe { coroutine.force_reset() };
            let stack = coroutine.into_stack();
            if ran {
                std::mem::forget(stack);
            } else {
                stack::release(stack);
            }
        }
    }
}
