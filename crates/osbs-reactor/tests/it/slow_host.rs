//! The reactor awaits its host: a host call that takes long (a database behind a busy lock, a
//! slow API server) does not stall the runtime the reactor runs on. No Docker or registry is
//! needed: the build fails in `fetch_source` (a git URL the reactor refuses, so nothing is
//! cloned), and the exit plugin `store_metadata`, then the runner, store the results through
//! the slow host.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use osbs_core::build::{BuildOutcome, BuildPhase, BuildRequest, ImageImport};
use osbs_reactor::{BuildHost, HostError, StandaloneHost, run_build};
use tokio_util::sync::CancellationToken;

use crate::support::{request, summary};

/// How long each `store_results` of [`SlowHost`] takes.
const SLOW: Duration = Duration::from_millis(500);
/// The period of the ticker task that runs beside the build.
const TICK: Duration = Duration::from_millis(10);

/// A host whose `store_results` waits [`SLOW`] (asynchronously) and records how far the
/// ticker got meanwhile.
struct SlowHost {
    inner: StandaloneHost,
    ticks: Arc<AtomicU64>,
    /// For each `store_results`: the ticks counted while it waited.
    ticks_during_store: Mutex<Vec<u64>>,
}

impl BuildHost for SlowHost {
    async fn build_request(&self) -> Result<BuildRequest, HostError> {
        self.inner.build_request().await
    }
    async fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.inner.set_build_config_label(key, value).await
    }
    async fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        self.inner.import_image(import).await
    }
    async fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        let before = self.ticks.load(Ordering::SeqCst);
        tokio::time::sleep(SLOW).await;
        let after = self.ticks.load(Ordering::SeqCst);
        self.ticks_during_store.lock().unwrap().push(after - before);
        self.inner.store_results(outcome).await
    }
    async fn cancel_requested(&self) -> bool {
        self.inner.cancel_requested().await
    }
    fn log(&self, line: &str) {
        self.inner.log(line);
    }
}

#[test]
fn a_slow_host_call_leaves_the_runtime_free_for_other_tasks() {
    // One thread: while the reactor waits for the host, only the runtime can run the ticker.
    // A host that blocked the thread instead (as the synchronous trait forced the local
    // backend's SQLite calls to) would leave the ticker at a standstill.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ticks = Arc::new(AtomicU64::new(0));
    let host = SlowHost {
        inner: StandaloneHost::new(request(
            "--upload-pack=true",
            "127.0.0.1:5000",
            "osbs-test/slow-host",
        ))
        .with_log_sink(|_| {}),
        ticks: Arc::clone(&ticks),
        ticks_during_store: Mutex::new(Vec::new()),
    };
    let outcome = runtime.block_on(async {
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        });
        let outcome = run_build(&host, CancellationToken::new()).await;
        ticker.abort();
        outcome
    });

    assert_eq!(outcome.phase, BuildPhase::Failed, "{}", summary(&outcome));
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("Error in plugin fetch_source: git url `")),
        "{}",
        summary(&outcome)
    );
    assert_eq!(host.inner.stored_outcome().as_ref(), Some(&outcome));
    let during = host.ticks_during_store.lock().unwrap().clone();
    // Each wait is SLOW / TICK = 50 ticks long; a loaded machine may run fewer, a blocked
    // runtime none.
    assert_eq!(during.len(), 2, "store_metadata, then the end of the run");
    assert!(
        during.iter().all(|&n| n >= 5),
        "the ticker stalled while the host worked: {during:?} ticks"
    );
}
