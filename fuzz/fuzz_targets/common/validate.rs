//! Shared by `dma_validate` and `g2d_validate`: a locked sync set on the simulator, with the
//! registrations the input asks for, and the fuzz target's own record of them (the oracle's
//! view, kept apart from the set).

use std::ops::Range;

use arbitrary::Arbitrary;
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_sync::syncset::{Access, Locked, SyncBuffer, SyncConfig, SyncDomain, SyncError};

pub const G2D: DeviceId = DeviceId(0);
pub const DISPLAY: DeviceId = DeviceId(1);
/// A device nothing is registered for (and the simulator does not know).
pub const NOBODY: DeviceId = DeviceId(7);
/// (name, bytes) of the domain's buffers; a third, `foreign`, is in another domain.
pub const BUFFERS: [(&str, usize); 2] = [("a", 256), ("b", 192)];
pub const FOREIGN: usize = 2;

/// How the set registers one buffer.
#[derive(Arbitrary, Debug)]
pub struct FReg {
    display: bool,
    /// 0 read, 1 write, 2 read+write, 3 a CPU read (no device may use it).
    mode: u8,
    /// `None`: the whole buffer (`add`); else a range for `add_range`, maybe invalid.
    range: Option<(u16, u16)>,
}

/// The oracle's record of a registration: the device (`None`: the CPU), what it may do, and
/// the registered byte range.
#[derive(Clone, Debug)]
pub struct Reg {
    pub dev: Option<DeviceId>,
    pub read: bool,
    pub write: bool,
    pub range: Range<usize>,
}

pub fn device(k: u8) -> DeviceId {
    [G2D, DISPLAY, NOBODY][usize::from(k % 3)]
}

/// Builds the simulator, the domain, its two buffers and a foreign one; registers the
/// buffers as `regs` asks (checking `add`/`add_range`'s answer), locks the set and calls `f`
/// with the buffers (the foreign one last) and the records. Returns without calling `f`
/// when nothing is registered.
pub fn with_locked(
    regs: &[Option<FReg>; 2],
    f: impl FnOnce(&NonCoherentSim, &[SyncBuffer; 3], &Locked<'_, &NonCoherentSim>, &[Option<Reg>; 3]),
) {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4096,
        lines_per_cpu: 8,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("g2d", Coherency::NonCoherent), G2D);
    assert_eq!(sim.add_device("display", Coherency::NonCoherent), DISPLAY);
    let domain = SyncDomain::new(&sim, SyncConfig::default());
    let other = SyncDomain::new(&sim, SyncConfig::default());
    let buf = |d: &SyncDomain<&NonCoherentSim>, name, len| {
        d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
            .unwrap()
    };
    let bufs = [
        buf(&domain, BUFFERS[0].0, BUFFERS[0].1),
        buf(&domain, BUFFERS[1].0, BUFFERS[1].1),
        buf(&other, "foreign", 128),
    ];
    let mut set = domain.set();
    assert_eq!(
        set.add(&bufs[FOREIGN], Access::dma_read(G2D)),
        Err(SyncError::ForeignBuffer { buffer: "foreign" })
    );
    let mut recs: [Option<Reg>; 3] = [None, None, None];
    for (i, r) in regs.iter().enumerate() {
        let Some(r) = r else { continue };
        let dev = if r.display { DISPLAY } else { G2D };
        let (access, rec_dev, read, write) = match r.mode % 4 {
            0 => (Access::dma_read(dev), Some(dev), true, false),
            1 => (Access::dma_write(dev), Some(dev), false, true),
            2 => (Access::dma_read_write(dev), Some(dev), true, true),
            _ => (Access::CPU_READ, None, true, false),
        };
        let len = bufs[i].len();
        let (got, range) = match r.range {
            None => (set.add(&bufs[i], access), 0..len),
            Some((s, e)) => {
                let range = usize::from(s) % (len + 8)..usize::from(e) % (len + 8);
                (set.add_range(&bufs[i], access, range.clone()), range)
            }
        };
        let valid = range.start < range.end && range.end <= len;
        assert_eq!(
            got.is_ok(),
            valid,
            "add_range({range:?}) of a {len}-byte buffer: {got:?}"
        );
        if valid {
            recs[i] = Some(Reg {
                dev: rec_dev,
                read,
                write,
                range,
            });
        }
    }
    let Ok(locked) = set.lock() else {
        assert!(
            recs.iter().all(Option::is_none),
            "lock failed with buffers registered"
        );
        return;
    };
    f(&sim, &bufs, &locked, &recs);
}
