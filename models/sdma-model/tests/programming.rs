//! The model on its own, programmed register by register and descriptor by descriptor as
//! `imx-sdma.c` describes: channel 0's context loads, ap_2_ap over BD chains, interrupts,
//! eligibility, and the programming it records as errors.

use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory};
use dmasync_hal::mmio::RegisterIo;
use dmasync_sdma_model::regs::*;
use dmasync_sdma_model::{Fault, MAX_CHAIN, ModelError, SdmaModel};
use dmasync_sim::{NonCoherentSim, SimConfig};

const DEV: DeviceId = DeviceId(0);
/// Writes memory directly (a second master), so the tests set up descriptors in DRAM.
const HOST: DeviceId = DeviceId(1);

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 1 << 20,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("sdma", Coherency::NonCoherent), DEV);
    assert_eq!(sim.add_device("host", Coherency::NonCoherent), HOST);
    sim
}

/// Addresses in DRAM: the CCB array, BD0, the context, each channel's BD table, data.
struct Mem {
    ccb: u64,
    bd0: u64,
    ctx: u64,
    data: u64,
}

impl Mem {
    fn new(sim: &NonCoherentSim) -> Self {
        // Taken from the simulator's allocator, so later allocations lie elsewhere.
        let b = DmaMemory::alloc(sim, 0x20000, Coherency::NonCoherent)
            .unwrap()
            .bus()
            .0;
        Self {
            ccb: b,
            bd0: b + 0x200,
            ctx: b + 0x300,
            data: b + 0x10000,
        }
    }
    fn table(&self, ch: usize) -> u64 {
        self.ccb + 0x1000 * ch as u64
    }
}

fn w32(sim: &NonCoherentSim, at: u64, v: u32) {
    sim.device_write(HOST, BusAddr(at), &v.to_le_bytes());
}

fn r32(sim: &NonCoherentSim, at: u64) -> u32 {
    let mut b = [0; 4];
    sim.device_read(HOST, BusAddr(at), &mut b);
    u32::from_le_bytes(b)
}

fn mode(count: u32, status: u32, command: u32) -> u32 {
    count | status << 16 | command << 24
}

fn bd(sim: &NonCoherentSim, at: u64, mode: u32, buf: u64, ext: u64) {
    w32(sim, at, mode);
    w32(sim, at + 4, buf as u32);
    w32(sim, at + 8, ext as u32);
}

/// `sdma_init`'s channel-0 set-up plus each channel's CCB pointing at its table.
fn init(sim: &NonCoherentSim, m: &SdmaModel<'_>, mem: &Mem, channels: &[usize]) {
    w32(sim, mem.ccb, mem.bd0 as u32);
    w32(sim, mem.ccb + 4, mem.bd0 as u32);
    let mut own = 1;
    for &ch in channels {
        w32(sim, mem.ccb + 16 * ch as u64, mem.table(ch) as u32);
        w32(sim, mem.ccb + 16 * ch as u64 + 4, mem.table(ch) as u32);
        own |= 1 << ch;
    }
    m.write32(EVTOVR, own);
    m.write32(DSPOVR, own);
    m.write32(HOSTOVR, 0);
    m.write32(C0PTR, mem.ccb as u32);
    m.write32(CHNPRI_0, 7);
    for &ch in channels {
        m.write32(CHNPRI_0 + 4 * ch, 3);
    }
}

/// Loads channel `ch`'s context with `pc` through channel 0, as `sdma_load_context`.
fn load(sim: &NonCoherentSim, m: &SdmaModel<'_>, mem: &Mem, ch: usize, pc: u32) {
    w32(sim, mem.ctx, pc);
    for i in 1..CONTEXT_WORDS as u64 {
        w32(sim, mem.ctx + 4 * i, 0);
    }
    let ext = (CONTEXT_BASE + CONTEXT_WORDS * ch as u32) as u64;
    let m0 = mode(CONTEXT_WORDS, BD_DONE | BD_WRAP | BD_EXTD, C0_SETDM);
    bd(sim, mem.bd0, m0, mem.ctx, ext);
    m.write32(HSTART, 1);
    assert_eq!(
        m.read32(STATSTOP) & 1,
        0,
        "channel 0 finished within HSTART"
    );
    assert_eq!(
        r32(sim, mem.bd0) >> 16 & 0xFF,
        BD_WRAP | BD_EXTD,
        "DONE cleared"
    );
    m.write32(INTR, 1);
}

fn fill(sim: &NonCoherentSim, at: u64, len: usize, seed: u8) -> Vec<u8> {
    let v: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
    sim.device_write(HOST, BusAddr(at), &v);
    v
}

fn read(sim: &NonCoherentSim, at: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    sim.device_read(HOST, BusAddr(at), &mut b);
    b
}

#[test]
fn ap_2_ap_copies_each_bd_clears_done_and_raises_intr_at_the_end() {
    let sim = sim();
    let m = SdmaModel::new(&sim, DEV);
    let mem = Mem::new(&sim);
    init(&sim, &m, &mem, &[2]);
    load(&sim, &m, &mem, 2, AP_2_AP);
    assert_eq!(m.context_pc(2), Some(644));
    let (src, dst) = (mem.data, mem.data + 0x8000);
    let want = fill(&sim, src, 0x300, 3);
    let t = mem.table(2);
    bd(
        &sim,
        t,
        mode(0x100, BD_DONE | BD_EXTD | BD_CONT, 0),
        src,
        dst,
    );
    bd(
        &sim,
        t + 12,
        mode(0x200, BD_DONE | BD_EXTD | BD_INTR | BD_LAST, 0),
        src + 0x100,
        dst + 0x100,
    );
    m.write32(HSTART, 1 << 2);
    assert_eq!(m.read32(STATSTOP), 1 << 2, "HE set until time passes");
    assert!(
        read(&sim, dst, 0x300).iter().all(|&b| b == 0),
        "nothing before run"
    );
    assert!(m.run(), "INTR raised");
    assert_eq!(m.read32(INTR), 1 << 2);
    assert_eq!(m.read32(STATSTOP), 0);
    assert_eq!(read(&sim, dst, 0x300), want);
    assert_eq!(r32(&sim, t) >> 16 & 0xFF, BD_EXTD | BD_CONT);
    assert_eq!(r32(&sim, t + 12) >> 16 & 0xFF, BD_EXTD | BD_INTR | BD_LAST);
    m.write32(INTR, 1 << 2);
    assert!(!m.irq_pending(), "write 1 to clear");
    assert_eq!((m.bds(), m.bytes()), (2, 0x300));
    assert_eq!(m.errors(), vec![]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_wrapped_chain_ends_at_the_first_bd_it_cleared() {
    let sim = sim();
    let m = SdmaModel::new(&sim, DEV);
    let mem = Mem::new(&sim);
    init(&sim, &m, &mem, &[1]);
    load(&sim, &m, &mem, 1, AP_2_AP);
    let t = mem.table(1);
    fill(&sim, mem.data, 8, 1);
    bd(
        &sim,
        t,
        mode(4, BD_DONE | BD_EXTD | BD_CONT, 0),
        mem.data,
        mem.data + 0x100,
    );
    bd(
        &sim,
        t + 12,
        mode(4, BD_DONE | BD_EXTD | BD_CONT | BD_WRAP | BD_INTR, 0),
        mem.data + 4,
        mem.data + 0x104,
    );
    m.write32(HSTART, 1 << 1);
    assert!(m.run());
    assert_eq!(m.bds(), 2);
    assert_eq!(m.errors(), vec![]);
}

#[test]
fn bad_descriptors_get_error_and_interrupt_and_are_recorded() {
    let cases: [(u32, u64, u64, &str); 3] = [
        (mode(0, BD_DONE | BD_EXTD, 0), 0, 0x100, "count 0"),
        (
            mode(16, BD_DONE, 0),
            0,
            0x100,
            "no EXTD: ap_2_ap needs the destination in the extended address",
        ),
        (
            mode(16, BD_DONE | BD_EXTD, 0),
            2,
            0x100,
            "address or count not 4-byte aligned",
        ),
    ];
    for (md, so, dof, why) in cases {
        let sim = sim();
        let m = SdmaModel::new(&sim, DEV);
        let mem = Mem::new(&sim);
        init(&sim, &m, &mem, &[1]);
        load(&sim, &m, &mem, 1, AP_2_AP);
        let t = mem.table(1);
        bd(&sim, t, md, mem.data + so, mem.data + dof);
        m.write32(HSTART, 1 << 1);
        assert!(m.run(), "{why}: INTR");
        let st = r32(&sim, t) >> 16 & 0xFF;
        assert_eq!(st & (BD_DONE | BD_ERROR), BD_ERROR, "{why}");
        assert_eq!(
            m.errors(),
            vec![ModelError::BadDescriptor {
                channel: 1,
                bd: t,
                why
            }]
        );
        assert_eq!(m.bds(), 0);
    }
}

#[test]
fn a_chain_without_end_and_addresses_outside_memory_are_errors() {
    let sim = sim();
    let m = SdmaModel::new(&sim, DEV);
    let mem = Mem::new(&sim);
    init(&sim, &m, &mem, &[1, 3]);
    load(&sim, &m, &mem, 1, AP_2_AP);
    load(&sim, &m, &mem, 3, AP_2_AP);
    let t = mem.table(1);
    for i in 0..MAX_CHAIN as u64 + 1 {
        bd(
            &sim,
            t + 12 * i,
            mode(4, BD_DONE | BD_EXTD | BD_CONT, 0),
            mem.data,
            mem.data + 0x100,
        );
    }
    m.write32(HSTART, 1 << 1);
    m.run();
    assert_eq!(m.errors(), vec![ModelError::ChainWithoutEnd { channel: 1 }]);

    let t = mem.table(3);
    let end = sim.config().dram_base + sim.config().dram_size as u64;
    bd(
        &sim,
        t,
        mode(64, BD_DONE | BD_EXTD | BD_INTR, 0),
        mem.data,
        end - 32,
    );
    m.write32(HSTART, 1 << 3);
    assert!(m.run());
    assert_eq!(r32(&sim, t) >> 16 & BD_ERROR, BD_ERROR);
    assert_eq!(
        m.errors()[1..],
        [ModelError::AddressOutsideMemory {
            addr: end - 32,
            len: 64
        }]
    );
}

#[test]
fn a_channel_without_context_or_with_another_script_does_not_run() {
    let sim = sim();
    let m = SdmaModel::new(&sim, DEV);
    let mem = Mem::new(&sim);
    init(&sim, &m, &mem, &[1, 2]);
    load(&sim, &m, &mem, 2, 685); // app_2_mcu in sdma_script_imx7d
    let t = mem.table(1);
    bd(
        &sim,
        t,
        mode(4, BD_DONE | BD_EXTD | BD_INTR, 0),
        mem.data,
        mem.data + 0x100,
    );
    bd(
        &sim,
        mem.table(2),
        mode(4, BD_DONE | BD_EXTD | BD_INTR, 0),
        mem.data,
        mem.data + 0x100,
    );
    m.write32(HSTART, 0b110);
    assert!(!m.run());
    assert_eq!(
        m.errors(),
        vec![
            ModelError::ContextNotLoaded { channel: 1 },
            ModelError::UnsupportedScript {
                channel: 2,
                pc: 685
            },
        ]
    );
    assert_eq!(m.bds(), 0);
}

#[test]
fn eligibility_priority_stop_and_reset() {
    let sim = sim();
    let m = SdmaModel::new(&sim, DEV);
    let mem = Mem::new(&sim);
    // HSTART before C0PTR: no CCBs.
    m.write32(HSTART, 1 << 1);
    assert_eq!(
        m.errors(),
        vec![ModelError::NoChannelControlBlocks { channel: 1 }]
    );
    init(&sim, &m, &mem, &[1]);
    load(&sim, &m, &mem, 1, AP_2_AP);
    let t = mem.table(1);
    let arm = || {
        bd(
            &sim,
            t,
            mode(4, BD_DONE | BD_EXTD | BD_INTR, 0),
            mem.data,
            mem.data + 0x100,
        )
    };
    arm();
    // Priority 0: never scheduled.
    m.write32(CHNPRI_0 + 4, 0);
    m.write32(HSTART, 1 << 1);
    assert!(!m.run());
    assert_eq!(m.bds(), 0);
    // C0PTR while a channel is active.
    m.write32(C0PTR, mem.ccb as u32);
    assert_eq!(m.errors()[1..], [ModelError::C0ptrWhileActive]);
    // STATSTOP stops it.
    m.write32(STATSTOP, 1 << 1);
    assert_eq!(m.active(), 0);
    // Event not overridden: waits for its event.
    m.write32(CHNPRI_0 + 4, 3);
    m.write32(EVTOVR, 1);
    m.write32(HSTART, 1 << 1);
    assert!(!m.run());
    m.write32(EVTPEND, 1 << 1);
    assert!(m.run());
    assert_eq!(m.bds(), 1);
    // A hang stays until STATSTOP.
    arm();
    m.write32(EVTOVR, 0b11);
    m.inject(Fault::Hang);
    m.write32(INTR, !0);
    m.write32(HSTART, 1 << 1);
    assert!(!m.run());
    assert!(!m.run());
    assert_eq!(m.active(), 1 << 1);
    m.write32(STATSTOP, 1 << 1);
    assert_eq!(m.active(), 0);
    // RESET forgets the contexts.
    m.write32(RESET, 1);
    assert_eq!((m.resets(), m.context_pc(1)), (1, None));
    assert_eq!(m.read32(C0PTR), 0);
}

#[test]
fn a_dirty_cpu_line_is_not_what_the_sdma_reads() {
    // ap_2_ap reads DRAM: a source the CPU wrote and did not clean is not seen, and the
    // simulator records the stale read.
    let sim = sim();
    let m = SdmaModel::new(&sim, DEV);
    let mem = Mem::new(&sim);
    init(&sim, &m, &mem, &[1]);
    load(&sim, &m, &mem, 1, AP_2_AP);
    let src = DmaMemory::alloc(&sim, 4096, Coherency::NonCoherent).unwrap();
    sim.cpu_write(0, src.virt(), &[0xAB; 64]);
    bd(
        &sim,
        mem.table(1),
        mode(64, BD_DONE | BD_EXTD | BD_INTR, 0),
        src.bus().0,
        mem.data,
    );
    m.write32(HSTART, 1 << 1);
    assert!(m.run());
    assert_ne!(
        read(&sim, mem.data, 64),
        vec![0xAB; 64],
        "the dirty line was not seen"
    );
    assert!(
        !sim.violations().is_empty(),
        "the stale read is a violation"
    );
}
