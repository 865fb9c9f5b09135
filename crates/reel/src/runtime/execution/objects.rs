//! The shared objects of an execution: their state (holders, waiters, counts), the ids the
//! execution gives them in order of first use, and waking their waiters.
//!
//! An object's id belongs to the execution, not to the primitive: a primitive's
//! [`ObjectCell`] only caches the id its latest execution gave it. When two executions run
//! at once on two kernel threads and share a primitive (a `static`), the one that does not
//! hold the cell keeps its id in its own table (`shared_objects`), so both explore it, each
//! with its own state; the primitive's data is kept apart by its `live::DataLock`. (A
//! channel, whose messages have no such lock, is refused.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use super::super::live;
use super::super::vocabulary::{Blocker, ObjectId, ObjectKind};
use super::Execution;
use super::step::ONCE_HINT;
use super::threads::ThreadState;

/// Per-object bookkeeping of the execution; fields are used as the kind needs.
#[derive(Debug)]
pub(crate) struct ObjectState {
    pub(crate) kind: ObjectKind,
    /// Blocked threads in arrival order.
    pub(crate) waiters: VecDeque<usize>,
    /// Mutex holder, RwLock writer, or the thread running a Once.
    pub(crate) owner: Option<usize>,
    /// Where `owner` acquired it.
    pub(crate) owner_location: Option<&'static std::panic::Location<'static>>,
    /// RwLock readers (a thread appears once per read guard it holds).
    pub(crate) readers: Vec<usize>,
    /// Mutex/RwLock poisoned by a panic; Once whose initialiser panicked.
    pub(crate) poisoned: bool,
    /// Barrier: threads arrived in this round.
    pub(crate) count: usize,
    /// Barrier: rounds completed.
    pub(crate) round: u64,
}

impl std::ops::Index<ObjectId> for Vec<ObjectState> {
    type Output = ObjectState;

    #[inline]
    fn index(&self, object: ObjectId) -> &ObjectState {
        &self[object.index()]
    }
}

impl std::ops::IndexMut<ObjectId> for Vec<ObjectState> {
    #[inline]
    fn index_mut(&mut self, object: ObjectId) -> &mut ObjectState {
        &mut self[object.index()]
    }
}

impl Execution {
    pub(crate) fn object_name(&self, object: ObjectId) -> String {
        format!("{}#{}", self.objects[object].kind.name(), object.index())
    }

    /// Registers a new object of this execution and returns its id.
    #[cold]
    #[inline(never)]
    pub(super) fn register_object(&mut self, kind: ObjectKind) -> ObjectId {
        // Reuse the queues of an earlier execution's object: no allocation per execution.
        let (waiters, readers) = match self.spare_objects.pop() {
            Some(spare) => (spare.waiters, spare.readers),
            None => (VecDeque::new(), Vec::new()),
        };
        debug_assert!(waiters.is_empty() && readers.is_empty());
        let object = ObjectId::from_index(self.objects.len());
        if !self.observers.is_empty() && !self.quiet {
            self.tell_object(object, kind);
        }
        self.objects.push(ObjectState {
            kind,
            waiters,
            owner: None,
            owner_location: None,
            readers,
            poisoned: false,
            count: 0,
            round: 0,
        });
        object
    }

    #[cold]
    fn tell_object(&mut self, object: ObjectId, kind: ObjectKind) {
        for position in 0..self.observers.len() {
            if let Err(mismatch) = self.observers[position].on_object(object, kind) {
                let mut actual = format!(
                    "{} uses a new {} (which would be {}#{})",
                    self.short_thread(self.current),
                    kind.name(),
                    kind.name(),
                    object.index()
                );
                if kind == ObjectKind::Once {
                    actual.push_str(ONCE_HINT);
                    self.diverged_at_once = true;
                }
                self.stop_on(mismatch, actual);
                return;
            }
        }
    }

    /// Makes a blocked thread runnable again.
    pub(crate) fn wake(&mut self, thread: usize) {
        if let ThreadState::Blocked { deadline, .. } = self.threads[thread].state {
            if let Some(deadline) = deadline {
                self.timers.remove(&(deadline, thread));
            }
            self.threads[thread].state = ThreadState::Runnable;
            self.threads[thread].woken_by = super::Wake::Notified;
            self.runnable.insert(thread);
        }
    }

    /// Wakes every thread queued on `object`.
    #[inline]
    pub(crate) fn wake_all_waiters(&mut self, object: ObjectId) {
        while let Some(waiter) = self.objects[object].waiters.pop_front() {
            self.wake(waiter);
        }
    }

    /// Wakes the first thread queued on `object`; returns whether there was one.
    pub(crate) fn wake_one_waiter(&mut self, object: ObjectId) -> bool {
        match self.objects[object].waiters.pop_front() {
            Some(waiter) => {
                self.wake(waiter);
                true
            }
            None => false,
        }
    }

    /// Whether a thread queued on `object` is blocked on `blocker`.
    pub(crate) fn has_waiter_on(&self, object: ObjectId, blocker: Blocker) -> bool {
        self.objects[object].waiters.iter().any(|&waiter| {
            matches!(self.threads[waiter].state, ThreadState::Blocked { on, .. } if on == blocker)
        })
    }

    /// Queues the current thread on `object` (call before `block`).
    pub(crate) fn enqueue_current(&mut self, object: ObjectId) {
        let current = self.current;
        self.objects[object].waiters.push_back(current);
    }

    /// Takes a timed-out thread out of the waiter queue of the object it waited on.
    pub(super) fn remove_waiter_everywhere(&mut self, thread: usize) {
        let ThreadState::Blocked { on, .. } = self.threads[thread].state else {
            return;
        };
        if let Some(object) = on.object() {
            let waiters = &mut self.objects[object].waiters;
            if let Some(position) = waiters.iter().position(|&waiter| waiter == thread) {
                waiters.remove(position);
            }
        }
    }
}

impl Default for ObjectCell {
    fn default() -> ObjectCell {
        ObjectCell::new()
    }
}

/// A primitive's cache of the id its latest execution gave it: which execution
/// (generation) and which index.
#[derive(Debug)]
pub(crate) struct ObjectCell {
    /// `generation << INDEX_BITS | index`; generation 0 means never registered.
    slot: AtomicU64,
    /// The primitive's serial number (`live::new_serial`), given when an execution first
    /// shares it with another running one; 0 until then.
    serial: AtomicU64,
}

/// Bits of an object index in an `ObjectCell` (the rest hold the generation).
const INDEX_BITS: u32 = 64 - live::GENERATION_BITS;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

impl ObjectCell {
    pub(crate) const fn new() -> ObjectCell {
        ObjectCell {
            slot: AtomicU64::new(0),
            serial: AtomicU64::new(0),
        }
    }

    /// The primitive's serial number, given on first asking.
    fn serial(&self) -> u64 {
        let serial = self.serial.load(Ordering::Acquire);
        if serial != 0 {
            return serial;
        }
        let fresh = live::new_serial();
        match self
            .serial
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(given) => given,
        }
    }

    /// This object's id in `execution`, if it was used there.
    pub(crate) fn current_id(&self, execution: &Execution) -> Option<ObjectId> {
        let slot = self.slot.load(Ordering::Relaxed);
        if slot >> INDEX_BITS == execution.generation {
            return Some(ObjectId::from_index((slot & INDEX_MASK) as usize));
        }
        match self.serial.load(Ordering::Acquire) {
            0 => None,
            serial => execution.shared_id(serial),
        }
    }

    /// This object's id in `execution`, registering it there on first use.
    #[inline]
    pub(crate) fn id(&self, execution: &mut Execution, kind: ObjectKind) -> ObjectId {
        let slot = self.slot.load(Ordering::Acquire);
        if slot >> INDEX_BITS == execution.generation {
            return ObjectId::from_index((slot & INDEX_MASK) as usize);
        }
        self.register(execution, kind, slot)
    }

    /// First use in this execution (or a use of a cell another running execution holds):
    /// take the cell over from the execution that used it before, unless that one is still
    /// running on another kernel thread; then this execution keeps the id in its own table.
    #[cold]
    #[inline(never)]
    fn register(&self, execution: &mut Execution, kind: ObjectKind, mut seen: u64) -> ObjectId {
        if !execution.shared_objects.is_empty()
            && let Some(object) = execution.shared_id(self.serial.load(Ordering::Acquire))
        {
            return object;
        }
        loop {
            let index = execution.objects.len();
            assert!(
                (index as u64) < INDEX_MASK,
                "reel: more than 2^24 shared objects in one execution"
            );
            if live::is_running(seen >> INDEX_BITS) {
                // A channel's messages live in the channel itself, with nothing to keep two
                // executions apart: it belongs to one execution at a time.
                assert!(
                    kind != ObjectKind::Channel,
                    "reel: this channel is in use by another reel execution running on another \
                     kernel thread at the same time. A channel belongs to one runtime at a time: \
                     give each execution its own"
                );
                // Another execution on another kernel thread uses it now: both explore it,
                // each with its own state; this one remembers the id by the cell's address.
                let object = execution.register_object(kind);
                execution.shared_objects.push((self.serial(), object));
                return object;
            }
            let claimed = (execution.generation << INDEX_BITS) | index as u64;
            match self
                .slot
                .compare_exchange(seen, claimed, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return execution.register_object(kind),
                // Another kernel thread's execution got there first: check it again.
                Err(now) => seen = now,
            }
        }
    }
}

impl Execution {
    /// The id this execution gave a primitive (by its serial) that another running
    /// execution holds the cell of.
    fn shared_id(&self, serial: u64) -> Option<ObjectId> {
        self.shared_objects
            .iter()
            .find(|(shared, _)| *shared == serial && serial != 0)
            .map(|&(_, object)| object)
    }
}
