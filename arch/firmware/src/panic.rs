//! The panic handler: plain text only, then semihosting exit code 2
//! (doc/console-protocol.md).

use core::fmt::Write;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    {
        // `emergency` masks IRQs, gets the console even if a core holds it, and writes the
        // 0x00 that closes any half-written defmt frame.
        let mut con = crate::console::emergency();
        let _ = match crate::arch::cpu_index() {
            Some(n) => write!(con, "PANIC on cpu {n}: {}", info.message()),
            None => write!(
                con,
                "PANIC on MPIDR {:#x}: {}",
                crate::arch::core_id(),
                info.message()
            ),
        };
        let _ = match info.location() {
            Some(loc) => writeln!(con, " at {}:{}:{}", loc.file(), loc.line(), loc.column()),
            None => writeln!(con, " at <unknown location>"),
        };
        con.flush();
    }
    crate::exit(dmasync_protocol::exit::PANIC)
}
