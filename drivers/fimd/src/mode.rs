//! What FIMD can drive, and the register values of a mode and of a window: pure functions,
//! checked before any register is written.
//!
//! Sequences after Linux `drivers/gpu/drm/exynos/exynos_drm_fimd.c` (`fimd_commit`: VIDCON1
//! polarities, VIDTCON0/1 porches and sync widths as value - 1, VIDTCON2 size - 1, then
//! VIDCON0 with ENVID | ENVID_F; `fimd_update_plane`: buffer start, end = start + pitch x
//! height, VIDWxADD2 = offset | page width, VIDOSDxA/B corners, the size in VIDOSD0C or
//! VIDOSD1D/2D; `fimd_win_set_pixfmt`: XRGB8888 = BPPMODE 0xB, ARGB8888 = 0xD with BLD_PIX
//! and ALPHA_SEL, WSWP for both, 16-word bursts).

use dmasync_engine::{DisplayMode, EngineError, PixelFormat, SurfaceDesc};
use dmasync_hal::dma::BusAddr;

use crate::regs::{VIDCON0, VIDCON1, VIDOSD_AB, VIDTCON01, VIDTCON2, VIDWADD2, WINCON};

/// Widest window: VIDWxADD2.PAGEWIDTH has 13 bits (8191 bytes of a 32 bpp line), and a line
/// is whole 64-bit words (two pixels).
pub const MAX_WIDTH: u32 = 2046;
/// Tallest screen: VIDTCON2.LINEVAL and the VIDOSD Y fields have 11 bits.
pub const MAX_HEIGHT: u32 = 2048;
/// Largest OFFSIZE (bytes between the end of one visible line and the next), 13 bits.
pub const MAX_OFFSIZE: usize = 0x1FFF;
/// The controller fetches 64-bit words (QEMU's `draw_line_32` reads 8 bytes per two
/// pixels): buffer starts and strides are multiples of this.
pub const FETCH_ALIGN: usize = 8;

/// Panel timings (in pixel clocks and lines), as a panel's data sheet or device tree gives
/// them; each 1..=256 (the VIDTCON fields hold value - 1 in 8 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// HSYNC pulse width.
    pub hsync_len: u16,
    /// Horizontal front porch.
    pub h_front_porch: u16,
    /// Horizontal back porch.
    pub h_back_porch: u16,
    /// VSYNC pulse width (lines).
    pub vsync_len: u16,
    /// Vertical front porch (lines).
    pub v_front_porch: u16,
    /// Vertical back porch (lines).
    pub v_back_porch: u16,
    /// VCLK = source clock / this, 1..=256 (VIDCON0.CLKVAL_F + 1). The source (SCLK_FIMD)
    /// is the board's clock set-up; QEMU models no clock.
    pub clock_divider: u16,
    /// Invert HSYNC (VIDCON1.IHSYNC).
    pub invert_hsync: bool,
    /// Invert VSYNC (VIDCON1.IVSYNC).
    pub invert_vsync: bool,
}

impl Timings {
    /// Timings that any FIMD accepts; QEMU ignores them (it has no panel).
    pub const QEMU: Timings = Timings {
        hsync_len: 1,
        h_front_porch: 1,
        h_back_porch: 1,
        vsync_len: 1,
        v_front_porch: 1,
        v_back_porch: 1,
        clock_divider: 1,
        invert_hsync: false,
        invert_vsync: false,
    };

    /// Checks every field fits its register; names the first that does not.
    pub fn check(&self) -> Result<(), EngineError> {
        let fields = [
            (
                self.hsync_len,
                "HSYNC width outside 1..=256 (VIDTCON1.HSPW)",
            ),
            (
                self.h_front_porch,
                "horizontal front porch outside 1..=256 (VIDTCON1.HFPD)",
            ),
            (
                self.h_back_porch,
                "horizontal back porch outside 1..=256 (VIDTCON1.HBPD)",
            ),
            (
                self.vsync_len,
                "VSYNC width outside 1..=256 (VIDTCON0.VSPW)",
            ),
            (
                self.v_front_porch,
                "vertical front porch outside 1..=256 (VIDTCON0.VFPD)",
            ),
            (
                self.v_back_porch,
                "vertical back porch outside 1..=256 (VIDTCON0.VBPD)",
            ),
            (
                self.clock_divider,
                "clock divider outside 1..=256 (VIDCON0.CLKVAL_F)",
            ),
        ];
        for (v, why) in fields {
            if !(1..=256).contains(&v) {
                return Err(EngineError::Unsupported(why));
            }
        }
        Ok(())
    }
}

/// The register values of a screen mode, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeRegs {
    /// VIDCON1.
    pub vidcon1: u32,
    /// VIDTCON0 (vertical).
    pub vidtcon0: u32,
    /// VIDTCON1 (horizontal).
    pub vidtcon1: u32,
    /// VIDTCON2 (size).
    pub vidtcon2: u32,
    /// VIDCON0, enabling the output.
    pub vidcon0: u32,
}

/// Checks a screen mode (window 0's format and the output size) and its timings, and gives
/// the register values. A size FIMD cannot drive is `ModeRefused`; another format or a
/// timing outside its field, `Unsupported` naming it.
pub fn screen_mode(mode: &DisplayMode, t: &Timings) -> Result<ModeRegs, EngineError> {
    if mode.format != PixelFormat::Xrgb8888 {
        return Err(EngineError::Unsupported(
            "FIMD's primary window scans out XRGB8888 only",
        ));
    }
    check_size(mode.width, mode.height)?;
    t.check()?;
    let v = |len: u16, fp: u16, bp: u16| {
        (VIDTCON01::SPW.val(u32::from(len) - 1)
            + VIDTCON01::FPD.val(u32::from(fp) - 1)
            + VIDTCON01::BPD.val(u32::from(bp) - 1))
        .value
    };
    let mut vidcon1 = 0;
    if t.invert_hsync {
        vidcon1 |= VIDCON1::IHSYNC::SET.value;
    }
    if t.invert_vsync {
        vidcon1 |= VIDCON1::IVSYNC::SET.value;
    }
    let mut vidcon0 = VIDCON0::VIDOUT::Rgb + VIDCON0::ENVID::SET + VIDCON0::ENVID_F::SET;
    if t.clock_divider > 1 {
        vidcon0 += VIDCON0::CLKVAL_F.val(u32::from(t.clock_divider) - 1) + VIDCON0::CLKDIR::SET;
    }
    Ok(ModeRegs {
        vidcon1,
        vidtcon0: v(t.vsync_len, t.v_front_porch, t.v_back_porch),
        vidtcon1: v(t.hsync_len, t.h_front_porch, t.h_back_porch),
        vidtcon2: (VIDTCON2::HOZVAL.val(mode.width - 1) + VIDTCON2::LINEVAL.val(mode.height - 1))
            .value,
        vidcon0: vidcon0.value,
    })
}

fn check_size(width: u32, height: u32) -> Result<(), EngineError> {
    if !(2..=MAX_WIDTH).contains(&width)
        || !width.is_multiple_of(2)
        || !(1..=MAX_HEIGHT).contains(&height)
    {
        return Err(EngineError::ModeRefused { width, height });
    }
    Ok(())
}

/// Where a window sits on the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width in pixels (even).
    pub width: u32,
    /// Height in lines.
    pub height: u32,
    /// The window's pixel format.
    pub format: PixelFormat,
}

impl Geometry {
    /// Checks the window's size and that it lies on a `screen`-sized screen.
    pub fn check_on(&self, screen: &DisplayMode) -> Result<(), EngineError> {
        check_size(self.width, self.height)?;
        if self.x.saturating_add(self.width) > screen.width
            || self.y.saturating_add(self.height) > screen.height
        {
            return Err(EngineError::Unsupported(
                "window does not lie on the screen (VIDOSD corners past the mode's size)",
            ));
        }
        Ok(())
    }

    /// The window's mode, as its flips are checked against.
    pub fn mode(&self) -> DisplayMode {
        DisplayMode {
            width: self.width,
            height: self.height,
            format: self.format,
        }
    }
}

/// Checks a framebuffer for a window of `mode` beyond [`DisplayMode::check_framebuffer`]:
/// the stride and start whole 64-bit words, the offset between lines within OFFSIZE, and
/// every byte the controller maps inside the buffer — QEMU maps (PAGEWIDTH + OFFSIZE) x
/// lines (`fimd_update_memory_section`), the trailing offset of the last line included —
/// at a 32-bit bus address.
pub fn check_framebuffer(
    mode: &DisplayMode,
    buffer: &'static str,
    fb: &SurfaceDesc,
    buffer_len: usize,
    buffer_bus: BusAddr,
) -> Result<(), EngineError> {
    mode.check_framebuffer(buffer, fb, buffer_len)?;
    let row = mode.width as usize * mode.format.bytes_per_pixel();
    if !fb.stride.is_multiple_of(FETCH_ALIGN) {
        return Err(EngineError::BadSurface {
            buffer,
            why: "stride is not a whole number of the 64-bit words FIMD fetches",
        });
    }
    if fb.stride - row > MAX_OFFSIZE {
        return Err(EngineError::BadSurface {
            buffer,
            why: "stride exceeds the visible line by more than VIDWxADD2.OFFSIZE holds",
        });
    }
    let mapped = fb.stride * mode.height as usize;
    let have = buffer_len.saturating_sub(fb.offset);
    if have < mapped {
        return Err(EngineError::FramebufferTooSmall {
            buffer,
            need: mapped,
            have,
        });
    }
    let start = buffer_bus.0.checked_add(fb.offset as u64);
    match start {
        Some(s) if !s.is_multiple_of(FETCH_ALIGN as u64) => Err(EngineError::BadSurface {
            buffer,
            why: "framebuffer start is not 64-bit aligned",
        }),
        Some(s) if s + mapped as u64 <= 1 << 32 => Ok(()),
        _ => Err(EngineError::BadSurface {
            buffer,
            why: "framebuffer lies above FIMD's 32-bit bus addresses",
        }),
    }
}

/// The register values of one window showing one framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowRegs {
    /// VIDOSDwA.
    pub osd_a: u32,
    /// VIDOSDwB.
    pub osd_b: u32,
    /// The size in pixels (VIDOSD0C for window 0, VIDOSDwD for 1 and 2).
    pub osd_size: u32,
    /// VIDWw0ADD0B0.
    pub start: u32,
    /// VIDWw0ADD1B0.
    pub end: u32,
    /// VIDWwADD2.
    pub add2: u32,
    /// WINCONw, enabled.
    pub wincon: u32,
}

/// The registers of a window at `g` showing the buffer at bus address `start` with
/// `stride`; the caller checked both ([`check_framebuffer`], [`Geometry::check_on`]).
/// `None` for a format FIMD's windows are not driven with (`screen_mode` and
/// `set_overlay` refuse those first).
pub fn window_regs(g: &Geometry, start: u32, stride: usize) -> Option<WindowRegs> {
    let row = g.width * g.format.bytes_per_pixel() as u32;
    let format = match g.format {
        PixelFormat::Xrgb8888 => WINCON::BPPMODE::Xrgb8888,
        // Per-pixel alpha as Linux sets it for ARGB8888: BLD_PIX and ALPHA_SEL. QEMU then
        // decodes BPPMODE 13 as 8888 (`exynos4210_fimd_update_win_bppmode`).
        PixelFormat::Argb8888 => {
            WINCON::BPPMODE::Argb8888 + WINCON::BLD_PIX::SET + WINCON::ALPHA_SEL::SET
        }
        PixelFormat::Rgb565 | PixelFormat::Yuyv => return None,
    };
    Some(WindowRegs {
        osd_a: (VIDOSD_AB::X.val(g.x) + VIDOSD_AB::Y.val(g.y)).value,
        osd_b: (VIDOSD_AB::X.val(g.x + g.width - 1) + VIDOSD_AB::Y.val(g.y + g.height - 1)).value,
        osd_size: g.width * g.height,
        start,
        end: start.wrapping_add(stride as u32 * g.height),
        add2: (VIDWADD2::PAGEWIDTH.val(row) + VIDWADD2::OFFSIZE.val(stride as u32 - row)).value,
        wincon: (WINCON::ENWIN::SET + format + WINCON::WSWP::SET + WINCON::BURSTLEN::Words16).value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const QVGA: DisplayMode = DisplayMode {
        width: 320,
        height: 240,
        format: PixelFormat::Xrgb8888,
    };

    #[test]
    fn the_verified_qemu_mode_gives_the_verified_registers() {
        let m = screen_mode(&QVGA, &Timings::QEMU).unwrap();
        assert_eq!(m.vidtcon2, (239 << 11) | 319);
        assert_eq!(m.vidcon0 & 3, 3, "ENVID | ENVID_F");
        assert_eq!(m.vidtcon0, 0);
        let g = Geometry {
            x: 0,
            y: 0,
            width: 320,
            height: 240,
            format: PixelFormat::Xrgb8888,
        };
        let w = window_regs(&g, 0x4100_0000, 1280).unwrap();
        assert_eq!(w.osd_a, 0);
        assert_eq!(w.osd_b, (319 << 11) | 239);
        assert_eq!(w.end, 0x4100_0000 + 320 * 240 * 4);
        assert_eq!(w.add2, 320 * 4);
        assert_eq!(w.wincon, 1 | (0xB << 2) | (1 << 15));
        assert_eq!(w.osd_size, 320 * 240);
    }

    #[test]
    fn timings_go_in_as_value_minus_one_and_the_divider_sets_clkdir() {
        let t = Timings {
            hsync_len: 96,
            h_front_porch: 16,
            h_back_porch: 48,
            vsync_len: 2,
            v_front_porch: 10,
            v_back_porch: 33,
            clock_divider: 4,
            invert_hsync: true,
            invert_vsync: true,
        };
        let m = screen_mode(&QVGA, &t).unwrap();
        assert_eq!(m.vidtcon1, (47 << 16) | (15 << 8) | 95);
        assert_eq!(m.vidtcon0, (32 << 16) | (9 << 8) | 1);
        assert_eq!(m.vidcon0, 3 | (1 << 4) | (3 << 6));
        assert_eq!(m.vidcon1, (1 << 5) | (1 << 6));
    }

    #[test]
    fn modes_fimd_cannot_drive_are_refused_by_what_is_wrong() {
        for (w, h) in [(0, 240), (321, 240), (2048, 240), (320, 0), (320, 2049)] {
            let m = DisplayMode {
                width: w,
                height: h,
                ..QVGA
            };
            assert_eq!(
                screen_mode(&m, &Timings::QEMU),
                Err(EngineError::ModeRefused {
                    width: w,
                    height: h
                })
            );
        }
        let argb = DisplayMode {
            format: PixelFormat::Argb8888,
            ..QVGA
        };
        assert!(matches!(
            screen_mode(&argb, &Timings::QEMU),
            Err(EngineError::Unsupported(_))
        ));
        let t = Timings {
            v_back_porch: 257,
            ..Timings::QEMU
        };
        assert_eq!(
            screen_mode(&QVGA, &t),
            Err(EngineError::Unsupported(
                "vertical back porch outside 1..=256 (VIDTCON0.VBPD)"
            ))
        );
        assert!(
            screen_mode(
                &DisplayMode {
                    width: 2046,
                    height: 2048,
                    ..QVGA
                },
                &Timings::QEMU
            )
            .is_ok()
        );
    }

    #[test]
    fn windows_must_lie_on_the_screen() {
        let g = Geometry {
            x: 200,
            y: 100,
            width: 120,
            height: 140,
            format: PixelFormat::Argb8888,
        };
        assert!(g.check_on(&QVGA).is_ok());
        assert!(Geometry { x: 202, ..g }.check_on(&QVGA).is_err());
        assert!(Geometry { y: 101, ..g }.check_on(&QVGA).is_err());
        assert!(Geometry { width: 121, ..g }.check_on(&QVGA).is_err());
        let r = window_regs(&g, 0x4000_0000, 512).unwrap();
        assert_eq!(r.osd_a, (200 << 11) | 100);
        assert_eq!(r.osd_b, (319 << 11) | 239);
        assert_eq!(r.add2, ((512 - 480) << 13) | 480);
        assert_eq!(r.wincon, 1 | (1 << 1) | (0xD << 2) | (1 << 6) | (1 << 15));
    }

    #[test]
    fn framebuffers_are_checked_against_what_fimd_fetches_and_maps() {
        let bus = BusAddr(0x4100_0000);
        let fb = SurfaceDesc::packed(320, 240, PixelFormat::Xrgb8888);
        let len = 320 * 240 * 4;
        assert!(check_framebuffer(&QVGA, "A", &fb, len, bus).is_ok());
        let odd_stride = SurfaceDesc { stride: 1284, ..fb };
        assert!(matches!(
            check_framebuffer(&QVGA, "A", &odd_stride, len * 2, bus),
            Err(EngineError::BadSurface { buffer: "A", why }) if why.contains("64-bit words")
        ));
        // A padded stride: the last line's padding must be in the buffer too.
        let padded = SurfaceDesc { stride: 1536, ..fb };
        assert_eq!(
            check_framebuffer(&QVGA, "A", &padded, 1536 * 239 + 1280, bus),
            Err(EngineError::FramebufferTooSmall {
                buffer: "A",
                need: 1536 * 240,
                have: 1536 * 239 + 1280
            })
        );
        assert!(check_framebuffer(&QVGA, "A", &padded, 1536 * 240, bus).is_ok());
        let wide = SurfaceDesc {
            stride: 1280 + 8192,
            ..fb
        };
        assert!(matches!(
            check_framebuffer(&QVGA, "A", &wide, (1280 + 8192) * 240, bus),
            Err(EngineError::BadSurface { why, .. }) if why.contains("OFFSIZE")
        ));
        assert!(matches!(
            check_framebuffer(&QVGA, "A", &fb, len, BusAddr(0x4100_0004)),
            Err(EngineError::BadSurface { why, .. }) if why.contains("aligned")
        ));
        assert!(matches!(
            check_framebuffer(&QVGA, "A", &fb, len, BusAddr(0xFFFF_0000)),
            Err(EngineError::BadSurface { why, .. }) if why.contains("32-bit")
        ));
    }
}
