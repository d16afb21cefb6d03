//! Stopping: SIGTERM lets an in-flight request finish and leaves no child or fork server; a
//! server killed outright takes its fork server with it.

mod common;
use common::*;

use std::time::Duration;

use actix_web::http::StatusCode;
use matrix_service::testing::{client, eventually, get, process_state};
use nix::sys::signal::Signal;

#[actix_web::test]
async fn sigterm_lets_an_in_flight_request_finish_and_leaves_no_child() {
    let server = start(&["--debug-child-fault", "sleep-ms:1000"]);
    let fork_server = fork_server_of(&server);
    let client = client();
    let url = format!("{}/multiprocessing?n=100", server.url());
    let request = get(&client, &url);
    let stop = async {
        // Each child sleeps 1 s: signal as soon as all four are running (polled, not a fixed
        // delay, so a loaded machine that forks slowly does not fail the test).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut children = band_children(&server);
        while children.len() < 4 && std::time::Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            children = band_children(&server);
        }
        assert_eq!(children.len(), 4, "the request's children are running: {children:?}");
        server.signal(nix::sys::signal::Signal::SIGTERM);
        children
    };
    let (reply, children) = futures_util::future::join(request, stop).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let status = server.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    for (pid, _) in children {
        assert!(process_state(pid).is_none(), "child {pid} outlived the server");
    }
    assert!(
        process_state(fork_server).is_none(),
        "the fork server outlived the server"
    );
}

/// A server killed outright still takes its fork server with it: the kernel closes the
/// server's end of the socket, so the fork server reads EOF and exits (its parent-death
/// signal is the backstop should it ever be busy elsewhere).
#[test]
fn the_fork_server_dies_with_a_killed_server() {
    let server = start(&[]);
    let fork_server = fork_server_of(&server);
    server.signal(Signal::SIGKILL);
    assert!(
        eventually(Duration::from_secs(3), || matches!(
            process_state(fork_server),
            None | Some('Z')
        )),
        "the fork server outlived its server: {:?}",
        process_state(fork_server)
    );
}
