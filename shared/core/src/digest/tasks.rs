//! Running work off the async runtime for the hashing engine: CPU work on the rayon pool, awaited
//! without blocking a runtime thread, and spawned tasks that are aborted when dropped. A panic in
//! either comes back as an error message, never as a crashed runtime.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use tokio::task::JoinHandle;

/// Runs CPU work on the rayon pool (sized to the cores) and awaits it without blocking a runtime
/// thread. A panic comes back as an error message.
pub(super) async fn on_rayon<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (done, result) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(panic_message);
        let _ = done.send(outcome);
    });
    result
        .await
        .map_err(|_| "the hashing worker went away".to_string())?
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// A spawned task that is aborted when its handle is dropped, so that dropping a hash (an error
/// in one part, a cancelled caller) stops its other fetches too. Resolves to `Err` on a panic.
pub(super) fn spawn_owned<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> impl Future<Output = Result<T, String>> + Send + 'static {
    let handle = AbortOnDrop(tokio::spawn(work));
    async move {
        let mut handle = handle;
        (&mut handle.0).await.map_err(|error| {
            if error.is_panic() {
                panic_message(error.into_panic())
            } else {
                "the task was cancelled".to_string()
            }
        })
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
