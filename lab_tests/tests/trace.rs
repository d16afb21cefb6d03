//! Every lab server's trace (`GET /debug/trace`) read back: the schema, one band run per worker
//! per request (with its CPU time), each model's hand-off and way back, and every event of a
//! request inside its handler's span, on tracks that nest as the trace-event format requires.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use lab_tests::start;
use loadtest_model::catalogue::{Catalogue, Family, LabServer};
use loadtest_model::trace::{Trace, TraceEvent};
use matrix_service::testing::{client, get, post_json};
use matrix_service::trace::Phase;
use serde_json::json;

/// The GETs sent while a trace runs: (workers, kind of work), on n = 120.
const GETS: [(usize, &str); 5] = [(3, "add"), (3, "add"), (2, "matmul"), (4, "io&wait_ms=40"), (1, "add")];
/// The posted sum's workers (its matrices have 2 rows, so 2 bands).
const POST_WORKERS: usize = 2;

#[actix_web::test]
async fn every_lab_server_traces_each_request_s_phases_and_bands() {
    for lab in Catalogue::lab().iter() {
        let trace = traced_window(lab).await;
        check(lab, &trace);
    }
}

/// A 3 s trace of `lab` during which it answers the [`GETS`] (three at once, then the rest)
/// and one POST, sent from half a second in, so that the trace surely runs by then.
async fn traced_window(lab: &LabServer) -> Trace {
    let server = start(lab);
    let client = client();
    let base = server.url().to_owned();
    let trace_url = format!("{base}/debug/trace?ms=3000");
    let trace = get(&client, &trace_url);
    let load = async {
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        let url = |(workers, work): (usize, &str)| format!("{base}{}?n=120&workers={workers}&work={work}", lab.path);
        let gets: Vec<_> = GETS.iter().map(|&get_| url(get_)).collect();
        let (first, rest) = gets.split_at(3);
        let replies = futures_util::future::join_all(first.iter().map(|url| get(&client, url))).await;
        let mut replies: Vec<_> = replies.into_iter().collect();
        for url in rest {
            replies.push(get(&client, url).await);
        }
        let body = json!({"a": [[1, 2], [3, 4]], "b": [[5, 6], [7, 8]], "workers": POST_WORKERS});
        replies.push(post_json(&client, &format!("{base}{}", lab.path), &body).await);
        for reply in replies {
            assert_eq!(reply.status, StatusCode::OK, "{}: {}", lab.name, reply.json);
        }
    };
    let (trace, ()) = futures_util::future::join(trace, load).await;
    assert_eq!(trace.status, StatusCode::OK, "{}: {}", lab.name, trace.json);
    assert_eq!(trace.json["otherData"]["requests"], GETS.len() + 1, "{}", lab.name);
    Trace::parse(&trace.json).unwrap_or_else(|e| panic!("{}: {e:#}", lab.name))
}

fn check(lab: &LabServer, trace: &Trace) {
    let name = &lab.name;
    assert_eq!(trace.dropped, 0, "{name}");
    assert_eq!(trace.problems(), Vec::<String>::new(), "{name}");
    let requests = trace.by_request();
    assert_eq!(requests.len(), GETS.len() + 1, "{name}: one id per request");
    let server_pid = *trace.processes.keys().next().expect("the server's name");
    let mut band_counts = Vec::new();
    for events in requests.values() {
        let count = |phase: Phase| events.iter().filter(|e| e.phase == phase).count();
        let bands = bands_of(name, events);
        band_counts.push(bands);
        let posted = count(Phase::Parse) == 1;
        let mut expected = BTreeMap::from([
            (Phase::Request, 1),
            (Phase::Admission, 1),
            (Phase::Compute, 1),
            (Phase::Serialise, 1),
            (Phase::Band, bands),
        ]);
        // A task does all its work on its event loop; the others hand it to a blocking thread
        // (GET) or a lower-priority one (POST).
        let on_loop = lab.family == Family::Tasks;
        if posted {
            expected.extend([(Phase::Parse, 1)]);
            expected.extend((!on_loop).then_some((Phase::BackgroundThread, 1)));
        } else {
            expected.extend([(Phase::Generate, 1)]);
            expected.extend((!on_loop).then_some((Phase::BlockingPool, 1)));
        }
        expected.extend(hand_off_and_way_back(name, bands));
        // Whether a task's band was ready while its loop ran something else is the loop's
        // timing, not the model's: its queued spans are counted apart, below.
        let counted: BTreeMap<Phase, usize> = Phase::ALL
            .into_iter()
            .filter(|&phase| phase != Phase::LoopQueue)
            .map(|phase| (phase, count(phase)))
            .filter(|&(_, n)| n > 0)
            .collect();
        assert_eq!(counted, expected, "{name}: {events:#?}");
        assert!(
            count(Phase::LoopQueue) == 0 || (on_loop && bands == 4),
            "{name}: only a task's waiting bands are ever queued on its loop: {events:#?}"
        );
        // Band runs on processes of their own in the processes servers, on threads in the others.
        let band_pids: Vec<u64> = (events.iter())
            .filter(|e| e.phase == Phase::Band)
            .map(|e| e.pid)
            .collect();
        let in_processes = band_pids.iter().all(|&pid| pid != server_pid);
        let in_threads = band_pids.iter().all(|&pid| pid == server_pid);
        assert!(
            if name.contains("multiprocessing") || name.contains("prefork") {
                in_processes
            } else {
                in_threads
            },
            "{name}: bands ran in {band_pids:?}, the server is {server_pid}"
        );
    }
    band_counts.sort_unstable();
    let mut sent: Vec<usize> = GETS.iter().map(|&(workers, _)| workers).collect();
    sent.push(POST_WORKERS);
    sent.sort_unstable();
    assert_eq!(band_counts, sent, "{name}: one band run per worker per request");
}

/// The request's bands: their indices are 0 to k - 1, each run once, each with its CPU time;
/// a forked child's also with what `wait4` counted of it, its CPU and its page faults (a child
/// that ran at all faulted at least once), and no other band with them.
fn bands_of(name: &str, events: &[TraceEvent]) -> usize {
    let forked = name == "multiprocessing";
    let mut indices: Vec<u64> = (events.iter())
        .filter(|e| e.phase == Phase::Band)
        .map(|e| {
            assert!(e.cpu_us.is_some(), "{name}: a band without its CPU time: {e:?}");
            assert_eq!(e.rusage_cpu_us.is_some(), forked, "{name}: {e:?}");
            assert_eq!(e.minor_faults.is_some_and(|f| f > 0), forked, "{name}: {e:?}");
            e.band
                .unwrap_or_else(|| panic!("{name}: a band without its index: {e:?}"))
        })
        .collect();
    indices.sort_unstable();
    let bands = indices.len();
    assert_eq!(indices, (0..bands as u64).collect::<Vec<_>>(), "{name}");
    bands
}

/// What each model does to hand `bands` bands over and to get their results back.
fn hand_off_and_way_back(name: &str, bands: usize) -> Vec<(Phase, usize)> {
    let phases = match name {
        // The request's thread runs the last band itself: one thread start fewer.
        "threading" => vec![(Phase::ThreadStart, bands - 1), (Phase::Join, 1)],
        "thread-pool" => vec![(Phase::Queue, bands), (Phase::Join, 1)],
        "multiprocessing" => vec![
            (Phase::ForkRequest, 1),
            (Phase::Fork, bands),
            (Phase::PipeRead, 1),
            (Phase::Reap, 1),
        ],
        "prefork" => vec![(Phase::Queue, bands), (Phase::DoneMessage, 1)],
        // Futures joined in the task: nothing handed over, nothing to join. The one request that
        // waits ([`GETS`]' io, its only one of 4 bands) awaits its timers together, once.
        "async" => vec![(Phase::Await, usize::from(bands == 4))],
        other => panic!("{other}: a lab server this test does not know; say how it hands bands over"),
    };
    phases.into_iter().filter(|&(_, n)| n > 0).collect()
}
