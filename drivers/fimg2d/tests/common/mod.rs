//! Shared set-up: the simulator, a sync domain over it, the FIMG2D register model and the
//! driver on it, CPU access helpers, and the expected pixels computed here from the
//! arithmetic `dmasync_engine::gfx2d` documents (not from `dmasync_soft::render`, not from
//! the model).
//! `pixman_oracle.rs` checks the driver on the model against the independent pixman oracle
//! (`models/pixman-oracle`) as well.
#![allow(dead_code)]

use dmasync_engine::{Color, PixelFormat, Point, Rect, SurfaceDesc};
use dmasync_fimg2d::{Fimg2d, Fimg2dConfig, Version};
use dmasync_fimg2d_model::Fimg2dModel;
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

pub type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
pub type Driver<'m, 's> = Fimg2d<&'m Fimg2dModel<'s>, &'s NonCoherentSim>;

pub const G2D: DeviceId = DeviceId(0);
pub const OTHER: DeviceId = DeviceId(1);
pub const BOTH: [Version; 2] = [Version::V30, Version::V41];

pub fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4 << 20,
        eviction: Eviction::Random { seed: 11 },
        lines_per_cpu: 32,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("fimg2d", Coherency::NonCoherent), G2D);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

pub fn domain(sim: &NonCoherentSim) -> Domain<'_> {
    SyncDomain::new(sim, SyncConfig::default())
}

pub fn model_version(v: Version) -> dmasync_fimg2d_model::Version {
    match v {
        Version::V30 => dmasync_fimg2d_model::Version::V30,
        Version::V41 => dmasync_fimg2d_model::Version::V41,
    }
}

pub fn model(sim: &NonCoherentSim, v: Version) -> Fimg2dModel<'_> {
    Fimg2dModel::new(sim, G2D, model_version(v))
}

pub fn config(v: Version) -> Fimg2dConfig {
    Fimg2dConfig {
        device: G2D,
        version: v,
        queue_depth: 4,
        max_ops: 8,
        watchdog_ticks: 2,
    }
}

pub fn driver<'m, 's>(m: &'m Fimg2dModel<'s>, sim: &'s NonCoherentSim) -> Driver<'m, 's> {
    let v = match m.version() {
        dmasync_fimg2d_model::Version::V30 => Version::V30,
        dmasync_fimg2d_model::Version::V41 => Version::V41,
    };
    Fimg2d::new(m, config(v), sim, sim).unwrap()
}

/// Lets the engine run and delivers its interrupts until it is idle or stops completing;
/// returns how many interrupts it delivered.
pub fn drive(m: &Fimg2dModel<'_>, g: &Driver<'_, '_>) -> usize {
    for n in 0..1000 {
        if !m.busy() || !m.run() {
            return n;
        }
        g.on_interrupt();
    }
    panic!("the engine kept running");
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

pub fn cpu_read(d: &Domain<'_>, buf: &SyncBuffer) -> Vec<u8> {
    let mut s = d.set();
    s.add(buf, Access::CPU_READ).unwrap();
    let l = s.lock().unwrap();
    let v = l.cpu_read(buf).unwrap().with(|b| b.to_vec()).unwrap();
    l.unlock().unwrap();
    v
}

/// A 64-bit LCG (Knuth's MMIX constants): deterministic, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    pub fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
    pub fn rect_in(&mut self, w: u32, h: u32) -> Rect {
        let rw = 1 + self.below(w);
        let rh = 1 + self.below(h);
        Rect::new(self.below(w - rw + 1), self.below(h - rh + 1), rw, rh)
    }
    pub fn desc(&mut self, format: PixelFormat) -> SurfaceDesc {
        let width = 1 + self.below(24);
        SurfaceDesc {
            offset: 4 * self.below(8) as usize,
            width,
            height: 1 + self.below(16),
            stride: (width + self.below(4)) as usize * 4,
            format,
        }
    }
}

/// Bytes a buffer needs for surface `d` (its offset included).
pub fn len(d: &SurfaceDesc) -> usize {
    d.offset + d.span_bytes().unwrap()
}

pub fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 131 + seed * 71 + i / 7) as u8)
        .collect()
}

fn px(buf: &[u8], d: &SurfaceDesc, x: u32, y: u32) -> [u8; 4] {
    let o = d.pixel_offset(x, y);
    buf[o..o + 4].try_into().unwrap()
}

fn put(buf: &mut [u8], d: &SurfaceDesc, x: u32, y: u32, v: [u8; 4]) {
    let o = d.pixel_offset(x, y);
    buf[o..o + 4].copy_from_slice(&v);
}

/// `div255(v) = (v + 127) / 255` (engine/src/gfx2d.rs).
fn div255(v: u32) -> u32 {
    (v + 127) / 255
}

pub fn expect_fill(buf: &mut [u8], d: &SurfaceDesc, r: Rect, c: Color) {
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            put(buf, d, x, y, c.0.to_le_bytes());
        }
    }
}

pub fn expect_copy(
    dst: &mut [u8],
    dd: &SurfaceDesc,
    to: Point,
    src: &[u8],
    sd: &SurfaceDesc,
    from: Rect,
) {
    for y in 0..from.h {
        for x in 0..from.w {
            let v = px(src, sd, from.x + x, from.y + y);
            put(dst, dd, to.x + x, to.y + y, v);
        }
    }
}

/// Straight-alpha source-over scaled by `alpha`, as gfx2d.rs documents it.
pub fn expect_blend(
    dst: &mut [u8],
    dd: &SurfaceDesc,
    to: Point,
    src: &[u8],
    sd: &SurfaceDesc,
    from: Rect,
    alpha: u8,
) {
    for y in 0..from.h {
        for x in 0..from.w {
            let s = px(src, sd, from.x + x, from.y + y);
            let mut d = px(dst, dd, to.x + x, to.y + y);
            let sa = if sd.format == PixelFormat::Xrgb8888 {
                255
            } else {
                s[3] as u32
            };
            let a = div255(sa * alpha as u32);
            for c in 0..3 {
                d[c] = div255(s[c] as u32 * a + d[c] as u32 * (255 - a)) as u8;
            }
            d[3] = (a + div255(d[3] as u32 * (255 - a))) as u8;
            put(dst, dd, to.x + x, to.y + y, d);
        }
    }
}

/// `got == want`, except the X byte of pixels of an XRGB8888 surface `d` (ignored by the
/// format; what the engine writes there is not documented).
pub fn assert_pixels(got: &[u8], want: &[u8], d: &SurfaceDesc, what: &str) {
    assert_eq!(got.len(), want.len());
    for i in 0..got.len() {
        if d.format == PixelFormat::Xrgb8888 && i >= d.offset {
            let rel = i - d.offset;
            let (row, col) = (rel / d.stride, rel % d.stride);
            if (row as u32) < d.height && col < d.width as usize * 4 && col % 4 == 3 {
                continue;
            }
        }
        assert_eq!(
            got[i],
            want[i],
            "{what}: byte {i} (offset from surface {})",
            i as isize - d.offset as isize
        );
    }
}
