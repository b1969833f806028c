//! A set of cache-line indices kept as sorted, disjoint, non-adjacent half-open runs.
//!
//! Buffers are tracked per line, but the interesting states (dirty, written by a device)
//! cover a few long runs: a frame, an overlay rectangle's rows. Runs keep the state small
//! and give maintenance calls directly (one call per run).

use alloc::vec::Vec;
use core::ops::Range;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineSet {
    runs: Vec<Range<usize>>,
}

impl LineSet {
    pub(crate) const fn new() -> Self {
        Self { runs: Vec::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Adds every line of `r`.
    pub(crate) fn insert(&mut self, r: Range<usize>) {
        if r.is_empty() {
            return;
        }
        // A writer that keeps writing the same lines, found without a search when the set
        // is one run (a whole buffer written).
        if let [only] = self.runs.as_slice()
            && only.start <= r.start
            && r.end <= only.end
        {
            return;
        }
        // Runs that overlap or touch `r` merge with it.
        let first = self.runs.partition_point(|x| x.end < r.start);
        let last = self.runs.partition_point(|x| x.start <= r.end);
        if last == first + 1 && self.runs[first].start <= r.start && r.end <= self.runs[first].end {
            // Already covered (a writer that keeps writing the same lines): nothing changes.
            return;
        }
        let mut merged = r;
        if first < last {
            merged.start = merged.start.min(self.runs[first].start);
            merged.end = merged.end.max(self.runs[last - 1].end);
        }
        self.runs.splice(first..last, core::iter::once(merged));
    }

    /// Removes every line of `r`.
    pub(crate) fn remove(&mut self, r: Range<usize>) {
        if r.is_empty() || self.runs.is_empty() {
            return;
        }
        let first = self.runs.partition_point(|x| x.end <= r.start);
        let last = self.runs.partition_point(|x| x.start < r.end);
        if first >= last {
            return;
        }
        let mut keep: Vec<Range<usize>> = Vec::with_capacity(2);
        let lo = &self.runs[first];
        if lo.start < r.start {
            keep.push(lo.start..r.start);
        }
        let hi = &self.runs[last - 1];
        if hi.end > r.end {
            keep.push(r.end..hi.end);
        }
        self.runs.splice(first..last, keep);
    }

    /// The runs of this set inside `r`, in order.
    pub(crate) fn intersect(&self, r: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
        let first = self.runs.partition_point(|x| x.end <= r.start);
        self.runs[first..]
            .iter()
            .take_while(move |x| x.start < r.end)
            .map(move |x| x.start.max(r.start)..x.end.min(r.end))
    }

    /// Number of lines in the set.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.runs.iter().map(|r| r.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        // Pure logic, no unsafe: nothing for Miri to find, and proptest's failure
        // persistence needs file-system access Miri's isolation refuses.
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// The run representation behaves exactly like a plain set of line indices.
        #[test]
        #[cfg_attr(miri, ignore)]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0usize..64, 0usize..16), 0..60),
                              probe in (0usize..64, 0usize..40)) {
            let mut runs = LineSet::new();
            let mut model = BTreeSet::new();
            for (add, start, len) in ops {
                if add { runs.insert(start..start + len); model.extend(start..start + len); }
                else { runs.remove(start..start + len); for l in start..start + len { model.remove(&l); } }
                // Invariant: sorted, disjoint, non-adjacent, non-empty runs.
                for w in runs.runs.windows(2) { prop_assert!(w[0].end < w[1].start); }
                prop_assert!(runs.runs.iter().all(|r| !r.is_empty()));
                prop_assert_eq!(runs.count(), model.len());
            }
            let (s, l) = probe;
            let got: Vec<usize> = runs.intersect(s..s + l).flatten().collect();
            let want: Vec<usize> = model.range(s..s + l).copied().collect();
            prop_assert_eq!(got, want);
        }
    }
}
