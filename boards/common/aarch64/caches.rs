//! Shared by every AArch64 board: each board's `tests/caches.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), so the body is written once.
//!
//! Caches: SCTLR_EL1 has the MMU, D-cache and I-cache on, and clean / invalidate /
//! clean+invalidate by VA run over aligned and unaligned ranges without fault, keeping data
//! where it must survive. (QEMU models no caches, so this proves the instruction sequences
//! and the partial-line rule, not coherency; that is the host simulator's job.)
//!
//! Expected output: `test <case> ... ok` per case, `verdict: ok (7 cases)`; exit code 0.

use alloc::vec;

use board::Board;
use board::arch::testkit::{self, Test, TestResult};
use board::arch::{cache, ensure, mmu, test_info, timer};
use dmasync_hal::clock::ticks_to_ns;

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = board::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "sctlr_m_c_i",
                run: sctlr_m_c_i,
            },
            Test {
                name: "line_size",
                run: line_size,
            },
            Test {
                name: "clean_keeps_data",
                run: clean_keeps_data,
            },
            Test {
                name: "clean_invalidate_keeps_data",
                run: clean_invalidate_keeps_data,
            },
            Test {
                name: "invalidate_partial_lines_keep_neighbours",
                run: invalidate_partial,
            },
            Test {
                name: "hal_cache_maintenance_trait",
                run: hal_trait,
            },
            Test {
                name: "large_and_empty_ranges",
                run: large_and_empty,
            },
        ],
    )
}

fn sctlr_m_c_i(_: &Board) -> TestResult {
    let (m, c, i) = mmu::mmu_and_caches_enabled();
    ensure!(m && c && i, "SCTLR_EL1 M={m} C={c} I={i}");
    Ok(())
}

fn line_size(_: &Board) -> TestResult {
    let l = cache::dcache_line_size();
    ensure!(
        l.is_power_of_two() && (16..=2048).contains(&l),
        "DminLine gives {l} bytes"
    );
    test_info!("smallest D-cache line: {l} bytes");
    Ok(())
}

fn pattern(i: usize) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(7)
}

fn clean_keeps_data(_: &Board) -> TestResult {
    let line = cache::dcache_line_size();
    let mut buf = vec![0u8; 8 * line + 64];
    let base = buf.as_ptr() as usize;
    let off = base.next_multiple_of(line) - base;
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(i);
    }
    // SAFETY: the ranges lie inside `buf` (heap RAM, mapped); cleaning does not change data.
    unsafe {
        cache::clean(buf.as_ptr().add(off), 4 * line); // aligned
        cache::clean(buf.as_ptr().add(off + 3), 2 * line + 5); // unaligned both ends
    }
    ensure!(
        buf.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "clean changed data"
    );
    Ok(())
}

fn clean_invalidate_keeps_data(_: &Board) -> TestResult {
    let line = cache::dcache_line_size();
    let mut buf = vec![0u8; 8 * line + 64];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let base = buf.as_ptr() as usize;
    let off = base.next_multiple_of(line) - base;
    // SAFETY: inside `buf`; clean+invalidate writes dirty data back before dropping lines.
    unsafe {
        cache::clean_invalidate(buf.as_ptr().add(off), 4 * line);
        cache::clean_invalidate(buf.as_ptr().add(off + line / 2), 3 * line + 1);
    }
    ensure!(
        buf.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "clean+invalidate lost data"
    );
    Ok(())
}

fn invalidate_partial(_: &Board) -> TestResult {
    let line = cache::dcache_line_size();
    let mut buf = vec![0u8; 6 * line];
    let base = buf.as_ptr() as usize;
    let a = base.next_multiple_of(line) - base; // first aligned offset
    // Range [a + 5, a + 3*line + 9): partial first line, two whole lines, partial last line.
    let (start, end) = (a + 5, a + 3 * line + 9);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(i);
    }
    // Make the range's contents reach memory, then dirty the neighbours that share its end
    // lines without cleaning them: invalidating the range must not lose them.
    // SAFETY: inside `buf`.
    unsafe { cache::clean(buf.as_ptr().add(start), end - start) };
    for i in (a..start).chain(end..a + 4 * line) {
        buf[i] = 0xA5;
    }
    // SAFETY: inside `buf`; the range's own data was cleaned above, and the neighbours in the
    // partial end lines are cleaned+invalidated, not discarded.
    unsafe { cache::invalidate(buf.as_mut_ptr().add(start), end - start) };
    for i in (a..start).chain(end..a + 4 * line) {
        ensure!(
            buf[i] == 0xA5,
            "neighbour byte at offset {i} lost its dirty value"
        );
    }
    for (i, &b) in buf.iter().enumerate().take(end).skip(start) {
        ensure!(b == pattern(i), "cleaned byte at offset {i} changed");
    }
    // Small ranges inside one line and straddling two lines.
    // SAFETY: inside `buf`; the bytes were cleaned above or written since (neighbours).
    unsafe {
        cache::clean(buf.as_ptr().add(a + line + 3), 2);
        cache::invalidate(buf.as_mut_ptr().add(a + line + 3), 2);
        cache::clean(buf.as_ptr().add(a + 2 * line - 2), 4);
        cache::invalidate(buf.as_mut_ptr().add(a + 2 * line - 2), 4);
    }
    ensure!(
        buf[a + line + 3] == pattern(a + line + 3),
        "one-line invalidate lost cleaned data"
    );
    Ok(())
}

fn hal_trait(_: &Board) -> TestResult {
    use dmasync_hal::cache::{CacheMaintenance, CacheOp, VirtRange};
    let dc = cache::DataCache;
    ensure!(
        dc.line_size() == cache::dcache_line_size(),
        "line size differs"
    );
    ensure!(
        !dc.is_coherent(),
        "AArch64 by-VA maintenance must not claim coherency"
    );
    let line = dc.line_size();
    let mut buf = vec![0u8; 5 * line];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let r = VirtRange::new(buf.as_ptr() as usize + 3, 3 * line + 1);
    // SAFETY: inside `buf`; everything is cleaned before the invalidating operations.
    unsafe {
        for op in CacheOp::ALL {
            dc.perform(CacheOp::Clean, r);
            dc.perform(op, r);
        }
    }
    ensure!(
        buf.iter().enumerate().all(|(i, &b)| b == pattern(i)),
        "trait operations changed cleaned data"
    );
    Ok(())
}

fn large_and_empty(_: &Board) -> TestResult {
    let mut buf = vec![0x5Au8; 1 << 20];
    let hz = timer::counter_frequency();
    let t0 = timer::counter();
    // SAFETY: inside `buf`; the data was written and is cleaned before being invalidated.
    unsafe {
        cache::clean(buf.as_ptr(), buf.len());
        cache::clean_invalidate(buf.as_ptr(), buf.len());
        cache::clean(buf.as_ptr(), buf.len());
        cache::invalidate(buf.as_mut_ptr(), buf.len());
        cache::clean(buf.as_ptr(), 0);
        cache::invalidate(buf.as_mut_ptr(), 0);
        cache::clean_invalidate(buf.as_ptr(), 0);
    }
    let took = timer::counter() - t0;
    ensure!(
        buf.iter().all(|&b| b == 0x5A),
        "1 MiB maintenance changed data"
    );
    test_info!(
        "4 passes over 1 MiB: {} us (QEMU: no real caches)",
        ticks_to_ns(took, hz) / 1000
    );
    Ok(())
}
