//! Why the servers performed as they did: CPU per answered request (whole process tree) and the
//! ceiling it implies on this machine, the cost against the work itself, the servers' own timings
//! of generation and addition, and peak memory.

use super::{and_list, compared, counted, crosses_families, mib, probe, result, servers_in};
use loadtest_model::catalogue::{Catalogue, Family, LabServer};
use loadtest_model::ledger::{LedgerEntry, all_phases};
use loadtest_model::stats::NOISE_BAND;
use loadtest_model::summary::{RunSummary, ScenarioKey};

/// Why: CPU per answered request, the ceiling it implies on this machine, and the servers'
/// own timings of generation and addition; one sentence per comparison the catalogue draws.
pub(super) fn why(summary: &RunSummary, catalogue: &Catalogue, scenario: ScenarioKey) -> Vec<String> {
    let mut out = Vec::new();
    let pairs = compared(summary, catalogue, scenario);
    for &(server, against) in pairs.iter().filter(|(a, b)| crosses_families(a, b)) {
        out.extend(processes_against_threads(summary, server, against, scenario));
    }
    for pool_server in catalogue.iter().filter(|s| s.pool.is_some()) {
        let against: Vec<&LabServer> = (pairs.iter())
            .filter(|(a, _)| a.name == pool_server.name)
            .map(|(_, b)| *b)
            .collect();
        out.extend(match pool_server.family {
            Family::Processes => process_pool(summary, pool_server, &against, scenario),
            Family::Threads => (against.iter()).find_map(|b| thread_pool(summary, pool_server, b, scenario)),
            // An event loop keeps no pool of workers.
            Family::Tasks => None,
        });
    }
    if let Some(work) = summary.work_costs.iter().find(|c| c.n == scenario.n) {
        let parts: Vec<String> = servers_in(summary, scenario)
            .filter_map(|r| r.cpu_vs_work.map(|x| format!("the {} server {x:.1}x", r.server)))
            .collect();
        if !parts.is_empty() {
            out.push(format!(
                "Against the work itself ({:.2} ms of CPU to generate and add the matrices on one thread, measured \
                 in the same run, the lower of before and after the trials), each answer cost {}.",
                work.cpu_ms,
                and_list(&parts)
            ));
        }
    }
    for &(server, against) in pairs.iter().filter(|(a, b)| crosses_families(a, b)) {
        out.extend(own_timings(summary, server, against, scenario));
    }
    for pool_server in catalogue
        .iter()
        .filter(|s| s.pool.is_some() && s.family == Family::Processes)
    {
        if let Some(p) = probe(summary, &pool_server.name, scenario)
            && let Some(execution) = p.execution_ms
        {
            out.push(format!(
                "With the {} server ({}), the parallel addition took {execution:.2} ms (its own timing, median of \
                 {} requests with no other load).",
                pool_server.name, pool_server.description, p.requests
            ));
        }
    }
    out
}

/// A server of processes against one of threads, both starting their workers per request: what
/// each answer cost in CPU, and the ceiling that puts on each.
fn processes_against_threads(
    summary: &RunSummary,
    a: &LabServer,
    b: &LabServer,
    scenario: ScenarioKey,
) -> Option<String> {
    let (processes, threads) = if a.family == Family::Processes { (a, b) } else { (b, a) };
    let cpu = |server: &LabServer| result(summary, &server.name, scenario).and_then(|r| r.cpu_ms_per_request);
    let (p_ms, t_ms) = (cpu(processes)?, cpu(threads)?);
    let cpus = f64::from(summary.machine.cpus.max(1));
    let pair = more_first((processes, p_ms), (threads, t_ms));
    let mut goes = where_the_difference_goes(summary, pair, scenario);
    // A difference inside the noise gets no cause, so no breakdown either.
    if beyond_noise(pair)
        && let Some(breakdown) = breakdown(summary, &pair[0].0.name, scenario)
    {
        goes = format!("{goes} {breakdown}");
    }
    Some(format!(
        "Why: each answered request cost the {p} server ({}) {p_ms:.2} ms of CPU (whole process tree, reaped \
         children included) against {t_ms:.2} ms for the {t} server ({:.1}x). {goes} With {} CPUs, CPU alone \
         caps the {p} server near {:.0} req/s and the {t} server near {:.0} req/s, and the load generator \
         shares those CPUs.",
        processes.description,
        p_ms / t_ms,
        cpus,
        cpus * 1000.0 / p_ms,
        cpus * 1000.0 / t_ms,
        p = processes.name,
        t = threads.name,
    ))
}

/// Two servers with their CPU per request, the costlier first.
type Pair<'a> = [(&'a LabServer, f64); 2];

/// Whether the two servers' CPU per request differ by more than the noise band.
fn beyond_noise([(_, a), (_, b)]: Pair<'_>) -> bool {
    (a / b - 1.0).abs() > NOISE_BAND
}

fn more_first<'a>(a: (&'a LabServer, f64), b: (&'a LabServer, f64)) -> Pair<'a> {
    if a.1 >= b.1 { [a, b] } else { [b, a] }
}

/// Where the difference between two servers' CPU per request goes (the costlier first), from
/// the ledger of each at `scenario`: the three phases whose CPU differs most, with both
/// figures. No cause for a difference inside the noise band, and a plain statement when no
/// ledger says.
fn where_the_difference_goes(summary: &RunSummary, [(p, p_ms), (t, t_ms)]: Pair<'_>, scenario: ScenarioKey) -> String {
    if !beyond_noise([(p, p_ms), (t, t_ms)]) {
        return format!(
            "The difference is within the ±{:.0}% noise band, so no cause is given.",
            NOISE_BAND * 100.0
        );
    }
    let ledger =
        |server: &LabServer| (summary.ledger.iter()).find(|e| e.server == server.name && e.scenario == scenario);
    let (Some(lp), Some(lt)) = (ledger(p), ledger(t)) else {
        return "No traced window of this scenario says where the difference goes (a measured run keeps one for \
                each server it starts)."
            .to_owned();
    };
    // A phase one server has and the other not (the fork server) costs the other nothing.
    let cpu = |entry: &LedgerEntry, name: &str| entry.phases.get(name).map(|p| p.cpu_ms);
    let mut differences: Vec<(&str, f64, f64)> = all_phases()
        .filter(|name| cpu(lp, name).is_some() || cpu(lt, name).is_some())
        .map(|name| (name, cpu(lp, name).unwrap_or(0.0), cpu(lt, name).unwrap_or(0.0)))
        .collect();
    let whole: f64 = differences.iter().map(|(_, a, b)| a - b).sum();
    // The traced seconds are shorter than the trials and may disagree with them: a share of a
    // difference the ledgers do not find (or find the other way) would be a number without a
    // meaning, so the sentence says the ledgers cannot tell.
    let ledger_base: f64 = differences.iter().map(|(_, _, b)| b).sum();
    if whole <= NOISE_BAND * ledger_base {
        return format!(
            "The ledgers of a traced second of each cannot say where it goes: they put the {p} server at \
             {:.2} ms of CPU a request and the {t} server at {ledger_base:.2} ms, {}.",
            ledger_base + whole,
            if whole < 0.0 {
                "the other way round from the trials"
            } else {
                "within the noise band of each other"
            },
            p = p.name,
            t = t.name,
        );
    }
    differences.sort_by(|x, y| (y.1 - y.2).abs().total_cmp(&(x.1 - x.2).abs()));
    let top = &differences[..differences.len().min(3)];
    let named: f64 = top.iter().map(|(_, a, b)| a - b).sum();
    let parts: Vec<String> = (top.iter())
        .map(|(name, a, b)| format!("{name} {a:.2} ({b:.2})"))
        .collect();
    format!(
        "Where it goes, by the ledger of a traced second of each (CPU ms per request, the {t} server's in \
         brackets): {}; {:.0}% of the {whole:.2} ms the ledger finds between them.",
        and_list(&parts),
        named / whole * 100.0,
        t = t.name,
    )
}

/// Phases under this share of a ledger's CPU are summed as "the rest".
const BREAKDOWN_SHARE: f64 = 0.05;

/// Where `server`'s CPU per request goes by its ledger at `scenario`, its largest phases first,
/// each beside its floor where the run measured one: "Of its 3.87 ms ...".
fn breakdown(summary: &RunSummary, server: &str, scenario: ScenarioKey) -> Option<String> {
    let entry = (summary.ledger.iter()).find(|e| e.server == server && e.scenario == scenario)?;
    let total = entry.tree_cpu_ms_per_request?;
    let floors = crate::floors::against_floors(summary);
    let mut phases: Vec<(&str, f64)> = (entry.phases.iter())
        .map(|(name, cost)| (name.as_str(), cost.cpu_ms))
        .collect();
    phases.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (large, small): (Vec<_>, Vec<_>) = phases.into_iter().partition(|(_, ms)| *ms >= BREAKDOWN_SHARE * total);
    let mut parts: Vec<String> = (large.iter())
        .map(|&(name, ms)| {
            let floor = (floors.iter()).find(|f| f.server == server && f.work == scenario.work && f.phase == name);
            match floor {
                Some(f) => format!("{name} {ms:.2} ({:.1}x {})", f.ratio(), f.floor_is),
                None => format!("{name} {ms:.2}"),
            }
        })
        .collect();
    let rest: f64 = small.iter().map(|(_, ms)| ms).sum();
    if rest.abs() >= 0.005 {
        parts.push(format!("the rest {rest:.2}"));
    }
    Some(format!(
        "Of the {server} server's {total:.2} ms of CPU a request in its traced second: {}.",
        parts.join(", ")
    ))
}

/// The two servers' own timings of generation and the parallel part, with no other load.
fn own_timings(summary: &RunSummary, a: &LabServer, b: &LabServer, scenario: ScenarioKey) -> Option<String> {
    let (processes, threads) = if a.family == Family::Processes { (a, b) } else { (b, a) };
    let (t, p) = (
        probe(summary, &threads.name, scenario)?,
        probe(summary, &processes.name, scenario)?,
    );
    let (te, pe, tg, pg) = (t.execution_ms?, p.execution_ms?, t.generation_ms?, p.generation_ms?);
    let relation = if pe > te * (1.0 + loadtest_model::stats::NOISE_BAND) {
        format!("{:.1}x as long with processes", pe / te)
    } else if te > pe * (1.0 + loadtest_model::stats::NOISE_BAND) {
        format!("{:.1}x as long with threads", te / pe)
    } else {
        "about as long either way".to_owned()
    };
    Some(format!(
        "The servers' own timings, with no other load (median of {} requests each): generating the two matrices \
         took {tg:.2} ms ({}) and {pg:.2} ms ({}); the parallel addition took {te:.2} ms with {} and {pe:.2} ms \
         with {}, {relation}.",
        t.requests.min(p.requests),
        threads.name,
        processes.name,
        threads.family.units(scenario.workers),
        processes.family.units(scenario.workers),
    ))
}

/// What a pool of processes forked once saves over a fork per request, and what it still costs
/// over threads, in CPU per answered request.
fn process_pool(
    summary: &RunSummary,
    pool: &LabServer,
    against: &[&LabServer],
    scenario: ScenarioKey,
) -> Option<String> {
    let cpu = |server: &str| result(summary, server, scenario).and_then(|r| r.cpu_ms_per_request);
    let pool_ms = cpu(&pool.name)?;
    let mut sentence = format!(
        "The {} server ({}) spent {pool_ms:.2} ms of CPU per answered request; CPU alone caps it near {:.0} req/s.",
        pool.name,
        pool.description,
        f64::from(summary.machine.cpus.max(1)) * 1000.0 / pool_ms
    );
    let mut told: Vec<(String, String)> = Vec::new();
    for other in against {
        let Some(other_ms) = cpu(&other.name) else { continue };
        let clause = format!(
            " The {} server ({}) spent {other_ms:.2} ms ({:.2}x).",
            other.name,
            other.description,
            other_ms / pool_ms,
        );
        let cause = where_the_difference_goes(summary, more_first((pool, pool_ms), (other, other_ms)), scenario);
        told.push((clause, cause));
    }
    // One cause for all when it is the same for each (no ledger), else each after its figure.
    let same = told.windows(2).all(|pair| pair[0].1 == pair[1].1);
    for (i, (clause, cause)) in told.iter().enumerate() {
        sentence.push_str(clause);
        if !same || i + 1 == told.len() {
            sentence.push(' ');
            sentence.push_str(cause);
        }
    }
    Some(sentence)
}

/// A thread pool against threads started per request, and what the thread starts it avoids are
/// worth on this machine. An empty thread's start is a floor: a band's thread also maps its
/// stack's pages and starts with cold caches, so the pool may save more than the starts alone.
fn thread_pool(summary: &RunSummary, pool: &LabServer, scoped: &LabServer, scenario: ScenarioKey) -> Option<String> {
    if !(scoped.family == Family::Threads && scoped.per_request()) {
        return None;
    }
    let cpu = |server: &str| result(summary, server, scenario).and_then(|r| r.cpu_ms_per_request);
    let (pool_ms, scoped_ms) = (cpu(&pool.name)?, cpu(&scoped.name)?);
    let mut sentence = format!(
        "The {} server ({}) spent {pool_ms:.2} ms of CPU per answered request against {scoped_ms:.2} ms for the {} \
         server ({:.2}x).",
        pool.name,
        pool.description,
        scoped.name,
        pool_ms / scoped_ms
    );
    if let Some(us) = summary.thread_start_cpu_us
        && scenario.workers > 1
    {
        let starts = scenario.workers - 1;
        let saved = f64::from(starts) * us / 1000.0;
        sentence.push_str(&format!(
            " Starting and joining an empty thread cost {us:.0} µs of CPU here (measured in the same run), so the \
             {} a request that the pool avoids are worth {saved:.2} ms by themselves, {:.0}% of the {} server's \
             cost",
            counted(starts, "thread start", "thread starts"),
            100.0 * saved / scoped_ms,
            scoped.name,
        ));
        let pool_saved = scoped_ms - pool_ms;
        sentence.push_str(&if pool_saved > saved * (1.0 + NOISE_BAND) + 0.005 {
            format!("; the pool saved {pool_saved:.2} ms, more than the starts alone.")
        } else if pool_saved <= 0.0 {
            format!("; the pool saved nothing here: it cost {:.2} ms more.", -pool_saved)
        } else if pool_saved < saved * (1.0 - NOISE_BAND) - 0.005 {
            format!("; the pool saved {pool_saved:.2} ms, less than the starts alone.")
        } else {
            format!("; the pool saved {pool_saved:.2} ms, about that.")
        });
    }
    sentence.push(' ');
    sentence.push_str(&where_the_difference_goes(
        summary,
        more_first((pool, pool_ms), (scoped, scoped_ms)),
        scenario,
    ));
    Some(sentence)
}

/// Peak memory of each server under load.
pub(super) fn memory(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let parts: Vec<String> = servers_in(summary, scenario)
        .filter_map(|r| r.peak_memory_bytes.map(|peak| format!("{} {}", r.server, mib(peak))))
        .collect();
    if parts.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "Peak memory under load (PSS summed over the server's process tree): {}. PSS shares each page among \
         the processes that map it, so forked children are not counted twice.",
        parts.join(", ")
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{KEY, three_servers};

    fn lab(name: &str) -> LabServer {
        Catalogue::lab().get(name).unwrap().clone()
    }

    #[test]
    fn the_pool_is_placed_between_a_fork_per_request_and_threads() {
        let text = why(&three_servers(), &Catalogue::lab(), KEY).join("\n");
        assert!(
            text.contains("The prefork server (a pool of worker processes forked at start-up) spent 3.98 ms of CPU"),
            "{text}"
        );
        assert!(text.contains("caps it near 503 req/s"), "{text}");
        // Against each, the ratio; no ledger in this run, so no cause, and no fixed one either.
        assert!(
            text.contains(
                "The multiprocessing server (a fork per request) spent 7.90 ms (1.99x). The threading server \
                 (threads started per request) spent 1.99 ms (0.50x). No traced window"
            ),
            "{text}"
        );
        assert!(
            text.contains("No traced window of this scenario says where the difference goes"),
            "{text}"
        );
        assert!(
            !text.contains("page-table") && !text.contains("collecting their sums"),
            "{text}"
        );
        assert!(
            text.contains("With the prefork server (a pool of worker processes forked at start-up), the parallel addition took 1.10 ms"),
            "{text}"
        );
    }

    /// [`three_servers`] with a thread pool whose CPU per request is `pool_ms` against scoped
    /// threads' 1.00 ms, and thread starts of 26 µs.
    fn with_thread_pool(pool_ms: f64) -> RunSummary {
        let mut summary = three_servers();
        summary.thread_start_cpu_us = Some(26.0);
        let scoped = (summary.results.iter_mut())
            .find(|r| r.server == crate::testdata::threads_per_request())
            .unwrap();
        scoped.cpu_ms_per_request = Some(1.0);
        let mut pool = scoped.clone();
        (pool.server, pool.cpu_ms_per_request) = ("thread-pool".into(), Some(pool_ms));
        summary.results.push(pool);
        summary
    }

    #[test]
    fn the_thread_pool_is_weighed_against_what_thread_starts_cost() {
        let (pool, scoped) = (lab("thread-pool"), lab("threading"));
        let text = thread_pool(&with_thread_pool(0.92), &pool, &scoped, KEY).unwrap();
        assert_eq!(
            text,
            "The thread-pool server (a pool of threads started once) spent 0.92 ms of CPU per answered request \
             against 1.00 ms for the threading server (0.92x). Starting and joining an empty thread cost 26 µs of \
             CPU here (measured in the same run), so the 3 thread starts a request that the pool avoids are worth \
             0.08 ms by themselves, 8% of the threading server's cost; the pool saved 0.08 ms, about that. No \
             traced window of this scenario says where the difference goes (a measured run keeps one for each \
             server it starts)."
        );
        // Saving less than the starts are worth, or nothing; or more. No cause without a ledger.
        let text = thread_pool(&with_thread_pool(0.99), &pool, &scoped, KEY).unwrap();
        assert!(
            text.contains("the pool saved 0.01 ms, less than the starts alone."),
            "{text}"
        );
        let text = thread_pool(&with_thread_pool(1.2), &pool, &scoped, KEY).unwrap();
        assert!(
            text.contains("the pool saved nothing here: it cost 0.20 ms more."),
            "{text}"
        );
        assert!(
            text.ends_with("says where the difference goes (a measured run keeps one for each server it starts)."),
            "{text}"
        );
        let text = thread_pool(&with_thread_pool(0.80), &pool, &scoped, KEY).unwrap();
        assert!(
            text.contains("the pool saved 0.20 ms, more than the starts alone."),
            "{text}"
        );
        // No thread pool, no sentence; and it is weighed only against threads started per request.
        assert_eq!(thread_pool(&three_servers(), &pool, &scoped, KEY), None);
        assert_eq!(thread_pool(&with_thread_pool(0.9), &pool, &lab("prefork"), KEY), None);
        let text = why(&with_thread_pool(0.92), &Catalogue::lab(), KEY).join("\n");
        assert!(
            text.contains("The thread-pool server (a pool of threads started once) spent 0.92 ms"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod causes {
    use super::*;
    use crate::ledger::tests::entry;
    use crate::testdata::{KEY, summary};
    use loadtest_model::ledger::OUTSIDE;

    /// The fixed run (7.90 ms a request with processes, 2.00 with threads) with a ledger of
    /// each at its scenario: every phase 0.1 ms of CPU, but the processes' way back, bands and
    /// outside the handler.
    fn with_ledger() -> RunSummary {
        let mut run = summary();
        let mut threads = entry("threading", 0.5, 0.1);
        let mut processes = entry("multiprocessing", 0.5, 0.1);
        (threads.scenario, processes.scenario) = (KEY, KEY);
        for (phase, cpu) in [("way back", 2.5), ("waiting for bands", 1.6), (OUTSIDE, 1.0)] {
            processes.phases.get_mut(phase).unwrap().cpu_ms = cpu;
        }
        threads.phases.get_mut(OUTSIDE).unwrap().cpu_ms = 0.4;
        for entry in [&mut threads, &mut processes] {
            entry.tree_cpu_ms_per_request = Some(entry.phases.values().map(|p| p.cpu_ms).sum());
        }
        run.ledger = vec![threads, processes];
        run
    }

    #[test]
    fn the_difference_is_told_by_the_phases_that_differ_most() {
        let text = why(&with_ledger(), &Catalogue::lab(), KEY).join("\n");
        assert!(
            text.contains(
                "brackets): way back 2.50 (0.10), waiting for bands 1.60 (0.10) and outside the handler 1.00 (0.40); \
                 100% of the 4.50 ms the ledger finds between them."
            ),
            "{text}"
        );
        assert!(!text.contains("copy-on-write"), "{text}");
        // The costlier server's CPU, its phases largest first, those under 5% summed; the
        // bands beside their floor, the fixed run's sum on one thread (0.3 ms).
        assert!(
            text.contains(
                "Of the multiprocessing server's 5.90 ms of CPU a request in its traced second: way back 2.50, \
                 waiting for bands 1.60 (5.3x the sum on one thread), outside the handler 1.00, the rest 0.80."
            ),
            "{text}"
        );
    }

    #[test]
    fn a_phase_only_one_server_has_counts_as_nothing_for_the_other() {
        let mut run = with_ledger();
        let fork_server = loadtest_model::ledger::PhaseCost {
            wall_ms: 0.0,
            cpu_ms: 3.0,
            wall_median_ms: 0.0,
        };
        run.ledger[1]
            .phases
            .insert(loadtest_model::ledger::FORK_SERVER.to_owned(), fork_server);
        let text = why(&run, &Catalogue::lab(), KEY).join("\n");
        assert!(
            text.contains("brackets): the fork server 3.00 (0.00), way back 2.50 (0.10)"),
            "{text}"
        );
    }

    #[test]
    fn ledgers_that_disagree_with_the_trials_give_no_share() {
        // The trials put processes at 7.90 ms and threads at 2.00; the traced seconds the
        // other way round, then level.
        // The threads' ledger: way back 0.1, waiting for bands 0.1, outside the handler 0.4.
        for (cpus, says) in [
            ([0.05, 0.05, 0.05], "the other way round from the trials"),
            ([0.1, 0.1, 0.42], "within the noise band of each other"),
        ] {
            let mut run = with_ledger();
            for (phase, cpu) in ["way back", "waiting for bands", OUTSIDE].into_iter().zip(cpus) {
                run.ledger[1].phases.get_mut(phase).unwrap().cpu_ms = cpu;
            }
            let text = why(&run, &Catalogue::lab(), KEY).join("\n");
            assert!(
                text.contains("The ledgers of a traced second of each cannot say where it goes: they put"),
                "{text}"
            );
            assert!(text.contains(says), "{text}");
            assert!(!text.contains("the ledger finds between them"), "{text}");
        }
    }

    #[test]
    fn a_phase_without_a_floor_measured_is_told_alone() {
        let mut run = with_ledger();
        run.work_costs[0].kernel_ms = None;
        let text = why(&run, &Catalogue::lab(), KEY).join("\n");
        assert!(
            text.contains("way back 2.50, waiting for bands 1.60, outside"),
            "{text}"
        );
    }

    #[test]
    fn a_difference_inside_the_noise_band_gets_no_cause() {
        let mut run = with_ledger();
        for result in &mut run.results {
            result.cpu_ms_per_request = Some(2.0);
        }
        let text = why(&run, &Catalogue::lab(), KEY).join("\n");
        assert!(
            text.contains("within the ±5% noise band, so no cause is given"),
            "{text}"
        );
        assert!(!text.contains("Where it goes"), "{text}");
        assert!(
            !text.contains("ms of CPU a request in its traced second"),
            "no breakdown: {text}"
        );
    }
}
