//! The Lease rule: who acts, who follows, when a dead leader's Lease is taken over; and the
//! elector's reads and writes against a fake API server that keeps one Lease with optimistic
//! concurrency (a write with a stale `resourceVersion`, or a create of an existing Lease, is a
//! 409), as the real one does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::Api;
use osbs_controller::ControllerError;
use osbs_controller::leader::{Decision, LeaderElector, decide, next_spec};
use osbs_core::time::Timestamp;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_714_564_800_000 + seconds * 1000)
}

#[test]
fn two_replicas_never_both_lead() {
    let a = next_spec(None, &decide(None, "a", at(0)), "a", at(0), 15).expect("a takes it");
    assert_eq!(decide(Some(&a), "a", at(5)), Decision::Renew);
    assert_eq!(
        decide(Some(&a), "b", at(5)),
        Decision::Follow {
            holder: "a".into(),
            remaining_ms: 10_000
        }
    );
    // a renews at 10 s: b still follows at 20 s.
    let a = next_spec(Some(&a), &Decision::Renew, "a", at(10), 15).expect("renewed");
    assert!(matches!(
        decide(Some(&a), "b", at(20)),
        Decision::Follow { .. }
    ));
    // a dies: 15 s after its last renewal, b takes over, and a transition is counted (the
    // first holder of a new Lease is not one, as client-go counts them).
    assert_eq!(decide(Some(&a), "b", at(25)), Decision::Acquire);
    let b = next_spec(Some(&a), &Decision::Acquire, "b", at(25), 15).expect("b takes it");
    assert_eq!(b.holder_identity.as_deref(), Some("b"));
    assert_eq!(b.lease_transitions, Some(1));
    assert!(matches!(
        decide(Some(&b), "a", at(26)),
        Decision::Follow { .. }
    ));
}

#[test]
fn an_empty_lease_is_free() {
    assert_eq!(
        decide(Some(&LeaseSpec::default()), "a", at(0)),
        Decision::Acquire
    );
}

/// The API server's `Status` answer for a failed call.
fn failure(code: u16, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code}))
}

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/osbs/leases";

/// One Lease kept the way the API server keeps it. GETs answer after `read_delay`, with what
/// was stored when they arrived, so two replicas can be made to read the same state.
#[derive(Clone, Default)]
struct FakeLeases {
    lease: Arc<Mutex<Option<Lease>>>,
    version: Arc<Mutex<u64>>,
    read_delay: Duration,
}

impl FakeLeases {
    fn holder(&self) -> Option<String> {
        let lease = self.lease.lock().expect("fake lease lock");
        lease.as_ref()?.spec.as_ref()?.holder_identity.clone()
    }

    fn conflict() -> ResponseTemplate {
        failure(409, "Conflict", "the object has been modified")
    }

    fn store(&self, mut lease: Lease) -> ResponseTemplate {
        let mut version = self.version.lock().expect("fake lease lock");
        *version += 1;
        lease.metadata.resource_version = Some(version.to_string());
        *self.lease.lock().expect("fake lease lock") = Some(lease.clone());
        ResponseTemplate::new(200).set_body_json(&lease)
    }
}

impl Respond for FakeLeases {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = || serde_json::from_slice::<Lease>(&request.body).expect("a Lease");
        match request.method.as_str() {
            "GET" => match self.lease.lock().expect("fake lease lock").clone() {
                Some(lease) => ResponseTemplate::new(200).set_body_json(&lease),
                None => failure(404, "NotFound", "not found"),
            }
            .set_delay(self.read_delay),
            "POST" if self.lease.lock().expect("fake lease lock").is_some() => Self::conflict(),
            "POST" => self.store(body()),
            "PUT" => {
                let lease = body();
                let current = self.version.lock().expect("fake lease lock").to_string();
                if lease.metadata.resource_version.as_deref() != Some(current.as_str()) {
                    return Self::conflict();
                }
                self.store(lease)
            }
            other => panic!("unexpected {other} {}", request.url),
        }
    }
}

/// A client of `server`.
fn client_of(server: &MockServer) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(server.uri().parse().expect("uri"));
    config.default_namespace = "osbs".to_owned();
    kube::Client::try_from(config).expect("client")
}

async fn fake_api(fake: &FakeLeases) -> (MockServer, kube::Client) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path_regex(format!(
        "^{LEASES}(/osbs-controller)?$"
    )))
    .respond_with(fake.clone())
    .mount(&server)
    .await;
    let client = client_of(&server);
    (server, client)
}

fn elector(client: &kube::Client, identity: &str, seconds: i32) -> LeaderElector {
    LeaderElector::new(
        Api::namespaced(client.clone(), "osbs"),
        "osbs-controller",
        identity,
        seconds,
    )
}

#[tokio::test]
async fn replicas_racing_for_a_free_lease_elect_exactly_one() {
    // Both read "no Lease" before either writes; the second create is a 409.
    let fake = FakeLeases {
        read_delay: Duration::from_millis(200),
        ..FakeLeases::default()
    };
    let (_server, client) = fake_api(&fake).await;
    let (a, b) = (elector(&client, "a", 15), elector(&client, "b", 15));
    let (won_a, won_b) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
    let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
    assert!(won_a ^ won_b, "a: {won_a}, b: {won_b}");
    let leader = if won_a { "a" } else { "b" };
    assert_eq!(fake.holder().as_deref(), Some(leader));

    // The same race over a taken Lease: the holder renews, the other follows.
    let (again_a, again_b) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
    assert_eq!((again_a.unwrap(), again_b.unwrap()), (won_a, won_b));
    assert_eq!(fake.holder().as_deref(), Some(leader));
}

#[tokio::test]
async fn a_dead_leaders_lease_is_taken_over_after_it_expires() {
    let fake = FakeLeases::default();
    let (_server, client) = fake_api(&fake).await;
    let (a, b) = (elector(&client, "a", 1), elector(&client, "b", 1));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap(), "a renews");
    // a stops renewing (it died); within the 1 s duration b still follows, then takes over.
    assert!(!b.try_acquire_or_renew().await.unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(b.try_acquire_or_renew().await.unwrap());
    assert_eq!(fake.holder().as_deref(), Some("b"));
    let lease = fake.lease.lock().expect("fake lease lock").clone().unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));
    // a comes back as a follower: it must not think it still leads.
    assert!(!a.try_acquire_or_renew().await.unwrap());
}

#[tokio::test]
async fn a_leader_that_loses_the_lease_stops_its_work() {
    let fake = FakeLeases::default();
    let (_server, client) = fake_api(&fake).await;
    let a = elector(&client, "a", 1);
    let usurp = {
        let fake = fake.clone();
        async move {
            // Once a leads, another replica takes the Lease behind its back.
            while fake.holder().as_deref() != Some("a") {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut lease = fake.lease.lock().expect("fake lease lock").clone().unwrap();
            lease.spec.as_mut().unwrap().holder_identity = Some("b".to_owned());
            fake.store(lease);
        }
    };
    let work = async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    };
    let started = std::time::Instant::now();
    let (result, ()) = tokio::join!(a.run_while_leader(work), usurp);
    assert!(
        matches!(result, Err(ControllerError::LostLease(ref name)) if name == "osbs-controller"),
        "{result:?}"
    );
    // It noticed at its next renewal (a third of the duration), not after the work.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_forbidden_lease_names_the_verb_and_resource() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(failure(403, "Forbidden", "forbidden"))
        .mount(&server)
        .await;
    let err = elector(&client_of(&server), "a", 15)
        .try_acquire_or_renew()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot get leases.coordination.k8s.io \"osbs-controller\""
    );
}
