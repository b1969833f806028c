//! The display controller: mode set-up (control path, [`DisplayControl`]) separate from the
//! data path — page flips ([`DisplayFlip`]) and completing them ([`DisplayService`]).

use alloc::collections::VecDeque;
use dmasync_hal::dma::MemorySystem;
use dmasync_hal::lock::IrqSpinLock;

use dmasync_hal::dma::DeviceId;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult, FenceStatus};
use dmasync_sync::syncset::Locked;

use crate::error::{EngineError, Rejected};
use crate::surface::{BusSurface, Need, PixelFormat, Surface, SurfaceDesc, resolve};

/// A display mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DisplayMode {
    /// Visible width in pixels.
    pub width: u32,
    /// Visible height in pixels.
    pub height: u32,
    /// Scanout pixel layout.
    pub format: PixelFormat,
}

impl DisplayMode {
    /// Bytes a tightly packed framebuffer for this mode needs.
    pub fn framebuffer_bytes(&self) -> usize {
        self.width as usize * self.height as usize * self.format.bytes_per_pixel()
    }

    /// Checks a framebuffer surface (`fb` inside `buffer`, `buffer_len` bytes) against this
    /// mode — the part of a flip's validation every display shares; drivers add their own
    /// limits (a packed stride, a register width) after it:
    ///
    /// - an inconsistent description (zero size, stride under a row): `BadSurface`;
    /// - fewer pixels than the mode, or fewer bytes in the buffer than the surface needs at
    ///   its stride: `FramebufferTooSmall` with both sizes;
    /// - a surface larger than the mode, or of another pixel format: `BadSurface`.
    pub fn check_framebuffer(
        &self,
        buffer: &'static str,
        fb: &SurfaceDesc,
        buffer_len: usize,
    ) -> Result<(), EngineError> {
        fb.check()
            .map_err(|why| EngineError::BadSurface { buffer, why })?;
        let row = self.width as usize * self.format.bytes_per_pixel();
        let need = (fb.stride.max(row))
            .saturating_mul(self.height.saturating_sub(1) as usize)
            .saturating_add(row);
        let have_buf = buffer_len.saturating_sub(fb.offset);
        if fb.width < self.width || fb.height < self.height || have_buf < need {
            return Err(EngineError::FramebufferTooSmall {
                buffer,
                need,
                have: fb.span_bytes().unwrap_or(0).min(have_buf),
            });
        }
        if fb.width != self.width || fb.height != self.height {
            return Err(EngineError::BadSurface {
                buffer,
                why: "framebuffer size differs from the display mode",
            });
        }
        if fb.format != self.format {
            return Err(EngineError::BadSurface {
                buffer,
                why: "framebuffer pixel format differs from the display mode",
            });
        }
        Ok(())
    }
}

/// The fences of one accepted flip.
#[derive(Debug)]
pub struct FlipFences {
    /// Signals when the new framebuffer is on screen (the scanout switched to it).
    pub presented: Fence,
    /// Signals when the display no longer reads the new framebuffer — after a later flip
    /// has been presented, or the display was disabled. The flip's sync set is released
    /// with this fence, so the buffer's next writer waits for it.
    pub released: Fence,
}

/// The display controller's control path.
pub trait DisplayControl {
    /// The mode the device prefers (its native resolution).
    fn preferred_mode(&self) -> DisplayMode;

    /// The mode set now, if any.
    fn mode(&self) -> Option<DisplayMode>;

    /// Sets `mode`. A mode the device refuses gives [`EngineError::ModeRefused`] and leaves
    /// the current mode (and what is on screen) unchanged.
    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError>;
}

/// The display controller's data path.
pub trait DisplayFlip: DisplayControl {
    /// The bus master the display's scanout engine is.
    fn device(&self) -> DeviceId;

    /// Queues `fb` for scanout once `in_fence` (if any) has signalled. `fb` must be
    /// registered in `locked` for this device's read, lie in the registered range, and
    /// match the current mode (same size and format; at least the bytes the mode needs).
    ///
    /// On success the set is released with [`FlipFences::released`]. On refusal
    /// ([`EngineError::NoMode`], [`EngineError::FramebufferTooSmall`],
    /// [`EngineError::NotLockedFor`], ...) nothing changes on screen and the set comes
    /// back in [`Rejected`].
    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>>;
}

/// The display's data path, servicer side: completes the flips [`DisplayFlip::flip`]
/// queued.
///
/// A trait of its own rather than a method of [`DisplayControl`] or [`DisplayFlip`]
/// because it is a use case of its own (one trait per use case, as in Embassy and Tock):
/// servicing moves frames — it waits for in-fences, programs the scanout and signals
/// `presented`/`released` — so it is data path, not control; and the context that pumps it
/// (the owner's loop, a task, the idle loop) needs neither the mode set-up nor the right to
/// submit flips, so code that only services takes `D: DisplayService` and nothing more.
pub trait DisplayService {
    /// Does the work of flips whose in-fences have signalled, for implementations that
    /// cannot do it from a fence callback (a blocking device queue); returns how many
    /// flips were presented. Implementations that complete flips from interrupts return 0.
    fn service(&self) -> usize;
}

/// An accepted flip, as a driver that queues flips itself keeps it until it is presented.
#[derive(Debug)]
pub struct QueuedFlip {
    /// The framebuffer as the scanout engine addresses it.
    pub fb: BusSurface,
    /// Wait for this before scanning out.
    pub in_fence: Option<Fence>,
    /// Signal when the framebuffer is on screen.
    pub presented: FenceProducer,
    /// Signal when the display no longer reads the framebuffer (the flip's set is released
    /// with it).
    pub released: FenceProducer,
}

/// The front half of [`DisplayFlip::flip`] that every display driver shares: checks that a
/// mode is set, the driver's own `limits` (start with [`DisplayMode::check_framebuffer`]),
/// and the lock (`fb` registered in `locked` for `device`'s read, inside the registered
/// range); then makes the fences — `presented` from the driver's timeline
/// (`next_presented`, called only once the flip is accepted), `released` on a context of
/// its own, as releases can signal out of order when a flip fails while an earlier frame
/// stays on screen — and hands the set to `unlock_after(released)`.
///
/// Returns the caller's fences and the flip to queue, or `None` to queue when the watchdog
/// took the set back after the checks (both fences then signal `Cancelled`). A refusal
/// gives the set back in [`Rejected`].
#[allow(clippy::type_complexity)]
pub fn accept_flip<'s, M: MemorySystem>(
    locked: Locked<'s, M>,
    device: DeviceId,
    fb: &Surface<'_>,
    in_fence: Option<&Fence>,
    mode: Option<DisplayMode>,
    limits: impl FnOnce(&DisplayMode) -> Result<(), EngineError>,
    next_presented: impl FnOnce() -> FenceProducer,
) -> Result<(FlipFences, Option<QueuedFlip>), Rejected<Locked<'s, M>>> {
    let checked = mode
        .ok_or(EngineError::NoMode)
        .and_then(|mode| limits(&mode))
        .and_then(|()| resolve(&locked, device, fb, Need::Read));
    let bus = match checked {
        Ok(bus) => bus,
        Err(e) => return Err(Rejected::new(e, locked)),
    };
    let presented = next_presented();
    let released = FenceProducer::one_off();
    let fences = FlipFences {
        presented: presented.fence(),
        released: released.fence(),
    };
    if locked.unlock_after(&fences.released).is_err() {
        // The watchdog took the buffers back between the checks and here: nothing queued.
        released.signal_error(FenceError::Cancelled);
        presented.signal_error(FenceError::Cancelled);
        return Ok((fences, None));
    }
    let flip = QueuedFlip {
        fb: bus,
        in_fence: in_fence.cloned(),
        presented,
        released,
    };
    Ok((fences, Some(flip)))
}

/// The state a display driver shares between `flip` (any core) and its servicer
/// ([`DisplayService::service`]): the mode and the accepted flips in order, under a short
/// IRQ-safe lock (never held while a fence is looked at or signalled: that may run callbacks).
pub struct FlipQueue {
    inner: IrqSpinLock<FlipQueueState>,
}

struct FlipQueueState {
    mode: Option<DisplayMode>,
    pending: VecDeque<QueuedFlip>,
}

impl core::fmt::Debug for FlipQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FlipQueue")
            .field("mode", &self.mode())
            .field("pending", &self.len())
            .finish()
    }
}

impl Default for FlipQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl FlipQueue {
    /// No mode, nothing queued.
    pub const fn new() -> Self {
        Self {
            inner: IrqSpinLock::new(FlipQueueState {
                mode: None,
                pending: VecDeque::new(),
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut FlipQueueState) -> R) -> R {
        f(&mut self.inner.lock())
    }

    /// The mode set now.
    pub fn mode(&self) -> Option<DisplayMode> {
        self.with(|s| s.mode)
    }

    /// Records the mode the device now scans out.
    pub fn set_mode(&self, mode: DisplayMode) {
        self.with(|s| s.mode = Some(mode));
    }

    /// Queues an accepted flip behind the earlier ones.
    pub fn push(&self, flip: QueuedFlip) {
        self.with(|s| s.pending.push_back(flip));
    }

    /// Flips queued and not yet taken.
    pub fn len(&self) -> usize {
        self.with(|s| s.pending.len())
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the oldest flip once its in-fence has signalled, with the in-fence's result;
    /// `None` while it is still pending (flips are presented in order) or nothing is queued.
    pub fn next_ready(&self) -> Option<(QueuedFlip, FenceResult)> {
        loop {
            // The in-fence is looked at outside the lock: `status` may signal a
            // memory-backed fence and run its callbacks, which may flip (push) again.
            let head = self.with(|s| match &s.pending.front()?.in_fence {
                None => s.pending.pop_front().map(Ok),
                Some(f) => Some(Err(f.clone())),
            })?;
            let in_fence = match head {
                Ok(flip) => return Some((flip, Ok(()))),
                Err(f) => f,
            };
            let ready = match in_fence.status() {
                FenceStatus::Pending => return None,
                FenceStatus::Ok => Ok(()),
                FenceStatus::Err(e) => Err(e),
            };
            // Still the head we looked at (another servicer may have taken it meanwhile;
            // a flip with the same in-fence is as ready), else look again.
            let taken = self.with(|s| match &s.pending.front()?.in_fence {
                Some(f) if Fence::ptr_eq(f, &in_fence) => s.pending.pop_front(),
                _ => None,
            });
            if let Some(p) = taken {
                return Some((p, ready));
            }
        }
    }
}
