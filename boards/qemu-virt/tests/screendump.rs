//! The screendump protocol end to end (doc/console-protocol.md): the guest asks for a
//! screendump and waits; xtask takes it through QMP, saves the PNG and acknowledges with one
//! byte on the UART. Nothing here drives the display, so QEMU shows its 640x480 placeholder
//! ("Display output is not active.", the same for virtio-gpu and ramfb; a machine without
//! any display device would show a 640x384 text console instead, and xtask would fail the
//! run for the size). What it shows is not judged here (pixel comparisons belong to tests
//! with `screendump = "compare-reference"`), only that the host served the request: the
//! acknowledgement arrives, and xtask fails the run if the dump failed or was not 640x480.
//!
//! Expected output: the marker line, `test <case> ... ok` for both cases, then
//! `verdict: ok (2 cases)`; exit code 0.
#![no_std]
#![no_main]

use core::time::Duration;

use dmasync_qemu_virt::Board;
use dmasync_qemu_virt::arch::console;
use dmasync_qemu_virt::arch::testkit::{self, Test, TestResult};
use dmasync_qemu_virt::arch::{ensure, test_info, timer};

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_qemu_virt::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "host_acknowledges_screendump",
                run: host_acknowledges_screendump,
            },
            Test {
                name: "no_request_no_acknowledgement",
                run: no_request_no_acknowledgement,
            },
        ],
    )
}

fn host_acknowledges_screendump(_: &Board) -> TestResult {
    let start = timer::counter();
    let acked = console::request_screendump(0, 640, 480, console::HOST_ACK_TIMEOUT);
    let waited_us = (timer::counter() - start) * 1_000_000 / timer::counter_frequency();
    ensure!(
        acked.is_ok(),
        "the host did not acknowledge the screendump request: {}",
        acked.unwrap_err()
    );
    test_info!("screendump acknowledged after {waited_us} us");
    Ok(())
}

/// The host sends bytes only in answer to a request: without one, the wait runs into its
/// time-out, and not before it.
fn no_request_no_acknowledgement(_: &Board) -> TestResult {
    let patience = Duration::from_millis(200);
    let start = timer::counter();
    let got = console::wait_for_host_ack(patience);
    let waited_ns = u128::from(timer::counter() - start) * 1_000_000_000
        / u128::from(timer::counter_frequency());
    ensure!(
        got.is_err(),
        "a byte {:#04x} arrived although nothing was requested",
        got.unwrap_or_default()
    );
    ensure!(
        waited_ns >= patience.as_nanos(),
        "gave up after {waited_ns} ns, before the {} ms time-out",
        patience.as_millis()
    );
    Ok(())
}
