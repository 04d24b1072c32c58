//! Running one test body on both store adapters: a folder bucket and a bucket on the shared
//! SeaweedFS server. `on_both!(test_a, test_b)` makes `fs_adapter::test_a` and
//! `s3_adapter::test_a` (and so on) from `async fn test_a(backend: &dyn Backend)`.
//! `on_every_adapter!` adds the in-memory adapter (`memory_adapter::test_a`): the store contract
//! holds it to the same behaviour as the folder and S3.

use std::sync::Arc;

use custody_core::store::fs::FsStore;
use custody_core::store::memory::MemoryStore;
use custody_core::store::{BucketSpec, ObjectStore};
use futures::future::BoxFuture;

use crate::{SeaweedFs, unique_bucket};

/// Makes fresh buckets of one adapter.
pub trait Backend: Sync {
    fn bucket(&self, spec: BucketSpec) -> BoxFuture<'_, Arc<dyn ObjectStore>>;
}

pub struct FsBackend {
    root: tempfile::TempDir,
}

impl Backend for FsBackend {
    fn bucket(&self, spec: BucketSpec) -> BoxFuture<'_, Arc<dyn ObjectStore>> {
        Box::pin(async move {
            let path = self.root.path().join(unique_bucket("fs"));
            Arc::new(FsStore::create(path, spec).expect("folder bucket")) as Arc<dyn ObjectStore>
        })
    }
}

pub struct MemoryBackend;

impl Backend for MemoryBackend {
    fn bucket(&self, spec: BucketSpec) -> BoxFuture<'_, Arc<dyn ObjectStore>> {
        Box::pin(async move {
            Arc::new(MemoryStore::new(unique_bucket("mem"), spec)) as Arc<dyn ObjectStore>
        })
    }
}

pub struct S3Backend {
    server: &'static SeaweedFs,
}

impl Backend for S3Backend {
    fn bucket(&self, spec: BucketSpec) -> BoxFuture<'_, Arc<dyn ObjectStore>> {
        Box::pin(async move {
            let name = unique_bucket("s3");
            self.server
                .create_bucket(&name, spec)
                .await
                .expect("create bucket");
            Arc::new(self.server.store(&name).await) as Arc<dyn ObjectStore>
        })
    }
}

pub fn fs_backend() -> FsBackend {
    FsBackend {
        root: tempfile::tempdir().expect("temp dir"),
    }
}

pub async fn s3_backend() -> S3Backend {
    S3Backend {
        server: SeaweedFs::shared().await,
    }
}

#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod fs_adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::backend::fs_backend()).await;
                }
            )*
        }
        mod s3_adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::backend::s3_backend().await).await;
                }
            )*
        }
    };
}

#[macro_export]
macro_rules! on_every_adapter {
    ($($name:ident),* $(,)?) => {
        $crate::on_both!($($name),*);
        mod memory_adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::backend::MemoryBackend).await;
                }
            )*
        }
    };
}
