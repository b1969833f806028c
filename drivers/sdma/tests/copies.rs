//! Copies through ap_2_ap against the register model: the bytes (dst = src, computed
//! here), the BD split at 0xFFFC bytes, several channels at once, the queue, in-fences,
//! the set-up sequence; zero simulator violations and zero model errors on every path.

mod common;

use common::*;
use dmasync_engine::dma::Span;
use dmasync_sdma_model::regs as m_regs;
use dmasync_sync::fence::{FenceError, FenceProducer, FenceStatus};

fn clean(sim: &dmasync_sim::NonCoherentSim, m: &dmasync_sdma_model::SdmaModel<'_>) {
    assert_eq!(m.errors(), vec![]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn set_up_loads_ap_2_ap_into_every_data_channel() {
    let sim = sim();
    let m = dmasync_sdma_model::SdmaModel::new(&sim, SDMA);
    let _g = driver(&m, &sim);
    clean(&sim, &m);
    assert_eq!(m.context_loads(), 3);
    for ch in 1..=3 {
        assert_eq!(m.context_pc(ch), Some(644), "channel {ch}");
    }
    assert_eq!(m.context_pc(4), None);
    let w = m.writes();
    // C0PTR = 0 first, the array after channel 0's set-up, and priorities last per channel.
    assert_eq!(w[0], (m_regs::C0PTR, 0));
    assert!(w.iter().any(|&(o, v)| o == m_regs::C0PTR && v != 0));
    assert!(w.contains(&(m_regs::CHNPRI_0, 7)));
    for ch in 1..=3 {
        assert!(w.contains(&(m_regs::CHNPRI_0 + 4 * ch, 2)));
    }
    assert!(w.contains(&(m_regs::CHN0ADDR, 0x4050)));
    assert!(!m.irq_pending(), "channel 0's INTR bits are cleared");
    assert_eq!(m.active(), 0);
}

#[test]
fn a_small_copy_moves_exactly_its_bytes() {
    let sim = sim();
    let d = domain(&sim);
    let m = dmasync_sdma_model::SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let src = buffer(&d, &sim, "src", 256);
    let dst = buffer(&d, &sim, "dst", 256);
    let sp = pattern(256, 1);
    cpu_write(&d, &src, &sp);
    cpu_write(&d, &dst, &[0xEE; 256]);
    let f = copy(
        &d,
        &g,
        Span {
            buffer: &dst,
            offset: 16,
            len: 100,
        },
        Span {
            buffer: &src,
            offset: 4,
            len: 100,
        },
        None,
    );
    assert_eq!(f.status(), FenceStatus::Pending);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    let mut want = vec![0xEE; 256];
    want[16..116].copy_from_slice(&sp[4..104]);
    assert_eq!(cpu_read(&d, &dst), want);
    assert_eq!(m.bds(), 1);
    assert_eq!(m.bytes(), 100);
    clean(&sim, &m);
}

#[test]
fn a_long_copy_is_split_into_bds_of_0xfffc_bytes() {
    let sim = sim();
    let d = domain(&sim);
    let m = dmasync_sdma_model::SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let len = 3 * 0xFFFC + 0x1234;
    let src = buffer(&d, &sim, "src", len);
    let dst = buffer(&d, &sim, "dst", len);
    // The simulator rounds buffers up to whole lines; the copy covers `len` bytes only.
    let sp = pattern(src.len(), 2);
    cpu_write(&d, &src, &sp);
    cpu_write(&d, &dst, &vec![0x5A; dst.len()]);
    let f = copy(
        &d,
        &g,
        Span {
            buffer: &dst,
            offset: 0,
            len,
        },
        Span {
            buffer: &src,
            offset: 0,
            len,
        },
        None,
    );
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    let got = cpu_read(&d, &dst);
    assert_eq!(got[..len], sp[..len]);
    assert!(
        got[len..].iter().all(|&b| b == 0x5A),
        "nothing written past the span"
    );
    assert_eq!(m.bds(), len.div_ceil(0xFFFC) as u32);
    assert_eq!(m.bytes(), len as u64);
    clean(&sim, &m);
}

#[test]
fn copies_run_on_several_channels_at_once_and_queue_behind_them() {
    let sim = sim();
    let d = domain(&sim);
    let m = dmasync_sdma_model::SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let n = 5;
    let srcs: Vec<_> = (0..n)
        .map(|i| buffer(&d, &sim, "src", 512 + 64 * i))
        .collect();
    let dsts: Vec<_> = (0..n)
        .map(|i| buffer(&d, &sim, "dst", 512 + 64 * i))
        .collect();
    let pats: Vec<_> = (0..n).map(|i| pattern(512 + 64 * i, 10 + i)).collect();
    for i in 0..n {
        cpu_write(&d, &srcs[i], &pats[i]);
    }
    let fences: Vec<_> = (0..n)
        .map(|i| copy(&d, &g, Span::whole(&dsts[i]), Span::whole(&srcs[i]), None))
        .collect();
    // Three channels: three started at once, two wait.
    assert_eq!(m.active().count_ones(), 3);
    assert_eq!(g.pending(), 5);
    assert!(m.run());
    assert_eq!(
        g.on_interrupt(),
        3,
        "one interrupt completes three channels"
    );
    assert_eq!(drive(&m, &g), 2);
    for i in 0..n {
        assert_eq!(fences[i].status(), FenceStatus::Ok, "job {i}");
        assert_eq!(cpu_read(&d, &dsts[i]), pats[i], "job {i}");
    }
    clean(&sim, &m);
}

#[test]
fn a_copy_waits_for_its_in_fence_and_a_failed_one_skips_it() {
    let sim = sim();
    let d = domain(&sim);
    let m = dmasync_sdma_model::SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let src = buffer(&d, &sim, "src", 64);
    let dst = buffer(&d, &sim, "dst", 64);
    let sp = pattern(64, 3);
    cpu_write(&d, &src, &sp);
    let before = FenceProducer::one_off();
    let f = copy(
        &d,
        &g,
        Span::whole(&dst),
        Span::whole(&src),
        Some(&before.fence()),
    );
    assert_eq!(m.active(), 0, "not started before its in-fence");
    assert!(!m.run());
    before.signal();
    g.service();
    assert_ne!(m.active(), 0);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    assert_eq!(cpu_read(&d, &dst), sp);

    let failed = FenceProducer::one_off();
    let f = copy(
        &d,
        &g,
        Span::whole(&dst),
        Span::whole(&src),
        Some(&failed.fence()),
    );
    failed.signal_error(FenceError::DeviceError(7));
    let bds = m.bds();
    g.service();
    assert_eq!(f.status(), FenceStatus::Err(FenceError::DeviceError(7)));
    assert_eq!(m.bds(), bds, "the copy did not run");
    clean(&sim, &m);
}
