//! xtask reads every console line through `dmasync_protocol::screendump::parse_request`.
//! Invariants: it never panics; an accepted request has a non-zero size and its `Display`
//! form parses back to the same request; an error names the line it came from.
#![no_main]
#![forbid(unsafe_code)]

use dmasync_protocol::screendump::parse_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = core::str::from_utf8(data) else {
        return;
    };
    match parse_request(line) {
        None => {}
        Some(Ok(req)) => {
            assert!(req.width > 0 && req.height > 0, "accepted an empty size: {req:?}");
            let again = req.to_string();
            assert_eq!(
                parse_request(&again).map(|r| r.ok()),
                Some(Some(req)),
                "the Display form `{again}` does not parse back"
            );
        }
        Some(Err(e)) => {
            let msg = e.to_string();
            assert!(!msg.is_empty(), "empty error for `{line}`");
            assert!(msg.contains(line.trim()), "error `{msg}` does not name the line `{line}`");
        }
    }
});
