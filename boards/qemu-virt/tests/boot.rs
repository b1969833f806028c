//! Boot: console and device-tree parsing, cross-checked against the hardware.
//!
//! Expected output (plain text; board.toml's per-variant `expect` lists match the banner that
//! `board::init` prints): `qemu-virt: EL1 cpus=2 ram=0x40000000+128MiB gic=v2 ...`, one
//! `test <case> ... ok` per case, `verdict: ok (9 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use dmasync_aarch64::gic::GicVersion;
use dmasync_qemu_virt::arch::testkit::{self, Test, TestResult};
use dmasync_qemu_virt::arch::{console, cpu, ensure, heap, psci, test_info, timer};
use dmasync_qemu_virt::{Board, memory_map};

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_qemu_virt::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "console_embedded_io",
                run: console_embedded_io,
            },
            Test {
                name: "el1_and_fp",
                run: el1_and_fp,
            },
            Test {
                name: "dt_found",
                run: dt_found,
            },
            Test {
                name: "dt_ram",
                run: dt_ram,
            },
            Test {
                name: "dt_cpus",
                run: dt_cpus,
            },
            Test {
                name: "dt_gic_matches_hardware",
                run: dt_gic_matches_hardware,
            },
            Test {
                name: "dt_timer",
                run: dt_timer,
            },
            Test {
                name: "psci_version",
                run: psci_version,
            },
            Test {
                name: "heap",
                run: heap_works,
            },
        ],
    )
}

fn console_embedded_io(_: &Board) -> TestResult {
    let mut con = console::Console;
    let line = b"    console: written through embedded_io::Write\n";
    let r = embedded_io::Write::write_all(&mut con, line);
    ensure!(r.is_ok(), "write_all failed: {r:?}");
    ensure!(embedded_io::Write::flush(&mut con).is_ok(), "flush failed");
    Ok(())
}

fn el1_and_fp(board: &Board) -> TestResult {
    ensure!(board.el == 1, "running at EL{}, expected EL1", board.el);
    // Plain virt enters at EL1, virtualization=on at EL2 (which the boot path leaves).
    ensure!(
        board.entry_el == 1 || board.entry_el == 2,
        "entered at EL{}, expected EL1 or EL2 on virt",
        board.entry_el
    );
    ensure!(
        cpu::current_el() == 1,
        "CurrentEL says EL{}",
        cpu::current_el()
    );
    let cpacr: u64;
    // SAFETY: reading CPACR_EL1 at EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, cpacr_el1", out(reg) cpacr, options(nomem, nostack)) };
    ensure!(
        (cpacr >> 20) & 3 == 3,
        "CPACR_EL1.FPEN = {:#b}, FP/SIMD would trap",
        (cpacr >> 20) & 3
    );
    // Some real floating point, through the FP registers.
    let x = core::hint::black_box(2.0f64);
    ensure!(x * 1.5 == 3.0, "FP arithmetic is wrong");
    Ok(())
}

fn dt_found(board: &Board) -> TestResult {
    let (addr, size) = board.dt.dtb;
    test_info!(
        "device tree at {addr:#x}, {size} bytes, found via {}, model {:?}",
        if board.dt.from_x0 {
            "x0"
        } else {
            "the RAM-base probe"
        },
        board.dt.model
    );
    ensure!(
        addr == memory_map::DTB_PROBE_ADDRESS || board.dt.from_x0,
        "device tree at {addr:#x}, neither x0 nor the probe address"
    );
    ensure!(
        size > 0x40 && size <= 2 << 20,
        "implausible device tree size {size}"
    );
    ensure!(
        board.dt.compatible == "linux,dummy-virt",
        "root compatible {:?}, expected QEMU virt's \"linux,dummy-virt\"",
        board.dt.compatible
    );
    Ok(())
}

fn dt_ram(board: &Board) -> TestResult {
    let (base, size) = board.dt.ram;
    ensure!(
        base == memory_map::RAM_BASE,
        "RAM base {base:#x}, expected {:#x}",
        memory_map::RAM_BASE
    );
    ensure!(
        size >= 64 << 20 && size % (1 << 20) == 0,
        "RAM size {size:#x} is not whole MiB >= 64"
    );
    let (dtb, dtb_size) = board.dt.dtb;
    ensure!(
        dtb >= base && dtb + dtb_size <= base + size,
        "device tree outside RAM"
    );
    let (hs, hz) = board.heap;
    ensure!(
        hs >= base && hs + hz <= base + size,
        "heap {hs:#x}+{hz:#x} outside RAM"
    );
    ensure!(hz >= 1 << 20, "heap is only {hz} bytes");
    let overlaps = |s: usize, len: usize| s < dtb + dtb_size && dtb < s + len;
    ensure!(
        !overlaps(hs, hz),
        "device tree {dtb:#x}+{dtb_size:#x} overlaps the heap"
    );
    let (fs, fz) = board.free_ram;
    ensure!(
        !overlaps(fs, fz),
        "device tree overlaps the free RAM {fs:#x}+{fz:#x}"
    );
    ensure!(fs >= hs + hz || fs + fz <= hs, "free RAM overlaps the heap");
    test_info!(
        "heap {hs:#x}+{} KiB, free RAM {fs:#x}+{} KiB",
        hz >> 10,
        fz >> 10
    );
    Ok(())
}

fn dt_cpus(board: &Board) -> TestResult {
    let cpus = board.dt.cpu_mpidrs();
    ensure!(!cpus.is_empty(), "no CPUs");
    ensure!(
        cpus.contains(&cpu::mpidr()),
        "boot core MPIDR {:#x} not in {cpus:x?}",
        cpu::mpidr()
    );
    for (i, a) in cpus.iter().enumerate() {
        ensure!(!cpus[i + 1..].contains(a), "MPIDR {a:#x} listed twice");
    }
    ensure!(cpu::cpu_index().is_some(), "boot core has no logical index");
    Ok(())
}

fn dt_gic_matches_hardware(board: &Board) -> TestResult {
    let rev = memory_map::gic_arch_revision(&board.dt.gic);
    let want = match board.gic_version() {
        GicVersion::V2 => 2,
        GicVersion::V3 => 3,
    };
    ensure!(
        rev == want || (want == 3 && rev == 4),
        "device tree says GIC{}, GICD_PIDR2.ArchRev says {rev}",
        board.gic_version().name()
    );
    Ok(())
}

fn dt_timer(board: &Board) -> TestResult {
    let id = board.dt.timer_intid;
    ensure!((16..32).contains(&id), "timer INTID {id} is not a PPI");
    ensure!(
        timer::counter_frequency() > 1_000_000,
        "CNTFRQ_EL0 = {}",
        timer::counter_frequency()
    );
    Ok(())
}

fn psci_version(board: &Board) -> TestResult {
    let Some(conduit) = board.dt.psci else {
        ensure!(board.dt.cpu_count == 1, "several CPUs but no PSCI");
        return Ok(());
    };
    match psci::version(conduit) {
        Ok((major, minor)) => {
            test_info!("PSCI {major}.{minor} via {}", conduit.name());
            ensure!(
                (major, minor) >= (0, 2),
                "PSCI {major}.{minor} has no CPU_ON function IDs"
            );
            Ok(())
        }
        Err(e) => Err(testkit::Failure(alloc::format!(
            "PSCI_VERSION failed: {e:?}"
        ))),
    }
}

fn heap_works(_: &Board) -> TestResult {
    let before = heap::used();
    let v: Vec<u32> = (0..10_000u32).collect();
    ensure!(heap::used() >= before + 40_000, "heap usage did not grow");
    ensure!(
        v.iter().copied().map(u64::from).sum::<u64>() == 49_995_000,
        "heap data corrupted"
    );
    drop(v);
    ensure!(
        heap::used() == before,
        "heap leaked {} bytes",
        heap::used() - before
    );
    Ok(())
}
