//! QEMU's ramfb as a dmasync display: a framebuffer in guest RAM, configured by writing a
//! big-endian `RAMFBCfg` {addr u64, fourcc, flags, width, height, stride} to the fw_cfg file
//! "etc/ramfb" with a fw_cfg DMA write (QEMU hw/display/ramfb.c; U-Boot and EDK II's
//! QemuRamfbDxe configure it the same way).
//!
//! # When the device reads a framebuffer
//!
//! On each config write QEMU maps the new address and builds a display surface over guest
//! RAM (`ramfb_fw_cfg_write`); the console switches to it at its next display update
//! (`ramfb_display_update`) and from then on reads the buffer at every refresh. The
//! previous surface is dropped at that switch. So a flip's buffer is read for as long as it
//! is on screen, and the previous one until the console's next update after the write
//! (one refresh interval; nothing a guest can observe). This driver signals the previous
//! buffer's `released` when the config write has completed, which is the last point the
//! guest can know about.
//!
//! # What QEMU accepts
//!
//! ramfb has no preferred mode of its own (the board supplies one) and gives no feedback:
//! a config it does not like is silently ignored and the old frame stays. QEMU 10 ignores
//! width or height under 16, width over 16000 or height over 12000 (`VBE_DISPI_MAX_XRES`/
//! `_YRES`, hw/display/bochs-vbe.h), an unknown fourcc, and a buffer it cannot map whole.
//! [`Ramfb::set_mode`](DisplayControl::set_mode) refuses the same sizes up front, and every
//! flip's framebuffer is checked against the mode, so nothing QEMU would drop is written.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod fw_cfg;

use alloc::boxed::Box;
use core::fmt;
use dmasync_hal::dma::MemorySystem;
use dmasync_hal::lock::IrqSpinLock;

use dmasync_engine::surface::BusSurface;
use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, FlipQueue,
    PixelFormat, Rejected, Surface, SurfaceDesc, accept_flip,
};
use dmasync_hal::cache::{CacheMaintenance, VirtRange};
use dmasync_hal::dma::{DeviceId, DriverDma};
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, Timeline};
use dmasync_sync::syncset::Locked;

use fw_cfg::{FwCfgError, FwCfgIo};

/// The fw_cfg file ramfb listens on.
pub const RAMFB_FILE: &str = "etc/ramfb";
/// Bytes of `RAMFBCfg`.
pub const CFG_LEN: usize = 28;
/// Smallest width/height QEMU's ramfb accepts.
pub const MIN_SIDE: u32 = 16;
/// Largest width (`VBE_DISPI_MAX_XRES`).
pub const MAX_WIDTH: u32 = 16000;
/// Largest height (`VBE_DISPI_MAX_YRES`).
pub const MAX_HEIGHT: u32 = 12000;

/// DRM fourcc of a pixel format (include/uapi/drm/drm_fourcc.h: `XR24`, `AR24`, `RG16`,
/// `YUYV`). ramfb is only given the 32-bit ones (`set_mode` refuses the others).
pub const fn fourcc(format: PixelFormat) -> u32 {
    let c = match format {
        PixelFormat::Xrgb8888 => *b"XR24",
        PixelFormat::Argb8888 => *b"AR24",
        PixelFormat::Rgb565 => *b"RG16",
        PixelFormat::Yuyv => *b"YUYV",
    };
    u32::from_le_bytes(c)
}

/// Encodes `RAMFBCfg` (packed, big-endian) for `fb`.
pub fn encode_config(fb: &BusSurface) -> [u8; CFG_LEN] {
    let mut b = [0u8; CFG_LEN];
    b[0..8].copy_from_slice(&fb.bus.0.to_be_bytes());
    b[8..12].copy_from_slice(&fourcc(fb.format).to_be_bytes());
    b[12..16].copy_from_slice(&0u32.to_be_bytes());
    b[16..20].copy_from_slice(&fb.width.to_be_bytes());
    b[20..24].copy_from_slice(&fb.height.to_be_bytes());
    b[24..28].copy_from_slice(&(fb.stride as u32).to_be_bytes());
    b
}

/// Whether QEMU's ramfb takes a mode of this size.
pub fn mode_accepted(width: u32, height: u32) -> bool {
    (MIN_SIDE..=MAX_WIDTH).contains(&width) && (MIN_SIDE..=MAX_HEIGHT).contains(&height)
}

/// Checks a framebuffer surface against the mode; ramfb takes any stride that holds a row
/// and fits RAMFBCfg's 32 bits.
pub fn check_framebuffer(
    mode: &DisplayMode,
    buffer: &'static str,
    fb: &SurfaceDesc,
    buffer_len: usize,
) -> Result<(), EngineError> {
    mode.check_framebuffer(buffer, fb, buffer_len)?;
    if u32::try_from(fb.stride).is_err() {
        return Err(EngineError::BadSurface {
            buffer,
            why: "stride does not fit RAMFBCfg's 32 bits",
        });
    }
    Ok(())
}

/// The DMA access structure and the config it points at, in lines of their own.
#[repr(C, align(256))]
struct DmaBlock {
    access: [u8; 16],
    cfg: [u8; CFG_LEN],
    _pad: [u8; 256 - 16 - CFG_LEN],
}

struct Hw<I: FwCfgIo, D: DriverDma> {
    io: I,
    select: u16,
    block: Box<DmaBlock>,
    _d: core::marker::PhantomData<D>,
}

impl<I: FwCfgIo, D: DriverDma> Hw<I, D> {
    /// Writes `cfg` to etc/ramfb with one DMA transfer and checks its outcome.
    fn write_config(&mut self, cfg: [u8; CFG_LEN]) -> Result<(), FwCfgError> {
        let virt = &*self.block as *const DmaBlock as usize;
        let cfg_bus = D::bus_of(virt + 16);
        self.block.cfg = cfg;
        self.block.access =
            fw_cfg::dma_access(fw_cfg::write_control(self.select), CFG_LEN as u32, cfg_bus);
        let range = VirtRange::new(virt, core::mem::size_of::<DmaBlock>());
        // SAFETY: the block is our own heap allocation, whole cache lines (256-byte aligned
        // and sized); cleaning makes the descriptor and config what the device reads.
        unsafe { D::cache().clean(range) };
        self.io.start_dma(D::bus_of(virt));
        // SAFETY: as above; the device wrote the control word, so drop any cached copy
        // before reading it (the lines are clean: nothing is lost).
        unsafe { D::cache().clean_invalidate(range) };
        // SAFETY: reading our own allocation; volatile because the device wrote it.
        let ctl = unsafe { core::ptr::read_volatile(virt as *const [u8; 4]) };
        fw_cfg::dma_outcome(u32::from_be_bytes(ctl))
    }
}

/// The device side, reached only by the holder of the device lock (`state`) (`service`).
struct State<I: FwCfgIo, D: DriverDma> {
    hw: Hw<I, D>,
    /// The release fence of the frame on screen.
    on_screen: Option<FenceProducer>,
}

/// QEMU's ramfb as a dmasync display. `I` reaches fw_cfg's registers; `D` is the board's
/// [`DriverDma`], which translates and maintains the fw_cfg DMA access block.
pub struct Ramfb<I: FwCfgIo, D: DriverDma> {
    device: DeviceId,
    preferred: DisplayMode,
    presented: Timeline,
    flips: FlipQueue,
    state: IrqSpinLock<State<I, D>>,
}

impl<I: FwCfgIo, D: DriverDma> fmt::Debug for Ramfb<I, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ramfb")
            .field("device", &self.device)
            .field("preferred", &self.preferred)
            .finish_non_exhaustive()
    }
}

impl<I: FwCfgIo, D: DriverDma> Ramfb<I, D> {
    /// Finds "etc/ramfb" behind `io` (after checking the fw_cfg signature and DMA feature).
    /// `preferred` is the board's mode (ramfb has none of its own); `device` is the
    /// bus-master id framebuffers are locked for. Nothing is shown until the first flip.
    pub fn new(mut io: I, preferred: DisplayMode, device: DeviceId) -> Result<Self, FwCfgError> {
        fw_cfg::probe(&mut io)?;
        let file = fw_cfg::find_file(&mut io, RAMFB_FILE)?;
        Ok(Self {
            device,
            preferred,
            presented: Timeline::new(),
            flips: FlipQueue::new(),
            state: IrqSpinLock::new(State {
                hw: Hw {
                    io,
                    select: file.select,
                    block: Box::new(DmaBlock {
                        access: [0; 16],
                        cfg: [0; CFG_LEN],
                        _pad: [0; 256 - 16 - CFG_LEN],
                    }),
                    _d: core::marker::PhantomData,
                },
                on_screen: None,
            }),
        })
    }

    /// Flips queued and not yet presented.
    pub fn pending_flips(&self) -> usize {
        self.flips.len()
    }
}

impl<I: FwCfgIo, D: DriverDma> DisplayControl for Ramfb<I, D> {
    fn preferred_mode(&self) -> DisplayMode {
        self.preferred
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.flips.mode()
    }

    /// Refuses what QEMU's ramfb would ignore: a side under 16, over 16000 x 12000.
    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        // QEMU's ramfb takes the 32-bit RGB formats the dmasync displays use; the others are
        // not offered (not tried against QEMU).
        if !mode.format.is_32bit() {
            return Err(EngineError::Unsupported(
                "ramfb scans out XRGB8888 and ARGB8888 only",
            ));
        }
        if !mode_accepted(mode.width, mode.height) {
            return Err(EngineError::ModeRefused {
                width: mode.width,
                height: mode.height,
            });
        }
        self.flips.set_mode(mode);
        Ok(())
    }
}

impl<I: FwCfgIo, D: DriverDma> DisplayService for Ramfb<I, D> {
    /// Writes the config of each queued flip whose in-fence has signalled, in order.
    /// Returns 0 at once if another core is servicing.
    fn service(&self) -> usize {
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
                    match s.hw.write_config(encode_config(&flip.fb)) {
                        Ok(()) => {
                            let prev = s.on_screen.replace(flip.released);
                            flip.presented.signal();
                            if let Some(prev) = prev {
                                prev.signal();
                            }
                            presented += 1;
                        }
                        Err(e) => {
                            let code = match e {
                                FwCfgError::DmaStuck(c) => c,
                                _ => fw_cfg::DMA_CTL_ERROR,
                            };
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

impl<I: FwCfgIo, D: DriverDma> DisplayFlip for Ramfb<I, D> {
    fn device(&self) -> DeviceId {
        self.device
    }

    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        let (fences, queued) = accept_flip(
            locked,
            self.device,
            &fb,
            in_fence,
            self.mode(),
            |mode| check_framebuffer(mode, fb.buffer.name(), &fb.desc, fb.buffer.len()),
            || self.presented.next_fence(),
        )?;
        if let Some(flip) = queued {
            self.flips.push(flip);
        }
        Ok(fences)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use dmasync_hal::cache::CoherentNoop;
    use dmasync_hal::dma::{Coherency, DirectMemory, DmaMemory, HeapDma};
    use dmasync_sync::fence::{FenceResult, FenceStatus};
    use dmasync_sync::syncset::{Access, SyncBuffer, SyncDomain};

    use super::fw_cfg::fake::FakeFwCfg;
    use super::*;

    const LINE: usize = 64;
    const DEV: DeviceId = DeviceId(9);
    const MODE: DisplayMode = DisplayMode {
        width: 32,
        height: 16,
        format: PixelFormat::Xrgb8888,
    };

    struct HostDma;
    // SAFETY: host tests: bus addresses are the host pointers, and the memory is coherent.
    unsafe impl DriverDma for HostDma {
        type Cache = CoherentNoop;
        fn cache() -> CoherentNoop {
            CoherentNoop { line_size: LINE }
        }
        fn bus_of(virt: usize) -> u64 {
            virt as u64
        }
        fn virt_of(bus: u64) -> usize {
            bus as usize
        }
    }

    type Domain = SyncDomain<DirectMemory<CoherentNoop>>;
    type Display = Ramfb<FakeFwCfg, HostDma>;

    /// A buffer of `len` bytes of zeroed, line-aligned host heap memory.
    fn buffer(domain: &Domain, name: &'static str, len: usize) -> SyncBuffer {
        // SAFETY: host tests: the fake device reaches memory at its address (`HostDma`'s
        // identity translation), and host memory is coherent.
        let heap = unsafe { HeapDma::identity_mapped(CoherentNoop { line_size: LINE }) };
        let region = heap.alloc(len, Coherency::NonCoherent).unwrap();
        domain.buffer(name, region).unwrap()
    }

    fn setup() -> (
        Display,
        std::sync::Arc<std::sync::Mutex<fw_cfg::fake::Log>>,
        Domain,
    ) {
        let io =
            FakeFwCfg::with_files(&[("etc/acpi/rsdp", 0x22, 36), (RAMFB_FILE, 0x2b, 28)], true);
        let log = io.log.clone();
        let d = Display::new(io, MODE, DEV).unwrap();
        let domain = Domain::new(
            DirectMemory(CoherentNoop { line_size: LINE }),
            dmasync_sync::syncset::SyncConfig::default(),
        );
        (d, log, domain)
    }

    fn flip(
        d: &Display,
        domain: &Domain,
        buf: &SyncBuffer,
        access: Access,
        desc: SurfaceDesc,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, EngineError> {
        let mut set = domain.set();
        set.add(buf, access).unwrap();
        let locked = set.lock().unwrap();
        d.flip(locked, Surface::new(buf, desc), in_fence)
            .map_err(|r| {
                r.returned.unlock().unwrap();
                r.error
            })
    }

    const FULL: SurfaceDesc = SurfaceDesc::packed(32, 16, PixelFormat::Xrgb8888);

    #[test]
    fn config_is_big_endian_with_the_xr24_fourcc() {
        let fb = BusSurface {
            bus: dmasync_hal::dma::BusAddr(0x4123_4000),
            width: 640,
            height: 480,
            stride: 2560,
            format: PixelFormat::Xrgb8888,
        };
        let c = encode_config(&fb);
        assert_eq!(c[..8], [0, 0, 0, 0, 0x41, 0x23, 0x40, 0x00]);
        assert_eq!(&c[8..12], b"42RX"); // 'XR24' little-endian code, stored big-endian
        assert_eq!(c[12..16], [0; 4]);
        assert_eq!(c[16..20], 640u32.to_be_bytes());
        assert_eq!(c[20..24], 480u32.to_be_bytes());
        assert_eq!(c[24..28], 2560u32.to_be_bytes());
        assert_eq!(fourcc(PixelFormat::Argb8888), 0x3432_5241);
    }

    #[test]
    fn modes_qemu_ignores_are_refused_and_leave_the_mode() {
        let (mut d, log, _) = setup();
        for (w, h) in [(15, 480), (640, 15), (16001, 480), (640, 12001), (0, 0)] {
            let m = DisplayMode {
                width: w,
                height: h,
                format: PixelFormat::Xrgb8888,
            };
            assert_eq!(
                d.set_mode(m),
                Err(EngineError::ModeRefused {
                    width: w,
                    height: h
                })
            );
            assert_eq!(d.mode(), None);
        }
        for format in [PixelFormat::Rgb565, PixelFormat::Yuyv] {
            let r = d.set_mode(DisplayMode { format, ..MODE });
            assert!(
                matches!(r, Err(EngineError::Unsupported(_))),
                "{format:?}: {r:?}"
            );
            assert_eq!(d.mode(), None);
        }
        d.set_mode(MODE).unwrap();
        assert!(d.set_mode(DisplayMode { width: 8, ..MODE }).is_err());
        assert_eq!(d.mode(), Some(MODE));
        assert!(
            log.lock().unwrap().writes.is_empty(),
            "set_mode wrote a config"
        );
    }

    #[test]
    fn flips_wait_for_the_in_fence_and_release_the_previous_frame() {
        let (mut d, log, domain) = setup();
        let a = buffer(&domain, "A", MODE.framebuffer_bytes());
        let b = buffer(&domain, "B", MODE.framebuffer_bytes());
        assert_eq!(
            flip(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap_err(),
            EngineError::NoMode
        );
        d.set_mode(MODE).unwrap();

        let in_a = FenceProducer::one_off();
        let fa = flip(
            &d,
            &domain,
            &a,
            Access::dma_read(DEV),
            FULL,
            Some(&in_a.fence()),
        )
        .unwrap();
        assert_eq!(d.service(), 0);
        assert!(
            log.lock().unwrap().writes.is_empty(),
            "written before the in-fence"
        );
        in_a.signal();
        assert_eq!(d.service(), 1);
        assert_eq!(fa.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Pending);
        {
            let log = log.lock().unwrap();
            assert_eq!(log.writes.len(), 1);
            assert_eq!(
                log.writes[0].0, 0x2b,
                "wrote another fw_cfg item than etc/ramfb"
            );
            assert_eq!(
                log.writes[0].1,
                encode_config(&BusSurface {
                    bus: a.region().bus(),
                    width: 32,
                    height: 16,
                    stride: 128,
                    format: PixelFormat::Xrgb8888
                })
            );
        }

        let fb = flip(&d, &domain, &b, Access::dma_read(DEV), FULL, None).unwrap();
        assert_eq!(fa.released.status(), FenceStatus::Pending);
        assert_eq!(d.service(), 1);
        assert_eq!(fb.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Ok);
        assert_eq!(fb.released.status(), FenceStatus::Pending);
        // A is free again: a CPU writer gets it at once.
        let mut set = domain.set();
        set.add(&a, Access::CPU_WRITE).unwrap();
        set.lock().unwrap().unlock().unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_previous_frame() {
        let (mut d, log, domain) = setup();
        d.set_mode(MODE).unwrap();
        let a = buffer(&domain, "A", MODE.framebuffer_bytes());
        let b = buffer(&domain, "B", MODE.framebuffer_bytes());
        let fa = flip(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap();
        assert_eq!(d.service(), 1);
        log.lock().unwrap().fail_dma = true;
        let fb = flip(&d, &domain, &b, Access::dma_read(DEV), FULL, None).unwrap();
        assert_eq!(d.service(), 0);
        let err = FenceStatus::Err(FenceError::DeviceError(fw_cfg::DMA_CTL_ERROR));
        assert_eq!(fb.presented.status(), err);
        assert_eq!(fb.released.status(), err);
        assert_eq!(
            fa.released.status(),
            FenceStatus::Pending,
            "A left the screen"
        );
        assert_eq!(log.lock().unwrap().writes.len(), 1);
        // A failed in-fence cancels its flip the same way, with the in-fence's error.
        log.lock().unwrap().fail_dma = false;
        let bad = Fence::signalled(FenceResult::Err(FenceError::Timeout));
        let fc = flip(&d, &domain, &b, Access::dma_read(DEV), FULL, Some(&bad)).unwrap();
        assert_eq!(d.service(), 0);
        assert_eq!(fc.presented.status(), FenceStatus::Err(FenceError::Timeout));
        assert_eq!(fa.released.status(), FenceStatus::Pending);
    }

    #[test]
    fn bad_framebuffers_are_refused_by_name_and_nothing_is_queued() {
        let (mut d, log, domain) = setup();
        d.set_mode(MODE).unwrap();
        let small = buffer(&domain, "small", MODE.framebuffer_bytes() / 2);
        let a = buffer(&domain, "A", MODE.framebuffer_bytes());
        let e = flip(&d, &domain, &small, Access::dma_read(DEV), FULL, None).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::FramebufferTooSmall {
                    buffer: "small",
                    need: 2048,
                    have: 1024
                }
            ),
            "{e:?}"
        );
        let half = SurfaceDesc::packed(16, 16, PixelFormat::Xrgb8888);
        let e = flip(&d, &domain, &a, Access::dma_read(DEV), half, None).unwrap_err();
        assert!(
            matches!(e, EngineError::FramebufferTooSmall { buffer: "A", .. }),
            "{e:?}"
        );
        let e = flip(&d, &domain, &a, Access::CPU_READ, FULL, None).unwrap_err();
        assert_eq!(
            e,
            EngineError::NotLockedFor {
                buffer: "A",
                wanted: "read"
            }
        );
        let e = flip(&d, &domain, &a, Access::dma_read(DeviceId(10)), FULL, None).unwrap_err();
        assert!(
            matches!(e, EngineError::NotLockedFor { buffer: "A", .. }),
            "{e:?}"
        );
        let argb = SurfaceDesc::packed(32, 16, PixelFormat::Argb8888);
        let e = flip(&d, &domain, &a, Access::dma_read(DEV), argb, None).unwrap_err();
        assert!(
            matches!(e, EngineError::BadSurface { buffer: "A", .. }),
            "{e:?}"
        );
        assert_eq!(d.pending_flips(), 0);
        assert_eq!(d.service(), 0);
        assert!(log.lock().unwrap().writes.is_empty());
    }

    #[test]
    fn missing_ramfb_or_dma_is_reported() {
        let io = FakeFwCfg::with_files(&[("etc/acpi/rsdp", 0x22, 36)], true);
        assert_eq!(
            Display::new(io, MODE, DEV).unwrap_err(),
            FwCfgError::NoSuchFile("etc/ramfb")
        );
        let io = FakeFwCfg::with_files(&[(RAMFB_FILE, 0x2b, 28)], false);
        assert_eq!(Display::new(io, MODE, DEV).unwrap_err(), FwCfgError::NoDma);
    }
}
