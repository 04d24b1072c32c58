use crate::ledger::block::{BlockView, Tip, build_block};
use crate::ledger::layout::Layout;
use crate::ledger::merkle::leaf_hash;
use crate::ledger::tiles::{
    MAX_ENTRY_BYTES, TilesError, TilesPublished, encode_bundle, entry_bundle, hash_tile,
    publish_block,
};
use crate::store::faulty::{Fault, FaultyStore, RandomFaults, Rule};
use crate::store::{PutRequest, StoreErrorKind, StoreRead, StoreWrite};

use super::{Chain, Rng, assert_tiles_match, line, memory, objects};

pub(super) async fn publish_all(
    store: &dyn StoreWrite,
    layout: &Layout,
    chain: &Chain,
) -> Vec<TilesPublished> {
    let mut out = Vec::new();
    for b in &chain.blocks {
        let view = BlockView::parse(&b.bytes).unwrap();
        out.push(publish_block(store, layout, &view).await.unwrap());
    }
    out
}

#[tokio::test]
async fn tiles_reproduce_every_block_root_over_random_block_sizes() {
    for seed in 0..16 {
        let total = Rng::new(seed + 100).range(1, 2000);
        let chain = Chain::random(seed, total, 600);
        let store = memory();
        let layout = Layout::new("ledger");
        publish_all(store.as_ref(), &layout, &chain).await;
        assert_tiles_match(store.as_ref(), &layout, &chain).await;
    }
}

#[tokio::test]
async fn every_tree_size_up_to_600_as_a_block_boundary() {
    // Blocks of 1 leaf up to 300 (every size a boundary), then of 1 to 7 leaves up to 600.
    let mut sizes = vec![1; 300];
    sizes.extend((0..75).map(|i| i % 7 + 1));
    let chain = Chain::new(&sizes);
    let store = memory();
    let layout = Layout::new("");
    publish_all(store.as_ref(), &layout, &chain).await;
    assert_tiles_match(store.as_ref(), &layout, &chain).await;
}

#[tokio::test]
async fn tens_of_thousands_of_leaves_across_the_third_tile_level() {
    // 70,000 leaves: past 65,536, where the first level-2 tile appears.
    let chain = Chain::random(42, 70_000, 5_000);
    let store = memory();
    let layout = Layout::new("ledger");
    publish_all(store.as_ref(), &layout, &chain).await;
    assert_tiles_match(store.as_ref(), &layout, &chain).await;
    let key = layout.tile(&hash_tile(2, 0, 1));
    assert!(store.get_bytes(&key, None).await.is_ok(), "{key}");
}

#[tokio::test]
async fn republishing_after_crashes_at_random_points_is_idempotent() {
    let chain = Chain::random(7, 1_500, 400);
    let layout = Layout::new("ledger");
    let reference = memory();
    publish_all(reference.as_ref(), &layout, &chain).await;
    let expected = objects(reference.as_ref(), "").await;

    for seed in 0..4 {
        let inner = memory();
        let faulty = FaultyStore::new(inner.clone()).with_random(RandomFaults { rate: 0.1, seed });
        for b in &chain.blocks {
            let view = BlockView::parse(&b.bytes).unwrap();
            let mut attempts = 0;
            while let Err(e) = publish_block(&faulty, &layout, &view).await {
                // Only the injected transient failures, never a conflict with its own tiles.
                assert!(
                    matches!(&e, TilesError::Store { source, .. } if source.is_retryable()),
                    "{e}"
                );
                attempts += 1;
                assert!(attempts < 200, "block {} never published", b.header.index);
            }
        }
        assert!(faulty.injected() > 5, "seed {seed}: faults were injected");
        assert_eq!(objects(inner.as_ref(), "").await, expected, "seed {seed}");
    }

    // Publishing complete tiles again creates nothing and changes nothing.
    for done in publish_all(reference.as_ref(), &layout, &chain).await {
        assert_eq!(done.created, 0);
        assert!(done.unchanged > 0);
    }
    assert_eq!(objects(reference.as_ref(), "").await, expected);
}

#[tokio::test]
async fn an_answer_lost_after_a_tile_was_written_is_found_on_the_re_run() {
    let chain = Chain::new(&[300, 40]);
    let layout = Layout::new("ledger");
    let inner = memory();
    let faulty = FaultyStore::new(inner.clone());
    faulty.inject(Rule::on("PutObject", 1, Fault::LoseAnswer).for_keys("ledger/tile/1/"));
    let view = BlockView::parse(&chain.blocks[0].bytes).unwrap();
    let lost = publish_block(&faulty, &layout, &view).await.unwrap_err();
    assert!(matches!(lost, TilesError::Store { ref key, .. } if key == "ledger/tile/1/000.p/1"));
    // The checkpoint is written last: not there after the crash.
    let cp = inner
        .get_bytes(&layout.checkpoint(), None)
        .await
        .unwrap_err();
    assert_eq!(cp.kind, StoreErrorKind::NotFound);
    let again = publish_block(&faulty, &layout, &view).await.unwrap();
    assert!(
        again.unchanged >= 1 && again.created + again.unchanged == 5,
        "{again:?}"
    );
    let view = BlockView::parse(&chain.blocks[1].bytes).unwrap();
    publish_block(&faulty, &layout, &view).await.unwrap();
    assert_tiles_match(inner.as_ref(), &layout, &chain).await;
}

#[tokio::test]
async fn a_tile_stored_with_other_bytes_is_a_conflict_naming_its_key() {
    let chain = Chain::new(&[300, 5]);
    let layout = Layout::new("ledger");
    let store = memory();
    let view = BlockView::parse(&chain.blocks[0].bytes).unwrap();
    publish_block(store.as_ref(), &layout, &view).await.unwrap();
    let key = layout.tile(&hash_tile(0, 1, 49));
    let squatter = PutRequest::new(&key, vec![0u8; 49 * 32]).create_only();
    store.put(squatter).await.unwrap();
    let view = BlockView::parse(&chain.blocks[1].bytes).unwrap();
    let err = publish_block(store.as_ref(), &layout, &view)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TilesError::Conflict { key: k } if *k == key),
        "{err}"
    );
    assert!(err.to_string().contains("ledger/tile/0/001.p/49"), "{err}");
}

#[tokio::test]
async fn a_predecessor_tile_that_is_not_this_ledgers_stops_the_publication() {
    let chain = Chain::new(&[300, 5]);
    let layout = Layout::new("ledger");
    let view0 = BlockView::parse(&chain.blocks[0].bytes).unwrap();
    let view1 = BlockView::parse(&chain.blocks[1].bytes).unwrap();
    let tile_key = layout.tile(&hash_tile(0, 1, 44));
    let bundle_key = layout.tile(&entry_bundle(1, 44));

    // A leaf hash altered alone: the bundle's entry no longer hashes to it.
    let store = memory();
    publish_block(store.as_ref(), &layout, &view0)
        .await
        .unwrap();
    let mut tile = store.get_bytes(&tile_key, None).await.unwrap().to_vec();
    tile[5] ^= 1;
    store.put(PutRequest::new(&tile_key, tile)).await.unwrap();
    let err = publish_block(store.as_ref(), &layout, &view1)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TilesError::Malformed { key, .. } if *key == bundle_key),
        "{err}"
    );

    // An entry and its leaf hash forged together: the block's frontier check catches it.
    let store = memory();
    publish_block(store.as_ref(), &layout, &view0)
        .await
        .unwrap();
    let mut entries: Vec<Vec<u8>> = (256..300).map(line).collect();
    entries[3] = b"{\"forged\":true}".to_vec();
    let bundle = encode_bundle(256, &entries).unwrap();
    store
        .put(PutRequest::new(&bundle_key, bundle))
        .await
        .unwrap();
    let mut tile = store.get_bytes(&tile_key, None).await.unwrap().to_vec();
    tile[3 * 32..4 * 32].copy_from_slice(&leaf_hash(&entries[3]));
    store.put(PutRequest::new(&tile_key, tile)).await.unwrap();
    let err = publish_block(store.as_ref(), &layout, &view1)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TilesError::Frontier { block: 1, tree_size: 305, keys } if keys.contains(&tile_key)),
        "{err}"
    );
    // Nothing of block 1 was written.
    assert!(
        store
            .get_bytes(&layout.tile(&hash_tile(0, 1, 49)), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_block_is_not_published_over_an_incomplete_predecessor() {
    // Block 0's level-1 tile is never written (the publisher crashed there); block 1 leaves
    // level 1 alone, so only the completeness check can see it.
    let chain = Chain::new(&[300, 5]);
    let layout = Layout::new("ledger");
    let inner = memory();
    let faulty = FaultyStore::new(inner.clone());
    faulty.inject(
        Rule::on(
            "PutObject",
            1,
            Fault::Refuse(StoreErrorKind::Transient, "InternalError"),
        )
        .for_keys("ledger/tile/1/"),
    );
    let view0 = BlockView::parse(&chain.blocks[0].bytes).unwrap();
    publish_block(&faulty, &layout, &view0).await.unwrap_err();
    let view1 = BlockView::parse(&chain.blocks[1].bytes).unwrap();
    let err = publish_block(&faulty, &layout, &view1).await.unwrap_err();
    assert!(
        matches!(&err, TilesError::NotCaughtUp { key, tree_size: 300 } if key == "ledger/tile/1/000.p/1"),
        "{err}"
    );
    publish_block(&faulty, &layout, &view0).await.unwrap();
    publish_block(&faulty, &layout, &view1).await.unwrap();
    assert_tiles_match(inner.as_ref(), &layout, &chain).await;
}

#[tokio::test]
async fn a_line_longer_than_an_entry_can_be_is_refused_before_anything_is_written() {
    let signer = crate::ledger::keys::Signer::generate(super::ORIGIN).unwrap();
    let fits = vec![b'x'; MAX_ENTRY_BYTES];
    let too_long = vec![b'y'; MAX_ENTRY_BYTES + 1];
    let created = "2024-05-01T10:00:00.000Z";
    let b0 = build_block(&Tip::genesis(), &[fits], super::ORIGIN, &signer, created).unwrap();
    let records = [b"{}".to_vec(), too_long];
    let b1 = build_block(&b0.tip_after, &records, super::ORIGIN, &signer, created).unwrap();
    let layout = Layout::new("ledger");
    let store = memory();
    let view0 = BlockView::parse(&b0.bytes).unwrap();
    publish_block(store.as_ref(), &layout, &view0)
        .await
        .unwrap();
    let before = objects(store.as_ref(), "").await;
    let view1 = BlockView::parse(&b1.bytes).unwrap();
    let err = publish_block(store.as_ref(), &layout, &view1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TilesError::EntryTooLarge { leaf: 2, len } if len == MAX_ENTRY_BYTES + 1),
        "{err}"
    );
    assert_eq!(objects(store.as_ref(), "").await, before);
}
