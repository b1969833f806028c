//! The DMA engine: memory-to-memory copy and fill.

use dmasync_hal::dma::DeviceId;
use dmasync_hal::dma::MemorySystem;
use dmasync_sync::fence::Fence;
use dmasync_sync::syncset::{Locked, SyncBuffer};

use crate::error::Rejected;

/// `len` bytes at `offset` (from the buffer start) in a buffer of a sync domain.
#[derive(Debug)]
pub struct Span<'b> {
    /// The buffer.
    pub buffer: &'b SyncBuffer,
    /// First byte.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

impl Clone for Span<'_> {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for Span<'_> {}

impl<'b> Span<'b> {
    /// The whole buffer.
    pub fn whole(buffer: &'b SyncBuffer) -> Self {
        Self {
            buffer,
            offset: 0,
            len: buffer.len(),
        }
    }
}

/// A memory-to-memory DMA engine's data path. Like [`crate::Engine2d::submit`], each
/// transfer validates its spans against `locked` (registered for this device, read access
/// for the source, write for the destination, inside the registered range), queues behind
/// `in_fence`, hands the set to `Locked::unlock_after` with the returned fence (or to
/// `unlock_after_leased`, if the engine brackets every access: crate docs), and gives
/// the set back in [`Rejected`] when it refuses.
pub trait DmaEngine {
    /// The bus master the engine is.
    fn device(&self) -> DeviceId;

    /// Copies `src.len` bytes from `src` to `dst` (`dst.len` must equal `src.len`; the
    /// spans may not overlap).
    fn copy<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        dst: Span<'_>,
        src: Span<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>>;

    /// Writes `value` to every byte of `dst`.
    fn fill<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        dst: Span<'_>,
        value: u8,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>>;
}
