//! One import point for atomics and cells, so the same code runs natively and under loom.
//!
//! Under `--cfg loom` these are loom's instrumented types; otherwise `core`'s. Code in this
//! crate never imports `core::sync::atomic` or `core::cell::UnsafeCell` directly.

#[cfg(loom)]
pub(crate) use loom::sync::atomic;

#[cfg(not(loom))]
pub(crate) use core::sync::atomic;

/// Reference counting for shared objects (fences): loom's `Arc` under loom, so the model
/// checks see the release/acquire of the last drop; `alloc`'s otherwise.
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::Arc;

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use alloc::sync::Arc;

/// Takes the value out of `a` if this was its last reference (else just drops `a`): how
/// nested fences are freed without recursion. Loom's `Arc` has only `try_unwrap`, which is
/// the same here: a failed unwrap drops the reference, and whoever drops the last one frees.
#[cfg(not(loom))]
pub(crate) fn arc_into_inner<T>(a: Arc<T>) -> Option<T> {
    Arc::into_inner(a)
}

#[cfg(loom)]
pub(crate) fn arc_into_inner<T>(a: Arc<T>) -> Option<T> {
    Arc::try_unwrap(a).ok()
}

/// An `UnsafeCell` with loom's closure API (`with`/`with_mut`), which lets loom check every
/// access for data races; natively it compiles to plain pointer access.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(
    #[cfg(loom)] loom::cell::UnsafeCell<T>,
    #[cfg(not(loom))] core::cell::UnsafeCell<T>,
);

#[allow(dead_code)] // not every configuration uses every accessor
impl<T> UnsafeCell<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }

    #[cfg(loom)]
    pub(crate) fn new(v: T) -> Self {
        Self(loom::cell::UnsafeCell::new(v))
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(loom)]
        return self.0.with(f);
        #[cfg(not(loom))]
        return f(self.0.get());
    }

    /// Runs `f` with a mutable raw pointer to the contents.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(loom)]
        return self.0.with_mut(f);
        #[cfg(not(loom))]
        return f(self.0.get());
    }
}
