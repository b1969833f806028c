//! `#[defmt::global_logger]` over the console (doc/console-protocol.md): each frame is `0xFF`,
//! then defmt's rzcobs encoding, which ends in `0x00`. The console lock is held from
//! `acquire` to `release`, so frames from several cores never interleave, and IRQs are masked
//! meanwhile, so an interrupt handler that logs cannot deadlock its own core.

use core::cell::UnsafeCell;

use crate::console::{CONSOLE, ConsoleSink, ConsoleState};
use crate::spin::SpinGuard;

/// The guard held between `acquire` and `release`.
struct Held(UnsafeCell<Option<SpinGuard<'static, ConsoleState>>>);

// SAFETY: the slot is only touched by the core holding the console lock (in `acquire` after
// taking it, in `write`/`release` which defmt only calls between `acquire` and `release`).
unsafe impl Sync for Held {}

static HELD: Held = Held(UnsafeCell::new(None));

/// Marks the start of a defmt frame on the wire (`dmasync_protocol::framing`).
pub use dmasync_protocol::framing::FRAME_START;

fn write_sink(sink: &mut Option<&'static mut dyn ConsoleSink>, bytes: &[u8]) {
    if let Some(sink) = sink.as_mut() {
        sink.write_bytes(bytes);
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` takes the console lock (masking IRQs) and `release` gives it back, so at
// most one frame is being encoded at any time on the whole machine.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let mut guard = CONSOLE.lock();
        let ConsoleState { sink, encoder } = &mut *guard;
        // defmt's rzcobs encoder emits a 0x00 separator on its very first `start_frame`; it
        // must go out before our 0xFF, in text mode, where the host ignores it. Otherwise the
        // host would see an empty frame followed by the real frame's bytes as text.
        encoder.start_frame(|b| write_sink(sink, b));
        write_sink(sink, &[FRAME_START]);
        // SAFETY: we hold the console lock, which serialises access to the slot.
        unsafe { *HELD.0.get() = Some(guard) };
    }

    unsafe fn flush() {
        // SAFETY: defmt calls `flush` only between `acquire` and `release`.
        if let Some(guard) = unsafe { (*HELD.0.get()).as_mut() } {
            guard.flush();
        }
    }

    unsafe fn release() {
        // SAFETY: defmt calls `release` only after `acquire` on this core.
        if let Some(mut guard) = unsafe { (*HELD.0.get()).take() } {
            let ConsoleState { sink, encoder } = &mut *guard;
            encoder.end_frame(|b| write_sink(sink, b));
            drop(guard);
        }
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: defmt calls `write` only between `acquire` and `release`.
        if let Some(guard) = unsafe { (*HELD.0.get()).as_mut() } {
            let ConsoleState { sink, encoder } = &mut **guard;
            encoder.write(bytes, |b| write_sink(sink, b));
        }
    }
}

defmt::timestamp!("{=u64:us}", {
    dmasync_hal::clock::ticks_to_ns(crate::arch::counter(), crate::arch::counter_frequency())
        / 1_000
});
