//! The software display: a scanout model behind [`DisplayControl`], [`DisplayFlip`] and
//! [`DisplayService`]. Flips queue behind their in-fences; [`DisplayService::service`] (the
//! model's vblank) presents every flip that is ready by reading its framebuffer through
//! [`DeviceMemory`] into the screen, which tests inspect with [`SoftDisplay::screen`].

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use dmasync_hal::dma::MemorySystem;
use dmasync_hal::platform::{self, Instant};

use dmasync_hal::dma::{DeviceId, DeviceMemory};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult};
use dmasync_sync::syncset::{DeviceLease, Locked};

use crate::device::job_access;
use crate::queue::{JobQueue, RunGuard, Step};
use dmasync_engine::display::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, FlipFences,
};
use dmasync_engine::error::{EngineError, Rejected};
use dmasync_engine::surface::{BusSurface, Need, Surface, resolve};

/// The device error a flip's `presented` fence signals with when the mode changed between
/// the flip and its presentation: `FenceError::DeviceError(MODE_CHANGED)`.
pub const MODE_CHANGED: u32 = 0x40DE;

struct Flip {
    fb: BusSurface,
    mode: DisplayMode,
    /// Moves to the screen when presented; a flip that never reaches the screen drops it,
    /// which releases its framebuffer with `Cancelled`.
    released: Cell<Option<FenceProducer>>,
    /// The flip's set's lease: each row read is one of its bursts.
    lease: DeviceLease,
}

struct Screen {
    pixels: Vec<u8>,
    /// What the next presentation reads into; swapped with `pixels`.
    staging: Vec<u8>,
    /// The `released` producer of the framebuffer on screen.
    on_screen: Option<FenceProducer>,
    presented: u64,
}

/// A display controller modelled in software: bus master `device`, scanning out through
/// `D`. It accepts the modes it is built with (anything else is refused, and the mode and
/// the screen stay as they were).
///
/// The set a flip hands over stays held while its framebuffer is on screen (it is released
/// with [`FlipFences::released`]), so the domain's watchdog applies to it: a frame kept on
/// screen longer than `SyncConfig::hold_deadline` is expired like any other holder. Flip
/// at least that often, or give scanout buffers a domain whose deadline fits.
pub struct SoftDisplay<D: DeviceMemory> {
    device: DeviceId,
    memory: D,
    preferred: DisplayMode,
    accepted: Vec<DisplayMode>,
    mode: Option<DisplayMode>,
    queue: JobQueue<Flip>,
    screen: IrqSpinLock<Screen>,
    /// The modelled panel's refresh period, if known: flips then ask their in-fence to be
    /// done by the next vblank.
    refresh: Option<Duration>,
    /// Platform clock (ns) at the latest [`DisplayService::service`] (the model's vblank);
    /// `u64::MAX` before the first.
    last_vblank: AtomicU64,
}

impl<D: DeviceMemory> fmt::Debug for SoftDisplay<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftDisplay")
            .field("device", &self.device)
            .field("mode", &self.mode)
            .field("accepted", &self.accepted)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<D: DeviceMemory> SoftDisplay<D> {
    /// A display preferring `preferred` and accepting `preferred` and `others`, queueing up
    /// to `queue_depth` flips. No mode is set yet.
    pub fn new(
        device: DeviceId,
        memory: D,
        preferred: DisplayMode,
        others: &[DisplayMode],
        queue_depth: usize,
    ) -> Self {
        let mut accepted = Vec::with_capacity(others.len() + 1);
        accepted.push(preferred);
        accepted.extend(others.iter().copied().filter(|m| *m != preferred));
        Self {
            device,
            memory,
            preferred,
            accepted,
            mode: None,
            queue: JobQueue::new(queue_depth),
            screen: IrqSpinLock::new(Screen {
                pixels: Vec::new(),
                staging: Vec::new(),
                on_screen: None,
                presented: 0,
            }),
            refresh: None,
            last_vblank: AtomicU64::new(u64::MAX),
        }
    }

    /// Tells the model how often its vblank ([`DisplayService::service`]) comes. From then
    /// on each flip sets a deadline hint ([`Fence::set_deadline`]) on its in-fence: the next
    /// vblank, by which the frame must be ready to be shown on it (what Linux's atomic
    /// commit does with `dma_fence_set_deadline`). `None`: no hints (the default).
    pub fn set_refresh_period(&mut self, period: Option<Duration>) {
        self.refresh = period.filter(|p| !p.is_zero());
    }

    /// The next vblank after now, from the latest serviced one and the refresh period;
    /// one period from now before the first. `None` without a refresh period.
    pub fn next_vblank(&self) -> Option<Instant> {
        let period = self.refresh?;
        let now = platform::now();
        let last = self.last_vblank.load(Ordering::Relaxed);
        if last == u64::MAX || last > now.0 {
            return Some(now.saturating_add(period));
        }
        let p = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let periods = (now.0 - last) / p + 1;
        Some(Instant(last.saturating_add(periods.saturating_mul(p))))
    }

    /// What is on screen: the mode and its pixels, packed rows of `width * 4` bytes (all
    /// zero until the first flip is presented). `None` without a mode.
    pub fn screen(&self) -> Option<(DisplayMode, Vec<u8>)> {
        let mode = self.mode?;
        let pixels = self.screen.lock().pixels.clone();
        Some((mode, pixels))
    }

    /// Flips presented so far.
    pub fn presented(&self) -> u64 {
        self.screen.lock().presented
    }

    /// Flips accepted and not yet presented.
    pub fn pending(&self) -> usize {
        self.queue.pending()
    }

    /// Turns scanout off: no mode, a blank screen, and the framebuffer that was on screen
    /// is released. Flips still queued fail with `MODE_CHANGED` when serviced.
    pub fn disable(&mut self) {
        self.mode = None;
        self.blank(0);
    }

    /// Clears the screen to `bytes` zeros and releases the framebuffer on it.
    fn blank(&self, bytes: usize) {
        let old = self.screen.lock().with(|s| {
            s.pixels.clear();
            s.pixels.resize(bytes, 0);
            s.on_screen.take()
        });
        if let Some(p) = old {
            p.signal();
        }
    }

    fn present(&self, job: &Flip, guard: &RunGuard<'_>) -> FenceResult {
        if self.mode != Some(job.mode) {
            return Err(FenceError::DeviceError(MODE_CHANGED));
        }
        let row = job.mode.width as usize * job.mode.format.bytes_per_pixel();
        let mut staging = core::mem::take(&mut self.screen.lock().staging);
        staging.resize(row * job.mode.height as usize, 0);
        let mut result = Ok(());
        for (y, out) in staging.chunks_exact_mut(row).enumerate() {
            result = job_access(guard, &job.lease, || {
                // SAFETY: the framebuffer was validated at flip time to lie inside the
                // registered range of a buffer the set held for this device's read; each
                // row is read inside a burst of the set's lease (`job_access`), so the set
                // is neither released (`released` signals after a later flip replaced this
                // one on screen) nor expired (the expiry waits for the burst) meanwhile.
                unsafe {
                    self.memory
                        .device_read(self.device, job.fb.pixel(0, y as u32), out)
                }
            });
            if result.is_err() {
                break;
            }
        }
        let previous = self.screen.lock().with(|s| {
            if result.is_ok() {
                core::mem::swap(&mut s.pixels, &mut staging);
                s.presented += 1;
                let new = job.released.take();
                s.staging = staging;
                core::mem::replace(&mut s.on_screen, new)
            } else {
                s.staging = staging;
                None
            }
        });
        // The scanout switched: the previous framebuffer is no longer read.
        if let Some(p) = previous {
            p.signal();
        }
        result
    }
}

impl<D: DeviceMemory> DisplayControl for SoftDisplay<D> {
    fn preferred_mode(&self) -> DisplayMode {
        self.preferred
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.mode
    }

    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        if !self.accepted.contains(&mode) {
            return Err(EngineError::ModeRefused {
                width: mode.width,
                height: mode.height,
            });
        }
        if self.mode != Some(mode) {
            self.mode = Some(mode);
            self.blank(mode.framebuffer_bytes());
        }
        Ok(())
    }
}

impl<D: DeviceMemory> DisplayService for SoftDisplay<D> {
    /// The model's vblank: presents, in order, every queued flip whose in-fence has
    /// signalled, stopping at the first that waits. Returns how many were presented.
    fn service(&self) -> usize {
        self.last_vblank.store(platform::now().0, Ordering::Relaxed);
        let mut n = 0;
        loop {
            match self.queue.run_ready(|job, guard| self.present(job, guard)) {
                Step::Completed(Ok(())) => n += 1,
                Step::Completed(Err(_)) | Step::Abandoned => {}
                Step::Idle | Step::Waiting | Step::Deferred => return n,
            }
        }
    }
}

impl<D: DeviceMemory> DisplayFlip for SoftDisplay<D> {
    fn device(&self) -> DeviceId {
        self.device
    }

    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        let check = || {
            let mode = self.mode.ok_or(EngineError::NoMode)?;
            mode.check_framebuffer(fb.buffer.name(), &fb.desc, fb.buffer.len())?;
            let bus = resolve(&locked, self.device, &fb, Need::Read)?;
            Ok((bus, mode))
        };
        let (bus, mode) = match check() {
            Ok(v) => v,
            Err(e) => return Err(Rejected::new(e, locked)),
        };
        let Some(ticket) = self.queue.reserve() else {
            return Err(Rejected::new(EngineError::QueueFull, locked));
        };
        if let (Some(f), Some(at)) = (in_fence, self.next_vblank()) {
            f.set_deadline(at);
        }
        let presented = ticket.fence();
        let released = FenceProducer::one_off();
        let released_fence = released.fence();
        match locked.unlock_after_leased(&released_fence) {
            Ok(lease) => ticket.commit(
                Flip {
                    fb: bus,
                    mode,
                    released: Cell::new(Some(released)),
                    lease,
                },
                in_fence,
            ),
            Err(_) => {
                ticket.abort(FenceError::Timeout);
                released.signal_error(FenceError::Timeout);
            }
        }
        Ok(FlipFences {
            presented,
            released: released_fence,
        })
    }
}
