//! Atomics with the API of `std::sync::atomic`. Every access is a scheduling point, so the
//! scheduler can interleave threads between any two atomic operations. Accesses are
//! sequentially consistent whatever `Ordering` says: reel explores interleavings, not weak
//! memory behaviours.

use std::fmt;

pub use std::sync::atomic::{Ordering, compiler_fence};

use crate::runtime::execution::{self, ObjectCell, ObjectKind, Op};

/// A memory fence; a scheduling point.
#[track_caller]
pub fn fence(order: Ordering) {
    execution::schedule_point(Op::Fence, None);
    std::sync::atomic::fence(order);
}

/// The scheduling point of one access to the atomic behind `cell`.
#[track_caller]
fn access(cell: &ObjectCell, op: Op) {
    execution::object_point(cell, ObjectKind::Atomic, op, std::panic::Location::caller());
}

macro_rules! atomic_common {
    ($name:ident, $value:ty) => {
        impl $name {
            /// Loads the value.
            #[track_caller]
            pub fn load(&self, order: Ordering) -> $value {
                access(&self.object, Op::AtomicLoad);
                self.inner.load(order)
            }

            /// Stores a value.
            #[track_caller]
            pub fn store(&self, value: $value, order: Ordering) {
                access(&self.object, Op::AtomicStore);
                self.inner.store(value, order)
            }

            /// Stores a value, returning the previous one.
            #[track_caller]
            pub fn swap(&self, value: $value, order: Ordering) -> $value {
                access(&self.object, Op::AtomicUpdate);
                self.inner.swap(value, order)
            }

            /// Stores `new` if the value is `current`; the previous value either way.
            #[track_caller]
            pub fn compare_exchange(
                &self,
                current: $value,
                new: $value,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$value, $value> {
                access(&self.object, Op::AtomicUpdate);
                self.inner.compare_exchange(current, new, success, failure)
            }

            /// As `compare_exchange` (never fails spuriously under reel).
            #[track_caller]
            pub fn compare_exchange_weak(
                &self,
                current: $value,
                new: $value,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$value, $value> {
                self.compare_exchange(current, new, success, failure)
            }

            /// Applies `f` until it succeeds or returns None, as std; one scheduling point.
            #[track_caller]
            pub fn fetch_update<F>(
                &self,
                set_order: Ordering,
                fetch_order: Ordering,
                f: F,
            ) -> Result<$value, $value>
            where
                F: FnMut($value) -> Option<$value>,
            {
                access(&self.object, Op::AtomicUpdate);
                self.inner.fetch_update(set_order, fetch_order, f)
            }

            /// Mutable access (the borrow proves exclusivity; not a scheduling point).
            pub fn get_mut(&mut self) -> &mut $value {
                self.inner.get_mut()
            }

            /// Consumes the atomic, returning its value.
            pub fn into_inner(self) -> $value {
                self.inner.into_inner()
            }

            /// A raw pointer to the value, as std.
            pub const fn as_ptr(&self) -> *mut $value {
                self.inner.as_ptr()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Reading for Debug is not a scheduling point: it must not change schedules.
                fmt::Debug::fmt(&self.inner, f)
            }
        }
    };
}

macro_rules! atomic_bits {
    ($name:ident, $value:ty, [$($method:ident),*]) => {
        impl $name {
            $(
                /// Read-modify-write as the std method of the same name; returns the old value.
                #[track_caller]
                pub fn $method(&self, value: $value, order: Ordering) -> $value {
                    access(&self.object, Op::AtomicUpdate);
                    self.inner.$method(value, order)
                }
            )*
        }
    };
}

macro_rules! atomic_int {
    ($($name:ident: $value:ty),* $(,)?) => {
        $(
            #[doc = concat!("An integer atomic, as `std::sync::atomic::", stringify!($name), "`.")]
            #[derive(Default)]
            pub struct $name {
                object: ObjectCell,
                inner: std::sync::atomic::$name,
            }

            impl $name {
                /// A new atomic holding `value`.
                pub const fn new(value: $value) -> $name {
                    $name { object: ObjectCell::new(), inner: std::sync::atomic::$name::new(value) }
                }
            }

            impl From<$value> for $name {
                fn from(value: $value) -> $name {
                    $name::new(value)
                }
            }

            atomic_common!($name, $value);
            atomic_bits!(
                $name,
                $value,
                [fetch_add, fetch_sub, fetch_and, fetch_nand, fetch_or, fetch_xor, fetch_max, fetch_min]
            );
        )*
    };
}

atomic_int!(
    AtomicI8: i8,
    AtomicI16: i16,
    AtomicI32: i32,
    AtomicI64: i64,
    AtomicIsize: isize,
    AtomicU8: u8,
    AtomicU16: u16,
    AtomicU32: u32,
    AtomicU64: u64,
    AtomicUsize: usize,
);

/// A boolean atomic, as `std::sync::atomic::AtomicBool`.
#[derive(Default)]
pub struct AtomicBool {
    object: ObjectCell,
    inner: std::sync::atomic::AtomicBool,
}

impl AtomicBool {
    /// A new atomic holding `value`.
    pub const fn new(value: bool) -> AtomicBool {
        AtomicBool {
            object: ObjectCell::new(),
            inner: std::sync::atomic::AtomicBool::new(value),
        }
    }

    /// Logical not; returns the old value.
    #[track_caller]
    pub fn fetch_not(&self, order: Ordering) -> bool {
        access(&self.object, Op::AtomicUpdate);
        self.inner.fetch_xor(true, order)
    }
}

impl From<bool> for AtomicBool {
    fn from(value: bool) -> AtomicBool {
        AtomicBool::new(value)
    }
}

atomic_common!(AtomicBool, bool);
atomic_bits!(
    AtomicBool,
    bool,
    [fetch_and, fetch_nand, fetch_or, fetch_xor]
);

/// A raw pointer atomic, as `std::sync::atomic::AtomicPtr`.
pub struct AtomicPtr<T> {
    object: ObjectCell,
    inner: std::sync::atomic::AtomicPtr<T>,
}

impl<T> AtomicPtr<T> {
    /// A new atomic holding `pointer`.
    pub const fn new(pointer: *mut T) -> AtomicPtr<T> {
        AtomicPtr {
            object: ObjectCell::new(),
            inner: std::sync::atomic::AtomicPtr::new(pointer),
        }
    }

    /// Loads the pointer.
    #[track_caller]
    pub fn load(&self, order: Ordering) -> *mut T {
        access(&self.object, Op::AtomicLoad);
        self.inner.load(order)
    }

    /// Stores a pointer.
    #[track_caller]
    pub fn store(&self, pointer: *mut T, order: Ordering) {
        access(&self.object, Op::AtomicStore);
        self.inner.store(pointer, order)
    }

    /// Stores a pointer, returning the previous one.
    #[track_caller]
    pub fn swap(&self, pointer: *mut T, order: Ordering) -> *mut T {
        access(&self.object, Op::AtomicUpdate);
        self.inner.swap(pointer, order)
    }

    /// Stores `new` if the pointer is `current`.
    #[track_caller]
    pub fn compare_exchange(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        access(&self.object, Op::AtomicUpdate);
        self.inner.compare_exchange(current, new, success, failure)
    }

    /// As `compare_exchange` (never fails spuriously under reel).
    #[track_caller]
    pub fn compare_exchange_weak(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.compare_exchange(current, new, success, failure)
    }

    /// Applies `f` until it succeeds or returns None; one scheduling point.
    #[track_caller]
    pub fn fetch_update<F>(
        &self,
        set_order: Ordering,
        fetch_order: Ordering,
        f: F,
    ) -> Result<*mut T, *mut T>
    where
        F: FnMut(*mut T) -> Option<*mut T>,
    {
        access(&self.object, Op::AtomicUpdate);
        self.inner.fetch_update(set_order, fetch_order, f)
    }

    /// Mutable access to the pointer.
    pub fn get_mut(&mut self) -> &mut *mut T {
        self.inner.get_mut()
    }

    /// Consumes the atomic, returning the pointer.
    pub fn into_inner(self) -> *mut T {
        self.inner.into_inner()
    }
}

impl<T> Default for AtomicPtr<T> {
    fn default() -> AtomicPtr<T> {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

impl<T> fmt::Debug for AtomicPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
