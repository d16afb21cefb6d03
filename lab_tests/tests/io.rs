//! `work=io` in every lab server: a request's bands wait at once, not one after another, and a
//! waiting request holds up neither `/healthz` nor the answer's sum.

use actix_web::http::StatusCode;
use lab_tests::{start, start_with};
use loadtest_model::catalogue::Catalogue;
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add};
use matrix_service::testing::{client, get};

#[actix_web::test]
async fn an_io_request_s_bands_wait_in_parallel() {
    let (a, b) = generate_pair(100, Some(3));
    let expected = checksum(elements(&reference_add(&a, &b).unwrap()));
    for lab in Catalogue::lab().iter() {
        let server = start(lab);
        // 4 bands share 400 ms: 100 ms each, all at once. One after another they would take
        // 400 ms, so anything under 350 ms proves they overlap.
        let url = format!(
            "{}{}?n=100&workers=4&seed=3&work=io&wait_ms=400",
            server.url(),
            lab.path
        );
        let reply = get(&client(), &url).await;
        assert_eq!(reply.status, StatusCode::OK, "{}: {}", lab.name, reply.json);
        assert_eq!(reply.json["wait_ms"], 400, "{}", lab.name);
        assert_eq!(reply.json["checksum"].as_i64(), Some(expected), "{}", lab.name);
        let took = reply.json["execution_time_sec"].as_f64().unwrap();
        assert!((0.1..0.35).contains(&took), "{}: the bands took {took} s", lab.name);
    }
}

#[actix_web::test]
async fn healthz_answers_while_an_io_request_waits() {
    for lab in Catalogue::lab().iter() {
        let server = start(lab);
        let client = client();
        let waiting = format!("{}{}?n=10&workers=2&work=io&wait_ms=3000", server.url(), lab.path);
        let health = format!("{}/healthz", server.url());
        let order = std::cell::RefCell::new(Vec::new());
        let io = async {
            let reply = get(&client, &waiting).await;
            order.borrow_mut().push("io");
            reply
        };
        let probe = async {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
            let reply = get(&client, &health).await;
            order.borrow_mut().push("healthz");
            reply
        };
        let (io, probe) = futures_util::future::join(io, probe).await;
        assert_eq!(
            (io.status, probe.status),
            (StatusCode::OK, StatusCode::OK),
            "{}",
            lab.name
        );
        assert_eq!(
            *order.borrow(),
            ["healthz", "io"],
            "{}: /healthz waited for the io request",
            lab.name
        );
    }
}

#[actix_web::test]
async fn io_requests_wait_together_beyond_the_compute_bound() {
    for lab in Catalogue::lab().iter() {
        // One request may compute at a time, but eight may wait: eight requests of one band
        // waiting 400 ms each take about 400 ms together, not 3.2 s one after another. The
        // pools get a thread or worker for each, so only admission could serialize them.
        let mut args = vec!["--max-active-requests", "1", "--max-waiting-requests", "8"];
        if let Some(pool) = &lab.pool {
            args.extend([pool.flag.as_str(), "8"]);
        }
        let server = start_with(lab, &args);
        let client = client();
        let url = format!("{}{}?n=8&workers=1&work=io&wait_ms=400", server.url(), lab.path);
        let started = std::time::Instant::now();
        let replies = futures_util::future::join_all((0..8).map(|_| get(&client, &url))).await;
        let took = started.elapsed();
        for reply in &replies {
            assert_eq!(reply.status, StatusCode::OK, "{}: {}", lab.name, reply.json);
        }
        assert!(
            took < std::time::Duration::from_millis(1600),
            "{}: 8 waits took {took:?}",
            lab.name
        );
    }
}
