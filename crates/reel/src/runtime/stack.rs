//! Green-thread stacks: mmap'd regions with a guard page at the low end, pooled for reuse.
//!
//! ```text
//!   high addresses  +--------------------+ <- base()  (stack pointer starts here)
//!                   |   usable stack     |    grows downwards, pages committed lazily
//!                   |        ...         |
//!                   +--------------------+ <- guard_end
//!                   |   guard page(s)    |    PROT_NONE or a madvise guard region:
//!   low addresses   +--------------------+ <- limit()  any touch faults
//! ```
//!
//! The guard is installed with `MADV_GUARD_INSTALL` where the kernel has it (Linux 6.13+):
//! that marks the pages without splitting the mapping, so 100,000 stacks do not run into
//! `vm.max_map_count`. On older kernels it falls back to `mprotect(PROT_NONE)`.

use std::cell::RefCell;
use std::io;
use std::num::NonZeroUsize;
use std::sync::OnceLock;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};

/// `MADV_GUARD_INSTALL` from Linux's uapi (not yet in the libc crate).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Stacks kept for reuse per kernel thread; the rest are unmapped when freed.
const POOL_LIMIT: usize = 1024;

/// The smallest stack a green thread may ask for, guard page excluded.
pub(crate) const MIN_STACK_BYTES: usize = 16 * 1024;

fn page_size() -> usize {
    static PAGE_SIZE: OnceLock<usize> = OnceLock::new();
    *PAGE_SIZE.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).unwrap_or(4096)
    })
}

/// One green thread's stack. Owns its mapping; unmapped on drop.
#[derive(Debug)]
pub(crate) struct GreenStack {
    /// Lowest address of the mapping (start of the guard page).
    low: usize,
    /// Total bytes mapped, guard included.
    mapped_bytes: usize,
    /// Bytes of guard at the low end.
    guard_bytes: usize,
    /// Tells Valgrind (when running under it) that this is a stack, so that switching to it
    /// is not taken for a corrupt stack pointer. A no-op otherwise.
    _valgrind: ValgrindStackRegistration,
}

impl GreenStack {
    /// Maps a stack with at least `usable_bytes` of usable space and a guard page below it.
    pub(crate) fn new(usable_bytes: usize) -> io::Result<GreenStack> {
        let page = page_size();
        let usable_bytes = usable_bytes.max(MIN_STACK_BYTES).next_multiple_of(page);
        let guard_bytes = page;
        let mapped_bytes = usable_bytes + guard_bytes;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
        // no existing memory; the result is checked for MAP_FAILED below.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = GreenStack {
            low: addr as usize,
            mapped_bytes,
            guard_bytes,
            _valgrind: ValgrindStackRegistration::new(addr.cast(), mapped_bytes),
        };
        // SAFETY: the range is the first page of the mapping made above, which nothing uses yet.
        let guarded = unsafe { libc::madvise(addr, guard_bytes, MADV_GUARD_INSTALL) } == 0;
        if !guarded {
            // SAFETY: as above; PROT_NONE on our own unused page.
            let protected = unsafe { libc::mprotect(addr, guard_bytes, libc::PROT_NONE) } == 0;
            if !protected {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(stack)
    }

    /// Usable bytes above the guard page.
    pub(crate) fn usable_bytes(&self) -> usize {
        self.mapped_bytes - self.guard_bytes
    }

    /// The guard page's address range, `[start, end)`.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        (self.low, self.low + self.guard_bytes)
    }
}

impl Drop for GreenStack {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with exactly this address and length and is
        // only unmapped here, once; no coroutine runs on it any more (it was returned by
        // `Coroutine::into_stack` or never used).
        unsafe {
            libc::munmap(self.low as *mut libc::c_void, self.mapped_bytes);
        }
    }
}

// SAFETY: the mapping has a guard page at its low end (installed in `new`), at least
// MIN_STACK_SIZE usable bytes, and both bounds are page aligned, hence STACK_ALIGNMENT aligned.
unsafe impl Stack for GreenStack {
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.low + self.mapped_bytes).expect("a mapping does not end at 0")
    }

    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.low).expect("a mapping does not start at 0")
    }
}

thread_local! {
    static POOL: RefCell<Vec<GreenStack>> = const { RefCell::new(Vec::new()) };
}

/// Takes a stack of exactly the rounded size from this kernel thread's pool, or maps one.
pub(crate) fn allocate(usable_bytes: usize) -> io::Result<GreenStack> {
    let want = usable_bytes
        .max(MIN_STACK_BYTES)
        .next_multiple_of(page_size());
    let reused = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let index = pool
            .iter()
            .rposition(|stack| stack.usable_bytes() == want)?;
        Some(pool.swap_remove(index))
    });
    match reused {
        Some(stack) => Ok(stack),
        None => GreenStack::new(want),
    }
}

/// Returns a stack to the pool, or unmaps it when the pool is full.
pub(crate) fn release(stack: GreenStack) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_LIMIT {
            pool.push(stack);
        }
    });
}
