//! The Samsung Exynos UART (the S3C/S5P lineage every Exynos4 and Exynos5 carries), polled,
//! for a console: `embedded_io::Write`, `Read` and `ReadReady`.
//!
//! Register layout from Linux `include/linux/serial_s3c.h` (ULCON 0x00 ... UINTM 0x38) and
//! QEMU `hw/char/exynos4210_uart.c`; bits named as there. The driver leaves the line set-up
//! (ULCON/UCON/UBRDIV) to whoever configured the port before us: on silicon the boot loader
//! (U-Boot) did, and QEMU's model transmits without any set-up (hardware.md §1.4). It only
//! waits for room, writes UTXH, and reads URXH when UTRSTAT says a byte is there, dropping
//! bytes UERSTAT marks as damaged.
//!
//! Validated by QEMU's device model (`exynos4210.uart`) through the exynos4 board's
//! on-target tests, and on the host against a register-level model of the status bits
//! (tests below).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use core::convert::Infallible;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields![u32,
    /// UTRSTAT: transmit/receive status (serial_s3c.h S3C2410_UTRSTAT_*).
    pub UTRSTAT [
        RX_READY OFFSET(0) NUMBITS(1) [],
        TX_BUFFER_EMPTY OFFSET(1) NUMBITS(1) [],
        TX_EMPTY OFFSET(2) NUMBITS(1) []
    ],
    /// UERSTAT: errors of the byte at the head of the receiver (S3C2410_UERSTAT_*);
    /// reading clears them.
    pub UERSTAT [
        OVERRUN OFFSET(0) NUMBITS(1) [],
        PARITY OFFSET(1) NUMBITS(1) [],
        FRAME OFFSET(2) NUMBITS(1) [],
        BREAK OFFSET(3) NUMBITS(1) []
    ]
];

register_structs! {
    /// One UART's register block (0x40 bytes of its 64 KiB window).
    pub UartRegisters {
        (0x00 => pub ulcon: ReadWrite<u32>),
        (0x04 => pub ucon: ReadWrite<u32>),
        (0x08 => pub ufcon: ReadWrite<u32>),
        (0x0c => pub umcon: ReadWrite<u32>),
        (0x10 => pub utrstat: ReadOnly<u32, UTRSTAT::Register>),
        (0x14 => pub uerstat: ReadOnly<u32, UERSTAT::Register>),
        (0x18 => pub ufstat: ReadOnly<u32>),
        (0x1c => pub umstat: ReadOnly<u32>),
        (0x20 => pub utxh: WriteOnly<u32>),
        (0x24 => pub urxh: ReadOnly<u32>),
        (0x28 => pub ubrdiv: ReadWrite<u32>),
        (0x2c => pub ufracval: ReadWrite<u32>),
        (0x30 => pub uintp: ReadWrite<u32>),
        (0x34 => pub uintsp: ReadWrite<u32>),
        (0x38 => pub uintm: ReadWrite<u32>),
        (0x3c => @END),
    }
}

/// A polled Exynos UART.
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

    /// Waits for room in the transmitter, then sends `byte`.
    pub fn write_byte(&mut self, byte: u8) {
        while !self.regs.utrstat.is_set(UTRSTAT::TX_BUFFER_EMPTY) {
            core::hint::spin_loop();
        }
        self.regs.utxh.set(u32::from(byte));
    }

    /// Waits until every byte has left the shift register.
    pub fn flush_tx(&mut self) {
        while !self.regs.utrstat.is_set(UTRSTAT::TX_EMPTY) {
            core::hint::spin_loop();
        }
    }

    /// Whether a received byte is waiting.
    pub fn rx_ready(&self) -> bool {
        self.regs.utrstat.is_set(UTRSTAT::RX_READY)
    }

    /// The next received byte if one is waiting and arrived intact; `None` if nothing is
    /// there or the byte was damaged (overrun, parity, framing, break: read and dropped).
    pub fn try_read_byte(&mut self) -> Option<u8> {
        if !self.rx_ready() {
            return None;
        }
        // UERSTAT describes the byte at the head of the FIFO: read it before URXH.
        let errors = self.regs.uerstat.get() & 0xf;
        let byte = (self.regs.urxh.get() & 0xff) as u8;
        (errors == 0).then_some(byte)
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
    //! and check what the driver writes and reads. (What a real device does with UTXH is
    //! QEMU's model's to show, in the exynos4 board's on-target tests.)
    extern crate std;

    use super::*;
    use embedded_io::{Read, ReadReady, Write};

    fn block() -> std::boxed::Box<[u32; 15]> {
        std::boxed::Box::new([0; 15])
    }

    fn regs(words: &mut [u32; 15]) -> &UartRegisters {
        // SAFETY: the array has the register block's size (0x3c bytes) and alignment, and is
        // only accessed through the returned reference (registers are interior-mutable).
        unsafe { &*(words.as_mut_ptr() as *const UartRegisters) }
    }

    const UTRSTAT_W: usize = 0x10 / 4;
    const UERSTAT_W: usize = 0x14 / 4;
    const UTXH_W: usize = 0x20 / 4;
    const URXH_W: usize = 0x24 / 4;

    #[test]
    fn layout_matches_serial_s3c_h() {
        assert_eq!(core::mem::size_of::<UartRegisters>(), 0x3c);
    }

    #[test]
    fn writes_go_to_utxh_when_the_buffer_is_empty() {
        let mut w = block();
        w[UTRSTAT_W] = 0b110; // TX buffer empty, transmitter empty
        let r = regs(&mut w);
        // SAFETY: the test owns the block; nothing else touches it.
        let mut uart = unsafe { Uart::new(r) };
        assert_eq!(uart.write(b"A").unwrap(), 1);
        uart.flush().unwrap();
        // SAFETY: reading the backing word the driver wrote through a volatile register.
        let sent = unsafe { core::ptr::read_volatile(&r.utxh as *const _ as *const u32) };
        assert_eq!(sent, u32::from(b'A'));
        let _ = UTXH_W;
    }

    #[test]
    fn nothing_to_read_until_rx_ready() {
        let mut w = block();
        w[URXH_W] = u32::from(b'x');
        // SAFETY: the test owns the block; nothing else touches it.
        let mut uart = unsafe { Uart::new(regs(&mut w)) };
        assert!(!uart.read_ready().unwrap());
        assert_eq!(uart.try_read_byte(), None);
    }

    #[test]
    fn a_waiting_byte_is_read() {
        let mut w = block();
        w[UTRSTAT_W] = 0b001;
        w[URXH_W] = u32::from(b'k');
        // SAFETY: the test owns the block; nothing else touches it.
        let mut uart = unsafe { Uart::new(regs(&mut w)) };
        assert!(uart.read_ready().unwrap());
        assert_eq!(uart.try_read_byte(), Some(b'k'));
        let mut buf = [0u8; 1];
        // The model keeps RX_READY set, so a blocking read returns at once.
        assert_eq!(uart.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'k');
    }

    #[test]
    fn a_damaged_byte_is_dropped() {
        for err in [0b0001, 0b0010, 0b0100, 0b1000] {
            let mut w = block();
            w[UTRSTAT_W] = 0b001;
            w[UERSTAT_W] = err;
            w[URXH_W] = u32::from(b'z');
            // SAFETY: the test owns the block; nothing else touches it.
            let mut uart = unsafe { Uart::new(regs(&mut w)) };
            assert_eq!(uart.try_read_byte(), None, "UERSTAT={err:#x}");
        }
    }
}
