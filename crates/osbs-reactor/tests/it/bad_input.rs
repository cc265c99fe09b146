//! Bad input ends the build with a clear error and no panic: missing Dockerfile, unparsable
//! FROM, hostile git URLs, unreachable registry, wrong password, a registry that goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use osbs_core::build::{BuildOutcome, BuildPhase};
use osbs_testkit::{push_registry, require_services};

use crate::support::*;

fn failed_with(outcome: &BuildOutcome, prefix: &str) {
    assert_eq!(outcome.phase, BuildPhase::Failed, "{}", summary(outcome));
    let error = outcome.error.as_deref().unwrap_or_default();
    assert!(error.starts_with(prefix), "{error}");
    let timestamps = &outcome.results.plugins_metadata.timestamps;
    assert!(timestamps.contains_key("store_metadata"), "{timestamps:?}");
}

#[test]
fn missing_dockerfile() {
    require_services();
    let repo = fixture_repo("no-dockerfile");
    let outcome = build(&TestHost::new(request(
        &repo.url,
        &push_registry(),
        "osbs-test/none",
    )));
    failed_with(
        &outcome,
        "Error in plugin fetch_source: no Dockerfile in the repository",
    );
    assert!(outcome.error.unwrap().ends_with(&repo.commit));
}

#[test]
fn unparsable_from() {
    require_services();
    let repo = fixture_repo("bad-from");
    let outcome = build(&TestHost::new(request(
        &repo.url,
        &push_registry(),
        "osbs-test/bad-from",
    )));
    failed_with(
        &outcome,
        "Error in plugin fetch_source: Dockerfile line 1: FROM `registry.example.com/UPPER/Case::tag` is not a valid image reference",
    );
}

#[test]
fn git_urls_that_could_be_options_or_helpers_are_refused() {
    require_services();
    let marker = tempfile::tempdir().unwrap();
    let touched = marker.path().join("pwned");
    for url in [
        "--upload-pack=touch /tmp/osbs-pwned".to_owned(),
        "-oProxyCommand=touch /tmp/osbs-pwned".to_owned(),
        format!("ext::sh -c touch% {}", touched.display()),
    ] {
        let outcome = build(&TestHost::new(request(
            &url,
            &push_registry(),
            "osbs-test/url",
        )));
        failed_with(&outcome, "Error in plugin fetch_source: git url `");
        assert!(!touched.exists());
    }
    let outcome = build(&TestHost::new(request(
        "ftp://example.com/repo.git",
        &push_registry(),
        "osbs-test/url",
    )));
    failed_with(
        &outcome,
        "Error in plugin fetch_source: git url `ftp://example.com/repo.git` is not allowed: only https, http, ssh, git and file transports are allowed",
    );
}

#[test]
fn unreachable_registry() {
    require_services();
    let repo = fixture_repo("small");
    // Nothing listens on the discard port.
    let outcome = build(&TestHost::new(request(
        &repo.url,
        "127.0.0.1:9",
        "osbs-test/unreachable",
    )));
    failed_with(
        &outcome,
        "Error in plugin bump_release: registry 127.0.0.1:9: listing the tags of osbs-test/unreachable failed: ",
    );
}

#[test]
fn wrong_password_fails_and_the_password_appears_nowhere() {
    require_services();
    let registry = TempRegistry::start(Some(("builder", "right-password")));
    let repo = fixture_repo("small");
    let secrets = tempfile::tempdir().unwrap();
    let password = "Wr0ng-Pa55word-9f8e7d";

    let mut req = request(&repo.url, &registry.addr, "osbs-test/auth");
    req.registry_secret = Some(
        dockercfg(secrets.path(), &registry.addr, "builder", password)
            .display()
            .to_string(),
    );
    let host = TestHost::new(req);
    let outcome = build(&host);
    failed_with(
        &outcome,
        &format!(
            "Error in plugin bump_release: registry {}: listing the tags of osbs-test/auth failed: ",
            registry.addr
        ),
    );
    let everything = format!(
        "{}\n{}\n{:?}",
        serde_json::to_string(&outcome).unwrap(),
        host.log_text(),
        outcome
    );
    assert!(!everything.contains(password), "{everything}");

    // The right password works, for the tag listing and for the push through the daemon.
    let mut req = request(&repo.url, &registry.addr, "osbs-test/auth");
    req.registry_secret = Some(
        dockercfg(secrets.path(), &registry.addr, "builder", "right-password")
            .display()
            .to_string(),
    );
    let host = TestHost::new(req);
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert!(!host.log_text().contains("right-password"));
    assert!(
        !serde_json::to_string(&outcome)
            .unwrap()
            .contains("right-password")
    );
}

#[test]
fn a_push_interrupted_by_the_registry_going_away() {
    require_services();
    let registry = TempRegistry::start(None);
    let kill = registry.killer();
    let killed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&killed);
    let repo = fixture_repo("big-layer");
    let host = TestHost::new(request(&repo.url, &registry.addr, "osbs-test/interrupted")).on_line(
        move |line| {
            if line.starts_with("pushing ") && !flag.swap(true, Ordering::SeqCst) {
                let kill = Arc::clone(&kill);
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    kill();
                });
            }
        },
    );
    let outcome = build(&host);
    assert!(killed.load(Ordering::SeqCst), "the push never started");
    failed_with(&outcome, "Error in plugin tag_and_push: ");
    assert!(outcome.results.digests.is_empty());
    // The built image was still removed.
    let id = outcome
        .results
        .image_id
        .clone()
        .expect("an image was built");
    assert!(!image_exists(&id));
}
