//! The Lease rule: who acts, who follows, when a dead leader's Lease is taken over.

use k8s_openapi::api::coordination::v1::LeaseSpec;
use osbs_controller::leader::{Decision, decide, next_spec};
use osbs_core::time::Timestamp;

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
    // a dies: 15 s after its last renewal, b takes over, and a transition is counted.
    assert_eq!(decide(Some(&a), "b", at(25)), Decision::Acquire);
    let b = next_spec(Some(&a), &Decision::Acquire, "b", at(25), 15).expect("b takes it");
    assert_eq!(b.holder_identity.as_deref(), Some("b"));
    assert_eq!(b.lease_transitions, Some(2));
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
