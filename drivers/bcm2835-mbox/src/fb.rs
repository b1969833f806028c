//! The firmware's framebuffer as a dmasync display: one allocation of `N` buffers (2 or 3)
//! stacked in a virtual framebuffer `N` times the mode's height; buffer `i` is shown by
//! setting the virtual offset to (0, i·height).
//!
//! # The mode set
//!
//! One property message (as raspi3b.md §5 checked under QEMU): set physical size, set
//! virtual size (width, N·height), set virtual offset (0, 0), set depth 32, set pixel order,
//! allocate (alignment 4096), get pitch. The reply must say the firmware did exactly that:
//! every tag answered, the sizes, depth, order and offset echoed unchanged (QEMU's
//! `bcm2835_fb_validate_config` clamps what it cannot do and answers with the clamped
//! values), a base that is not 0, a pitch that holds a row, and a size that holds N buffers.
//! Anything else is an [`FbError`] naming what differed.
//!
//! The framebuffer is allocated **once**. The board registers its buffers in a sync domain
//! as regions over the firmware's memory; a second allocation could move the framebuffer
//! (on the hardware the firmware's allocator decides; QEMU always answers vcram_base +
//! 1 MiB) and leave those regions describing memory that is no longer the display's. So a
//! later `set_mode` of another mode is refused without asking the firmware, and of the same
//! mode is a no-op.
//!
//! The base comes back as a VideoCore bus address; its top two bits are the cache-alias
//! view (0xC000_0000 on the firmware, none under QEMU). [`Framebuffer::base`] is the address
//! with them cleared, the ARM physical address (Linux drivers/video/fbdev/bcm2708_fb.c and
//! U-Boot drivers/video/bcm2835.c do the same masking), which is also how the board's other
//! devices address RAM (raspi3b.md §4: every alias reaches it).
//!
//! # Pixel order
//!
//! `Xrgb8888` (and `Argb8888`, alpha ignored) is the word 0x00RRGGBB: pixel order 0, "BGR"
//! in the firmware's naming, B in byte 0 (raspi3b.md §5, checked with a screendump). The
//! other formats are not offered.
//!
//! # When `presented` and `released` signal
//!
//! A flip, once its in-fence has signalled, is one property call with set virtual offset.
//! QEMU applies the offset inside the call (the property handler reconfigures the
//! framebuffer before it answers, and the next display refresh scans from there), so when
//! the call returns the new buffer is the one shown and the previous one is read no more:
//! `presented` and the previous frame's `released` signal then. On the hardware the firmware
//! latches the offset at the next vertical sync, so at the call's return the previous
//! buffer may still be scanned for up to one refresh; a hardware port has to wait for that
//! vsync before signalling `released` (not done here: this driver is validated on QEMU's
//! model only, and says so in drivers/README.md).
//!
//! A flip whose call fails (no reply, a refused message, an offset the firmware changed) is
//! failed with `DeviceError` ([`DEVICE_ERROR_CALL`], [`DEVICE_ERROR_OFFSET`]); the frame on
//! screen before it keeps its `released` pending.

use core::fmt;

use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, FlipQueue,
    PixelFormat, Rejected, Surface, accept_flip,
};
use dmasync_hal::dma::{DeviceId, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::mmio::RegisterIo;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, Timeline};
use dmasync_sync::syncset::Locked;

use crate::{Mailbox, MboxError, Message, tag};

/// Alignment asked of the allocation (a page; QEMU ignores it).
pub const ALIGNMENT: u32 = 4096;
/// Bits per pixel of every mode this driver sets.
pub const DEPTH: u32 = 32;
/// Pixel order 0 (BGR): the word 0x00RRGGBB, B in byte 0.
pub const PIXEL_ORDER_BGR: u32 = 0;
/// The top bits of a VideoCore bus address that select the cache-alias view.
pub const BUS_ALIAS_MASK: u32 = 0xC000_0000;
/// Largest side QEMU's model takes (bcm2835_fb.c `XRES_MAX`, `YRES_MAX`: 3840 x 2560), for
/// the virtual height too.
pub const MAX_WIDTH: u32 = 3840;
/// See [`MAX_WIDTH`].
pub const MAX_HEIGHT: u32 = 2560;
/// `DeviceError` code of a flip whose property call failed.
pub const DEVICE_ERROR_CALL: u32 = 1;
/// `DeviceError` code of a flip whose offset the firmware answered with another value.
pub const DEVICE_ERROR_OFFSET: u32 = 2;

/// Why a framebuffer was not set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FbError {
    /// The property call failed.
    Mailbox(MboxError),
    /// The firmware answered a setting with another value than asked.
    Changed {
        /// Which setting.
        what: &'static str,
        /// What was asked.
        asked: (u32, u32),
        /// What the firmware set.
        got: (u32, u32),
    },
    /// The allocation returned base 0: no framebuffer.
    NoBase,
    /// The pitch does not hold a row of the mode.
    PitchTooSmall {
        /// Bytes of a row.
        row: u32,
        /// The firmware's pitch.
        pitch: u32,
    },
    /// The allocation does not hold the buffers.
    TooSmall {
        /// Bytes the buffers need (pitch · height · N).
        need: u64,
        /// Bytes the firmware allocated.
        have: u32,
    },
    /// A buffer count other than 2 or 3.
    BadBufferCount(usize),
    /// A format other than the 32-bit RGB ones.
    Unsupported(PixelFormat),
    /// A size outside 1..=3840 x 1..=2560 (the virtual height included).
    OutOfRange {
        /// Asked width.
        width: u32,
        /// Asked height.
        height: u32,
    },
    /// A framebuffer is allocated already (for another mode): it is never re-allocated.
    AlreadyAllocated,
}

impl fmt::Display for FbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mailbox(e) => write!(f, "framebuffer: {e}"),
            Self::Changed { what, asked, got } => write!(
                f,
                "framebuffer: the firmware set {what} {}x{} instead of {}x{}",
                got.0, got.1, asked.0, asked.1
            ),
            Self::NoBase => write!(f, "framebuffer: the firmware allocated none (base 0)"),
            Self::PitchTooSmall { row, pitch } => {
                write!(f, "framebuffer: pitch {pitch} under a row of {row} bytes")
            }
            Self::TooSmall { need, have } => {
                write!(f, "framebuffer: {have} bytes allocated, {need} needed")
            }
            Self::BadBufferCount(n) => write!(f, "framebuffer: {n} buffers (2 or 3 are taken)"),
            Self::Unsupported(p) => write!(f, "framebuffer: pixel format {p:?} not offered"),
            Self::OutOfRange { width, height } => {
                write!(
                    f,
                    "framebuffer: {width}x{height} is outside 1..=3840 x 1..=2560"
                )
            }
            Self::AlreadyAllocated => write!(
                f,
                "framebuffer: allocated already for another mode (it is never re-allocated)"
            ),
        }
    }
}

impl From<MboxError> for FbError {
    fn from(e: MboxError) -> Self {
        Self::Mailbox(e)
    }
}

/// The allocated framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    /// The mode of each buffer.
    pub mode: DisplayMode,
    /// Buffers stacked in the virtual framebuffer.
    pub buffers: usize,
    /// The first buffer's address with the alias bits cleared (ARM physical address).
    pub base: u64,
    /// Bytes per line.
    pub pitch: u32,
    /// Bytes the firmware allocated.
    pub size: u32,
}

impl Framebuffer {
    /// Bytes of one buffer: pitch · height.
    pub fn buffer_bytes(&self) -> usize {
        self.pitch as usize * self.mode.height as usize
    }

    /// Address (as [`base`](Self::base)) of buffer `i`.
    pub fn buffer_base(&self, i: usize) -> u64 {
        self.base + (i * self.buffer_bytes()) as u64
    }

    /// Which buffer starts at `addr`, if one does.
    pub fn buffer_at(&self, addr: u64) -> Option<usize> {
        let off = addr.checked_sub(self.base)?;
        let bytes = self.buffer_bytes() as u64;
        (off % bytes == 0 && off / bytes < self.buffers as u64).then_some((off / bytes) as usize)
    }
}

/// The mode-set message for `mode` with `buffers` buffers.
pub fn mode_message(mode: &DisplayMode, buffers: usize) -> Result<(Message, ModeTags), FbError> {
    let mut m = Message::new();
    let (w, h) = (mode.width, mode.height);
    let vh = h * buffers as u32;
    let tags = ModeTags {
        physical: m.tag(tag::FRAMEBUFFER_SET_PHYSICAL_WIDTH_HEIGHT, &[w, h], 2)?,
        virtual_size: m.tag(tag::FRAMEBUFFER_SET_VIRTUAL_WIDTH_HEIGHT, &[w, vh], 2)?,
        offset: m.tag(tag::FRAMEBUFFER_SET_VIRTUAL_OFFSET, &[0, 0], 2)?,
        depth: m.tag(tag::FRAMEBUFFER_SET_DEPTH, &[DEPTH], 1)?,
        order: m.tag(tag::FRAMEBUFFER_SET_PIXEL_ORDER, &[PIXEL_ORDER_BGR], 1)?,
        allocate: m.tag(tag::FRAMEBUFFER_ALLOCATE, &[ALIGNMENT], 2)?,
        pitch: m.tag(tag::FRAMEBUFFER_GET_PITCH, &[], 1)?,
    };
    Ok((m, tags))
}

/// Where each tag of [`mode_message`] is.
#[derive(Clone, Copy, Debug)]
pub struct ModeTags {
    physical: crate::TagIndex,
    virtual_size: crate::TagIndex,
    offset: crate::TagIndex,
    depth: crate::TagIndex,
    order: crate::TagIndex,
    allocate: crate::TagIndex,
    pitch: crate::TagIndex,
}

/// Checks the reply to [`mode_message`] (already through [`Message::decode`]) and gives the
/// framebuffer it describes.
pub fn check_mode_reply(
    m: &Message,
    t: &ModeTags,
    mode: &DisplayMode,
    buffers: usize,
) -> Result<Framebuffer, FbError> {
    let pair = |i| {
        let v = m.value(i);
        (v[0], v[1])
    };
    let (w, h) = (mode.width, mode.height);
    for (what, i, asked) in [
        ("the physical size", t.physical, (w, h)),
        ("the virtual size", t.virtual_size, (w, h * buffers as u32)),
        ("the virtual offset", t.offset, (0, 0)),
    ] {
        let got = pair(i);
        if got != asked {
            return Err(FbError::Changed { what, asked, got });
        }
    }
    for (what, i, asked) in [
        ("the depth", t.depth, DEPTH),
        ("the pixel order", t.order, PIXEL_ORDER_BGR),
    ] {
        let got = m.value(i)[0];
        if got != asked {
            return Err(FbError::Changed {
                what,
                asked: (asked, 0),
                got: (got, 0),
            });
        }
    }
    let (bus, size) = pair(t.allocate);
    let base = bus & !BUS_ALIAS_MASK;
    if base == 0 {
        return Err(FbError::NoBase);
    }
    let pitch = m.value(t.pitch)[0];
    let row = w * (DEPTH / 8);
    if pitch < row {
        return Err(FbError::PitchTooSmall { row, pitch });
    }
    let need = u64::from(pitch) * u64::from(h) * buffers as u64;
    if u64::from(size) < need {
        return Err(FbError::TooSmall { need, have: size });
    }
    Ok(Framebuffer {
        mode: *mode,
        buffers,
        base: u64::from(base),
        pitch,
        size,
    })
}

/// The display side of one flip: sets the virtual offset to `(0, y)` and checks the
/// firmware kept it.
fn show<R: RegisterIo, M: MemorySystem>(mbox: &mut Mailbox<'_, R, M>, y: u32) -> Result<(), u32> {
    let mut m = Message::new();
    let t = m
        .tag(tag::FRAMEBUFFER_SET_VIRTUAL_OFFSET, &[0, y], 2)
        .map_err(|_| DEVICE_ERROR_CALL)?;
    mbox.call(&mut m).map_err(|_| DEVICE_ERROR_CALL)?;
    if m.value(t)[..2] != [0, y] {
        return Err(DEVICE_ERROR_OFFSET);
    }
    Ok(())
}

/// The device side, reached by the holder of the lock (`service`, `set_mode`, queries).
struct State<'d, R: RegisterIo, M: MemorySystem> {
    mbox: Mailbox<'d, R, M>,
    /// The buffer on screen and its release fence.
    on_screen: Option<(usize, FenceProducer)>,
}

/// The firmware framebuffer as a dmasync display.
pub struct MboxFb<'d, R: RegisterIo, M: MemorySystem> {
    device: DeviceId,
    buffers: usize,
    preferred: DisplayMode,
    fb: Option<Framebuffer>,
    presented: Timeline,
    flips: FlipQueue,
    state: IrqSpinLock<State<'d, R, M>>,
}

impl<R: RegisterIo, M: MemorySystem> fmt::Debug for MboxFb<'_, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MboxFb")
            .field("device", &self.device)
            .field("framebuffer", &self.fb)
            .finish_non_exhaustive()
    }
}

impl<'d, R: RegisterIo, M: MemorySystem> MboxFb<'d, R, M> {
    /// The framebuffer over the property channel `mbox`, with `buffers` (2 or 3) buffers
    /// per allocation; `device` is the bus-master id framebuffers are locked for. Asks the
    /// firmware for the display's size as the preferred mode. Nothing is allocated or shown
    /// until [`set_mode`](DisplayControl::set_mode).
    pub fn new(
        mut mbox: Mailbox<'d, R, M>,
        buffers: usize,
        device: DeviceId,
    ) -> Result<Self, FbError> {
        if !(2..=3).contains(&buffers) {
            return Err(FbError::BadBufferCount(buffers));
        }
        let mut m = Message::new();
        let t = m.tag(tag::FRAMEBUFFER_GET_PHYSICAL_WIDTH_HEIGHT, &[], 2)?;
        mbox.call(&mut m)?;
        let (width, height) = (m.value(t)[0], m.value(t)[1]);
        if width == 0 || height == 0 || width > MAX_WIDTH || height > MAX_HEIGHT {
            return Err(FbError::OutOfRange { width, height });
        }
        Ok(Self {
            device,
            buffers,
            preferred: DisplayMode {
                width,
                height,
                format: PixelFormat::Xrgb8888,
            },
            fb: None,
            presented: Timeline::new(),
            flips: FlipQueue::new(),
            state: IrqSpinLock::new(State {
                mbox,
                on_screen: None,
            }),
        })
    }

    /// The framebuffer, once a mode is set: where its buffers are, for the board to
    /// register them in its sync domain.
    pub fn framebuffer(&self) -> Option<Framebuffer> {
        self.fb
    }

    /// Allocates the framebuffer for `mode` ([`set_mode`](DisplayControl::set_mode) with
    /// the firmware's refusal in detail). Buffer 0 is shown (whatever the memory holds);
    /// the frame flipped first replaces it.
    pub fn allocate(&mut self, mode: DisplayMode) -> Result<Framebuffer, FbError> {
        if let Some(fb) = self.fb {
            return if fb.mode == mode {
                Ok(fb)
            } else {
                Err(FbError::AlreadyAllocated)
            };
        }
        if !mode.format.is_32bit() {
            return Err(FbError::Unsupported(mode.format));
        }
        let vh = u64::from(mode.height) * self.buffers as u64;
        if mode.width == 0 || mode.height == 0 || mode.width > MAX_WIDTH || vh > MAX_HEIGHT as u64 {
            return Err(FbError::OutOfRange {
                width: mode.width,
                height: mode.height,
            });
        }
        let (mut m, tags) = mode_message(&mode, self.buffers)?;
        let mut state = self.state.lock();
        state.mbox.call(&mut m)?;
        let fb = check_mode_reply(&m, &tags, &mode, self.buffers)?;
        state.on_screen = None;
        drop(state);
        self.fb = Some(fb);
        self.flips.set_mode(mode);
        Ok(fb)
    }

    /// The virtual offset the firmware uses now (tag 0x40009), to check a flip landed.
    pub fn virtual_offset(&self) -> Result<(u32, u32), MboxError> {
        let mut m = Message::new();
        let t = m.tag(tag::FRAMEBUFFER_GET_VIRTUAL_OFFSET, &[], 2)?;
        self.state.lock().mbox.call(&mut m)?;
        Ok((m.value(t)[0], m.value(t)[1]))
    }

    /// The buffer on screen (its index), once a flip was presented.
    pub fn on_screen(&self) -> Option<usize> {
        self.state.lock().on_screen.as_ref().map(|(i, _)| *i)
    }

    /// Flips queued and not yet presented.
    pub fn pending_flips(&self) -> usize {
        self.flips.len()
    }

    /// The flip check beyond the mode's: the surface is a whole buffer of the framebuffer
    /// at its pitch.
    fn check_buffer(&self, fb: &Surface<'_>) -> Result<(), EngineError> {
        let Some(alloc) = self.fb else {
            return Err(EngineError::NoMode);
        };
        let name = fb.buffer.name();
        alloc
            .mode
            .check_framebuffer(name, &fb.desc, fb.buffer.len())?;
        if fb.desc.stride != alloc.pitch as usize {
            return Err(EngineError::BadSurface {
                buffer: name,
                why: "stride differs from the framebuffer's pitch",
            });
        }
        let at = fb.buffer.region().bus().0 + fb.desc.offset as u64;
        if alloc.buffer_at(at).is_none() {
            return Err(EngineError::BadSurface {
                buffer: name,
                why: "not one of the firmware framebuffer's buffers",
            });
        }
        Ok(())
    }
}

impl<R: RegisterIo, M: MemorySystem> DisplayControl for MboxFb<'_, R, M> {
    fn preferred_mode(&self) -> DisplayMode {
        self.preferred
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.flips.mode()
    }

    /// [`MboxFb::allocate`]; a refusal (the firmware's, or a mode other than the one
    /// allocated) is `ModeRefused`, a format other than XRGB/ARGB8888 `Unsupported`, a
    /// failed call `Device`.
    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        match self.allocate(mode) {
            Ok(_) => Ok(()),
            Err(FbError::Unsupported(_)) => Err(EngineError::Unsupported(
                "the firmware framebuffer is offered in XRGB8888 and ARGB8888 only",
            )),
            Err(FbError::Mailbox(_)) => Err(EngineError::Device("mailbox property call failed")),
            Err(_) => Err(EngineError::ModeRefused {
                width: mode.width,
                height: mode.height,
            }),
        }
    }
}

impl<R: RegisterIo, M: MemorySystem> DisplayService for MboxFb<'_, R, M> {
    /// Sets the virtual offset of each queued flip whose in-fence has signalled, in order.
    /// Returns 0 at once if another core is servicing.
    fn service(&self) -> usize {
        let Some(alloc) = self.fb else {
            return 0;
        };
        self.state
            .try_lock_unmasked()
            .map(|mut state| {
                let s = &mut *state;
                let mut presented = 0;
                while let Some((flip, ready)) = self.flips.next_ready() {
                    if let Err(e) = ready {
                        // The frame's producer failed: it never goes on screen.
                        flip.presented.signal_error(e);
                        flip.released.signal_error(e);
                        continue;
                    }
                    // `flip` checked the buffer against this (never re-allocated) framebuffer.
                    let Some(i) = alloc.buffer_at(flip.fb.bus.0) else {
                        flip.presented
                            .signal_error(FenceError::DeviceError(DEVICE_ERROR_CALL));
                        flip.released
                            .signal_error(FenceError::DeviceError(DEVICE_ERROR_CALL));
                        continue;
                    };
                    match show(&mut s.mbox, i as u32 * alloc.mode.height) {
                        Ok(()) => {
                            let prev = s.on_screen.replace((i, flip.released));
                            flip.presented.signal();
                            if let Some((_, prev)) = prev {
                                prev.signal();
                            }
                            presented += 1;
                        }
                        Err(code) => {
                            flip.presented.signal_error(FenceError::DeviceError(code));
                            flip.released.signal_error(FenceError::DeviceError(code));
                        }
                    }
                }
                presented
            })
            .unwrap_or(0)
    }
}

impl<R: RegisterIo, M: MemorySystem> DisplayFlip for MboxFb<'_, R, M> {
    fn device(&self) -> DeviceId {
        self.device
    }

    fn flip<'s, N: MemorySystem>(
        &self,
        locked: Locked<'s, N>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, N>>> {
        let (fences, queued) = accept_flip(
            locked,
            self.device,
            &fb,
            in_fence,
            self.mode(),
            |_| self.check_buffer(&fb),
            || self.presented.next_fence(),
        )?;
        if let Some(flip) = queued {
            self.flips.push(flip);
        }
        Ok(fences)
    }
}
