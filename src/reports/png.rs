//! A chart as a small PNG for mail (Outlook shows no SVG): the bars, gridlines and
//! axis only; its title, legend and numbers are in the HTML around the image.
//! Palette PNG, zlib-compressed (flate2), written by hand: no image crate needed.

use std::io::Write as _;

use super::chart::{colour, Chart, PALETTE};

pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 240;

/// Palette indices after the series colours.
const WHITE: u8 = PALETTE.len() as u8;
const GRID: u8 = WHITE + 1;
const AXIS: u8 = WHITE + 2;

/// The chart's bars as PNG bytes.
pub fn render(chart: &Chart) -> std::io::Result<Vec<u8>> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut px = vec![WHITE; w * h];
    let l = chart.layout(WIDTH, HEIGHT, 8.0);
    let mut fill = |x0: f64, y0: f64, x1: f64, y1: f64, c: u8| {
        let (x0, x1) = (x0.max(0.0) as usize, (x1.min(w as f64)) as usize);
        let (y0, y1) = (y0.max(0.0) as usize, (y1.min(h as f64)) as usize);
        for y in y0..y1 {
            for x in x0..x1.max(x0) {
                px[y * w + x] = c;
            }
        }
    };
    for g in 0..=4 {
        let y = l.top + l.plot_h - l.plot_h * g as f64 / 4.0;
        fill(l.left, y, l.left + l.plot_w, y + 1.0, GRID);
    }
    for (s, x, y, bw, bh) in chart.bars(&l) {
        fill(x, y, x + bw, y + bh, (s % PALETTE.len()) as u8);
    }
    let base = l.top + l.plot_h;
    fill(l.left, base, l.left + l.plot_w, base + 1.0, AXIS);
    fill(l.left - 1.0, l.top, l.left, base + 1.0, AXIS);
    encode(WIDTH, HEIGHT, &px)
}

/// A PNG of 8-bit palette pixels (our palette: the series colours, white, grey, dark).
fn encode(width: u32, height: u32, px: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut palette = Vec::new();
    for i in 0..PALETTE.len() {
        let (r, g, b) = colour(i);
        palette.extend([r, g, b]);
    }
    palette.extend([0xff, 0xff, 0xff, 0xdd, 0xdd, 0xdd, 0x33, 0x33, 0x33]);
    let mut raw = Vec::with_capacity(px.len() + height as usize);
    for row in px.chunks(width as usize) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&raw)?;
    let idat = z.finish()?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 3, 0, 0, 0]); // 8 bits, palette, deflate, adaptive filters, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", &ihdr[..]),
        (b"PLTE", &palette[..]),
        (b"IDAT", &idat[..]),
        (b"IEND", &[][..]),
    ] {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::chart::Series;

    #[test]
    fn png_has_its_chunks_and_decodes_back_to_the_pixels() {
        let chart = Chart {
            id: "t",
            title: "t".into(),
            unit: "cases".into(),
            key_header: "k".into(),
            keys: vec!["a".into(), "b".into()],
            key_labels: vec![],
            series: vec![Series {
                name: "s".into(),
                values: vec![1.0, 4.0],
            }],
            table_only: vec![],
            stacked: true,
            decimals: 0,
            table_decimals: 0,
            note: String::new(),
        };
        let png = render(&chart).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), WIDTH);
        assert!(png.ends_with(&[0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]));
        // The IDAT inflates to one filter byte and WIDTH palette indices per row, and the
        // taller bar's colour (series 0) is there.
        let at = png.windows(4).position(|w| w == b"IDAT").unwrap();
        let len = u32::from_be_bytes(png[at - 4..at].try_into().unwrap()) as usize;
        let mut raw = Vec::new();
        use std::io::Read as _;
        flate2::read::ZlibDecoder::new(&png[at + 4..at + 4 + len])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw.len(), (WIDTH as usize + 1) * HEIGHT as usize);
        assert!(raw.contains(&0));
        assert!(
            png.len() < 8_000,
            "a flat chart compresses well: {}",
            png.len()
        );
    }
}
