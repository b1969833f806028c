//! Every operation the ISI driver offers, on its register model: the bytes each Convert
//! leaves (expected values computed in `common` from gfx2d's documented formula), zero
//! simulator violations, zero model errors, completion from the interrupt.
#![forbid(unsafe_code)]

mod common;

use common::*;
use dmasync_engine::{
    Engine2d, Engine2dControl, Flip, Op2d, PixelFormat, Rect, Scaling, Surface, SurfaceDesc,
};
use dmasync_isi_model::IsiModel;
use dmasync_sync::syncset::Access;

const FORMATS_IN: [PixelFormat; 3] = [
    PixelFormat::Xrgb8888,
    PixelFormat::Rgb565,
    PixelFormat::Yuyv,
];
const FORMATS_OUT: [PixelFormat; 3] = [
    PixelFormat::Xrgb8888,
    PixelFormat::Argb8888,
    PixelFormat::Rgb565,
];

/// One Convert through driver and model; returns the destination buffer's bytes after it
/// and before it.
fn run(
    sd: SurfaceDesc,
    dd: SurfaceDesc,
    from: Rect,
    to: Rect,
    flip: Flip,
    seed: u32,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let sim = sim();
    let d = domain(&sim);
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    let sb = buffer(&d, &sim, "src", len_for(&sd));
    let db = buffer(&d, &sim, "dst", len_for(&dd));
    let src = pattern(sb.len(), seed);
    let before = pattern(db.len(), seed ^ 0xFFFF);
    cpu_write(&d, &sb, &src);
    cpu_write(&d, &db, &before);
    let mut set = d.set();
    set.add(&sb, Access::dma_read(ISI)).unwrap();
    set.add(&db, Access::dma_write(ISI)).unwrap();
    let op = Op2d::Convert {
        dst: Surface::new(&db, dd),
        to,
        src: Surface::new(&sb, sd),
        from,
        flip,
    };
    let fence = g
        .submit(set.lock().unwrap(), &[op], None)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(drive(&m, &g), 1, "one frame, one interrupt");
    assert_eq!(fence.wait(), Ok(()));
    assert_eq!(m.errors(), vec![], "model errors");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert_eq!(g.pending(), 0);
    (cpu_read(&d, &db), before, src)
}

fn check(sd: SurfaceDesc, dd: SurfaceDesc, from: Rect, to: Rect, flip: Flip, seed: u32) {
    let (got, before, src) = run(sd, dd, from, to, flip, seed);
    let mut want = before;
    expected_convert(&mut want, &dd, to, &src, &sd, from, flip);
    assert!(
        got == want,
        "{:?} {from:?} -> {:?} {to:?} {flip:?}: first difference at byte {:?}",
        sd.format,
        dd.format,
        got.iter().zip(&want).position(|(a, b)| a != b)
    );
}

#[test]
fn every_format_pair_at_one_to_one() {
    for (i, sf) in FORMATS_IN.into_iter().enumerate() {
        for (k, df) in FORMATS_OUT.into_iter().enumerate() {
            let sd = desc(sf, 20, 9, 4, 8);
            let dd = desc(df, 26, 12, 6, 16);
            check(
                sd,
                dd,
                Rect::new(2, 1, 16, 7),
                Rect::new(5, 3, 16, 7),
                Flip::NONE,
                (i * 3 + k) as u32,
            );
        }
    }
}

#[test]
fn crops_down_scales_and_flips() {
    let cases = [
        (Rect::new(0, 0, 32, 24), Rect::new(0, 0, 17, 13)),
        (Rect::new(4, 2, 26, 20), Rect::new(3, 1, 25, 11)),
        (Rect::new(6, 5, 10, 3), Rect::new(0, 0, 6, 2)),
        (Rect::new(0, 0, 32, 24), Rect::new(7, 9, 32, 24)),
    ];
    let flips = [
        Flip::NONE,
        Flip { h: true, v: false },
        Flip { h: false, v: true },
        Flip { h: true, v: true },
    ];
    let mut seed = 100;
    for sf in FORMATS_IN {
        for (from, to) in cases {
            for flip in flips {
                seed += 1;
                let sd = desc(sf, 32, 24, 8, 4);
                let dd = desc(PixelFormat::Xrgb8888, 40, 34, 0, 0);
                check(sd, dd, from, to, flip, seed);
                let dd = desc(PixelFormat::Rgb565, 40, 34, 2, 0);
                check(sd, dd, from, to, flip, seed);
            }
        }
    }
}

/// Several commands in one submission run in order, each started by the previous one's
/// frame interrupt; one fence for all.
#[test]
fn commands_chain_through_the_interrupt() {
    let sim = sim();
    let d = domain(&sim);
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    let sd = desc(PixelFormat::Rgb565, 16, 16, 0, 0);
    let dd = desc(PixelFormat::Argb8888, 16, 16, 0, 0);
    let sb = buffer(&d, &sim, "src", len_for(&sd));
    let db = buffer(&d, &sim, "dst", len_for(&dd));
    let src = pattern(sb.len(), 9);
    let before = pattern(db.len(), 10);
    cpu_write(&d, &sb, &src);
    cpu_write(&d, &db, &before);
    let ops: Vec<_> = [
        (Rect::new(0, 0, 16, 16), Rect::new(0, 0, 9, 9)),
        (Rect::new(0, 0, 8, 8), Rect::new(8, 8, 8, 8)),
        (Rect::new(3, 3, 13, 13), Rect::new(8, 0, 8, 7)),
    ]
    .iter()
    .map(|&(from, to)| Op2d::Convert {
        dst: Surface::new(&db, dd),
        to,
        src: Surface::new(&sb, sd),
        from,
        flip: Flip { h: true, v: true },
    })
    .collect();
    let mut set = d.set();
    set.add(&sb, Access::dma_read(ISI)).unwrap();
    set.add(&db, Access::dma_write(ISI)).unwrap();
    let fence = g
        .submit(set.lock().unwrap(), &ops, None)
        .map_err(|r| r.error)
        .unwrap();
    assert!(!fence.is_signalled());
    assert_eq!(drive(&m, &g), 3);
    assert_eq!(fence.wait(), Ok(()));
    assert_eq!(m.frames(), 3);
    assert_eq!(m.errors(), vec![]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let mut want = before;
    for op in &ops {
        if let Op2d::Convert { to, from, flip, .. } = *op {
            expected_convert(&mut want, &dd, to, &src, &sd, from, flip);
        }
    }
    assert_eq!(cpu_read(&d, &db), want);
}

/// The capabilities say what the hardware does: no fill, copy or blend; Convert down-only
/// below a factor of 2, flips, the formats per direction.
#[test]
fn capabilities_are_honest() {
    let sim = sim();
    let m = IsiModel::new(&sim, ISI);
    let c = driver(&m).capabilities();
    assert!(!c.fill && !c.copy && !c.blend && c.formats.is_empty());
    let cv = c.convert.unwrap();
    assert_eq!(cv.scaling, Scaling::Down { max_factor: 0x1FFF });
    assert!(cv.flip);
    assert_eq!(cv.src_formats, &FORMATS_IN);
    assert_eq!(cv.dst_formats, &FORMATS_OUT);
    assert_eq!((c.max_width, c.max_height), (2048, 8191));
}

/// The programming follows Linux: memory source on port 2, the BT.601 coefficients for a
/// YUYV input, READ_MEM cleared before it is set.
#[test]
fn programming_matches_the_linux_sequence() {
    let sim = sim();
    let d = domain(&sim);
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    let sd = desc(PixelFormat::Yuyv, 16, 8, 0, 0);
    let dd = desc(PixelFormat::Xrgb8888, 16, 8, 0, 0);
    let sb = buffer(&d, &sim, "src", len_for(&sd));
    let db = buffer(&d, &sim, "dst", len_for(&dd));
    let mut set = d.set();
    set.add(&sb, Access::dma_read(ISI)).unwrap();
    set.add(&db, Access::dma_write(ISI)).unwrap();
    let op = Op2d::Convert {
        dst: Surface::new(&db, dd),
        to: Rect::new(0, 0, 12, 8),
        src: Surface::new(&sb, sd),
        from: Rect::new(0, 0, 16, 8),
        flip: Flip::NONE,
    };
    let before = m.writes().len();
    let fence = g
        .submit(set.lock().unwrap(), &[op], None)
        .map_err(|r| r.error)
        .unwrap();
    let w = m.writes()[before..].to_vec();
    let find = |off: usize| {
        w.iter()
            .filter(|(o, _)| *o == off)
            .map(|&(_, v)| v)
            .collect::<Vec<_>>()
    };
    let coeffs: Vec<u32> = (0..6).map(|i| find(0x28 + 4 * i)[0]).collect();
    assert_eq!(
        coeffs,
        [
            0x12A,
            0x012A_0198,
            0x0730_079C,
            0x0204_012A,
            0x01F0_0000,
            0x0180_0180
        ]
    );
    let ctrl = find(0x00)[0];
    assert_eq!(
        ctrl & (1 << 31 | 1 << 30 | 1 << 4 | 7),
        1 << 31 | 1 << 30 | 1 << 4 | 2
    );
    assert_eq!(ctrl & (1 << 29), 0, "no bypass with the CSC on");
    // 16 -> 12: ceil(16 * 4096 / 12) = 0x1556; 8 -> 8: 0x1000.
    assert_eq!(find(0x18), [0x1000 << 16 | 0x1556]);
    assert_eq!(find(0x88), [0xD << 28, 0xD << 28 | 1]);
    drive(&m, &g);
    assert_eq!(fence.wait(), Ok(()));
    assert_eq!(m.errors(), vec![]);
}

/// A job waits for its in-fence: nothing is programmed before it signals, `service`
/// starts it then; a failed in-fence fails the job without a frame.
#[test]
fn in_fences_hold_jobs_back() {
    use dmasync_sync::fence::{FenceError, FenceProducer};
    let sim = sim();
    let d = domain(&sim);
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    let sd = desc(PixelFormat::Xrgb8888, 8, 8, 0, 0);
    let dd = desc(PixelFormat::Rgb565, 8, 8, 0, 0);
    let submit = |name_src, name_dst, gate: &FenceProducer| {
        let sb = buffer(&d, &sim, name_src, len_for(&sd));
        let db = buffer(&d, &sim, name_dst, len_for(&dd));
        let mut set = d.set();
        set.add(&sb, Access::dma_read(ISI)).unwrap();
        set.add(&db, Access::dma_write(ISI)).unwrap();
        let op = Op2d::Convert {
            dst: Surface::new(&db, dd),
            to: Rect::new(0, 0, 8, 8),
            src: Surface::new(&sb, sd),
            from: Rect::new(0, 0, 8, 8),
            flip: Flip::NONE,
        };
        g.submit(set.lock().unwrap(), &[op], Some(&gate.fence()))
            .map_err(|r| r.error)
            .unwrap()
    };
    let gate = FenceProducer::one_off();
    let before = m.writes().len();
    let f = submit("s1", "d1", &gate);
    assert_eq!(
        m.writes().len(),
        before,
        "nothing programmed before the in-fence"
    );
    assert!(!m.busy());
    gate.signal();
    g.service();
    assert!(m.busy());
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.wait(), Ok(()));
    let gate = FenceProducer::one_off();
    let f = submit("s2", "d2", &gate);
    gate.signal_error(FenceError::Cancelled);
    g.service();
    assert_eq!(f.wait(), Err(FenceError::Cancelled));
    assert_eq!(m.frames(), 1, "the failed job ran no frame");
    assert_eq!(m.errors(), vec![]);
}
