//! Link every image of this crate (the demo and each on-target test) with our memory map,
//! aarch64-rt's section layout (image.ld, put on the search path by aarch64-rt's build
//! script) and defmt's table (defmt.x).

use std::env;

fn main() {
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-search={dir}");
        println!("cargo:rustc-link-arg=-Tmemory.ld");
        println!("cargo:rustc-link-arg=-Timage.ld");
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }
    println!("cargo:rerun-if-changed=memory.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
