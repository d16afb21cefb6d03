//! How each server's CPU cost scales with the matrix side n, in a `--sizes` sweep.
//!
//! A request's work is proportional to n² (two n x n matrices generated, one sum), so if a
//! server's cost is the work plus little else, its CPU per element, CPU per request over n², is
//! the same at every n. Two things bend that, and they bend it in opposite directions:
//!
//! - fixed per-request costs (HTTP, JSON, starting threads or forking children) weigh most at
//!   small n, so CPU per element is *higher* there; at n=100 that is expected, not a finding;
//! - a cost that grows faster than n², such as `fork()` copying page tables in proportion to
//!   the memory the server holds, or data outgrowing the CPU caches, makes CPU per element
//!   *higher at large n*: a jump.
//!
//! The check is deliberately simple: from n = [`FROM_N`] up, CPU per element must stay within
//! [`TOLERANCE`] times its value at the largest n. On a shared 2-CPU machine finer claims would
//! be noise.

use crate::summary::RunSummary;

/// The smallest n the check applies to; below it fixed per-request costs dominate.
pub const FROM_N: u32 = 500;

/// How far CPU per element may stray from its value at the largest n and still count as n².
pub const TOLERANCE: f64 = 1.5;

/// One server's CPU at one n.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub n: u32,
    pub cpu_ms_per_request: f64,
    /// CPU per request over n², in nanoseconds.
    pub ns_per_element: f64,
    /// `ns_per_element` over its value at the largest n.
    pub vs_largest: f64,
}

/// One server across the sweep, in ascending n.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub server: String,
    pub points: Vec<Point>,
}

/// What the points say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Within [`TOLERANCE`] of the largest n at every n from [`FROM_N`] up.
    LikeNSquared,
    /// CPU per element at `at` strays furthest from its value at the largest n, beyond
    /// [`TOLERANCE`]: below 1 the cost grows faster than n² (a jump), above 1 fixed costs still
    /// weigh at `at`.
    Bent { at: Point },
    /// Fewer than two sizes from [`FROM_N`] up: nothing to compare.
    TooFewSizes,
}

/// Per server with CPU figures at two or more n of an n sweep, in `summary.servers` order;
/// empty for any other run.
pub fn scaling(summary: &RunSummary) -> Vec<Scaling> {
    if summary.design.sweep.as_deref() != Some("n") {
        return Vec::new();
    }
    summary
        .servers
        .iter()
        .filter_map(|server| of_server(summary, &server.name))
        .collect()
}

fn of_server(summary: &RunSummary, server: &str) -> Option<Scaling> {
    let d = &summary.design;
    let mut sized: Vec<(u32, f64, f64)> = summary
        .results
        .iter()
        .filter(|r| r.server == server && r.concurrency == d.concurrency && r.workers == d.workers)
        .filter_map(|r| Some((r.n, r.cpu_ms_per_request?, r.cpu_ns_per_element?)))
        .collect();
    sized.sort_by_key(|p| p.0);
    let &(_, _, largest) = sized.last()?;
    if sized.len() < 2 || largest <= 0.0 {
        return None;
    }
    let points = sized
        .into_iter()
        .map(|(n, cpu_ms_per_request, ns_per_element)| Point {
            n,
            cpu_ms_per_request,
            ns_per_element,
            vs_largest: ns_per_element / largest,
        })
        .collect();
    Some(Scaling {
        server: server.to_owned(),
        points,
    })
}

impl Scaling {
    /// The largest n, the reference every point is measured against.
    pub fn largest(&self) -> Point {
        *self.points.last().expect("a scaling has two or more points")
    }

    /// The points below [`FROM_N`], where fixed costs are expected to dominate.
    pub fn small(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| p.n < FROM_N)
    }

    pub fn shape(&self) -> Shape {
        let judged: Vec<&Point> = self.points.iter().filter(|p| p.n >= FROM_N).collect();
        if judged.len() < 2 {
            return Shape::TooFewSizes;
        }
        let worst = judged
            .iter()
            .max_by(|a, b| a.vs_largest.ln().abs().total_cmp(&b.vs_largest.ln().abs()))
            .expect("two or more points");
        if worst.vs_largest > TOLERANCE || worst.vs_largest < 1.0 / TOLERANCE {
            Shape::Bent { at: **worst }
        } else {
            Shape::LikeNSquared
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::size_sweep;

    #[test]
    fn cpu_per_element_is_measured_against_the_largest_n() {
        let all = scaling(&size_sweep());
        assert_eq!(
            all.iter().map(|s| s.server.as_str()).collect::<Vec<_>>(),
            ["threading", "multiprocessing"]
        );
        let threads = &all[0];
        assert_eq!(
            threads.points.iter().map(|p| p.n).collect::<Vec<_>>(),
            [100, 500, 1000, 2000]
        );
        let at_500 = threads.points[1];
        assert!((at_500.cpu_ms_per_request - 2.3).abs() < 1e-9, "{at_500:?}");
        assert!(
            (at_500.ns_per_element - 9.2).abs() < 1e-9,
            "2.3 ms over 500²: {at_500:?}"
        );
        assert!((threads.largest().vs_largest - 1.0).abs() < 1e-12);
        assert_eq!(threads.small().map(|p| p.n).collect::<Vec<_>>(), [100]);
    }

    #[test]
    fn the_threads_server_grows_like_n_squared_and_the_forking_one_jumps() {
        let all = scaling(&size_sweep());
        assert_eq!(all[0].shape(), Shape::LikeNSquared, "n=100 is not judged: {:?}", all[0]);
        let Shape::Bent { at } = all[1].shape() else {
            panic!("{:?}", all[1].shape())
        };
        assert_eq!(at.n, 1000);
        assert!(at.vs_largest < 1.0 / TOLERANCE, "{at:?}");
    }

    #[test]
    fn only_an_n_sweep_with_two_sizes_from_500_up_is_judged() {
        let mut summary = size_sweep();
        summary.results.retain(|r| r.n < 1000);
        assert_eq!(scaling(&summary)[0].shape(), Shape::TooFewSizes);
        summary.design.sweep = Some("workers".into());
        assert!(scaling(&summary).is_empty());
    }
}
