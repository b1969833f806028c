//! The software DMA engine: memory-to-memory copy and fill run by a CPU core through
//! [`DeviceMemory`], behind [`DmaEngine`].

use alloc::vec;
use core::fmt;
use core::sync::atomic::AtomicBool;
use dmasync_hal::dma::MemorySystem;

use dmasync_hal::dma::{BusAddr, DeviceId, DeviceMemory};
use dmasync_sync::fence::{Fence, FenceError, FenceResult};
use dmasync_sync::syncset::{DeviceLease, Locked};

use crate::device::{job_access, resolve_copy, resolve_span};
use crate::queue::{JobQueue, RunGuard, Step};
use dmasync_engine::dma::{DmaEngine, Span};
use dmasync_engine::error::{EngineError, Rejected};
use dmasync_engine::surface::Need;

/// Bytes the worker moves per access (its buffer's size).
const CHUNK: usize = 4096;

#[derive(Clone, Copy, Debug)]
enum Transfer {
    Copy {
        dst: BusAddr,
        src: BusAddr,
        len: usize,
    },
    Fill {
        dst: BusAddr,
        len: usize,
        value: u8,
    },
}

struct Job {
    transfer: Transfer,
    /// The set's lease: every access of the transfer is one of its bursts.
    lease: DeviceLease,
}

/// A memory-to-memory DMA engine run by a CPU core: bus master `device`, reaching memory
/// through `D`. Submissions are validated like a hardware engine's (each span registered
/// in the set for this device, read access for the source, write for the destination,
/// inside the registered range; equal lengths; no overlap) and run in order by a worker
/// ([`SoftDma::run`] on another core or thread, or [`SoftDma::run_one`]).
pub struct SoftDma<D: DeviceMemory> {
    device: DeviceId,
    memory: D,
    queue: JobQueue<Job>,
}

impl<D: DeviceMemory> fmt::Debug for SoftDma<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftDma")
            .field("device", &self.device)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<D: DeviceMemory> SoftDma<D> {
    /// An engine queueing up to `queue_depth` transfers.
    pub fn new(device: DeviceId, memory: D, queue_depth: usize) -> Self {
        Self {
            device,
            memory,
            queue: JobQueue::new(queue_depth),
        }
    }

    /// Transfers accepted and not yet completed.
    pub fn pending(&self) -> usize {
        self.queue.pending()
    }

    /// Fault injection: while stalled the engine starts no transfer (see
    /// [`JobQueue::set_stalled`]).
    pub fn set_stalled(&self, stalled: bool) {
        self.queue.set_stalled(stalled);
    }

    /// Abandons every queued and running transfer (fences signal
    /// `DeviceError(ABANDONED)`); returns how many. Clears a stall.
    pub fn reset(&self) -> usize {
        self.queue.reset()
    }

    /// Runs at most one transfer (waiting for its in-fence).
    pub fn run_one(&self) -> Step {
        let mut buf = vec![0u8; CHUNK];
        self.queue
            .run_one(&AtomicBool::new(false), |j, g| self.exec(j, g, &mut buf))
    }

    /// The worker loop until `stop` is set; parks when idle, woken by submissions. Set
    /// `stop`, then call [`SoftDma::wake_worker`].
    pub fn run(&self, stop: &AtomicBool) {
        let mut buf = vec![0u8; CHUNK];
        self.queue.run(stop, |j, g| self.exec(j, g, &mut buf))
    }

    /// Wakes a parked worker.
    pub fn wake_worker(&self) {
        self.queue.wake_worker();
    }

    fn exec(&self, job: &Job, guard: &RunGuard<'_>, buf: &mut [u8]) -> FenceResult {
        match job.transfer {
            Transfer::Copy { dst, src, len } => {
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(buf.len());
                    let chunk = &mut buf[..n];
                    job_access(guard, &job.lease, || {
                        // SAFETY: `src` and `dst` were validated at submission to lie in
                        // the registered ranges of buffers the set held for this device's
                        // read and write; this runs as a burst of the set's lease
                        // (`job_access`), so the holder is neither released (the job's
                        // fence, or a reset, waits for the burst) nor expired (the expiry
                        // waits for it) until it returns. (At run time, not by a guard: the
                        // set's `Locked` went to `unlock_after_leased` at submission.)
                        unsafe {
                            self.memory.device_read(
                                self.device,
                                BusAddr(src.0 + done as u64),
                                chunk,
                            );
                            self.memory.device_write(
                                self.device,
                                BusAddr(dst.0 + done as u64),
                                chunk,
                            );
                        }
                    })?;
                    done += n;
                }
            }
            Transfer::Fill { dst, len, value } => {
                buf.fill(value);
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(buf.len());
                    job_access(guard, &job.lease, || {
                        // SAFETY: as for the copy, with write access validated.
                        unsafe {
                            self.memory.device_write(
                                self.device,
                                BusAddr(dst.0 + done as u64),
                                &buf[..n],
                            );
                        }
                    })?;
                    done += n;
                }
            }
        }
        Ok(())
    }

    fn queue_job<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        transfer: Transfer,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>> {
        let Some(ticket) = self.queue.reserve() else {
            return Err(Rejected::new(EngineError::QueueFull, locked));
        };
        let fence = ticket.fence();
        match locked.unlock_after_leased(&fence) {
            Ok(lease) => ticket.commit(Job { transfer, lease }, in_fence),
            Err(_) => ticket.abort(FenceError::Timeout),
        }
        Ok(fence)
    }
}

impl<D: DeviceMemory> DmaEngine for SoftDma<D> {
    fn device(&self) -> DeviceId {
        self.device
    }

    fn copy<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        dst: Span<'_>,
        src: Span<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>> {
        let check = || {
            let (d, s) = resolve_copy(&locked, self.device, &dst, &src)?;
            Ok(Transfer::Copy {
                dst: d,
                src: s,
                len: src.len,
            })
        };
        match check() {
            Ok(t) => self.queue_job(locked, t, in_fence),
            Err(e) => Err(Rejected::new(e, locked)),
        }
    }

    fn fill<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        dst: Span<'_>,
        value: u8,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>> {
        match resolve_span(&locked, self.device, &dst, Need::Write, "fill destination") {
            Ok(d) => self.queue_job(
                locked,
                Transfer::Fill {
                    dst: d,
                    len: dst.len,
                    value,
                },
                in_fence,
            ),
            Err(e) => Err(Rejected::new(e, locked)),
        }
    }
}
