//! Bounding how many threads or child processes all requests use at once.
//!
//! A request asks for one permit per band before it starts any worker, and holds them until its
//! workers are gone. Permits come from a fair (FIFO) semaphore, so under ordinary load every
//! request waits its turn; only a request that waits longer than `--queue-timeout` is turned away
//! with 503 and `Retry-After`. This is what keeps a flood from forking without bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The shared bound on live workers.
#[derive(Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    capacity: usize,
    queue_timeout: Duration,
    units: &'static str,
    flag: &'static str,
}

impl Admission {
    /// At most `capacity` workers at once (the flag `flag` sets it); a request waits at most
    /// `queue_timeout` for its share.
    pub fn new(capacity: usize, queue_timeout: Duration, units: &'static str, flag: &'static str) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            queue_timeout,
            units,
            flag,
        }
    }

    /// Waits for `wanted` workers' worth of permits (at least one, at most the capacity).
    pub async fn admit(&self, wanted: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let count = u32::try_from(wanted.clamp(1, self.capacity)).unwrap_or(u32::MAX);
        let overloaded = || ApiError::Overloaded {
            wanted,
            capacity: self.capacity,
            units: self.units,
            flag: self.flag,
            waited: self.queue_timeout,
        };
        match tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_many_owned(count)).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it like a full queue all the same.
            Ok(Err(_)) | Err(_) => Err(overloaded()),
        }
    }

    /// Permits free right now (for tests and diagnostics).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn waits_then_turns_away_past_the_queue_timeout() {
        let admission = Admission::new(4, Duration::from_millis(50), "children", "--max-children");
        let held = admission.admit(3).await.expect("3 of 4 are free");
        assert_eq!(admission.available(), 1);
        let err = admission.admit(2).await.expect_err("only 1 is free");
        assert!(
            err.to_string()
                .contains("2 of the 4 children allowed at once (--max-children)"),
            "{err}"
        );
        drop(held);
        let all = admission
            .admit(100)
            .await
            .expect("a request wanting more than the capacity gets all of it");
        assert_eq!(admission.available(), 0);
        drop(all);
        assert_eq!(admission.available(), 4);
    }
}
