//! Wake-ups for the clients that wait on a build (`osbs build`, `build-logs -f`,
//! `watch-build`): each waiter registers a file `STATE/wake/PREFIX-ID` and listens on the
//! abstract Unix datagram socket `osbs-wake/ID`; the runner of the build sends one byte to every
//! registered waiter of its build after each log line and once the outcome is stored.
//!
//! A signal only says "look again": a woken waiter re-reads the state and the log, and waits at
//! most [`FALLBACK`] for the next signal, so a lost signal (a full socket buffer, a runner that
//! died, a waiter that registered late) costs at most that much and never hangs a client.

use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// The longest a waiter waits for a signal before it looks anyway.
pub(crate) const FALLBACK: Duration = Duration::from_secs(1);

/// The polling period of a waiter that could not register (no socket: it only polls).
const POLL_WITHOUT_SIGNAL: Duration = Duration::from_millis(200);

/// The directory of the registrations.
fn wake_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("wake")
}

/// The registration prefix of `build`'s waiters (a hash: build names need no escaping).
fn prefix(build: &str) -> String {
    let digest = Sha256::digest(build.as_bytes());
    hex::encode(&digest[..8])
}

/// The abstract socket address of waiter `id`.
fn address(id: &str) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(format!("osbs-wake/{id}").as_bytes())
}

/// One client waiting on one build. Dropping it unregisters.
#[derive(Debug)]
pub(crate) struct Waiter {
    socket: Option<tokio::net::UnixDatagram>,
    registration: Option<PathBuf>,
    /// How many times [`Waiter::wait`] returned (signalled or not): what tests count.
    pub(crate) rounds: u64,
}

impl Waiter {
    /// Registers a waiter on `build` in `state_dir` (within a tokio runtime). Never fails: a
    /// waiter that cannot register only polls (every 200 ms, as before signals existed).
    pub(crate) fn register(state_dir: &Path, build: &str) -> Waiter {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "{}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let bound = (|| -> io::Result<(tokio::net::UnixDatagram, PathBuf)> {
            let socket = UnixDatagram::bind_addr(&address(&id)?)?;
            socket.set_nonblocking(true)?;
            // Outside a runtime (never in the backend's waits) there is nothing to wake.
            tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
            let socket = tokio::net::UnixDatagram::from_std(socket)?;
            let dir = wake_dir(state_dir);
            std::fs::create_dir_all(&dir)?;
            let registration = dir.join(format!("{}-{id}", prefix(build)));
            std::fs::write(&registration, b"")?;
            Ok((socket, registration))
        })();
        match bound {
            Ok((socket, registration)) => Waiter {
                socket: Some(socket),
                registration: Some(registration),
                rounds: 0,
            },
            Err(_) => Waiter {
                socket: None,
                registration: None,
                rounds: 0,
            },
        }
    }

    /// Whether signals can reach this waiter.
    #[cfg(test)]
    pub(crate) fn is_registered(&self) -> bool {
        self.socket.is_some()
    }

    /// Waits for the next signal, at most [`FALLBACK`] (200 ms without a registration).
    /// Signals that queued up meanwhile count as one.
    pub(crate) async fn wait(&mut self) {
        self.rounds += 1;
        let Some(socket) = &self.socket else {
            tokio::time::sleep(POLL_WITHOUT_SIGNAL).await;
            return;
        };
        let mut buf = [0u8; 16];
        if let Ok(Ok(_)) = tokio::time::timeout(FALLBACK, socket.recv(&mut buf)).await {
            while socket.try_recv(&mut buf).is_ok() {}
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(path) = &self.registration {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Signals every waiter registered on `build`. Best effort: a waiter that is gone (its
/// socket refuses) loses its registration; any other failure is left to the waiters'
/// fallback.
pub(crate) fn notify(state_dir: &Path, build: &str) {
    Signal::new(state_dir, build).send();
}

/// [`notify`] for one build, sent many times (after each log line of its runner): the
/// registrations' prefix and the sending socket are made once.
#[derive(Debug)]
pub(crate) struct Signal {
    dir: PathBuf,
    /// `PREFIX-` of the build's registrations.
    prefix: String,
    sender: Option<UnixDatagram>,
}

impl Signal {
    /// The signal of `build`'s waiters in `state_dir`.
    pub(crate) fn new(state_dir: &Path, build: &str) -> Signal {
        let sender = UnixDatagram::unbound().ok();
        if let Some(sender) = &sender {
            let _ = sender.set_nonblocking(true);
        }
        Signal {
            dir: wake_dir(state_dir),
            prefix: format!("{}-", prefix(build)),
            sender,
        }
    }

    /// Signals every waiter registered now (as [`notify`]).
    pub(crate) fn send(&self) {
        let Some(sender) = &self.sender else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_prefix(&self.prefix)) else {
                continue;
            };
            let Ok(addr) = address(id) else {
                continue;
            };
            match sender.send_to_addr(b"!", &addr) {
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                    let _ = std::fs::remove_file(entry.path());
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_signal_wakes_its_builds_waiters_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Waiter::register(dir.path(), "app-1");
        let mut other = Waiter::register(dir.path(), "app-2");
        assert!(a.is_registered() && other.is_registered());
        notify(dir.path(), "app-1");
        let started = Instant::now();
        a.wait().await;
        assert!(started.elapsed() < Duration::from_millis(500));
        // Queued signals count once; without one, the wait ends at the fallback.
        notify(dir.path(), "app-1");
        notify(dir.path(), "app-1");
        a.wait().await;
        let started = Instant::now();
        other.wait().await;
        assert!(started.elapsed() >= FALLBACK - Duration::from_millis(50));
        assert_eq!(a.rounds, 2);
    }

    #[tokio::test]
    async fn a_dropped_waiter_unregisters_and_a_dead_ones_registration_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let waiter = Waiter::register(dir.path(), "app-1");
        let wake = wake_dir(dir.path());
        assert_eq!(std::fs::read_dir(&wake).unwrap().count(), 1);
        drop(waiter);
        assert_eq!(std::fs::read_dir(&wake).unwrap().count(), 0);
        // A registration whose process died (nothing listens): the next signal removes it.
        std::fs::write(wake.join(format!("{}-gone", prefix("app-1"))), b"").unwrap();
        notify(dir.path(), "app-1");
        assert_eq!(std::fs::read_dir(&wake).unwrap().count(), 0);
    }
}
