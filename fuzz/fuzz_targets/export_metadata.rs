//! A Genesys export's metadata JSON (`*_metadata.json`, `*_call_metadata.json`): parsing never
//! panics.
#![no_main]

use custody_core::export::{CallMetadata, RecordingMetadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = "org/year=2024/month=05/day=01/hour=10/conversation_id=c1/r1.opus_metadata.json";
    let _ = RecordingMetadata::parse(key, data, Some("c1"));
    let _ = RecordingMetadata::parse(key, data, None);
    let _ = CallMetadata::parse(key, data);
});
