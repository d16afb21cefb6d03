//! The fork server (the default `--fork-from`): what it holds, whose children it forks, requests
//! with more bands than one of its messages carries, and the server carrying on without it once
//! it dies.

mod common;
use common::*;

use std::time::Duration;

use actix_web::http::StatusCode;
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add};
use matrix_service::testing::{client, eventually, get, process_state};
use nix::sys::signal::Signal;

/// The fork server (the default `--fork-from`): one thread, holding only stdio and its
/// socket. The children it forks for a request are the server's own (their parent is the
/// server, their name `band-child`) and none is its own; the answer is the one the server
/// gives forking children itself.
#[actix_web::test]
async fn the_fork_server_forks_the_servers_own_children_and_holds_nothing_else() {
    let server = start(&["--debug-child-fault", "sleep-ms:600"]);
    let fork_server = fork_server_of(&server);
    let tasks = std::fs::read_dir(format!("/proc/{fork_server}/task")).unwrap().count();
    assert_eq!(tasks, 1, "the fork server's threads");
    // (number, target), in descriptor order: /proc lists them in no promised order.
    let mut descriptors: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{fork_server}/fd"))
        .unwrap()
        .filter_map(|fd| {
            let fd = fd.ok()?;
            let number = fd.file_name().to_str()?.parse().ok()?;
            Some((
                number,
                std::fs::read_link(fd.path()).ok()?.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    descriptors.sort();
    let numbers: Vec<u32> = descriptors.iter().map(|(number, _)| *number).collect();
    assert_eq!(numbers.len(), 4, "stdio and the socket: {descriptors:?}");
    assert_eq!(numbers[..3], [0, 1, 2], "stdio: {descriptors:?}");
    assert!(descriptors[3].1.starts_with("socket:"), "{descriptors:?}");

    let client = client();
    let url = format!("{}/multiprocessing?n=100&seed=5", server.url());
    let (reply, during) = futures_util::future::join(get(&client, &url), async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        band_children(&server)
    })
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let mut pids: Vec<i32> = during.iter().map(|(pid, _)| *pid).collect();
    pids.sort_unstable();
    let mut answered: Vec<i32> = serde_json::from_value(reply.json["child_pids"].clone()).unwrap();
    answered.sort_unstable();
    assert_eq!(pids, answered, "the server's children while it ran are the answer's");
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent: Option<i32> = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        // The child may already be reaped; if not, its parent is the server.
        if let Some(parent) = parent {
            assert_eq!(parent, server.pid(), "child {pid}'s parent");
        }
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{fork_server}/task/{fork_server}/children")).unwrap_or_default(),
        "",
        "the fork server's own children"
    );
    assert_no_children(&server);

    let direct = start(&["--fork-from", "server"]);
    assert!(direct.children().is_empty(), "no fork server: {:?}", direct.children());
    let same = get(&client, &format!("{}/multiprocessing?n=100&seed=5", direct.url())).await;
    assert_eq!(same.json["checksum"], reply.json["checksum"]);
    assert_eq!(same.json["sample"], reply.json["sample"]);
}

/// A request's bands go to the fork server in messages of at most 64 (the descriptors passed
/// with one message are limited): 100 bands take two messages, and the answer is still right.
#[actix_web::test]
async fn more_bands_than_one_fork_server_message_holds_are_forked_in_several() {
    let server = start(&["--max-workers", "100"]);
    let (a, b) = generate_pair(200, Some(9));
    let expected = checksum(elements(&reference_add(&a, &b).unwrap()));
    let url = format!("{}/multiprocessing?n=200&workers=100&seed=9", server.url());
    let reply = get(&client(), &url).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["checksum"].as_i64(), Some(expected));
    assert_eq!(reply.json["child_pids"].as_array().map(Vec::len), Some(100));
    assert_no_children(&server);
}

/// A fork server that dies (here SIGKILL) is reaped, and the server forks the children itself
/// from then on: every request still gets its right answer, and nothing is left behind.
#[actix_web::test]
async fn a_dead_fork_server_is_reaped_and_the_server_forks_children_itself() {
    let server = start(&[]);
    let fork_server = fork_server_of(&server);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(fork_server), Signal::SIGKILL).unwrap();
    assert!(eventually(Duration::from_secs(5), || process_state(fork_server) == Some('Z')));
    let client = client();
    for seed in 0..4u64 {
        let (a, b) = generate_pair(60, Some(seed));
        let expected = checksum(elements(&reference_add(&a, &b).unwrap()));
        let url = format!("{}/multiprocessing?n=60&workers=3&seed={seed}", server.url());
        let reply = get(&client, &url).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        assert_eq!(reply.json["checksum"].as_i64(), Some(expected), "seed {seed}");
    }
    assert!(
        eventually(Duration::from_secs(5), || server.children().is_empty()),
        "left: {:?}",
        server.children()
    );
}
