//! Interrupt controllers as a CPU's IRQ entry sees them.
//!
//! The architecture crate owns the IRQ vector and a table of handlers by interrupt ID; the
//! board picks the controller (a GIC, the BCM2836 local controller with the BCM2835 IC
//! behind it, ...) and installs it there once. The controller only has to answer "which
//! interrupt is pending for the calling core" and switch interrupts on; everything above it
//! (tick, watchdog, driver completions) speaks in IDs and never names the controller.
//!
//! What an ID means is the controller's: GIC INTIDs for a GIC, the numbering documented by
//! the controller's driver otherwise. A board hands its devices the IDs from its memory map.

/// How a shared (peripheral) interrupt line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Asserted while the device wants service.
    Level,
    /// One event per rising edge.
    Edge,
}

/// Why an interrupt could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqError {
    /// No controller is installed, or it was not initialised.
    NotInitialised,
    /// A controller is installed already (there is one per machine).
    AlreadyInstalled,
    /// The ID is beyond what the controller (or the handler table) covers.
    BadId(u32),
    /// The ID is not a per-core (private) interrupt of this controller.
    NotPrivate(u32),
    /// The ID is not a shared (peripheral) interrupt of this controller.
    NotShared(u32),
    /// The controller cannot give this interrupt that trigger (e.g. an edge on a
    /// level-only controller).
    UnsupportedTrigger(u32),
    /// The controller refused to enable the interrupt.
    CannotEnable(u32),
    /// A controller-specific failure, with the value it concerns (e.g. an MPIDR).
    Controller(&'static str, u64),
}

/// One machine's interrupt controller, shared by all cores.
///
/// Implementations must be callable from any core and from IRQ context (`acknowledge` and
/// `end_of_interrupt` run inside the IRQ handler with IRQs masked); none may block.
pub trait InterruptController: Sync {
    /// Short name for reports ("gic-v2", "gic-v3", "bcm2836").
    fn name(&self) -> &'static str;

    /// IDs this controller can deliver are below this.
    fn id_limit(&self) -> u32;

    /// Sets up the calling core's part of the controller (a secondary's CPU interface or
    /// per-core registers). The boot core's part is done by the controller's own init.
    fn init_this_core(&self) -> Result<(), IrqError>;

    /// Enables the per-core interrupt `id` (a timer, an inter-core interrupt) on the calling
    /// core only, with `priority` (lower is more urgent) where the controller has priorities.
    fn enable_private(&self, id: u32, priority: u8) -> Result<(), IrqError>;

    /// Enables the shared peripheral interrupt `id`, delivered to the controller's default
    /// core (GIC: its routing defaults; BCM2836: the GPU-interrupt routing, core 0).
    fn enable_shared(&self, id: u32, priority: u8, trigger: Trigger) -> Result<(), IrqError>;

    /// The highest-priority interrupt pending for the calling core, acknowledged (for a
    /// controller with an acknowledge step), or `None` if nothing is pending (spurious).
    fn acknowledge(&self) -> Option<u32>;

    /// Ends the handling of `id` returned by [`acknowledge`](Self::acknowledge). Level
    /// sources must have been quietened by the handler before this.
    fn end_of_interrupt(&self, id: u32);
}
