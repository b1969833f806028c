//! The BCM2835 mailbox's property channel (channel 8), the ARM's way to ask the VideoCore
//! firmware for things, and the firmware's framebuffer on top of it as a dmasync display
//! ([`fb::MboxFb`]).
//!
//! # One crate for both
//!
//! The mailbox is the one IP the ARM programs here. The framebuffer has no registers the
//! ARM can reach: it is a set of property tags (set sizes, depth, pixel order, virtual
//! offset; allocate) that the firmware — or QEMU's model of it, hw/misc/bcm2835_property.c
//! calling hw/display/bcm2835_fb.c — carries out. So the framebuffer protocol is just
//! property messages, and it lives in this crate beside the channel it travels on.
//!
//! # Facts (public sources; /work/shared/reference/raspi3b.md §5 has what was checked)
//!
//! - Mailbox 0 at ARM physical 0x3F00_B880 (bus 0x7E00_B880): READ at +0x00, STATUS at
//!   +0x18 (bit 31 FULL, bit 30 EMPTY); the ARM writes to mailbox 1 at +0x20, whose status
//!   is at +0x38 (Linux drivers/mailbox/bcm2835-mailbox.c `MAIL0_RD`, `MAIL0_STA`,
//!   `MAIL1_WRT`, `MAIL1_STA`; QEMU hw/misc/bcm2835_mbox.c).
//! - A request is the buffer's bus address (16-byte aligned) with the channel in the low
//!   nibble; the reply is the same word read back from READ (QEMU finishes the request
//!   inside the write).
//! - A property message (Raspberry Pi firmware wiki, "Mailbox property interface"; Linux
//!   include/soc/bcm2835/raspberrypi-firmware.h): word 0 the message's size in bytes,
//!   word 1 the code (0 = request; 0x8000_0000 = success, 0x8000_0001 = error parsing the
//!   request), then tags {id, value buffer size in bytes, code, value words}, then an end
//!   tag 0. A tag's code is 0 in the request; the firmware sets bit 31 and the response
//!   length in bits 0-30.
//!
//! The message buffer is a [`SyncBuffer`] of the caller's sync domain: each call locks it
//! for the CPU's write, then for the mailbox's read and write (the set derives the clean
//! before the firmware reads it and the invalidate before the CPU reads the reply), so the
//! crate needs no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod fb;

use core::fmt;

use dmasync_hal::dma::{Coherency, DeviceId, DmaError, DmaMemory, MemorySystem};
use dmasync_hal::mmio::RegisterIo;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncDomain, SyncError};

/// READ: the reply word (mailbox 0, VideoCore to ARM).
pub const MAIL0_READ: usize = 0x00;
/// STATUS of mailbox 0.
pub const MAIL0_STATUS: usize = 0x18;
/// WRITE: the request word (mailbox 1, ARM to VideoCore).
pub const MAIL1_WRITE: usize = 0x20;
/// STATUS of mailbox 1.
pub const MAIL1_STATUS: usize = 0x38;
/// Bytes of the register block the driver uses.
pub const BLOCK_LEN: usize = 0x40;
/// STATUS bit 31: the mailbox is full.
pub const STATUS_FULL: u32 = 1 << 31;
/// STATUS bit 30: the mailbox is empty.
pub const STATUS_EMPTY: u32 = 1 << 30;
/// The property channel, ARM to VideoCore.
pub const CHANNEL_PROPERTY: u32 = 8;

/// Message code of a request.
pub const CODE_REQUEST: u32 = 0;
/// Message code of a reply the firmware processed.
pub const CODE_SUCCESS: u32 = 0x8000_0000;
/// Tag code bit 31: the firmware answered the tag; bits 0-30 are the response length.
pub const TAG_RESPONSE: u32 = 0x8000_0000;

/// Words of the message buffer: enough for the framebuffer's set-up (7 tags, 37 words).
pub const MESSAGE_WORDS: usize = 64;
/// Most tags in one message.
pub const MAX_TAGS: usize = 12;
/// Status polls before a mailbox that never drains or never answers is given up on.
/// QEMU answers inside the write; the firmware within microseconds.
pub const POLL_LIMIT: u32 = 1_000_000;

/// Property tags (raspberrypi-firmware.h `RPI_FIRMWARE_*`).
pub mod tag {
    /// Firmware revision.
    pub const GET_FIRMWARE_REVISION: u32 = 0x0000_0001;
    /// Allocate the framebuffer: request the alignment, response base and size.
    pub const FRAMEBUFFER_ALLOCATE: u32 = 0x0004_0001;
    /// Physical (display) width and height.
    pub const FRAMEBUFFER_GET_PHYSICAL_WIDTH_HEIGHT: u32 = 0x0004_0003;
    /// Bytes per line.
    pub const FRAMEBUFFER_GET_PITCH: u32 = 0x0004_0008;
    /// The virtual offset now in use.
    pub const FRAMEBUFFER_GET_VIRTUAL_OFFSET: u32 = 0x0004_0009;
    /// Set the physical (display) width and height.
    pub const FRAMEBUFFER_SET_PHYSICAL_WIDTH_HEIGHT: u32 = 0x0004_8003;
    /// Set the virtual (buffer) width and height.
    pub const FRAMEBUFFER_SET_VIRTUAL_WIDTH_HEIGHT: u32 = 0x0004_8004;
    /// Set the bits per pixel.
    pub const FRAMEBUFFER_SET_DEPTH: u32 = 0x0004_8005;
    /// Set the pixel order: 0 BGR, 1 RGB.
    pub const FRAMEBUFFER_SET_PIXEL_ORDER: u32 = 0x0004_8006;
    /// Set the virtual offset: which part of the virtual buffer is shown.
    pub const FRAMEBUFFER_SET_VIRTUAL_OFFSET: u32 = 0x0004_8009;
}

/// What went wrong with a property call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MboxError {
    /// Mailbox 1 stayed full: the firmware takes no requests.
    WriteFull,
    /// No reply on the property channel within [`POLL_LIMIT`] polls.
    NoReply,
    /// A property-channel reply for another buffer than ours.
    WrongReply(u32),
    /// The firmware did not process the message (its code is not 0x8000_0000).
    Refused {
        /// The message code it returned.
        code: u32,
    },
    /// The firmware processed the message but left this tag unanswered (no bit 31).
    TagNotAnswered {
        /// The tag's id.
        tag: u32,
    },
    /// The firmware answered a tag with more bytes than its value buffer holds.
    TagTruncated {
        /// The tag's id.
        tag: u32,
        /// The response length it gave.
        len: u32,
    },
    /// The message does not fit [`MESSAGE_WORDS`] / [`MAX_TAGS`].
    MessageTooLong,
    /// The message buffer's bus address is not a 32-bit, 16-byte aligned address.
    BadBufferAddress(u64),
    /// The message buffer could not be allocated.
    Alloc(DmaError),
    /// The sync domain refused the message buffer or its lock.
    Sync(SyncError),
}

impl fmt::Display for MboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WriteFull => write!(f, "mailbox: mailbox 1 stays full"),
            Self::NoReply => write!(f, "mailbox: no reply on the property channel"),
            Self::WrongReply(w) => write!(f, "mailbox: reply {w:#x} is not for our buffer"),
            Self::Refused { code } => {
                write!(
                    f,
                    "mailbox: the firmware refused the message (code {code:#x})"
                )
            }
            Self::TagNotAnswered { tag } => {
                write!(f, "mailbox: the firmware did not answer tag {tag:#x}")
            }
            Self::TagTruncated { tag, len } => {
                write!(
                    f,
                    "mailbox: tag {tag:#x} answered {len} bytes, more than asked"
                )
            }
            Self::MessageTooLong => write!(f, "mailbox: message too long"),
            Self::BadBufferAddress(a) => {
                write!(
                    f,
                    "mailbox: buffer bus address {a:#x} is not 32-bit, 16-aligned"
                )
            }
            Self::Alloc(e) => write!(f, "mailbox: message buffer: {e:?}"),
            Self::Sync(e) => write!(f, "mailbox: message buffer: {e:?}"),
        }
    }
}

impl From<SyncError> for MboxError {
    fn from(e: SyncError) -> Self {
        Self::Sync(e)
    }
}

/// A tag's place in a [`Message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagIndex(usize);

#[derive(Clone, Copy, Debug, Default)]
struct TagSlot {
    id: u32,
    /// Word index of the tag's id.
    at: usize,
    /// Value words.
    words: usize,
}

/// A property message being built, then its reply.
#[derive(Clone, Debug)]
pub struct Message {
    words: [u32; MESSAGE_WORDS],
    /// Words used, without the end tag.
    len: usize,
    tags: [TagSlot; MAX_TAGS],
    ntags: usize,
}

impl Default for Message {
    fn default() -> Self {
        Self::new()
    }
}

impl Message {
    /// An empty request.
    pub fn new() -> Self {
        Self {
            words: [0; MESSAGE_WORDS],
            len: 2,
            tags: [TagSlot::default(); MAX_TAGS],
            ntags: 0,
        }
    }

    /// Appends tag `id` with the request values `request` and room for `response_words`
    /// words of response (the value buffer is the larger of the two).
    pub fn tag(
        &mut self,
        id: u32,
        request: &[u32],
        response_words: usize,
    ) -> Result<TagIndex, MboxError> {
        let words = request.len().max(response_words);
        // id, size, code, values; and the end tag after the last one.
        if self.ntags == MAX_TAGS || self.len + 3 + words + 1 > MESSAGE_WORDS {
            return Err(MboxError::MessageTooLong);
        }
        let at = self.len;
        self.words[at] = id;
        self.words[at + 1] = (words * 4) as u32;
        self.words[at + 2] = 0;
        self.words[at + 3..at + 3 + words].fill(0);
        self.words[at + 3..at + 3 + request.len()].copy_from_slice(request);
        self.len += 3 + words;
        self.tags[self.ntags] = TagSlot { id, at, words };
        self.ntags += 1;
        Ok(TagIndex(self.ntags - 1))
    }

    /// The request as the firmware reads it: size, code 0, the tags, the end tag.
    pub fn encode(&mut self) -> &[u32] {
        let total = self.len + 1;
        self.words[0] = (total * 4) as u32;
        self.words[1] = CODE_REQUEST;
        self.words[self.len] = 0;
        &self.words[..total]
    }

    /// Takes the firmware's reply (`reply`, the buffer as it came back) and checks it: the
    /// message code, and each tag answered within its value buffer.
    pub fn decode(&mut self, reply: &[u32]) -> Result<(), MboxError> {
        let total = self.len + 1;
        if reply.len() < total {
            return Err(MboxError::MessageTooLong);
        }
        self.words[..total].copy_from_slice(&reply[..total]);
        if self.words[1] != CODE_SUCCESS {
            return Err(MboxError::Refused {
                code: self.words[1],
            });
        }
        for t in &self.tags[..self.ntags] {
            let code = self.words[t.at + 2];
            if code & TAG_RESPONSE == 0 {
                return Err(MboxError::TagNotAnswered { tag: t.id });
            }
            let len = code & !TAG_RESPONSE;
            if len as usize > t.words * 4 {
                return Err(MboxError::TagTruncated { tag: t.id, len });
            }
        }
        Ok(())
    }

    /// The value words of tag `i` (the request's before [`decode`](Self::decode), the
    /// response's after).
    pub fn value(&self, i: TagIndex) -> &[u32] {
        let t = &self.tags[i.0];
        &self.words[t.at + 3..t.at + 3 + t.words]
    }
}

/// The property channel: the mailbox registers and a message buffer in the sync domain.
pub struct Mailbox<'d, R: RegisterIo, M: MemorySystem> {
    regs: R,
    domain: &'d SyncDomain<M>,
    buffer: SyncBuffer,
    device: DeviceId,
}

impl<R: RegisterIo, M: MemorySystem> fmt::Debug for Mailbox<'_, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl<'d, R: RegisterIo, M: MemorySystem> Mailbox<'d, R, M> {
    /// The property channel over `regs` (the mailbox block), with its message buffer from
    /// `memory` registered in `domain`. `device` is the bus-master id the firmware's
    /// accesses to the buffer are locked for.
    pub fn new(
        regs: R,
        domain: &'d SyncDomain<M>,
        memory: &impl DmaMemory,
        device: DeviceId,
    ) -> Result<Self, MboxError> {
        let region = memory
            .alloc(MESSAGE_WORDS * 4, Coherency::NonCoherent)
            .map_err(MboxError::Alloc)?;
        let bus = region.bus().0;
        if bus & 0xF != 0 || bus + (MESSAGE_WORDS * 4) as u64 > u64::from(u32::MAX) {
            return Err(MboxError::BadBufferAddress(bus));
        }
        let buffer = domain
            .buffer("mailbox message", region)
            .map_err(|r| MboxError::Sync(r.error))?;
        Ok(Self {
            regs,
            domain,
            buffer,
            device,
        })
    }

    /// Sends `msg` on the property channel and waits for the reply, which
    /// [`Message::decode`] checks; `msg` then holds the responses.
    pub fn call(&mut self, msg: &mut Message) -> Result<(), MboxError> {
        let request = msg.encode();
        let n = request.len();
        {
            let mut set = self.domain.set();
            set.add(&self.buffer, Access::CPU_WRITE)?;
            let locked = set.lock()?;
            locked.cpu_write(&self.buffer)?.with_mut(|bytes| {
                for (i, w) in request.iter().enumerate() {
                    bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
                }
            })?;
            locked.unlock()?;
        }
        {
            let mut set = self.domain.set();
            set.add(&self.buffer, Access::dma_read_write(self.device))?;
            let locked = set.lock()?;
            let (bus, _) = locked.dma(&self.buffer, self.device)?.bus_range()?;
            let sent = self.exchange(bus.0 as u32);
            locked.unlock()?;
            sent?;
        }
        let mut reply = [0u32; MESSAGE_WORDS];
        {
            let mut set = self.domain.set();
            set.add(&self.buffer, Access::CPU_READ)?;
            let locked = set.lock()?;
            locked.cpu_read(&self.buffer)?.with(|bytes| {
                for (i, w) in reply[..n].iter_mut().enumerate() {
                    *w = u32::from_le_bytes([
                        bytes[i * 4],
                        bytes[i * 4 + 1],
                        bytes[i * 4 + 2],
                        bytes[i * 4 + 3],
                    ]);
                }
            })?;
            locked.unlock()?;
        }
        msg.decode(&reply[..n])
    }

    /// Writes the request word for the buffer at `bus` and reads until its reply.
    fn exchange(&self, bus: u32) -> Result<(), MboxError> {
        let word = bus | CHANNEL_PROPERTY;
        let mut polls = 0;
        while self.regs.read32(MAIL1_STATUS) & STATUS_FULL != 0 {
            polls += 1;
            if polls == POLL_LIMIT {
                return Err(MboxError::WriteFull);
            }
        }
        self.regs.write32(MAIL1_WRITE, word);
        let mut polls = 0;
        loop {
            if self.regs.read32(MAIL0_STATUS) & STATUS_EMPTY == 0 {
                let reply = self.regs.read32(MAIL0_READ);
                // Replies on other channels are not ours (the firmware posts none
                // unasked on the ARM side; skip them rather than take them as ours).
                if reply & 0xF == CHANNEL_PROPERTY {
                    return if reply == word {
                        Ok(())
                    } else {
                        Err(MboxError::WrongReply(reply))
                    };
                }
            }
            polls += 1;
            if polls == POLL_LIMIT {
                return Err(MboxError::NoReply);
            }
        }
    }

    /// The firmware revision (tag 0x1): a cheap call that shows the channel works.
    pub fn firmware_revision(&mut self) -> Result<u32, MboxError> {
        let mut msg = Message::new();
        let t = msg.tag(tag::GET_FIRMWARE_REVISION, &[], 1)?;
        self.call(&mut msg)?;
        Ok(msg.value(t)[0])
    }
}
