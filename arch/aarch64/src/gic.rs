//! The GIC (v2 or v3, as the device tree says) through `arm-gic`, as the IRQ dispatcher's
//! interrupt controller ([`crate::irq`]).
//!
//! One driver instance behind a spin lock serves all cores: GICv2 banks the CPU interface and
//! the SGI/PPI distributor registers per core at the same addresses, so each core configures
//! its own bank through the shared instance; GICv3 addresses each core's redistributor by
//! index (found by matching GICR_TYPER's affinity to our MPIDR) and acknowledges through
//! system registers, which needs no lock.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use dmasync_hal::irq::{InterruptController, IrqError};

use arm_gic::gicv2::GicV2;
use arm_gic::gicv3::{GicCpuInterface, GicV3, Group};
use arm_gic::{IntId, InterruptGroup, Trigger, UniqueMmioPointer};

use crate::spin::SpinLock;

/// Which GIC architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum GicVersion {
    /// GICv2 (memory-mapped CPU interface).
    V2,
    /// GICv3/v4 (system-register CPU interface, redistributors).
    V3,
}

impl GicVersion {
    /// "v2" or "v3".
    pub fn name(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V3 => "v3",
        }
    }
}

/// Where the GIC's register frames are (from the device tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicFrames {
    /// GICv2: distributor and CPU interface.
    V2 {
        /// GICD base.
        gicd: usize,
        /// GICC base.
        gicc: usize,
    },
    /// GICv3: distributor and the first redistributor.
    V3 {
        /// GICD base.
        gicd: usize,
        /// GICR base (redistributors are contiguous from here).
        gicr: usize,
    },
}

impl GicFrames {
    /// The architecture these frames belong to.
    pub fn version(&self) -> GicVersion {
        match self {
            Self::V2 { .. } => GicVersion::V2,
            Self::V3 { .. } => GicVersion::V3,
        }
    }
}

enum Driver {
    V2(GicV2<'static>),
    V3(GicV3<'static>),
}

// SAFETY: the driver only holds MMIO pointers; the GIC may be programmed from any core, and
// the surrounding spin lock serialises access.
unsafe impl Send for Driver {}

static GIC: SpinLock<Option<Driver>> = SpinLock::new(None);

/// GICv2 without Security Extensions signals Group 0 as IRQ; with them, we (non-secure) own
/// Group 1. 0 = Group 0, 1 = Group 1 (GICv3 always uses Group 1).
static ACK_GROUP: AtomicU8 = AtomicU8::new(1);

/// Errors from GIC set-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicSetupError {
    /// `init_primary` was not called.
    NotInitialised,
    /// The GICv3 redistributor frames could not be walked.
    Redistributors,
    /// No redistributor reports the calling core's MPIDR.
    NoRedistributorForCore(u64),
    /// The interrupt could not be enabled.
    CannotEnable(u32),
    /// INTID out of range.
    BadIntId(u32),
    /// An interrupt controller was installed already.
    AlreadyInstalled,
}

fn ack_group() -> InterruptGroup {
    if ACK_GROUP.load(Ordering::Relaxed) == 0 {
        InterruptGroup::Group0
    } else {
        InterruptGroup::Group1
    }
}

fn v3_index_of_current_core(gic: &mut GicV3<'static>, cpus: usize) -> Result<usize, GicSetupError> {
    let me = crate::cpu::mpidr();
    (0..cpus)
        .find(|&i| {
            gic.gicr_typer(i)
                .map(|t| t.core_mpidr() & crate::cpu::MPIDR_AFFINITY_MASK == me)
                .unwrap_or(false)
        })
        .ok_or(GicSetupError::NoRedistributorForCore(me))
}

static V3_CPUS: AtomicUsize = AtomicUsize::new(0);

/// Initialises the distributor and the calling (primary) core's CPU interface, and installs
/// the IRQ dispatcher.
///
/// # Safety
///
/// `frames` must be the GIC of this machine, mapped as device memory, with no other driver
/// instance or alias in use. Call once, on the primary core, before starting secondaries.
pub unsafe fn init_primary(frames: GicFrames, cpu_count: usize) -> Result<(), GicSetupError> {
    let driver = match frames {
        GicFrames::V2 { gicd, gicc } => {
            // SAFETY: the caller guarantees the frames are this GIC's, mapped, unaliased.
            let mut gic = unsafe { GicV2::new(gicd as *mut _, gicc as *mut _) };
            let secure_ext = gic.typer().has_security_extension();
            ACK_GROUP.store(u8::from(secure_ext), Ordering::Relaxed);
            gic.setup();
            Driver::V2(gic)
        }
        GicFrames::V3 { gicd, gicr } => {
            let gicd = NonNull::new(gicd as *mut _).ok_or(GicSetupError::Redistributors)?;
            let gicr = NonNull::new(gicr as *mut _).ok_or(GicSetupError::Redistributors)?;
            // SAFETY: the caller guarantees the frames are this GIC's, mapped, unaliased.
            let mut gic = unsafe { GicV3::new(UniqueMmioPointer::new(gicd), gicr, cpu_count) }
                .map_err(|_| GicSetupError::Redistributors)?;
            V3_CPUS.store(cpu_count, Ordering::Relaxed);
            let me = v3_index_of_current_core(&mut gic, cpu_count)?;
            gic.setup(me);
            GicCpuInterface::set_priority_mask(0xff);
            ACK_GROUP.store(1, Ordering::Relaxed);
            Driver::V3(gic)
        }
    };
    let fast = match driver {
        Driver::V2(_) => 2,
        Driver::V3(_) => 3,
    };
    *GIC.lock() = Some(driver);
    VERSION_FAST.store(fast, Ordering::Release);
    crate::irq::install(&GIC_CONTROLLER).map_err(|_| GicSetupError::AlreadyInstalled)
}

/// The GIC as the IRQ dispatcher's controller ([`crate::irq`]), installed by
/// [`init_primary`]. IDs are GIC INTIDs.
#[derive(Debug)]
pub struct Gic;

/// The one GIC instance [`init_primary`] installs.
pub static GIC_CONTROLLER: Gic = Gic;

impl From<GicSetupError> for IrqError {
    fn from(e: GicSetupError) -> Self {
        match e {
            GicSetupError::NotInitialised => IrqError::NotInitialised,
            GicSetupError::AlreadyInstalled => IrqError::AlreadyInstalled,
            GicSetupError::Redistributors => {
                IrqError::Controller("GICv3 redistributor frames cannot be walked", 0)
            }
            GicSetupError::NoRedistributorForCore(m) => {
                IrqError::Controller("no GICv3 redistributor for the core with MPIDR", m)
            }
            GicSetupError::CannotEnable(id) => IrqError::CannotEnable(id),
            GicSetupError::BadIntId(id) => IrqError::BadId(id),
        }
    }
}

impl InterruptController for Gic {
    fn name(&self) -> &'static str {
        match version_fast() {
            Some(GicVersion::V3) => "gic-v3",
            _ => "gic-v2",
        }
    }

    fn id_limit(&self) -> u32 {
        crate::irq::MAX_IRQ_ID as u32
    }

    fn init_this_core(&self) -> Result<(), IrqError> {
        Ok(init_secondary()?)
    }

    fn enable_private(&self, id: u32, priority: u8) -> Result<(), IrqError> {
        Ok(enable_private(id, priority)?)
    }

    fn enable_shared(
        &self,
        id: u32,
        priority: u8,
        trigger: dmasync_hal::irq::Trigger,
    ) -> Result<(), IrqError> {
        Ok(enable_shared(
            id,
            priority,
            trigger == dmasync_hal::irq::Trigger::Edge,
        )?)
    }

    fn acknowledge(&self) -> Option<u32> {
        let group = ack_group();
        let intid = if matches!(version_fast(), Some(GicVersion::V3)) {
            GicCpuInterface::get_and_acknowledge_interrupt(group)
        } else {
            match GIC.lock().as_mut() {
                Some(Driver::V2(gic)) => gic.get_and_acknowledge_interrupt(group),
                _ => None,
            }
        };
        intid.map(u32::from)
    }

    fn end_of_interrupt(&self, id: u32) {
        let Ok(intid) = IntId::try_from(id) else {
            return;
        };
        let group = ack_group();
        if matches!(version_fast(), Some(GicVersion::V3)) {
            GicCpuInterface::end_interrupt(intid, group);
        } else if let Some(Driver::V2(gic)) = GIC.lock().as_mut() {
            gic.end_interrupt(intid, group);
        }
    }
}

/// Brings up the calling secondary core's CPU interface (GICv2: its banked registers; GICv3:
/// wakes its redistributor, enables the system-register interface and Group 1).
pub fn init_secondary() -> Result<(), GicSetupError> {
    let mut guard = GIC.lock();
    match guard.as_mut().ok_or(GicSetupError::NotInitialised)? {
        Driver::V2(gic) => gic.setup(),
        Driver::V3(gic) => {
            let me = v3_index_of_current_core(gic, V3_CPUS.load(Ordering::Relaxed))?;
            gic.init_cpu(me);
            GicCpuInterface::enable_group1(true);
            GicCpuInterface::set_priority_mask(0xff);
        }
    }
    Ok(())
}

/// Which GIC is driving interrupts, if initialised.
pub fn version() -> Option<GicVersion> {
    version_fast()
}

/// Enables a private interrupt (SGI/PPI, e.g. the timer) on the calling core, with
/// `priority` (lower is more urgent).
fn enable_private(intid: u32, priority: u8) -> Result<(), GicSetupError> {
    let id = IntId::try_from(intid).map_err(|_| GicSetupError::BadIntId(intid))?;
    if !id.is_private() {
        return Err(GicSetupError::BadIntId(intid));
    }
    let mut guard = GIC.lock();
    match guard.as_mut().ok_or(GicSetupError::NotInitialised)? {
        Driver::V2(gic) => {
            // Known arm-gic 0.10 limitation: GicV2::set_interrupt_priority writes the whole
            // 32-bit GICD_IPRIORITYR word, so the three other INTIDs sharing it get priority
            // 0. Harmless while every interrupt we enable uses the same priority and no other
            // one shares its word; GICv3 uses byte accesses and is not affected.
            gic.set_interrupt_priority(id, priority);
            gic.enable_interrupt(id, true)
                .map_err(|_| GicSetupError::CannotEnable(intid))?;
        }
        Driver::V3(gic) => {
            let me = v3_index_of_current_core(gic, V3_CPUS.load(Ordering::Relaxed))?;
            gic.set_group(id, Some(me), Group::Group1NS)
                .map_err(|_| GicSetupError::CannotEnable(intid))?;
            gic.set_interrupt_priority(id, Some(me), priority)
                .map_err(|_| GicSetupError::CannotEnable(intid))?;
            gic.enable_interrupt(id, Some(me), true)
                .map_err(|_| GicSetupError::CannotEnable(intid))?;
        }
    }
    Ok(())
}

/// Enables a shared peripheral interrupt with `priority` and `trigger`, routed by the GIC's
/// defaults (GICv2: to CPU interface 0 via the reset ITARGETSR; GICv3: affinity routing).
fn enable_shared(intid: u32, priority: u8, edge: bool) -> Result<(), GicSetupError> {
    let id = IntId::try_from(intid).map_err(|_| GicSetupError::BadIntId(intid))?;
    let trigger = if edge { Trigger::Edge } else { Trigger::Level };
    let mut guard = GIC.lock();
    match guard.as_mut().ok_or(GicSetupError::NotInitialised)? {
        Driver::V2(gic) => {
            gic.set_trigger(id, trigger);
            gic.set_interrupt_priority(id, priority);
            gic.enable_interrupt(id, true)
                .map_err(|_| GicSetupError::CannotEnable(intid))?;
        }
        Driver::V3(gic) => {
            let e = |_| GicSetupError::CannotEnable(intid);
            gic.set_trigger(id, None, trigger).map_err(e)?;
            gic.set_interrupt_priority(id, None, priority).map_err(e)?;
            gic.enable_interrupt(id, None, true).map_err(e)?;
        }
    }
    Ok(())
}

/// 0 = not initialised, 2 = GICv2, 3 = GICv3: read in IRQ context without the lock.
static VERSION_FAST: AtomicU8 = AtomicU8::new(0);

fn version_fast() -> Option<GicVersion> {
    match VERSION_FAST.load(Ordering::Acquire) {
        2 => Some(GicVersion::V2),
        3 => Some(GicVersion::V3),
        _ => None,
    }
}
