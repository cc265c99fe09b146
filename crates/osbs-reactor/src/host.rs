//! The build host seam: the one narrow interface through which the reactor reads and changes
//! the service's state, and [`StandaloneHost`], an implementation that needs no cluster.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use osbs_core::build::{BuildOutcome, BuildRequest, ImageImport};

/// An error reported by a [`BuildHost`] implementation.
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// What the reactor needs from the service that runs it (the local backend, a Kubernetes Pod,
/// or [`StandaloneHost`]).
///
/// Methods are called from async code and should return quickly; [`BuildHost::log`] is called
/// once per build-log line. [`BuildHost::store_results`] may be called more than once per build;
/// the last call carries the final outcome.
pub trait BuildHost: Send + Sync {
    /// The Build to run and what the reactor needs of its BuildConfig.
    fn build_request(&self) -> Result<BuildRequest, HostError>;
    /// Sets a label on the Build's BuildConfig (e.g. `is_autorebuild=true`).
    fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError>;
    /// Imports pushed tags into an ImageStream (creating it if needed).
    fn import_image(&self, import: &ImageImport) -> Result<(), HostError>;
    /// Stores the build's outcome and results on the Build.
    fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError>;
    /// Whether someone asked to cancel the build; polled a few times a second.
    fn cancel_requested(&self) -> bool;
    /// One line of the build log.
    fn log(&self, line: &str);
    /// Whether this run still holds its lease (SPEC §3, fencing): checked before every
    /// publishing step (each tag push, the sync, the import). A run whose lease was taken away
    /// (it was declared dead) gets an error and stops; its other writes are refused by the
    /// host. Hosts without leases keep the default.
    fn check_lease(&self) -> Result<(), HostError> {
        Ok(())
    }
}

/// Everything a [`StandaloneHost`] recorded.
#[derive(Debug, Default, Clone)]
struct Recorded {
    labels: BTreeMap<String, String>,
    imports: Vec<ImageImport>,
    outcome: Option<BuildOutcome>,
}

/// A [`BuildHost`] without any service behind it: the request is given up front, labels,
/// imports and results are kept in memory, log lines go to stderr (or a sink), and
/// [`StandaloneHost::request_cancel`] asks for cancellation.
pub struct StandaloneHost {
    request: BuildRequest,
    recorded: Mutex<Recorded>,
    cancel: AtomicBool,
    sink: Box<dyn Fn(&str) + Send + Sync>,
}

impl StandaloneHost {
    /// A host that serves `request` and logs to stderr.
    pub fn new(request: BuildRequest) -> Self {
        StandaloneHost {
            request,
            recorded: Mutex::new(Recorded::default()),
            cancel: AtomicBool::new(false),
            sink: Box::new(|line| {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }),
        }
    }

    /// Sends log lines to `sink` instead of stderr.
    pub fn with_log_sink(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.sink = Box::new(sink);
        self
    }

    /// Asks the running build to stop; it ends `Cancelled` after its exit plugins.
    pub fn request_cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    fn recorded(&self) -> Recorded {
        match self.recorded.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Recorded)) {
        match self.recorded.lock() {
            Ok(mut guard) => f(&mut guard),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The BuildConfig labels the build set.
    pub fn build_config_labels(&self) -> BTreeMap<String, String> {
        self.recorded().labels
    }

    /// The ImageStream imports the build made.
    pub fn imports(&self) -> Vec<ImageImport> {
        self.recorded().imports
    }

    /// The last outcome the build stored.
    pub fn stored_outcome(&self) -> Option<BuildOutcome> {
        self.recorded().outcome
    }
}

impl BuildHost for StandaloneHost {
    fn build_request(&self) -> Result<BuildRequest, HostError> {
        Ok(self.request.clone())
    }

    fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.update(|r| {
            r.labels.insert(key.to_owned(), value.to_owned());
        });
        Ok(())
    }

    fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        self.update(|r| r.imports.push(import.clone()));
        Ok(())
    }

    fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        self.update(|r| r.outcome = Some(outcome.clone()));
        Ok(())
    }

    fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    fn log(&self, line: &str) {
        (self.sink)(line);
    }
}
