//! One hostile upload over a raw TCP connection, and the `/healthz` probe that runs beside them.
//!
//! The client behaves as curl does with a large body: it reads while it sends, and stops sending
//! once an answer has arrived. What it does on purpose is hold its body back: all but the last
//! byte and then a pause ([`Pace::HoldLastByte`]), or one byte at a time ([`Pace::Trickle`]).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How long one blocking socket call may take before the client looks at the clock again.
const POLL: Duration = Duration::from_millis(100);

/// Threads of the client stay small: 400 clients are 800 threads.
pub const CLIENT_STACK_BYTES: usize = 256 << 10;

/// How the body is held back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "pace", rename_all = "snake_case")]
pub enum Pace {
    /// All but the last byte at once, then a pause, then the last byte.
    HoldLastByte { hold_secs: f64 },
    /// One byte, then a pause, and so on.
    Trickle { every_secs: f64 },
}

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

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A whole answer (head and `Content-Length` bytes of body) with this status.
    Answered(u16),
    /// The connection was reset before a whole answer arrived.
    Reset,
    /// The server closed the connection before a whole answer arrived.
    Closed,
    /// No whole answer within the plan's `give_up_after`.
    Hang,
    /// The server did not accept the connection.
    NotConnected,
}

/// Makes one upload and says how it ended, and after how long.
pub fn upload(plan: &UploadPlan) -> (Outcome, Duration) {
    let started = Instant::now();
    let deadline = started + plan.give_up_after;
    let Ok(stream) = TcpStream::connect_timeout(&plan.address, plan.give_up_after.min(Duration::from_secs(10))) else {
        return (Outcome::NotConnected, started.elapsed());
    };
    let answered = Arc::new(AtomicBool::new(false));
    let reading = match stream.try_clone() {
        Ok(stream) => {
            let answered = Arc::clone(&answered);
            thread::Builder::new()
                .stack_size(CLIENT_STACK_BYTES)
                .spawn(move || read_answer(stream, deadline, &answered))
        }
        Err(e) => Err(e),
    };
    let Ok(reading) = reading else {
        return (Outcome::NotConnected, started.elapsed());
    };
    // A failed send is no verdict: the server may have answered and closed. The reader decides.
    let _ = send(&stream, plan, deadline, &answered);
    let outcome = reading.join().unwrap_or(Outcome::Closed);
    (outcome, started.elapsed())
}

fn send(mut stream: &TcpStream, plan: &UploadPlan, deadline: Instant, answered: &AtomicBool) -> std::io::Result<()> {
    stream.set_write_timeout(Some(POLL))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        plan.path,
        plan.address,
        plan.body.len()
    );
    let stop = || answered.load(Ordering::Relaxed) || Instant::now() >= deadline;
    write_until(&mut stream, head.as_bytes(), &stop)?;
    let body = plan.body.as_slice();
    match plan.pace {
        Pace::HoldLastByte { hold_secs } => {
            let (most, last) = body.split_at(body.len().saturating_sub(1));
            write_until(&mut stream, most, &stop)?;
            pause(Duration::from_secs_f64(hold_secs), &stop);
            write_until(&mut stream, last, &stop)
        }
        Pace::Trickle { every_secs } => {
            for byte in body.chunks(1) {
                write_until(&mut stream, byte, &stop)?;
                pause(Duration::from_secs_f64(every_secs), &stop);
                if stop() {
                    break;
                }
            }
            Ok(())
        }
    }
}

/// Writes all of `bytes` unless `stop` says to give up first.
fn write_until(stream: &mut &TcpStream, mut bytes: &[u8], stop: &dyn Fn() -> bool) -> std::io::Result<()> {
    while !bytes.is_empty() && !stop() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn pause(length: Duration, stop: &dyn Fn() -> bool) {
    let until = Instant::now() + length;
    while !stop() && Instant::now() < until {
        thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
}

/// Reads until a whole answer has arrived, the connection ends, or `deadline`.
fn read_answer(mut stream: TcpStream, deadline: Instant, answered: &AtomicBool) -> Outcome {
    let outcome = read_until_answered(&mut stream, deadline);
    answered.store(true, Ordering::Relaxed);
    outcome
}

fn read_until_answered(stream: &mut TcpStream, deadline: Instant) -> Outcome {
    if stream.set_read_timeout(Some(POLL)).is_err() {
        return Outcome::Closed;
    }
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 << 10];
    loop {
        if let Some(status) = whole_answer(&received) {
            return Outcome::Answered(status);
        }
        if Instant::now() >= deadline {
            return Outcome::Hang;
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Outcome::Closed,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
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
