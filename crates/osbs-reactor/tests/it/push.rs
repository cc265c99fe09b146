//! The push paths (`push_method`): the reactor's own push gives an image that `docker pull`
//! and `docker run` take, with the built image's id and layers; behind a proxy that fails a
//! fifth of the requests, every build still ends `Complete` with the digests the registry
//! serves; and extra tags cost one manifest `PUT` each on either path.

use std::process::Command;

use osbs_core::build::{BuildPhase, BuildRequest, PushMethod};
use osbs_testkit::fault_proxy::{Fault, FaultProxy};
use osbs_testkit::fixture::run;
use osbs_testkit::{push_registry, require_services};

use crate::support::{
    TestHost, assert_digests_served, build, fixture_repo, fixture_repo_from, request, summary,
    unique,
};

fn with_method(mut request: BuildRequest, method: PushMethod) -> BuildRequest {
    request.push_method = method;
    request
}

fn docker(args: &[&str]) -> String {
    run(Command::new("docker").args(args))
}

/// `docker inspect` of `image` as JSON.
fn inspect(image: &str) -> serde_json::Value {
    let text = docker(&["image", "inspect", image]);
    serde_json::from_str::<serde_json::Value>(&text).unwrap()[0].clone()
}

/// The `diff_ids` of the config the registry serves for `repository:tag`.
fn served_diff_ids(registry: &str, repository: &str, tag: &str) -> Vec<String> {
    let curl = |args: &[&str]| run(Command::new("curl").args(["-sS", "--fail"]).args(args));
    let manifest = curl(&[
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        &format!("http://{registry}/v2/{repository}/manifests/{tag}"),
    ]);
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let config = manifest["config"]["digest"].as_str().unwrap();
    let config = curl(&[
        "-L",
        &format!("http://{registry}/v2/{repository}/blobs/{config}"),
    ]);
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    serde_json::from_value(config["rootfs"]["diff_ids"].clone()).unwrap()
}

#[test]
fn an_image_pushed_by_the_reactor_pulls_and_runs_with_the_built_layers() {
    require_services();
    let registry = push_registry();
    let repo = fixture_repo("small");
    let image = format!("osbs-test/{}", unique("reactor-push"));
    let host = TestHost::new(with_method(
        request(&repo.url, &registry, &image),
        PushMethod::Reactor,
    ));
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    let log = host.log_text();
    assert!(log.contains("the reactor's own push"), "{log}");
    // Beside the Engine, as root (CI), the layers come from its layer store, not its export;
    // the export's equivalence is `export::tests` in the crate.
    assert!(
        log.contains("layers read from the Engine's layer store"),
        "{log}"
    );
    // The base image lives in the same registry: its layers are mounted or found, not sent.
    assert!(
        log.contains("mounted from osbs/busybox") || log.contains(": present"),
        "{log}"
    );
    let built_id = outcome.results.image_id.clone().unwrap();

    // The build removed its image: the pull really fetches every layer from the registry.
    let reference = format!("{registry}/{image}:1-1");
    docker(&["pull", "-q", &reference]);
    let pulled = inspect(&reference);
    assert_eq!(
        pulled["Id"],
        built_id.as_str(),
        "the config is the built one"
    );
    let layers: Vec<String> = serde_json::from_value(pulled["RootFS"]["Layers"].clone()).unwrap();
    assert_eq!(layers, served_diff_ids(&registry, &image, "1-1"));
    assert_eq!(
        layers.len(),
        3,
        "the base's layer, COPY and RUN: {layers:?}"
    );
    let out = docker(&["run", "--rm", &reference]);
    assert_eq!(out.trim(), "hello from the small fixture");
    assert_digests_served(&registry, &image, &outcome.results.digests, "");
    docker(&["rmi", "-f", &reference]);
}

/// Builds of the small fixture pushed through a proxy that fails `rate` of the requests; the
/// registry behind it serves exactly the digests each build reports.
#[test]
fn behind_a_proxy_failing_a_fifth_of_the_requests_ten_of_ten_builds_complete() {
    require_services();
    let registry = push_registry();
    let proxy = FaultProxy::start(&registry, 0.2, 12);
    let repo = fixture_repo("small");
    let mut complete = 0;
    let mut failures = Vec::new();
    for i in 0..10 {
        let image = format!("osbs-test/{}", unique(&format!("faults-{i}")));
        let host = TestHost::new(request(&repo.url, proxy.addr(), &image));
        let outcome = build(&host);
        if outcome.phase != BuildPhase::Complete {
            failures.push(format!("build {i}: {}", summary(&outcome)));
            continue;
        }
        complete += 1;
        assert_eq!(outcome.results.digests.len(), 4);
        // Asked of the registry itself, not through the proxy.
        assert_digests_served(
            &registry,
            &image,
            &outcome.results.digests,
            &format!("build {i}, "),
        );
    }
    let faults = proxy.fault_counts();
    let injected: usize = faults
        .iter()
        .filter(|(fault, _)| **fault != Fault::None)
        .map(|(_, n)| n)
        .sum();
    assert!(
        injected >= 20,
        "the proxy injected too few faults: {faults:?}"
    );
    assert_eq!(complete, 10, "{failures:#?}\nfaults: {faults:?}");
}

/// Counts the manifest `PUT`s and blob upload starts of one build through a counting proxy.
fn push_costs(method: PushMethod) -> (usize, usize, String) {
    let registry = push_registry();
    let proxy = FaultProxy::start(&registry, 0.0, 1);
    // The base image in the proxied registry, so the base's layers are mountable there.
    let base = format!("{}/osbs/busybox:latest", proxy.addr());
    let repo = fixture_repo_from("small", &base);
    let image = format!("osbs-test/{}", unique("tag-costs"));
    let host = TestHost::new(with_method(
        request(&repo.url, proxy.addr(), &image),
        method,
    ));
    let outcome = build(&host);
    // The base's extra name (its image stays, held by its other names).
    let _ = Command::new("docker").args(["rmi", &base]).output();
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    let requests = proxy.requests();
    let manifest_puts: Vec<String> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.target.contains(&format!("/v2/{image}/manifests/")))
        .map(|r| r.target.clone())
        .collect();
    let uploads = requests
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.target.starts_with(&format!("/v2/{image}/blobs/uploads/"))
                && !r.target.contains("mount=")
        })
        .count();
    let listing = format!(
        "requests: {:#?}\nlog:\n{}",
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect::<Vec<_>>(),
        host.log_text()
    );
    (manifest_puts.len(), uploads, listing)
}

#[test]
fn extra_tags_cost_one_manifest_put_each_on_both_paths() {
    require_services();
    // Four tags: one push of the content, then one manifest PUT per tag.
    let (puts, uploads, listing) = push_costs(PushMethod::Reactor);
    assert_eq!(puts, 4, "{listing}");
    // The COPY and RUN layers and the config; the base's layer is mounted.
    assert_eq!(uploads, 3, "{listing}");
    let (puts, uploads, listing) = push_costs(PushMethod::Engine);
    assert_eq!(puts, 4, "{listing}");
    assert!(
        uploads <= 4,
        "the Engine pushed the content once: {listing}"
    );
}
