//! XMODEM-1K and YMODEM senders, written for U-Boot's receiver (`loadx`, `loady`:
//! common/xyzModem.c). Facts about that receiver the sender relies on, read from its source:
//!
//! - It starts in CRC mode and sends `C`; after several silent timeouts it may fall back to
//!   the 8-bit checksum and send NAK instead. Both are handled.
//! - It accepts 128-byte (SOH) and 1024-byte (STX) blocks in both modes; we send 1K blocks.
//! - After a bad block it asks again with `C` (CRC mode) or NAK; a repeated block is re-ACKed.
//! - YMODEM: after block 0 (name, size) it ACKs but sends no second `C` (senders like `sz`
//!   wait for one, which costs them seconds); we go on at once.
//! - It ACKs EOT twice; for YMODEM it then sends `C` and expects the empty block 0 that ends
//!   the batch.
//! - XMODEM: it strips trailing 0x1A bytes from any block whose last three bytes are 0x1A
//!   (CP/M end-of-file padding). A file with such a block would arrive short, so the sender
//!   refuses it for XMODEM and says to use YMODEM, which carries the size and is not stripped.
//! - Two CAN bytes in a row cancel, either way.
//!
//! No crate was used: `xmodem` 0.4 has no YMODEM, no progress hook and does not handle CAN
//! during the transfer (its own TODO); see doc/flashing.md.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crc::{CRC_16_XMODEM, Crc};

const SOH: u8 = 0x01;
const STX: u8 = 0x02;
const EOT: u8 = 0x04;
const ACK: u8 = 0x06;
const NAK: u8 = 0x15;
const CAN: u8 = 0x18;
const CRC_REQUEST: u8 = b'C';
const CPMEOF: u8 = 0x1a;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// XMODEM-1K (`loadx`), YMODEM (`loady`) or Kermit (`loadb`, in `super::kermit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Xmodem,
    Ymodem,
    Kermit,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Xmodem => "xmodem",
            Protocol::Ymodem => "ymodem",
            Protocol::Kermit => "kermit",
        }
    }
}

/// The byte pipe to the receiver.
pub trait Link {
    /// One byte, or `None` when nothing came within `timeout`.
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<u8>>;
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long to wait for the receiver's first `C`/NAK.
    pub start_timeout: Duration,
    /// How long to wait for the answer to one block.
    pub ack_timeout: Duration,
    /// Sends of one block before giving up.
    pub tries: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            start_timeout: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(5),
            tries: 10,
        }
    }
}

#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// The receiver never asked for the transfer.
    NoStart {
        waited: Duration,
    },
    /// The receiver sent CAN CAN.
    Cancelled {
        block: u32,
    },
    /// A block was NAKed or unanswered `tries` times; the transfer was aborted with CANs.
    Retries {
        block: u32,
        tries: u32,
        last: String,
    },
    /// The data cannot be sent this way (U-Boot would change it).
    Unsendable(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "serial I/O: {e}"),
            Error::NoStart { waited } => write!(
                f,
                "the receiver never asked for data (no 'C' or NAK within {:.1} s)",
                waited.as_secs_f64()
            ),
            Error::Cancelled { block } => {
                write!(
                    f,
                    "the receiver cancelled the transfer (CAN CAN) at block {block}"
                )
            }
            Error::Retries { block, tries, last } => write!(
                f,
                "block {block} was not accepted after {tries} tries (last answer: {last}); \
                 transfer aborted"
            ),
            Error::Unsendable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// How blocks are checked: chosen by the receiver's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Crc16,
    Sum8,
}

/// One framed block: header, sequence number and its complement, data, check.
fn frame(seq: u8, data: &[u8], check: Check) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5);
    out.push(if data.len() == 1024 { STX } else { SOH });
    out.extend_from_slice(&[seq, !seq]);
    out.extend_from_slice(data);
    match check {
        Check::Crc16 => out.extend_from_slice(&CRC16.checksum(data).to_be_bytes()),
        Check::Sum8 => out.push(data.iter().fold(0u8, |s, &b| s.wrapping_add(b))),
    }
    out
}

/// YMODEM block 0: `name NUL size NUL`, zero-padded to 128 bytes.
fn header_block(name: &str, size: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    b.extend_from_slice(size.to_string().as_bytes());
    b.push(0);
    b.resize(128, 0);
    b
}

/// The first 1K block U-Boot's XMODEM receiver would shorten, if any (1-based).
pub fn xmodem_stripped_block(data: &[u8]) -> Option<u32> {
    data.chunks(1024)
        .position(|c| c.len() == 1024 && c[1021..] == [CPMEOF; 3])
        .map(|i| i as u32 + 1)
}

/// Waits for the receiver's start byte; returns the check it asked for.
fn await_start(link: &mut dyn Link, opts: &Options) -> Result<Check, Error> {
    let started = Instant::now();
    let mut cans = 0;
    while let Some(left) = opts.start_timeout.checked_sub(started.elapsed()) {
        match link.recv(left)? {
            Some(CRC_REQUEST) => return Ok(Check::Crc16),
            Some(NAK) => return Ok(Check::Sum8),
            Some(CAN) => {
                cans += 1;
                if cans == 2 {
                    return Err(Error::Cancelled { block: 0 });
                }
            }
            Some(_) => cans = 0,
            None => break,
        }
    }
    Err(Error::NoStart {
        waited: opts.start_timeout,
    })
}

/// Sends one framed block until it is ACKed.
fn send_block(link: &mut dyn Link, block: u32, bytes: &[u8], opts: &Options) -> Result<(), Error> {
    let mut last = String::from("nothing");
    for _ in 0..opts.tries {
        link.send(bytes)?;
        let deadline = Instant::now() + opts.ack_timeout;
        let mut cans = 0;
        let answer = loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break None;
            };
            match link.recv(left)? {
                Some(ACK) => return Ok(()),
                Some(CAN) => {
                    cans += 1;
                    if cans == 2 {
                        return Err(Error::Cancelled { block });
                    }
                }
                Some(b @ (NAK | CRC_REQUEST)) => break Some(b),
                // Line noise or the receiver's console echo: keep listening.
                Some(_) => cans = 0,
                None => break None,
            }
        };
        last = match answer {
            Some(NAK) => "NAK".into(),
            Some(_) => "'C' (send again)".into(),
            None => format!("no answer within {:.1} s", opts.ack_timeout.as_secs_f64()),
        };
    }
    // Tell the receiver to stop instead of leaving it waiting.
    let _ = link.send(&[CAN; 5]);
    Err(Error::Retries {
        block,
        tries: opts.tries,
        last,
    })
}

/// Sends `data` as `name`; `progress` sees the bytes delivered so far after each block.
pub fn send(
    link: &mut dyn Link,
    protocol: Protocol,
    name: &str,
    data: &[u8],
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<(), Error> {
    if protocol == Protocol::Kermit {
        return super::kermit::send(link, name, data, opts, progress);
    }
    if protocol == Protocol::Xmodem
        && let Some(block) = xmodem_stripped_block(data)
    {
        return Err(Error::Unsendable(format!(
            "block {block} ends in three 0x1A bytes, which U-Boot's XMODEM receiver strips as \
             padding: the image would arrive short; use --protocol ymodem (it sends the size)"
        )));
    }
    let check = await_start(link, opts)?;
    if protocol == Protocol::Ymodem {
        send_block(
            link,
            0,
            &frame(0, &header_block(name, data.len()), check),
            opts,
        )?;
    }
    let mut seq: u8 = 1;
    let mut sent = 0u64;
    for (i, chunk) in data.chunks(1024).enumerate() {
        let mut block = chunk.to_vec();
        // YMODEM's receiver cuts at the size; XMODEM padding must not look like 0x1A.
        block.resize(1024, 0);
        send_block(link, i as u32 + 1, &frame(seq, &block, check), opts)?;
        seq = seq.wrapping_add(1);
        sent += chunk.len() as u64;
        progress(sent);
    }
    let blocks = data.len().div_ceil(1024) as u32;
    send_block(link, blocks + 1, &[EOT], opts)?;
    if protocol == Protocol::Ymodem {
        // The receiver's second ACK, then its `C` for the next file: end the batch.
        let deadline = Instant::now() + opts.ack_timeout;
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(Error::Retries {
                    block: blocks + 2,
                    tries: 1,
                    last: "no 'C' for the closing block 0".into(),
                });
            };
            match link.recv(left)? {
                Some(CRC_REQUEST | NAK) => break,
                Some(_) => {}
                None => continue,
            }
        }
        send_block(link, blocks + 2, &frame(0, &[0u8; 128], check), opts)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A scripted receiver: after each `send` it queues the answer the script gives for it.
    struct Scripted<F: FnMut(&[u8]) -> Vec<u8>> {
        pending: VecDeque<u8>,
        sent: Vec<Vec<u8>>,
        answer: F,
    }

    impl<F: FnMut(&[u8]) -> Vec<u8>> Link for Scripted<F> {
        fn recv(&mut self, _: Duration) -> io::Result<Option<u8>> {
            Ok(self.pending.pop_front())
        }
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.sent.push(bytes.to_vec());
            let reply = (self.answer)(bytes);
            self.pending.extend(reply);
            Ok(())
        }
    }

    fn scripted<F: FnMut(&[u8]) -> Vec<u8>>(start: &[u8], answer: F) -> Scripted<F> {
        Scripted {
            pending: start.iter().copied().collect(),
            sent: Vec::new(),
            answer,
        }
    }

    fn fast() -> Options {
        Options {
            start_timeout: Duration::from_millis(10),
            ack_timeout: Duration::from_millis(10),
            tries: 3,
        }
    }

    #[test]
    fn crc_is_the_xmodem_one() {
        // The CRC-16/XMODEM check value.
        assert_eq!(CRC16.checksum(b"123456789"), 0x31c3);
        let f = frame(1, &[0u8; 128], Check::Sum8);
        assert_eq!(&f[..3], &[SOH, 1, 0xfe]);
        assert_eq!(f.len(), 3 + 128 + 1);
        let f = frame(7, &[1u8; 1024], Check::Crc16);
        assert_eq!((f[0], f.len()), (STX, 3 + 1024 + 2));
    }

    #[test]
    fn ymodem_sends_header_data_eot_and_the_closing_block() {
        let data: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let mut link = scripted(b"C", |b| match b[0] {
            EOT => vec![ACK, ACK, b'C'],
            _ => vec![ACK],
        });
        let mut seen = Vec::new();
        send(
            &mut link,
            Protocol::Ymodem,
            "app.uimg",
            &data,
            &fast(),
            &mut |n| seen.push(n),
        )
        .unwrap();
        assert_eq!(seen, vec![1024, 2048, 2500]);
        let s = &link.sent;
        assert_eq!(s.len(), 1 + 3 + 1 + 1);
        assert_eq!(&s[0][3..3 + 14], b"app.uimg\x002500\x00");
        assert_eq!((s[1][0], s[1][1], s[3][1]), (STX, 1, 3));
        // The last block carries the tail, zero-padded.
        assert_eq!(&s[3][3..3 + 452], &data[2048..]);
        assert!(s[3][3 + 452..3 + 1024].iter().all(|&b| b == 0));
        assert_eq!(s[4], vec![EOT]);
        assert_eq!((s[5][0], s[5][1]), (SOH, 0));
        assert!(s[5][3..131].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_nak_resends_the_block_and_checksum_mode_follows_the_receiver() {
        let mut naks = 1;
        let mut link = scripted(&[NAK], move |b| {
            if b[0] == STX && naks > 0 {
                naks -= 1;
                vec![NAK]
            } else {
                vec![ACK]
            }
        });
        send(
            &mut link,
            Protocol::Xmodem,
            "x",
            &[5u8; 10],
            &fast(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(link.sent.len(), 3, "block 1 twice, then EOT");
        assert_eq!(link.sent[0], link.sent[1]);
        // 8-bit sum: 10 * 5.
        assert_eq!(link.sent[0].len(), 3 + 1024 + 1);
        assert_eq!(*link.sent[0].last().unwrap(), 50);
    }

    #[test]
    fn cancel_and_exhausted_retries_are_clear_errors() {
        let mut link = scripted(b"C", |_| vec![CAN, CAN]);
        let e = send(
            &mut link,
            Protocol::Xmodem,
            "x",
            &[1; 10],
            &fast(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(e, Error::Cancelled { block: 1 }), "{e}");

        let mut link = scripted(b"C", |_| vec![NAK]);
        let e = send(
            &mut link,
            Protocol::Xmodem,
            "x",
            &[1; 10],
            &fast(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "block 1 was not accepted after 3 tries (last answer: NAK); transfer aborted"
        );
        assert_eq!(
            link.sent.last().unwrap(),
            &vec![CAN; 5],
            "aborted with CANs"
        );

        let mut link = scripted(b"", |_| vec![]);
        let e = send(
            &mut link,
            Protocol::Ymodem,
            "x",
            &[1; 10],
            &fast(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("never asked for data"), "{e}");
    }

    #[test]
    fn xmodem_refuses_data_u_boot_would_strip() {
        let mut data = vec![0u8; 3000];
        data[1021..1024].fill(CPMEOF);
        assert_eq!(xmodem_stripped_block(&data), Some(1));
        let mut link = scripted(b"C", |_| vec![ACK]);
        let e = send(
            &mut link,
            Protocol::Xmodem,
            "x",
            &data,
            &fast(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("--protocol ymodem"), "{e}");
        assert!(link.sent.is_empty(), "nothing sent");
        // A short last block is zero-padded, so its 0x1A tail is safe.
        assert_eq!(xmodem_stripped_block(&[CPMEOF; 100]), None);
    }
}
