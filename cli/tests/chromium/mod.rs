//! Headless Chromium for the report test (Debian's `chromium`, installed by
//! `scripts/install-tools.sh`), and the figures of a screenshot that tell a blank page.

use std::path::Path;
use std::process::{Command, Output};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium with a fresh profile and nothing fetched from the network.
pub fn chromium(profile: &Path, extra: &[String]) -> Output {
    let mut args: Vec<String> = [
        "120",
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(extra.iter().cloned());
    let output = Command::new("timeout")
        .args(&args)
        .output()
        .expect("timeout and chromium run");
    assert!(
        output.status.success(),
        "chromium {:?} failed: {}",
        extra,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Distinct colours and the share of pixels that are not white.
pub fn screenshot_figures(png_path: &Path) -> (usize, f64, u32, u32) {
    let file = std::io::BufReader::new(std::fs::File::open(png_path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let total = (info.width * info.height) as usize;
    for px in pixels {
        let rgb = if channels >= 3 {
            [px[0], px[1], px[2]]
        } else {
            [px[0], px[0], px[0]]
        };
        colours.insert(rgb);
        if rgb != [255, 255, 255] {
            non_white += 1;
        }
    }
    (
        colours.len(),
        non_white as f64 / total as f64,
        info.width,
        info.height,
    )
}
