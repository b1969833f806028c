//! Software devices: the machinery a device implemented by a CPU core needs (a command
//! queue with fences, a worker loop, hang injection and reset), and the software DMA
//! engine and display built on it. The software 2D engine (`drivers/soft2d`) uses the same
//! queue.
//!
//! A software device is a bus master like any other: buffers are registered for it as a
//! non-coherent device, and it reaches memory only through
//! [`DeviceMemory`](dmasync_hal::dma::DeviceMemory) by bus address. On the host simulator
//! that is the simulated DRAM; on a board it is an implementation that cleans and
//! invalidates the CPU cache around each access, so the cache policy derived for a
//! non-coherent device is right for it.

mod device;
mod display;
mod dma;
pub mod queue;

pub use device::{job_access, resolve_span};
pub use display::{MODE_CHANGED, SoftDisplay};
pub use dma::SoftDma;
pub use queue::{ABANDONED, JobQueue, RunGuard, Step, Ticket};
