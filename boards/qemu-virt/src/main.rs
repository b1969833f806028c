//! The demo: boots the board, starts every core, takes a few timer ticks, logs what it found
//! (defmt, info level) and exits 0.
#![no_std]
#![no_main]

use board_qemu_virt::arch::{cpu, exit_code, semihosting, timer};
use board_qemu_virt::{self as board, ticks};
use dmasync_hal::clock::ticks_to_ns;

// 40 pages (160 KiB) of boot stack. (aarch64-rt's one-argument form calls `entry!` unqualified,
// so the two-argument form is used through our re-export.)
dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _x1: u64, _x2: u64, _x3: u64) -> ! {
    let b = board::init(x0);
    let hz = b.timer_hz();
    defmt::info!(
        "board {=str} ({=str}), EL{=u8}",
        board::BOARD_NAME,
        b.dt.model,
        b.el
    );
    defmt::info!(
        "RAM {=usize:#x} + {=usize} MiB (device tree at {=usize:#x}, from {=str})",
        b.dt.ram.0,
        b.dt.ram.1 >> 20,
        b.dt.dtb.0,
        if b.dt.from_x0 { "x0" } else { "RAM-base probe" }
    );
    defmt::info!(
        "{=usize} CPUs, GIC {=str}, timer {=u64} Hz on INTID {=u32}",
        b.dt.cpu_count,
        b.gic_version().name(),
        hz,
        b.dt.timer_intid
    );

    let expected = b.dt.cpu_count - 1;
    match board::start_secondaries(&b, board::secondary_idle) {
        Ok(n) => defmt::info!("started {=usize} secondary cores", n),
        Err(e) => board::setup_failed(format_args!("starting secondaries: {e:?}")),
    }
    let online = board::wait_for_secondaries(expected, board::SECONDARIES_PATIENCE_S * hz);
    if online != expected {
        board::setup_failed(format_args!(
            "only {online} of {expected} secondaries reported in"
        ));
    }

    // A few 10 ms ticks on the boot core.
    ticks::start_periodic(hz / 100);
    while ticks::count() < 5 {
        cpu::wait_for_event();
    }
    ticks::stop();
    defmt::info!(
        "{=u64} timer ticks at 10 ms, worst lateness {=u64} ns",
        ticks::count(),
        ticks_to_ns(ticks::max_lateness(), hz)
    );

    let (t0, t1) = b.boot_ticks;
    defmt::info!(
        "boot: entered main at {=u64} us, board ready at {=u64} us, now {=u64} us",
        ticks_to_ns(t0, hz) / 1000,
        ticks_to_ns(t1, hz) / 1000,
        ticks_to_ns(timer::counter(), hz) / 1000
    );
    semihosting::exit(exit_code::OK)
}
