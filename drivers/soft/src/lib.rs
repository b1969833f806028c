//! Software devices: bus masters implemented by a CPU core, behind the same
//! `dmasync-engine` traits, command queues and fences as hardware engines.
//!
//! - [`queue`]: the machinery every software device shares (a bounded in-order job queue
//!   with fences, a worker loop, hang injection and reset);
//! - [`SoftDma`], [`SoftDisplay`]: a memory-to-memory DMA engine and a scanout model;
//! - [`SoftEngine2d`]: the software 2D engine (solid fill, copy blit, alpha blend);
//! - [`render`]: the 2D engine's pixel arithmetic as pure functions, the reference renderer
//!   expected frames are computed with.
//!
//! A software device is a bus master like any other: buffers are registered for it as a
//! non-coherent device, and it reaches memory only through
//! [`DeviceMemory`](dmasync_hal::dma::DeviceMemory) by bus address. On the host simulator
//! that is the simulated DRAM; on a board it is an implementation that cleans and
//! invalidates the CPU cache around each access, so the cache policy derived for a
//! non-coherent device is right for it.
//!
//! ## The 2D engine
//!
//! The software 2D engine: solid fill, copy blit and alpha blend run by a CPU core, behind
//! the same [`Engine2d`](dmasync_engine::Engine2d) trait, command queue and fences a
//! hardware engine has. On qemu-virt it runs on a secondary core; on the host it runs on a
//! thread in the tests, and its [`render`] module is the reference renderer (the oracle)
//! expected frames are computed with.
//!
//! - [`render`]: the pixel arithmetic of `dmasync_engine::gfx2d`, as pure functions over
//!   byte slices.
//! - [`SoftEngine2d`]: validates every command at submission (buffers locked for this
//!   device with the access the command needs, surfaces inside the registered range,
//!   rectangles inside the surfaces, formats and sizes within [`Caps2d`](dmasync_engine::Caps2d))
//!   and queues it; a [`Worker`] executes queued jobs through
//!   [`DeviceMemory`](dmasync_hal::dma::DeviceMemory), row by row.
//!
//! The job queue and the display lock with [`dmasync_hal::lock::IrqSpinLock`], so a binary
//! that runs them needs only what every dmasync binary has: its platform (the boards
//! install one with `set_platform!`; hosted builds use OS threads).
//!
//! ```
//! use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
//! use dmasync_engine::{Color, Engine2d, Op2d, PixelFormat, Rect, Surface, SurfaceDesc};
//! use dmasync_hal::dma::{Coherency, DmaMemory};
//! use dmasync_sim::{NonCoherentSim, SimConfig};
//! use dmasync_soft::{Soft2dConfig, SoftEngine2d, Step};
//!
//! let sim = NonCoherentSim::new(SimConfig::default());
//! let g2d = sim.add_device("soft2d", Coherency::NonCoherent);
//! let domain = SyncDomain::new(&sim, SyncConfig::default());
//! let engine = SoftEngine2d::new(g2d, &sim, Soft2dConfig::default());
//! let frame = domain
//!     .buffer("frame", sim.alloc(8 * 8 * 4, Coherency::NonCoherent).unwrap())
//!     .unwrap();
//!
//! // Lock the frame for the engine's write, submit, and let a worker run the job (here
//! // on this thread; on qemu-virt a secondary core runs `engine.run(&stop)`).
//! let mut set = domain.set();
//! set.add(&frame, Access::dma_write(g2d)).unwrap();
//! let fill = Op2d::Fill {
//!     dst: Surface::new(&frame, SurfaceDesc::packed(8, 8, PixelFormat::Xrgb8888)),
//!     rect: Rect::new(2, 2, 4, 4),
//!     color: Color(0xFF00_80FF),
//! };
//! let done = engine.submit(set.lock().unwrap(), &[fill], None).map_err(|r| r.error).unwrap();
//! assert_eq!(engine.run_one(), Step::Completed(Ok(())));
//! assert_eq!(done.wait(), Ok(()));
//!
//! // The CPU reads the result through a sync set (the set derives the invalidate).
//! let mut read = domain.set();
//! read.add(&frame, Access::CPU_READ).unwrap();
//! let locked = read.lock().unwrap();
//! let px = locked.cpu_read(&frame).unwrap().with(|b| b[(2 * 8 + 2) * 4..][..4].to_vec()).unwrap();
//! assert_eq!(px, [0xFF, 0x80, 0x00, 0xFF]);
//! assert!(sim.violations().is_empty());
//! ```
//!
//! The engine is declared to the sync framework as a **non-coherent** bus master: it
//! reaches memory only through `DeviceMemory` by bus address, and the board's
//! implementation cleans and invalidates the CPU cache around each access, so the
//! maintenance the sync sets derive for a non-coherent device is exactly right for it.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

mod device;
mod display;
mod dma;
mod engine2d;
pub mod queue;
pub mod render;

pub use device::{job_access, resolve_copy, resolve_span};
pub use display::{MODE_CHANGED, SoftDisplay};
pub use dma::SoftDma;
pub use engine2d::{Soft2dConfig, SoftEngine2d, Worker};
pub use queue::{ABANDONED, JobQueue, RunGuard, Step, Ticket};
