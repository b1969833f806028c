//! The frame loop: triple-buffered frames, every buffer access through a sync set.
//!
//! Per frame `n` (back buffer `frames[n % 3]`):
//!
//! ```text
//!  CPU            2D engine                     display              CPU
//!  draw overlay   composite scene               flip to back         read checksum rows
//!  [ov: cpu-w] -> [ov: dma-r, back: dma-rw] -> [back: dma-r] ----> [back rows: cpu-r]
//!                  submit -> engine fence  ---> in-fence             (invalidate first)
//!                                               presented / released (previous front
//!                                               buffer's set ends with its `released`)
//! ```
//!
//! The sync sets derive the cache maintenance: a clean of the overlay before the engine
//! reads what the CPU drew, an invalidate of the checksum rows before the CPU reads what
//! the engine wrote, nothing else. Locking the back buffer for the engine waits for the
//! display to release it (its flip set ends with the `released` fence of the flip three
//! frames back) and for the last CPU read-back.
//!
//! A hung engine (its work does not complete by the domain's hold deadline) shows as a
//! failed lock of the next user: the watchdog completes the engine's set with `Timeout`,
//! the loop reports it, resets the engine and goes on with the next frame; the previous
//! frame stays on screen.

use alloc::vec::Vec;
use core::time::Duration;
use dmasync_hal::dma::MemorySystem;

use dmasync_engine::{
    DisplayFlip, DisplayMode, DisplayService, DmaEngine, Engine2d, EngineError, Op2d, PixelFormat,
    Rejected, Span, Surface, SurfaceDesc,
};
use dmasync_hal::dma::{Coherency, DmaError, DmaMemory};
use dmasync_hal::platform;
use dmasync_sync::fence::{Fence, FenceError, FenceStatus};
use dmasync_sync::syncset::{Access, Locked, SyncBuffer, SyncDomain, SyncError, SyncStats};

use crate::scene::{self, OVERLAY_BYTES, OVERLAY_H, OVERLAY_W, SceneOp};

/// Frame buffers in flight.
pub const BUFFERS: usize = 3;

/// Why the pipeline could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The display has no mode set.
    NoMode,
    /// The mode's pixel format is not the one the demo draws (`Xrgb8888`).
    Format(PixelFormat),
    /// A buffer could not be allocated.
    Alloc {
        /// Which buffer.
        buffer: &'static str,
        /// Why.
        error: DmaError,
    },
    /// The sync domain refused a buffer.
    Sync(SyncError),
    /// A frame buffer the display gave ([`Pipeline::with_frames`]) is smaller than a
    /// packed frame of the mode.
    FrameTooSmall {
        /// Which buffer.
        buffer: &'static str,
        /// Bytes a frame needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::NoMode => f.write_str("the display has no mode set"),
            SetupError::Format(p) => write!(f, "display format {p:?} is not Xrgb8888"),
            SetupError::Alloc { buffer, error } => write!(f, "allocating {buffer}: {error}"),
            SetupError::Sync(e) => write!(f, "sync domain: {e}"),
            SetupError::FrameTooSmall { buffer, need, have } => {
                write!(
                    f,
                    "frame buffer {buffer}: {have} bytes, a frame needs {need}"
                )
            }
        }
    }
}

/// The pipeline stage a frame failed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The CPU drawing the overlay.
    Draw,
    /// The DMA engine moving the overlay from the CPU's staging buffer to where the 2D
    /// engine reads it (boards with a DMA engine: [`Pipeline::run_frame_with_dma`]).
    Move,
    /// Locking and submitting the composite.
    Composite,
    /// Locking the back buffer for the display, and the flip.
    Flip,
    /// Waiting for the flip to be presented.
    Present,
    /// The CPU reading back the checksum rows.
    Readback,
}

impl Stage {
    /// Lower-case name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Draw => "draw",
            Stage::Move => "move",
            Stage::Composite => "composite",
            Stage::Flip => "flip",
            Stage::Present => "present",
            Stage::Readback => "readback",
        }
    }
}

/// What went wrong in a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A sync set refused (lock or guard).
    Sync(Stage, SyncError),
    /// The engine or display refused a submission.
    Refused(Stage, EngineError),
    /// The engine's work ended with an error or never completed (watchdog `Timeout`): the
    /// engine was reset, abandoning `abandoned` submissions.
    EngineHung {
        /// How the engine's work (as its next user saw it) ended.
        error: FenceError,
        /// Submissions `reset` abandoned.
        abandoned: usize,
    },
    /// The CPU could not draw the overlay (the reason).
    Draw(&'static str),
    /// The flip was not presented within the configured time.
    PresentTimeout,
    /// The flip's presented fence signalled an error.
    PresentFailed(FenceError),
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::Sync(s, e) => write!(f, "{}: {e}", s.name()),
            FrameError::Refused(s, e) => write!(f, "{}: refused: {e}", s.name()),
            FrameError::EngineHung { error, abandoned } => write!(
                f,
                "2D engine hung ({error:?}); reset it, abandoning {abandoned} submission(s)"
            ),
            FrameError::Draw(why) => write!(f, "draw: {why}"),
            FrameError::PresentTimeout => f.write_str("present: flip not on screen in time"),
            FrameError::PresentFailed(e) => write!(f, "present: flip failed with {e:?}"),
        }
    }
}

/// What one frame did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameReport {
    /// Frame number.
    pub frame: u32,
    /// Which of the [`BUFFERS`] frame buffers was the back buffer.
    pub buffer: usize,
    /// Wall time of the whole frame.
    pub frame_ns: u64,
    /// Time spent waiting: in sync-set locks (for previous users) and for the flip to be
    /// presented.
    pub wait_ns: u64,
    /// Engine fence latency: submit until the engine's fence signalled.
    pub engine_ns: Option<u64>,
    /// Display fence latency: flip until its `presented` fence signalled.
    pub present_ns: Option<u64>,
    /// The sync domain's counters during this frame (back-offs, cache operations
    /// issued/avoided, contended locks, ...).
    pub sync: SyncStats,
    /// Checksum of the read-back rows, if the frame got that far.
    pub checksum: Option<u32>,
    /// The checksum the reference renderer gives for those rows (when verifying).
    pub expected: Option<u32>,
    /// The first error, if the frame failed.
    pub error: Option<FrameError>,
}

impl FrameReport {
    /// True when the frame completed and (if verified) its checksum matched.
    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self.checksum.is_some()
            && (self.expected.is_none() || self.expected == self.checksum)
    }
}

/// Totals over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Frames run.
    pub frames: u32,
    /// Frames that completed with a matching (or unverified) checksum.
    pub ok: u32,
    /// Frames that failed (an error or a checksum mismatch).
    pub failed: u32,
    /// Frames whose checksum differed from the reference.
    pub mismatches: u32,
    /// Engine resets after a hang.
    pub engine_resets: u32,
    /// Sum of frame times.
    pub frame_ns: u64,
    /// Longest frame.
    pub max_frame_ns: u64,
    /// Sum of waits.
    pub wait_ns: u64,
    /// Sum and count of engine latencies.
    pub engine_ns: (u64, u32),
    /// Sum and count of present latencies.
    pub present_ns: (u64, u32),
    /// Sync-domain counters over the run.
    pub sync: SyncStats,
}

impl Totals {
    /// Adds one frame.
    pub fn add(&mut self, r: &FrameReport) {
        self.frames += 1;
        if r.ok() {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        if r.checksum.is_some() && r.expected.is_some() && r.checksum != r.expected {
            self.mismatches += 1;
        }
        if matches!(r.error, Some(FrameError::EngineHung { .. })) {
            self.engine_resets += 1;
        }
        self.frame_ns += r.frame_ns;
        self.max_frame_ns = self.max_frame_ns.max(r.frame_ns);
        self.wait_ns += r.wait_ns;
        if let Some(e) = r.engine_ns {
            self.engine_ns.0 += e;
            self.engine_ns.1 += 1;
        }
        if let Some(p) = r.present_ns {
            self.present_ns.0 += p;
            self.present_ns.1 += 1;
        }
        let (a, b) = (&mut self.sync, &r.sync);
        a.locks += b.locks;
        a.contended += b.contended;
        a.backoffs += b.backoffs;
        a.cache_ops += b.cache_ops;
        a.cache_bytes += b.cache_bytes;
        a.cache_ops_avoided += b.cache_ops_avoided;
        a.expired += b.expired;
        a.predecessor_errors += b.predecessor_errors;
    }

    /// Mean of a (sum, count) pair, 0 when empty.
    pub fn mean((sum, n): (u64, u32)) -> u64 {
        if n == 0 { 0 } else { sum / n as u64 }
    }
}

/// Tunables of the loop.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Compute each frame's expected checksum with the reference renderer and compare.
    pub verify: bool,
    /// How long to wait for a flip to be presented before reporting it.
    pub present_timeout: Duration,
    /// For a display that draws frames only when asked (QEMU's FIMD model under `-display
    /// none` draws for a screendump only): asked once per frame whose flip is not presented
    /// after [`FrameRequest::after`]. `presented` still comes from the display's own
    /// evidence; the request only makes the frame happen.
    pub frame_request: Option<FrameRequest>,
}

/// How the pipeline asks a display that draws on request for a frame (see
/// [`Options::frame_request`]).
#[derive(Clone, Copy, Debug)]
pub struct FrameRequest {
    /// How long a flip waits for a frame of its own before the request.
    pub after: Duration,
    /// Asks for a frame showing demo frame `frame` in `mode` (for instance a screendump
    /// request to the host).
    pub request: fn(frame: u32, mode: DisplayMode),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            verify: true,
            present_timeout: Duration::from_secs(2),
            frame_request: None,
        }
    }
}

/// The demo's buffers and the state of its loop.
pub struct Pipeline<'d, M: MemorySystem> {
    domain: &'d SyncDomain<M>,
    overlay: SyncBuffer,
    /// Where the CPU draws the overlay when a DMA engine moves it ([`Stage::Move`]).
    staging: SyncBuffer,
    frames: [SyncBuffer; BUFFERS],
    mode: DisplayMode,
    options: Options,
}

impl<M: MemorySystem> core::fmt::Debug for Pipeline<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pipeline")
            .field("mode", &self.mode)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn elapsed(since: dmasync_hal::platform::Instant) -> u64 {
    platform::now().saturating_duration_since(since).as_nanos() as u64
}

impl<'d, M: MemorySystem> Pipeline<'d, M> {
    /// Allocates the overlay and three frame buffers for `mode` (which must be
    /// `Xrgb8888`) from `memory` as non-coherent DMA buffers of `domain`.
    pub fn new(
        domain: &'d SyncDomain<M>,
        memory: &impl DmaMemory,
        mode: DisplayMode,
        options: Options,
    ) -> Result<Self, SetupError> {
        Self::build(domain, memory, mode, options, None)
    }

    /// [`Pipeline::new`] with the three frame buffers given instead of allocated: for a
    /// display that scans out only memory of its own (the Raspberry Pi firmware's
    /// framebuffer, whose buffers the board registers in `domain`). Each must hold a packed
    /// frame of `mode`; the overlay and staging buffers still come from `memory`.
    pub fn with_frames(
        domain: &'d SyncDomain<M>,
        memory: &impl DmaMemory,
        mode: DisplayMode,
        options: Options,
        frames: [SyncBuffer; BUFFERS],
    ) -> Result<Self, SetupError> {
        for f in &frames {
            if f.len() < mode.framebuffer_bytes() {
                return Err(SetupError::FrameTooSmall {
                    buffer: f.name(),
                    need: mode.framebuffer_bytes(),
                    have: f.len(),
                });
            }
        }
        Self::build(domain, memory, mode, options, Some(frames))
    }

    fn build(
        domain: &'d SyncDomain<M>,
        memory: &impl DmaMemory,
        mode: DisplayMode,
        options: Options,
        given: Option<[SyncBuffer; BUFFERS]>,
    ) -> Result<Self, SetupError> {
        if mode.format != PixelFormat::Xrgb8888 {
            return Err(SetupError::Format(mode.format));
        }
        let alloc = |buffer: &'static str, len: usize| {
            let region = memory
                .alloc(len.max(1), Coherency::NonCoherent)
                .map_err(|error| SetupError::Alloc { buffer, error })?;
            // A refused region is leaked (this crate frees nothing: `free` is unsafe), never
            // handed out twice; set-up stops anyway.
            domain
                .buffer(buffer, region)
                .map_err(|refused| SetupError::Sync(refused.error))
        };
        let fb = mode.framebuffer_bytes();
        let overlay = alloc("overlay", OVERLAY_BYTES)?;
        let staging = alloc("staging", OVERLAY_BYTES)?;
        let frames = match given {
            Some(frames) => frames,
            None => [
                alloc("frame0", fb)?,
                alloc("frame1", fb)?,
                alloc("frame2", fb)?,
            ],
        };
        Ok(Self {
            domain,
            overlay,
            staging,
            frames,
            mode,
            options,
        })
    }

    /// The mode the frames are drawn for.
    pub fn mode(&self) -> DisplayMode {
        self.mode
    }

    /// The overlay buffer.
    pub fn overlay(&self) -> &SyncBuffer {
        &self.overlay
    }

    /// Frame buffer `i` (0..3).
    pub fn frame_buffer(&self, i: usize) -> &SyncBuffer {
        &self.frames[i % BUFFERS]
    }

    fn frame_desc(&self) -> SurfaceDesc {
        SurfaceDesc::packed(self.mode.width, self.mode.height, PixelFormat::Xrgb8888)
    }

    /// Runs frame `frame` through the whole pipeline with `engine` and `display`.
    pub fn run_frame<E: Engine2d, D: DisplayFlip + DisplayService>(
        &self,
        engine: &E,
        display: &D,
        frame: u32,
    ) -> FrameReport {
        self.run::<E, D, NoDma>(engine, None, display, frame)
    }

    /// [`Pipeline::run_frame`] with one more step: the CPU draws the overlay into a staging
    /// buffer and `dma` moves it to the buffer the 2D engine reads ([`Stage::Move`]); the
    /// engine's lock waits for the DMA engine's fence like any other writer's.
    pub fn run_frame_with_dma<E: Engine2d, X: DmaEngine, D: DisplayFlip + DisplayService>(
        &self,
        engine: &E,
        dma: &X,
        display: &D,
        frame: u32,
    ) -> FrameReport {
        self.run(engine, Some(dma), display, frame)
    }

    /// [`Pipeline::run_frame_with_dma`] when `dma` is `Some`, else [`Pipeline::run_frame`].
    pub fn run<E: Engine2d, D: DisplayFlip + DisplayService, X: DmaEngine>(
        &self,
        engine: &E,
        dma: Option<&X>,
        display: &D,
        frame: u32,
    ) -> FrameReport {
        let t0 = platform::now();
        let before = self.domain.stats();
        let buffer = frame as usize % BUFFERS;
        let mut report = FrameReport {
            frame,
            buffer,
            ..FrameReport::default()
        };
        if let Err(e) = self.stages(engine, dma, display, frame, &mut report) {
            report.error = Some(e);
        }
        if self.options.verify && report.checksum.is_some() {
            report.expected = Some(crate::reference::reference_checksum(
                frame,
                self.mode.width,
                self.mode.height,
            ));
        }
        report.frame_ns = elapsed(t0);
        report.sync = stats_delta(&self.domain.stats(), &before);
        report
    }

    fn stages<E: Engine2d, D: DisplayFlip + DisplayService, X: DmaEngine>(
        &self,
        engine: &E,
        dma: Option<&X>,
        display: &D,
        frame: u32,
        report: &mut FrameReport,
    ) -> Result<(), FrameError> {
        let back = &self.frames[frame as usize % BUFFERS];
        let (w, h) = (self.mode.width, self.mode.height);

        // 1. The CPU draws the overlay (CPU write), into the staging buffer when a DMA
        //    engine moves it. Waits for the previous reader (the engine or the DMA engine).
        let drawn = if dma.is_some() {
            &self.staging
        } else {
            &self.overlay
        };
        {
            let mut set = self.domain.set();
            set.add(drawn, Access::CPU_WRITE)
                .map_err(|e| FrameError::Sync(Stage::Draw, e))?;
            let t = platform::now();
            let locked = set.lock().map_err(|e| FrameError::Sync(Stage::Draw, e));
            report.wait_ns += elapsed(t);
            let locked = locked?;
            let mut g = locked
                .cpu_write(drawn)
                .map_err(|e| FrameError::Sync(Stage::Draw, e))?;
            g.with_mut(|bytes| scene::draw_overlay(bytes, frame))
                .map_err(|e| FrameError::Sync(Stage::Draw, e))?
                .map_err(FrameError::Draw)?;
            drop(g);
            locked
                .unlock()
                .map_err(|e| FrameError::Sync(Stage::Draw, e))?;
        }

        // 1b. The DMA engine moves it (DMA read staging, DMA write overlay); the engine's
        //     lock below waits for its fence.
        if let Some(dma) = dma {
            let dev = dma.device();
            let mut set = self.domain.set();
            set.add(&self.staging, Access::dma_read(dev))
                .and_then(|()| set.add(&self.overlay, Access::dma_write(dev)))
                .map_err(|e| FrameError::Sync(Stage::Move, e))?;
            let t = platform::now();
            let locked = set.lock();
            report.wait_ns += elapsed(t);
            let locked = locked.map_err(|e| FrameError::Sync(Stage::Move, e))?;
            let src = Span {
                buffer: &self.staging,
                offset: 0,
                len: OVERLAY_BYTES,
            };
            let dst = Span {
                buffer: &self.overlay,
                offset: 0,
                len: OVERLAY_BYTES,
            };
            if let Err(rejected) = dma.copy(locked, dst, src, None) {
                drop(rejected.returned);
                return Err(FrameError::Refused(Stage::Move, rejected.error));
            }
        }

        // 2. The engine composites (DMA read overlay, DMA read+write back buffer: the
        //    blend reads the destination). Waits for the display to release the buffer.
        let g2d = engine.device();
        let engine_fence = {
            let mut set = self.domain.set();
            set.add(&self.overlay, Access::dma_read(g2d))
                .and_then(|()| set.add(back, Access::dma_read_write(g2d)))
                .map_err(|e| FrameError::Sync(Stage::Composite, e))?;
            let t = platform::now();
            let locked = set.lock();
            report.wait_ns += elapsed(t);
            let locked = locked.map_err(|e| self.engine_failure(engine, Stage::Composite, e))?;
            let ov = Surface::new(
                &self.overlay,
                SurfaceDesc::packed(OVERLAY_W, OVERLAY_H, PixelFormat::Argb8888),
            );
            let fb = Surface::new(back, self.frame_desc());
            let ops: Vec<Op2d<'_>> = scene::scene_ops(frame, w, h)
                .into_iter()
                .map(|op| to_op2d(op, fb, ov))
                .collect();
            let submitted = platform::now();
            match engine.submit(locked, &ops, None) {
                Ok(f) => (f, submitted),
                Err(rejected) => {
                    drop(rejected.returned);
                    return Err(FrameError::Refused(Stage::Composite, rejected.error));
                }
            }
        };

        // 3. The display flips to the back buffer once the engine's fence signals (DMA
        //    read). The lock itself waits for the engine (the composite set's writer
        //    fence); a hung engine shows here as the watchdog's `Timeout`.
        let fb = Surface::new(back, self.frame_desc());
        let (flip, flipped_at) = {
            let mut set = self.domain.set();
            set.add(back, Access::dma_read(display.device()))
                .map_err(|e| FrameError::Sync(Stage::Flip, e))?;
            let t = platform::now();
            let locked = set.lock();
            report.wait_ns += elapsed(t);
            let locked = locked.map_err(|e| self.engine_failure(engine, Stage::Flip, e))?;
            report.engine_ns = fence_latency(&engine_fence.0, engine_fence.1);
            let at = platform::now();
            match display.flip(locked, fb, Some(&engine_fence.0)) {
                Ok(f) => (f, at),
                Err(rejected) => {
                    drop(rejected.returned);
                    return Err(FrameError::Refused(Stage::Flip, rejected.error));
                }
            }
        };

        // 4. Wait until it is on screen (DisplayService::service does the work for displays
        //    that cannot present from a fence callback).
        let t = platform::now();
        let give_up = t.saturating_add(self.options.present_timeout);
        let mut request = self
            .options
            .frame_request
            .map(|r| (t.saturating_add(r.after), r.request));
        loop {
            display.service();
            if let Some((at, ask)) = request
                && platform::now() >= at
                && flip.presented.status() == FenceStatus::Pending
            {
                ask(frame, self.mode);
                request = None;
            }
            match flip.presented.wait_until(Some(
                platform::now().saturating_add(Duration::from_millis(1)),
            )) {
                FenceStatus::Ok => break,
                FenceStatus::Err(e) => {
                    report.wait_ns += elapsed(t);
                    return Err(FrameError::PresentFailed(e));
                }
                FenceStatus::Pending if platform::now() >= give_up => {
                    report.wait_ns += elapsed(t);
                    return Err(FrameError::PresentTimeout);
                }
                FenceStatus::Pending => {}
            }
        }
        report.wait_ns += elapsed(t);
        report.present_ns = fence_latency(&flip.presented, flipped_at);

        // 5. The CPU reads back the checksum rows (CPU read after the engine's DMA write:
        //    the set invalidates those lines first). Readers share: the display keeps
        //    reading the buffer meanwhile.
        let rows = scene::checksum_rows(h);
        let row_bytes = w as usize * 4;
        let range = rows.start as usize * row_bytes..rows.end as usize * row_bytes;
        if !range.is_empty() {
            let mut set = self.domain.set();
            set.add_range(back, Access::CPU_READ, range)
                .map_err(|e| FrameError::Sync(Stage::Readback, e))?;
            let t = platform::now();
            let locked = set.lock();
            report.wait_ns += elapsed(t);
            let locked = locked.map_err(|e| FrameError::Sync(Stage::Readback, e))?;
            let sum = locked
                .cpu_read(back)
                .and_then(|g| g.with(scene::checksum))
                .map_err(|e| FrameError::Sync(Stage::Readback, e))?;
            locked
                .unlock()
                .map_err(|e| FrameError::Sync(Stage::Readback, e))?;
            report.checksum = Some(sum);
        } else {
            report.checksum = Some(scene::checksum(&[]));
        }
        Ok(())
    }

    /// A lock that waited for the engine's work failed: if the work ended with an error
    /// (a device error, or the watchdog's `Timeout` for a hung engine), reset the engine.
    fn engine_failure<E: Engine2d>(&self, engine: &E, stage: Stage, e: SyncError) -> FrameError {
        match e {
            SyncError::Predecessor { error, .. } => {
                let abandoned = engine.reset();
                FrameError::EngineHung { error, abandoned }
            }
            other => FrameError::Sync(stage, other),
        }
    }
}

fn fence_latency(f: &Fence, since: dmasync_hal::platform::Instant) -> Option<u64> {
    f.timestamp()
        .map(|t| t.saturating_duration_since(since).as_nanos() as u64)
}

fn stats_delta(a: &SyncStats, b: &SyncStats) -> SyncStats {
    SyncStats {
        locks: a.locks - b.locks,
        contended: a.contended - b.contended,
        backoffs: a.backoffs - b.backoffs,
        cache_ops: a.cache_ops - b.cache_ops,
        cache_bytes: a.cache_bytes - b.cache_bytes,
        cache_ops_avoided: a.cache_ops_avoided - b.cache_ops_avoided,
        expired: a.expired - b.expired,
        predecessor_errors: a.predecessor_errors - b.predecessor_errors,
    }
}

fn to_op2d<'b>(op: SceneOp, fb: Surface<'b>, ov: Surface<'b>) -> Op2d<'b> {
    match op {
        SceneOp::Fill { rect, color } => Op2d::Fill {
            dst: fb,
            rect,
            color,
        },
        SceneOp::CopyInFrame { from, to } => Op2d::Copy {
            dst: fb,
            to,
            src: fb,
            from,
        },
        SceneOp::Blend { from, to, alpha } => Op2d::Blend {
            dst: fb,
            to,
            src: ov,
            from,
            alpha,
        },
    }
}

/// No DMA engine ([`Pipeline::run_frame`]; `None::<&NoDma>` where a scenario takes an
/// optional one): an uninhabited type, so the step cannot run.
#[derive(Debug)]
pub enum NoDma {}

impl DmaEngine for NoDma {
    fn device(&self) -> dmasync_hal::dma::DeviceId {
        match *self {}
    }

    fn copy<'s, M: MemorySystem>(
        &self,
        _: Locked<'s, M>,
        _: Span<'_>,
        _: Span<'_>,
        _: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>> {
        match *self {}
    }

    fn fill<'s, M: MemorySystem>(
        &self,
        _: Locked<'s, M>,
        _: Span<'_>,
        _: u8,
        _: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>> {
        match *self {}
    }
}
