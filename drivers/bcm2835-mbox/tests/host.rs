//! Host tests of the message encoding and decoding and of every refusal path, against a
//! register block that answers like the documented firmware (the Raspberry Pi firmware
//! wiki's property interface, with QEMU's bcm2835_fb.c limits: sizes clamped to 3840 x 2560,
//! the virtual offset clipped, pitch = width · 4). It stands in for the firmware only for
//! these paths; the driver's validation is the raspi3b `display` and `demo_screenshot` tests
//! through QEMU's model.

use std::boxed::Box;
use std::sync::{Arc, Mutex};
use std::vec;
use std::vec::Vec;

use dmasync_bcm2835_mbox::fb::{self, FbError, MboxFb};
use dmasync_bcm2835_mbox::{
    MAIL0_READ, MAIL0_STATUS, MAIL1_STATUS, MAIL1_WRITE, Mailbox, MboxError, Message, STATUS_EMPTY,
    STATUS_FULL, tag,
};
use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, PixelFormat,
    Surface, SurfaceDesc,
};
use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{
    BusAddr, Coherency, DeviceId, DirectMemory, DmaError, DmaMemory, DmaRegion,
};
use dmasync_hal::mmio::RegisterIo;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

const LINE: usize = 64;
const MBOX: DeviceId = DeviceId(0x8B);
const SCANOUT: DeviceId = DeviceId(0xFB);
/// The bus address the fake gives the message buffer (32-bit, as the mailbox needs).
const MSG_BUS: u64 = 0x0010_0000;
/// Where the fake firmware's framebuffer is (QEMU: vcram_base + 1 MiB), with the 0xC alias
/// the real firmware adds.
const FB_PHYS: u32 = 0x3C10_0000;
const MODE: DisplayMode = DisplayMode {
    width: 64,
    height: 16,
    format: PixelFormat::Xrgb8888,
};

type Domain = SyncDomain<DirectMemory<CoherentNoop>>;

/// Host memory handed out at a made-up 32-bit bus address, so the fake can find it.
struct LowBus {
    virt: Mutex<Option<usize>>,
}

// SAFETY: `alloc` hands out one leaked, line-aligned, zeroed host allocation per call, never
// again; the bus address is a label the fake firmware maps back to it (`Firmware::msg`).
unsafe impl DmaMemory for LowBus {
    fn line_size(&self) -> usize {
        LINE
    }
    fn alloc(&self, len: usize, coherency: Coherency) -> Result<DmaRegion, DmaError> {
        let len = len.next_multiple_of(LINE);
        let mem: &'static mut [u8] = Box::leak(vec![0u8; len + LINE].into_boxed_slice());
        let virt = (mem.as_mut_ptr() as usize).next_multiple_of(LINE);
        *self.virt.lock().unwrap() = Some(virt);
        // SAFETY: a leaked, line-aligned host allocation only this region uses.
        unsafe { DmaRegion::from_raw_parts(virt, BusAddr(MSG_BUS), len, coherency, LINE) }
    }
    unsafe fn free(&self, _: DmaRegion) {}
}

/// What the fake firmware does wrong, and what it saw.
#[derive(Default)]
struct Fw {
    /// Host address of the message buffer (bus `MSG_BUS`).
    msg: usize,
    replies: Vec<u32>,
    /// Every request word written, and each message's tag ids.
    requests: Vec<(u32, Vec<u32>)>,
    xres: u32,
    yres: u32,
    vxres: u32,
    vyres: u32,
    xoff: u32,
    yoff: u32,
    depth: u32,
    order: u32,
    // Misbehaviour.
    message_code: Option<u32>,
    unanswered: Option<u32>,
    base_zero: bool,
    pitch_override: Option<u32>,
    offset_stuck: bool,
    /// A firmware whose largest width is this (it clamps, as QEMU does at 3840).
    max_width: Option<u32>,
    full: bool,
    silent: bool,
}

#[derive(Clone)]
struct Firmware(Arc<Mutex<Fw>>);

impl Fw {
    fn word(&self, i: usize) -> u32 {
        // SAFETY: the message buffer is a live leaked allocation of at least the message's
        // size (`LowBus`), and the driver holds it locked for the device during the call.
        unsafe { ((self.msg + i * 4) as *const u32).read() }
    }
    fn set(&self, i: usize, v: u32) {
        // SAFETY: as in `word`.
        unsafe { ((self.msg + i * 4) as *mut u32).write(v) }
    }

    /// Processes the message as the firmware wiki says (QEMU's limits).
    fn process(&mut self) {
        let size = self.word(0) as usize / 4;
        let mut at = 2;
        let mut ids = Vec::new();
        while at < size {
            let id = self.word(at);
            if id == 0 {
                break;
            }
            ids.push(id);
            let bytes = self.word(at + 1) as usize;
            let v = at + 3;
            let args = [self.word(v), self.word(v + 1)];
            let arg = |k: usize| args[k];
            let resp: Option<Vec<u32>> = match id {
                tag::GET_FIRMWARE_REVISION => Some(vec![0x548e1]),
                tag::FRAMEBUFFER_GET_PHYSICAL_WIDTH_HEIGHT => Some(vec![640, 480]),
                tag::FRAMEBUFFER_SET_PHYSICAL_WIDTH_HEIGHT => {
                    self.xres = arg(0).min(self.max_width.unwrap_or(3840));
                    self.yres = arg(1).min(2560);
                    Some(vec![self.xres, self.yres])
                }
                tag::FRAMEBUFFER_SET_VIRTUAL_WIDTH_HEIGHT => {
                    self.vxres = arg(0).min(3840);
                    self.vyres = arg(1).min(2560);
                    Some(vec![self.vxres, self.vyres])
                }
                tag::FRAMEBUFFER_SET_VIRTUAL_OFFSET => {
                    if !self.offset_stuck {
                        self.xoff = arg(0).min(self.vxres.saturating_sub(self.xres));
                        self.yoff = arg(1).min(self.vyres.saturating_sub(self.yres));
                    }
                    Some(vec![self.xoff, self.yoff])
                }
                tag::FRAMEBUFFER_GET_VIRTUAL_OFFSET => Some(vec![self.xoff, self.yoff]),
                tag::FRAMEBUFFER_SET_DEPTH => {
                    self.depth = arg(0);
                    Some(vec![self.depth])
                }
                tag::FRAMEBUFFER_SET_PIXEL_ORDER => {
                    self.order = arg(0);
                    Some(vec![self.order])
                }
                tag::FRAMEBUFFER_ALLOCATE => {
                    let size = self.vxres.max(self.xres) * 4 * self.vyres;
                    let base = if self.base_zero {
                        0
                    } else {
                        0xC000_0000 | FB_PHYS
                    };
                    Some(vec![base, size])
                }
                tag::FRAMEBUFFER_GET_PITCH => Some(vec![
                    self.pitch_override.unwrap_or(self.vxres.max(self.xres) * 4),
                ]),
                _ => None,
            };
            if let Some(r) = resp
                && self.unanswered != Some(id)
            {
                for (k, w) in r.iter().enumerate() {
                    self.set(v + k, *w);
                }
                self.set(at + 2, 0x8000_0000 | (r.len() * 4) as u32);
            }
            at = v + bytes / 4;
        }
        self.set(1, self.message_code.unwrap_or(0x8000_0000));
        let word = (MSG_BUS as u32) | 8;
        self.requests.push((word, ids));
    }
}

impl RegisterIo for Firmware {
    fn read32(&self, offset: usize) -> u32 {
        let mut s = self.0.lock().unwrap();
        match offset {
            MAIL1_STATUS => {
                if s.full {
                    STATUS_FULL
                } else {
                    0
                }
            }
            MAIL0_STATUS => {
                if s.replies.is_empty() {
                    STATUS_EMPTY
                } else {
                    0
                }
            }
            MAIL0_READ => s.replies.remove(0),
            _ => panic!("read of {offset:#x}"),
        }
    }
    fn write32(&self, offset: usize, value: u32) {
        assert_eq!(offset, MAIL1_WRITE, "write of another register");
        let mut s = self.0.lock().unwrap();
        assert_eq!(
            u64::from(value & !0xF),
            MSG_BUS,
            "not the message buffer's bus address"
        );
        assert_eq!(value & 0xF, 8, "not the property channel");
        s.process();
        if !s.silent {
            // A reply on another channel first: the driver must skip it.
            s.replies.push(0x1);
            s.replies.push(value);
        }
    }
}

fn domain() -> &'static Domain {
    Box::leak(Box::new(Domain::new(
        DirectMemory(CoherentNoop { line_size: LINE }),
        SyncConfig::default(),
    )))
}

fn mailbox(
    d: &'static Domain,
) -> (
    Mailbox<'static, Firmware, DirectMemory<CoherentNoop>>,
    Firmware,
) {
    let fw = Firmware(Arc::new(Mutex::new(Fw::default())));
    let mem = LowBus {
        virt: Mutex::new(None),
    };
    let m = Mailbox::new(fw.clone(), d, &mem, MBOX).unwrap();
    fw.0.lock().unwrap().msg = mem.virt.lock().unwrap().unwrap();
    (m, fw)
}

type Display = MboxFb<'static, Firmware, DirectMemory<CoherentNoop>>;

fn display(buffers: usize) -> (Display, Firmware, &'static Domain) {
    let d = domain();
    let (m, fw) = mailbox(d);
    (MboxFb::new(m, buffers, SCANOUT).unwrap(), fw, d)
}

/// The framebuffer's buffers as the board registers them (bus = the firmware's addresses;
/// host memory behind them the fake never touches).
fn buffers(d: &Domain, f: &fb::Framebuffer) -> Vec<SyncBuffer> {
    (0..f.buffers)
        .map(|i| {
            let len = f.buffer_bytes();
            let mem: &'static mut [u8] = Box::leak(vec![0u8; len + LINE].into_boxed_slice());
            let virt = (mem.as_mut_ptr() as usize).next_multiple_of(LINE);
            // SAFETY: a leaked, line-aligned host allocation only this region uses; the fake
            // firmware never reaches memory through the framebuffer's bus addresses.
            let region = unsafe {
                DmaRegion::from_raw_parts(
                    virt,
                    BusAddr(f.buffer_base(i)),
                    len,
                    Coherency::NonCoherent,
                    LINE,
                )
            }
            .unwrap();
            d.buffer(["fb0", "fb1", "fb2"][i], region).unwrap()
        })
        .collect()
}

fn flip(
    disp: &Display,
    d: &Domain,
    buf: &SyncBuffer,
    access: Access,
    desc: SurfaceDesc,
    in_fence: Option<&Fence>,
) -> Result<FlipFences, EngineError> {
    let mut set = d.set();
    set.add(buf, access).unwrap();
    let locked = set.lock().unwrap();
    disp.flip(locked, Surface::new(buf, desc), in_fence)
        .map_err(|r| {
            r.returned.unlock().unwrap();
            r.error
        })
}

const FULL: SurfaceDesc = SurfaceDesc::packed(64, 16, PixelFormat::Xrgb8888);

#[test]
fn message_encoding_follows_the_property_interface() {
    let mut m = Message::new();
    let a = m.tag(0x48003, &[640, 480], 2).unwrap();
    let b = m.tag(0x40008, &[], 1).unwrap();
    let words = m.encode().to_vec();
    assert_eq!(
        words,
        [
            12 * 4, // size in bytes, the end tag included
            0,      // a request
            0x48003,
            8,
            0,
            640,
            480, // id, value buffer bytes, request code, values
            0x40008,
            4,
            0,
            0, // room for the response
            0, // the end tag
        ]
    );
    assert_eq!(words.len(), 12);
    assert_eq!(words[11], 0);
    assert_eq!(m.value(a), [640, 480]);
    // A reply: code success, tags answered.
    let mut reply = words.clone();
    reply[1] = 0x8000_0000;
    reply[4] = 0x8000_0008;
    reply[9] = 0x8000_0004;
    reply[10] = 2560;
    m.decode(&reply).unwrap();
    assert_eq!(m.value(b), [2560]);
    // Refusals of the reply.
    let mut bad = reply.clone();
    bad[1] = 0x8000_0001;
    assert_eq!(
        m.decode(&bad),
        Err(MboxError::Refused { code: 0x8000_0001 })
    );
    let mut bad = reply.clone();
    bad[9] = 4;
    assert_eq!(
        m.decode(&bad),
        Err(MboxError::TagNotAnswered { tag: 0x40008 })
    );
    let mut bad = reply.clone();
    bad[9] = 0x8000_0008;
    assert_eq!(
        m.decode(&bad),
        Err(MboxError::TagTruncated {
            tag: 0x40008,
            len: 8
        })
    );
}

#[test]
fn messages_that_do_not_fit_are_refused() {
    let mut m = Message::new();
    assert_eq!(m.tag(1, &[0; 60], 0), Err(MboxError::MessageTooLong));
    for _ in 0..dmasync_bcm2835_mbox::MAX_TAGS {
        m.tag(1, &[], 1).unwrap();
    }
    assert_eq!(m.tag(1, &[], 1), Err(MboxError::MessageTooLong));
}

#[test]
fn a_call_goes_through_the_buffer_and_skips_other_channels() {
    let d = domain();
    let (mut m, fw) = mailbox(d);
    assert_eq!(m.firmware_revision().unwrap(), 0x548e1);
    let s = fw.0.lock().unwrap();
    assert_eq!(
        s.requests,
        [((MSG_BUS as u32) | 8, vec![tag::GET_FIRMWARE_REVISION])]
    );
    assert!(s.replies.is_empty(), "a reply left unread");
}

#[test]
fn a_mailbox_that_never_drains_or_answers_is_an_error() {
    let d = domain();
    let (mut m, fw) = mailbox(d);
    fw.0.lock().unwrap().full = true;
    assert_eq!(m.firmware_revision(), Err(MboxError::WriteFull));
    assert!(fw.0.lock().unwrap().requests.is_empty());
    fw.0.lock().unwrap().full = false;
    fw.0.lock().unwrap().silent = true;
    assert_eq!(m.firmware_revision(), Err(MboxError::NoReply));
    fw.0.lock().unwrap().silent = false;
    fw.0.lock().unwrap().message_code = Some(0x8000_0001);
    assert_eq!(
        m.firmware_revision(),
        Err(MboxError::Refused { code: 0x8000_0001 })
    );
}

#[test]
fn the_mode_set_is_one_message_and_gives_the_framebuffer() {
    let (mut disp, fw, _) = display(3);
    assert_eq!(
        disp.preferred_mode(),
        DisplayMode {
            width: 640,
            height: 480,
            format: PixelFormat::Xrgb8888
        }
    );
    let f = disp.allocate(MODE).unwrap();
    assert_eq!(
        f,
        fb::Framebuffer {
            mode: MODE,
            buffers: 3,
            base: u64::from(FB_PHYS),
            pitch: 256,
            size: 256 * 48,
        }
    );
    assert_eq!(f.buffer_base(2), u64::from(FB_PHYS) + 2 * 256 * 16);
    assert_eq!(f.buffer_at(u64::from(FB_PHYS) + 256 * 16), Some(1));
    assert_eq!(f.buffer_at(u64::from(FB_PHYS) + 3 * 256 * 16), None);
    assert_eq!(f.buffer_at(u64::from(FB_PHYS) + 64), None);
    let s = fw.0.lock().unwrap();
    assert_eq!(
        s.requests.last().unwrap().1,
        [
            tag::FRAMEBUFFER_SET_PHYSICAL_WIDTH_HEIGHT,
            tag::FRAMEBUFFER_SET_VIRTUAL_WIDTH_HEIGHT,
            tag::FRAMEBUFFER_SET_VIRTUAL_OFFSET,
            tag::FRAMEBUFFER_SET_DEPTH,
            tag::FRAMEBUFFER_SET_PIXEL_ORDER,
            tag::FRAMEBUFFER_ALLOCATE,
            tag::FRAMEBUFFER_GET_PITCH,
        ]
    );
    assert_eq!((s.vxres, s.vyres, s.depth, s.order), (64, 48, 32, 0));
    drop(s);
    assert_eq!(disp.mode(), Some(MODE));
    // The same mode again is a no-op; another is refused without a message.
    let n = fw.0.lock().unwrap().requests.len();
    disp.set_mode(MODE).unwrap();
    assert_eq!(
        disp.allocate(DisplayMode { width: 32, ..MODE }),
        Err(FbError::AlreadyAllocated)
    );
    assert_eq!(
        disp.set_mode(DisplayMode { width: 32, ..MODE }),
        Err(EngineError::ModeRefused {
            width: 32,
            height: 16
        })
    );
    assert_eq!(fw.0.lock().unwrap().requests.len(), n);
    assert_eq!(disp.mode(), Some(MODE));
}

/// A refusal case: its name, how the fake misbehaves, the error the driver must give.
type Case = (&'static str, fn(&mut Fw), FbError);

#[test]
fn what_the_firmware_refuses_or_changes_is_a_clear_error() {
    let cases: [Case; 7] = [
        (
            "unanswered allocate",
            |s| s.unanswered = Some(tag::FRAMEBUFFER_ALLOCATE),
            FbError::Mailbox(MboxError::TagNotAnswered {
                tag: tag::FRAMEBUFFER_ALLOCATE,
            }),
        ),
        (
            "message refused",
            |s| s.message_code = Some(0x8000_0001),
            FbError::Mailbox(MboxError::Refused { code: 0x8000_0001 }),
        ),
        ("base 0", |s| s.base_zero = true, FbError::NoBase),
        (
            "short pitch",
            |s| s.pitch_override = Some(128),
            FbError::PitchTooSmall {
                row: 256,
                pitch: 128,
            },
        ),
        (
            "a pitch the allocation does not hold",
            |s| s.pitch_override = Some(1024),
            FbError::TooSmall {
                need: 1024 * 16 * 2,
                have: 256 * 32,
            },
        ),
        (
            "a clamped width",
            |s| s.max_width = Some(32),
            FbError::Changed {
                what: "the physical size",
                asked: (64, 16),
                got: (32, 16),
            },
        ),
        (
            "an offset it kept",
            |s| {
                s.offset_stuck = true;
                s.yoff = 5;
            },
            FbError::Changed {
                what: "the virtual offset",
                asked: (0, 0),
                got: (0, 5),
            },
        ),
    ];
    for (what, break_it, want) in cases {
        let (mut disp, fw, _) = display(2);
        break_it(&mut fw.0.lock().unwrap());
        assert_eq!(disp.allocate(MODE), Err(want), "{what}");
        assert_eq!(disp.mode(), None, "{what}: a mode after a refusal");
        assert_eq!(disp.framebuffer(), None, "{what}");
        let e = disp.set_mode(MODE).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::ModeRefused {
                    width: 64,
                    height: 16
                } | EngineError::Device(_)
            ),
            "{what}: {e:?}"
        );
    }
}

#[test]
fn what_the_driver_refuses_never_reaches_the_firmware() {
    let (mut disp, fw, _) = display(3);
    let n = fw.0.lock().unwrap().requests.len();
    for (m, want) in [
        (
            DisplayMode {
                width: 4000,
                ..MODE
            },
            FbError::OutOfRange {
                width: 4000,
                height: 16,
            },
        ),
        (
            // 3 x 900 rows is over the virtual height's 2560.
            DisplayMode {
                height: 900,
                ..MODE
            },
            FbError::OutOfRange {
                width: 64,
                height: 900,
            },
        ),
        (
            DisplayMode { width: 0, ..MODE },
            FbError::OutOfRange {
                width: 0,
                height: 16,
            },
        ),
        (
            DisplayMode {
                format: PixelFormat::Rgb565,
                ..MODE
            },
            FbError::Unsupported(PixelFormat::Rgb565),
        ),
    ] {
        assert_eq!(disp.allocate(m), Err(want));
    }
    assert!(matches!(
        disp.set_mode(DisplayMode {
            format: PixelFormat::Yuyv,
            ..MODE
        }),
        Err(EngineError::Unsupported(_))
    ));
    assert_eq!(fw.0.lock().unwrap().requests.len(), n);
    let d = domain();
    assert_eq!(
        MboxFb::new(mailbox(d).0, 4, SCANOUT).unwrap_err(),
        FbError::BadBufferCount(4)
    );
    // The largest mode QEMU takes, two buffers high.
    let (mut disp, _, _) = display(2);
    let big = DisplayMode {
        width: 3840,
        height: 1280,
        format: PixelFormat::Xrgb8888,
    };
    assert_eq!(disp.allocate(big).unwrap().pitch, 3840 * 4);
}

#[test]
fn flips_wait_for_the_in_fence_set_the_offset_and_release_the_previous_buffer() {
    let (mut disp, fw, d) = display(3);
    let f = disp.allocate(MODE).unwrap();
    let bufs = buffers(d, &f);
    let in0 = FenceProducer::one_off();
    let f0 = flip(
        &disp,
        d,
        &bufs[1],
        Access::dma_read(SCANOUT),
        FULL,
        Some(&in0.fence()),
    )
    .unwrap();
    let f1 = flip(&disp, d, &bufs[2], Access::dma_read(SCANOUT), FULL, None).unwrap();
    let n = fw.0.lock().unwrap().requests.len();
    assert_eq!(disp.service(), 0, "presented before the in-fence");
    assert_eq!(fw.0.lock().unwrap().requests.len(), n);
    assert_eq!(f1.presented.status(), FenceStatus::Pending, "out of order");
    in0.signal();
    assert_eq!(disp.service(), 2);
    assert_eq!(f0.presented.status(), FenceStatus::Ok);
    assert_eq!(f0.released.status(), FenceStatus::Ok);
    assert_eq!(f1.presented.status(), FenceStatus::Ok);
    assert_eq!(f1.released.status(), FenceStatus::Pending);
    assert_eq!(disp.on_screen(), Some(2));
    assert_eq!(disp.virtual_offset().unwrap(), (0, 32));
    let s = fw.0.lock().unwrap();
    let flips: Vec<_> = s.requests[n..].iter().map(|r| r.1.clone()).collect();
    assert_eq!(
        flips[..2],
        [
            vec![tag::FRAMEBUFFER_SET_VIRTUAL_OFFSET],
            vec![tag::FRAMEBUFFER_SET_VIRTUAL_OFFSET]
        ]
    );
    drop(s);
    // Buffer 1 is free again for a CPU writer.
    let mut set = d.set();
    set.add(&bufs[1], Access::CPU_WRITE).unwrap();
    set.lock().unwrap().unlock().unwrap();
}

#[test]
fn a_failed_flip_keeps_the_previous_frame() {
    let (mut disp, fw, d) = display(2);
    let f = disp.allocate(MODE).unwrap();
    let bufs = buffers(d, &f);
    let f0 = flip(&disp, d, &bufs[0], Access::dma_read(SCANOUT), FULL, None).unwrap();
    assert_eq!(disp.service(), 1);
    fw.0.lock().unwrap().offset_stuck = true;
    let f1 = flip(&disp, d, &bufs[1], Access::dma_read(SCANOUT), FULL, None).unwrap();
    assert_eq!(disp.service(), 0);
    let e = FenceStatus::Err(FenceError::DeviceError(fb::DEVICE_ERROR_OFFSET));
    assert_eq!((f1.presented.status(), f1.released.status()), (e, e));
    assert_eq!(
        f0.released.status(),
        FenceStatus::Pending,
        "buffer 0 left the screen"
    );
    assert_eq!(disp.on_screen(), Some(0));
    fw.0.lock().unwrap().offset_stuck = false;
    fw.0.lock().unwrap().silent = true;
    let f2 = flip(&disp, d, &bufs[1], Access::dma_read(SCANOUT), FULL, None).unwrap();
    assert_eq!(disp.service(), 0);
    let e = FenceStatus::Err(FenceError::DeviceError(fb::DEVICE_ERROR_CALL));
    assert_eq!(f2.presented.status(), e);
    assert_eq!(f0.released.status(), FenceStatus::Pending);
    // A failed in-fence cancels its flip with the in-fence's error, unshown.
    fw.0.lock().unwrap().silent = false;
    let n = fw.0.lock().unwrap().requests.len();
    let bad = Fence::signalled(Err(FenceError::Timeout));
    let f3 = flip(
        &disp,
        d,
        &bufs[1],
        Access::dma_read(SCANOUT),
        FULL,
        Some(&bad),
    )
    .unwrap();
    assert_eq!(disp.service(), 0);
    assert_eq!(f3.presented.status(), FenceStatus::Err(FenceError::Timeout));
    assert_eq!(fw.0.lock().unwrap().requests.len(), n);
    assert_eq!(disp.on_screen(), Some(0));
}

#[test]
fn flips_of_anything_but_a_whole_locked_buffer_are_refused() {
    let (mut disp, fw, d) = display(2);
    let early = {
        let mem = LowBus {
            virt: Mutex::new(None),
        };
        let region = mem
            .alloc(MODE.framebuffer_bytes(), Coherency::NonCoherent)
            .unwrap();
        d.buffer("elsewhere", region).unwrap()
    };
    assert_eq!(
        flip(&disp, d, &early, Access::dma_read(SCANOUT), FULL, None).unwrap_err(),
        EngineError::NoMode
    );
    let f = disp.allocate(MODE).unwrap();
    let bufs = buffers(d, &f);
    let n = fw.0.lock().unwrap().requests.len();
    let e = flip(&disp, d, &early, Access::dma_read(SCANOUT), FULL, None).unwrap_err();
    assert!(
        matches!(e, EngineError::BadSurface { buffer: "elsewhere", why } if why.contains("not one of")),
        "{e:?}"
    );
    let half = SurfaceDesc::packed(32, 16, PixelFormat::Xrgb8888);
    let e = flip(&disp, d, &bufs[0], Access::dma_read(SCANOUT), half, None).unwrap_err();
    assert!(
        matches!(e, EngineError::FramebufferTooSmall { buffer: "fb0", .. }),
        "{e:?}"
    );
    let e = flip(&disp, d, &bufs[0], Access::CPU_READ, FULL, None).unwrap_err();
    assert!(
        matches!(e, EngineError::NotLockedFor { buffer: "fb0", .. }),
        "{e:?}"
    );
    let e = flip(&disp, d, &bufs[0], Access::dma_read(MBOX), FULL, None).unwrap_err();
    assert!(
        matches!(e, EngineError::NotLockedFor { buffer: "fb0", .. }),
        "{e:?}"
    );
    let argb = SurfaceDesc::packed(64, 16, PixelFormat::Argb8888);
    let e = flip(&disp, d, &bufs[0], Access::dma_read(SCANOUT), argb, None).unwrap_err();
    assert!(
        matches!(e, EngineError::BadSurface { buffer: "fb0", .. }),
        "{e:?}"
    );
    assert_eq!(disp.pending_flips(), 0);
    assert_eq!(disp.service(), 0);
    assert_eq!(
        fw.0.lock().unwrap().requests.len(),
        n,
        "a refusal reached the firmware"
    );
}
