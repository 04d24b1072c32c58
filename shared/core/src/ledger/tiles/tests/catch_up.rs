use std::sync::Arc;

use crate::ledger::block::BlockView;
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::keys::Signer;
use crate::ledger::layout::Layout;
use crate::ledger::log::{Ledger, LedgerConfig};
use crate::ledger::tiles::{CoveredBy, catch_up};
use crate::store::faulty::{Fault, FaultyStore, Rule};
use crate::store::{PutRequest, StoreErrorKind, StoreRead, StoreWrite};

use super::publish::publish_all;
use super::{Chain, ORIGIN, assert_tiles_match, memory, objects};

async fn write_blocks(store: &dyn StoreWrite, layout: &Layout, chain: &Chain, from: usize) {
    for b in &chain.blocks[from..] {
        let request = PutRequest::new(layout.block(b.header.index), b.bytes.clone()).create_only();
        store.put(request).await.unwrap();
    }
}

async fn open(store: Arc<FaultyStore>) -> Ledger {
    Ledger::open(store, "ledger", LedgerConfig::new(ORIGIN), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn catch_up_publishes_what_is_behind_and_reads_no_older_block() {
    let mut chain = Chain::random(11, 900, 200);
    let layout = Layout::new("ledger");
    let inner = memory();
    let store = Arc::new(FaultyStore::new(inner.clone()));
    write_blocks(store.as_ref(), &layout, &chain, 0).await;
    let ledger = open(store.clone()).await;
    let last = chain.blocks.len() as u64 - 1;

    let first = catch_up(&ledger).await.unwrap();
    assert_eq!(first.covered_by, CoveredBy::Probing);
    assert!(
        first
            .checkpoint_refused
            .as_deref()
            .unwrap()
            .contains("does not exist")
    );
    assert_eq!(first.blocks, Some((0, last)));
    assert_eq!(first.tree_size, chain.size());
    assert_tiles_match(inner.as_ref(), &layout, &chain).await;

    let again = catch_up(&ledger).await.unwrap();
    assert_eq!(again.covered_by, CoveredBy::Checkpoint);
    assert_eq!((again.blocks, again.created), (None, 0));

    chain.extend(&[3, 400, 1, 256, 17]);
    write_blocks(store.as_ref(), &layout, &chain, last as usize + 1).await;
    let gets = store.gets().len();
    let next = catch_up(&ledger).await.unwrap();
    assert_eq!(next.covered_by, CoveredBy::Checkpoint);
    assert_eq!(next.blocks, Some((last + 1, last + 5)));
    assert_tiles_match(inner.as_ref(), &layout, &chain).await;
    // Blocks up to the one already covered: at most their header, never the whole block.
    for get in &store.gets()[gets..] {
        if let Some(index) = layout.block_index(&get.key) {
            assert!(index > last || get.range.is_some(), "read {get:?}");
        }
    }
}

#[tokio::test]
async fn an_edited_checkpoint_is_not_believed() {
    let chain = Chain::random(12, 1_000, 150);
    let layout = Layout::new("ledger");
    let inner = memory();
    let store = Arc::new(FaultyStore::new(inner.clone()));
    write_blocks(store.as_ref(), &layout, &chain, 0).await;
    let ledger = open(store.clone()).await;
    catch_up(&ledger).await.unwrap();
    let intact = objects(inner.as_ref(), "").await;
    let head_note = BlockView::parse(&chain.blocks.last().unwrap().bytes)
        .unwrap()
        .note
        .to_vec();
    let block2 = &chain.blocks[2].header;
    let other = Signer::generate(ORIGIN).unwrap();
    let forged_root = Checkpoint::sign(ORIGIN, block2.tree_size, [7; 32], &other).unwrap();
    let elsewhere = Signer::generate("other.test/log").unwrap();
    let other_origin =
        Checkpoint::sign("other.test/log", block2.tree_size, [7; 32], &elsewhere).unwrap();
    let cases: [(&[u8], &str); 4] = [
        (b"garbage", "is not a checkpoint"),
        (forged_root.note().as_bytes(), "another root than block 2"),
        (other_origin.note().as_bytes(), "names origin"),
        (
            b"custody.test/ledger\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
            "not a checkpoint",
        ),
    ];
    for (edited, why) in cases {
        let put = PutRequest::new(layout.checkpoint(), edited.to_vec());
        store.put(put).await.unwrap();
        let outcome = catch_up(&ledger).await.unwrap();
        assert_eq!(outcome.covered_by, CoveredBy::Probing, "{why}");
        let refused = outcome.checkpoint_refused.unwrap();
        assert!(refused.contains(why), "{refused}");
        assert_eq!(outcome.blocks, None, "{why}: nothing was behind");
        let cp = inner.get_bytes(&layout.checkpoint(), None).await.unwrap();
        assert_eq!(
            cp.to_vec(),
            head_note,
            "{why}: the head's checkpoint is back"
        );
        assert_eq!(objects(inner.as_ref(), "").await, intact);
        // Probing costs O(log blocks) requests, not one per block.
        assert!(outcome.probes < 40, "{} probes", outcome.probes);
    }

    // An older block's genuine checkpoint is believed: the blocks after it are re-published,
    // finding every tile identical.
    let old_note = BlockView::parse(&chain.blocks[2].bytes)
        .unwrap()
        .note
        .to_vec();
    store
        .put(PutRequest::new(layout.checkpoint(), old_note))
        .await
        .unwrap();
    let outcome = catch_up(&ledger).await.unwrap();
    assert_eq!(outcome.covered_by, CoveredBy::Checkpoint);
    assert_eq!(outcome.blocks, Some((3, chain.blocks.len() as u64 - 1)));
    assert_eq!(outcome.created, 0);
    assert_eq!(objects(inner.as_ref(), "").await, intact);
}

#[tokio::test]
async fn a_checkpoint_vouching_for_missing_tiles_is_not_believed() {
    // The head's note copied into `checkpoint` while the tiles stop three blocks earlier.
    let chain = Chain::random(13, 800, 120);
    let layout = Layout::new("ledger");
    let inner = memory();
    let store = Arc::new(FaultyStore::new(inner.clone()));
    let count = chain.blocks.len();
    let early = Chain {
        signer: Signer::generate(ORIGIN).unwrap(),
        blocks: chain.blocks[..count - 3].to_vec(),
    };
    publish_all(store.as_ref(), &layout, &early).await;
    write_blocks(store.as_ref(), &layout, &chain, 0).await;
    let head_note = BlockView::parse(&chain.blocks[count - 1].bytes)
        .unwrap()
        .note
        .to_vec();
    store
        .put(PutRequest::new(layout.checkpoint(), head_note))
        .await
        .unwrap();
    let ledger = open(store.clone()).await;
    let outcome = catch_up(&ledger).await.unwrap();
    assert_eq!(outcome.covered_by, CoveredBy::Probing);
    assert!(outcome.checkpoint_refused.unwrap().contains("incomplete"));
    let last = count as u64 - 1;
    assert_eq!(outcome.blocks, Some((last - 2, last)));
    assert_tiles_match(inner.as_ref(), &layout, &chain).await;
}

#[tokio::test]
async fn catch_up_after_a_crash_half_way_completes_the_tiles() {
    let chain = Chain::random(14, 1_500, 200);
    let layout = Layout::new("ledger");
    let reference = memory();
    publish_all(reference.as_ref(), &layout, &chain).await;

    let inner = memory();
    let store = Arc::new(FaultyStore::new(inner.clone()));
    write_blocks(store.as_ref(), &layout, &chain, 0).await;
    let ledger = open(store.clone()).await;
    // The 40th tile write fails, and the answer of the 41st is lost.
    store.inject(
        Rule::on("PutObject", 1, Fault::Delay(std::time::Duration::ZERO)).for_keys("ledger/tile/"),
    );
    for _ in 0..38 {
        store.inject(
            Rule::on("PutObject", 1, Fault::Delay(std::time::Duration::ZERO))
                .for_keys("ledger/tile/"),
        );
    }
    store.inject(
        Rule::on(
            "PutObject",
            1,
            Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
        )
        .for_keys("ledger/tile/"),
    );
    catch_up(&ledger).await.unwrap_err();
    store.inject(Rule::on("PutObject", 1, Fault::LoseAnswer).for_keys("ledger/tile/"));
    catch_up(&ledger).await.unwrap_err();
    let done = catch_up(&ledger).await.unwrap();
    assert_eq!(done.tree_size, chain.size());
    assert_eq!(
        objects(inner.as_ref(), "ledger/tile/").await,
        objects(reference.as_ref(), "ledger/tile/").await
    );
    assert_tiles_match(inner.as_ref(), &layout, &chain).await;
}

#[tokio::test]
async fn a_block_whose_publication_stopped_half_way_is_published_again() {
    // Block 1 spans level-0 tiles 0 to 4; the write of tile 1 fails. The last tiles of its
    // levels are written after all others, so they are absent and probing restarts at block 1
    // even with the checkpoint gone.
    let chain = Chain::new(&[100, 1_000, 10]);
    let layout = Layout::new("ledger");
    let inner = memory();
    let store = Arc::new(FaultyStore::new(inner.clone()));
    write_blocks(store.as_ref(), &layout, &chain, 0).await;
    let ledger = open(store.clone()).await;
    store.inject(
        Rule::on(
            "PutObject",
            1,
            Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
        )
        .for_keys("ledger/tile/0/001"),
    );
    catch_up(&ledger).await.unwrap_err();
    assert!(inner.get_bytes("ledger/tile/0/000", None).await.is_ok());
    assert!(
        inner
            .get_bytes("ledger/tile/0/004.p/76", None)
            .await
            .is_err()
    );
    let put = PutRequest::new(layout.checkpoint(), b"lost".to_vec());
    store.put(put).await.unwrap();
    let outcome = catch_up(&ledger).await.unwrap();
    assert_eq!(outcome.covered_by, CoveredBy::Probing);
    assert_eq!(outcome.blocks, Some((1, 2)));
    assert_tiles_match(inner.as_ref(), &layout, &chain).await;
}
