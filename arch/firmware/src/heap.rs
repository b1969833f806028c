//! The global allocator: `embedded-alloc`'s linked-list heap (rust-embedded, well kept). It
//! locks through `critical-section`, which [`crate::critical_section_impl`] makes SMP-safe.

use embedded_alloc::LlffHeap;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// Hands `[start, start + size)` to the allocator.
///
/// # Safety
///
/// Call once, after the MMU maps the range as normal RAM. The range must be unused by
/// anything else for the rest of the program.
pub unsafe fn init(start: usize, size: usize) {
    // SAFETY: forwarded from our caller.
    unsafe { HEAP.init(start, size) }
}

/// Bytes currently allocated.
pub fn used() -> usize {
    HEAP.used()
}

/// Bytes still free.
pub fn free() -> usize {
    HEAP.free()
}
