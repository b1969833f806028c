//! The display controller: mode set-up (control path) separate from page flip (data path).

use dmasync::Platform;
use dmasync::fence::Fence;
use dmasync::syncset::Locked;
use dmasync_hal::cache::CacheMaintenance;
use dmasync_hal::dma::{CpuMemory, DeviceId};

use crate::error::{EngineError, Rejected};
use crate::surface::{PixelFormat, Surface, SurfaceDesc};

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
pub struct FlipFences<P: Platform> {
    /// Signals when the new framebuffer is on screen (the scanout switched to it).
    pub presented: Fence<P>,
    /// Signals when the display no longer reads the new framebuffer — after a later flip
    /// has been presented, or the display was disabled. The flip's sync set is released
    /// with this fence, so the buffer's next writer waits for it.
    pub released: Fence<P>,
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

    /// Does the work of flips whose in-fences have signalled, for implementations that
    /// cannot do it from a fence callback (a blocking device queue); returns how many
    /// flips were presented. Implementations that complete flips from interrupts return 0.
    fn service(&self) -> usize;
}

/// The display controller's data path.
pub trait DisplayFlip<P: Platform>: DisplayControl {
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
    fn flip<'s, 'd, C: CacheMaintenance, M: CpuMemory>(
        &self,
        locked: Locked<'s, 'd, P, C, M>,
        fb: Surface<'_, P>,
        in_fence: Option<&Fence<P>>,
    ) -> Result<FlipFences<P>, Rejected<Locked<'s, 'd, P, C, M>>>;
}
