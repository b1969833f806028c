//! Random command lists run by the software engine on the simulator equal the reference
//! renderer byte for byte, with zero coherency violations — including copies and blends
//! within one buffer between overlapping surfaces of equal and of different strides.

mod common;

use common::*;
use dmasync_engine::{Color, Engine2d, Op2d, PixelFormat, Point, Rect, Surface, SurfaceDesc};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_soft::{Soft2dConfig, Step, render};
use dmasync_sync::syncset::{Access, SyncConfig};
use proptest::prelude::*;

const LEN: usize = 4096;

/// Two surfaces per buffer: in buffer 0 they overlap with different strides, in buffer 1
/// with equal strides.
fn layouts(formats: [bool; 4]) -> [(usize, SurfaceDesc); 4] {
    let f = |argb: bool| {
        if argb {
            PixelFormat::Argb8888
        } else {
            PixelFormat::Xrgb8888
        }
    };
    [
        (0, SurfaceDesc::packed(16, 12, f(formats[0]))),
        (
            0,
            SurfaceDesc {
                offset: 128,
                width: 10,
                height: 8,
                stride: 48,
                format: f(formats[1]),
            },
        ),
        (1, SurfaceDesc::packed(16, 12, f(formats[2]))),
        (
            1,
            SurfaceDesc {
                offset: 3 * 64 + 8,
                width: 12,
                height: 9,
                stride: 64,
                format: f(formats[3]),
            },
        ),
    ]
}

#[derive(Clone, Debug)]
struct RawOp {
    kind: u8,
    dst: usize,
    src: usize,
    n: [u32; 6],
    color: u32,
    alpha: u8,
}

fn raw_op() -> impl Strategy<Value = RawOp> {
    (
        0u8..3,
        0usize..4,
        0usize..4,
        any::<[u32; 6]>(),
        any::<u32>(),
        any::<u8>(),
    )
        .prop_map(|(kind, dst, src, n, color, alpha)| RawOp {
            kind,
            dst,
            src,
            n,
            color,
            alpha,
        })
}

/// A rectangle of up to the surface's size, anywhere inside it (possibly empty).
fn rect_in(d: &SurfaceDesc, a: u32, b: u32, c: u32, e: u32) -> Rect {
    let x = a % d.width;
    let y = b % d.height;
    Rect::new(x, y, c % (d.width - x + 1), e % (d.height - y + 1))
}

/// The validated command the raw numbers stand for: (kind, dst, to/rect, src, from).
#[derive(Clone, Copy, Debug)]
enum Cmd {
    Fill(usize, Rect, Color),
    Copy(usize, Point, usize, Rect),
    Blend(usize, Point, usize, Rect, u8),
}

fn cmd(r: &RawOp, l: &[(usize, SurfaceDesc); 4]) -> Cmd {
    let d = &l[r.dst].1;
    let s = &l[r.src].1;
    if r.kind == 0 {
        return Cmd::Fill(
            r.dst,
            rect_in(d, r.n[0], r.n[1], r.n[2], r.n[3]),
            Color(r.color),
        );
    }
    // Source rect no larger than the destination, placed inside it.
    let mut from = rect_in(s, r.n[0], r.n[1], r.n[2], r.n[3]);
    from.w = from.w.min(d.width);
    from.h = from.h.min(d.height);
    let to = Point::new(
        r.n[4] % (d.width - from.w + 1),
        r.n[5] % (d.height - from.h + 1),
    );
    if r.kind == 1 && d.format == s.format {
        Cmd::Copy(r.dst, to, r.src, from)
    } else {
        Cmd::Blend(r.dst, to, r.src, from, r.alpha)
    }
}

fn oracle(bufs: &mut [Vec<u8>; 2], l: &[(usize, SurfaceDesc); 4], c: Cmd) {
    match c {
        Cmd::Fill(d, rect, color) => {
            render::fill(&mut bufs[l[d].0], &l[d].1, rect, color).unwrap();
        }
        Cmd::Copy(d, to, s, from) | Cmd::Blend(d, to, s, from, _) => {
            let alpha = match c {
                Cmd::Blend(.., a) => Some(a),
                _ => None,
            };
            let (db, sb) = (l[d].0, l[s].0);
            if db == sb {
                let buf = &mut bufs[db];
                match alpha {
                    None => render::copy_within(buf, &l[d].1, to, &l[s].1, from).unwrap(),
                    Some(a) => render::blend_within(buf, &l[d].1, to, &l[s].1, from, a).unwrap(),
                }
            } else {
                let src = bufs[sb].clone();
                let buf = &mut bufs[db];
                match alpha {
                    None => render::copy(buf, &l[d].1, to, &src, &l[s].1, from).unwrap(),
                    Some(a) => render::blend(buf, &l[d].1, to, &src, &l[s].1, from, a).unwrap(),
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_command_lists_equal_the_oracle(
        formats in any::<[bool; 4]>(),
        seeds in any::<[u32; 2]>(),
        raw in prop::collection::vec(raw_op(), 1..10),
    ) {
        let sim = NonCoherentSim::new(SimConfig {
            dram_size: 64 * 1024,
            eviction: Eviction::Random { seed: u64::from(seeds[0]) },
            lines_per_cpu: 16,
            cpus: 2,
            ..SimConfig::default()
        });
        assert_eq!(sim.add_device("soft2d", dmasync_hal::dma::Coherency::NonCoherent), G2D);
        let d = domain(&sim, SyncConfig::default());
        let engine = engine(&sim, Soft2dConfig { max_ops: 16, ..Soft2dConfig::default() });
        let bufs = [buffer(&d, &sim, "a", LEN), buffer(&d, &sim, "b", LEN)];
        let mut want = [pattern(LEN, seeds[0]), pattern(LEN, seeds[1])];
        cpu_write(&d, &bufs[0], &want[0]);
        cpu_write(&d, &bufs[1], &want[1]);

        let l = layouts(formats);
        let cmds: Vec<Cmd> = raw.iter().map(|r| cmd(r, &l)).collect();
        let surf = |i: usize| Surface::new(&bufs[l[i].0], l[i].1);
        let ops: Vec<Op2d<'_>> = cmds
            .iter()
            .map(|&c| match c {
                Cmd::Fill(dst, rect, color) => Op2d::Fill { dst: surf(dst), rect, color },
                Cmd::Copy(dst, to, src, from) => Op2d::Copy { dst: surf(dst), to, src: surf(src), from },
                Cmd::Blend(dst, to, src, from, alpha) => {
                    Op2d::Blend { dst: surf(dst), to, src: surf(src), from, alpha }
                }
            })
            .collect();

        let mut set = d.set();
        set.add(&bufs[0], Access::dma_read_write(G2D)).unwrap();
        set.add(&bufs[1], Access::dma_read_write(G2D)).unwrap();
        let fence = engine
            .submit(set.lock().unwrap(), &ops, None)
            .map_err(|r| r.error)
            .unwrap();
        prop_assert_eq!(engine.run_one(), Step::Completed(Ok(())));
        prop_assert_eq!(fence.wait(), Ok(()));

        for c in &cmds {
            oracle(&mut want, &l, *c);
        }
        for (b, w) in bufs.iter().zip(&want) {
            let got = cpu_read(&d, b);
            prop_assert!(&got == w, "buffer {} differs from the oracle after {:?}", b.name(), cmds);
        }
        prop_assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }
}
