//! A request's bands as jobs for threads: each band's rows of A and B with the only `&mut` to
//! its rows of the sum, so any thread may run any band with no lock and no copy. Both threads
//! engines (scoped threads, the pool) split a request this way and check its result the same way.

use std::time::Duration;

use matrix_service::bands::bands;
use matrix_service::matrix::{BandSum, add_into};
use matrix_service::{AddError, Operands, Work};

/// One band: its inputs, its slice of the sum, and how long it waits first (`io`).
pub struct BandJob<'a> {
    a: &'a [i64],
    b: &'a [i64],
    out: &'a mut [i64],
    wait: Duration,
}

impl BandJob<'_> {
    /// Waits the band's share (`io`), then adds its rows; returns their checksum.
    pub fn run(self) -> BandSum {
        if !self.wait.is_zero() {
            std::thread::sleep(self.wait);
        }
        add_into(self.a, self.b, self.out)
    }
}

/// `task` on `inputs` into `out` (as long as the inputs), as one job per band of `workers`
/// (fewer if there are fewer rows).
pub fn band_jobs<'a>(inputs: Operands<'a>, out: &'a mut [i64], workers: usize, task: Work) -> Vec<BandJob<'a>> {
    let Operands { a, b, cols } = inputs;
    assert_eq!(out.len(), a.len(), "the sum has the inputs' shape");
    let spans: Vec<_> = bands(inputs.rows(), workers).collect();
    let wait = task.band_wait(spans.len());
    let mut jobs = Vec::with_capacity(spans.len());
    let mut rest = out;
    for band in spans {
        let (mine, tail) = rest.split_at_mut(band.len() * cols);
        rest = tail;
        let span = band.start * cols..band.end * cols;
        jobs.push(BandJob {
            a: &a[span.clone()],
            b: &b[span],
            out: mine,
            wait,
        });
    }
    jobs
}

/// The request's checksum from its bands' sums, or the first overflowing element.
pub fn checked(total: BandSum, inputs: Operands<'_>) -> Result<i64, AddError> {
    if total.overflowed {
        let overflow = inputs.first_overflow_in(0..inputs.a.len());
        return Err(AddError::Overflow(
            overflow.expect("a band reported an overflow, so one exists"),
        ));
    }
    Ok(total.checksum)
}
