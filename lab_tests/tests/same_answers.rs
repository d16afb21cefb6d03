//! Every lab server gives the same answer to the same request: the same seed, the same result
//! (checksum and sample) whatever the worker count, for every kind of work, and the same posted
//! sum and product.

use actix_web::http::StatusCode;
use lab_tests::start;
use loadtest_model::catalogue::Catalogue;
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add, reference_product, sample};
use matrix_service::testing::{client, get, post_json};
use serde_json::json;

#[actix_web::test]
async fn the_same_seed_gives_the_same_answer_in_every_server() {
    let lab = Catalogue::lab();
    let servers: Vec<_> = lab.iter().map(|lab| (lab, start(lab))).collect();
    let client = client();
    let (a, b) = generate_pair(300, Some(77));
    let (sum, product) = (reference_add(&a, &b).unwrap(), reference_product(&a, &b).unwrap());
    let cases = [
        (1, "add"),
        (4, "add"),
        (7, "add"),
        (3, "io&wait_ms=30"),
        (1, "matmul"),
        (2, "matmul"),
        (64, "matmul"),
    ];
    for (workers, work) in cases {
        let expected = if work == "matmul" { &product } else { &sum };
        for (lab, server) in &servers {
            let url = format!(
                "{}{}?n=300&workers={workers}&seed=77&work={work}",
                server.url(),
                lab.path
            );
            let reply = get(&client, &url).await;
            assert_eq!(reply.status, StatusCode::OK, "{}: {}", lab.name, reply.json);
            let answer = &reply.json;
            assert_eq!(
                answer["checksum"].as_i64(),
                Some(checksum(elements(expected))),
                "{}: {answer}",
                lab.name
            );
            assert_eq!(
                answer["sample"],
                json!(sample(elements(expected), expected.ncols())),
                "{}: {answer}",
                lab.name
            );
            assert_eq!(answer["workers"], workers, "{}", lab.name);
            assert_eq!(answer["work"], work.split('&').next().unwrap(), "{}", lab.name);
        }
    }
}

#[actix_web::test]
async fn the_same_posted_matrices_give_the_same_sum_in_every_server() {
    let body = json!({"a": [[1, -2, 3], [i64::MAX, 0, 5]], "b": [[10, 20, 30], [-1, 7, i64::MIN]], "workers": 2});
    let sum = json!([[11, 18, 33], [i64::MAX - 1, 7, i64::MIN + 5]]);
    for lab in Catalogue::lab().iter() {
        let server = start(lab);
        let reply = post_json(&client(), &format!("{}{}", server.url(), lab.path), &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}: {}", lab.name, reply.json);
        assert_eq!(reply.json["result"], sum, "{}", lab.name);
        assert_eq!(
            (reply.json["rows"].as_u64(), reply.json["cols"].as_u64()),
            (Some(2), Some(3))
        );
    }
}

#[actix_web::test]
async fn the_same_posted_product_is_the_same_in_every_server() {
    // 3x2 . 2x4, negative values, one element exactly i64::MIN: the exact (i128) kernel.
    let body = json!({
        "a": [[1, -2], [-2, 0], [-1, 1]],
        "b": [[4611686018427387904i64, 1, 0, -5], [4611686018427387904i64, 0, 7, 2]],
        "work": "matmul",
        "workers": 3,
    });
    let result = json!([[i64::MIN / 2, 1, -14, -9], [i64::MIN, -2, 0, 10], [0, -1, 7, 7]]);
    for lab in Catalogue::lab().iter() {
        let server = start(lab);
        let reply = post_json(&client(), &format!("{}{}", server.url(), lab.path), &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}: {}", lab.name, reply.json);
        assert_eq!(reply.json["result"], result, "{}", lab.name);
        assert_eq!(
            (reply.json["rows"].as_u64(), reply.json["cols"].as_u64()),
            (Some(3), Some(4))
        );
    }
}
