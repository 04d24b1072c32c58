//! A generated export in the Genesys layout, for the streaming ingest's tests and its benchmark:
//! `conversations` conversation folders under `org-1/`, each with one recording of
//! `recording_bytes` bytes and its `_metadata.json` beside it.

use custody_core::store::{ObjectStore, PutRequest, StoreError};
use futures::{StreamExt, stream};

/// The export prefix the generated objects live under.
pub const GENERATED_PREFIX: &str = "org-1/";

/// The folder of conversation `n` (spread over days and hours, as an export is).
pub fn generated_folder(n: usize) -> String {
    format!(
        "{GENERATED_PREFIX}year=2024/month=05/day={:02}/hour={:02}/conversation_id=conv-{n:07}/",
        1 + (n / 24) % 28,
        n % 24
    )
}

/// Write the export; returns the number of objects (two per conversation).
pub async fn write_generated_export(
    store: &dyn ObjectStore,
    conversations: usize,
    recording_bytes: usize,
) -> Result<usize, StoreError> {
    let puts = (0..conversations).flat_map(|n| {
        let folder = generated_folder(n);
        let recording = format!("rec-{n:07}");
        let mut audio = vec![0u8; recording_bytes];
        for (i, byte) in audio.iter_mut().enumerate() {
            *byte = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(n as u32) as u8;
        }
        let metadata = serde_json::json!({
            "conversationId": format!("conv-{n:07}"),
            "recordingId": recording,
            "mediaType": "Call",
            "provider": "edge",
            "userIds": [],
        });
        [
            PutRequest::new(format!("{folder}{recording}.opus"), audio),
            PutRequest::new(
                format!("{folder}{recording}.opus_metadata.json"),
                serde_json::to_vec(&metadata).expect("serializes"),
            ),
        ]
    });
    let mut written = 0;
    let mut results = stream::iter(puts)
        .map(|put| store.put(put))
        .buffer_unordered(16);
    while let Some(result) = results.next().await {
        result?;
        written += 1;
    }
    Ok(written)
}
