//! What the debug agent shows of a paused replay: threads, locks, backtraces (a suspended
//! green thread's taken on its own stack) and the machine code a thread is in.

use std::cell::RefCell;
use std::ffi::c_void;

use reel_debug_protocol::{CodeView, Frame, LockView, LocksView, ThreadState, ThreadView};

use super::Place;
use crate::runtime::execution::{Execution, ObjectId, ObjectKind, ThreadState as State};
use crate::runtime::overflow;

thread_local! {
    /// The return addresses a suspended thread noted when the agent switched into it.
    static CAPTURED: RefCell<Option<Result<Vec<Address>, String>>> = const { RefCell::new(None) };
}

/// Frames the program's code is called through but that are not the program's: the runtime,
/// the standard library, the unwinder, the coroutine switch.
const RUNTIME_PREFIXES: [&str; 16] = [
    "reel::",
    "<reel::",
    "backtrace::",
    "<backtrace::",
    "corosensei::",
    "<corosensei::",
    "std::",
    "<std::",
    "core::",
    "<core::",
    "alloc::",
    "<alloc::",
    "__rust",
    "rust_begin_unwind",
    "__libc_",
    "_start",
];

/// The longest thread name shown.
const MAX_NAME_BYTES: usize = 256;

/// The most frames kept of one backtrace.
const MAX_FRAMES: usize = 256;

/// Bytes of code shown before a thread's instruction when its function's start is further.
const CODE_BEFORE_BYTES: u64 = 96;
/// A function start nearer than this is where the disassembly begins.
const CODE_FROM_FUNCTION_BYTES: u64 = 1024;
/// Bytes of code shown after the instruction.
const CODE_AFTER_BYTES: u64 = 64;

/// Notes the return addresses of the current stack (a suspended thread, switched into).
fn capture_suspended() {
    // Unwinding takes stack; a thread suspended near the end of its own must not overflow
    // for being looked at (the overflow handler is told it runs, so it would blame it).
    let here = 0u8;
    let stack_pointer = std::ptr::addr_of!(here) as usize;
    let guard_end = overflow::running().guard_end;
    let addresses =
        if guard_end != 0 && stack_pointer.saturating_sub(guard_end) < UNWIND_STACK_BYTES {
            Err(format!(
                "too little of the thread's stack is left ({} bytes) to take its backtrace",
                stack_pointer.saturating_sub(guard_end)
            ))
        } else {
            Ok(return_addresses())
        };
    CAPTURED.with(|captured| *captured.borrow_mut() = Some(addresses));
}

/// The stack a suspended thread must have left for its backtrace to be taken.
const UNWIND_STACK_BYTES: usize = 24 * 1024;

/// A frame's return address, and the start of its function as the unwind tables say.
#[derive(Clone, Copy)]
struct Address {
    ip: usize,
    function: usize,
}

fn return_addresses() -> Vec<Address> {
    let mut addresses = Vec::new();
    backtrace::trace(|frame| {
        addresses.push(Address {
            ip: frame.ip() as usize,
            function: frame.symbol_address() as usize,
        });
        addresses.len() < MAX_FRAMES * 2
    });
    addresses
}

/// Every green thread.
pub(super) fn threads(execution: &Execution, place: Place) -> Vec<ThreadView> {
    (0..execution.threads.len())
        .map(|index| {
            let slot = &execution.threads[index];
            let started = slot
                .coroutine
                .as_ref()
                .as_ref()
                .is_some_and(|coroutine| coroutine.started());
            let state = match &slot.state {
                State::Finished => ThreadState::Finished,
                State::Blocked { deadline, .. } => ThreadState::Blocked {
                    on: execution.describe_wait(index).waiting_for,
                    timed: deadline.is_some(),
                },
                State::Runnable if index == execution.current && place != Place::End => {
                    ThreadState::Running
                }
                State::Runnable if !started => ThreadState::NotStarted,
                State::Runnable => ThreadState::Runnable,
            };
            ThreadView {
                id: index as u32,
                name: slot
                    .name
                    .as_deref()
                    .map(|name| super::truncated(name, MAX_NAME_BYTES)),
                state,
                location: Some(slot.location.unwrap_or(slot.spawned_at).to_string()),
            }
        })
        .collect()
}

/// The locks, their holders and waiters, and a wait-for cycle if there is one.
pub(super) fn locks(execution: &Execution) -> LocksView {
    let locks = execution
        .objects
        .iter()
        .enumerate()
        .filter(|(_, object)| matches!(object.kind, ObjectKind::Mutex | ObjectKind::RwLock))
        .map(|(index, object)| {
            let (holders, shared) = match object.owner {
                Some(owner) => (vec![owner as u32], false),
                None => (
                    object.readers.iter().map(|&reader| reader as u32).collect(),
                    !object.readers.is_empty(),
                ),
            };
            LockView {
                object: index as u32,
                name: execution.object_name(ObjectId::from_index(index)),
                holders,
                shared,
                held_at: object
                    .owner
                    .and(object.owner_location)
                    .map(ToString::to_string),
                waiters: object.waiters.iter().map(|&thread| thread as u32).collect(),
                poisoned: object.poisoned,
            }
        })
        .collect();
    let cycle = (0..execution.threads.len())
        .filter(|&thread| matches!(execution.threads[thread].state, State::Blocked { .. }))
        .find_map(|thread| execution.find_cycle(thread))
        .map(|cycle| cycle.into_iter().map(|thread| thread as u32).collect())
        .unwrap_or_default();
    LocksView { locks, cycle }
}

/// A thread's backtrace in the program's code, innermost first.
pub(super) fn backtrace(
    execution: &mut Execution,
    place: Place,
    thread: u32,
) -> Result<Vec<Frame>, String> {
    let addresses = stack_of(execution, place, thread)?;
    let frames = program_frames(symbolize(&addresses));
    if frames.is_empty() {
        return Err(format!(
            "T{thread} has no frames of the program's own code: it is exiting (its body \
             returned), or the program was built without symbols"
        ));
    }
    Ok(frames.into_iter().map(|(frame, _)| frame).collect())
}

/// The code around a thread's current instruction in the program's code.
pub(super) fn code(
    execution: &mut Execution,
    place: Place,
    thread: u32,
) -> Result<CodeView, String> {
    let addresses = stack_of(execution, place, thread)?;
    let frames = program_frames(symbolize(&addresses));
    let Some((frame, function_start)) = frames.into_iter().next() else {
        return Err(format!("T{thread} has no frames of the program's own code"));
    };
    let ip = frame.ip;
    let start = match function_start {
        Some(start) if start <= ip && ip - start <= CODE_FROM_FUNCTION_BYTES => start,
        _ => ip.saturating_sub(CODE_BEFORE_BYTES),
    };
    let bytes = read_own_memory(start, (ip - start + CODE_AFTER_BYTES) as usize);
    if bytes.is_empty() {
        return Err(format!("the code at {ip:#x} cannot be read"));
    }
    Ok(CodeView {
        thread,
        frame,
        base: start,
        bytes,
        arch: std::env::consts::ARCH.to_owned(),
    })
}

/// The return addresses of a thread's stack: taken here if the pause is on its stack,
/// else by switching into it (it notes them and switches straight back).
fn stack_of(execution: &mut Execution, place: Place, thread: u32) -> Result<Vec<Address>, String> {
    let index = thread as usize;
    let Some(slot) = execution.threads.get_mut(index) else {
        return Err(format!(
            "there is no thread T{thread} (the threads are T0..T{})",
            execution.threads.len().saturating_sub(1)
        ));
    };
    if matches!(slot.state, State::Finished) {
        return Err(format!("T{thread} has finished"));
    }
    let on_its_stack = index == execution.current && matches!(place, Place::Step | Place::Panic);
    if on_its_stack {
        return Ok(return_addresses());
    }
    CAPTURED.with(|captured| captured.borrow_mut().take());
    // The thread is suspended; the execution resumes it to run `capture_suspended` on its
    // own stack, which notes its return addresses and touches nothing else.
    execution.look_at_suspended(index, capture_suspended)?;
    CAPTURED
        .with(|captured| captured.borrow_mut().take())
        .unwrap_or_else(|| Err(format!("T{thread} did not show its stack")))
        .map_err(|reason| format!("T{thread}: {reason}"))
}

/// One symbol of a frame: the frame (inlined calls give several per address) and the start
/// of its function.
type Symbolized = (Frame, Option<u64>);

fn symbolize(addresses: &[Address]) -> Vec<Symbolized> {
    let mut frames = Vec::new();
    for &Address {
        ip: address,
        function,
    } in addresses
    {
        let mut symbols = Vec::new();
        // A return address is one past the call: look the call up.
        backtrace::resolve(address.saturating_sub(1) as *mut c_void, |symbol| {
            symbols.push((
                symbol.name().map(|name| format!("{name:#}")),
                symbol.filename().map(|path| path.display().to_string()),
                symbol.lineno(),
                symbol.addr().map(|start| start as u64),
            ));
        });
        // The unwind tables' start of the function holding the address (an inlined call's
        // symbol names where the inlined code came from, not this function).
        let start = (function != 0)
            .then_some(function as u64)
            .or_else(|| symbols.iter().rev().find_map(|symbol| symbol.3));
        if symbols.is_empty() {
            symbols.push((None, None, None, None));
        }
        for (function, file, line, _) in symbols {
            frames.push((
                Frame {
                    ip: address as u64,
                    function,
                    file,
                    line,
                },
                start,
            ));
        }
        if frames.len() >= MAX_FRAMES * 2 {
            break;
        }
    }
    frames
}

fn is_runtime_frame(frame: &Frame) -> bool {
    match &frame.function {
        Some(name) => {
            RUNTIME_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
                // corosensei's assembly entry points, on the way to the agent's stack.
                || name.ends_with("_trampoline")
                // The C entry point, below a program's main.
                || name == "main"
        }
        None => true,
    }
}

/// The frames of the program's own code: without the runtime's frames above them (the
/// operation, the switch, the agent) and the thread's entry below them.
fn program_frames(mut frames: Vec<Symbolized>) -> Vec<Symbolized> {
    // Below the thread's entry: the coroutine's start and (linked across the switch)
    // whoever resumed it. Cut there first: at a thread's exit the entry is above every
    // frame of the program's, and what lies below it is not the thread's.
    if let Some(entry) = frames.iter().position(|(frame, _)| {
        frame
            .function
            .as_deref()
            .is_some_and(|name| name.contains("thread_entry") && name.starts_with("reel::"))
    }) {
        frames.truncate(entry);
    }
    let first = frames
        .iter()
        .position(|(frame, _)| !is_runtime_frame(frame))
        .unwrap_or(frames.len());
    let mut frames: Vec<Symbolized> = frames.into_iter().skip(first).collect();
    while frames
        .last()
        .is_some_and(|(frame, _)| is_runtime_frame(frame))
    {
        frames.pop();
    }
    frames.truncate(MAX_FRAMES);
    frames
}

/// Reads this process's memory, stopping at the first byte that is not mapped.
fn read_own_memory(address: u64, length: usize) -> Vec<u8> {
    let mut buffer = vec![0u8; length];
    let local = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: length,
    };
    let remote = libc::iovec {
        iov_base: address as *mut c_void,
        iov_len: length,
    };
    // SAFETY: process_vm_readv copies from the given range of this process into `buffer`
    // (which has room for `length` bytes); an unmapped source range fails with EFAULT
    // instead of faulting.
    let read = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    buffer.truncate(read.max(0) as usize);
    buffer
}
