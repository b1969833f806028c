//! xtask reads every line from QEMU's QMP socket through `qmp::parse_message`, then the
//! greeting through `qmp::greeting_version` and replies through `qmp::classify`.
//! Invariants: nothing panics; a message is a JSON object that survives a round trip through
//! its text; a classified reply is what the message says (a return value is the message's
//! `return`, an error carries its class and description, a skipped message is an event or
//! carries another id); every error quotes what it was given.
#![no_main]
#![forbid(unsafe_code)]

use dmasync_xtask::qmp::{Reply, classify, greeting_version, parse_message, refuses_png};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// The id xtask's command had; the first byte of the input picks it (0..=3), so both our own
/// and other ids turn up.
fn split(data: &[u8]) -> Option<(u64, &str)> {
    let (&first, rest) = data.split_first()?;
    Some((u64::from(first & 3), core::str::from_utf8(rest).ok()?))
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((id, line)) = split(data) else {
        return;
    };
    let message = match parse_message(line) {
        Ok(m) => m,
        Err(why) => {
            let quoted = format!("{:?}", line.trim_end());
            assert!(
                why.contains(&quoted),
                "error `{why}` does not quote the line {quoted}"
            );
            return;
        }
    };
    assert!(message.is_object(), "accepted a non-object: {message}");
    // serde_json's default float parsing is not exact, so only float-free messages must
    // come back bit for bit (QMP's replies to xtask carry none).
    if !has_float(&message) {
        let again = parse_message(&format!("{message}\r\n")).expect("a message's own text parses");
        assert_eq!(again, message, "round trip through `{message}`");
    }

    match greeting_version(&message) {
        Ok(_) => assert!(
            message.get("QMP").is_some(),
            "greeting without QMP: {message}"
        ),
        Err(why) => assert!(why.contains(&message.to_string()), "error `{why}`"),
    }

    let has_event = message.get("event").is_some();
    let other_id = message.get("id").is_some_and(|i| i != &json!(id));
    match classify(&message, id) {
        Ok(Reply::Skip) => assert!(has_event || other_id, "skipped our reply {message}"),
        Ok(Reply::Return(ret)) => {
            assert!(!has_event && !other_id, "took {message} for id {id}");
            assert_eq!(Some(&ret), message.get("return"));
        }
        Ok(Reply::Error(e)) => {
            assert!(!has_event && !other_id, "took {message} for id {id}");
            assert!(message.get("return").is_none(), "a return read as an error");
            let err = &message["error"];
            for (field, got) in [("class", &e.class), ("desc", &e.desc)] {
                match err[field].as_str() {
                    Some(s) => assert_eq!(s, got, "{field} of {message}"),
                    None => assert_eq!(got, "?", "{field} of {message}"),
                }
            }
            let _ = refuses_png(&e);
            assert!(e.to_string().contains(&e.desc));
        }
        Err(why) => {
            assert!(
                !has_event && !other_id && message.get("return").is_none(),
                "refused {message}: {why}"
            );
            assert!(
                message.get("error").is_none(),
                "refused an error reply: {why}"
            );
            assert!(why.contains(&Value::to_string(&message)), "error `{why}`");
        }
    }
});
