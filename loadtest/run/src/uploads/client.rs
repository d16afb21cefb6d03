//! One hostile upload over a raw TCP connection, and the `/healthz` probe that runs beside them.
//!
//! The client behaves as curl does with a large body: it reads while it sends, and stops sending
//! once an answer has arrived. What it does on purpose is hold its body back: all but the last
//! byte and then a pause ([`Pace::HoldLastByte`]), or one byte at a time ([`Pace::Trickle`]).
//!
//! Every upload of a wave runs on one thread ([`run_uploads`]), as tasks of a single-threaded
//! tokio runtime. A thread per upload (400 clients were 800 threads) made the harness a crowd
//! on the server's CPUs: the scheduler shares a CPU among runnable threads, so 800 of them, even
//! at nice 19 (a weight of 15 each against a server thread's 1024, 12,000 in all), took most of
//! the two CPUs while the server's event loop and the `/healthz` probe waited their turn.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use loadtest_model::uploads::{Outcome, Pace};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One upload to make.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    pub address: SocketAddr,
    pub path: String,
    pub body: Arc<Vec<u8>>,
    pub pace: Pace,
    /// With no complete answer by then, the upload counts as a hang.
    pub give_up_after: Duration,
}

/// Makes `count` uploads of `plan` at once, on one new thread, and says how each ended and
/// after how long, in start order.
pub fn run_uploads(plan: &UploadPlan, count: u32) -> std::io::Result<Vec<(Outcome, Duration)>> {
    let plan = plan.clone();
    let clients = thread::Builder::new().name("upload-clients".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let plan = Arc::new(plan);
            let uploads: Vec<_> = (0..count)
                .map(|_| {
                    let plan = Arc::clone(&plan);
                    tokio::spawn(async move { upload(&plan).await })
                })
                .collect();
            let mut ends = Vec::with_capacity(uploads.len());
            for upload in uploads {
                ends.push(upload.await.unwrap_or((Outcome::Closed, Duration::ZERO)));
            }
            Ok(ends)
        })
    })?;
    clients
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the upload clients' thread panicked")))
}

/// Makes one upload and says how it ended, and after how long.
pub async fn upload(plan: &UploadPlan) -> (Outcome, Duration) {
    let started = tokio::time::Instant::now();
    let deadline = started + plan.give_up_after;
    let connecting = tokio::net::TcpStream::connect(plan.address);
    let connect_by = started + plan.give_up_after.min(Duration::from_secs(10));
    let Ok(Ok(stream)) = tokio::time::timeout_at(connect_by, connecting).await else {
        return (Outcome::NotConnected, started.elapsed());
    };
    let (reader, writer) = stream.into_split();
    let reading = read_answer(reader);
    tokio::pin!(reading);
    let outcome = tokio::time::timeout_at(deadline, async {
        tokio::select! {
            // An answer ends the upload: the send, wherever it is, is dropped (curl stops too).
            outcome = &mut reading => outcome,
            // A finished or failed send is no verdict: the server may have answered and closed.
            // A finished one keeps its write half open: dropping it would send a FIN.
            sent = send(writer, plan) => {
                let _still_open = sent;
                reading.await
            }
        }
    })
    .await
    .unwrap_or(Outcome::Hang);
    (outcome, started.elapsed())
}

/// Sends the head and the body at the plan's pace; the write half is kept open afterwards, as
/// the reading side may still be waiting for the answer.
async fn send(mut writer: OwnedWriteHalf, plan: &UploadPlan) -> std::io::Result<OwnedWriteHalf> {
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        plan.path,
        plan.address,
        plan.body.len()
    );
    writer.write_all(head.as_bytes()).await?;
    let body = plan.body.as_slice();
    match plan.pace {
        Pace::HoldLastByte { hold_secs } => {
            let (most, last) = body.split_at(body.len().saturating_sub(1));
            writer.write_all(most).await?;
            tokio::time::sleep(Duration::from_secs_f64(hold_secs)).await;
            writer.write_all(last).await?;
        }
        Pace::Trickle { every_secs } => {
            for byte in body.chunks(1) {
                writer.write_all(byte).await?;
                tokio::time::sleep(Duration::from_secs_f64(every_secs)).await;
            }
        }
    }
    Ok(writer)
}

/// Reads until a whole answer has arrived or the connection ends.
async fn read_answer(mut reader: OwnedReadHalf) -> Outcome {
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 << 10];
    loop {
        if let Some(status) = whole_answer(&received) {
            return Outcome::Answered(status);
        }
        match reader.read(&mut buffer).await {
            Ok(0) => return Outcome::Closed,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Outcome::Reset,
            Err(_) => return Outcome::Closed,
        }
    }
}

/// The status of `received` if it holds a whole HTTP/1.1 answer with a `Content-Length` body.
fn whole_answer(received: &[u8]) -> Option<u16> {
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&received[..head_end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    (received.len() >= head_end + length).then_some(status)
}

/// One `GET /healthz` on a new connection: its latency if it answered 200 within `timeout`.
pub fn probe_health(address: SocketAddr, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&address, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while whole_answer(&received).is_none() {
        let n = stream.read(&mut buffer).ok().filter(|&n| n > 0)?;
        received.extend_from_slice(&buffer[..n]);
        if started.elapsed() > timeout {
            return None;
        }
    }
    (whole_answer(&received) == Some(200)).then(|| started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_whole_once_its_declared_body_is_in() {
        let answer = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nretry-after: 1\r\n\r\n";
        assert_eq!(whole_answer(answer), None);
        let mut whole = answer.to_vec();
        whole.extend_from_slice(b"{\"a\":");
        assert_eq!(whole_answer(&whole), Some(503));
        assert_eq!(whole_answer(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(whole_answer(b"HTTP/1.1 200 OK\r\n"), None, "no end of head yet");
    }
}
