//! Screenshots as pixels: decoding QEMU's dumps (PPM or PNG), PNG output, the guest's
//! XRGB8888 frames, and a pixel-exact comparison that says where two images differ.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

/// An image as tightly packed 8-bit R, G, B triples, row by row from the top left.
#[derive(Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl fmt::Debug for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rgb({}x{})", self.width, self.height)
    }
}

impl Rgb {
    /// `width` x `height` of one colour.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Self {
        let pixels = width as usize * height as usize;
        Rgb {
            width,
            height,
            data: rgb.repeat(pixels),
        }
    }

    #[cfg(test)]
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    #[cfg(test)]
    pub fn set_pixel(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data[i..i + 3].copy_from_slice(&rgb);
    }

    /// A frame as the guest stores it: XRGB8888 little-endian, i.e. bytes B, G, R, X per
    /// pixel, rows `width * 4` bytes apart.
    pub fn from_xrgb8888(bytes: &[u8], width: u32, height: u32) -> Result<Self> {
        let want = width as usize * height as usize * 4;
        ensure!(
            bytes.len() == want,
            "an XRGB8888 frame of {width}x{height} has {want} bytes, this one has {}",
            bytes.len()
        );
        let data = bytes
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        Ok(Rgb {
            width,
            height,
            data,
        })
    }
}

fn checked_len(width: u32, height: u32, what: &str) -> Result<usize> {
    ensure!(
        width > 0 && height > 0,
        "{what}: empty image {width}x{height}"
    );
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(3))
        .with_context(|| format!("{what}: {width}x{height} is too large"))
}

/// Decodes a screendump: PPM (`P6`, what QEMU writes by default) or PNG, told apart by the
/// first bytes.
pub fn decode(bytes: &[u8]) -> Result<Rgb> {
    if bytes.starts_with(b"P6") {
        decode_ppm(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else {
        bail!(
            "not a PPM (P6) or PNG image: starts with {:02x?}",
            &bytes[..bytes.len().min(8)]
        )
    }
}

/// Binary PPM (`P6`): header `P6 <w> <h> <maxval>` separated by whitespace, `#` comments
/// to the end of a line, one whitespace byte, then the pixels. Only maxval 255 (8-bit).
pub fn decode_ppm(bytes: &[u8]) -> Result<Rgb> {
    let mut pos = 0;
    let mut fields = [0u32; 3];
    ensure!(bytes.starts_with(b"P6"), "PPM: no P6 magic");
    pos += 2;
    for (i, name) in ["width", "height", "maxval"].iter().enumerate() {
        // Whitespace and comments before each number.
        loop {
            match bytes.get(pos) {
                Some(b) if b.is_ascii_whitespace() => pos += 1,
                Some(b'#') => {
                    while bytes.get(pos).is_some_and(|&b| b != b'\n') {
                        pos += 1;
                    }
                }
                _ => break,
            }
        }
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = std::str::from_utf8(&bytes[start..pos]).unwrap_or_default();
        fields[i] = digits
            .parse()
            .with_context(|| format!("PPM header: {name} is not a number at byte {start}"))?;
    }
    let [width, height, maxval] = fields;
    ensure!(
        maxval == 255,
        "PPM: maxval {maxval} is not supported (only 8-bit, 255)"
    );
    ensure!(
        bytes.get(pos).is_some_and(u8::is_ascii_whitespace),
        "PPM header: no whitespace after maxval"
    );
    pos += 1;
    let len = checked_len(width, height, "PPM")?;
    let data = bytes
        .get(pos..pos + len)
        .with_context(|| {
            format!(
                "PPM: {width}x{height} needs {len} pixel bytes, the file has {}",
                bytes.len() - pos
            )
        })?
        .to_vec();
    Ok(Rgb {
        width,
        height,
        data,
    })
}

/// PNG of any colour type and depth, turned into 8-bit RGB (alpha dropped).
pub fn decode_png(bytes: &[u8]) -> Result<Rgb> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().context("PNG: bad header")?;
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .context("PNG: image too large")?
    ];
    let info = reader.next_frame(&mut buf).context("PNG: bad image data")?;
    let (width, height) = (info.width, info.height);
    let len = checked_len(width, height, "PNG")?;
    let stride = info.line_size;
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Indexed => bail!("PNG: palette left unexpanded"),
    };
    let mut data = Vec::with_capacity(len);
    for row in buf.chunks(stride).take(height as usize) {
        for px in row[..width as usize * channels].chunks_exact(channels) {
            match channels {
                1 | 2 => data.extend([px[0]; 3]),
                _ => data.extend(&px[..3]),
            }
        }
    }
    Ok(Rgb {
        width,
        height,
        data,
    })
}

/// The image as an 8-bit RGB PNG.
pub fn encode_png(image: &Rgb) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("PNG encoder: header")?;
    writer
        .write_image_data(&image.data)
        .context("PNG encoder: image data")?;
    writer.finish().context("PNG encoder: finish")?;
    Ok(out)
}

/// Writes `image` as PNG to `path`, creating the directory.
pub fn save_png(image: &Rgb, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, encode_png(image)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// How two images of the same size differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub differing: u64,
    pub total: u64,
    /// The first differing pixel in row order: (x, y, expected, actual).
    pub first: (u32, u32, [u8; 3], [u8; 3]),
    /// Smallest rectangle holding every differing pixel: x0, y0, x1, y1, inclusive.
    pub bbox: (u32, u32, u32, u32),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (x, y, e, a) = self.first;
        let (x0, y0, x1, y1) = self.bbox;
        write!(
            f,
            "{} of {} pixels differ; first at ({x}, {y}): expected rgb({}, {}, {}), got rgb({}, {}, {}); \
             all differences inside x {x0}..={x1}, y {y0}..={y1}",
            self.differing, self.total, e[0], e[1], e[2], a[0], a[1], a[2]
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    SizeDiffers {
        expected: (u32, u32),
        actual: (u32, u32),
    },
    Pixels(Mismatch),
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparison::Equal => write!(f, "pixel for pixel equal"),
            Comparison::SizeDiffers { expected, actual } => write!(
                f,
                "size differs: expected {}x{}, got {}x{}",
                expected.0, expected.1, actual.0, actual.1
            ),
            Comparison::Pixels(m) => m.fmt(f),
        }
    }
}

/// Exact comparison: every channel of every pixel.
pub fn compare(expected: &Rgb, actual: &Rgb) -> Comparison {
    if (expected.width, expected.height) != (actual.width, actual.height) {
        return Comparison::SizeDiffers {
            expected: (expected.width, expected.height),
            actual: (actual.width, actual.height),
        };
    }
    let mut mismatch: Option<Mismatch> = None;
    for (i, (e, a)) in expected
        .data
        .chunks_exact(3)
        .zip(actual.data.chunks_exact(3))
        .enumerate()
    {
        if e == a {
            continue;
        }
        let (x, y) = (
            (i % expected.width as usize) as u32,
            (i / expected.width as usize) as u32,
        );
        match &mut mismatch {
            None => {
                mismatch = Some(Mismatch {
                    differing: 1,
                    total: u64::from(expected.width) * u64::from(expected.height),
                    first: (x, y, [e[0], e[1], e[2]], [a[0], a[1], a[2]]),
                    bbox: (x, y, x, y),
                })
            }
            Some(m) => {
                m.differing += 1;
                m.bbox = (
                    m.bbox.0.min(x),
                    m.bbox.1.min(y),
                    m.bbox.2.max(x),
                    m.bbox.3.max(y),
                );
            }
        }
    }
    mismatch.map_or(Comparison::Equal, Comparison::Pixels)
}

/// A picture of the differences: differing pixels pure red, equal ones a dimmed grey of the
/// actual image (so the scene stays recognisable). Same size required.
pub fn diff_image(expected: &Rgb, actual: &Rgb) -> Rgb {
    let mut out = Rgb::filled(actual.width, actual.height, [0, 0, 0]);
    for (i, (e, a)) in expected
        .data
        .chunks_exact(3)
        .zip(actual.data.chunks_exact(3))
        .enumerate()
    {
        let px = if e == a {
            let grey = ((u16::from(a[0]) + u16::from(a[1]) + u16::from(a[2])) / 3 / 3) as u8;
            [grey; 3]
        } else {
            [255, 0, 0]
        };
        out.data[i * 3..i * 3 + 3].copy_from_slice(&px);
    }
    out
}

/// Writes `<stem>-actual.png`, `<stem>-expected.png` and (same size only) `<stem>-diff.png`
/// into `dir`; returns their paths.
pub fn write_mismatch(
    dir: &Path,
    stem: &str,
    expected: &Rgb,
    actual: &Rgb,
) -> Result<Vec<PathBuf>> {
    let mut paths = vec![
        dir.join(format!("{stem}-actual.png")),
        dir.join(format!("{stem}-expected.png")),
    ];
    save_png(actual, &paths[0])?;
    save_png(expected, &paths[1])?;
    if (expected.width, expected.height) == (actual.width, actual.height) {
        let diff = dir.join(format!("{stem}-diff.png"));
        save_png(&diff_image(expected, actual), &diff)?;
        paths.push(diff);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame computed here, XRGB8888 as the guest stores it: a gradient with a square.
    fn test_frame(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let inside = (4..12).contains(&x) && (2..6).contains(&y);
                let (r, g, b) = if inside {
                    (255, 255, 0)
                } else {
                    ((x * 16) as u8, (y * 32) as u8, 0x40)
                };
                out.extend([b, g, r, 0xAA]);
            }
        }
        out
    }

    #[test]
    fn xrgb8888_is_bgrx_in_memory() {
        let img = Rgb::from_xrgb8888(&[1, 2, 3, 99, 4, 5, 6, 99], 2, 1).unwrap();
        assert_eq!(img.pixel(0, 0), [3, 2, 1]);
        assert_eq!(img.pixel(1, 0), [6, 5, 4]);
        let e = Rgb::from_xrgb8888(&[0; 7], 2, 1).unwrap_err().to_string();
        assert!(e.contains("8 bytes") && e.contains("has 7"), "{e}");
    }

    #[test]
    fn ppm_with_comments_decodes() {
        let mut ppm = b"P6\n# made by QEMU\n2 1\n255\n".to_vec();
        ppm.extend([10, 20, 30, 40, 50, 60]);
        let img = decode(&ppm).unwrap();
        assert_eq!((img.width, img.height), (2, 1));
        assert_eq!(img.pixel(1, 0), [40, 50, 60]);
        // The exact header QEMU writes (ui/console.c ppm_save: "P6\n%d %d\n%d\n").
        let mut q = b"P6\n3 2\n255\n".to_vec();
        q.extend(0..18u8);
        assert_eq!(decode_ppm(&q).unwrap().pixel(2, 1), [15, 16, 17]);
    }

    #[test]
    fn bad_ppm_says_what_is_wrong() {
        let e = format!("{:#}", decode_ppm(b"P6\n2 1\n255\n\x01\x02").unwrap_err());
        assert!(
            e.contains("needs 6 pixel bytes") && e.contains("has 2"),
            "{e}"
        );
        let e = format!("{:#}", decode_ppm(b"P6\n2 x\n255\n").unwrap_err());
        assert!(e.contains("height is not a number"), "{e}");
        let e = format!(
            "{:#}",
            decode_ppm(b"P6 1 1 65535 \0\0\0\0\0\0").unwrap_err()
        );
        assert!(e.contains("maxval 65535"), "{e}");
        let e = format!("{:#}", decode(b"GIF89a").unwrap_err());
        assert!(e.contains("not a PPM"), "{e}");
    }

    #[test]
    fn png_round_trip() {
        let img = Rgb::from_xrgb8888(&test_frame(16, 8), 16, 8).unwrap();
        let bytes = encode_png(&img).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert_eq!(decode(&bytes).unwrap(), img);
        let e = format!("{:#}", decode_png(&bytes[..bytes.len() / 2]).unwrap_err());
        assert!(e.contains("PNG"), "{e}");
    }

    #[test]
    fn rgba_png_loses_only_alpha() {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 2, 1);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        w.finish().unwrap();
        let img = decode_png(&out).unwrap();
        assert_eq!(img.data, vec![1, 2, 3, 5, 6, 7]);
    }

    #[test]
    fn equal_frames_compare_equal() {
        let a = Rgb::from_xrgb8888(&test_frame(16, 8), 16, 8).unwrap();
        assert_eq!(compare(&a, &a.clone()), Comparison::Equal);
    }

    #[test]
    fn mismatch_reports_count_first_pixel_and_box() {
        let expected = Rgb::from_xrgb8888(&test_frame(16, 8), 16, 8).unwrap();
        let mut actual = expected.clone();
        actual.set_pixel(5, 3, [1, 2, 3]);
        actual.set_pixel(9, 1, [0, 0, 0]);
        actual.set_pixel(2, 6, [9, 9, 9]);
        let Comparison::Pixels(m) = compare(&expected, &actual) else {
            panic!("expected a pixel mismatch")
        };
        assert_eq!(m.differing, 3);
        assert_eq!(m.total, 128);
        // Row order: (9, 1) comes first.
        assert_eq!(m.first.0, 9);
        assert_eq!(m.first.1, 1);
        assert_eq!(m.first.2, expected.pixel(9, 1));
        assert_eq!(m.first.3, [0, 0, 0]);
        assert_eq!(m.bbox, (2, 1, 9, 6));
        let text = m.to_string();
        assert!(
            text.starts_with("3 of 128 pixels differ; first at (9, 1)"),
            "{text}"
        );
        assert!(text.contains("x 2..=9, y 1..=6"), "{text}");

        let small = Rgb::filled(4, 4, [0, 0, 0]);
        assert_eq!(
            compare(&expected, &small).to_string(),
            "size differs: expected 16x8, got 4x4"
        );
    }

    #[test]
    fn mismatch_files_are_written_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let expected = Rgb::from_xrgb8888(&test_frame(16, 8), 16, 8).unwrap();
        let mut actual = expected.clone();
        actual.set_pixel(0, 0, [7, 7, 7]);
        let paths = write_mismatch(dir.path(), "t-frame3", &expected, &actual).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "t-frame3-actual.png",
                "t-frame3-expected.png",
                "t-frame3-diff.png"
            ]
        );
        let read = |p: &Path| decode(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(read(&paths[0]), actual);
        assert_eq!(read(&paths[1]), expected);
        let diff = read(&paths[2]);
        assert_eq!(diff.pixel(0, 0), [255, 0, 0]);
        assert_ne!(diff.pixel(1, 0), [255, 0, 0]);
    }
}
