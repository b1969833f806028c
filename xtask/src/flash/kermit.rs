//! A Kermit sender for U-Boot's `loadb` (cmd/load.c, `k_recv`). No crate exists; the
//! packet format is the Kermit protocol's (Frank da Cruz, "Kermit Protocol Manual"), limited
//! to what that receiver takes. Facts about it, read from its source:
//!
//! - Packets: MARK (0x01), LEN, SEQ, TYPE, data, one check character (type 1), CR. Every
//!   character after MARK must be printable (>= 0x20); a packet with one that is not, or a bad
//!   check, is NAKed.
//! - It answers the Send-Init with its own parameters: at most 94 per packet, `#` as the
//!   control prefix, no 8th-bit prefix (an 8-bit clean line), check type 1, no repeat counts.
//!   So bytes whose low seven bits are a control character (or DEL) go as `#` and the byte
//!   XOR 0x40; `#` itself (with or without the 8th bit) goes as `#` and itself.
//! - A packet repeating the last sequence number replaces it (a retry); 0x03 (^C) while it
//!   waits for a packet aborts the download.
//!
//! Packets are short (up to 91 data characters): the receiver's long packets save little
//! on a line this slow, and short ones keep a retry cheap.

use std::time::{Duration, Instant};

use super::xymodem::{Error, Link, Options};

const MARK: u8 = 0x01;
const EOL: u8 = b'\r';
const ETX: u8 = 0x03;
const QCTL: u8 = b'#';
/// LEN counts SEQ..CHECK, at most 94 in a short packet: data at most 91.
const MAX_DATA: usize = 91;

fn tochar(x: u8) -> u8 {
    x + 32
}

fn unchar(c: u8) -> u8 {
    c.wrapping_sub(32)
}

/// Type 1 block check over the characters from LEN to the end of the data.
fn check1(chars: &[u8]) -> u8 {
    let s: u32 = chars.iter().map(|&c| u32::from(c)).sum();
    tochar(((s + ((s >> 6) & 3)) & 0x3f) as u8)
}

/// One packet on the wire.
fn packet(seq: u8, kind: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![MARK, tochar(data.len() as u8 + 3), tochar(seq % 64), kind];
    p.extend_from_slice(data);
    let check = check1(&p[1..]);
    p.push(check);
    p.push(EOL);
    p
}

/// Control-prefix encoding of one byte.
fn encode(b: u8, out: &mut Vec<u8>) {
    let low = b & 0x7f;
    if low < 0x20 || low == 0x7f {
        out.extend_from_slice(&[QCTL, b ^ 0x40]);
    } else if low == QCTL {
        out.extend_from_slice(&[QCTL, b]);
    } else {
        out.push(b);
    }
}

/// Splits `data` into encoded packet payloads of at most [`MAX_DATA`] characters, with the
/// number of source bytes each carries; a prefix pair is never split.
fn chunks(data: &[u8]) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut taken = 0;
    let mut one = Vec::with_capacity(2);
    for &b in data {
        one.clear();
        encode(b, &mut one);
        if cur.len() + one.len() > MAX_DATA {
            out.push((std::mem::take(&mut cur), taken));
            taken = 0;
        }
        cur.extend_from_slice(&one);
        taken += 1;
    }
    if !cur.is_empty() {
        out.push((cur, taken));
    }
    out
}

/// The receiver's answer to one packet: its type (`Y`, `N`, ...) and sequence number.
fn read_answer(link: &mut dyn Link, timeout: Duration) -> Result<Option<(u8, u8)>, Error> {
    let deadline = Instant::now() + timeout;
    let mut got: Option<Vec<u8>> = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(b) = link.recv(left)? else {
            break;
        };
        match (&mut got, b) {
            (_, MARK) => got = Some(Vec::new()),
            (Some(p), EOL) => {
                // LEN SEQ TYPE ... CHECK
                if p.len() >= 4 && usize::from(unchar(p[0])) == p.len() - 1 {
                    let (body, check) = p.split_at(p.len() - 1);
                    if check1(body) == check[0] {
                        return Ok(Some((p[2], unchar(p[1]))));
                    }
                }
                got = None;
            }
            (Some(p), b) => p.push(b),
            (None, _) => {}
        }
    }
    Ok(None)
}

/// Sends one packet until the receiver ACKs it.
fn exchange(
    link: &mut dyn Link,
    what: u32,
    bytes: &[u8],
    seq: u8,
    opts: &Options,
) -> Result<(), Error> {
    let mut last = String::from("nothing");
    for _ in 0..opts.tries {
        link.send(bytes)?;
        match read_answer(link, opts.ack_timeout)? {
            Some((b'Y', n)) if n == seq % 64 => return Ok(()),
            Some((b'E', _)) => return Err(Error::Cancelled { block: what }),
            Some((kind, n)) => last = format!("'{}' for packet {n}", kind as char),
            None => last = format!("no answer within {:.1} s", opts.ack_timeout.as_secs_f64()),
        }
    }
    // ^C makes the receiver give up instead of waiting on.
    let _ = link.send(&[ETX, ETX]);
    Err(Error::Retries {
        block: what,
        tries: opts.tries,
        last,
    })
}

/// Sends `data` as `name`; `progress` sees the source bytes delivered after each packet.
pub fn send(
    link: &mut dyn Link,
    name: &str,
    data: &[u8],
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<(), Error> {
    // Send-Init: MAXL, TIME, NPAD, PADC, EOL, QCTL, QBIN, CHKT, REPT.
    let init = [
        tochar(94),
        tochar(5),
        tochar(0),
        0x40,
        tochar(EOL),
        QCTL,
        b'N',
        b'1',
        b' ',
    ];
    let mut seq: u8 = 0;
    let mut number = 0u32;
    let mut step = |link: &mut dyn Link, kind: u8, payload: &[u8]| -> Result<(), Error> {
        exchange(link, number, &packet(seq, kind, payload), seq, opts)?;
        seq = (seq + 1) % 64;
        number += 1;
        Ok(())
    };
    step(link, b'S', &init)?;
    let mut fname = Vec::new();
    for &b in name.as_bytes().iter().take(MAX_DATA / 2) {
        encode(b, &mut fname);
    }
    step(link, b'F', &fname)?;
    let mut sent = 0u64;
    for (payload, n) in chunks(data) {
        step(link, b'D', &payload)?;
        sent += n as u64;
        progress(sent);
    }
    step(link, b'Z', &[])?;
    step(link, b'B', &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;

    /// U-Boot's decoding of a prefixed character (cmd/load.c `ktrans` applied after `#`).
    fn ktrans(c: u8) -> u8 {
        if (c & 0x60) == 0x40 || (c & 0x7f) == 0x3f {
            c ^ 0x40
        } else {
            c
        }
    }

    fn decode(chars: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut esc = false;
        for &c in chars {
            if esc {
                out.push(ktrans(c));
                esc = false;
            } else if c == QCTL {
                esc = true;
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn every_byte_round_trips_and_stays_printable() {
        let all: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        let parts = chunks(&all);
        let mut back = Vec::new();
        for (p, _) in &parts {
            assert!(p.len() <= MAX_DATA);
            assert!(p.iter().all(|&c| c >= 0x20), "{p:?}");
            back.extend(decode(p));
        }
        assert_eq!(back, all);
        assert_eq!(parts.iter().map(|(_, n)| n).sum::<usize>(), all.len());
    }

    #[test]
    fn packets_have_length_sequence_and_a_type_1_check() {
        // An empty ACK for packet 0: LEN '#' (3 characters follow), SEQ ' ', TYPE 'Y', and the
        // type 1 check over those three.
        let p = packet(0, b'Y', &[]);
        assert_eq!(&p[..4], &[MARK, b'#', b' ', b'Y']);
        let s = 0x23u32 + 0x20 + 0x59;
        assert_eq!(p[4], ((s + ((s >> 6) & 3)) & 0x3f) as u8 + 32);
        assert_eq!(p[5], EOL);
        assert_eq!(packet(65, b'D', b"ab")[2], tochar(1));
    }

    struct Receiver {
        pending: VecDeque<u8>,
        sent: Vec<Vec<u8>>,
        nak_first_data: bool,
    }

    impl Link for Receiver {
        fn recv(&mut self, _: Duration) -> io::Result<Option<u8>> {
            Ok(self.pending.pop_front())
        }
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.sent.push(bytes.to_vec());
            if bytes[0] != MARK {
                return Ok(());
            }
            let seq = unchar(bytes[2]);
            let kind = if bytes[3] == b'D' && self.nak_first_data {
                self.nak_first_data = false;
                b'N'
            } else {
                b'Y'
            };
            self.pending.extend(packet(seq, kind, &[]));
            Ok(())
        }
    }

    #[test]
    fn a_file_is_s_f_d_z_b_and_a_nak_repeats_the_packet() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31) as u8).collect();
        let mut link = Receiver {
            pending: VecDeque::new(),
            sent: Vec::new(),
            nak_first_data: true,
        };
        let opts = Options {
            ack_timeout: Duration::from_millis(10),
            ..Options::default()
        };
        let mut last = 0;
        send(&mut link, "dmasync.uimg", &data, &opts, &mut |n| last = n).unwrap();
        assert_eq!(last, 300);
        let kinds: Vec<u8> = link.sent.iter().map(|p| p[3]).collect();
        assert_eq!(
            &kinds[..4],
            b"SFDD",
            "the NAKed first data packet went twice"
        );
        assert_eq!(link.sent[2], link.sent[3]);
        assert_eq!(&kinds[kinds.len() - 2..], b"ZB");
        let payload: Vec<u8> = link.sent[3..link.sent.len() - 2]
            .iter()
            .flat_map(|p| decode(&p[4..p.len() - 2]))
            .collect();
        assert_eq!(payload, data);
    }

    #[test]
    fn silence_ends_in_retries_and_a_control_c() {
        struct Deaf(Vec<Vec<u8>>);
        impl Link for Deaf {
            fn recv(&mut self, _: Duration) -> io::Result<Option<u8>> {
                Ok(None)
            }
            fn send(&mut self, b: &[u8]) -> io::Result<()> {
                self.0.push(b.to_vec());
                Ok(())
            }
        }
        let mut link = Deaf(Vec::new());
        let opts = Options {
            ack_timeout: Duration::from_millis(5),
            tries: 2,
            ..Options::default()
        };
        let e = send(&mut link, "x", b"abc", &opts, &mut |_| {}).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("block 0 was not accepted after 2 tries"),
            "{e}"
        );
        assert_eq!(link.0.last().unwrap(), &vec![ETX, ETX]);
    }
}
