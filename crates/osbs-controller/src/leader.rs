//! Leader election through a `coordination.k8s.io/v1` Lease, so that two controller replicas
//! never both start builds. [`decide`] is the pure rule; [`LeaderElector`] reads and writes the
//! Lease with its `resourceVersion` (a 409 means another replica won the race) and runs the
//! controller only while it holds the Lease. A replica that cannot renew in time stops working
//! before the Lease can expire, and the process exits so its Deployment restarts it as a
//! follower.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff;
use kube::Api;
use kube::api::PostParams;
use osbs_core::time::Timestamp;

use crate::ControllerError;
use crate::probes::Health;

/// What a replica does with the Lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, or the holder let it expire: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Another replica holds it for `remaining_ms` more.
    Follow {
        /// The holder's identity.
        holder: String,
        /// Milliseconds until it expires unless renewed.
        remaining_ms: u64,
    },
}

fn to_timestamp(t: &MicroTime) -> Timestamp {
    Timestamp::from_unix_millis(t.0.as_millisecond())
}

fn to_micro_time(t: Timestamp) -> MicroTime {
    MicroTime(
        jiff::Timestamp::from_millisecond(t.unix_millis()).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    )
}

/// The rule: a Lease without a holder, or whose last renewal is older than its duration, is
/// free; our own Lease is renewed; any other holder is followed.
pub fn decide(lease: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == identity {
        return Decision::Renew;
    }
    let duration_ms = u64::try_from(spec.lease_duration_seconds.unwrap_or(15)).unwrap_or(15) * 1000;
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(to_timestamp);
    let age = renewed.map_or(u64::MAX, |r| now.millis_since(r));
    if age >= duration_ms {
        Decision::Acquire
    } else {
        Decision::Follow {
            holder: holder.to_owned(),
            remaining_ms: duration_ms - age,
        }
    }
}

/// The Lease `spec` after `decision` by `identity` at `now`.
pub fn next_spec(
    current: Option<&LeaseSpec>,
    decision: &Decision,
    identity: &str,
    now: Timestamp,
    duration_seconds: i32,
) -> Option<LeaseSpec> {
    let mut spec = current.cloned().unwrap_or_default();
    match decision {
        Decision::Follow { .. } => return None,
        Decision::Acquire => {
            // As client-go counts them: a new Lease starts at 0, each change of holder adds 1.
            let changed = current.is_some_and(|c| {
                c.holder_identity
                    .as_deref()
                    .is_some_and(|h| !h.is_empty() && h != identity)
            });
            let transitions = spec.lease_transitions.unwrap_or(0);
            spec.lease_transitions = Some(transitions + i32::from(changed));
            spec.holder_identity = Some(identity.to_owned());
            spec.acquire_time = Some(to_micro_time(now));
        }
        Decision::Renew => {}
    }
    spec.renew_time = Some(to_micro_time(now));
    spec.lease_duration_seconds = Some(duration_seconds);
    Some(spec)
}

/// Holds (or waits for) the Lease `name` as `identity`.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration_seconds: i32,
    health: Health,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

impl LeaderElector {
    /// An elector for the Lease `name` reached through `api`, held for `duration_seconds`
    /// per renewal.
    pub fn new(api: Api<Lease>, name: &str, identity: &str, duration_seconds: i32) -> Self {
        LeaderElector {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration_seconds,
            health: Health::new(),
        }
    }

    /// Reports to `health` (the `/readyz` endpoint) whether this replica follows or leads.
    #[must_use]
    pub fn reporting_to(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// One round: reads the Lease and acquires or renews it if the rule allows. Returns whether
    /// this replica holds it afterwards.
    ///
    /// # Errors
    ///
    /// [`ControllerError::Kube`] for API errors other than a lost race (409).
    pub async fn try_acquire_or_renew(&self) -> Result<bool, ControllerError> {
        let err = |verb: &'static str| {
            let name = self.name.clone();
            move |source: kube::Error| ControllerError::Api {
                verb,
                resource: "leases.coordination.k8s.io".to_owned(),
                name,
                source: Box::new(source),
            }
        };
        let current = self.api.get_opt(&self.name).await.map_err(err("get"))?;
        let now = now();
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        );
        let Some(spec) = next_spec(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &decision,
            &self.identity,
            now,
            self.duration_seconds,
        ) else {
            return Ok(false);
        };
        let result = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                lease.spec = Some(spec);
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(err("update")(e)),
        }
    }

    /// Waits until this replica holds the Lease, then runs `work` while renewing every third
    /// of the duration. Returns `work`'s result, or [`ControllerError::LostLease`] as soon as a
    /// renewal fails for longer than two thirds of the duration.
    ///
    /// # Errors
    ///
    /// What `work` returns, or [`ControllerError::LostLease`].
    pub async fn run_while_leader<F>(&self, work: F) -> Result<(), ControllerError>
    where
        F: Future<Output = Result<(), ControllerError>>,
    {
        let period =
            Duration::from_millis(u64::try_from(self.duration_seconds).unwrap_or(15) * 1000 / 3);
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => self.health.following(),
                Err(e) => tracing::warn!("leader election: {e}"),
            }
            tokio::time::sleep(period).await;
        }
        self.health.leading();
        tracing::info!(identity = %self.identity, lease = %self.name, "became the leader");
        let renew = async {
            let mut last_ok = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(period).await;
                match self.try_acquire_or_renew().await {
                    Ok(true) => last_ok = tokio::time::Instant::now(),
                    Ok(false) => return ControllerError::LostLease(self.name.clone()),
                    Err(e) => tracing::warn!("cannot renew the lease: {e}"),
                }
                if last_ok.elapsed() > period * 2 {
                    return ControllerError::LostLease(self.name.clone());
                }
            }
        };
        tokio::select! {
            result = work => result,
            lost = renew => Err(lost),
        }
    }
}
