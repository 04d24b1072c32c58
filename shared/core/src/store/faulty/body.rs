//! The bodies the fault-injecting store serves: reshaped into chunks of a given size with a
//! pause each (as a network delivers them), counted while open, or cut after some bytes with a
//! transient error (a connection reset mid-body).

use super::*;

/// A body stream re-cut into chunks of `shape.chunk` bytes, each after `shape.pause`.
pub(super) fn reshape(
    chunks: crate::store::ChunkStream,
    shape: BodyShape,
) -> crate::store::ChunkStream {
    let pieces = chunks.flat_map(move |chunk| {
        let pieces: Vec<Result<Bytes, StoreError>> = match chunk {
            Err(e) => vec![Err(e)],
            Ok(bytes) => (0..bytes.len())
                .step_by(shape.chunk)
                .map(|at| Ok(bytes.slice(at..(at + shape.chunk).min(bytes.len()))))
                .collect(),
        };
        futures::stream::iter(pieces)
    });
    Box::pin(pieces.then(move |piece| async move {
        if let Some(pause) = shape.pause {
            tokio::time::sleep(pause).await;
        }
        piece
    }))
}

/// Counts a body as open until its stream is dropped.
pub(super) fn counted(
    chunks: crate::store::ChunkStream,
    open: &Arc<AtomicUsize>,
    max: &Arc<AtomicUsize>,
) -> crate::store::ChunkStream {
    struct Open(Arc<AtomicUsize>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
    max.fetch_max(now, Ordering::SeqCst);
    let guard = Open(open.clone());
    Box::pin(chunks.map(move |chunk| {
        let _ = &guard;
        chunk
    }))
}

/// A body stream that yields `keep` bytes, then a transient error, as a connection reset
/// mid-body does.
pub(super) fn cut_after(
    chunks: crate::store::ChunkStream,
    keep: u64,
    key: String,
) -> crate::store::ChunkStream {
    enum State {
        Reading(crate::store::ChunkStream, u64),
        Cut,
        Done,
    }
    Box::pin(futures::stream::unfold(
        State::Reading(chunks, 0),
        move |state| {
            let key = key.clone();
            async move {
                match state {
                    State::Done => None,
                    State::Cut => Some((Err(lost_answer("GetObject", &key)), State::Done)),
                    State::Reading(mut chunks, sent) => match chunks.next().await {
                        // A cut at the very end: every byte arrived, then the error.
                        None if sent == keep => {
                            Some((Err(lost_answer("GetObject", &key)), State::Done))
                        }
                        None => None,
                        Some(Err(e)) => Some((Err(e), State::Done)),
                        Some(Ok(chunk)) => {
                            let len = chunk.len() as u64;
                            if sent + len <= keep {
                                Some((Ok(chunk), State::Reading(chunks, sent + len)))
                            } else {
                                let head: Bytes = chunk.slice(..(keep - sent) as usize);
                                Some((Ok(head), State::Cut))
                            }
                        }
                    },
                }
            }
        },
    ))
}
