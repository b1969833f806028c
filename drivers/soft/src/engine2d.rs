//! The engine: submission-time validation, the queue, and the worker that executes jobs
//! through `DeviceMemory`.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::AtomicBool;
use dmasync_hal::dma::MemorySystem;

use crate::device::job_access;
use crate::queue::{JobQueue, RunGuard, Step};
use dmasync_engine::gfx2d::{check_convert, sample_index, scale_factor};
use dmasync_engine::surface::{BusSurface, Need, resolve};
use dmasync_engine::{
    Caps2d, Color, ConvertCaps, Engine2d, Engine2dControl, EngineError, Flip, Op2d, PixelFormat,
    Point, Rect, Rejected, Scaling, Surface,
};
use dmasync_hal::dma::{BusAddr, DeviceId, DeviceMemory};
use dmasync_sync::fence::{Fence, FenceError, FenceResult};
use dmasync_sync::syncset::{DeviceLease, Locked};

use crate::render;

const FORMATS: &[PixelFormat] = &[PixelFormat::Xrgb8888, PixelFormat::Argb8888];

/// The reference Convert: every format `render::convert` handles, any scale, flips.
const CONVERT: ConvertCaps = ConvertCaps {
    scaling: Scaling::Any,
    flip: true,
    src_formats: render::CONVERT_SRC_FORMATS,
    dst_formats: render::CONVERT_DST_FORMATS,
};

/// Sizes of a [`SoftEngine2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Soft2dConfig {
    /// Submissions queued (plus the one running) before `QueueFull`. Default 8.
    pub queue_depth: usize,
    /// Commands per submission. Default 64.
    pub max_ops: usize,
    /// Widest surface in pixels; sizes the worker's row buffers. Default 4096.
    pub max_width: u32,
    /// Tallest surface in pixels. Default 4096.
    pub max_height: u32,
}

impl Default for Soft2dConfig {
    fn default() -> Self {
        Self {
            queue_depth: 8,
            max_ops: 64,
            max_width: 4096,
            max_height: 4096,
        }
    }
}

/// One validated command, as the worker runs it: plain data, no borrows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Fill {
        dst: BusSurface,
        rect: Rect,
        color: Color,
    },
    Copy {
        dst: BusSurface,
        to: Point,
        src: BusSurface,
        from: Rect,
        /// `None` for a copy, `Some(alpha)` for a blend.
        blend: Option<u8>,
    },
    Convert {
        dst: BusSurface,
        to: Rect,
        src: BusSurface,
        from: Rect,
        flip: Flip,
    },
}

struct Job {
    cmds: Vec<Cmd>,
    /// The submitting set's lease: every access of the job is one of its bursts, so the
    /// watchdog's expiry waits for a burst in flight and refuses the next.
    lease: DeviceLease,
}

/// The software 2D engine. `P` is the platform the worker waits on, `D` how it reaches
/// memory by bus address (the simulator on the host, the board's cache-maintaining
/// implementation on target).
///
/// Share it between the submitting side and the worker by reference (it is `Sync`); run the
/// worker with [`SoftEngine2d::run`] or a [`Worker`].
pub struct SoftEngine2d<D: DeviceMemory> {
    device: DeviceId,
    memory: D,
    config: Soft2dConfig,
    queue: JobQueue<Job>,
}

impl<D: DeviceMemory> fmt::Debug for SoftEngine2d<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftEngine2d")
            .field("device", &self.device)
            .field("config", &self.config)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<D: DeviceMemory> SoftEngine2d<D> {
    /// An engine that is bus master `device` and reaches memory through `memory`.
    /// Buffers it works on must be registered in sync sets for `device` as a non-coherent
    /// device (`Access::dma_read(device)` and friends).
    pub fn new(device: DeviceId, memory: D, config: Soft2dConfig) -> Self {
        Self {
            device,
            memory,
            config,
            queue: JobQueue::deadline_ordered(config.queue_depth),
        }
    }

    /// The device memory the worker uses.
    pub fn memory(&self) -> &D {
        &self.memory
    }

    /// Fault injection for hang tests: while stalled the engine starts no new submission
    /// (they stay queued, their fences pending), as a hung hardware engine would.
    /// [`Engine2dControl::reset`] clears it.
    pub fn set_stalled(&self, stalled: bool) {
        self.queue.set_stalled(stalled);
    }

    /// True while stalled.
    pub fn is_stalled(&self) -> bool {
        self.queue.is_stalled()
    }

    /// A worker with its own row buffers (allocated here, once).
    pub fn worker(&self) -> Worker<'_, D> {
        let row = self.config.max_width as usize * 4;
        Worker {
            engine: self,
            src: vec![0; row],
            dst: vec![0; row],
            rect: Vec::new(),
        }
    }

    /// Runs at most one queued submission (see [`Worker::run_one`]); allocates a worker's
    /// row buffers per call — use [`SoftEngine2d::worker`] in a loop.
    pub fn run_one(&self) -> Step {
        self.worker().run_one()
    }

    /// The worker loop until `stop` is set: runs submissions in order and parks through
    /// the platform when there is nothing to do (WFE on the boards); a submission from
    /// any core wakes it. Set `stop`, then call [`SoftEngine2d::wake_worker`].
    pub fn run(&self, stop: &AtomicBool) {
        self.worker().run(stop)
    }

    /// Wakes a parked worker (e.g. after setting its stop flag).
    pub fn wake_worker(&self) {
        self.queue.wake_worker();
    }

    fn check_caps(&self, s: &Surface<'_>) -> Result<(), EngineError> {
        if s.desc.width > self.config.max_width || s.desc.height > self.config.max_height {
            return Err(EngineError::Unsupported(
                "surface larger than the engine's maximum",
            ));
        }
        Ok(())
    }

    fn resolve_one<M: MemorySystem>(
        &self,
        locked: &Locked<'_, M>,
        s: &Surface<'_>,
        need: Need,
    ) -> Result<BusSurface, EngineError> {
        let b = resolve(locked, self.device, s, need)?;
        self.check_caps(s)?;
        Ok(b)
    }

    fn validate<M: MemorySystem>(
        &self,
        locked: &Locked<'_, M>,
        op: &Op2d<'_>,
    ) -> Result<Cmd, EngineError> {
        match *op {
            Op2d::Fill { dst, rect, color } => {
                render::require_32bit(&dst.desc)?;
                let d = self.resolve_one(locked, &dst, Need::Write)?;
                if !rect.fits_in(d.width, d.height) {
                    return Err(EngineError::OutOfBounds {
                        buffer: dst.buffer.name(),
                        what: "fill rect",
                    });
                }
                Ok(Cmd::Fill {
                    dst: d,
                    rect,
                    color,
                })
            }
            Op2d::Copy { dst, to, src, from } => self.two(
                locked,
                dst,
                to,
                src,
                from,
                None,
                ("blit source", "blit destination"),
            ),
            Op2d::Blend {
                dst,
                to,
                src,
                from,
                alpha,
            } => self.two(
                locked,
                dst,
                to,
                src,
                from,
                Some(alpha),
                ("blend source", "blend destination"),
            ),
            Op2d::Convert {
                dst,
                to,
                src,
                from,
                flip,
            } => {
                check_convert(Some(&CONVERT), &dst, to, &src, from, flip)?;
                let d = self.resolve_one(locked, &dst, Need::Write)?;
                let s = self.resolve_one(locked, &src, Need::Read)?;
                Ok(Cmd::Convert {
                    dst: d,
                    to,
                    src: s,
                    from,
                    flip,
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn two<M: MemorySystem>(
        &self,
        locked: &Locked<'_, M>,
        dst: Surface<'_>,
        to: Point,
        src: Surface<'_>,
        from: Rect,
        blend: Option<u8>,
        what: (&'static str, &'static str),
    ) -> Result<Cmd, EngineError> {
        render::require_32bit(&dst.desc)?;
        render::require_32bit(&src.desc)?;
        let same = core::ptr::eq(dst.buffer, src.buffer);
        // A blend reads its destination; a copy within one buffer reads and writes it.
        let dst_need = if blend.is_some() || same {
            Need::ReadWrite
        } else {
            Need::Write
        };
        let d = self.resolve_one(locked, &dst, dst_need)?;
        let s = self.resolve_one(locked, &src, Need::Read)?;
        if blend.is_none() {
            render::same_format(&dst.desc, &src.desc)?;
        }
        if !from.fits_in(s.width, s.height) {
            return Err(EngineError::OutOfBounds {
                buffer: src.buffer.name(),
                what: what.0,
            });
        }
        if !render::dest_rect(to, from).fits_in(d.width, d.height) {
            return Err(EngineError::OutOfBounds {
                buffer: dst.buffer.name(),
                what: what.1,
            });
        }
        Ok(Cmd::Copy {
            dst: d,
            to,
            src: s,
            from,
            blend,
        })
    }
}

impl<D: DeviceMemory> Engine2dControl for SoftEngine2d<D> {
    fn capabilities(&self) -> Caps2d {
        Caps2d {
            max_width: self.config.max_width,
            max_height: self.config.max_height,
            formats: FORMATS,
            fill: true,
            copy: true,
            blend: true,
            convert: Some(CONVERT),
            queue_depth: self.queue.capacity(),
            max_ops: self.config.max_ops,
        }
    }

    fn pending(&self) -> usize {
        self.queue.pending()
    }

    /// Abandons every queued and running submission: their fences signal
    /// `FenceError::DeviceError(ABANDONED)`, and when this returns the worker touches none
    /// of their buffers. Clears a stall.
    fn reset(&self) -> usize {
        self.queue.reset()
    }
}

impl<D: DeviceMemory> Engine2d for SoftEngine2d<D> {
    fn device(&self) -> DeviceId {
        self.device
    }

    fn submit<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        ops: &[Op2d<'_>],
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>> {
        if ops.is_empty() {
            return Err(Rejected::new(EngineError::Empty, locked));
        }
        if ops.len() > self.config.max_ops {
            return Err(Rejected::new(
                EngineError::Unsupported("more commands in one submission than max_ops"),
                locked,
            ));
        }
        let mut cmds = Vec::with_capacity(ops.len());
        for op in ops {
            match self.validate(&locked, op) {
                Ok(c) => cmds.push(c),
                Err(e) => return Err(Rejected::new(e, locked)),
            }
        }
        let Some(ticket) = self.queue.reserve() else {
            return Err(Rejected::new(EngineError::QueueFull, locked));
        };
        let fence = ticket.fence();
        // Hand the buffers over before the job becomes visible: should the watchdog have
        // taken them since validation, the job never runs.
        match locked.unlock_after_leased(&fence) {
            Ok(lease) => ticket.commit(Job { cmds, lease }, in_fence),
            Err(_) => ticket.abort(FenceError::Timeout),
        }
        Ok(fence)
    }
}

/// Executes an engine's submissions. Owns the row buffers, so the hot path does not
/// allocate (except for an overlapping copy between surfaces of different strides in one
/// buffer, which reads the whole source rectangle first).
pub struct Worker<'e, D: DeviceMemory> {
    engine: &'e SoftEngine2d<D>,
    src: Vec<u8>,
    dst: Vec<u8>,
    rect: Vec<u8>,
}

impl<D: DeviceMemory> fmt::Debug for Worker<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("engine", &self.engine.device)
            .finish_non_exhaustive()
    }
}

impl<D: DeviceMemory> Worker<'_, D> {
    /// Takes the oldest submission, waits for its in-fence (an in-fence error fails the
    /// submission with that error, unexecuted), runs its commands in order and signals its
    /// fence. [`Step::Idle`] when there is nothing to run (or the engine is stalled).
    pub fn run_one(&mut self) -> Step {
        self.run_one_until(&AtomicBool::new(false))
    }

    fn run_one_until(&mut self, stop: &AtomicBool) -> Step {
        let engine = self.engine;
        engine
            .queue
            .run_one(stop, |job, guard| self.exec(job, guard))
    }

    /// Runs submissions until `stop` is set, parking when idle (see [`SoftEngine2d::run`]).
    pub fn run(&mut self, stop: &AtomicBool) {
        let engine = self.engine;
        engine.queue.run(stop, |job, guard| self.exec(job, guard))
    }

    fn exec(&mut self, job: &Job, guard: &RunGuard<'_>) -> FenceResult {
        for cmd in &job.cmds {
            match *cmd {
                Cmd::Fill { dst, rect, color } => self.fill(job, guard, dst, rect, color)?,
                Cmd::Copy {
                    dst,
                    to,
                    src,
                    from,
                    blend,
                } => self.two(job, guard, dst, to, src, from, blend)?,
                Cmd::Convert {
                    dst,
                    to,
                    src,
                    from,
                    flip,
                } => self.convert(job, guard, dst, to, src, from, flip)?,
            }
        }
        Ok(())
    }

    /// One bounded burst of accesses for `job`, as a burst of its set's lease, unless a
    /// reset abandoned it or the watchdog expired its set (`job_access`).
    fn access(job: &Job, guard: &RunGuard<'_>, f: impl FnOnce()) -> FenceResult {
        job_access(guard, &job.lease, f)
    }

    fn read(&self, at: BusAddr, out: &mut [u8]) {
        // SAFETY: every address the worker reads lies in a surface that `submit` validated
        // to be inside the registered range of a buffer locked for this device with read
        // access; the worker reads only inside `access`, a burst of the set's lease within
        // the job's access gate, so until it returns the holder is neither released (the
        // job's fence signals after the job's last access, a reset waits for the access in
        // progress: RunGuard) nor expired (the expiry waits for the burst: DeviceLease). No
        // guard can prove this: the set's `Locked` went to `unlock_after_leased` at
        // submission, and the device's hold now ends at a run-time event no borrow can
        // span — so it is checked at run time (`DeviceLease`, `RunGuard`).
        unsafe { self.engine.memory.device_read(self.engine.device, at, out) }
    }

    fn write(&self, at: BusAddr, data: &[u8]) {
        // SAFETY: as for `read`, with write access validated at submission.
        unsafe {
            self.engine
                .memory
                .device_write(self.engine.device, at, data)
        }
    }

    fn fill(
        &mut self,
        job: &Job,
        guard: &RunGuard<'_>,
        dst: BusSurface,
        rect: Rect,
        color: Color,
    ) -> FenceResult {
        if rect.is_empty() {
            return Ok(());
        }
        let w = rect.w as usize * 4;
        let mut row = core::mem::take(&mut self.dst);
        render::fill_row(&mut row[..w], color);
        let mut r = Ok(());
        for y in rect.y..rect.y + rect.h {
            r = Self::access(job, guard, || self.write(dst.pixel(rect.x, y), &row[..w]));
            if r.is_err() {
                break;
            }
        }
        self.dst = row;
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn two(
        &mut self,
        job: &Job,
        guard: &RunGuard<'_>,
        dst: BusSurface,
        to: Point,
        src: BusSurface,
        from: Rect,
        blend: Option<u8>,
    ) -> FenceResult {
        if from.is_empty() {
            return Ok(());
        }
        let w = from.w as usize * 4;
        let h = from.h;
        let span = |s: &BusSurface, x: u32, y: u32| {
            let start = s.pixel(x, y).0;
            (start, s.pixel(x, y + h - 1).0 + w as u64)
        };
        let (s0, s1) = span(&src, from.x, from.y);
        let (d0, d1) = span(&dst, to.x, to.y);
        let overlap = s0 < d1 && d0 < s1;
        let mut src_row = core::mem::take(&mut self.src);
        let mut dst_row = core::mem::take(&mut self.dst);
        let mut rect = core::mem::take(&mut self.rect);
        let mut result = Ok(());
        if overlap && src.stride != dst.stride {
            // Rows of the two surfaces interleave in ways no row order untangles: read the
            // whole source rectangle first.
            rect.resize(w * h as usize, 0);
            for r in 0..h {
                let out = &mut rect[r as usize * w..(r as usize + 1) * w];
                result = Self::access(job, guard, || self.read(src.pixel(from.x, from.y + r), out));
                if result.is_err() {
                    break;
                }
            }
        }
        // With equal strides, going away from the overlap (bottom-up when the destination
        // lies after the source) never overwrites a source row before it is read: the
        // result is as if the whole source were read first.
        let bottom_up = overlap && src.stride == dst.stride && d0 > s0;
        let whole = overlap && src.stride != dst.stride;
        for i in 0..h {
            if result.is_err() {
                break;
            }
            let r = if bottom_up { h - 1 - i } else { i };
            let at_dst = dst.pixel(to.x, to.y + r);
            let at_src = src.pixel(from.x, from.y + r);
            let s = &mut src_row[..w];
            let d = &mut dst_row[..w];
            let pre = if whole {
                Some(&rect[r as usize * w..(r as usize + 1) * w])
            } else {
                None
            };
            result = Self::access(job, guard, || {
                let s: &[u8] = match pre {
                    Some(p) => p,
                    None => {
                        self.read(at_src, s);
                        s
                    }
                };
                match blend {
                    None => self.write(at_dst, s),
                    Some(alpha) => {
                        self.read(at_dst, d);
                        render::blend_row(d, s, src.format, alpha);
                        self.write(at_dst, d);
                    }
                }
            });
        }
        self.src = src_row;
        self.dst = dst_row;
        self.rect = rect;
        result
    }

    /// One row burst per output row: read the sampled source row's span, convert, write.
    #[allow(clippy::too_many_arguments)]
    fn convert(
        &mut self,
        job: &Job,
        guard: &RunGuard<'_>,
        dst: BusSurface,
        to: Rect,
        src: BusSurface,
        from: Rect,
        flip: Flip,
    ) -> FenceResult {
        if from.is_empty() || to.is_empty() {
            return Ok(());
        }
        let fx = scale_factor(from.w, to.w);
        let fy = scale_factor(from.h, to.h);
        let (s0, s1) = render::source_span(src.format, from.x, from.w);
        let x0 = if src.format == PixelFormat::Yuyv {
            from.x & !1
        } else {
            from.x
        };
        let out_len = to.w as usize * dst.format.bytes_per_pixel();
        let mut src_row = core::mem::take(&mut self.src);
        let mut dst_row = core::mem::take(&mut self.dst);
        let mut result = Ok(());
        for j in 0..to.h {
            let k = if flip.v { to.h - 1 - j } else { j };
            let sy = from.y + sample_index(k, fy, from.h);
            // Row start plus the span's byte offset: inside the validated surface.
            let at_src = BusAddr(src.bus.0 + (sy as usize * src.stride + s0) as u64);
            let at_dst = dst.pixel(to.x, to.y + j);
            let s = &mut src_row[..s1 - s0];
            let d = &mut dst_row[..out_len];
            result = Self::access(job, guard, || {
                self.read(at_src, s);
                render::convert_row(
                    d, dst.format, to.w, s, src.format, x0, from.x, from.w, fx, flip.h,
                );
                self.write(at_dst, d);
            });
            if result.is_err() {
                break;
            }
        }
        self.src = src_row;
        self.dst = dst_row;
        result
    }
}
