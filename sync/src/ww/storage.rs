//! The allocation of a [`LockSet`](super::LockSet)'s guard list, kept between transactions.
//!
//! A guard borrows its transaction's context, so a list of guards cannot outlive the
//! transaction; its allocation can. A caller that locks again and again (a sync set) keeps
//! it here, empty, and the next transaction's list reuses it instead of allocating (a heap
//! allocation and free per lock, about 240 instructions on the boards' heap).

use alloc::vec::Vec;
use core::mem::{ManuallyDrop, align_of, size_of};

/// What the allocation is kept as between transactions: an element of a guard's layout
/// (a guard is two references, the mutex and the context).
type Slot = [usize; 2];

/// An empty list's allocation, for `LockSet::with_storage`.
#[derive(Debug, Default)]
pub(crate) struct GuardStorage(Vec<Slot>);

/// True when a `Vec<G>`'s allocation is one of `Slot`s of the same capacity.
const fn same_layout<G>() -> bool {
    size_of::<G>() == size_of::<Slot>() && align_of::<G>() == align_of::<Slot>()
}

impl GuardStorage {
    /// Keeps the allocation of `guards`, which must be empty (anything left in it is
    /// dropped first, which for a guard means unlocked).
    #[inline]
    pub(crate) fn from_guards<G>(mut guards: Vec<G>) -> Self {
        guards.clear();
        if !same_layout::<G>() || guards.capacity() == 0 {
            return Self::default();
        }
        let mut v = ManuallyDrop::new(guards);
        let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
        // SAFETY: `ptr` was allocated by `Vec<G>` with the global allocator for `cap`
        // elements of `G`, whose size and alignment are `Slot`'s (checked above), so it is
        // an allocation for `cap` `Slot`s; the length is 0, so nothing needs to be
        // initialised; `v` is never dropped, so the allocation has one owner again.
        Self(unsafe { Vec::from_raw_parts(ptr.cast::<Slot>(), 0, cap) })
    }

    /// An empty `Vec<G>` in the kept allocation.
    #[inline]
    pub(crate) fn into_guards<G>(self) -> Vec<G> {
        if !same_layout::<G>() || self.0.capacity() == 0 {
            return Vec::new();
        }
        let mut v = ManuallyDrop::new(self.0);
        let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
        // SAFETY: the converse of `from_guards`: an allocation of `cap` `Slot`s by the
        // global allocator is one for `cap` `G`s (same size and alignment, checked above);
        // length 0; `v` is never dropped.
        unsafe { Vec::from_raw_parts(ptr.cast::<G>(), 0, cap) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// The allocation goes round trip: the same buffer, the same capacity, whatever the
    /// guard type, as long as its layout is a `Slot`'s.
    #[test]
    fn the_allocation_is_kept_across_element_types() {
        let mut a: Vec<(&u8, &u16)> = Vec::with_capacity(5);
        let (x, y) = (1u8, 2u16);
        a.push((&x, &y));
        let cap = a.capacity();
        let ptr = a.as_ptr() as usize;
        let s = GuardStorage::from_guards(a);
        let mut b: Vec<(&u32, &u64)> = s.into_guards();
        assert!(b.is_empty());
        assert_eq!(b.capacity(), cap);
        assert_eq!(b.as_ptr() as usize, ptr);
        let (z, w) = (3u32, 4u64);
        b.push((&z, &w));
        assert_eq!(*b[0].1, 4);
    }

    /// A type of another layout is never given the allocation: it gets a new list.
    #[test]
    fn another_layout_gets_a_fresh_list() {
        let a: Vec<Slot> = vec![[1, 2]; 3];
        let s = GuardStorage::from_guards(a);
        let b: Vec<u8> = s.into_guards();
        assert_eq!(b.capacity(), 0);
        let c: Vec<[usize; 3]> =
            GuardStorage::from_guards(Vec::<Slot>::with_capacity(4)).into_guards();
        assert_eq!(c.capacity(), 0);
    }
}
