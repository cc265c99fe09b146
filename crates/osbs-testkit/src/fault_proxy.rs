//! [`FaultProxy`]: an HTTP proxy in front of a registry that fails a share of the requests it
//! passes on, the way a flaky load balancer does: `500`, `503`, `429` with `Retry-After`, or a
//! connection reset, before or after the registry saw the request. It also counts requests by
//! method and path, so a test can check what a push cost. Plain threads, no runtime: xtask's
//! benchmarks use it too.
//!
//! Every connection carries one request (`Connection: close` is forced on both sides), so each
//! request is decided on its own.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the proxy did to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Passed on untouched.
    None,
    /// Answered `500 Internal Server Error` without passing it on.
    Status500,
    /// Answered `503 Service Unavailable` without passing it on.
    Status503,
    /// Answered `429 Too Many Requests` with `Retry-After: 1` without passing it on.
    Status429,
    /// Closed the connection without an answer, before passing it on.
    ResetBefore,
    /// Passed it on, then closed the connection without relaying the answer.
    ResetAfter,
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// What the proxy did.
    pub fault: Fault,
}

struct State {
    upstream: String,
    /// Faults per million requests.
    rate_ppm: AtomicU64,
    rng: Mutex<u64>,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

/// A fault-injecting, request-counting proxy on `127.0.0.1`, stopped when dropped.
pub struct FaultProxy {
    addr: String,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`) that fails `rate` (0.0 to 1.0) of the
    /// requests, each fault kind alike; `seed` makes the choice repeatable.
    ///
    /// # Panics
    ///
    /// When no port can be bound on loopback.
    pub fn start(upstream: &str, rate: f64, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address").to_string();
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            rate_ppm: AtomicU64::new(ppm(rate)),
            rng: Mutex::new(seed | 1),
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept_state = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_state.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&accept_state);
                std::thread::spawn(move || {
                    let _ = handle(stream, &state);
                });
            }
        });
        FaultProxy { addr, state }
    }

    /// `127.0.0.1:PORT` of the proxy: use it as the registry.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Changes the share of failed requests from now on.
    pub fn set_rate(&self, rate: f64) {
        self.state.rate_ppm.store(ppm(rate), Ordering::Relaxed);
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.state.seen).clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear(&self) {
        lock(&self.state.seen).clear();
    }

    /// How many requests of each fault kind were seen.
    pub fn fault_counts(&self) -> BTreeMap<Fault, usize> {
        let mut counts = BTreeMap::new();
        for seen in lock(&self.state.seen).iter() {
            *counts.entry(seen.fault).or_default() += 1;
        }
        counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn ppm(rate: f64) -> u64 {
    // A share between 0 and 1, as parts per million.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ppm = (rate.clamp(0.0, 1.0) * 1_000_000.0) as u64;
    ppm
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// xorshift64: a fault choice that a seed repeats.
fn next(state: &State) -> u64 {
    let mut x = lock(&state.rng);
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn choose(state: &State) -> Fault {
    let roll = next(state);
    if roll % 1_000_000 >= state.rate_ppm.load(Ordering::Relaxed) {
        return Fault::None;
    }
    match (roll / 1_000_000) % 5 {
        0 => Fault::Status500,
        1 => Fault::Status503,
        2 => Fault::Status429,
        3 => Fault::ResetBefore,
        _ => Fault::ResetAfter,
    }
}

/// Reads the request head: the request line and the header lines, without the blank line.
fn read_head(reader: &mut impl BufRead) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

fn reset(stream: &TcpStream) {
    // SO_LINGER 0 would send an RST; closing both directions unanswered is what a client
    // sees of a dropped connection either way.
    let _ = stream.shutdown(Shutdown::Both);
}

fn handle(client: TcpStream, state: &State) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let fault = choose(state);
    lock(&state.seen).push(Seen {
        method,
        target,
        fault,
    });
    let mut client_out = client.try_clone()?;
    let canned = |status: &str, extra: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
             Connection: close\r\n{extra}\r\n{{}}"
        )
    };
    match fault {
        Fault::Status500 => {
            client_out.write_all(canned("500 Internal Server Error", "").as_bytes())?;
            reset(&client);
            return Ok(());
        }
        Fault::Status503 => {
            client_out.write_all(canned("503 Service Unavailable", "").as_bytes())?;
            reset(&client);
            return Ok(());
        }
        Fault::Status429 => {
            client_out
                .write_all(canned("429 Too Many Requests", "Retry-After: 1\r\n").as_bytes())?;
            reset(&client);
            return Ok(());
        }
        Fault::ResetBefore => {
            reset(&client);
            return Ok(());
        }
        Fault::None | Fault::ResetAfter => {}
    }
    let upstream = TcpStream::connect(&state.upstream)?;
    let mut upstream_out = upstream.try_clone()?;
    let mut head_out = String::new();
    for (i, line) in head.iter().enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("keep-alive:")) {
            continue;
        }
        head_out.push_str(line);
        head_out.push_str("\r\n");
    }
    head_out.push_str("Connection: close\r\n\r\n");
    upstream_out.write_all(head_out.as_bytes())?;
    // The body (whatever the client sends) goes up on a thread of its own, until the client
    // half-closes or the connection ends.
    let body = std::thread::spawn(move || {
        let _ = io::copy(&mut reader, &mut upstream_out);
    });
    let mut upstream_in = upstream;
    if fault == Fault::ResetAfter {
        // Wait for the registry's answer (it did the work), then drop it.
        let mut buf = [0u8; 1];
        let _ = upstream_in.read(&mut buf);
        reset(&client);
        let _ = upstream_in.shutdown(Shutdown::Both);
        let _ = body.join();
        return Ok(());
    }
    let _ = io::copy(&mut upstream_in, &mut client_out);
    reset(&client);
    let _ = upstream_in.shutdown(Shutdown::Both);
    let _ = body.join();
    Ok(())
}
