//! The console: one byte sink (the board's UART) shared by plain text and defmt frames,
//! behind one IRQ-masking spin lock so lines and frames from several cores never interleave.
//!
//! The board installs its UART once with [`install`]. Plain text goes through [`println!`](crate::println)
//! (one lock acquisition per line) or through the [`Console`] handle, which implements
//! `embedded_io::Write` and `core::fmt::Write`. Panic and exception reports use
//! [`emergency`], which never waits forever (doc/console-protocol.md).
//!
//! The console also receives: [`request_screendump`] prints the screendump marker and waits
//! (bounded) for the host's one-byte acknowledgement on the UART's receive side, so a frame
//! stays on screen while xtask takes its QMP screendump (doc/console-protocol.md).

use core::fmt;

use dmasync_protocol::screendump::{NoAck, Request};

use crate::spin::{SpinGuard, SpinLock};

/// Where console bytes go, and where the host's bytes come from. Implemented for every UART
/// driver with `embedded_io` `Write`, `Read` and `ReadReady` (the PL011 driver).
pub trait ConsoleSink: Send {
    /// Writes all of `bytes`, blocking until the hardware took them. Errors are dropped: a
    /// console has nobody to report them to.
    fn write_bytes(&mut self, bytes: &[u8]);
    /// Waits until the bytes have left the device.
    fn flush_bytes(&mut self);
    /// One received byte if one is waiting; never blocks. `None` when nothing has arrived or
    /// the byte arrived damaged (framing, parity, overrun or break: the device dropped it).
    fn try_read_byte(&mut self) -> Option<u8>;
}

impl<W: embedded_io::Write + embedded_io::Read + embedded_io::ReadReady + Send> ConsoleSink for W {
    fn write_bytes(&mut self, bytes: &[u8]) {
        let _ = self.write_all(bytes);
    }
    fn flush_bytes(&mut self) {
        let _ = self.flush();
    }
    fn try_read_byte(&mut self) -> Option<u8> {
        // `read` blocks until a byte is there, so only call it when one is.
        if !self.read_ready().unwrap_or(false) {
            return None;
        }
        let mut byte = [0u8; 1];
        match self.read(&mut byte) {
            Ok(1) => Some(byte[0]),
            _ => None,
        }
    }
}

/// State behind the console lock.
pub struct ConsoleState {
    pub(crate) sink: Option<&'static mut dyn ConsoleSink>,
    /// The defmt frame encoder (rzcobs); used by [`crate::logger`].
    pub(crate) encoder: defmt::Encoder,
}

impl fmt::Debug for ConsoleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleState")
            .field("has_sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

impl ConsoleState {
    /// Writes bytes to the sink (dropped if no sink is installed yet).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        if let Some(sink) = self.sink.as_mut() {
            sink.write_bytes(bytes);
        }
    }

    /// Flushes the sink.
    pub fn flush(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            sink.flush_bytes();
        }
    }

    /// Whether a sink is installed.
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// One received byte, if one is waiting (never blocks; `None` without a sink).
    pub fn try_read_byte(&mut self) -> Option<u8> {
        self.sink.as_mut().and_then(|sink| sink.try_read_byte())
    }
}

impl fmt::Write for ConsoleState {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

pub(crate) static CONSOLE: SpinLock<ConsoleState> = SpinLock::new(ConsoleState {
    sink: None,
    encoder: defmt::Encoder::new(),
});

/// Installs the console's byte sink (the board's UART). Later calls replace it.
pub fn install(sink: &'static mut dyn ConsoleSink) {
    CONSOLE.lock().sink = Some(sink);
}

/// Runs `f` with the console locked: everything it writes comes out contiguously.
pub fn with_console<R>(f: impl FnOnce(&mut ConsoleState) -> R) -> R {
    let mut guard = CONSOLE.lock();
    f(&mut guard)
}

/// How long the panic/exception paths wait for another core to release the console before
/// taking it over: 100 ms at the counter frequency.
fn emergency_patience() -> u64 {
    crate::arch::counter_frequency() / 10
}

/// The console for paths that end the program (panic, exception report, verdicts after a
/// fault): takes the lock, or takes it over after a bounded wait. Writes a single `0x00` first,
/// which closes any defmt frame a core was in the middle of (doc/console-protocol.md).
pub fn emergency() -> SpinGuard<'static, ConsoleState> {
    // SAFETY: our callers end the program after writing their report, and a stolen console
    // at worst interleaves bytes with the previous holder's.
    let mut guard = unsafe { CONSOLE.lock_or_steal(emergency_patience()) };
    guard.write_bytes(&[dmasync_protocol::framing::FRAME_END]);
    guard
}

/// A handle to the shared console. Each `write` call is atomic with respect to other cores;
/// use [`with_console`] or [`println!`](crate::println) to keep a whole line together.
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl embedded_io::ErrorType for Console {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Console {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        with_console(|c| c.write_bytes(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        with_console(|c| c.flush());
        Ok(())
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        with_console(|c| c.write_bytes(s.as_bytes()));
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print_line(args: fmt::Arguments<'_>, newline: bool) {
    with_console(|c| {
        let _ = fmt::Write::write_fmt(c, args);
        if newline {
            c.write_bytes(b"\n");
        }
    });
}

/// Prints plain text on the console (no decoder needed), atomically per call.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print_line(format_args!($($arg)*), false) };
}

/// Prints a plain-text line on the console (no decoder needed), atomically per line.
#[macro_export]
macro_rules! println {
    () => { $crate::console::_print_line(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::console::_print_line(format_args!($($arg)*), true) };
}

/// The plain-text marker that asks the host for a screendump (doc/console-protocol.md):
/// `dmasync-screendump frame=<N> width=<W> height=<H>`, on a line of its own
/// (`dmasync_protocol::screendump`).
pub use dmasync_protocol::screendump::MARKER as SCREENDUMP_MARKER;

/// How long [`request_screendump`] callers normally wait for the host: long enough for a
/// QMP screendump, a PNG and a comparison on a loaded machine (they take 0.1-0.2 s), short
/// enough that a QEMU started by hand, with nobody acknowledging, is only briefly held up.
pub const HOST_ACK_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(5);

/// No byte arrived from the host before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckTimeout {
    /// How long we waited.
    pub waited: core::time::Duration,
}

impl fmt::Display for AckTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no byte from the host within {} ms",
            self.waited.as_millis()
        )
    }
}

/// Discards every byte already waiting on the console's receive side (stale input, e.g. keys
/// typed at a terminal); returns how many there were.
pub fn drain_input() -> usize {
    let mut count = 0;
    // Bounded: a stream that never stops (a stuck line) must not keep us here.
    while count < 4096 && with_console(ConsoleState::try_read_byte).is_some() {
        count += 1;
    }
    count
}

/// Waits until one byte arrives on the console's receive side and returns it, or gives up
/// after `timeout`. Polls without holding the console lock between polls, so other cores
/// keep printing while we wait.
pub fn wait_for_host_ack(timeout: core::time::Duration) -> Result<u8, AckTimeout> {
    let hz = u128::from(crate::arch::counter_frequency());
    let ticks = u64::try_from(timeout.as_nanos() * hz / 1_000_000_000).unwrap_or(u64::MAX);
    let start = crate::arch::counter();
    loop {
        if let Some(byte) = with_console(ConsoleState::try_read_byte) {
            return Ok(byte);
        }
        if crate::arch::counter().wrapping_sub(start) >= ticks {
            return Err(AckTimeout { waited: timeout });
        }
        for _ in 0..64 {
            core::hint::spin_loop();
        }
    }
}

/// Asks the host for a screendump of the frame now on screen and holds still until it is
/// taken: drops stale input, prints `dmasync-screendump frame=<N> width=<W> height=<H>` and
/// waits up to `timeout` for the host's one-byte acknowledgement (xtask sends it after the
/// dump is saved). Without a host that acknowledges (QEMU started by hand) it prints
/// `dmasync-screendump: no acknowledgement ...` after `timeout` and returns the error; the
/// caller carries on.
pub fn request_screendump(
    frame: u32,
    width: u32,
    height: u32,
    timeout: core::time::Duration,
) -> Result<(), AckTimeout> {
    drain_input();
    with_console(|c| {
        let _ = fmt::Write::write_fmt(
            c,
            format_args!(
                "{}\n",
                Request {
                    frame,
                    width,
                    height
                }
            ),
        );
        c.flush();
    });
    wait_for_host_ack(timeout).map(drop).inspect_err(|e| {
        crate::println!("{}", NoAck { frame, why: e });
    })
}
