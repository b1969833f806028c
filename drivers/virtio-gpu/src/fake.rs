//! A virtio-gpu device model behind virtio-drivers' `Transport`, for host tests: it walks
//! the split virtqueue the driver set up (virtio spec 1.2 §2.7: 16-byte descriptors, the
//! available ring {flags, idx, ring[]}, the used ring {flags, idx, ring[{id, len}]}) when the
//! queue is notified, and answers each command with the checks QEMU's
//! hw/display/virtio-gpu.c makes. Bus addresses are host pointers.

extern crate std;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::Mutex;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::protocol::*;

/// A host resource of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Res {
    pub width: u32,
    pub height: u32,
    pub backing: Option<(u64, u32)>,
}

/// The device state the tests inspect and steer.
#[derive(Debug, Default)]
pub struct Model {
    pub display: (u32, u32),
    pub max_hostmem: u64,
    pub resources: BTreeMap<u32, Res>,
    /// Resource on scanout 0 (0: none).
    pub scanout: u32,
    /// Every command type received, in order.
    pub commands: Vec<u32>,
    /// (resource, first pixel of its backing) at each TRANSFER_TO_HOST_2D.
    pub transfers: Vec<(u32, u32)>,
    /// Answer the next command of this type with this error.
    pub fail_next: Option<(u32, u32)>,
    /// Backing at or above this address cannot be mapped (ERR_UNSPEC, as QEMU's
    /// `virtio_gpu_create_mapping_iov`).
    pub unmappable_from: u64,
}

impl Model {
    fn hostmem(&self) -> u64 {
        self.resources
            .values()
            .map(|r| u64::from(r.width) * u64::from(r.height) * 4)
            .sum()
    }

    /// Executes one request; returns the response bytes.
    fn execute(&mut self, req: &[u8]) -> Vec<u8> {
        let w = |at: usize| u32::from_le_bytes(req[at..at + 4].try_into().unwrap());
        let q = |at: usize| u64::from_le_bytes(req[at..at + 8].try_into().unwrap());
        let cmd = w(0);
        self.commands.push(cmd);
        let hdr = |t: u32| {
            let mut h = alloc::vec![0u8; HDR_LEN];
            h[..4].copy_from_slice(&t.to_le_bytes());
            h
        };
        if let Some((c, err)) = self.fail_next
            && c == cmd
        {
            self.fail_next = None;
            return hdr(err);
        }
        let result: Result<(), u32> = match cmd {
            CMD_GET_DISPLAY_INFO => {
                let mut resp = hdr(RESP_OK_DISPLAY_INFO);
                resp.resize(DISPLAY_INFO_LEN, 0);
                for (i, v) in [0, 0, self.display.0, self.display.1, 1].iter().enumerate() {
                    resp[HDR_LEN + i * 4..HDR_LEN + i * 4 + 4].copy_from_slice(&v.to_le_bytes());
                }
                return resp;
            }
            CMD_RESOURCE_CREATE_2D => {
                let (id, format, width, height) = (w(24), w(28), w(32), w(36));
                if id == 0 || self.resources.contains_key(&id) {
                    Err(RESP_ERR_INVALID_RESOURCE_ID)
                } else if format != FORMAT_B8G8R8A8_UNORM && format != FORMAT_B8G8R8X8_UNORM {
                    Err(RESP_ERR_INVALID_PARAMETER)
                } else if self.hostmem() + u64::from(width) * u64::from(height) * 4
                    >= self.max_hostmem
                {
                    Err(RESP_ERR_OUT_OF_MEMORY)
                } else {
                    self.resources.insert(
                        id,
                        Res {
                            width,
                            height,
                            backing: None,
                        },
                    );
                    Ok(())
                }
            }
            CMD_RESOURCE_UNREF => match self.resources.remove(&w(24)) {
                Some(_) => {
                    if self.scanout == w(24) {
                        self.scanout = 0;
                    }
                    Ok(())
                }
                None => Err(RESP_ERR_INVALID_RESOURCE_ID),
            },
            CMD_RESOURCE_ATTACH_BACKING => {
                let (id, n, addr, len) = (w(24), w(28), q(32), w(40));
                let unmappable = self.unmappable_from;
                match self.resources.get_mut(&id) {
                    None => Err(RESP_ERR_INVALID_RESOURCE_ID),
                    Some(_) if n != 1 || addr >= unmappable => Err(RESP_ERR_UNSPEC),
                    Some(r) => {
                        r.backing = Some((addr, len));
                        Ok(())
                    }
                }
            }
            CMD_RESOURCE_DETACH_BACKING => match self.resources.get_mut(&w(24)) {
                Some(r) => {
                    r.backing = None;
                    Ok(())
                }
                None => Err(RESP_ERR_INVALID_RESOURCE_ID),
            },
            CMD_SET_SCANOUT => {
                let (x, y, rw, rh, scanout, id) = (w(24), w(28), w(32), w(36), w(40), w(44));
                if scanout != 0 {
                    Err(RESP_ERR_INVALID_SCANOUT_ID)
                } else if id == 0 {
                    self.scanout = 0;
                    Ok(())
                } else {
                    match self.resources.get(&id) {
                        None => Err(RESP_ERR_INVALID_RESOURCE_ID),
                        Some(r) if rw < 16 || rh < 16 || x + rw > r.width || y + rh > r.height => {
                            Err(RESP_ERR_INVALID_PARAMETER)
                        }
                        Some(_) => {
                            self.scanout = id;
                            Ok(())
                        }
                    }
                }
            }
            CMD_TRANSFER_TO_HOST_2D => {
                let (offset, id) = (q(40), w(48));
                match self.resources.get(&id) {
                    None => Err(RESP_ERR_INVALID_RESOURCE_ID),
                    Some(Res { backing: None, .. }) => Err(RESP_ERR_UNSPEC),
                    Some(Res {
                        backing: Some((addr, _)),
                        ..
                    }) => {
                        // SAFETY: test-only: the backing is a live host buffer of the test.
                        let px = unsafe { ((addr + offset) as usize as *const u32).read() };
                        self.transfers.push((id, px));
                        Ok(())
                    }
                }
            }
            CMD_RESOURCE_FLUSH => {
                if self.resources.contains_key(&w(40)) {
                    Ok(())
                } else {
                    Err(RESP_ERR_INVALID_RESOURCE_ID)
                }
            }
            _ => Err(RESP_ERR_UNSPEC),
        };
        match result {
            Ok(()) => hdr(RESP_OK_NODATA),
            Err(e) => hdr(e),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Queue {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    last_avail: u16,
}

/// The transport: config space with one scanout, one control queue.
#[derive(Debug)]
pub struct FakeGpu {
    pub model: Arc<Mutex<Model>>,
    status: DeviceStatus,
    queue: Option<Queue>,
}

impl FakeGpu {
    pub fn new(display: (u32, u32)) -> Self {
        Self {
            model: Arc::new(Mutex::new(Model {
                display,
                max_hostmem: 256 << 20,
                unmappable_from: u64::MAX,
                ..Model::default()
            })),
            status: DeviceStatus::empty(),
            queue: None,
        }
    }
}

fn rd16(addr: u64) -> u16 {
    // SAFETY: test-only: addresses inside the rings virtio-drivers allocated on the heap.
    unsafe { core::ptr::read_volatile(addr as usize as *const u16) }
}

impl Transport for FakeGpu {
    fn device_type(&self) -> DeviceType {
        DeviceType::GPU
    }
    fn read_device_features(&mut self) -> u64 {
        1 << 32 // VERSION_1
    }
    fn write_driver_features(&mut self, _: u64) {}
    fn max_queue_size(&mut self, _: u16) -> u32 {
        64
    }
    fn notify(&mut self, queue: u16) {
        assert_eq!(queue, 0, "only the control queue is used");
        let q = self.queue.as_mut().expect("notified before queue_set");
        let mut model = self.model.lock().unwrap();
        while rd16(q.avail + 2) != q.last_avail {
            let head = rd16(q.avail + 4 + 2 * u64::from(q.last_avail % q.size));
            let mut req = Vec::new();
            let mut out: Option<(u64, u32)> = None;
            let mut i = head;
            loop {
                let d = q.desc + 16 * u64::from(i);
                // SAFETY: test-only: descriptor `i` of the table virtio-drivers set up.
                let (addr, len, flags, next) = unsafe {
                    (
                        (d as usize as *const u64).read_volatile(),
                        ((d + 8) as usize as *const u32).read_volatile(),
                        ((d + 12) as usize as *const u16).read_volatile(),
                        ((d + 14) as usize as *const u16).read_volatile(),
                    )
                };
                if flags & 2 != 0 {
                    out = Some((addr, len));
                } else {
                    // SAFETY: test-only: a device-readable buffer of the driver.
                    req.extend_from_slice(unsafe {
                        core::slice::from_raw_parts(addr as usize as *const u8, len as usize)
                    });
                }
                if flags & 1 == 0 {
                    break;
                }
                i = next;
            }
            let resp = model.execute(&req);
            let (addr, len) = out.expect("request without a response buffer");
            let n = resp.len().min(len as usize);
            let used_idx = rd16(q.used + 2);
            let elem = q.used + 4 + 8 * u64::from(used_idx % q.size);
            // SAFETY: test-only: the driver's response buffer and its used ring.
            unsafe {
                core::ptr::copy_nonoverlapping(resp.as_ptr(), addr as usize as *mut u8, n);
                (elem as usize as *mut u32).write_volatile(u32::from(head));
                ((elem + 4) as usize as *mut u32).write_volatile(n as u32);
                ((q.used + 2) as usize as *mut u16).write_volatile(used_idx.wrapping_add(1));
            }
            q.last_avail = q.last_avail.wrapping_add(1);
        }
    }
    fn get_status(&self) -> DeviceStatus {
        self.status
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.status = status;
    }
    fn set_guest_page_size(&mut self, _: u32) {}
    fn requires_legacy_layout(&self) -> bool {
        false
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) {
        assert_eq!(queue, 0);
        self.queue = Some(Queue {
            size: size as u16,
            desc,
            avail,
            used,
            last_avail: 0,
        });
    }
    fn queue_unset(&mut self, _: u16) {
        self.queue = None;
    }
    fn queue_used(&mut self, _: u16) -> bool {
        self.queue.is_some()
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::empty()
    }
    fn read_config_generation(&self) -> u32 {
        0
    }
    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        // struct virtio_gpu_config: events_read, events_clear, num_scanouts, num_capsets.
        let mut cfg = [0u8; 16];
        cfg[8..12].copy_from_slice(&1u32.to_le_bytes());
        T::read_from_prefix(cfg.get(offset..).ok_or(Error::ConfigSpaceTooSmall)?)
            .map(|(v, _)| v)
            .map_err(|_| Error::ConfigSpaceTooSmall)
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _: usize,
        _: T,
    ) -> Result<(), Error> {
        Ok(())
    }
}
