//! Boot: the console through the i.MX UART, the boot path from EL2 down to EL1, PSCI over
//! SMC, the cores PSCI reports, the GIC and the timer the fixed memory map names, checked
//! against the hardware.
//!
//! Expected output (plain text; board.toml's `expect` matches the banner `board::init`
//! prints): `imx8mp-evk: EL1 cpus=4 ram=0x40000000+128MiB gic=v3 psci=smc timer=8000000Hz
//! intid=30 entered=EL2`, one `test <case> ... ok` per case, `verdict: ok (8 cases)`; exit
//! code 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use dmasync_imx8mp_evk::arch::testkit::{self, Test, TestResult};
use dmasync_imx8mp_evk::arch::{console, cpu, ensure, heap, psci, test_info, timer};
use dmasync_imx8mp_evk::{Board, memory_map};

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_imx8mp_evk::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "console_embedded_io",
                run: console_embedded_io,
            },
            Test {
                name: "entered_el2_runs_el1_with_fp",
                run: entered_el2_runs_el1_with_fp,
            },
            Test {
                name: "psci_over_smc",
                run: psci_over_smc,
            },
            Test {
                name: "cpus_from_psci",
                run: cpus_from_psci,
            },
            Test {
                name: "gic_is_v3",
                run: gic_is_v3,
            },
            Test {
                name: "timer_8mhz",
                run: timer_8mhz,
            },
            Test {
                name: "ram_layout",
                run: ram_layout,
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
    let line = b"    console: written through embedded_io::Write to UART2\n";
    let r = embedded_io::Write::write_all(&mut con, line);
    ensure!(r.is_ok(), "write_all failed: {r:?}");
    ensure!(embedded_io::Write::flush(&mut con).is_ok(), "flush failed");
    Ok(())
}

fn entered_el2_runs_el1_with_fp(board: &Board) -> TestResult {
    // QEMU's Linux-style boot of a raw image enters at EL2 (hw/arm/boot.c), as U-Boot's
    // booti does on the EVK.
    ensure!(
        board.entry_el == 2,
        "entered at EL{}, expected EL2 (raw image)",
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
    // Real floating point, through the FP registers: CPTR_EL2.TFP must be clear.
    let x = core::hint::black_box(2.0f64);
    ensure!(x * 1.5 == 3.0, "FP arithmetic is wrong");
    Ok(())
}

fn psci_over_smc(board: &Board) -> TestResult {
    let conduit = board
        .psci()
        .ok_or_else(|| testkit::Failure("no PSCI conduit".into()))?;
    ensure!(conduit == psci::Conduit::Smc, "conduit {}", conduit.name());
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

fn cpus_from_psci(board: &Board) -> TestResult {
    let cpus = board.cpu_mpidrs();
    ensure!(
        (1..=4).contains(&cpus.len()),
        "{} cores; the SoC has 1 to 4",
        cpus.len()
    );
    ensure!(
        cpu::cpu_index() == Some(0) && cpu::mpidr() == 0,
        "boot core is {:?} with MPIDR {:#x}, expected logical 0, MPIDR 0",
        cpu::cpu_index(),
        cpu::mpidr()
    );
    // No secondary has been started: PSCI must say the boot core is on and the others off.
    use smccc::psci::AffinityState;
    for &m in cpus {
        let state = psci::affinity_info(psci::Conduit::Smc, m)
            .map_err(|e| testkit::Failure(alloc::format!("AFFINITY_INFO({m:#x}): {e:?}")))?;
        let want = if m == 0 {
            AffinityState::On
        } else {
            AffinityState::Off
        };
        ensure!(state == want, "core {m:#x} is {state:?}, expected {want:?}");
    }
    // The core after the last one is absent: that is where the count stopped.
    if let Some(&next) = memory_map::CPU_MPIDRS.get(cpus.len()) {
        let r = psci::affinity_info(psci::Conduit::Smc, next);
        ensure!(
            r == Err(smccc::psci::Error::InvalidParameters),
            "core {next:#x} beyond the count answers {r:?}"
        );
    }
    Ok(())
}

fn gic_is_v3(_: &Board) -> TestResult {
    let rev = memory_map::gic_arch_revision();
    ensure!(
        rev == 3 || rev == 4,
        "GICD_PIDR2.ArchRev says {rev}, the memory map says GICv3"
    );
    Ok(())
}

fn timer_8mhz(board: &Board) -> TestResult {
    // The i.MX 8M Plus system counter runs at 8 MHz (QEMU fsl-imx8mp.c sets cntfrq 8000000).
    ensure!(
        timer::counter_frequency() == 8_000_000,
        "CNTFRQ_EL0 = {}",
        timer::counter_frequency()
    );
    let id = board.timer_intid();
    ensure!((16..32).contains(&id), "timer INTID {id} is not a PPI");
    let (t0, t1) = board.boot_ticks;
    ensure!(t1 >= t0, "the counter went backwards during init");
    Ok(())
}

fn ram_layout(board: &Board) -> TestResult {
    let (base, size) = board.ram;
    let end = base + size;
    ensure!(
        base == memory_map::RAM_BASE && memory_map::LOAD_ADDRESS == base + 0x8_0000,
        "RAM base {base:#x}, image at {:#x}",
        memory_map::LOAD_ADDRESS
    );
    let main_addr = main as *const () as usize;
    ensure!(
        (memory_map::LOAD_ADDRESS..end).contains(&main_addr),
        "code at {main_addr:#x} is not in the image"
    );
    let (hs, hz) = board.heap;
    ensure!(
        hs >= memory_map::LOAD_ADDRESS && hs + hz <= end,
        "heap {hs:#x}+{hz:#x} outside RAM"
    );
    ensure!(hz >= 1 << 20, "heap is only {hz} bytes");
    let (fs, fz) = board.free_ram;
    ensure!(
        fs == hs + hz && fs + fz == end,
        "free RAM {fs:#x}+{fz:#x} is not the rest"
    );
    test_info!(
        "heap {hs:#x}+{} KiB, free RAM {fs:#x}+{} KiB",
        hz >> 10,
        fz >> 10
    );
    Ok(())
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
