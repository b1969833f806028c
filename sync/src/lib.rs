//! dmasync-sync: the buffer-synchronization core.
//!
//! Ordering and exclusion are separate, as Linux learned: [`fence`] says *when* work is
//! done, [`ww`] (wound/wait mutexes) says *who* may touch a set of buffers now, and
//! [`resv`] (reservation objects) ties the two together per buffer. On top of them,
//! [`syncset`] lets a task lock a group of buffers by access type and performs exactly the
//! cache maintenance each access needs, and [`kds`] queues requests over many resources in
//! FIFO order (ARM's KDS, without its bugs).
//! See `doc/sync-model.md` for the model and how it differs from Linux and KDS.
//!
//! Feature `misuse-checks` (on in this crate's own tests; effective in builds with debug
//! assertions, compiled out otherwise): ww-mutex misuse that Linux's lockdep reports — a
//! second acquire context of a class on one thread, a plain lock of a mutex the thread's
//! context holds, a first lock after a back-off that is not the contended mutex, a lock
//! after [`ww::AcquireCtx::done`] — panics naming both places (`doc/sync-model.md`,
//! "Misuse checks").
#![no_std]
#![warn(missing_docs)]

// Dynamic sets (aggregate fences, lock sets, sync sets, KDS requests) need `alloc`, and so
// do a fence's shared core and a ww acquire context's owner record (one allocation each, at
// creation); the ww-mutex itself, signalling and locking do not allocate.
extern crate alloc;
// The misuse checks that need a thread identity keep it in std thread-locals (hosted
// builds only, see build.rs).
#[cfg(any(test, loom, dmasync_misuse_thread))]
extern crate std;

// Unsafe code lives in the audited modules only (doc/architecture.md, "Where `unsafe`
// lives"): the fence core and its callback nodes (`fence`), the ww-mutex and its acquire
// context (`ww`), the sync sets' tracker cell and guards (`syncset`), and the intrusive list
// both fences and ww waiters use (`list`). The rest
// cannot contain any.
pub mod fence;
#[forbid(unsafe_code)]
pub mod kds;
mod list;
#[forbid(unsafe_code)]
pub mod resv;
#[forbid(unsafe_code)]
mod shim;
pub mod syncset;
pub mod ww;

pub use dmasync_hal::platform::Instant;
pub use fence::{Fence, FenceError, FenceProducer, FenceResult, FenceStatus};
pub use resv::{ReservationObject, Usage};
