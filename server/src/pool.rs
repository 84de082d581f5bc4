//! The scoring pool: a fixed set of threads (`--threads`, default one per CPU) that parse,
//! score and encode the batches too big to handle on the async reactor. A tokio worker that
//! spends milliseconds scoring stalls every other connection it serves; handing the work to a
//! dedicated pool keeps accepting, reading bodies and answering small requests responsive
//! whatever the batch sizes are.
//!
//! The hand-off is not free: two thread wake-ups and a channel, some microseconds, while keel
//! scores a row of a linear model in about two. So a request is scored inline (on its own
//! task) when it is small: a body of at most [`INLINE_MAX_BODY`] bytes and at most
//! `--inline-rows` rows (default [`crate::state::DEFAULT_INLINE_ROWS`]); everything else goes to
//! the pool. At those sizes inline work stays in the tens of microseconds, the budget tokio
//! recommends between two awaits.
//!
//! Admission is bounded: at most [`QUEUE_PER_THREAD`] jobs per thread are queued or running;
//! further requests wait (asynchronously, under their timeout) for a slot, so an overload turns
//! into latency and timeouts rather than unbounded memory. A job whose request was abandoned
//! (timed out, client gone) before it started is skipped.

use crate::error::AppError;
use std::sync::Arc;
use tokio::sync::{Semaphore, oneshot};

/// Largest body parsed inline (bytes).
pub const INLINE_MAX_BODY: usize = 16 << 10;

/// Jobs admitted per pool thread (running or queued).
pub const QUEUE_PER_THREAD: usize = 4;

/// The scoring pool.
#[derive(Debug)]
pub struct ScoringPool {
    pool: rayon::ThreadPool,
    slots: Arc<Semaphore>,
    threads: usize,
}

impl ScoringPool {
    /// A pool of `threads` threads (at least 1).
    pub fn new(threads: usize) -> Result<Self, String> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("keel-score-{i}"))
            .build()
            .map_err(|e| format!("cannot start the scoring pool: {e}"))?;
        Ok(ScoringPool {
            pool,
            slots: Arc::new(Semaphore::new(threads.saturating_mul(QUEUE_PER_THREAD))),
            threads,
        })
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on the pool and waits for its result without blocking the reactor.
    pub async fn run<T, F>(&self, job: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, AppError> + Send + 'static,
    {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AppError::internal("the scoring pool is shut down"))?;
        let (tx, rx) = oneshot::channel();
        self.pool.spawn(move || {
            let _slot = slot;
            if tx.is_closed() {
                return;
            }
            // rayon aborts the process when a spawned job panics; a panic in one request must
            // fail that request only.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                .unwrap_or_else(|_| Err(AppError::internal("scoring panicked (a bug in keel)")));
            let _ = tx.send(result);
        });
        rx.await
            .map_err(|_| AppError::internal("the scoring job was dropped"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_off_the_reactor_and_panics_are_contained() {
        let pool = ScoringPool::new(2).unwrap();
        let name = pool
            .run(|| Ok(std::thread::current().name().map(str::to_string)))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("keel-score-"));
        #[allow(clippy::panic)]
        let e = pool.run::<(), _>(|| panic!("boom")).await.unwrap_err();
        assert_eq!(e.code, "internal");
        assert_eq!(pool.run(|| Ok(7)).await.unwrap(), 7);
    }
}
