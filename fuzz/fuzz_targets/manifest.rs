//! A batch manifest, JSON or the CSV of S3 Batch Operations: parsing never panics.
#![no_main]

use custody_core::export::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::from_json("fuzz.json", data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Manifest::from_batch_csv("fuzz.csv", text);
    }
});
