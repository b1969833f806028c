//! xtask reads every boards/*/board.toml through `boards::parse_board`.
//! Invariants: it never panics; an accepted board is what validation promises (its name is its
//! directory's, every variant resolves, has a distinct name and RAM that holds the image, every
//! exit code is a process exit code); a rejection names the file and says what was wrong.
#![no_main]
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::Path;

use dmasync_xtask::boards::parse_board;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "boards/qemu-virt/board.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match parse_board(Path::new(FILE), text, "qemu-virt") {
        Ok(board) => {
            assert_eq!(board.name, "qemu-virt");
            let variants = board.variants();
            assert!(!variants.is_empty(), "a board without variants");
            let names: BTreeSet<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(
                names.len(),
                variants.len(),
                "variant names repeat: {variants:?}"
            );
            for v in &variants {
                let ram = board
                    .ram_range(&v.args)
                    .unwrap_or_else(|e| panic!("accepted variant {} has no RAM: {e:#}", v.name));
                assert!(
                    ram.contains(board.load_address),
                    "accepted variant {} cannot hold the image at {:#x}: RAM {ram}",
                    v.name,
                    board.load_address
                );
            }
            for test in board.tests.keys() {
                let code = board.expectation(test).exit_code;
                assert!((0..=255).contains(&code), "accepted exit code {code}");
            }
        }
        Err(e) => {
            let msg = format!("{e:#}");
            let prefix = format!("invalid board file {FILE}");
            let what = msg
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("error `{msg}` does not name the file"));
            let what = what.trim_start_matches(|c: char| c == ':' || c.is_whitespace());
            assert!(
                !what.is_empty(),
                "error `{msg}` says nothing after the file"
            );
            // A syntax/type error points at a line of this text.
            if let Some(rest) = what.strip_prefix("line ") {
                let n: usize = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("error `{msg}`: `line` without a number"));
                assert!(
                    n >= 1 && n <= text.matches('\n').count() + 1,
                    "error `{msg}` points past the text"
                );
            }
        }
    }
});
