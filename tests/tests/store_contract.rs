//! One contract for the object-store port, run unchanged against the filesystem adapter, the
//! in-memory adapter and the S3 adapter (talking to a real SeaweedFS server on 127.0.0.1), plus
//! the checks that only make sense for one of them.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use custody_core::store::fs::FsStore;
use custody_core::store::{
    BucketSpec, ByteRange, CopyInPlace, ObjectStore, PutOutcome, PutRequest, StoreErrorKind,
    StoreMark, StoreRead, StoreWrite, StoredChecksum, Tag, Versioning,
};
use custody_tests::{Backend, Identity, SeaweedFs, unique_bucket};

use md5::Md5;
use sha2::{Digest, Sha256};

const VERSIONED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: false,
};
const LOCKED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: true,
};
const PLAIN: BucketSpec = BucketSpec {
    versioned: false,
    object_lock: false,
};

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

async fn put(store: &dyn ObjectStore, key: &str, body: &[u8]) -> Option<String> {
    match store
        .put(PutRequest::new(key, Bytes::copy_from_slice(body)))
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"))
    {
        PutOutcome::Created { version_id, .. } => version_id,
        PutOutcome::AlreadyExists => panic!("unconditional put of {key} reported AlreadyExists"),
    }
}

fn copy_request(key: &str, version: Option<String>, metadata: &[(&str, &str)]) -> CopyInPlace {
    CopyInPlace {
        key: key.into(),
        version_id: version,
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        multipart_threshold: custody_core::store::DEFAULT_MULTIPART_THRESHOLD,
        part_size: custody_core::store::DEFAULT_COPY_PART_SIZE,
    }
}

// ---------------------------------------------------------------- the contract

async fn lists_current_objects_under_a_prefix(backend: &dyn Backend) {
    let store = backend.bucket(PLAIN).await;
    for key in [
        "a/1.json",
        "a/2.opus",
        "ab/3.json",
        "b/4.json",
        "a/deeper/5.json",
    ] {
        put(&*store, key, key.as_bytes()).await;
    }
    put(&*store, "a/1.json", b"overwritten").await;
    let listed = store.list("a/").await.expect("list a/");
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a/1.json", "a/2.opus", "a/deeper/5.json"]);
    assert_eq!(listed[0].size, b"overwritten".len() as u64);
    assert_eq!(listed[0].etag, md5_hex(b"overwritten"));
    let all = store.list("a").await.expect("list a");
    assert_eq!(all.len(), 4, "prefix `a` also matches ab/3.json");
    assert!(store.list("zzz/").await.expect("list zzz/").is_empty());
}

async fn pages_of_a_listing_add_up_to_the_listing(backend: &dyn Backend) {
    let store = backend.bucket(PLAIN).await;
    // Names where folder order and key order differ (`-` sorts before `/`), nesting, and keys
    // beside the prefix.
    let keys = [
        "p/a-b/1.json",
        "p/a/2.opus",
        "p/a/deeper/3.json",
        "p/a.txt",
        "p/b/4.json",
        "p/b/5.json",
        "p/c",
        "pq/6.json",
        "q/7.json",
    ];
    for key in keys {
        put(&*store, key, key.as_bytes()).await;
    }
    let whole: Vec<String> = store
        .list("p/")
        .await
        .expect("list p/")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(whole.len(), 7, "{whole:?}");
    // The store's listing order (S3: key order; SeaweedFS: folder by folder), from pages of one.
    let mut order: Vec<String> = Vec::new();
    for max in [1, 2, 3, 7, 100] {
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = store
                .list_page("p/", after.as_deref(), max)
                .await
                .unwrap_or_else(|e| panic!("page after {after:?}: {e}"));
            pages += 1;
            assert!(page.objects.len() <= max, "max {max}: {page:?}");
            paged.extend(page.objects.iter().map(|o| o.key.clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
            assert!(pages <= whole.len() + 1, "max {max}: no end");
        }
        if order.is_empty() {
            order = paged.clone();
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, whole, "each key once");
            // The keys under one folder (all its descendants) come together.
            for key in &order {
                let folder = &key[..=key.rfind('/').unwrap()];
                let at: Vec<usize> = (0..order.len())
                    .filter(|&i| order[i].starts_with(folder))
                    .collect();
                assert_eq!(
                    at.len(),
                    at[at.len() - 1] - at[0] + 1,
                    "{folder} in {order:?}"
                );
            }
        }
        assert_eq!(paged, order, "pages of {max}");
    }
    let at = order.iter().position(|k| k == "p/a/deeper/3.json").unwrap();
    let rest = store
        .list_page("p/", Some("p/a/deeper/3.json"), 100)
        .await
        .expect("page");
    let rest: Vec<&str> = rest.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(rest, order[at + 1..]);
}

async fn head_reports_the_fields_of_a_version(backend: &dyn Backend) {
    for spec in [PLAIN, VERSIONED] {
        let store = backend.bucket(spec).await;
        let body = b"{\"conversationId\":\"c-1\"}";
        let mut request = PutRequest::new("org/c-1/r-1.opus_metadata.json", &body[..]);
        request.content_type = Some("application/json".into());
        request.metadata = BTreeMap::from([("Export-Job".to_string(), "job-7".to_string())]);
        let created = store.put(request).await.expect("put");
        let PutOutcome::Created { version_id, etag } = created else {
            panic!("unconditional put reported AlreadyExists")
        };
        assert_eq!(etag, md5_hex(body));
        assert_eq!(
            version_id.is_some(),
            spec.versioned,
            "version id for {spec:?}"
        );
        let head = store
            .head("org/c-1/r-1.opus_metadata.json", None)
            .await
            .expect("head");
        assert_eq!(head.key, "org/c-1/r-1.opus_metadata.json");
        assert_eq!(head.size, body.len() as u64);
        assert_eq!(head.etag, md5_hex(body));
        assert!(head.etag_is_md5());
        assert_eq!(head.version_id, version_id);
        assert_eq!(head.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            head.metadata.get("export-job").map(String::as_str),
            Some("job-7")
        );
        assert_eq!(
            head.checksum_sha256, None,
            "no SHA-256 stored unless asked for"
        );
        // Without a requested algorithm a checksum is still stored (S3: CRC64NVME by default;
        // the SDK sends CRC32; the local adapters keep CRC64NVME), full-object and of the content.
        match &head.checksum {
            Some(StoredChecksum::FullObject { algorithm, base64 }) => {
                let expected = custody_core::digest::stored_checksum_of(algorithm, body)
                    .unwrap_or_else(|| panic!("{algorithm} is not an S3 algorithm"));
                assert_eq!(
                    base64::engine::general_purpose::STANDARD
                        .decode(base64)
                        .unwrap(),
                    expected,
                    "stored {algorithm} checksum"
                );
            }
            other => panic!("expected a full-object checksum, HEAD said {other:?}"),
        }
        assert_eq!(head.legal_hold, None, "no Object Lock on this bucket");
        assert!(head.last_modified.is_some());

        let missing = store.head("org/c-1/nope.json", None).await.unwrap_err();
        assert_eq!(missing.kind, StoreErrorKind::NotFound, "{missing}");
        assert_eq!(missing.key.as_deref(), Some("org/c-1/nope.json"));
    }
}

async fn gets_are_ranged_and_pinned_to_a_version(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let first = put(&*store, "rec.opus", b"0123456789")
        .await
        .expect("version");
    let second = put(&*store, "rec.opus", b"abcdefghijklmnop")
        .await
        .expect("version");
    assert_ne!(first, second);

    let old = store
        .get("rec.opus", Some(&first), None)
        .await
        .expect("get old");
    assert_eq!(old.version_id.as_deref(), Some(first.as_str()));
    assert_eq!(old.etag, md5_hex(b"0123456789"));
    assert_eq!(old.collect().await.expect("body"), &b"0123456789"[..]);

    let current = store
        .get_bytes("rec.opus", None)
        .await
        .expect("get current");
    assert_eq!(current, &b"abcdefghijklmnop"[..]);

    let range = ByteRange { first: 2, last: 5 };
    let part = store
        .get("rec.opus", Some(&first), Some(range))
        .await
        .expect("ranged get");
    assert_eq!(part.content_length, 4);
    assert_eq!(part.collect().await.expect("body"), &b"2345"[..]);

    let head = store
        .head("rec.opus", Some(&first))
        .await
        .expect("head old");
    assert_eq!(head.size, 10);
    assert_eq!(head.version_id.as_deref(), Some(first.as_str()));

    let outside = store
        .get(
            "rec.opus",
            Some(&first),
            Some(ByteRange {
                first: 50,
                last: 60,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(outside.kind, StoreErrorKind::InvalidRequest, "{outside}");

    let no_version = store
        .get(
            "rec.opus",
            Some("00000000000000000000aaaaaaaaaaaaaaaa"),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(no_version.kind, StoreErrorKind::NotFound, "{no_version}");
}

async fn large_objects_stream_in_bounded_chunks(backend: &dyn Backend) {
    use futures::StreamExt;
    let store = backend.bucket(PLAIN).await;
    let body: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    put(&*store, "big.opus", &body).await;
    let mut stream = store.get("big.opus", None, None).await.expect("get");
    assert_eq!(stream.content_length, body.len() as u64);
    let mut hasher = Sha256::new();
    let mut total = 0usize;
    let mut largest = 0usize;
    while let Some(chunk) = stream.chunks.next().await {
        let chunk = chunk.expect("chunk");
        largest = largest.max(chunk.len());
        total += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(total, body.len());
    assert_eq!(hasher.finalize(), Sha256::digest(&body));
    assert!(
        largest <= 4 * 1024 * 1024,
        "a chunk of {largest} bytes is not bounded"
    );
}

async fn tags_are_read_and_replaced_per_version(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let first = put(&*store, "t.opus", b"one").await;
    assert!(
        store
            .get_tags("t.opus", None)
            .await
            .expect("tags")
            .is_empty()
    );
    let tags = vec![
        Tag::new("legal-hold", "true"),
        Tag::new("matter", "M-1 2/3"),
    ];
    store
        .put_tags("t.opus", first.as_deref(), &tags)
        .await
        .expect("put tags");
    let second = put(&*store, "t.opus", b"two").await;
    assert_eq!(
        store
            .get_tags("t.opus", first.as_deref())
            .await
            .expect("tags"),
        tags
    );
    assert!(
        store
            .get_tags("t.opus", second.as_deref())
            .await
            .expect("tags")
            .is_empty(),
        "tags belong to one version"
    );
    store
        .put_tags("t.opus", None, &[Tag::new("only", "this")])
        .await
        .expect("replace tags");
    assert_eq!(
        store.get_tags("t.opus", None).await.expect("tags"),
        [Tag::new("only", "this")]
    );

    let eleven: Vec<Tag> = (0..11).map(|i| Tag::new(format!("k{i}"), "v")).collect();
    let too_many = store.put_tags("t.opus", None, &eleven).await.unwrap_err();
    assert_eq!(too_many.kind, StoreErrorKind::InvalidRequest, "{too_many}");
    assert_eq!(too_many.action, "PutObjectTagging");
}

async fn copy_in_place_replaces_metadata_and_keeps_content(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let body = b"recording bytes";
    let mut request = PutRequest::new("c/r.opus", &body[..]);
    request.content_type = Some("audio/ogg".into());
    request.metadata = BTreeMap::from([("source".to_string(), "genesys".to_string())]);
    let PutOutcome::Created {
        version_id: first, ..
    } = store.put(request).await.expect("put")
    else {
        panic!("put reported AlreadyExists")
    };
    let outcome = store
        .copy_in_place(&copy_request(
            "c/r.opus",
            first.clone(),
            &[("source", "genesys"), ("legal-hold", "true")],
        ))
        .await
        .expect("copy in place");
    assert!(!outcome.multipart);
    assert!(outcome.version_id.is_some());
    assert_ne!(outcome.version_id, first, "a copy makes a new version");
    assert_eq!(outcome.etag, md5_hex(body));

    let head = store.head("c/r.opus", None).await.expect("head");
    assert_eq!(head.version_id, outcome.version_id);
    assert_eq!(head.content_type.as_deref(), Some("audio/ogg"));
    assert_eq!(
        head.metadata.get("legal-hold").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        head.metadata.get("source").map(String::as_str),
        Some("genesys")
    );
    assert_eq!(
        store.get_bytes("c/r.opus", None).await.expect("get"),
        &body[..]
    );

    let old = store
        .head("c/r.opus", first.as_deref())
        .await
        .expect("old head");
    assert!(
        !old.metadata.contains_key("legal-hold"),
        "the old version keeps its metadata"
    );
}

async fn copy_in_place_above_the_threshold_is_multipart(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let body: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let mut request = PutRequest::new("big/r.wav", body.clone());
    request.content_type = Some("audio/wav".into());
    request.checksum_sha256 = true;
    let PutOutcome::Created {
        version_id: first, ..
    } = store.put(request).await.expect("put")
    else {
        panic!("put reported AlreadyExists")
    };
    let mut copy = copy_request("big/r.wav", first.clone(), &[("legal-hold", "true")]);
    copy.multipart_threshold = 1024 * 1024;
    copy.part_size = 5 * 1024 * 1024;
    let outcome = store.copy_in_place(&copy).await.expect("multipart copy");
    assert!(outcome.multipart);
    assert_ne!(outcome.version_id, first);
    let mut expected_etag = Md5::new();
    for part in body.chunks(5 * 1024 * 1024) {
        expected_etag.update(Md5::digest(part));
    }
    assert_eq!(
        outcome.etag,
        format!("{}-3", hex::encode(expected_etag.finalize())),
        "multipart ETag = MD5 of the part MD5s, suffixed with the part count"
    );
    let head = store.head("big/r.wav", None).await.expect("head");
    assert_eq!(head.size, body.len() as u64);
    assert_eq!(head.content_type.as_deref(), Some("audio/wav"));
    assert_eq!(
        head.metadata.get("legal-hold").map(String::as_str),
        Some("true")
    );
    assert!(!head.etag_is_md5());
    let mut part_sums = Sha256::new();
    for part in body.chunks(5 * 1024 * 1024) {
        part_sums.update(Sha256::digest(part));
    }
    assert_eq!(
        head.checksum_sha256,
        Some(StoredChecksum::Composite {
            algorithm: "SHA256".into(),
            base64: base64::engine::general_purpose::STANDARD.encode(part_sums.finalize()),
            parts: 3,
        }),
        "a SHA-256 source keeps a SHA-256 checksum, composite over the copied parts"
    );
    let copied = store.get_bytes("big/r.wav", None).await.expect("get");
    assert_eq!(Sha256::digest(&copied), Sha256::digest(&body));
}

async fn legal_hold_is_set_per_version_on_a_locked_bucket(backend: &dyn Backend) {
    let store = backend.bucket(LOCKED).await;
    let first = put(&*store, "held.opus", b"evidence").await;
    assert_eq!(
        store
            .head("held.opus", None)
            .await
            .expect("head")
            .legal_hold,
        Some(false)
    );
    store
        .put_legal_hold("held.opus", first.as_deref(), true)
        .await
        .expect("hold on");
    assert_eq!(
        store
            .head("held.opus", first.as_deref())
            .await
            .expect("head")
            .legal_hold,
        Some(true)
    );
    let second = put(&*store, "held.opus", b"a new version").await;
    assert_eq!(
        store
            .head("held.opus", second.as_deref())
            .await
            .expect("head")
            .legal_hold,
        Some(false),
        "a new version is not under the old version's hold"
    );
    assert_eq!(
        store
            .head("held.opus", first.as_deref())
            .await
            .expect("head")
            .legal_hold,
        Some(true)
    );
    store
        .put_legal_hold("held.opus", first.as_deref(), false)
        .await
        .expect("hold off");
    assert_eq!(
        store
            .head("held.opus", first.as_deref())
            .await
            .expect("head")
            .legal_hold,
        Some(false)
    );
}

async fn legal_hold_without_object_lock_is_refused(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let version = put(&*store, "loose.opus", b"x").await;
    let error = store
        .put_legal_hold("loose.opus", version.as_deref(), true)
        .await
        .unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::NoObjectLock, "{error}");
    assert_eq!(error.action, "PutObjectLegalHold");
    assert_eq!(error.key.as_deref(), Some("loose.opus"));
}

async fn bucket_config_reports_versioning_and_object_lock(backend: &dyn Backend) {
    for (spec, versioning) in [
        (PLAIN, Versioning::Unversioned),
        (VERSIONED, Versioning::Enabled),
        (LOCKED, Versioning::Enabled),
    ] {
        let store = backend.bucket(spec).await;
        let config = store.bucket_config().await.expect("bucket config");
        assert_eq!(config.versioning, versioning, "{spec:?}");
        assert_eq!(config.object_lock, spec.object_lock, "{spec:?}");
    }
}

async fn create_only_put_refuses_an_existing_key(backend: &dyn Backend) {
    for spec in [PLAIN, VERSIONED] {
        let store = backend.bucket(spec).await;
        let first = store
            .put(PutRequest::new("ledger/block-0001.json", &b"first"[..]).create_only())
            .await
            .expect("first create");
        assert!(matches!(first, PutOutcome::Created { .. }), "{first:?}");
        let second = store
            .put(PutRequest::new("ledger/block-0001.json", &b"second"[..]).create_only())
            .await
            .expect("second create");
        assert_eq!(second, PutOutcome::AlreadyExists);
        assert_eq!(
            store
                .get_bytes("ledger/block-0001.json", None)
                .await
                .expect("get"),
            &b"first"[..]
        );
    }
}

async fn concurrent_creators_have_exactly_one_winner(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let body = format!("writer {i}");
            let outcome = store
                .put(PutRequest::new("ledger/block-0002.json", body.clone()).create_only())
                .await;
            (body, outcome)
        })
    });
    let results = futures::future::join_all(attempts).await;
    let mut winners = Vec::new();
    for result in results {
        let (body, outcome) = result.expect("task");
        match outcome {
            Ok(PutOutcome::Created { .. }) => winners.push(body),
            Ok(PutOutcome::AlreadyExists) => {}
            // 409 ConditionalRequestConflict is a legitimate answer to a racing creator.
            Err(e) if e.kind == StoreErrorKind::Transient => {}
            Err(e) => panic!("create-only put failed: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(
        store
            .get_bytes("ledger/block-0002.json", None)
            .await
            .expect("get"),
        winners[0].as_bytes()
    );
}

async fn a_requested_sha256_checksum_is_stored(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    let body = b"hash me, and keep the hash";
    let mut request = PutRequest::new("sum.json", &body[..]);
    request.checksum_sha256 = true;
    let PutOutcome::Created { version_id, .. } = store.put(request).await.expect("put") else {
        panic!("put reported AlreadyExists")
    };
    let head = store
        .head("sum.json", version_id.as_deref())
        .await
        .expect("head");
    let stored = Some(StoredChecksum::FullObject {
        algorithm: "SHA256".into(),
        base64: sha256_base64(body),
    });
    assert_eq!(head.checksum_sha256, stored);

    let copied = store
        .copy_in_place(&copy_request(
            "sum.json",
            version_id,
            &[("legal-hold", "true")],
        ))
        .await
        .expect("copy");
    let head = store
        .head("sum.json", copied.version_id.as_deref())
        .await
        .expect("head copy");
    assert_eq!(
        head.checksum_sha256, stored,
        "a single copy keeps the full-object SHA-256"
    );
}

const AWKWARD_KEYS: &[&str] = &[
    "org-1/year=2024/month=01/day=02/hour=03/conversation_id=c 1/rec+1.opus",
    "org-1/percent%20and%3D/literally.json",
    "org-1/unicodé/日本語 ☎ file.json",
    "org-1/a=b=c/x+y z.opus_metadata.json",
    "org-1/question?hash#amp&.json",
];

async fn awkward_keys_work_everywhere(backend: &dyn Backend) {
    let store = backend.bucket(VERSIONED).await;
    for key in AWKWARD_KEYS {
        put(&*store, key, key.as_bytes()).await;
    }
    let listed: Vec<String> = store
        .list("org-1/")
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut expected: Vec<String> = AWKWARD_KEYS.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for key in AWKWARD_KEYS {
        let head = store
            .head(key, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(head.etag, md5_hex(key.as_bytes()), "{key}");
        assert_eq!(
            store
                .get_bytes(key, head.version_id.as_deref())
                .await
                .expect("get"),
            key.as_bytes()
        );
        store
            .put_tags(key, head.version_id.as_deref(), &[Tag::new("k", "v")])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let copied = store
            .copy_in_place(&copy_request(
                key,
                head.version_id.clone(),
                &[("legal-hold", "true")],
            ))
            .await
            .unwrap_or_else(|e| panic!("copy {key}: {e}"));
        assert_ne!(copied.version_id, head.version_id, "{key}");
        assert_eq!(
            store.get_bytes(key, None).await.expect("get"),
            key.as_bytes()
        );
    }
}

// ---------------------------------------------------------------- running it on every adapter

custody_tests::on_every_adapter!(
    lists_current_objects_under_a_prefix,
    pages_of_a_listing_add_up_to_the_listing,
    head_reports_the_fields_of_a_version,
    gets_are_ranged_and_pinned_to_a_version,
    large_objects_stream_in_bounded_chunks,
    tags_are_read_and_replaced_per_version,
    copy_in_place_replaces_metadata_and_keeps_content,
    copy_in_place_above_the_threshold_is_multipart,
    legal_hold_is_set_per_version_on_a_locked_bucket,
    legal_hold_without_object_lock_is_refused,
    bucket_config_reports_versioning_and_object_lock,
    create_only_put_refuses_an_existing_key,
    concurrent_creators_have_exactly_one_winner,
    a_requested_sha256_checksum_is_stored,
    awkward_keys_work_everywhere,
);

// ---------------------------------------------------------------- S3 only

#[tokio::test]
async fn s3_server_rejects_a_wrong_secret_key() {
    let server = SeaweedFs::shared().await;
    let bucket = unique_bucket("secret");
    server.create_bucket(&bucket, PLAIN).await.expect("bucket");
    let mut options = server.s3_options(&bucket, Identity::Admin);
    if let Some(credentials) = options.credentials.as_mut() {
        credentials.secret_access_key = "not-the-secret".into();
    }
    options.max_attempts = 1;
    let store = custody_aws::s3::S3Store::connect(&options).await;
    let error = store.list("").await.unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::AccessDenied, "{error}");
    assert_eq!(
        error.code.as_deref(),
        Some("SignatureDoesNotMatch"),
        "{error}"
    );
    // The same request with the right secret succeeds: the refusal was about the signature.
    let good = server.store(&bucket).await;
    assert!(good.list("").await.expect("list").is_empty());
}

#[tokio::test]
async fn limited_identity_is_denied_tagging_and_the_error_names_the_action() {
    let server = SeaweedFs::shared().await;
    let bucket = unique_bucket("limited");
    server
        .create_bucket(&bucket, VERSIONED)
        .await
        .expect("bucket");
    let limited = server.store_as(&bucket, Identity::Limited).await;
    let version = put(&limited, "r.opus", b"limited writes are allowed").await;
    let error = limited
        .put_tags(
            "r.opus",
            version.as_deref(),
            &[Tag::new("legal-hold", "true")],
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::AccessDenied, "{error}");
    assert_eq!(error.action, "PutObjectTagging");
    assert_eq!(error.code.as_deref(), Some("AccessDenied"));
    let message = error.to_string();
    assert!(
        message.contains("PutObjectTagging") && message.contains("r.opus"),
        "{message}"
    );
}

// ---------------------------------------------------------------- filesystem only

#[tokio::test]
async fn a_plain_folder_opens_as_an_unversioned_bucket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conversation = dir
        .path()
        .join("org/year=2024/month=01/day=02/hour=03/conversation_id=c 1");
    std::fs::create_dir_all(&conversation).expect("mkdir");
    std::fs::write(conversation.join("r+1.opus"), b"audio").expect("write");
    std::fs::write(conversation.join("r+1.opus_metadata.json"), b"{}").expect("write");
    let store = FsStore::open(dir.path()).expect("open plain folder");
    let config = store.bucket_config().await.expect("config");
    assert_eq!(config.versioning, Versioning::Unversioned);
    assert!(!config.object_lock);
    let listed = store.list("org/").await.expect("list");
    assert_eq!(listed.len(), 2);
    let key = "org/year=2024/month=01/day=02/hour=03/conversation_id=c 1/r+1.opus";
    assert_eq!(listed[0].key, key);
    let head = store.head(key, None).await.expect("head");
    assert_eq!(head.etag, md5_hex(b"audio"));
    assert_eq!(head.version_id, None);
    assert_eq!(
        store.get_bytes(key, None).await.expect("get"),
        &b"audio"[..]
    );
    assert!(
        !dir.path().join(".custody-store").exists(),
        "reading must not write state"
    );
    store
        .put_tags(key, None, &[Tag::new("legal-hold", "true")])
        .await
        .expect("tag a plain file");
    assert_eq!(
        store.get_tags(key, None).await.expect("tags"),
        [Tag::new("legal-hold", "true")]
    );
    assert_eq!(
        store.get_bytes(key, None).await.expect("get"),
        &b"audio"[..]
    );
    let hold = store.put_legal_hold(key, None, true).await.unwrap_err();
    assert_eq!(hold.kind, StoreErrorKind::NoObjectLock);
}

#[test]
fn folder_creators_in_separate_store_values_have_exactly_one_winner() {
    let dir = tempfile::tempdir().expect("temp dir");
    FsStore::create(dir.path(), VERSIONED).expect("create");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let threads: Vec<_> =
        (0..8)
            .map(|i| {
                let root = dir.path().to_path_buf();
                let handle = runtime.handle().clone();
                std::thread::spawn(move || {
                    let store = FsStore::open(&root).expect("open");
                    handle.block_on(store.put(
                        PutRequest::new("ledger/block.json", format!("writer {i}")).create_only(),
                    ))
                })
            })
            .collect();
    let created = threads
        .into_iter()
        .map(|t| t.join().expect("thread").expect("put"))
        .filter(|o| matches!(o, PutOutcome::Created { .. }))
        .count();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn s3_copy_in_place_keeps_system_metadata_and_encryption() {
    let server = SeaweedFs::shared().await;
    let bucket = unique_bucket("headers");
    server
        .create_bucket(&bucket, VERSIONED)
        .await
        .expect("bucket");
    let client = server.client().await;
    client
        .put_object()
        .bucket(&bucket)
        .key("r.opus")
        .body(Bytes::from_static(b"opus bytes").into())
        .content_type("audio/ogg")
        .content_disposition("attachment; filename=\"r.opus\"")
        .content_language("en-GB")
        .cache_control("no-store")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("put");
    let store = server.store(&bucket).await;
    let copied = store
        .copy_in_place(&copy_request("r.opus", None, &[("legal-hold", "true")]))
        .await
        .expect("copy");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("r.opus")
        .set_version_id(copied.version_id.clone())
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_type(), Some("audio/ogg"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"r.opus\"")
    );
    assert_eq!(head.content_language(), Some("en-GB"));
    assert_eq!(head.cache_control(), Some("no-store"));
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("legal-hold"))
            .map(String::as_str),
        Some("true")
    );
}
