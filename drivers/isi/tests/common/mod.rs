//! Shared set-up: the simulator, a sync domain over it, the ISI register model and the
//! driver on it, CPU access helpers, and the expected pixels of a Convert computed here
//! from the arithmetic `dmasync_engine::gfx2d` documents (not from `dmasync_soft::render`,
//! not from the model). `pixman_oracle.rs` checks the driver on the model against pixman.
#![allow(dead_code)]

use dmasync_engine::{Flip, PixelFormat, Rect, SurfaceDesc};
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_isi::{Isi, IsiConfig};
use dmasync_isi_model::IsiModel;
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

pub type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
pub type Driver<'m, 's> = Isi<&'m IsiModel<'s>>;

pub const ISI: DeviceId = DeviceId(0);
pub const OTHER: DeviceId = DeviceId(1);

pub fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4 << 20,
        eviction: Eviction::Random { seed: 5 },
        lines_per_cpu: 32,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("isi", Coherency::NonCoherent), ISI);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

pub fn domain(sim: &NonCoherentSim) -> Domain<'_> {
    SyncDomain::new(sim, SyncConfig::default())
}

pub fn config() -> IsiConfig {
    IsiConfig {
        device: ISI,
        queue_depth: 4,
        max_ops: 8,
        watchdog_ticks: 2,
    }
}

pub fn driver<'m, 's>(m: &'m IsiModel<'s>) -> Driver<'m, 's> {
    Isi::new(m, config()).unwrap()
}

/// Lets the channel run and delivers its interrupts until it is idle or stops completing;
/// returns how many interrupts it delivered.
pub fn drive(m: &IsiModel<'_>, g: &Driver<'_, '_>) -> usize {
    for n in 0..1000 {
        if !m.busy() || !m.run() {
            return n;
        }
        g.on_interrupt();
    }
    panic!("the channel kept running");
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

/// Deterministic bytes.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A surface: `w` x `h` of `format`, `pad` bytes after each row, at `offset`.
pub fn desc(format: PixelFormat, w: u32, h: u32, pad: usize, offset: usize) -> SurfaceDesc {
    SurfaceDesc {
        offset,
        width: w,
        height: h,
        stride: w as usize * format.bytes_per_pixel() + pad,
        format,
    }
}

/// Bytes a surface needs in its buffer, rounded up to whole cache lines.
pub fn len_for(d: &SurfaceDesc) -> usize {
    (d.offset + d.span_bytes().unwrap()).next_multiple_of(64)
}

/// The documented arithmetic (gfx2d module docs), written out here: the 0xAARRGGBB of
/// source pixel (x, y).
fn source_pixel(buf: &[u8], d: &SurfaceDesc, x: u32, y: u32) -> u32 {
    let row = d.offset + y as usize * d.stride;
    match d.format {
        PixelFormat::Xrgb8888 | PixelFormat::Argb8888 => {
            let o = row + x as usize * 4;
            let p = u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
            if d.format == PixelFormat::Xrgb8888 {
                p | 0xFF00_0000
            } else {
                p
            }
        }
        PixelFormat::Rgb565 => {
            let o = row + x as usize * 2;
            let v = u16::from_le_bytes([buf[o], buf[o + 1]]) as u32;
            let (r, g, b) = (v >> 11, (v >> 5) & 0x3F, v & 0x1F);
            0xFF00_0000
                | ((r << 3) | (r >> 2)) << 16
                | ((g << 2) | (g >> 4)) << 8
                | (b << 3)
                | (b >> 2)
        }
        PixelFormat::Yuyv => {
            let pair = row + (x as usize / 2) * 4;
            let y8 = buf[pair + 2 * (x as usize % 2)] as i32;
            let (u, v) = (buf[pair + 1] as i32 - 128, buf[pair + 3] as i32 - 128);
            let c = y8 - 16;
            let cl = |s: i32| ((s + 128) >> 8).clamp(0, 255) as u32;
            let (r, g, b) = (
                cl(298 * c + 408 * v),
                cl(298 * c - 100 * u - 208 * v),
                cl(298 * c + 516 * u),
            );
            0xFF00_0000 | r << 16 | g << 8 | b
        }
    }
}

/// What a Convert leaves in the destination buffer `dst` (a copy of its bytes before),
/// computed from the documented formula.
pub fn expected_convert(
    dst: &mut [u8],
    dd: &SurfaceDesc,
    to: Rect,
    src: &[u8],
    sd: &SurfaceDesc,
    from: Rect,
    flip: Flip,
) {
    if from.w == 0 || from.h == 0 || to.w == 0 || to.h == 0 {
        return;
    }
    let f = |a: u32, b: u32| (a as u64 * 4096).div_ceil(b as u64);
    let (fx, fy) = (f(from.w, to.w), f(from.h, to.h));
    for j in 0..to.h {
        let jj = if flip.v { to.h - 1 - j } else { j };
        let sy = from.y + (((jj as u64 * fy) >> 12) as u32).min(from.h - 1);
        for i in 0..to.w {
            let ii = if flip.h { to.w - 1 - i } else { i };
            let sx = from.x + (((ii as u64 * fx) >> 12) as u32).min(from.w - 1);
            let p = source_pixel(src, sd, sx, sy);
            let o = dd.offset + (to.y + j) as usize * dd.stride;
            match dd.format {
                PixelFormat::Argb8888 => {
                    let o = o + (to.x + i) as usize * 4;
                    dst[o..o + 4].copy_from_slice(&p.to_le_bytes());
                }
                PixelFormat::Xrgb8888 => {
                    let o = o + (to.x + i) as usize * 4;
                    dst[o..o + 4].copy_from_slice(&(p | 0xFF00_0000).to_le_bytes());
                }
                PixelFormat::Rgb565 => {
                    let o = o + (to.x + i) as usize * 2;
                    let v = ((p >> 19) & 0x1F) << 11 | ((p >> 10) & 0x3F) << 5 | ((p >> 3) & 0x1F);
                    dst[o..o + 2].copy_from_slice(&(v as u16).to_le_bytes());
                }
                PixelFormat::Yuyv => panic!("no YUYV output"),
            }
        }
    }
}
