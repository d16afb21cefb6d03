//! What a sweep shows: per server, where throughput peaked and how it moved; across workers, the
//! lab servers' ratios; across n, whether CPU grows like the work, n² (see [`loadtest_model::scaling`]).

use super::{and_list, rps_ratio};
use loadtest_model::catalogue::Catalogue;
use loadtest_model::scaling::{FROM_N, Scaling, Shape, TOLERANCE, scaling};
use loadtest_model::summary::{RunSummary, ScenarioKey, SweepKind};

/// Per server with two or more points: the best value of the swept variable, and how throughput
/// moved across it; across workers, how the lab servers' ratios moved.
pub(super) fn findings(
    summary: &RunSummary,
    catalogue: &Catalogue,
    kind: SweepKind,
    scenarios: &[ScenarioKey],
) -> Vec<String> {
    let value = |s: ScenarioKey| kind.value(s);
    let sweep = kind.name();
    let mut out = Vec::new();
    for server in summary.servers.iter().map(|s| s.name.as_str()) {
        let points: Vec<(u32, f64)> = (summary.across(server, scenarios))
            .filter_map(|r| Some((value(r.scenario), r.rps_median?)))
            .collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        if points.len() < 2 {
            continue;
        }
        let best = points
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("points is not empty");
        out.push(format!(
            "Across {sweep} = {}: the {server} server peaked at {sweep}={} with {:.0} req/s; from {sweep}={} to {} it \
             went from {:.0} to {:.0} req/s.",
            points.iter().map(|p| p.0.to_string()).collect::<Vec<_>>().join(", "),
            best.0,
            best.1,
            first.0,
            last.0,
            first.1,
            last.1
        ));
    }
    out.extend(scaling(summary).iter().map(scaling_line));
    if kind == SweepKind::Workers {
        for (a, b) in catalogue.comparisons() {
            out.extend(ratios_by_workers(summary, &a.name, &b.name, scenarios));
        }
    }
    out
}

/// "threading over multiprocessing in req/s, by workers: 1: 5.10x, 2: 4.80x."
fn ratios_by_workers(summary: &RunSummary, a: &str, b: &str, scenarios: &[ScenarioKey]) -> Option<String> {
    let ratios: Vec<String> = scenarios
        .iter()
        .filter_map(|s| rps_ratio(summary, a, b, *s).map(|r| format!("{}: {:.2}x", s.workers, r.value)))
        .collect();
    (!ratios.is_empty()).then(|| format!("{a} over {b} in req/s, by workers: {}.", ratios.join(", ")))
}

/// Whether one server's CPU grows like n², in one sentence.
fn scaling_line(scaling: &Scaling) -> String {
    let reference = &scaling.reference;
    let against = format!("its value at n={} ({:.2} ns)", reference.n, reference.ns_per_element);
    let mut line = format!("Scaling with n, {}: ", scaling.server);
    line.push_str(&match scaling.shape() {
        Shape::LikeNSquared => format!(
            "CPU per n² stays within {TOLERANCE}x of {against} at every n from {FROM_N} up, so the cost grows like \
             n², as the work does."
        ),
        Shape::Bent { at } if at.vs_reference < 1.0 => format!(
            "it jumps. CPU per n² at n={} was {:.2}x {against}: the cost grows faster than n², so something \
             costs more than the work as n grows. The traced windows measure one size only, so the ledger \
             cannot say what.",
            at.n, at.vs_reference
        ),
        Shape::FollowsTheWork { at } => format!(
            "CPU per n² at n={} was {:.2}x {against}, but CPU over the work hardly moved: {:.2}x the work at \
             n={} and {:.2}x at n={}. It is the work that costs more per element at large n, measured in the \
             harness's own process; the server adds no cost of its own that grows faster than n².",
            at.n,
            at.vs_reference,
            // Both are set: this shape is only found when they are.
            at.cpu_vs_work.unwrap_or(f64::NAN),
            at.n,
            reference.cpu_vs_work.unwrap_or(f64::NAN),
            reference.n
        ),
        Shape::Bent { at } => format!(
            "CPU per n² at n={} was {:.2}x {against}: a part of a request's CPU that does not grow with n² \
             still weighs at that size, so the cost grows slower than n² up to there.",
            at.n, at.vs_reference
        ),
        Shape::TooFewSizes => format!(
            "too few sizes from n={FROM_N} up with a CPU figure to trust to judge whether CPU grows like n² (give \
             --sizes two or more of them, and trials long enough to answer many requests at the largest)."
        ),
    });
    let overstated: Vec<String> = scaling
        .overstated()
        .map(|p| format!("n={} ({:.0}%)", p.n, p.cut_share * 100.0))
        .collect();
    if !overstated.is_empty() {
        line.push_str(&format!(
            " Not judged: {}, where the requests cut at the -z deadline were that share of those answered, and \
             the CPU they used overstates CPU per request; a longer --duration fixes that.",
            and_list(&overstated)
        ));
    }
    let small: Vec<String> = scaling
        .small()
        .map(|p| format!("{:.1}x at n={}", p.vs_reference, p.n))
        .collect();
    if !small.is_empty() && scaling.shape() != Shape::TooFewSizes {
        line.push_str(&format!(
            " Below n={FROM_N} it is {}: part of a request's CPU does not grow with n², and weighs more the \
             smaller the matrices; which part, the ledger of one traced size cannot tell.",
            small.join(", ")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::size_sweep;

    #[test]
    fn an_n_sweep_says_per_server_whether_cpu_grows_like_n_squared() {
        let summary = size_sweep();
        let scenarios = super::super::scenario_order(&summary.results);
        let lines = findings(&summary, &Catalogue::lab(), SweepKind::N, &scenarios);
        let threads = lines
            .iter()
            .find(|l| l.starts_with("Scaling with n, threading"))
            .expect("{lines:#?}");
        assert_eq!(
            threads,
            "Scaling with n, threading: CPU per n² stays within 1.5x of its value at n=2000 (8.07 ns) at every n \
             from 500 up, so the cost grows like n², as the work does. Below n=500 it is 4.7x at n=100: part of a \
             request's CPU does not grow with n², and weighs more the smaller the matrices; which part, the ledger \
             of one traced size cannot tell."
        );
        let processes = lines
            .iter()
            .find(|l| l.starts_with("Scaling with n, multiprocessing"))
            .expect("{lines:#?}");
        assert!(
            processes.starts_with(
                "Scaling with n, multiprocessing: it jumps. CPU per n² at n=1000 was 0.62x its value at n=2000 \
                 (32.50 ns): the cost grows faster than n²"
            ),
            "{processes}"
        );
        // No cause the run did not measure.
        assert!(processes.contains("so the ledger cannot say what."), "{processes}");
        assert!(!processes.contains("page tables"), "{processes}");
    }

    #[test]
    fn a_jump_the_work_makes_too_is_said_to_be_the_works() {
        let mut summary = size_sweep();
        for r in summary
            .results
            .iter_mut()
            .filter(|r| r.server == crate::testdata::fork_per_band())
        {
            r.cpu_vs_work = Some(if r.scenario.n == 1000 { 1.2 } else { 1.3 });
        }
        let line = scaling_line(&scaling(&summary)[1]);
        assert!(
            line.starts_with(
                "Scaling with n, multiprocessing: CPU per n² at n=1000 was 0.62x its value at n=2000 (32.50 ns), \
                 but CPU over the work hardly moved: 1.20x the work at n=1000 and 1.30x at n=2000. It is the work"
            ),
            "{line}"
        );
        assert!(!line.contains("jump"), "{line}");
    }

    #[test]
    fn a_point_cut_short_by_the_deadline_is_named_and_not_judged() {
        let mut summary = size_sweep();
        for t in summary.trials.iter_mut().filter(|t| t.scenario.n == 2000) {
            (t.responses_2xx, t.deadline_aborts) = (25, 20);
        }
        let line = scaling_line(&scaling(&summary)[0]);
        assert!(line.contains("within 1.5x of its value at n=1000 (8.30 ns)"), "{line}");
        assert!(
            line.contains("Not judged: n=2000 (80%), where the requests cut at the -z deadline"),
            "{line}"
        );
    }

    #[test]
    fn fixed_costs_at_500_are_said_to_bend_it_the_other_way() {
        let mut summary = size_sweep();
        for r in summary
            .results
            .iter_mut()
            .filter(|r| r.server == crate::testdata::threads_per_request() && r.scenario.n == 500)
        {
            r.cpu_ns_per_element = r.cpu_ns_per_element.map(|ns| ns * 2.0);
        }
        let line = scaling_line(&scaling(&summary)[0]);
        assert!(
            line.contains(
                "at n=500 was 2.28x its value at n=2000 (8.07 ns): a part of a request's CPU that does not grow"
            ),
            "{line}"
        );
    }
}
