//! The display: FIMD0 ([`dmasync_fimd`]) behind a lock its frame interrupt shares.
//!
//! FIMD0's frame (VSYNC) line is source 1 of combiner group 11, which the external combiner
//! raises as external-GIC ID 43 ([`memory_map::FIMD0_COMBINER_GROUP`]). The interrupt handler
//! runs the driver's [`DisplayService::service`]: it looks at the evidence for flips in flight
//! and signals `presented` and the previous buffer's `released`. Under QEMU's `-display none`
//! no frame is drawn until a screendump asks for one (hardware.md §2.1), so a flip stays
//! pending until then: the truth, since nothing was scanned out before.
//!
//! [`Display`] is the handle the program uses: every call takes the lock, which masks IRQs on
//! the calling core, so the frame interrupt never finds the lock held by the code it
//! interrupted.

use alloc::boxed::Box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use dmasync_armv7a::cpu;
use dmasync_armv7a::gic;
use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, PixelFormat,
    Rejected, Surface,
};
use dmasync_fimd::mode::Timings;
use dmasync_fimd::{Evidence, Fimd, FimdConfig, FimdMmio};
use dmasync_hal::dma::{DeviceId, MemorySystem};
use dmasync_hal::lock::{IrqSpinGuard, IrqSpinLock};
use dmasync_sync::Fence;
use dmasync_sync::syncset::Locked;

use crate::memory_map;

/// The bus-master id framebuffers are locked for: lock them with
/// `Access::dma_read(DISPLAY_DEVICE)`.
pub const DISPLAY_DEVICE: DeviceId = DeviceId(0x0f1d);

/// The mode [`open`] offers as preferred: QEMU has no panel, so any size FIMD can drive; VGA
/// keeps TCG's compositing quick.
pub const PREFERRED_MODE: DisplayMode = DisplayMode {
    width: 640,
    height: 480,
    format: PixelFormat::Xrgb8888,
};

/// Priority of the frame interrupt (lower is more urgent; below the tick's 0x80).
pub const FRAME_PRIORITY: u8 = 0x90;

/// FIMD0 as the board drives it.
pub type Fimd0 = Fimd<FimdMmio>;

/// The opened display (cheap to copy: a reference to the one driver).
#[derive(Clone, Copy, Debug)]
pub struct Display {
    fimd: &'static IrqSpinLock<Fimd0>,
}

static FOR_IRQ: AtomicPtr<IrqSpinLock<Fimd0>> = AtomicPtr::new(ptr::null_mut());

fn on_frame(_intid: u32) {
    let p = FOR_IRQ.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: `open` stores a leaked (never freed) lock here before the interrupt is
        // enabled; only shared references are made from it.
        let fimd = unsafe { &*p };
        // The driver clears VIDINTCON1.FRAME, which lowers the level-triggered line.
        fimd.lock().service();
    }
}

/// Why the display could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// [`open`] was called before.
    AlreadyOpen,
    /// The driver refused the board's configuration.
    Driver(EngineError),
    /// The GIC refused the frame interrupt.
    Gic(gic::GicError),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::AlreadyOpen => write!(f, "FIMD0 is already open"),
            OpenError::Driver(e) => write!(f, "FIMD0 driver: {e}"),
            OpenError::Gic(e) => write!(f, "FIMD0 frame interrupt: {e:?}"),
        }
    }
}

/// Takes FIMD0 (output off until a mode is set) and routes its frame interrupt to the
/// calling core. The caller unmasks IRQs on that core.
pub fn open() -> Result<Display, OpenError> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(OpenError::AlreadyOpen);
    }
    // SAFETY: taken once (TAKEN): the only driver of FIMD0.
    let io = unsafe { memory_map::fimd0() };
    let fimd = Fimd::new(
        io,
        FimdConfig {
            preferred: PREFERRED_MODE,
            timings: Timings::QEMU,
            device: DISPLAY_DEVICE,
        },
    )
    .map_err(OpenError::Driver)?;
    let fimd: &'static IrqSpinLock<Fimd0> = Box::leak(Box::new(IrqSpinLock::new(fimd)));
    FOR_IRQ.store(ptr::from_ref(fimd).cast_mut(), Ordering::Release);
    let irq = memory_map::combiner_irq(memory_map::FIMD0_COMBINER_GROUP);
    gic::register_handler(irq, on_frame).map_err(OpenError::Gic)?;
    gic::enable_shared(irq, FRAME_PRIORITY, false, 1 << cpu::core_number())
        .map_err(OpenError::Gic)?;
    let (iesr, bit) = memory_map::combiner_enable_set(
        memory_map::FIMD0_COMBINER_GROUP,
        memory_map::FIMD0_FRAME_SOURCE,
    );
    // SAFETY: the external combiner's enable-set register of FIMD0's group: writing a 1
    // enables that one source (write-1-to-set; other bits are unaffected by a 0).
    unsafe { memory_map::write_register(iesr, bit) };
    Ok(Display { fimd })
}

impl Display {
    /// The driver, locked (IRQs masked on this core until the guard drops): for the
    /// overlay plane and what the traits below do not cover. Keep it short.
    pub fn lock(&self) -> IrqSpinGuard<'static, Fimd0> {
        self.fimd.lock()
    }

    /// The completion evidence the driver found (QEMU: a frame after programming).
    pub fn evidence(&self) -> Evidence {
        self.lock().evidence()
    }

    /// Flips queued on window `w` and not yet programmed.
    pub fn pending_flips(&self, w: usize) -> usize {
        self.lock().pending_flips(w)
    }
}

impl DisplayControl for Display {
    fn preferred_mode(&self) -> DisplayMode {
        self.lock().preferred_mode()
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.lock().mode()
    }

    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        self.lock().set_mode(mode)
    }
}

impl DisplayService for Display {
    fn service(&self) -> usize {
        self.lock().service()
    }
}

impl DisplayFlip for Display {
    fn device(&self) -> DeviceId {
        DISPLAY_DEVICE
    }

    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        self.lock().flip(locked, fb, in_fence)
    }
}
