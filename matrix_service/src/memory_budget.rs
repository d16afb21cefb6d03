//! The server-wide budget for request memory (`--max-body-memory`).
//!
//! A limit per body bounds one request, not the server: forty clients each posting 60 MB under a
//! 64 MiB `--max-body-bytes` held 2.3 GB of this server's memory while their bodies were held
//! at the last byte, and 4.7 GB once they completed. So every request is charged what it may
//! hold before it holds it: its body's length plus its three matrices (A, B and the result, 8
//! bytes an element), and keeps the charge until its answer is written. A request that cannot
//! get a charge within `--queue-timeout` is answered 503.
//!
//! Before a body is parsed its shape is unknown, so before its parser starts it is charged the
//! most that body could need, trimmed to the exact figure once the matrices are read (when the
//! parser starts, and how a body is charged before that, is the `upload` module's). Trimming never
//! waits; a request that waits for more while holding part (a small body once gathered, a
//! chunked body, a large product) waits only until its deadline, so no two requests can hold
//! the budget between them for longer than that. The most
//! a body of `len` bytes can need for a sum: a JSON matrix element takes at least two bytes
//! (`1,`), and the two matrices have the same number of elements, so each of the three has at
//! most `len / 4`; and no matrix has more than `--max-n` squared. A product's result (r x c for
//! A of r x k and B of k x c) can be larger than both inputs together (a column times a row:
//! a 16 KB body, a 32 MB result), so a posted product whose exact need exceeds that bound grows
//! its charge once parsed, waiting fairly within the same deadline, rather than every body being
//! charged as if it held the largest product its length allows (for 1 MB, 36 MB instead of 7).
//!
//! The charges come from one fair (FIFO) semaphore counted in KiB, so requests are charged in
//! the order they asked, and a large upload at the head of the queue is not starved by small
//! ones behind it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bytes of one `i64` element.
const ELEMENT_BYTES: u64 = 8;

/// The default budget, 512 MiB.
pub const DEFAULT_MAX_BODY_MEMORY: usize = 512 << 20;

/// Charges are counted in units of this many bytes, so that budgets above 4 GiB fit the
/// semaphore's `u32` acquisitions.
const UNIT_BYTES: u64 = 1024;

/// The shared budget.
#[derive(Debug)]
pub struct MemoryBudget {
    semaphore: Arc<Semaphore>,
    total_units: u32,
    total_bytes: usize,
    max_n: usize,
}

/// What one request holds of the budget. Dropping it gives the memory back.
#[derive(Debug)]
pub struct Charge {
    permit: Option<OwnedSemaphorePermit>,
    budget_units: u32,
}

/// A charge not granted in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server's request memory is in use: this request needed {wanted} bytes of the {budget} byte budget \
     (--max-body-memory) and waited {waited:?} (--queue-timeout)"
)]
pub struct BudgetBusy {
    pub wanted: u64,
    pub budget: usize,
    pub waited: Duration,
}

impl MemoryBudget {
    /// A budget of `bytes`; `max_n` bounds the matrices a body can hold.
    pub fn new(bytes: usize, max_n: usize) -> Self {
        let total_units = u32::try_from(units(bytes as u64)).unwrap_or(u32::MAX).max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            total_bytes: bytes,
            max_n,
        }
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        self.total_bytes
    }

    /// What a request with a body of `body_bytes` and matrices of `elements` elements in all
    /// (A, B and the result: [`Shapes::elements`](crate::Shapes::elements)) holds.
    pub fn exact_need(body_bytes: u64, elements: u64) -> u64 {
        body_bytes + ELEMENT_BYTES * elements
    }

    /// The most a body of `body_bytes` can need before its shape is known (see the module docs).
    pub fn bound_for_body(&self, body_bytes: u64) -> u64 {
        let most = (self.max_n as u64).saturating_mul(self.max_n as u64);
        Self::exact_need(body_bytes, 3 * most.min(body_bytes.div_ceil(4)))
    }

    /// Charges `bytes` (all of the budget if it asks for more), waiting fairly until `deadline`.
    pub async fn charge(&self, bytes: u64, deadline: Instant) -> Result<Charge, BudgetBusy> {
        let mut charge = Charge {
            permit: None,
            budget_units: self.total_units,
        };
        self.grow(&mut charge, bytes, deadline).await?;
        Ok(charge)
    }

    /// Raises `charge` to `bytes` if it holds less (a chunked body that has grown), waiting
    /// fairly until `deadline`. On failure the charge keeps what it held.
    pub async fn grow(&self, charge: &mut Charge, bytes: u64, deadline: Instant) -> Result<(), BudgetBusy> {
        let wanted = units(bytes).min(u64::from(self.total_units)) as u32;
        let more = wanted.saturating_sub(charge.units());
        if more == 0 {
            return Ok(());
        }
        let started = Instant::now();
        let busy = || BudgetBusy {
            wanted: bytes,
            budget: self.total_bytes,
            waited: started.elapsed(),
        };
        let acquire = self.semaphore.clone().acquire_many_owned(more);
        // The semaphore is never closed; an error would mean the same as a full budget.
        let permit = tokio::time::timeout_at(deadline, acquire)
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        match &mut charge.permit {
            Some(held) => held.merge(permit),
            none => *none = Some(permit),
        }
        Ok(())
    }

    /// Bytes of the budget free right now (for tests and diagnostics).
    pub fn available_bytes(&self) -> u64 {
        self.semaphore.available_permits() as u64 * UNIT_BYTES
    }
}

impl Charge {
    fn units(&self) -> u32 {
        self.permit.as_ref().map_or(0, |p| p.num_permits() as u32)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        u64::from(self.units()) * UNIT_BYTES
    }

    /// Gives back what is held beyond `bytes`, at once. Never waits.
    pub fn trim_to(&mut self, bytes: u64) {
        let keep = units(bytes).min(u64::from(self.budget_units)) as usize;
        if let Some(permit) = &mut self.permit
            && permit.num_permits() > keep
        {
            drop(permit.split(permit.num_permits() - keep));
        }
    }
}

/// An answer's body that holds the request's [`Charge`] until actix has taken the last of it to
/// write, so a request's memory stays charged while its (possibly tens of megabytes of) answer
/// is on its way out.
#[derive(Debug)]
pub struct ChargedBody {
    bytes: Option<Bytes>,
    len: u64,
    _charge: Charge,
}

impl ChargedBody {
    pub fn new(bytes: Bytes, charge: Charge) -> Self {
        Self {
            len: bytes.len() as u64,
            bytes: Some(bytes),
            _charge: charge,
        }
    }
}

impl MessageBody for ChargedBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        Poll::Ready(self.get_mut().bytes.take().map(Ok))
    }
}

fn units(bytes: u64) -> u64 {
    bytes.div_ceil(UNIT_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[test]
    fn a_body_is_charged_the_most_its_length_can_hold_then_its_exact_need() {
        let budget = MemoryBudget::new(512 << 20, 2000);
        // 60 MB can encode more than 2000 x 2000 elements: --max-n bounds the matrices.
        assert_eq!(budget.bound_for_body(60_000_000), 60_000_000 + 3 * 8 * 4_000_000);
        // 1 MB encodes at most 250,000 elements a matrix ("1," each, two matrices).
        assert_eq!(budget.bound_for_body(1_000_000), 1_000_000 + 3 * 8 * 250_000);
        assert_eq!(MemoryBudget::exact_need(100, 27), 100 + 216);
        assert_eq!(budget.bound_for_body(0), 0, "a GET is charged its matrices only");
    }

    #[actix_web::test]
    async fn charges_wait_fairly_and_past_the_deadline_are_refused() {
        let budget = MemoryBudget::new((10 * MIB) as usize, 2000);
        let mut first = budget.charge(6 * MIB, soon()).await.expect("6 of 10 MiB are free");
        assert_eq!(budget.available_bytes(), 4 * MIB);
        let busy = budget.charge(5 * MIB, soon()).await.expect_err("only 4 MiB are free");
        assert_eq!((busy.wanted, busy.budget), (5 * MIB, (10 * MIB) as usize));
        assert!(busy.to_string().contains("(--max-body-memory)"), "{busy}");
        assert_eq!(budget.available_bytes(), 4 * MIB, "a refused charge holds nothing");
        first.trim_to(MIB);
        assert_eq!((first.bytes(), budget.available_bytes()), (MIB, 9 * MIB));
        let all = budget
            .charge(100 * MIB, soon())
            .await
            .expect_err("9 MiB are free, and a charge above the budget wants all 10");
        assert_eq!(all.wanted, 100 * MIB);
        drop(first);
        let all = budget
            .charge(100 * MIB, soon())
            .await
            .expect("the whole budget is free");
        assert_eq!(all.bytes(), 10 * MIB);
        drop(all);
        assert_eq!(budget.available_bytes(), 10 * MIB);
    }

    #[actix_web::test]
    async fn a_charge_grows_with_a_chunked_body_and_keeps_what_it_had_when_it_cannot() {
        let budget = MemoryBudget::new((4 * MIB) as usize, 2000);
        let mut charge = budget.charge(MIB, soon()).await.unwrap();
        budget.grow(&mut charge, 3 * MIB, soon()).await.unwrap();
        assert_eq!(charge.bytes(), 3 * MIB);
        budget.grow(&mut charge, 2 * MIB, soon()).await.unwrap();
        assert_eq!(charge.bytes(), 3 * MIB, "growing to less changes nothing");
        let _other = budget.charge(MIB, soon()).await.unwrap();
        budget
            .grow(&mut charge, 4 * MIB, soon())
            .await
            .expect_err("the last MiB is taken");
        assert_eq!((charge.bytes(), budget.available_bytes()), (3 * MIB, 0));
    }

    #[actix_web::test]
    async fn a_waiting_charge_is_granted_when_memory_is_given_back() {
        let budget = Arc::new(MemoryBudget::new((2 * MIB) as usize, 2000));
        let held = budget.charge(2 * MIB, soon()).await.unwrap();
        let waiter = {
            let budget = Arc::clone(&budget);
            actix_web::rt::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(5);
                budget.charge(MIB, deadline).await.map(|c| c.bytes())
            })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(MIB));
    }
}
