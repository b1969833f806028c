//! The 2D engine's surface validation: `dmasync_engine::surface::resolve` (which runs
//! `SurfaceDesc::check`) and `Rect::fits_in`, what `SoftEngine2d` checks every fill, copy and
//! blend with before it renders. Oracle: the rules restated from their documentation (the
//! buffer is registered in the locked set for this device with an access allowing the need;
//! non-zero size, a stride that holds a row, no overflow; the surface's bytes inside the
//! registered range; a rectangle inside the surface), result for result — a refusal names the
//! buffer and the offending field — plus the property that every row of an accepted
//! rectangle lies inside the registered range of the named buffer, accessed through the
//! simulator at the bus addresses the validated surface gives.
#![no_main]
#![forbid(unsafe_code)]

#[path = "common/validate.rs"]
mod common;

use arbitrary::Arbitrary;
use common::{FReg, Reg, device, with_locked};
use dmasync_engine::error::EngineError;
use dmasync_engine::surface::{BusSurface, Need, PixelFormat, Rect, Surface, SurfaceDesc, resolve};
use dmasync_hal::dma::BusAddr;
use libfuzzer_sys::fuzz_target;

/// Rows of an accepted rectangle checked byte by byte (the rest by their ends).
const ROWS: u32 = 64;

/// A number: small (sizes near the buffers'), at an edge (where off-by-one bugs live), near
/// the type's maximum, or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num<T> {
    Small(u8),
    /// `edges[k / 3 % 2]` moved by `k % 3 - 1`.
    Edge(u8),
    NearMax(u8),
    Any(T),
}

fn num_usize(n: Num<usize>, edges: [usize; 2]) -> usize {
    match n {
        Num::Small(v) => usize::from(v),
        Num::Edge(k) => (edges[usize::from(k / 3 % 2)] + usize::from(k % 3)).saturating_sub(1),
        Num::NearMax(v) => usize::MAX - usize::from(v),
        Num::Any(v) => v,
    }
}

fn num_u32(n: Num<u32>) -> u32 {
    match n {
        Num::Small(v) | Num::Edge(v) => u32::from(v % 40),
        Num::NearMax(v) => u32::MAX - u32::from(v),
        Num::Any(v) => v,
    }
}

#[derive(Arbitrary, Debug)]
struct Check {
    buf: u8,
    device: u8,
    need: u8,
    offset: Num<usize>,
    width: Num<u32>,
    height: Num<u32>,
    stride: Num<usize>,
    argb: bool,
    rect: [Num<u32>; 4],
}

#[derive(Arbitrary, Debug)]
struct Input {
    regs: [Option<FReg>; 2],
    checks: Vec<Check>,
}

fn need(k: u8) -> (Need, &'static str, bool, bool) {
    match k % 3 {
        0 => (Need::Read, "read", true, false),
        1 => (Need::Write, "write", false, true),
        _ => (Need::ReadWrite, "read+write", true, true),
    }
}

/// Why `SurfaceDesc::check` must refuse `d`, as the field its documentation names; `None`
/// when the description is valid. u128: no overflow in the restatement.
fn bad_field(d: &SurfaceDesc) -> Option<&'static str> {
    if d.width == 0 || d.height == 0 {
        return Some("width or height");
    }
    let row = u128::from(d.width) * 4;
    if row > usize::MAX as u128 {
        return Some("row");
    }
    if (d.stride as u128) < row {
        return Some("stride");
    }
    if u128::from(d.height - 1) * d.stride as u128 + row > usize::MAX as u128 {
        return Some("size");
    }
    None
}

fuzz_target!(|input: Input| {
    with_locked(&input.regs, |sim, bufs, locked, recs| {
        for c in input.checks.iter().take(16) {
            let b = usize::from(c.buf) % bufs.len();
            let buffer = &bufs[b];
            let dev = device(c.device);
            let (need, wanted, r, w) = need(c.need);
            let format = if c.argb {
                PixelFormat::Argb8888
            } else {
                PixelFormat::Xrgb8888
            };
            // Edges: a stride of exactly a row; a surface starting at the registered range's
            // start (the buffer's when not registered) or ending at its end.
            let (width, height) = (num_u32(c.width), num_u32(c.height));
            let row = width as usize * 4;
            let stride = num_usize(c.stride, [row, row]);
            let (start, end) = recs[b]
                .as_ref()
                .map_or((0, buffer.len()), |reg| (reg.range.start, reg.range.end));
            let span = (height.saturating_sub(1) as usize)
                .saturating_mul(stride)
                .saturating_add(row);
            let desc = SurfaceDesc {
                offset: num_usize(c.offset, [start, end.saturating_sub(span)]),
                width,
                height,
                stride,
                format,
            };
            let got = resolve(locked, dev, &Surface::new(buffer, desc), need);
            let name = buffer.name();
            let base = buffer.region().bus().0;
            let what = format!("{c:?} on '{name}' registered as {:?}", recs[b]);
            let range = match &recs[b] {
                Some(Reg {
                    dev: Some(d),
                    read,
                    write,
                    range,
                }) if *d == dev && (!r || *read) && (!w || *write) => range.clone(),
                _ => {
                    assert_eq!(
                        got,
                        Err(EngineError::NotLockedFor {
                            buffer: name,
                            wanted
                        }),
                        "{what}"
                    );
                    continue;
                }
            };
            if let Some(field) = bad_field(&desc) {
                match got {
                    Err(EngineError::BadSurface { buffer, why }) => {
                        assert_eq!(buffer, name, "{what}");
                        assert!(
                            why.contains(field),
                            "`{why}` does not name the {field}: {what}"
                        );
                    }
                    other => panic!("{other:?}, expected BadSurface naming the {field}: {what}"),
                }
                continue;
            }
            let span =
                u128::from(desc.height - 1) * desc.stride as u128 + u128::from(desc.width) * 4;
            if desc.offset < range.start || desc.offset as u128 + span > range.end as u128 {
                let expect = Err(EngineError::OutOfBounds {
                    buffer: name,
                    what: "surface",
                });
                assert_eq!(got, expect, "{what}");
                continue;
            }
            let bus = BusSurface {
                bus: BusAddr(base + desc.offset as u64),
                width: desc.width,
                height: desc.height,
                stride: desc.stride,
                format,
            };
            assert_eq!(got, Ok(bus), "{what}");
            // A rectangle the engine would accept, and every byte it renders.
            let [x, y, rw, rh] = c.rect.map(num_u32);
            let rect = Rect { x, y, w: rw, h: rh };
            let fits = u64::from(x) + u64::from(rw) <= u64::from(desc.width)
                && u64::from(y) + u64::from(rh) <= u64::from(desc.height);
            assert_eq!(
                rect.fits_in(desc.width, desc.height),
                fits,
                "{rect:?} in {what}"
            );
            if !fits || rect.is_empty() {
                continue;
            }
            let (lo, hi) = (base + range.start as u64, base + range.end as u64);
            let last = y + rh - 1;
            for row in (y..=last).take(ROWS as usize).chain([last]) {
                let first = bus.pixel(x, row);
                let end = bus.pixel(x + rw - 1, row).0 + 4;
                assert!(
                    first.0 >= lo && end <= hi,
                    "row {row} {first:?}..{end:#x} outside {lo:#x}..{hi:#x}: {what}"
                );
                let mut bytes = vec![0; (end - first.0) as usize];
                if r {
                    sim.device_read(dev, first, &mut bytes);
                }
                if w {
                    sim.device_write(dev, first, &bytes);
                }
            }
            let v = sim.violations();
            assert!(
                v.is_empty(),
                "device access to an accepted rectangle: {v:?}"
            );
        }
    });
});
