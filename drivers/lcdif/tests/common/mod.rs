//! Shared set-up: the simulator, a sync domain over it, the LCDIF register model and the
//! driver on it, CPU access helpers, and the expected screen computed here from the
//! documented pixel layout (XRGB8888: the little-endian word 0xXXRRGGBB), not from the
//! model.
#![allow(dead_code)]

use dmasync_engine::{
    DisplayFlip, DisplayMode, EngineError, FlipFences, PixelFormat, Surface, SurfaceDesc,
};
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_lcdif::{Lcdif, LcdifConfig, Timings};
use dmasync_lcdif_model::LcdifModel;
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_sync::fence::Fence;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

pub type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
pub type Driver<'m, 's> = Lcdif<&'m LcdifModel<'s>>;

pub const LCDIF: DeviceId = DeviceId(0);
pub const OTHER: DeviceId = DeviceId(1);

/// Linux's minimum size, so the frames stay small.
pub const MODE: DisplayMode = DisplayMode {
    width: 120,
    height: 120,
    format: PixelFormat::Xrgb8888,
};
pub const FULL: SurfaceDesc = SurfaceDesc::packed(120, 120, PixelFormat::Xrgb8888);

pub const TIMINGS: Timings = Timings {
    hfp: 16,
    hbp: 48,
    hsync: 32,
    vfp: 3,
    vbp: 6,
    vsync: 5,
    hsync_low: true,
    vsync_low: false,
    de_low: false,
    pixdata_negedge: true,
};

pub const WATCHDOG_TICKS: u32 = 2;

pub fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4 << 20,
        eviction: Eviction::Random { seed: 5 },
        lines_per_cpu: 32,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("lcdif", Coherency::NonCoherent), LCDIF);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

pub fn domain(sim: &NonCoherentSim) -> Domain<'_> {
    SyncDomain::new(sim, SyncConfig::default())
}

pub fn config() -> LcdifConfig {
    LcdifConfig {
        preferred: MODE,
        timings: TIMINGS,
        device: LCDIF,
        watchdog_ticks: WATCHDOG_TICKS,
    }
}

pub fn driver<'m, 's>(m: &'m LcdifModel<'s>) -> Driver<'m, 's> {
    Lcdif::new(m, config()).unwrap()
}

pub fn buffer(d: &Domain<'_>, sim: &NonCoherentSim, name: &'static str, len: usize) -> SyncBuffer {
    d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
        .unwrap()
}

pub fn cpu_write(d: &Domain<'_>, buf: &SyncBuffer, bytes: &[u8]) {
    let mut s = d.set();
    s.add(buf, Access::CPU_WRITE).unwrap();
    let l = s.lock().unwrap();
    l.cpu_write(buf)
        .unwrap()
        .with_mut(|b| b.copy_from_slice(bytes))
        .unwrap();
    l.unlock().unwrap();
}

/// A CPU writer gets `buf` (the display let it go; else this waits and fails).
pub fn cpu_takes(d: &Domain<'_>, buf: &SyncBuffer) {
    let mut s = d.set();
    s.add(buf, Access::CPU_WRITE).unwrap();
    s.lock().unwrap().unlock().unwrap();
}

pub fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 131 + seed * 71 + i / 7) as u8)
        .collect()
}

/// A buffer holding `pattern(seed)`, for `desc`.
pub fn frame(
    d: &Domain<'_>,
    sim: &NonCoherentSim,
    name: &'static str,
    desc: &SurfaceDesc,
    seed: usize,
) -> (SyncBuffer, Vec<u8>) {
    let len = desc.offset + desc.stride * desc.height as usize;
    let buf = buffer(d, sim, name, len);
    let bytes = pattern(buf.len(), seed);
    cpu_write(d, &buf, &bytes);
    (buf, bytes)
}

/// What the panel gets from `bytes` laid out as `desc` (XRGB8888): 0x00RRGGBB per pixel.
pub fn expected_screen(bytes: &[u8], desc: &SurfaceDesc) -> Vec<u32> {
    let mut out = Vec::new();
    for y in 0..desc.height as usize {
        for x in 0..desc.width as usize {
            let o = desc.offset + y * desc.stride + x * 4;
            let word = u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
            out.push(word & 0x00FF_FFFF);
        }
    }
    out
}

pub fn flip_with<D: DisplayFlip>(
    disp: &D,
    d: &Domain<'_>,
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

pub fn flip(disp: &Driver<'_, '_>, d: &Domain<'_>, buf: &SyncBuffer) -> FlipFences {
    flip_with(disp, d, buf, Access::dma_read(LCDIF), FULL, None).unwrap()
}

/// One frame period, then the interrupt if the line is raised; returns flips presented.
pub fn frame_period(m: &LcdifModel<'_>, disp: &Driver<'_, '_>) -> usize {
    if m.vblank() { disp.on_interrupt() } else { 0 }
}
