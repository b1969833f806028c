//! xtask reads every bench console line through `dmasync_protocol::bench::parse_figure`.
//! Invariants: it never panics; an accepted figure's `Display` form parses back to the same
//! figure; an error names the line it came from.
#![no_main]
#![forbid(unsafe_code)]

use dmasync_protocol::bench::parse_figure;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = core::str::from_utf8(data) else {
        return;
    };
    match parse_figure(line) {
        None => {}
        Some(Ok(fig)) => {
            let again = fig.to_string();
            assert_eq!(
                parse_figure(&again),
                Some(Ok(fig)),
                "the Display form `{again}` of `{line}` does not parse back"
            );
        }
        Some(Err(e)) => {
            let msg = e.to_string();
            assert!(msg.contains(line), "error `{msg}` does not name the line `{line}`");
        }
    }
});
