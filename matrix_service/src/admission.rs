//! Bounding the work in progress: requests computing at once, requests waiting at once
//! (`work=io`), and workers alive at once.
//!
//! A request waits for two things before it generates anything: a slot among the requests that
//! may compute at once (`--max-active-requests`), then one permit per band among the threads or
//! children that may be alive at once (`--max-threads` / `--max-children`). Both come from fair
//! (FIFO) semaphores, so under load every request waits its turn; only one that waits longer
//! than `--queue-timeout` is turned away with 503 and `Retry-After`.
//!
//! Why bound active requests and not only workers: the work is CPU-bound, so beyond a few per
//! core more requests in flight finish no sooner, they only hold more matrices (6 MB each at
//! n=500). For the forking server that is worse than waste: fork(2) copies page tables in
//! proportion to the parent's resident memory, so every extra request in flight makes every
//! fork slower. Requests queued for admission hold no memory but their connection.
//!
//! A request whose bands wait (`work=io`) holds no CPU while it waits, so it takes one of the
//! many `--max-waiting-requests` slots instead: bounding it like a computing request would
//! measure the bound, not the model. It still holds its matrices, charged to the memory
//! budget, and its threads or children, counted in the worker bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Requests computing at once (`--max-active-requests`).
    pub active_requests: usize,
    /// Requests waiting at once, `work=io` (`--max-waiting-requests`).
    pub waiting_requests: usize,
    /// Workers alive at once, across requests (`--max-threads` / `--max-children`).
    pub live_workers: usize,
    /// The flag that sets `live_workers`, for messages.
    pub live_workers_flag: &'static str,
    /// How long a request may wait for both (`--queue-timeout`).
    pub queue_timeout: Duration,
}

/// The shared bounds.
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    requests: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    units: &'static str,
}

/// A request that waited `--queue-timeout` without being admitted (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server is busy: this request (wanting {wanted} {units}) waited {:?} (--queue-timeout) without starting; \
     {}, using at most {} {units} ({})",
    limits.queue_timeout, request_bound(limits, *waits), limits.live_workers, limits.live_workers_flag
)]
pub struct AdmissionBusy {
    /// The workers the request wanted.
    pub wanted: usize,
    /// Whether it was a waiting (`io`) request.
    pub waits: bool,
    /// What the workers are, plural.
    pub units: &'static str,
    pub limits: AdmissionLimits,
}

/// The bound on requests that applied to a request, in words.
fn request_bound(limits: &AdmissionLimits, waits: bool) -> String {
    if waits {
        format!(
            "at most {} requests wait at once (--max-waiting-requests)",
            limits.waiting_requests
        )
    } else {
        format!(
            "at most {} requests compute at once (--max-active-requests)",
            limits.active_requests
        )
    }
}

/// What an admitted request holds until its workers are gone.
#[derive(Debug)]
pub struct Admitted {
    _request: OwnedSemaphorePermit,
    _workers: OwnedSemaphorePermit,
}

impl Admission {
    /// `units` names the workers in messages ("threads", "child processes").
    pub fn new(limits: AdmissionLimits, units: &'static str) -> Self {
        let limits = AdmissionLimits {
            active_requests: limits.active_requests.clamp(1, Semaphore::MAX_PERMITS),
            waiting_requests: limits.waiting_requests.clamp(1, Semaphore::MAX_PERMITS),
            live_workers: limits.live_workers.clamp(1, Semaphore::MAX_PERMITS),
            ..limits
        };
        Self {
            requests: Arc::new(Semaphore::new(limits.active_requests)),
            waiting: Arc::new(Semaphore::new(limits.waiting_requests)),
            workers: Arc::new(Semaphore::new(limits.live_workers)),
            limits,
            units,
        }
    }

    /// Waits for a request slot (a waiting one if `waits`) and `wanted` workers (at least one,
    /// at most the limit), up to `--queue-timeout`.
    pub async fn admit(&self, wanted: usize, waits: bool) -> Result<Admitted, AdmissionBusy> {
        self.admit_by(wanted, waits, tokio::time::Instant::now() + self.limits.queue_timeout)
            .await
    }

    /// As [`admit`](Self::admit), waiting until `deadline`: for a request that has already
    /// waited for something else, so that its waits add up to `--queue-timeout` at most.
    pub async fn admit_by(
        &self,
        wanted: usize,
        waits: bool,
        deadline: tokio::time::Instant,
    ) -> Result<Admitted, AdmissionBusy> {
        let count = u32::try_from(wanted.clamp(1, self.limits.live_workers)).unwrap_or(u32::MAX);
        let slots = if waits { &self.waiting } else { &self.requests };
        let both = async {
            let request = slots.clone().acquire_owned().await?;
            let workers = self.workers.clone().acquire_many_owned(count).await?;
            Ok::<_, tokio::sync::AcquireError>(Admitted {
                _request: request,
                _workers: workers,
            })
        };
        match tokio::time::timeout_at(deadline, both).await {
            Ok(Ok(admitted)) => Ok(admitted),
            // The semaphores are never closed; treat that like a full queue all the same.
            Ok(Err(_)) | Err(_) => Err(AdmissionBusy {
                wanted,
                waits,
                units: self.units,
                limits: self.limits,
            }),
        }
    }

    /// Request slots and worker permits free right now (for tests and diagnostics).
    pub fn available(&self) -> (usize, usize) {
        (self.requests.available_permits(), self.workers.available_permits())
    }

    /// Waiting-request slots free right now (for tests and diagnostics).
    pub fn waiting_available(&self) -> usize {
        self.waiting.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(active_requests: usize, live_workers: usize) -> Admission {
        let limits = AdmissionLimits {
            active_requests,
            waiting_requests: 3,
            live_workers,
            live_workers_flag: "--max-children",
            queue_timeout: Duration::from_millis(50),
        };
        Admission::new(limits, "child processes")
    }

    #[actix_web::test]
    async fn waits_for_workers_then_turns_away_past_the_queue_timeout() {
        let admission = admission(8, 4);
        let held = admission.admit(3, false).await.expect("3 of 4 are free");
        assert_eq!(admission.available(), (7, 1));
        let err = admission.admit(2, false).await.expect_err("only 1 is free");
        assert!(err.to_string().contains("waited 50ms (--queue-timeout)"), "{err}");
        assert!(err.to_string().contains("4 child processes (--max-children)"), "{err}");
        drop(held);
        let all = admission
            .admit(100, false)
            .await
            .expect("wanting more than the limit gets all of it");
        assert_eq!(admission.available(), (7, 0));
        drop(all);
        assert_eq!(admission.available(), (8, 4));
    }

    #[actix_web::test]
    async fn bounds_active_requests_whatever_workers_are_free() {
        let admission = admission(2, 64);
        let first = admission.admit(1, false).await.unwrap();
        let _second = admission.admit(1, false).await.unwrap();
        let err = admission.admit(1, false).await.expect_err("both slots are taken");
        assert!(
            err.to_string()
                .contains("at most 2 requests compute at once (--max-active-requests)"),
            "{err}"
        );
        drop(first);
        admission.admit(1, false).await.expect("a slot is free again");
    }

    #[actix_web::test]
    async fn waiting_requests_have_their_own_bound_and_share_the_workers() {
        let admission = admission(1, 6);
        let _computing = admission.admit(1, false).await.unwrap();
        // The only compute slot is taken; io requests still get in, up to their own bound.
        let waiting: Vec<_> = [
            admission.admit(1, true).await.unwrap(),
            admission.admit(1, true).await.unwrap(),
            admission.admit(1, true).await.unwrap(),
        ]
        .into();
        assert_eq!((admission.waiting_available(), admission.available()), (0, (0, 2)));
        let err = admission.admit(1, true).await.expect_err("3 wait already");
        assert!(
            err.to_string()
                .contains("at most 3 requests wait at once (--max-waiting-requests)"),
            "{err}"
        );
        drop(waiting);
        // The workers are shared between computing and waiting requests.
        let _five = admission.admit(5, true).await.unwrap();
        assert_eq!(admission.available(), (0, 0));
        assert!(admission.admit(1, true).await.is_err(), "no worker is free");
    }
}
