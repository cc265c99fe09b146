//! The build host seam: the one narrow interface through which the reactor reads and changes
//! the service's state, and [`StandaloneHost`], an implementation that needs no cluster.

use std::collections::BTreeMap;
use std::io::Write;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use osbs_core::auth::Secret;
use osbs_core::build::{BuildOutcome, BuildRequest, ImageImport};

/// An error reported by a [`BuildHost`] implementation.
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// What the reactor needs from the service that runs it (the local backend, a Kubernetes Pod,
/// or [`StandaloneHost`]).
///
/// The methods that do I/O are async and are awaited on the reactor's runtime: an
/// implementation must never block in them (blocking work, such as a database call, goes to
/// `tokio::task::spawn_blocking`). Their futures are `Send`, because the reactor runs on
/// multi-threaded runtimes. [`BuildHost::store_results`] may be called more than once per
/// build; the last call carries the final outcome.
pub trait BuildHost: Send + Sync {
    /// The Build to run and what the reactor needs of its BuildConfig.
    fn build_request(&self) -> impl Future<Output = Result<BuildRequest, HostError>> + Send;
    /// Sets a label on the Build's BuildConfig (e.g. `is_autorebuild=true`).
    fn set_build_config_label(
        &self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// Imports pushed tags into an ImageStream (creating it if needed).
    fn import_image(
        &self,
        import: &ImageImport,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// Stores the build's outcome and results on the Build.
    fn store_results(
        &self,
        outcome: &BuildOutcome,
    ) -> impl Future<Output = Result<(), HostError>> + Send;
    /// Whether someone asked to cancel the build. The reactor polls it every 200 ms for the
    /// whole run, so it must stay cheap: answer from memory, or with one small read off the
    /// runtime's threads, or rate-limit the lookups behind it.
    fn cancel_requested(&self) -> impl Future<Output = bool> + Send;
    /// One line of the build log. Called once per line, so it stays synchronous and must be
    /// cheap: an append to an already-open file, stderr, or memory, never a network or
    /// database round trip (a host that needs one buffers the lines and ships them from a
    /// task of its own).
    fn log(&self, line: &str);
    /// Whether this run still holds its lease (SPEC §3, fencing): checked before every
    /// publishing step (each tag push, the sync, the import). A run whose lease was taken away
    /// (it was declared dead) gets an error and stops; its other writes are refused by the
    /// host. Hosts without leases keep the default.
    fn check_lease(&self) -> impl Future<Output = Result<(), HostError>> + Send {
        std::future::ready(Ok(()))
    }
    /// The password of the Build's git URL when the URL carries it redacted
    /// (`https://user:***@host/...`, SPEC §6): the host keeps it outside its state (the local
    /// backend in a mode-0600 file per BuildConfig) and the reactor gives it to git only
    /// through the environment. Hosts that keep none return `None` (the default); cloning such
    /// a URL then fails, naming it.
    fn git_password(&self) -> impl Future<Output = Result<Option<Secret>, HostError>> + Send {
        std::future::ready(Ok(None))
    }
}

/// A boxed host future, as [`DynHost`] returns them.
pub(crate) type HostFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`BuildHost`] in a form that can be a trait object (`async` trait methods cannot), so the
/// per-run `Context` and the plugins stay free of a type parameter. Every [`BuildHost`] is
/// one; the reactor turns `&impl BuildHost` into `&dyn DynHost` once, in `run_build`.
pub(crate) trait DynHost: Send + Sync {
    /// [`BuildHost::build_request`].
    fn build_request(&self) -> HostFuture<'_, Result<BuildRequest, HostError>>;
    /// [`BuildHost::set_build_config_label`].
    fn set_build_config_label<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> HostFuture<'a, Result<(), HostError>>;
    /// [`BuildHost::import_image`].
    fn import_image<'a>(&'a self, import: &'a ImageImport)
    -> HostFuture<'a, Result<(), HostError>>;
    /// [`BuildHost::store_results`].
    fn store_results<'a>(
        &'a self,
        outcome: &'a BuildOutcome,
    ) -> HostFuture<'a, Result<(), HostError>>;
    /// [`BuildHost::cancel_requested`].
    fn cancel_requested(&self) -> HostFuture<'_, bool>;
    /// [`BuildHost::log`].
    fn log(&self, line: &str);
    /// [`BuildHost::check_lease`].
    fn check_lease(&self) -> HostFuture<'_, Result<(), HostError>>;
    /// [`BuildHost::git_password`].
    fn git_password(&self) -> HostFuture<'_, Result<Option<Secret>, HostError>>;
}

impl<H: BuildHost> DynHost for H {
    fn build_request(&self) -> HostFuture<'_, Result<BuildRequest, HostError>> {
        Box::pin(BuildHost::build_request(self))
    }

    fn set_build_config_label<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> HostFuture<'a, Result<(), HostError>> {
        Box::pin(BuildHost::set_build_config_label(self, key, value))
    }

    fn import_image<'a>(
        &'a self,
        import: &'a ImageImport,
    ) -> HostFuture<'a, Result<(), HostError>> {
        Box::pin(BuildHost::import_image(self, import))
    }

    fn store_results<'a>(
        &'a self,
        outcome: &'a BuildOutcome,
    ) -> HostFuture<'a, Result<(), HostError>> {
        Box::pin(BuildHost::store_results(self, outcome))
    }

    fn cancel_requested(&self) -> HostFuture<'_, bool> {
        Box::pin(BuildHost::cancel_requested(self))
    }

    fn log(&self, line: &str) {
        BuildHost::log(self, line);
    }

    fn check_lease(&self) -> HostFuture<'_, Result<(), HostError>> {
        Box::pin(BuildHost::check_lease(self))
    }

    fn git_password(&self) -> HostFuture<'_, Result<Option<Secret>, HostError>> {
        Box::pin(BuildHost::git_password(self))
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
    git_password: Option<Secret>,
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
            git_password: None,
        }
    }

    /// Gives `password` for a git URL whose password is redacted (`user:***@`).
    pub fn with_git_password(mut self, password: Secret) -> Self {
        self.git_password = Some(password);
        self
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
    async fn build_request(&self) -> Result<BuildRequest, HostError> {
        Ok(self.request.clone())
    }

    async fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.update(|r| {
            r.labels.insert(key.to_owned(), value.to_owned());
        });
        Ok(())
    }

    async fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        self.update(|r| r.imports.push(import.clone()));
        Ok(())
    }

    async fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        self.update(|r| r.outcome = Some(outcome.clone()));
        Ok(())
    }

    async fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Calls the sink (stderr by default): no I/O beyond that one write.
    fn log(&self, line: &str) {
        (self.sink)(line);
    }

    async fn git_password(&self) -> Result<Option<Secret>, HostError> {
        Ok(self.git_password.clone())
    }
}
