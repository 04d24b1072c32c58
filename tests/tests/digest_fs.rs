//! The hashing engine over a local folder (the offline path an auditor uses): downloaded export
//! files and objects written through the store hash to the same digests as their bytes.

use std::sync::Arc;
use std::time::Duration;

use custody_core::digest::{
    Check, CrossCheck, DigestEngine, HashItem, HashOptions, RetryPolicy, sha256_hex,
};
use custody_core::store::fs::FsStore;
use custody_core::store::{BucketSpec, ObjectStore, PutOutcome, PutRequest, StoreErrorKind};

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) ^ (i >> 10) as u8)
        .collect()
}

fn options() -> HashOptions {
    HashOptions {
        part_size: 64 * 1024,
        part_concurrency: 3,
        object_concurrency: 4,
        memory_budget: 512 * 1024,
        verify_etag_md5: true,
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    }
}

#[tokio::test]
async fn files_of_a_downloaded_export_hash_to_their_bytes() {
    let folder = tempfile::tempdir().unwrap();
    let conversation = "org/year=2024/month=05/day=01/hour=10/conversation_id=c-1";
    std::fs::create_dir_all(folder.path().join(conversation)).unwrap();
    let recording = data(1_000_000, 1);
    let metadata = br#"{"conversationId":"c-1"}"#.to_vec();
    std::fs::write(
        folder.path().join(conversation).join("r-1.opus"),
        &recording,
    )
    .unwrap();
    std::fs::write(
        folder
            .path()
            .join(conversation)
            .join("r-1.opus_metadata.json"),
        &metadata,
    )
    .unwrap();

    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::open(folder.path()).unwrap());
    let keys = [
        format!("{conversation}/r-1.opus"),
        format!("{conversation}/r-1.opus_metadata.json"),
        format!("{conversation}/absent.opus"),
    ];
    let results = DigestEngine::new(store, options())
        .hash_many(keys.iter().map(|k| HashItem::from(k.as_str())))
        .await;
    let big = results[0].as_ref().unwrap();
    assert_eq!(big.sha256_hex, sha256_hex(&recording));
    assert_eq!(big.size, recording.len() as u64);
    // A plain file's CRC64NVME is computed once with its ETag and is the cross-check.
    assert_eq!(big.checksum_check, Check::Match);
    assert_eq!(
        big.cross_check,
        CrossCheck::StoredChecksum {
            algorithm: "CRC64NVME".into()
        }
    );
    assert!(big.md5_hex.is_none());
    assert_eq!(
        results[1].as_ref().unwrap().sha256_hex,
        sha256_hex(&metadata)
    );
    let missing = results[2].as_ref().unwrap_err();
    assert_eq!(missing.key(), keys[2]);
    assert_eq!(
        missing.store_error().unwrap().kind,
        StoreErrorKind::NotFound,
        "{missing}"
    );
}

#[tokio::test]
async fn versions_of_a_versioned_folder_are_pinned() {
    let folder = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(
        FsStore::create(
            folder.path(),
            BucketSpec {
                versioned: true,
                object_lock: false,
            },
        )
        .unwrap(),
    );
    let first = data(300_000, 2);
    let PutOutcome::Created {
        version_id: Some(v1),
        ..
    } = store
        .put(PutRequest {
            checksum_sha256: true,
            ..PutRequest::new("k", first.clone())
        })
        .await
        .unwrap()
    else {
        panic!("a versioned folder reports versions");
    };
    store
        .put(PutRequest::new("k", data(300_000, 3)))
        .await
        .unwrap();

    let digest = DigestEngine::new(store, options())
        .hash_version("k", Some(&v1))
        .await
        .unwrap();
    assert_eq!(digest.version_id.as_ref(), Some(&v1));
    assert_eq!(digest.sha256_hex, sha256_hex(&first));
    assert_eq!(digest.checksum_check, Check::Match);
    assert_eq!(
        digest.cross_check,
        CrossCheck::StoredChecksum {
            algorithm: "SHA256".into()
        }
    );
}
