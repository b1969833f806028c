//! The one intrusive doubly linked list of the sync core: fence callback nodes
//! (`fence::callback::Node`) and ww-mutex waiters (`ww::mutex::Waiter`) are linked through
//! it. Nodes live in their owners' memory (a pinned `FenceCallback`, a waiter on a blocked
//! thread's stack), so queueing never allocates.
//!
//! A [`List`] is one word: a pointer to its first node (`null` when empty). Each node embeds
//! a [`Links`] (`prev`, `next`) and names it through the [`Linked`] trait. Whoever protects
//! the list (the fence's lock bit, the ww-mutex's [`IrqSpinLock`]) protects the links of
//! every node on it as well.
//!
//! # Invariants
//!
//! 1. **Alive while linked.** Every node reachable from a list is alive and does not move
//!    until it is unlinked with [`List::remove`] or yielded by the [`Drain`] of a list it was
//!    [taken](List::take) into. The `unsafe` insertion functions make their callers promise
//!    this; everything else relies on it.
//! 2. **One list at a time.** A node is linked on at most one list, at most once.
//! 3. **The list owns the links.** A linked node's `prev`/`next` are read only through a
//!    `&List` and written only through a `&mut List` of the list it is on; nobody else touches
//!    them while it is linked (the node's owner included). Holding `&mut List` therefore
//!    means holding every link of the list. Links of a node that is not linked are
//!    meaningless and rewritten on insertion.
//! 4. **Shape.** `head.prev` is null; for linked nodes `a.next == b` exactly when
//!    `b.prev == a`; the last node's `next` is null.
//!
//! Removal is O(1) (the node knows its neighbours); insertion at the front is O(1); ordered
//! insertion walks the list. Links are `shim::UnsafeCell`s, so under loom every link access
//! is checked for races against the protocol of the lock around the list.
//!
//! [`IrqSpinLock`]: dmasync_hal::lock::IrqSpinLock

use core::fmt;
use core::marker::PhantomData;
use core::ptr;

use crate::shim::UnsafeCell;

/// The links a node embeds to be put on a [`List`]. Owned by the list while linked.
pub(crate) struct Links<T> {
    prev: UnsafeCell<*const T>,
    next: UnsafeCell<*const T>,
}

impl<T> Links<T> {
    /// Links of a node that is on no list.
    pub(crate) fn new() -> Self {
        Self {
            prev: UnsafeCell::new(ptr::null()),
            next: UnsafeCell::new(ptr::null()),
        }
    }
}

impl<T> fmt::Debug for Links<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Links")
    }
}

// SAFETY: the links are plain pointers that are only read through a `&List` and written
// through a `&mut List` of the list the node is on (invariant 3), so the borrow rules of the
// list, which is itself behind a lock, serialise every write against every other access.
unsafe impl<T> Send for Links<T> {}
// SAFETY: as for `Send`.
unsafe impl<T> Sync for Links<T> {}

/// A type whose values can be linked on a [`List`].
///
/// # Safety
///
/// `links(node)` must return a pointer to a [`Links<Self>`] inside `*node`, the same one for
/// the same node every time, and that `Links` must not be used by anything but [`List`].
pub(crate) unsafe trait Linked: Sized {
    /// The node's links.
    ///
    /// # Safety
    /// `node` points to a live `Self`.
    unsafe fn links(node: *const Self) -> *const Links<Self>;
}

/// Reads `node`'s `next`.
///
/// # Safety
/// `node` is alive, and the caller may read its links (invariant 3: it borrows the node's
/// list, or the node is on no list and only the caller touches it).
unsafe fn next<T: Linked>(node: *const T) -> *const T {
    // SAFETY: `node` is alive (contract), so its links are; the read is allowed (contract).
    unsafe { (*T::links(node)).next.with(|p| *p) }
}

/// Reads `node`'s `prev`. Same contract as [`next`].
unsafe fn prev<T: Linked>(node: *const T) -> *const T {
    // SAFETY: as in `next`.
    unsafe { (*T::links(node)).prev.with(|p| *p) }
}

/// Writes `node`'s `next`.
///
/// # Safety
/// `node` is alive and the caller may write its links (it holds `&mut` of the node's list, or
/// the node is being linked by the holder of that `&mut`).
unsafe fn set_next<T: Linked>(node: *const T, v: *const T) {
    // SAFETY: `node` is alive and nobody else accesses its links now (contract).
    unsafe { (*T::links(node)).next.with_mut(|p| *p = v) }
}

/// Writes `node`'s `prev`. Same contract as [`set_next`].
unsafe fn set_prev<T: Linked>(node: *const T, v: *const T) {
    // SAFETY: as in `set_next`.
    unsafe { (*T::links(node)).prev.with_mut(|p| *p = v) }
}

/// An intrusive doubly linked list of `T`s; see the module documentation.
pub(crate) struct List<T: Linked> {
    head: *const T,
    _nodes: PhantomData<*const T>,
}

// SAFETY: moving the list moves the right to its links (invariant 3). Other threads'
// nodes are reached through `&T`, so `T: Sync` is required.
unsafe impl<T: Linked + Sync> Send for List<T> {}
// SAFETY: `&List` only reads links and hands out `&T`; writes need `&mut List`.
unsafe impl<T: Linked + Sync> Sync for List<T> {}

impl<T: Linked> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List")
            .field("len", &self.iter().count())
            .finish()
    }
}

impl<T: Linked> List<T> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            head: ptr::null(),
            _nodes: PhantomData,
        }
    }

    /// `true` when nothing is linked.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// The first node.
    pub(crate) fn front(&self) -> Option<&T> {
        // SAFETY: a linked node is alive while linked (invariant 1), and it stays linked
        // while `self` is borrowed (unlinking needs `&mut self`).
        unsafe { self.head.as_ref() }
    }

    /// The nodes from the front.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        Iter {
            cur: self.head,
            _list: PhantomData,
        }
    }

    /// Links `node` at the front.
    ///
    /// # Safety
    /// `node` is alive, on no list, and stays alive and in place until it is unlinked with
    /// [`List::remove`] or yielded by a [`Drain`] (invariants 1 and 2).
    pub(crate) unsafe fn push_front(&mut self, node: *const T) {
        // SAFETY: `&mut self` owns the links of every linked node (invariant 3); `node` is
        // alive and on no list (contract), so its links are ours to write too.
        unsafe {
            set_prev(node, ptr::null());
            set_next(node, self.head);
            if !self.head.is_null() {
                set_prev(self.head, node);
            }
        }
        self.head = node;
    }

    /// Links `node` before the first linked node for which `before` is true, or at the back
    /// if there is none: with `before` = "is ordered after `node`" that keeps the list
    /// sorted, with equal elements in insertion order.
    ///
    /// # Safety
    /// As for [`List::push_front`].
    pub(crate) unsafe fn insert_before_first(
        &mut self,
        node: *const T,
        mut before: impl FnMut(&T) -> bool,
    ) {
        let mut prev_node: *const T = ptr::null();
        let mut cur = self.head;
        // SAFETY: every `cur` is a linked node, alive (invariant 1); `&mut self` owns all the
        // links (invariant 3), and `node`'s links are ours as it is on no list (contract).
        unsafe {
            while !cur.is_null() && !before(&*cur) {
                prev_node = cur;
                cur = next(cur);
            }
            set_prev(node, prev_node);
            set_next(node, cur);
            if prev_node.is_null() {
                self.head = node;
            } else {
                set_next(prev_node, node);
            }
            if !cur.is_null() {
                set_prev(cur, node);
            }
        }
    }

    /// Unlinks `node`. Its owner may free or move it afterwards.
    ///
    /// # Safety
    /// `node` is linked on this list.
    pub(crate) unsafe fn remove(&mut self, node: *const T) {
        // SAFETY: `node` is linked here (contract), so it and its neighbours are alive
        // (invariant 1) and `&mut self` owns their links (invariant 3).
        unsafe {
            let p = prev(node);
            let n = next(node);
            debug_assert!(
                p.is_null() == ptr::eq(self.head, node),
                "node not on this list"
            );
            if p.is_null() {
                self.head = n;
            } else {
                set_next(p, n);
            }
            if !n.is_null() {
                set_prev(n, p);
            }
            set_prev(node, ptr::null());
            set_next(node, ptr::null());
        }
    }

    /// Detaches every node at once, leaving this list empty. The returned list holds them
    /// with their invariants: whoever owns it now owns their links.
    pub(crate) fn take(&mut self) -> List<T> {
        List {
            head: core::mem::replace(&mut self.head, ptr::null()),
            _nodes: PhantomData,
        }
    }

    /// Consumes the list, yielding its nodes from the back to the front (for a list built
    /// with [`List::push_front`]: oldest first). Each node's neighbour is read before the
    /// node is yielded and the drain never touches a node again after yielding it, so the
    /// caller may hand a yielded node back to its owner at once (who may free or re-link it).
    pub(crate) fn drain_from_back(self) -> Drain<T> {
        let mut cur = self.head;
        if !cur.is_null() {
            // SAFETY: the nodes are linked on `self`, which we own: alive (invariant 1),
            // links ours (invariant 3).
            unsafe {
                loop {
                    let n = next(cur);
                    if n.is_null() {
                        break;
                    }
                    cur = n;
                }
            }
        }
        Drain { cur }
    }
}

/// Iterator over a list's nodes, front to back; see [`List::iter`].
pub(crate) struct Iter<'a, T: Linked> {
    cur: *const T,
    _list: PhantomData<&'a List<T>>,
}

impl<'a, T: Linked> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        if self.cur.is_null() {
            return None;
        }
        // SAFETY: `cur` is linked on the list borrowed for `'a`, so it is alive and stays
        // linked for `'a` (invariant 1; unlinking needs `&mut List`), and reading its links
        // through that borrow is allowed (invariant 3).
        unsafe {
            let node = &*self.cur;
            self.cur = next(self.cur);
            Some(node)
        }
    }
}

/// Yields a detached list's nodes back to front; see [`List::drain_from_back`]. Nodes not
/// yet yielded stay the drain's: dropping it unfinished leaves them unlinked but never
/// handed back, so callers drain to the end.
#[must_use = "the nodes are handed back only as they are yielded"]
pub(crate) struct Drain<T: Linked> {
    cur: *const T,
}

impl<T: Linked> Iterator for Drain<T> {
    type Item = *const T;

    fn next(&mut self) -> Option<*const T> {
        if self.cur.is_null() {
            return None;
        }
        let node = self.cur;
        // SAFETY: `node` has not been yielded yet, so it is still on the detached list we
        // own: alive (invariant 1), links ours (invariant 3). Its neighbour is read now,
        // before the caller gets the node and may free it.
        self.cur = unsafe { prev(node) };
        Some(node)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    struct N {
        links: Links<N>,
        v: u32,
    }

    // SAFETY: returns the `links` field of the node, always the same one; only `List` uses
    // it.
    unsafe impl Linked for N {
        unsafe fn links(node: *const Self) -> *const Links<Self> {
            // SAFETY: `node` is live (contract); no reference to the node is made.
            unsafe { &raw const (*node).links }
        }
    }

    fn n(v: u32) -> N {
        N {
            links: Links::new(),
            v,
        }
    }

    fn values(l: &List<N>) -> Vec<u32> {
        l.iter().map(|x| x.v).collect()
    }

    /// Checks invariant 4 (prev/next agree) and returns the values back to front.
    fn check_shape(l: &List<N>) -> Vec<u32> {
        let mut back = Vec::new();
        let mut p: *const N = ptr::null();
        let mut cur = l.head;
        // SAFETY: every node in these tests outlives the list operations; single thread.
        unsafe {
            while !cur.is_null() {
                assert!(ptr::eq(prev(cur), p), "prev link broken");
                p = cur;
                cur = next(cur);
            }
            while !p.is_null() {
                back.push((*p).v);
                p = prev(p);
            }
        }
        back
    }

    #[test]
    fn push_front_and_remove_anywhere() {
        let (a, b, c, d) = (n(1), n(2), n(3), n(4));
        let mut l = List::new();
        assert!(l.is_empty() && l.front().is_none());
        // SAFETY: the nodes outlive the list's use of them and are on no other list.
        unsafe {
            l.push_front(&a);
            l.push_front(&b);
            l.push_front(&c);
            l.push_front(&d);
        }
        assert_eq!(values(&l), [4, 3, 2, 1]);
        assert_eq!(check_shape(&l), [1, 2, 3, 4]);
        // SAFETY: each is linked on `l` when removed.
        unsafe { l.remove(&c) };
        assert_eq!(values(&l), [4, 2, 1]);
        assert_eq!(check_shape(&l), [1, 2, 4]);
        // SAFETY: as above (head).
        unsafe { l.remove(&d) };
        assert_eq!(l.front().map(|x| x.v), Some(2));
        // SAFETY: as above (tail).
        unsafe { l.remove(&a) };
        assert_eq!(check_shape(&l), [2]);
        // SAFETY: as above (only node).
        unsafe { l.remove(&b) };
        assert!(l.is_empty());
        // Removed nodes can be linked again.
        // SAFETY: on no list; outlives the list's use.
        unsafe { l.push_front(&c) };
        assert_eq!(check_shape(&l), [3]);
        assert!(alloc::format!("{l:?}").contains("len: 1"));
    }

    #[test]
    fn insert_before_first_keeps_order_and_fifo_among_equals() {
        let nodes: Vec<N> = [5, 3, 7, 3, 1, 9, 5].into_iter().map(n).collect();
        let mut l = List::new();
        for x in &nodes {
            // SAFETY: the nodes outlive the list and are linked once each.
            unsafe { l.insert_before_first(x, |c| c.v > x.v) };
        }
        assert_eq!(values(&l), [1, 3, 3, 5, 5, 7, 9]);
        // Equal values keep insertion order: the first 3 inserted is first.
        let threes: Vec<*const N> = l.iter().filter(|x| x.v == 3).map(ptr::from_ref).collect();
        assert!(ptr::eq(threes[0], &nodes[1]) && ptr::eq(threes[1], &nodes[3]));
        // Never true: appends (a FIFO).
        let tail = n(0);
        // SAFETY: as above.
        unsafe { l.insert_before_first(&tail, |_| false) };
        assert_eq!(check_shape(&l), [0, 9, 7, 5, 5, 3, 3, 1]);
        // Always true: becomes the head.
        let first = n(42);
        // SAFETY: as above.
        unsafe { l.insert_before_first(&first, |_| true) };
        assert_eq!(values(&l)[0], 42);
        assert_eq!(check_shape(&l).len(), 9);
    }

    #[test]
    fn take_then_drain_from_back_hands_nodes_back_oldest_first() {
        let mut l: List<N> = List::new();
        for v in 0..5 {
            let b = Box::into_raw(Box::new(n(v)));
            // SAFETY: a fresh allocation, freed only after the drain yields it.
            unsafe { l.push_front(b) };
        }
        let detached = l.take();
        assert!(l.is_empty());
        let mut seen = Vec::new();
        for node in detached.drain_from_back() {
            // SAFETY: yielded: the drain no longer touches it, so it can be freed at once
            // (Miri checks the drain never reads a freed node).
            let b = unsafe { Box::from_raw(node.cast_mut()) };
            seen.push(b.v);
        }
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(List::<N>::new().drain_from_back().count(), 0);
    }
}
