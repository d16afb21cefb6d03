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
//! The work itself is not exactly n² either: at n=2000 its 96 MB of matrices outgrow the CPU
//! caches, and one thread pays more per element than at n=500. So a point below the tolerance
//! whose CPU stays within [`TOLERANCE`] of the same multiple of the work (the harness measures
//! the work in-process at every n) follows the work: the server adds no cost of its own that
//! grows faster than n².
//!
//! The check is deliberately simple: from n = [`FROM_N`] up, CPU per element must stay within
//! [`TOLERANCE`] times its value at the largest n. On a shared 2-CPU machine finer claims would
//! be noise.
//!
//! One bias is large enough to fake a jump, so it is kept out: a `-z` trial ends by cutting the
//! `c` requests still in flight, and the CPU they used is charged to the requests answered. At a
//! large n a short trial may answer hardly more requests than it cuts, and its CPU per request is
//! then overstated up to twofold or worse. A point where the cut requests exceed
//! [`MAX_CUT_SHARE`] of those answered is shown but not judged, and the reference is the largest
//! n that is not overstated.

use crate::summary::{RunSummary, ScenarioKey, SweepKind};

/// The smallest n the check applies to; below it what does not grow with n² weighs too much.
pub const FROM_N: u32 = 500;

/// How far CPU per element may stray from its value at the largest n and still count as n².
pub const TOLERANCE: f64 = 1.5;

/// Requests cut at `-z` deadlines, as a share of those answered, above which a point's CPU per
/// request is too overstated to judge. A cut request used at most one request's CPU, so below it
/// the figure is overstated by at most 1.2x: less than [`TOLERANCE`], so the bias alone cannot
/// make a verdict.
pub const MAX_CUT_SHARE: f64 = 0.2;

/// One server's CPU at one n.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub n: u32,
    pub cpu_ms_per_request: f64,
    /// CPU per request over n², in nanoseconds.
    pub ns_per_element: f64,
    /// `ns_per_element` over the reference's.
    pub vs_reference: f64,
    /// Requests cut at `-z` deadlines over 2xx answers, in the valid measured trials.
    pub cut_share: f64,
    /// CPU per request over the in-process work at this n, when the run measured it.
    pub cpu_vs_work: Option<f64>,
}

impl Point {
    /// Its CPU per request is overstated too much to judge (see the module docs).
    pub fn overstated(&self) -> bool {
        self.cut_share > MAX_CUT_SHARE
    }
}

/// One server across the sweep, in ascending n.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub server: String,
    pub points: Vec<Point>,
    /// The point every other is measured against: the largest n from [`FROM_N`] up that is not
    /// overstated (or, if there is none, the largest n).
    pub reference: Point,
}

/// What the points say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Within [`TOLERANCE`] of the largest n at every n from [`FROM_N`] up.
    LikeNSquared,
    /// CPU per element at `at` strays furthest from the reference's, beyond
    /// [`TOLERANCE`]: below 1 the cost grows faster than n² (a jump), above 1 fixed costs still
    /// weigh at `at`.
    Bent { at: Point },
    /// CPU per element at `at` is lower than at the largest n beyond [`TOLERANCE`], but so is
    /// the work's: CPU over the work stays within [`TOLERANCE`] of its value at the largest n.
    FollowsTheWork { at: Point },
    /// Fewer than two sizes from [`FROM_N`] up that are not overstated: nothing to compare.
    TooFewSizes,
}

/// Per server with CPU figures at two or more n of an n sweep, in `summary.servers` order;
/// empty for any other run.
pub fn scaling(summary: &RunSummary) -> Vec<Scaling> {
    if summary.design.sweep != Some(SweepKind::N) {
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
    let mut measured: Vec<(u32, f64, f64, f64, Option<f64>)> = summary
        .results
        .iter()
        .filter(|r| r.server == server && r.scenario.concurrency == d.concurrency && r.scenario.workers == d.workers)
        .filter_map(|r| {
            let key = r.scenario;
            Some((
                r.scenario.n,
                r.cpu_ms_per_request?,
                r.cpu_ns_per_element?,
                cut_share(summary, server, key),
                r.cpu_vs_work,
            ))
        })
        .collect();
    measured.sort_by_key(|p| p.0);
    let point =
        |&(n, cpu_ms_per_request, ns_per_element, cut_share, cpu_vs_work): &(u32, f64, f64, f64, Option<f64>)| Point {
            n,
            cpu_ms_per_request,
            ns_per_element,
            vs_reference: 1.0,
            cut_share,
            cpu_vs_work,
        };
    let reference = measured
        .iter()
        .map(point)
        .rfind(|p| p.n >= FROM_N && !p.overstated())
        .or_else(|| measured.last().map(point))?;
    if measured.len() < 2 || reference.ns_per_element <= 0.0 {
        return None;
    }
    let points = measured
        .iter()
        .map(|m| Point {
            vs_reference: m.2 / reference.ns_per_element,
            ..point(m)
        })
        .collect();
    Some(Scaling {
        server: server.to_owned(),
        points,
        reference,
    })
}

/// Requests cut at `-z` deadlines over 2xx answers, in `server`'s valid measured trials of `key`.
fn cut_share(summary: &RunSummary, server: &str, key: ScenarioKey) -> f64 {
    let (cut, answered) = summary.measured_trials(server, key).fold((0, 0), |(cut, answered), t| {
        (cut + t.deadline_aborts, answered + t.responses_2xx)
    });
    if answered == 0 {
        f64::INFINITY
    } else {
        cut as f64 / answered as f64
    }
}

impl Scaling {
    /// The points below [`FROM_N`], where fixed costs are expected to dominate.
    pub fn small(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| p.n < FROM_N)
    }

    /// The points from [`FROM_N`] up whose CPU is overstated, shown but not judged.
    pub fn overstated(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| p.n >= FROM_N && p.overstated())
    }

    pub fn shape(&self) -> Shape {
        let judged: Vec<&Point> = self
            .points
            .iter()
            .filter(|p| p.n >= FROM_N && !p.overstated())
            .collect();
        if judged.len() < 2 {
            return Shape::TooFewSizes;
        }
        let worst = judged
            .iter()
            .max_by(|a, b| a.vs_reference.ln().abs().total_cmp(&b.vs_reference.ln().abs()))
            .expect("two or more points");
        let within = |ratio: f64| (1.0 / TOLERANCE..=TOLERANCE).contains(&ratio);
        let over_work = worst
            .cpu_vs_work
            .zip(self.reference.cpu_vs_work)
            .map(|(at, reference)| at / reference);
        if worst.vs_reference < 1.0 / TOLERANCE && over_work.is_some_and(within) {
            Shape::FollowsTheWork { at: **worst }
        } else if !within(worst.vs_reference) {
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
        assert_eq!(threads.reference.n, 2000);
        assert!((threads.points[3].vs_reference - 1.0).abs() < 1e-12);
        assert!((at_500.vs_reference - 9.2 / 8.075).abs() < 1e-9, "{at_500:?}");
        assert_eq!(threads.small().map(|p| p.n).collect::<Vec<_>>(), [100]);
        assert!(
            (at_500.cut_share - 0.003).abs() < 1e-12,
            "3 cut per 1000 answered: {at_500:?}"
        );
    }

    #[test]
    fn a_point_overstated_by_deadline_cuts_is_shown_not_judged_nor_the_reference() {
        let mut summary = size_sweep();
        // n=2000 answers 25 requests a trial and cuts 20, as a 2 s trial does.
        for t in summary.trials.iter_mut().filter(|t| t.scenario.n == 2000) {
            (t.responses_2xx, t.deadline_aborts) = (25, 20);
        }
        let threads = &scaling(&summary)[0];
        assert_eq!(threads.reference.n, 1000, "{threads:?}");
        assert_eq!(threads.overstated().map(|p| p.n).collect::<Vec<_>>(), [2000]);
        assert_eq!(threads.points.len(), 4, "still shown");
        assert_eq!(threads.shape(), Shape::LikeNSquared, "500 against 1000");
        for t in summary.trials.iter_mut().filter(|t| t.scenario.n == 1000) {
            t.deadline_aborts = 201;
        }
        let threads = &scaling(&summary)[0];
        assert_eq!(threads.shape(), Shape::TooFewSizes);
        assert_eq!(threads.reference.n, 500, "never n=100, below where the check applies");
    }

    #[test]
    fn the_threads_server_grows_like_n_squared_and_the_forking_one_jumps() {
        let all = scaling(&size_sweep());
        assert_eq!(all[0].shape(), Shape::LikeNSquared, "n=100 is not judged: {:?}", all[0]);
        let Shape::Bent { at } = all[1].shape() else {
            panic!("{:?}", all[1].shape())
        };
        assert_eq!(at.n, 1000);
        assert!(at.vs_reference < 1.0 / TOLERANCE, "{at:?}");
    }

    #[test]
    fn a_jump_the_work_itself_makes_is_told_apart_from_one_the_server_adds() {
        let mut summary = size_sweep();
        // The forking server's CPU per element at n=1000 is well below n=2000's: a jump, unless
        // the work jumps as much.
        let set = |summary: &mut RunSummary, at_1000: f64| {
            for r in summary
                .results
                .iter_mut()
                .filter(|r| r.server == crate::testdata::fork_per_band())
            {
                r.cpu_vs_work = Some(if r.scenario.n == 1000 { at_1000 } else { 2.0 });
            }
        };
        set(&mut summary, 1.5);
        let Shape::FollowsTheWork { at } = scaling(&summary)[1].shape() else {
            panic!("2.0x the work at n=2000, 1.5x at n=1000: {:?}", scaling(&summary)[1])
        };
        assert_eq!(at.n, 1000);
        set(&mut summary, 1.0);
        assert!(
            matches!(scaling(&summary)[1].shape(), Shape::Bent { .. }),
            "2.0x the work at n=2000, 1.0x at n=1000: the server's own cost jumps"
        );
    }

    #[test]
    fn only_an_n_sweep_with_two_sizes_from_500_up_is_judged() {
        let mut summary = size_sweep();
        summary.results.retain(|r| r.scenario.n < 1000);
        assert_eq!(scaling(&summary)[0].shape(), Shape::TooFewSizes);
        summary.design.sweep = Some(SweepKind::Workers);
        assert!(scaling(&summary).is_empty());
    }
}
