//! Turns the `misuse-checks` feature into the cfgs the code tests, so one name says
//! "checks compiled in" instead of a three-part `all(...)` at every site.
//!
//! - `dmasync_misuse`: the feature is on and the build has debug assertions (tests, dev
//!   builds). Release builds, and so `cargo bench`, never carry the checks even though the
//!   crate's own dev-dependency turns the feature on for every build of its test targets.
//! - `dmasync_misuse_thread`: additionally the checks that need a thread identity (a second
//!   context on one thread, a plain lock of a mutex the thread's context holds) can run:
//!   hosted builds (std thread-locals), not bare metal (the platform offers no identity of
//!   the calling context) and not loom (whose threads share one OS thread's locals).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(dmasync_misuse)");
    println!("cargo::rustc-check-cfg=cfg(dmasync_misuse_thread)");
    println!("cargo::rerun-if-changed=build.rs");
    let feature = std::env::var_os("CARGO_FEATURE_MISUSE_CHECKS").is_some();
    let debug = std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some();
    if !(feature && debug) {
        return;
    }
    println!("cargo::rustc-cfg=dmasync_misuse");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // `--cfg loom` arrives through RUSTFLAGS, which build scripts see as CARGO_CFG_LOOM.
    let loom = std::env::var_os("CARGO_CFG_LOOM").is_some();
    if os != "none" && !loom {
        println!("cargo::rustc-cfg=dmasync_misuse_thread");
    }
}
