//! Misuse the type system rejects: each `tests/compile_fail/*.rs` must fail to compile,
//! with the diagnostic recorded next to it (`*.stderr`; refresh with
//! `TRYBUILD=overwrite cargo test -p dmasync-sync --test compile_fail`).
#![cfg(not(any(loom, miri)))]

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
