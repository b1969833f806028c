//! raspi3b's [`dmasync_scenarios::Target`] for the shared scenarios (`smp_stress`,
//! `misbehaving_client`): the AArch64 boards share one implementation,
//! boards/common/aarch64/scenario_target.rs, over the board crate the test binary names `board`.

#[path = "../../../common/aarch64/scenario_target.rs"]
mod shared;

pub use shared::Aarch64Board as Pi3;
