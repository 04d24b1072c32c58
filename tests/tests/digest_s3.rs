//! The hashing engine against a real S3-compatible server (SeaweedFS on 127.0.0.1): cross-checks,
//! version pinning, ranged reads, and resuming bodies cut off mid-stream by a real TCP proxy.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use custody_aws::s3::{S3Options, S3Store};
use custody_core::digest::{
    Check, CrossCheck, DigestEngine, DigestError, HashItem, HashOptions, RetryPolicy, sha256_hex,
};
use custody_core::store::*;
use custody_tests::cutting_proxy::CuttingProxy;
use custody_tests::watched::WatchedStore;
use custody_tests::{Identity, SeaweedFs, unique_bucket};

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

fn options(part_size: u64) -> HashOptions {
    HashOptions {
        part_size,
        part_concurrency: 3,
        object_concurrency: 8,
        memory_budget: part_size * 6,
        verify_etag_md5: true,
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        },
    }
}

async fn bucket(
    server: &SeaweedFs,
    label: &str,
    versioned: bool,
) -> (String, Arc<dyn ObjectStore>) {
    let name = unique_bucket(label);
    server
        .create_bucket(
            &name,
            BucketSpec {
                versioned,
                object_lock: false,
            },
        )
        .await
        .unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(server.store(&name).await);
    (name, store)
}

async fn put(
    store: &Arc<dyn ObjectStore>,
    key: &str,
    body: Vec<u8>,
    checksum: bool,
) -> Option<String> {
    let request = PutRequest {
        checksum_sha256: checksum,
        ..PutRequest::new(key, body)
    };
    match store.put(request).await.unwrap() {
        PutOutcome::Created { version_id, .. } => version_id,
        PutOutcome::AlreadyExists => panic!("unconditional put refused"),
    }
}

#[tokio::test]
async fn single_part_objects_cross_check_etag_and_stored_checksum() {
    let server = SeaweedFs::shared().await;
    let (_, store) = bucket(server, "digest-checks", true).await;
    let body = data(300_000, 1);
    let version = put(&store, "rec/a.opus", body.clone(), true).await;
    let engine = DigestEngine::new(store.clone(), options(64 * 1024));

    let digest = engine.hash_version("rec/a.opus", None).await.unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert_eq!(digest.version_id, version);
    assert_eq!(digest.size, body.len() as u64);
    // The full-object SHA-256 sent at upload is the cross-check: no MD5 pass.
    assert_eq!(
        digest.cross_check,
        CrossCheck::StoredChecksum {
            algorithm: "SHA256".into()
        },
        "{digest:?}"
    );
    assert!(digest.md5_hex.is_none());
    // The full-object SHA-256 sent at upload is stored and agrees.
    assert!(matches!(
        digest.head.checksum_sha256,
        Some(StoredChecksum::FullObject { .. })
    ));
    assert_eq!(
        digest.checksum_check,
        Check::Match,
        "{:?}",
        digest.findings()
    );
    assert!(!digest.has_mismatch());

    // Empty objects hash too (a plain GET: no range is satisfiable on them).
    put(&store, "rec/empty.json", Vec::new(), false).await;
    let empty = engine.hash_version("rec/empty.json", None).await.unwrap();
    assert_eq!(empty.sha256_hex, sha256_hex(b""));
    // The SDK sends a CRC32 with every PutObject when the caller asks for no algorithm (its
    // default request checksum calculation); the server stores it as a full-object checksum and
    // HEAD with checksum mode reports it: that is the cross-check, computed in the same pass.
    assert_eq!(
        empty.cross_check,
        CrossCheck::StoredChecksum {
            algorithm: "CRC32".into()
        },
        "{:?}",
        empty.head
    );
    assert_eq!(empty.checksum_check, Check::Match);
    assert!(empty.md5_hex.is_none());
    put(&store, "rec/b.opus", body.clone(), false).await;
    let crc = engine.hash_version("rec/b.opus", None).await.unwrap();
    assert_eq!(crc.checksum_check, Check::Match);
    assert_eq!(
        crc.computed_checksum.as_ref().map(|(a, _)| a.as_str()),
        Some("CRC32")
    );
}

#[tokio::test]
async fn multipart_uploads_are_hashed_and_their_multipart_etag_recomputed() {
    let server = SeaweedFs::shared().await;
    let (name, store) = bucket(server, "digest-multipart", true).await;
    let client = server.client().await;
    let parts = [data(5 * 1024 * 1024, 2), data(1_234_567, 3)];
    let upload = client
        .create_multipart_upload()
        .bucket(&name)
        .key("big.wav")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut completed = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        let done = client
            .upload_part()
            .bucket(&name)
            .key("big.wav")
            .upload_id(upload_id)
            .part_number(n as i32 + 1)
            .body(Bytes::from(part.clone()).into())
            .send()
            .await
            .unwrap();
        completed.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n as i32 + 1)
                .set_e_tag(done.e_tag().map(String::from))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(&name)
        .key("big.wav")
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let digest = DigestEngine::new(store, options(1024 * 1024))
        .hash_version("big.wav", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&parts.concat()));
    // The part sizes come from the server's part HEADs: the multipart ETag is recomputed
    // (the not-comparable cases are in digest_multipart_s3.rs).
    assert_eq!(digest.cross_check, CrossCheck::MultipartEtag { parts: 2 });
    assert_eq!(digest.etag_check, Check::Match, "{digest:?}");
    assert_eq!(
        digest.md5_hex, None,
        "the whole content's MD5 is not computed: only the parts' MD5s"
    );
    assert!(!digest.has_mismatch());
}

#[tokio::test]
async fn an_older_version_is_hashed_exactly_and_hash_many_isolates_errors() {
    let server = SeaweedFs::shared().await;
    let (_, store) = bucket(server, "digest-versions", true).await;
    let v1_body = data(700_000, 4);
    let v2_body = data(650_000, 5);
    let v1 = put(&store, "k", v1_body.clone(), false)
        .await
        .expect("versioned");
    let v2 = put(&store, "k", v2_body.clone(), false)
        .await
        .expect("versioned");
    assert_ne!(v1, v2);
    put(&store, "other", data(10, 6), false).await;

    let engine = DigestEngine::new(store.clone(), options(100_000));
    let items = vec![
        HashItem::new("k", Some(v1.clone())),
        HashItem::from("missing/key"),
        HashItem::from("k"),
        HashItem::from("other"),
    ];
    let results = engine.hash_many(items).await;
    let old = results[0].as_ref().unwrap();
    assert_eq!(old.version_id.as_ref(), Some(&v1));
    assert_eq!(old.sha256_hex, sha256_hex(&v1_body));
    assert_eq!(old.checksum_check, Check::Match);
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.key(), "missing/key");
    assert_eq!(
        error.store_error().unwrap().kind,
        StoreErrorKind::NotFound,
        "{error}"
    );
    let current = results[2].as_ref().unwrap();
    assert_eq!(current.version_id.as_ref(), Some(&v2));
    assert_eq!(current.sha256_hex, sha256_hex(&v2_body));
    assert_eq!(
        results[3].as_ref().unwrap().sha256_hex,
        sha256_hex(&data(10, 6))
    );
}

#[tokio::test]
async fn a_version_written_during_the_read_is_never_mixed_in() {
    let server = SeaweedFs::shared().await;

    // Versioned: HEAD pins v1; the new version written before the first GET is never read.
    let (_, store) = bucket(server, "digest-race-versioned", true).await;
    let v1_body = data(900_000, 7);
    put(&store, "k", v1_body.clone(), false).await;
    let racing: Arc<dyn StoreRead> =
        Arc::new(WatchedStore::new(store.clone()).writing_before_first_get("k", data(900_000, 8)));
    let digest = DigestEngine::new(racing, options(128 * 1024))
        .hash_version("k", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&v1_body));
    let current = store.head("k", None).await.unwrap();
    assert_ne!(
        current.version_id, digest.version_id,
        "a new version was written meanwhile"
    );

    // Unversioned: nothing can pin the old content, so the changed ETag makes it an error
    // instead of a digest of a mix of two contents.
    let (_, store) = bucket(server, "digest-race-unversioned", false).await;
    put(&store, "k", data(900_000, 9), false).await;
    let racing: Arc<dyn StoreRead> =
        Arc::new(WatchedStore::new(store.clone()).writing_before_first_get("k", data(900_000, 10)));
    let error = DigestEngine::new(racing, options(128 * 1024))
        .hash_version("k", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DigestError::ContentChanged { .. }),
        "{error}"
    );
}

async fn store_through(
    server: &SeaweedFs,
    bucket: &str,
    proxy: &CuttingProxy,
) -> Arc<dyn ObjectStore> {
    Arc::new(
        S3Store::connect(&S3Options {
            endpoint: Some(proxy.address().to_string()),
            // No SDK-level retries: what is tested here is the engine's own resume.
            max_attempts: 1,
            ..server.s3_options(bucket, Identity::Admin)
        })
        .await,
    )
}

#[tokio::test]
async fn bodies_cut_mid_stream_resume_at_their_offset_of_the_same_version() {
    let server = SeaweedFs::shared().await;
    let (name, store) = bucket(server, "digest-cut", true).await;
    let body = data(3 * 1024 * 1024 + 17, 11);
    let v1 = put(&store, "rec.opus", body.clone(), false)
        .await
        .expect("versioned");
    // A newer version exists: resumed reads must still be of v1.
    put(&store, "rec.opus", data(3 * 1024 * 1024, 12), false).await;

    let upstream = server.endpoint().trim_start_matches("http://").to_string();
    let proxy = CuttingProxy::start(upstream, 3, 300_000).await;
    let through_proxy = store_through(server, &name, &proxy).await;

    // One whole-object GET (part size above the object size): every cut resumes it with a range.
    let digest = DigestEngine::new(through_proxy, options(8 * 1024 * 1024))
        .hash_version("rec.opus", Some(&v1))
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert_eq!(digest.checksum_check, Check::Match);
    assert_eq!(proxy.cuts(), 3, "the proxy cut 3 connections");
    assert!(digest.retries >= 3, "{} retries", digest.retries);

    let gets = proxy.gets("rec.opus");
    assert!(gets.len() >= 4, "{gets:#?}");
    assert!(
        gets.iter()
            .all(|get| get.contains(&format!("versionId={v1}"))),
        "a GET was not pinned to {v1}: {gets:#?}"
    );
    // The first GET asks for everything; each resume starts after the previous one.
    assert!(
        !gets[0].to_ascii_lowercase().contains("range:"),
        "{gets:#?}"
    );
    let mut starts = Vec::new();
    for get in &gets[1..] {
        let lower = get.to_ascii_lowercase();
        let range = lower
            .split("range: bytes=")
            .nth(1)
            .unwrap_or_else(|| panic!("resumed GET without a range: {get}"));
        let (first, last) = range.split_once('-').unwrap();
        assert_eq!(
            last.trim().parse::<usize>().unwrap(),
            body.len() - 1,
            "{get}"
        );
        starts.push(first.trim().parse::<usize>().unwrap());
    }
    assert!(starts[0] > 0, "{starts:?}");
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
}

#[tokio::test]
async fn ranged_parts_cut_mid_stream_still_hash_correctly() {
    let server = SeaweedFs::shared().await;
    let (name, store) = bucket(server, "digest-cut-parts", true).await;
    let body = data(2 * 1024 * 1024 + 5, 13);
    put(&store, "rec.opus", body.clone(), false).await;

    let upstream = server.endpoint().trim_start_matches("http://").to_string();
    let proxy = CuttingProxy::start(upstream, 4, 150_000).await;
    let through_proxy = store_through(server, &name, &proxy).await;
    let digest = DigestEngine::new(through_proxy, options(256 * 1024))
        .hash_version("rec.opus", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert!(proxy.cuts() >= 1);
    assert!(digest.retries >= 1);
    let version = digest.version_id.clone().unwrap();
    let gets = proxy.gets("rec.opus");
    assert!(
        gets.iter()
            .all(|get| get.contains(&format!("versionId={version}"))),
        "{gets:#?}"
    );
}
