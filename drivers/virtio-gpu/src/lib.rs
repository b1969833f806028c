//! virtio-gpu (2D) as a dmasync display: mode set-up, scanout of dmasync-managed
//! framebuffers, page flips that wait on an in-fence, and a release fence for the buffer a
//! flip replaces.
//!
//! Which parts of `virtio-drivers` this uses, and why (doc/boards.md has the long form):
//! its [`MmioTransport`] (virtio-mmio register block, feature negotiation, status) and its
//! [`VirtQueue`] (split virtqueue), with a [`Hal`](virtio_drivers::Hal) whose share/unshare
//! run dmasync's cache maintenance ([`hal::CacheHal`]). Not its `VirtIOGpu`: that driver
//! allocates one framebuffer of its own and scans it out, while a dmasync display scans out
//! whichever buffer a flip names — one virtio-gpu resource per framebuffer, backed
//! (ATTACH_BACKING) by the buffer's own bus address. The GPU command layer
//! ([`protocol`]) is ours.
//!
//! # When the device reads a framebuffer
//!
//! QEMU's 2D virtio-gpu (hw/display/virtio-gpu.c) keeps a host-side pixman image per
//! resource. The guest's backing pages are read only by TRANSFER_TO_HOST_2D, which copies
//! them into that image; SET_SCANOUT and RESOURCE_FLUSH show the host image. So a flip's
//! buffer is read exactly once, during the flip's transfer, in [`DisplayService::service`].
//! The display contract is stricter than that: [`FlipFences::released`] signals when the
//! *next* flip has been presented (or failed to be queued behind it). Holding the buffer
//! until then keeps the on-screen frame and the buffer's contents the same thing, as a
//! scanout engine that reads memory every refresh (ramfb, real controllers) needs anyway.
//!
//! # Flip sequence
//!
//! `flip` validates and queues; `service` (never a fence callback: virtqueue commands block)
//! presents the queued flips in order once their in-fences have signalled:
//! find or create the buffer's resource (RESOURCE_CREATE_2D + ATTACH_BACKING),
//! TRANSFER_TO_HOST_2D, SET_SCANOUT, RESOURCE_FLUSH. Then `presented` signals, and the
//! previous frame's `released`. Any error response leaves the previous frame on screen and
//! signals the flip's fences with `FenceError::DeviceError(code)`.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(test)]
mod fake;
pub mod hal;
pub mod protocol;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use dmasync_hal::dma::MemorySystem;
use dmasync_hal::lock::IrqSpinLock;

use dmasync_engine::surface::BusSurface;
use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, FlipQueue,
    PixelFormat, Rejected, Surface, accept_flip,
};
use dmasync_hal::dma::DeviceId;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, Timeline};
use dmasync_sync::syncset::Locked;
use virtio_drivers::device::common::Feature;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

use dmasync_hal::dma::DriverDma;
use hal::CacheHal;
use protocol::{GpuRect, RespError};

/// Control queue index (virtio spec 1.2 §5.7.2: 0 controlq, 1 cursorq).
const CONTROLQ: u16 = 0;
/// Descriptors in our control queue: one request and one response in flight.
const QUEUE_SIZE: usize = 4;
/// The scanout this driver drives.
const SCANOUT: u32 = 0;
/// QEMU's SET_SCANOUT refuses rectangles narrower or lower than 16 pixels
/// (hw/display/virtio-gpu.c, `virtio_gpu_set_scanout`: `r->width < 16 || r->height < 16`).
pub const MIN_MODE_SIDE: u32 = 16;
/// Resources kept for recently flipped framebuffers (each holds a host-side copy).
const MAX_RESOURCES: usize = 4;
/// Offset of `num_scanouts` in the device configuration (spec §5.7.4).
const CONFIG_NUM_SCANOUTS: usize = 8;

/// Why the device could not be brought up or a command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuError {
    /// The virtio-mmio register block is not usable.
    Mmio(&'static str),
    /// The virtio-mmio slot holds another device type.
    NotAGpu(u32),
    /// virtio-drivers' transport or queue failed.
    Virtio(&'static str),
    /// The device answered a command with an error or an unexpected response.
    Response {
        /// The command (`VIRTIO_GPU_CMD_*`).
        command: u32,
        /// What came back.
        error: RespError,
    },
    /// The device reports no enabled scanout 0.
    NoScanout,
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mmio(why) => write!(f, "virtio-mmio: {why}"),
            Self::NotAGpu(id) => write!(f, "virtio-mmio device ID {id} is not a GPU (16)"),
            Self::Virtio(why) => write!(f, "virtio: {why}"),
            Self::Response { command, error } => {
                write!(f, "command {command:#x}: {}", error.name())?;
                if let RespError::Unexpected(t) | RespError::Device(t) = error {
                    write!(f, " (response type {t:#x})")?;
                }
                Ok(())
            }
            Self::NoScanout => f.write_str("virtio-gpu: scanout 0 is not enabled"),
        }
    }
}

fn mmio_error(e: MmioError) -> GpuError {
    GpuError::Mmio(match e {
        MmioError::BadMagic(_) => "bad magic value (not a virtio-mmio device)",
        MmioError::UnsupportedVersion(_) => "unsupported virtio-mmio version",
        MmioError::InvalidDeviceID(_) => "no device, or an unknown device ID, in this slot",
        MmioError::MmioRegionTooSmall => "register region too small",
    })
}

fn virtio_error(e: virtio_drivers::Error) -> GpuError {
    use virtio_drivers::Error as E;
    GpuError::Virtio(match e {
        E::QueueFull => "virtqueue full",
        E::NotReady => "device not ready",
        E::WrongToken => "device used an unexpected descriptor chain",
        E::AlreadyUsed => "virtqueue already in use",
        E::InvalidParam => "invalid parameter (queue size beyond the device's maximum?)",
        E::DmaError => "DMA memory allocation failed",
        E::IoError => "I/O error",
        E::Unsupported => "request not supported",
        E::ConfigSpaceTooSmall => "device configuration space too small",
        E::ConfigSpaceMissing => "device has no configuration space",
        _ => "virtio-drivers error",
    })
}

/// A page-aligned command buffer (whole cache lines, so maintenance touches nothing else).
#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The device and its control queue.
struct Hw<D: DriverDma, T: Transport> {
    transport: T,
    queue: VirtQueue<CacheHal<D>, QUEUE_SIZE>,
    req: Box<Page>,
    resp: Box<Page>,
}

impl<D: DriverDma, T: Transport> Hw<D, T> {
    /// Sends `req`, waits for the response, checks it is `expected`; returns the response.
    fn command(
        &mut self,
        req: &protocol::Request,
        resp_len: usize,
        expected: u32,
    ) -> Result<&[u8], GpuError> {
        let bytes = req.as_bytes();
        self.req.0[..bytes.len()].copy_from_slice(bytes);
        self.resp.0[..resp_len].fill(0);
        let used = self
            .queue
            .add_notify_wait_pop(
                &[&self.req.0[..bytes.len()]],
                &mut [&mut self.resp.0[..resp_len]],
                &mut self.transport,
            )
            .map_err(virtio_error)? as usize;
        let resp = &self.resp.0[..used.min(resp_len)];
        protocol::check_response(resp, expected).map_err(|error| GpuError::Response {
            command: req.command(),
            error,
        })?;
        Ok(resp)
    }

    fn nodata(&mut self, req: protocol::Request) -> Result<(), GpuError> {
        self.command(&req, protocol::HDR_LEN, protocol::RESP_OK_NODATA)
            .map(|_| ())
    }
}

/// A host resource backed by one framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resource {
    id: u32,
    fb: BusSurface,
}

struct OnScreen {
    resource: u32,
    released: FenceProducer,
}

/// The device side: touched only by whoever holds the device lock (`state`) (`service`, `set_mode`),
/// never inside a critical section, since every command waits for the device.
struct State<D: DriverDma, T: Transport> {
    hw: Hw<D, T>,
    on_screen: Option<OnScreen>,
    resources: Vec<Resource>,
    next_id: u32,
}

impl<D: DriverDma, T: Transport> State<D, T> {
    fn new_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// The resource showing `fb`, created and backed if needed.
    fn resource_for(&mut self, fb: BusSurface) -> Result<u32, GpuError> {
        if let Some(r) = self.resources.iter().find(|r| r.fb == fb) {
            return Ok(r.id);
        }
        if self.resources.len() >= MAX_RESOURCES {
            let on_screen = self.on_screen.as_ref().map(|s| s.resource);
            if let Some(i) = self.resources.iter().position(|r| Some(r.id) != on_screen) {
                let old = self.resources.remove(i);
                self.hw.nodata(protocol::resource_detach_backing(old.id))?;
                self.hw.nodata(protocol::resource_unref(old.id))?;
            }
        }
        let id = self.new_id();
        // set_mode refused every format without a code, and the flip's surface has the mode's.
        let format = gpu_format(fb.format)
            .ok_or(GpuError::Virtio("pixel format without a virtio-gpu code"))?;
        self.hw.nodata(protocol::resource_create_2d(
            id, format, fb.width, fb.height,
        ))?;
        let len = fb.stride * fb.height as usize;
        if let Err(e) = self
            .hw
            .nodata(protocol::resource_attach_backing(id, fb.bus.0, len as u32))
        {
            let _ = self.hw.nodata(protocol::resource_unref(id));
            return Err(e);
        }
        self.resources.push(Resource { id, fb });
        Ok(id)
    }

    /// Puts `fb` on screen: transfer into its resource, switch the scanout, flush.
    fn present(&mut self, fb: BusSurface) -> Result<u32, GpuError> {
        let id = self.resource_for(fb)?;
        let rect = GpuRect::full(fb.width, fb.height);
        self.hw.nodata(protocol::transfer_to_host_2d(id, rect, 0))?;
        self.hw.nodata(protocol::set_scanout(SCANOUT, id, rect))?;
        if let Err(e) = self.hw.nodata(protocol::resource_flush(id, rect)) {
            // Put the previous frame back so what is on screen stays what the fences say.
            let prev = self.on_screen.as_ref().map(|s| s.resource);
            if let Some(r) = self.resources.iter().find(|r| Some(r.id) == prev).copied() {
                let prect = GpuRect::full(r.fb.width, r.fb.height);
                let _ = self.hw.nodata(protocol::set_scanout(SCANOUT, r.id, prect));
                let _ = self.hw.nodata(protocol::resource_flush(r.id, prect));
            }
            return Err(e);
        }
        Ok(id)
    }
}

/// The virtio-gpu format of `f`; `None` for the formats virtio-gpu 2D has no code for.
fn gpu_format(f: PixelFormat) -> Option<u32> {
    match f {
        PixelFormat::Xrgb8888 => Some(protocol::FORMAT_B8G8R8X8_UNORM),
        PixelFormat::Argb8888 => Some(protocol::FORMAT_B8G8R8A8_UNORM),
        PixelFormat::Rgb565 | PixelFormat::Yuyv => None,
    }
}

/// Checks a framebuffer surface against the current mode (before the sync-set check, so a
/// too-small buffer is named as such). virtio-gpu 2D resources are tightly packed: QEMU's
/// transfer copies rows at the resource's own stride, so the framebuffer must be too.
pub fn check_framebuffer(
    mode: &DisplayMode,
    buffer: &'static str,
    fb: &dmasync_engine::SurfaceDesc,
    buffer_len: usize,
) -> Result<(), EngineError> {
    mode.check_framebuffer(buffer, fb, buffer_len)?;
    if fb.stride != mode.width as usize * fb.format.bytes_per_pixel() {
        return Err(EngineError::BadSurface {
            buffer,
            why: "virtio-gpu scans out tightly packed rows (stride = width * 4)",
        });
    }
    Ok(())
}

/// A virtio-gpu device as a dmasync display. `D` is the board's [`DriverDma`], which
/// translates and maintains the virtqueues and command pages; `T` is the virtio transport:
/// virtio-mmio on the boards, an in-memory device model in the host tests.
pub struct VirtioGpu<D: DriverDma, T: Transport = MmioTransport<'static>> {
    device: DeviceId,
    preferred: DisplayMode,
    presented: Timeline,
    flips: FlipQueue,
    state: IrqSpinLock<State<D, T>>,
}

impl<D: DriverDma, T: Transport> fmt::Debug for VirtioGpu<D, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioGpu")
            .field("device", &self.device)
            .field("preferred", &self.preferred)
            .finish_non_exhaustive()
    }
}

impl<D: DriverDma> VirtioGpu<D> {
    /// Brings up the virtio-gpu device whose virtio-mmio registers are at `regs` (see
    /// [`VirtioGpu::with_transport`]).
    ///
    /// # Safety
    ///
    /// `regs` points to a virtio-mmio register block of `size` bytes, mapped as device memory
    /// for the rest of the program, and nothing else drives that device.
    pub unsafe fn new(
        regs: NonNull<VirtIOHeader>,
        size: usize,
        device: DeviceId,
    ) -> Result<Self, GpuError> {
        // SAFETY: the caller's contract is `MmioTransport::new`'s.
        let transport = unsafe { MmioTransport::new(regs, size) }.map_err(mmio_error)?;
        Self::with_transport(transport, device)
    }
}

impl<D: DriverDma, T: Transport> VirtioGpu<D, T> {
    /// Brings up the virtio-gpu behind `transport`: feature negotiation (VERSION_1 only),
    /// the control queue, GET_DISPLAY_INFO for the preferred mode. `device` is the
    /// bus-master id framebuffers are locked for.
    pub fn with_transport(mut transport: T, device: DeviceId) -> Result<Self, GpuError> {
        if transport.device_type() != DeviceType::GPU {
            return Err(GpuError::NotAGpu(transport.device_type() as u32));
        }
        // Neither indirect descriptors nor event-idx: one command at a time, polled.
        transport.begin_init(Feature::VERSION_1);
        let scanouts: u32 = transport
            .read_config_space(CONFIG_NUM_SCANOUTS)
            .map_err(virtio_error)?;
        if scanouts == 0 {
            return Err(GpuError::NoScanout);
        }
        let queue = VirtQueue::new(&mut transport, CONTROLQ, false, false).map_err(virtio_error)?;
        transport.finish_init();
        let mut hw = Hw {
            transport,
            queue,
            req: Box::new(Page([0; 4096])),
            resp: Box::new(Page([0; 4096])),
        };
        let resp = hw.command(
            &protocol::get_display_info(),
            protocol::DISPLAY_INFO_LEN,
            protocol::RESP_OK_DISPLAY_INFO,
        )?;
        let info = protocol::parse_display_info(resp).map_err(|error| GpuError::Response {
            command: protocol::CMD_GET_DISPLAY_INFO,
            error,
        })?;
        let s0 = info[SCANOUT as usize];
        if !s0.enabled || s0.rect.width == 0 || s0.rect.height == 0 {
            return Err(GpuError::NoScanout);
        }
        Ok(Self {
            device,
            preferred: DisplayMode {
                width: s0.rect.width,
                height: s0.rect.height,
                format: PixelFormat::Xrgb8888,
            },
            presented: Timeline::new(),
            flips: FlipQueue::new(),
            state: IrqSpinLock::new(State {
                hw,
                on_screen: None,
                resources: Vec::new(),
                next_id: 0,
            }),
        })
    }

    /// Flips queued and not yet presented.
    pub fn pending_flips(&self) -> usize {
        self.flips.len()
    }
}

impl<D: DriverDma, T: Transport> DisplayControl for VirtioGpu<D, T> {
    fn preferred_mode(&self) -> DisplayMode {
        self.preferred
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.flips.mode()
    }

    /// Refuses (with [`EngineError::ModeRefused`]) what QEMU's virtio-gpu refuses: a side
    /// under 16 pixels (SET_SCANOUT's rectangle check), and a resource the device will not
    /// create (probed with RESOURCE_CREATE_2D + RESOURCE_UNREF: QEMU answers
    /// ERR_OUT_OF_MEMORY past its `max_hostmem`, 256 MiB by default).
    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        let refused = EngineError::ModeRefused {
            width: mode.width,
            height: mode.height,
        };
        // Checked before asking the device: besides SET_SCANOUT's own minimum, some QEMU
        // versions divide by the height in RESOURCE_CREATE_2D (QEMU gitlab issue 1744), so
        // a zero size must never reach it.
        if mode.width < MIN_MODE_SIDE || mode.height < MIN_MODE_SIDE {
            return Err(refused);
        }
        let Some(format) = gpu_format(mode.format) else {
            return Err(EngineError::Unsupported(
                "virtio-gpu 2D scans out XRGB8888 and ARGB8888 only",
            ));
        };
        if mode
            .width
            .checked_mul(mode.height)
            .and_then(|p| p.checked_mul(4))
            .is_none()
        {
            return Err(refused);
        }
        let s = self.state.get_mut();
        {
            let id = s.new_id();
            match s.hw.nodata(protocol::resource_create_2d(
                id,
                format,
                mode.width,
                mode.height,
            )) {
                Ok(()) => {
                    s.hw.nodata(protocol::resource_unref(id)).map_err(|_| {
                        EngineError::Device("virtio-gpu: probe resource unref failed")
                    })?;
                    self.flips.set_mode(mode);
                    Ok(())
                }
                Err(GpuError::Response {
                    error: RespError::Device(_),
                    ..
                }) => Err(refused),
                Err(_) => Err(EngineError::Device("virtio-gpu: control queue failed")),
            }
        }
    }
}

impl<D: DriverDma, T: Transport> DisplayService for VirtioGpu<D, T> {
    /// Presents queued flips in order while their in-fences have signalled. Returns 0 at
    /// once if another core is servicing.
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
                    match s.present(flip.fb) {
                        Ok(resource) => {
                            let prev = s.on_screen.replace(OnScreen {
                                resource,
                                released: flip.released,
                            });
                            flip.presented.signal();
                            if let Some(prev) = prev {
                                prev.released.signal();
                            }
                            presented += 1;
                        }
                        Err(e) => {
                            let code = match e {
                                GpuError::Response { error, .. } => error.code(),
                                _ => 0,
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

impl<D: DriverDma, T: Transport> DisplayFlip for VirtioGpu<D, T> {
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
            |mode| {
                check_framebuffer(mode, fb.buffer.name(), &fb.desc, fb.buffer.len())?;
                if u32::try_from(fb.desc.stride * fb.desc.height as usize).is_err() {
                    return Err(EngineError::Unsupported("framebuffer larger than 4 GiB"));
                }
                Ok(())
            },
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

    use alloc::vec::Vec;

    use dmasync_engine::SurfaceDesc;
    use dmasync_hal::cache::CoherentNoop;
    use dmasync_hal::dma::{Coherency, DirectMemory, DmaMemory, HeapDma};
    use dmasync_sync::fence::FenceStatus;
    use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

    use super::fake::FakeGpu;
    use super::protocol::*;
    use super::*;

    const LINE: usize = 64;
    const DEV: DeviceId = DeviceId(3);
    const MODE: DisplayMode = DisplayMode {
        width: 16,
        height: 16,
        format: PixelFormat::Xrgb8888,
    };
    const FULL: SurfaceDesc = SurfaceDesc::packed(16, 16, PixelFormat::Xrgb8888);

    struct HostDma;
    // SAFETY: host tests: bus addresses are host pointers and the memory is coherent.
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

    type Gpu = VirtioGpu<HostDma, FakeGpu>;
    type Domain = SyncDomain<DirectMemory<CoherentNoop>>;
    type Model = std::sync::Arc<std::sync::Mutex<fake::Model>>;

    /// A framebuffer of the mode's size, every pixel `color`, in host heap memory.
    fn buffer(domain: &Domain, name: &'static str, color: u32) -> SyncBuffer {
        let len = MODE.framebuffer_bytes();
        // SAFETY: host tests: the fake device reaches memory at its address (`HostDma`'s
        // identity translation), and host memory is coherent.
        let heap = unsafe { HeapDma::identity_mapped(CoherentNoop { line_size: LINE }) };
        let region = heap.alloc(len, Coherency::NonCoherent).unwrap();
        // SAFETY: the region is a fresh allocation of `region.len()` bytes that nothing else
        // references until it is registered below.
        let bytes =
            unsafe { core::slice::from_raw_parts_mut(region.virt() as *mut u8, region.len()) };
        for px in bytes.chunks_exact_mut(4) {
            px.copy_from_slice(&color.to_le_bytes());
        }
        domain.buffer(name, region).unwrap()
    }

    fn setup() -> (Gpu, Model, Domain) {
        let t = FakeGpu::new((1024, 768));
        let model = t.model.clone();
        let gpu = Gpu::with_transport(t, DEV).unwrap();
        let domain = Domain::new(
            DirectMemory(CoherentNoop { line_size: LINE }),
            SyncConfig::default(),
        );
        (gpu, model, domain)
    }

    fn flip(
        gpu: &Gpu,
        domain: &Domain,
        buf: &SyncBuffer,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, EngineError> {
        let mut set = domain.set();
        set.add(buf, Access::dma_read(DEV)).unwrap();
        let locked = set.lock().unwrap();
        gpu.flip(locked, Surface::new(buf, FULL), in_fence)
            .map_err(|r| {
                r.returned.unlock().unwrap();
                r.error
            })
    }

    fn take_commands(model: &Model) -> Vec<u32> {
        core::mem::take(&mut model.lock().unwrap().commands)
    }

    #[test]
    fn bring_up_reads_the_preferred_mode() {
        let (gpu, model, _) = setup();
        assert_eq!(
            gpu.preferred_mode(),
            DisplayMode {
                width: 1024,
                height: 768,
                format: PixelFormat::Xrgb8888
            }
        );
        assert_eq!(gpu.mode(), None);
        assert_eq!(take_commands(&model), [CMD_GET_DISPLAY_INFO]);
    }

    #[test]
    fn set_mode_probes_the_device_and_refuses_what_it_refuses() {
        let (mut gpu, model, _) = setup();
        take_commands(&model);
        // Under 16 pixels: refused before asking (QEMU's SET_SCANOUT would refuse it).
        let r = gpu.set_mode(DisplayMode { width: 8, ..MODE });
        assert_eq!(
            r,
            Err(EngineError::ModeRefused {
                width: 8,
                height: 16
            })
        );
        assert!(take_commands(&model).is_empty());
        // A format virtio-gpu 2D has no code for: refused before asking.
        for format in [PixelFormat::Rgb565, PixelFormat::Yuyv] {
            assert!(matches!(
                gpu.set_mode(DisplayMode { format, ..MODE }),
                Err(EngineError::Unsupported(_))
            ));
        }
        assert!(take_commands(&model).is_empty());
        // Past max_hostmem: the device answers ERR_OUT_OF_MEMORY.
        let big = DisplayMode {
            width: 16384,
            height: 16384,
            format: PixelFormat::Xrgb8888,
        };
        assert_eq!(
            gpu.set_mode(big),
            Err(EngineError::ModeRefused {
                width: 16384,
                height: 16384
            })
        );
        assert_eq!(take_commands(&model), [CMD_RESOURCE_CREATE_2D]);
        assert_eq!(gpu.mode(), None);
        gpu.set_mode(MODE).unwrap();
        assert_eq!(
            take_commands(&model),
            [CMD_RESOURCE_CREATE_2D, CMD_RESOURCE_UNREF]
        );
        assert!(
            model.lock().unwrap().resources.is_empty(),
            "probe resource left"
        );
        assert_eq!(gpu.mode(), Some(MODE));
        assert!(gpu.set_mode(big).is_err());
        assert_eq!(
            gpu.mode(),
            Some(MODE),
            "a refused mode replaced the current one"
        );
    }

    #[test]
    fn flips_create_once_transfer_scan_out_and_release_in_order() {
        let (mut gpu, model, domain) = setup();
        gpu.set_mode(MODE).unwrap();
        let a = buffer(&domain, "A", 0x00ff_0000);
        let b = buffer(&domain, "B", 0x0000_ff00);
        take_commands(&model);

        let in_a = FenceProducer::one_off();
        let fa = flip(&gpu, &domain, &a, Some(&in_a.fence())).unwrap();
        assert_eq!(gpu.service(), 0, "presented before the in-fence");
        assert!(take_commands(&model).is_empty());
        in_a.signal();
        assert_eq!(gpu.service(), 1);
        assert_eq!(
            take_commands(&model),
            [
                CMD_RESOURCE_CREATE_2D,
                CMD_RESOURCE_ATTACH_BACKING,
                CMD_TRANSFER_TO_HOST_2D,
                CMD_SET_SCANOUT,
                CMD_RESOURCE_FLUSH
            ]
        );
        let res_a = model.lock().unwrap().scanout;
        assert_eq!(
            model.lock().unwrap().resources[&res_a].backing,
            Some((a.region().bus().0, 1024))
        );
        assert_eq!(fa.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Pending);

        let fb = flip(&gpu, &domain, &b, None).unwrap();
        assert_eq!(gpu.service(), 1);
        let res_b = model.lock().unwrap().scanout;
        assert_ne!(res_a, res_b);
        assert_eq!(fb.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Ok);
        assert_eq!(fb.released.status(), FenceStatus::Pending);
        take_commands(&model);

        // A again: its resource is reused, the transfer picks up its (new) contents.
        let fa2 = flip(&gpu, &domain, &a, None).unwrap();
        assert_eq!(gpu.service(), 1);
        assert_eq!(
            take_commands(&model),
            [CMD_TRANSFER_TO_HOST_2D, CMD_SET_SCANOUT, CMD_RESOURCE_FLUSH]
        );
        assert_eq!(model.lock().unwrap().scanout, res_a);
        assert_eq!(fb.released.status(), FenceStatus::Ok);
        assert_eq!(fa2.released.status(), FenceStatus::Pending);
        let transfers = model.lock().unwrap().transfers.clone();
        assert_eq!(
            transfers,
            [
                (res_a, 0x00ff_0000),
                (res_b, 0x0000_ff00),
                (res_a, 0x00ff_0000)
            ]
        );
    }

    #[test]
    fn an_error_response_fails_the_flip_and_keeps_the_previous_frame() {
        let (mut gpu, model, domain) = setup();
        gpu.set_mode(MODE).unwrap();
        let a = buffer(&domain, "A", 1);
        let b = buffer(&domain, "B", 2);
        let fa = flip(&gpu, &domain, &a, None).unwrap();
        assert_eq!(gpu.service(), 1);
        let res_a = model.lock().unwrap().scanout;

        for cmd in [CMD_SET_SCANOUT, CMD_RESOURCE_FLUSH, CMD_TRANSFER_TO_HOST_2D] {
            model.lock().unwrap().fail_next = Some((cmd, RESP_ERR_INVALID_PARAMETER));
            let fb = flip(&gpu, &domain, &b, None).unwrap();
            assert_eq!(gpu.service(), 0);
            let err = FenceStatus::Err(FenceError::DeviceError(RESP_ERR_INVALID_PARAMETER));
            assert_eq!(fb.presented.status(), err, "failing {cmd:#x}");
            assert_eq!(fb.released.status(), err);
            assert_eq!(
                model.lock().unwrap().scanout,
                res_a,
                "scanout left A when {cmd:#x} failed"
            );
            assert_eq!(fa.released.status(), FenceStatus::Pending);
        }

        // Backing the device cannot map: ERR_UNSPEC at ATTACH_BACKING, the resource goes.
        model.lock().unwrap().unmappable_from = 0;
        let c = buffer(&domain, "C", 3);
        let fc = flip(&gpu, &domain, &c, None).unwrap();
        assert_eq!(gpu.service(), 0);
        assert_eq!(
            fc.presented.status(),
            FenceStatus::Err(FenceError::DeviceError(RESP_ERR_UNSPEC))
        );
        assert_eq!(model.lock().unwrap().scanout, res_a);
        assert_eq!(model.lock().unwrap().resources.len(), 2, "A and B only");
    }

    #[test]
    fn resources_are_bounded_and_the_one_on_screen_is_never_evicted() {
        let (mut gpu, model, domain) = setup();
        gpu.set_mode(MODE).unwrap();
        let bufs: Vec<_> = (0..7).map(|i| buffer(&domain, "fb", i)).collect();
        for b in &bufs {
            flip(&gpu, &domain, b, None).unwrap();
            assert_eq!(gpu.service(), 1);
            let m = model.lock().unwrap();
            assert!(
                m.resources.len() <= MAX_RESOURCES,
                "{} resources",
                m.resources.len()
            );
            assert!(m.resources.contains_key(&m.scanout));
            assert_eq!(
                m.resources[&m.scanout].backing.unwrap().0,
                b.region().bus().0
            );
        }
    }

    #[test]
    fn bad_framebuffers_are_refused_and_nothing_reaches_the_device() {
        let (mut gpu, model, domain) = setup();
        let a = buffer(&domain, "A", 1);
        assert_eq!(
            flip(&gpu, &domain, &a, None).unwrap_err(),
            EngineError::NoMode
        );
        gpu.set_mode(MODE).unwrap();
        take_commands(&model);
        let mut set = domain.set();
        set.add(&a, Access::CPU_READ).unwrap();
        let r = gpu.flip(set.lock().unwrap(), Surface::new(&a, FULL), None);
        let r = r.unwrap_err();
        assert_eq!(
            r.error,
            EngineError::NotLockedFor {
                buffer: "A",
                wanted: "read"
            }
        );
        r.returned.unlock().unwrap();
        let mut set = domain.set();
        set.add(&a, Access::dma_read(DEV)).unwrap();
        let padded = SurfaceDesc {
            stride: 128,
            ..SurfaceDesc::packed(16, 8, PixelFormat::Xrgb8888)
        };
        let r = gpu.flip(set.lock().unwrap(), Surface::new(&a, padded), None);
        let r = r.unwrap_err();
        assert!(
            matches!(
                r.error,
                EngineError::FramebufferTooSmall {
                    buffer: "A",
                    // 16 rows at the surface's 128-byte stride.
                    need: 1984,
                    ..
                }
            ),
            "{:?}",
            r.error
        );
        r.returned.unlock().unwrap();
        assert_eq!(gpu.pending_flips(), 0);
        assert_eq!(gpu.service(), 0);
        assert!(take_commands(&model).is_empty());
    }
}
