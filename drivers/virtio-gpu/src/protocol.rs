//! The virtio-gpu control-queue commands this driver sends, encoded by hand, and the
//! responses it parses.
//!
//! Layouts and numbers: virtio spec 1.2 §5.7.6 ("Device Operation: Request header",
//! `struct virtio_gpu_ctrl_hdr` and the per-command structs), cross-checked against Linux
//! `include/uapi/linux/virtio_gpu.h`. Every field is little-endian; structs are packed to
//! their natural alignment with explicit padding, so the byte offsets below are the spec's.

/// `VIRTIO_GPU_CMD_GET_DISPLAY_INFO`.
pub const CMD_GET_DISPLAY_INFO: u32 = 0x0100;
/// `VIRTIO_GPU_CMD_RESOURCE_CREATE_2D`.
pub const CMD_RESOURCE_CREATE_2D: u32 = 0x0101;
/// `VIRTIO_GPU_CMD_RESOURCE_UNREF`.
pub const CMD_RESOURCE_UNREF: u32 = 0x0102;
/// `VIRTIO_GPU_CMD_SET_SCANOUT`.
pub const CMD_SET_SCANOUT: u32 = 0x0103;
/// `VIRTIO_GPU_CMD_RESOURCE_FLUSH`.
pub const CMD_RESOURCE_FLUSH: u32 = 0x0104;
/// `VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D`.
pub const CMD_TRANSFER_TO_HOST_2D: u32 = 0x0105;
/// `VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING`.
pub const CMD_RESOURCE_ATTACH_BACKING: u32 = 0x0106;
/// `VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING`.
pub const CMD_RESOURCE_DETACH_BACKING: u32 = 0x0107;

/// `VIRTIO_GPU_RESP_OK_NODATA`.
pub const RESP_OK_NODATA: u32 = 0x1100;
/// `VIRTIO_GPU_RESP_OK_DISPLAY_INFO`.
pub const RESP_OK_DISPLAY_INFO: u32 = 0x1101;
/// `VIRTIO_GPU_RESP_ERR_UNSPEC` (first error code; errors are 0x1200..).
pub const RESP_ERR_UNSPEC: u32 = 0x1200;
/// `VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY`.
pub const RESP_ERR_OUT_OF_MEMORY: u32 = 0x1201;
/// `VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID`.
pub const RESP_ERR_INVALID_SCANOUT_ID: u32 = 0x1202;
/// `VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID`.
pub const RESP_ERR_INVALID_RESOURCE_ID: u32 = 0x1203;
/// `VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID`.
pub const RESP_ERR_INVALID_CONTEXT_ID: u32 = 0x1204;
/// `VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER`.
pub const RESP_ERR_INVALID_PARAMETER: u32 = 0x1205;

/// `VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM`: bytes B, G, R, A (our `Argb8888`).
pub const FORMAT_B8G8R8A8_UNORM: u32 = 1;
/// `VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM`: bytes B, G, R, X (our `Xrgb8888`).
pub const FORMAT_B8G8R8X8_UNORM: u32 = 2;

/// `VIRTIO_GPU_MAX_SCANOUTS`: entries in the display-info response.
pub const MAX_SCANOUTS: usize = 16;

/// Size of `struct virtio_gpu_ctrl_hdr`.
pub const HDR_LEN: usize = 24;
/// Size of `struct virtio_gpu_resp_display_info`: header + 16 x (rect 16 + enabled 4 + flags 4).
pub const DISPLAY_INFO_LEN: usize = HDR_LEN + MAX_SCANOUTS * 24;
/// The longest request this driver sends (TRANSFER_TO_HOST_2D: 24 + rect 16 + offset 8 +
/// resource id 4 + padding 4).
pub const MAX_REQUEST_LEN: usize = 56;

/// A rectangle in a resource or on a scanout (`struct virtio_gpu_rect`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuRect {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl GpuRect {
    /// `width` x `height` at the origin.
    pub const fn full(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            width,
            height,
        }
    }
}

/// One encoded request: bytes and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    bytes: [u8; MAX_REQUEST_LEN],
    len: usize,
}

impl Request {
    fn new(cmd: u32) -> Self {
        let mut r = Self {
            bytes: [0; MAX_REQUEST_LEN],
            len: 0,
        };
        // ctrl_hdr: type, flags, fence_id (u64), ctx_id, ring_idx (u8) + 3 padding bytes.
        r.u32(cmd).u32(0).u64(0).u32(0).u32(0);
        r
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes[self.len..self.len + 4].copy_from_slice(&v.to_le_bytes());
        self.len += 4;
        self
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes[self.len..self.len + 8].copy_from_slice(&v.to_le_bytes());
        self.len += 8;
        self
    }

    fn rect(&mut self, r: GpuRect) -> &mut Self {
        self.u32(r.x).u32(r.y).u32(r.width).u32(r.height)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The command type.
    pub fn command(&self) -> u32 {
        u32::from_le_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
    }
}

/// GET_DISPLAY_INFO: the header alone.
pub fn get_display_info() -> Request {
    Request::new(CMD_GET_DISPLAY_INFO)
}

/// RESOURCE_CREATE_2D (`struct virtio_gpu_resource_create_2d`): id, format, width, height.
pub fn resource_create_2d(resource_id: u32, format: u32, width: u32, height: u32) -> Request {
    let mut r = Request::new(CMD_RESOURCE_CREATE_2D);
    r.u32(resource_id).u32(format).u32(width).u32(height);
    r
}

/// RESOURCE_UNREF (`struct virtio_gpu_resource_unref`): id + padding.
pub fn resource_unref(resource_id: u32) -> Request {
    let mut r = Request::new(CMD_RESOURCE_UNREF);
    r.u32(resource_id).u32(0);
    r
}

/// RESOURCE_ATTACH_BACKING with one `virtio_gpu_mem_entry` (addr u64, length u32, padding).
pub fn resource_attach_backing(resource_id: u32, addr: u64, length: u32) -> Request {
    let mut r = Request::new(CMD_RESOURCE_ATTACH_BACKING);
    r.u32(resource_id).u32(1).u64(addr).u32(length).u32(0);
    r
}

/// RESOURCE_DETACH_BACKING: id + padding.
pub fn resource_detach_backing(resource_id: u32) -> Request {
    let mut r = Request::new(CMD_RESOURCE_DETACH_BACKING);
    r.u32(resource_id).u32(0);
    r
}

/// SET_SCANOUT (`struct virtio_gpu_set_scanout`): rect, scanout id, resource id (0 disables).
pub fn set_scanout(scanout_id: u32, resource_id: u32, rect: GpuRect) -> Request {
    let mut r = Request::new(CMD_SET_SCANOUT);
    r.rect(rect).u32(scanout_id).u32(resource_id);
    r
}

/// TRANSFER_TO_HOST_2D (`struct virtio_gpu_transfer_to_host_2d`): rect, offset of the
/// rect's first byte in the backing, resource id, padding.
pub fn transfer_to_host_2d(resource_id: u32, rect: GpuRect, offset: u64) -> Request {
    let mut r = Request::new(CMD_TRANSFER_TO_HOST_2D);
    r.rect(rect).u64(offset).u32(resource_id).u32(0);
    r
}

/// RESOURCE_FLUSH (`struct virtio_gpu_resource_flush`): rect, resource id, padding.
pub fn resource_flush(resource_id: u32, rect: GpuRect) -> Request {
    let mut r = Request::new(CMD_RESOURCE_FLUSH);
    r.rect(rect).u32(resource_id).u32(0);
    r
}

/// What a response said, when it was not the expected OK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespError {
    /// The device answered with an error code (`VIRTIO_GPU_RESP_ERR_*`).
    Device(u32),
    /// The device answered with another OK type than the command expects.
    Unexpected(u32),
    /// The response is shorter than its type needs.
    Short {
        /// Bytes the type needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
}

impl RespError {
    /// A name for logs and [`dmasync_engine::EngineError::Device`].
    pub fn name(&self) -> &'static str {
        match *self {
            Self::Device(code) => error_name(code),
            Self::Unexpected(_) => "virtio-gpu: unexpected response type",
            Self::Short { .. } => "virtio-gpu: response shorter than its type",
        }
    }

    /// The code a fence signals with (`FenceError::DeviceError`).
    pub fn code(&self) -> u32 {
        match *self {
            Self::Device(code) | Self::Unexpected(code) => code,
            Self::Short { .. } => 0,
        }
    }
}

/// The spec's name for an error response type.
pub fn error_name(code: u32) -> &'static str {
    match code {
        RESP_ERR_UNSPEC => "virtio-gpu: ERR_UNSPEC",
        RESP_ERR_OUT_OF_MEMORY => "virtio-gpu: ERR_OUT_OF_MEMORY",
        RESP_ERR_INVALID_SCANOUT_ID => "virtio-gpu: ERR_INVALID_SCANOUT_ID",
        RESP_ERR_INVALID_RESOURCE_ID => "virtio-gpu: ERR_INVALID_RESOURCE_ID",
        RESP_ERR_INVALID_CONTEXT_ID => "virtio-gpu: ERR_INVALID_CONTEXT_ID",
        RESP_ERR_INVALID_PARAMETER => "virtio-gpu: ERR_INVALID_PARAMETER",
        _ => "virtio-gpu: unknown error response",
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The response's type field, checked against `expected`.
pub fn check_response(resp: &[u8], expected: u32) -> Result<(), RespError> {
    if resp.len() < HDR_LEN {
        return Err(RespError::Short {
            need: HDR_LEN,
            have: resp.len(),
        });
    }
    match le32(resp, 0) {
        t if t == expected => Ok(()),
        t if t >= RESP_ERR_UNSPEC => Err(RespError::Device(t)),
        t => Err(RespError::Unexpected(t)),
    }
}

/// One scanout of a display-info response (`struct virtio_gpu_display_one`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanoutInfo {
    /// Its preferred position and size.
    pub rect: GpuRect,
    /// Whether a display is connected and enabled.
    pub enabled: bool,
}

/// Parses a GET_DISPLAY_INFO response.
pub fn parse_display_info(resp: &[u8]) -> Result<[ScanoutInfo; MAX_SCANOUTS], RespError> {
    check_response(resp, RESP_OK_DISPLAY_INFO)?;
    if resp.len() < DISPLAY_INFO_LEN {
        return Err(RespError::Short {
            need: DISPLAY_INFO_LEN,
            have: resp.len(),
        });
    }
    let mut out = [ScanoutInfo::default(); MAX_SCANOUTS];
    for (i, s) in out.iter_mut().enumerate() {
        let at = HDR_LEN + i * 24;
        s.rect = GpuRect {
            x: le32(resp, at),
            y: le32(resp, at + 4),
            width: le32(resp, at + 8),
            height: le32(resp, at + 12),
        };
        s.enabled = le32(resp, at + 16) != 0;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn words(r: &Request) -> Vec<u32> {
        r.as_bytes()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn header_is_24_bytes_with_the_type_first() {
        let r = get_display_info();
        assert_eq!(r.as_bytes().len(), HDR_LEN);
        assert_eq!(words(&r), [0x100, 0, 0, 0, 0, 0]);
        assert_eq!(r.command(), CMD_GET_DISPLAY_INFO);
    }

    #[test]
    fn create_2d_layout_matches_the_spec() {
        let r = resource_create_2d(7, FORMAT_B8G8R8X8_UNORM, 640, 480);
        assert_eq!(r.as_bytes().len(), 40);
        assert_eq!(&words(&r)[6..], [7, 2, 640, 480]);
    }

    #[test]
    fn attach_backing_has_one_entry_with_a_64_bit_address() {
        let r = resource_attach_backing(3, 0x1_2345_6780, 0x12_c000);
        assert_eq!(r.as_bytes().len(), 48);
        let w = words(&r);
        assert_eq!(w[0], CMD_RESOURCE_ATTACH_BACKING);
        assert_eq!(&w[6..], [3, 1, 0x2345_6780, 0x1, 0x12_c000, 0]);
    }

    #[test]
    fn scanout_transfer_flush_layouts() {
        let rect = GpuRect::full(320, 200);
        let s = set_scanout(0, 9, rect);
        assert_eq!(s.as_bytes().len(), 48);
        assert_eq!(&words(&s)[6..], [0, 0, 320, 200, 0, 9]);
        let t = transfer_to_host_2d(9, rect, 0x40);
        assert_eq!(t.as_bytes().len(), 56);
        assert_eq!(&words(&t)[6..], [0, 0, 320, 200, 0x40, 0, 9, 0]);
        let f = resource_flush(9, rect);
        assert_eq!(f.as_bytes().len(), 48);
        assert_eq!(&words(&f)[6..], [0, 0, 320, 200, 9, 0]);
        assert_eq!(resource_unref(9).as_bytes().len(), 32);
        assert_eq!(resource_detach_backing(9).as_bytes().len(), 32);
    }

    fn resp(t: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        v[..4].copy_from_slice(&t.to_le_bytes());
        v
    }

    #[test]
    fn responses_map_to_ok_device_errors_and_surprises() {
        assert_eq!(
            check_response(&resp(RESP_OK_NODATA, 24), RESP_OK_NODATA),
            Ok(())
        );
        let e = check_response(&resp(RESP_ERR_OUT_OF_MEMORY, 24), RESP_OK_NODATA).unwrap_err();
        assert_eq!(e, RespError::Device(0x1201));
        assert_eq!(e.name(), "virtio-gpu: ERR_OUT_OF_MEMORY");
        assert_eq!(e.code(), 0x1201);
        assert_eq!(
            check_response(&resp(RESP_ERR_INVALID_PARAMETER, 24), RESP_OK_NODATA)
                .unwrap_err()
                .name(),
            "virtio-gpu: ERR_INVALID_PARAMETER"
        );
        assert_eq!(
            check_response(&resp(RESP_OK_DISPLAY_INFO, 24), RESP_OK_NODATA),
            Err(RespError::Unexpected(0x1101))
        );
        assert_eq!(
            check_response(&resp(RESP_OK_NODATA, 10), RESP_OK_NODATA),
            Err(RespError::Short { need: 24, have: 10 })
        );
    }

    #[test]
    fn display_info_parses_each_scanout() {
        let mut r = resp(RESP_OK_DISPLAY_INFO, DISPLAY_INFO_LEN);
        let one = HDR_LEN + 24;
        for (i, v) in [5u32, 6, 1280, 800, 1].iter().enumerate() {
            r[one + i * 4..one + i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        let info = parse_display_info(&r).unwrap();
        assert!(!info[0].enabled);
        assert_eq!(
            info[1],
            ScanoutInfo {
                rect: GpuRect {
                    x: 5,
                    y: 6,
                    width: 1280,
                    height: 800
                },
                enabled: true
            }
        );
        assert_eq!(
            parse_display_info(&r[..100]),
            Err(RespError::Short {
                need: DISPLAY_INFO_LEN,
                have: 100
            })
        );
        assert_eq!(
            parse_display_info(&resp(RESP_ERR_UNSPEC, DISPLAY_INFO_LEN)),
            Err(RespError::Device(RESP_ERR_UNSPEC))
        );
    }
}
