//! Unwrap and merge (Linux's `dma_fence_unwrap` and `dma_fence_unwrap_merge`,
//! drivers/dma-buf/dma-fence-unwrap.c; semantics only): flatten nested all-of aggregates and
//! chains into their leaf fences, and build the smallest fence that waits for a set.

#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;

use super::chain::walk;
use super::{Fence, FenceContext, FenceInner, FenceStatus, all_of};
use crate::shim::Arc;
use dmasync_hal::platform::{self, Instant};

/// The leaves of a fence, depth first in build order; see [`unwrap`].
pub struct Leaves {
    stack: Vec<Arc<FenceInner>>,
}

impl fmt::Debug for Leaves {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaves")
            .field("stack", &self.stack.len())
            .finish()
    }
}

/// The leaf fences `fence` waits for: an [`all_of`] aggregate's children and a chain node's
/// fences (the node's own, then those of earlier nodes still to signal: walking prunes the
/// signalled ones, as Linux does), flattened through any nesting; a plain fence, or an
/// [`any_of`](super::any_of) (whose meaning flattening would change), is its own leaf.
/// Iterative: no stack grows with nesting.
pub fn unwrap(fence: &Fence) -> Leaves {
    Leaves {
        stack: alloc::vec![fence.inner.clone()],
    }
}

impl Iterator for Leaves {
    type Item = Fence;

    fn next(&mut self) -> Option<Fence> {
        while let Some(f) = self.stack.pop() {
            let Some(agg) = f.aggregate().filter(|a| !a.any) else {
                return Some(Fence { inner: f });
            };
            if agg.chain.is_some()
                && let Some(prev) = walk(&f)
            {
                self.stack.push(prev);
            }
            let kids: Vec<Arc<FenceInner>> = agg.kept_children().cloned().collect();
            self.stack.extend(kids.into_iter().rev());
        }
        None
    }
}

/// The smallest fence that signals when every fence of `fences` has
/// (`dma_fence_unwrap_merge`): the leaves of all of them ([`unwrap`]), signalled ones
/// dropped, the latest (highest seqno) kept per context; then the one remaining fence
/// itself, or an [`all_of`] over those that remain, or — nothing left to wait for — a
/// signalled stub stamped with the latest timestamp among the leaves (now, if there were
/// none).
///
/// Unlike Linux, a leaf that signalled **with an error** is kept (it is signalled, so it
/// costs no wait): the merged fence reports that error instead of dropping it.
pub fn merge<'a>(fences: impl IntoIterator<Item = &'a Fence>) -> Fence {
    let mut pending: Vec<Fence> = Vec::new();
    let mut failed: Vec<Fence> = Vec::new();
    let mut latest: Option<Instant> = None;
    for f in fences {
        for leaf in unwrap(f) {
            match leaf.status() {
                FenceStatus::Pending => pending.push(leaf),
                st => {
                    if let Some(ts) = leaf.timestamp() {
                        latest = Some(latest.map_or(ts, |l| l.max(ts)));
                    }
                    if matches!(st, FenceStatus::Err(_))
                        && !failed.iter().any(|x| Fence::ptr_eq(x, &leaf))
                    {
                        failed.push(leaf);
                    }
                }
            }
        }
    }
    // Per context the highest seqno implies the others: sort by context, newest first,
    // and keep the first of each context.
    pending.sort_by(|a, b| {
        a.inner
            .context
            .cmp(&b.inner.context)
            .then(b.inner.seqno.cmp(&a.inner.seqno))
    });
    pending.dedup_by(|later, first| later.inner.context == first.inner.context);
    let mut kept = failed;
    kept.append(&mut pending);
    match kept.len() {
        0 => Fence {
            inner: Arc::new(FenceInner::new_signalled_at(
                FenceContext::new().id(),
                0,
                Ok(()),
                latest.unwrap_or_else(platform::now),
            )),
        },
        1 => kept.pop().unwrap_or_else(|| unreachable!("one left")),
        _ => all_of(&kept),
    }
}
