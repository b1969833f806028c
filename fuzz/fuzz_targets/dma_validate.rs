//! The DMA engine's span validator, `dmasync_soft::resolve_span`, which every copy and fill
//! runs before the device touches memory. Oracle: the rule restated from its documentation
//! (the buffer is registered in the locked set for this device with an access allowing the
//! need; the span is not empty and lies inside the registered range; its bus address is the
//! buffer's plus the offset), checked result for result, plus the property that an accepted
//! span's every byte lies inside the registered range of the named buffer — read through the
//! simulator at the address the validator gave, which must see no stale data.
#![no_main]
#![forbid(unsafe_code)]

#[path = "common/validate.rs"]
mod common;

use arbitrary::Arbitrary;
use common::{FReg, Reg, device, with_locked};
use dmasync_engine::dma::Span;
use dmasync_engine::error::EngineError;
use dmasync_engine::surface::Need;
use dmasync_hal::dma::BusAddr;
use libfuzzer_sys::fuzz_target;

/// A number: small (offsets and lengths near the buffers' sizes), at an edge of the
/// registered range (where off-by-one bugs live), near the maximum, or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Small(u16),
    /// `edge` moved by -1, 0 or +1.
    Edge(u8),
    NearMax(u8),
    Any(usize),
}

impl Num {
    fn get(self, edge: usize) -> usize {
        match self {
            Num::Small(v) => usize::from(v % 512),
            Num::Edge(d) => (edge + usize::from(d % 3)).saturating_sub(1),
            Num::NearMax(v) => usize::MAX - usize::from(v),
            Num::Any(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Check {
    buf: u8,
    device: u8,
    need: u8,
    offset: Num,
    len: Num,
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

fuzz_target!(|input: Input| {
    with_locked(&input.regs, |sim, bufs, locked, recs| {
        for c in input.checks.iter().take(16) {
            let b = usize::from(c.buf) % bufs.len();
            let buffer = &bufs[b];
            let dev = device(c.device);
            let (need, wanted, r, w) = need(c.need);
            // Edges: the registered range's (the buffer's when it is not registered); a
            // length's edge makes the span end there.
            let (start, end) = recs[b]
                .as_ref()
                .map_or((0, buffer.len()), |reg| (reg.range.start, reg.range.end));
            let offset = c.offset.get(start);
            let len = c.len.get(end.saturating_sub(offset));
            let span = Span {
                buffer,
                offset,
                len,
            };
            let got = dmasync_soft::resolve_span(locked, dev, &span, need, "span");
            let name = buffer.name();
            let base = buffer.region().bus().0;
            let expect = match &recs[b] {
                Some(Reg {
                    dev: Some(d),
                    read,
                    write,
                    range,
                }) if *d == dev && (!r || *read) && (!w || *write) => {
                    // u128: no overflow in the restatement.
                    let end = offset as u128 + len as u128;
                    if len == 0 {
                        Err(EngineError::Empty)
                    } else if offset < range.start || end > range.end as u128 {
                        Err(EngineError::OutOfBounds {
                            buffer: name,
                            what: "span",
                        })
                    } else {
                        Ok(BusAddr(base + offset as u64))
                    }
                }
                _ => Err(EngineError::NotLockedFor {
                    buffer: name,
                    wanted,
                }),
            };
            assert_eq!(got, expect, "{c:?} on '{name}' registered as {:?}", recs[b]);
            let Ok(bus) = got else { continue };
            // Every byte the device may touch is inside the registered range of this buffer.
            let range = &recs[b].as_ref().unwrap().range;
            let (lo, hi) = (base + range.start as u64, base + range.end as u64);
            assert!(
                bus.0 >= lo && bus.0 + len as u64 <= hi,
                "{bus:?}+{len} outside {lo:#x}..{hi:#x}"
            );
            // The simulator checks the access as the device would make it.
            let mut bytes = vec![0; len];
            if r {
                sim.device_read(dev, bus, &mut bytes);
            }
            if w {
                sim.device_write(dev, bus, &bytes);
            }
            let v = sim.violations();
            assert!(v.is_empty(), "device access to an accepted span: {v:?}");
        }
    });
});
