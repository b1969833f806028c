//! The NXP i.MX UART (the block every i.MX 6, 7 and 8M carries), polled, for a console:
//! `embedded_io::Write`, `Read` and `ReadReady`.
//!
//! Register offsets and bits from Linux `drivers/tty/serial/imx.c` (URXD0 0x00, URTX0 0x40,
//! UCR1 0x80 ... UTS 0xb4; `URXD_CHARRDY` bit 15, `URXD_ERR` bit 14, `UTS_TXFULL` bit 4,
//! `UTS_RXEMPTY` bit 5, `UTS_TXEMPTY` bit 6) and QEMU `hw/char/imx_serial.c` (the same
//! offsets, as word indices 0x10 UTXD and 0x2d UTS1; `UTS1_TXFULL`, `UTS1_RXEMPTY`,
//! `UTS1_TXEMPTY`; URXD's `URXD_CHARRDY`/`URXD_ERR`). The driver leaves the line set-up
//! (UCR1..UCR4, UFCR, UBIR/UBMR) to whoever configured the port before us: on silicon the
//! boot loader (U-Boot's `mxc_serial`), in QEMU the model's reset, which leaves UCR1.UARTEN
//! and UCR2.TXEN set (`imx_serial_reset_at_boot`; hardware.md §1.3). It only waits for room
//! (UTS.TXFULL clear), writes UTXD, and reads URXD while UTS.RXEMPTY is clear, dropping the
//! bytes URXD marks as damaged (ERR: overrun, frame, break or parity).
//!
//! Validated by QEMU's device model (`imx.serial`) through the imx8mp-evk board's on-target
//! tests, whose every console byte goes through it, and on the host against a register block
//! in memory (tests below).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use core::convert::Infallible;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields![u32,
    /// URXD: the received character and its status (imx.c `URXD_*`).
    pub URXD [
        DATA OFFSET(0) NUMBITS(8) [],
        PRERR OFFSET(10) NUMBITS(1) [],
        BRK OFFSET(11) NUMBITS(1) [],
        FRMERR OFFSET(12) NUMBITS(1) [],
        OVRRUN OFFSET(13) NUMBITS(1) [],
        /// Any of the four errors above.
        ERR OFFSET(14) NUMBITS(1) [],
        CHARRDY OFFSET(15) NUMBITS(1) []
    ],
    /// UTS: test register, whose FIFO flags are the polled driver's status (imx.c `UTS_*`).
    pub UTS [
        TXFULL OFFSET(4) NUMBITS(1) [],
        RXEMPTY OFFSET(5) NUMBITS(1) [],
        TXEMPTY OFFSET(6) NUMBITS(1) []
    ]
];

register_structs! {
    /// One UART's register block (0xbc bytes of its 64 KiB window).
    pub UartRegisters {
        (0x00 => pub urxd: ReadOnly<u32, URXD::Register>),
        (0x04 => _reserved0),
        (0x40 => pub utxd: WriteOnly<u32>),
        (0x44 => _reserved1),
        (0x80 => pub ucr1: ReadWrite<u32>),
        (0x84 => pub ucr2: ReadWrite<u32>),
        (0x88 => pub ucr3: ReadWrite<u32>),
        (0x8c => pub ucr4: ReadWrite<u32>),
        (0x90 => pub ufcr: ReadWrite<u32>),
        (0x94 => pub usr1: ReadWrite<u32>),
        (0x98 => pub usr2: ReadWrite<u32>),
        (0x9c => pub uesc: ReadWrite<u32>),
        (0xa0 => pub utim: ReadWrite<u32>),
        (0xa4 => pub ubir: ReadWrite<u32>),
        (0xa8 => pub ubmr: ReadWrite<u32>),
        (0xac => pub ubrc: ReadOnly<u32>),
        (0xb0 => pub onems: ReadWrite<u32>),
        (0xb4 => pub uts: ReadWrite<u32, UTS::Register>),
        (0xb8 => pub umcr: ReadWrite<u32>),
        (0xbc => @END),
    }
}

/// A polled i.MX UART.
pub struct Uart<'a> {
    regs: &'a UartRegisters,
}

impl core::fmt::Debug for Uart<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Uart")
            .field("regs", &(self.regs as *const UartRegisters))
            .finish()
    }
}

impl<'a> Uart<'a> {
    /// A driver over `regs`.
    ///
    /// # Safety
    ///
    /// Nothing else may access `regs` while the driver lives (no second driver, on this core
    /// or another): the registers are plain memory cells, and the driver may be sent to
    /// another core.
    pub unsafe fn new(regs: &'a UartRegisters) -> Self {
        Self { regs }
    }

    /// Waits for room in the transmit FIFO, then sends `byte`.
    pub fn write_byte(&mut self, byte: u8) {
        while self.regs.uts.is_set(UTS::TXFULL) {
            core::hint::spin_loop();
        }
        self.regs.utxd.set(u32::from(byte));
    }

    /// Waits until the transmit FIFO has drained.
    pub fn flush_tx(&mut self) {
        while !self.regs.uts.is_set(UTS::TXEMPTY) {
            core::hint::spin_loop();
        }
    }

    /// Whether a received byte is waiting.
    pub fn rx_ready(&self) -> bool {
        !self.regs.uts.is_set(UTS::RXEMPTY)
    }

    /// The next received byte if one is waiting and arrived intact; `None` if nothing is
    /// there or the byte was damaged (read, which pops it, and dropped).
    pub fn try_read_byte(&mut self) -> Option<u8> {
        if !self.rx_ready() {
            return None;
        }
        // One read of URXD pops the character with its own status bits.
        let rx = self.regs.urxd.extract();
        (rx.is_set(URXD::CHARRDY) && !rx.is_set(URXD::ERR)).then(|| rx.read(URXD::DATA) as u8)
    }
}

// SAFETY: `new`'s contract makes the driver the only accessor of its registers, so moving it
// to another core moves all access with it.
unsafe impl Send for Uart<'_> {}

impl embedded_io::ErrorType for Uart<'_> {
    type Error = Infallible;
}

impl embedded_io::Write for Uart<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &b in buf {
            self.write_byte(b);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        self.flush_tx();
        Ok(())
    }
}

impl embedded_io::ReadReady for Uart<'_> {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.rx_ready())
    }
}

impl embedded_io::Read for Uart<'_> {
    /// Blocks until at least one intact byte arrived; returns the bytes waiting (up to
    /// `buf.len()`). Damaged bytes are dropped.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        while n == 0 {
            while let Some(b) = self.try_read_byte() {
                buf[n] = b;
                n += 1;
                if n == buf.len() {
                    break;
                }
            }
            core::hint::spin_loop();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    //! A register block in ordinary memory: the tests set the status bits a device would
    //! and check what the driver writes and reads. (What a real device does with UTXD is
    //! QEMU's model's to show, in the imx8mp-evk board's on-target tests.)
    extern crate std;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use embedded_io::{Read, ReadReady, Write};

    const WORDS: usize = 0xbc / 4;
    const URXD_W: usize = 0; // offset 0x00
    const UTXD_W: usize = 0x40 / 4;
    const UTS_W: usize = 0xb4 / 4;

    const TXFULL: u32 = 1 << 4;
    const RXEMPTY: u32 = 1 << 5;
    const TXEMPTY: u32 = 1 << 6;
    const CHARRDY: u32 = 1 << 15;
    const ERR: u32 = 1 << 14;

    /// The block as 32-bit words, each an atomic so a second thread may play the device.
    fn block() -> Arc<[core::sync::atomic::AtomicU32; WORDS]> {
        Arc::new([const { core::sync::atomic::AtomicU32::new(0) }; WORDS])
    }

    fn regs(words: &[core::sync::atomic::AtomicU32; WORDS]) -> &UartRegisters {
        // SAFETY: the array has the register block's size (0xbc bytes) and alignment; the
        // registers and the atomics are both interior-mutable 32-bit cells, and every access
        // either side makes is a whole aligned word.
        unsafe { &*(words.as_ptr() as *const UartRegisters) }
    }

    #[test]
    fn layout_matches_imx_c() {
        assert_eq!(core::mem::size_of::<UartRegisters>(), 0xbc);
        let w = block();
        let r = regs(&w);
        let base = r as *const UartRegisters as usize;
        assert_eq!(&r.utxd as *const _ as usize - base, 0x40);
        assert_eq!(&r.uts as *const _ as usize - base, 0xb4);
        assert_eq!(&r.ucr1 as *const _ as usize - base, 0x80);
    }

    #[test]
    fn a_byte_goes_to_utxd_when_the_fifo_has_room() {
        let w = block();
        w[UTS_W].store(RXEMPTY | TXEMPTY, Ordering::SeqCst);
        // SAFETY: the test owns the block; nothing else touches it.
        let mut uart = unsafe { Uart::new(regs(&w)) };
        assert_eq!(uart.write(b"A").unwrap(), 1);
        uart.flush().unwrap();
        assert_eq!(w[UTXD_W].load(Ordering::SeqCst), u32::from(b'A'));
    }

    #[test]
    fn a_full_fifo_holds_the_byte_back_until_it_drains() {
        let w = block();
        w[UTS_W].store(TXFULL | RXEMPTY, Ordering::SeqCst);
        w[UTXD_W].store(0xdead, Ordering::SeqCst);
        let started = Arc::new(AtomicBool::new(false));
        let writer = {
            let (w, started) = (Arc::clone(&w), Arc::clone(&started));
            std::thread::spawn(move || {
                // SAFETY: this thread is the block's only driver; the test thread plays the
                // device through the atomics.
                let mut uart = unsafe { Uart::new(regs(&w)) };
                started.store(true, Ordering::SeqCst);
                uart.write_all(b"Z").unwrap();
            })
        };
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // However long the writer has been spinning, it has not written while TXFULL is set.
        for _ in 0..1000 {
            std::thread::yield_now();
            assert_eq!(w[UTXD_W].load(Ordering::SeqCst), 0xdead);
        }
        w[UTS_W].store(RXEMPTY, Ordering::SeqCst);
        writer.join().unwrap();
        assert_eq!(w[UTXD_W].load(Ordering::SeqCst), u32::from(b'Z'));
    }

    #[test]
    fn nothing_to_read_while_rx_is_empty() {
        let w = block();
        w[UTS_W].store(RXEMPTY | TXEMPTY, Ordering::SeqCst);
        w[URXD_W].store(CHARRDY | u32::from(b'x'), Ordering::SeqCst);
        // SAFETY: the test owns the block; nothing else touches it.
        let mut uart = unsafe { Uart::new(regs(&w)) };
        assert!(!uart.read_ready().unwrap());
        assert_eq!(uart.try_read_byte(), None);
    }

    #[test]
    fn a_waiting_byte_is_read_and_a_damaged_one_dropped() {
        let w = block();
        w[UTS_W].store(TXEMPTY, Ordering::SeqCst);
        w[URXD_W].store(CHARRDY | u32::from(b'k'), Ordering::SeqCst);
        // SAFETY: the test owns the block; nothing else touches it.
        let mut uart = unsafe { Uart::new(regs(&w)) };
        assert!(uart.read_ready().unwrap());
        assert_eq!(uart.try_read_byte(), Some(b'k'));
        let mut buf = [0u8; 1];
        assert_eq!(uart.read(&mut buf).unwrap(), 1);
        assert_eq!(buf, [b'k']);
        w[URXD_W].store(CHARRDY | ERR | u32::from(b'q'), Ordering::SeqCst);
        assert_eq!(uart.try_read_byte(), None);
        assert_eq!(uart.read(&mut []).unwrap(), 0);
    }
}
