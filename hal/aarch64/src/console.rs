//! The console: one byte sink (the board's UART) shared by plain text and defmt frames,
//! behind one IRQ-masking spin lock so lines and frames from several cores never interleave.
//!
//! The board installs its UART once with [`install`]. Plain text goes through [`println!`](crate::println)
//! (one lock acquisition per line) or through the [`Console`] handle, which implements
//! `embedded_io::Write` and `core::fmt::Write`. Panic and exception reports use
//! [`emergency`], which never waits forever (doc/console-protocol.md).

use core::fmt;

use crate::spin::{SpinGuard, SpinLock};

/// Where console bytes go. Implemented for every `embedded_io::Write` (the PL011 driver).
pub trait ConsoleSink: Send {
    /// Writes all of `bytes`, blocking until the hardware took them. Errors are dropped: a
    /// console has nobody to report them to.
    fn write_bytes(&mut self, bytes: &[u8]);
    /// Waits until the bytes have left the device.
    fn flush_bytes(&mut self);
}

impl<W: embedded_io::Write + Send> ConsoleSink for W {
    fn write_bytes(&mut self, bytes: &[u8]) {
        let _ = self.write_all(bytes);
    }
    fn flush_bytes(&mut self) {
        let _ = self.flush();
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
    crate::timer::counter_frequency() / 10
}

/// The console for paths that end the program (panic, exception report, verdicts after a
/// fault): takes the lock, or takes it over after a bounded wait. Writes a single `0x00` first,
/// which closes any defmt frame a core was in the middle of (doc/console-protocol.md).
pub fn emergency() -> SpinGuard<'static, ConsoleState> {
    // SAFETY: our callers end the program after writing their report, and a stolen console
    // at worst interleaves bytes with the previous holder's.
    let mut guard = unsafe { CONSOLE.lock_or_steal(emergency_patience()) };
    guard.write_bytes(&[0x00]);
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
