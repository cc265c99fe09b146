//! The controller's Prometheus metrics, served on `/metrics` ([`crate::probes`]) in the
//! OpenMetrics text format of the `prometheus-client` crate. The leader fills them in every
//! round; a replica that waits for the Lease serves them at zero (`osbs_leader 0`).
//!
//! | family | type | what |
//! |---|---|---|
//! | `osbs_builds{phase}` | gauge | Builds per phase, as the last round listed them |
//! | `osbs_queue_depth` | gauge | Builds waiting to start (`New`) |
//! | `osbs_reconcile_errors_total` | counter | failed steps of rounds (each also logged) |
//! | `osbs_import_duration_seconds{kind}` | histogram | imports, `scheduled` (a whole round) or `requested` (`osbs import-image`) |
//! | `osbs_leader` | gauge | 1 while this replica holds the Lease |

use std::sync::Arc;
use std::time::Duration;

use osbs_core::build::BuildPhase;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every phase, in the order of the lifecycle (each gets a sample, zero or not).
const PHASES: [BuildPhase; 7] = [
    BuildPhase::New,
    BuildPhase::Pending,
    BuildPhase::Running,
    BuildPhase::Complete,
    BuildPhase::Failed,
    BuildPhase::Error,
    BuildPhase::Cancelled,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

/// Which import an observation of `osbs_import_duration_seconds` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// A round of the scheduled import (every external ImageStream).
    Scheduled,
    /// One `osbs import-image` request.
    Requested,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ImportLabel {
    kind: &'static str,
}

fn import_histogram() -> Histogram {
    // 50 ms … ~100 s.
    Histogram::new(exponential_buckets(0.05, 2.0, 12))
}

struct Inner {
    registry: Registry,
    builds: Family<PhaseLabel, Gauge>,
    queue_depth: Gauge,
    reconcile_errors: Counter,
    import_seconds: Family<ImportLabel, Histogram, fn() -> Histogram>,
    leader: Gauge,
}

/// The controller's metrics (cheap to clone: every clone is the same registry).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The metric families, registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let builds = Family::<PhaseLabel, Gauge>::default();
        registry.register("osbs_builds", "Builds per phase", builds.clone());
        let queue_depth = Gauge::default();
        registry.register(
            "osbs_queue_depth",
            "Builds waiting to start (phase New)",
            queue_depth.clone(),
        );
        let reconcile_errors = Counter::default();
        registry.register(
            "osbs_reconcile_errors",
            "Failed steps of the controller's rounds",
            reconcile_errors.clone(),
        );
        let import_seconds =
            Family::<ImportLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                import_histogram,
            );
        registry.register(
            "osbs_import_duration_seconds",
            "Imports from registries: a scheduled round, or one requested import",
            import_seconds.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "osbs_leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        for phase in PHASES {
            let _ = builds.get_or_create(&PhaseLabel {
                phase: phase.to_string(),
            });
        }
        for kind in ["scheduled", "requested"] {
            let _ = import_seconds.get_or_create(&ImportLabel { kind });
        }
        Metrics {
            inner: Arc::new(Inner {
                registry,
                builds,
                queue_depth,
                reconcile_errors,
                import_seconds,
                leader,
            }),
        }
    }

    /// Sets the build gauges from the phases of every Build.
    pub fn set_builds(&self, phases: impl IntoIterator<Item = BuildPhase>) {
        let mut counts = [0i64; PHASES.len()];
        for phase in phases {
            if let Some(i) = PHASES.iter().position(|p| *p == phase) {
                counts[i] += 1;
            }
        }
        for (phase, count) in PHASES.iter().zip(counts) {
            self.inner
                .builds
                .get_or_create(&PhaseLabel {
                    phase: phase.to_string(),
                })
                .set(count);
        }
        self.inner.queue_depth.set(counts[0]);
    }

    /// Counts `n` failed steps.
    pub fn count_errors(&self, n: usize) {
        self.inner
            .reconcile_errors
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// Records how long an import took.
    pub fn observe_import(&self, kind: ImportKind, took: Duration) {
        let kind = match kind {
            ImportKind::Scheduled => "scheduled",
            ImportKind::Requested => "requested",
        };
        self.inner
            .import_seconds
            .get_or_create(&ImportLabel { kind })
            .observe(took.as_secs_f64());
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.inner.leader.set(i64::from(leading));
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}
