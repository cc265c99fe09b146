//! Whole builds against the real Docker Engine and push registry: success, failure, cancel,
//! autorebuild opt-out, and release numbering.

use std::time::Instant;

use osbs_core::build::{BuildOutcome, BuildPhase};
use osbs_testkit::{push_registry, require_services};

use crate::support::*;

/// Every exit plugin left its timestamp.
fn assert_exit_plugins_ran(outcome: &BuildOutcome) {
    let timestamps = &outcome.results.plugins_metadata.timestamps;
    for plugin in ["store_metadata", "remove_built_image"] {
        assert!(
            timestamps.contains_key(plugin),
            "{plugin} did not run: {timestamps:?}"
        );
    }
}

/// The outcome as JSON with everything that changes between runs filtered out.
fn snapshot_json(outcome: &BuildOutcome, image: &str, commit: &str) -> String {
    let json = serde_json::to_string_pretty(outcome).unwrap();
    json.replace(image, "[IMAGE]")
        .replace(&image.replace('/', "-"), "[IMAGE-NAME]")
        .replace(commit, "[COMMIT]")
        .replace(&push_registry(), "[REGISTRY]")
}

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"sha256:[0-9a-f]{64}", "[DIGEST]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[DATE]"),
        (r"-\d{14}\b", "-[TIME]"),
        (r#""\d+\.\d+""#, r#""[SECONDS]""#),
        (r": \d+\.\d+", ": [SECONDS]"),
        (r"file:///[^\s\x22\\]*", "[REPO_URL]"),
        (
            r#"architecture\\"=\\"[a-z0-9_]+"#,
            r#"architecture\"=\"[ARCH]"#,
        ),
    ]
}

#[test]
fn a_fixture_repo_builds_pushes_and_numbers_releases() {
    require_services();
    let registry = push_registry();
    let repo = fixture_repo("small");
    let image = format!("osbs-test/{}", unique("small"));

    let host = TestHost::new(request(&repo.url, &registry, &image));
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    let results = &outcome.results;

    // The registry holds every expected tag, and serves the digests the results name.
    let unique_tag = results.repositories.unique[0]
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();
    let mut expected = vec![
        "1".to_owned(),
        "1-1".to_owned(),
        "latest".to_owned(),
        unique_tag,
    ];
    expected.sort();
    assert_eq!(registry_tags(&registry, &image), expected);
    assert_eq!(results.digests.len(), 4);
    for pushed in &results.digests {
        assert_eq!(pushed.registry, registry);
        assert_eq!(pushed.repository, image);
        assert_eq!(
            pushed.digest,
            served_digest(&registry, &image, &pushed.tag),
            "tag {}",
            pushed.tag
        );
    }

    // The labels are in the image config.
    let labels = image_labels(&registry, &image, "1-1");
    assert_eq!(labels["vcs-ref"], repo.commit.as_str());
    assert_eq!(labels["release"], "1");
    assert_eq!(labels["version"], "1");
    assert_eq!(labels["vcs-type"], "git");
    assert!(labels["build-date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(results.commit_id.as_deref(), Some(repo.commit.as_str()));

    // The host saw the BuildConfig label, the import and the results; the image is gone.
    assert_eq!(
        host.inner
            .build_config_labels()
            .get("is_autorebuild")
            .map(String::as_str),
        Some("true")
    );
    let imports = host.inner.imports();
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].image_stream, image.replace('/', "-"));
    assert_eq!(host.inner.stored_outcome().as_ref(), Some(&outcome));
    assert!(!image_exists(results.image_id.as_deref().unwrap()));
    assert!(
        host.log_text()
            .contains("RUN test -e /src/hello.txt && test ! -e /src/ignored.log"),
        "{}",
        host.log_text()
    );
    assert_exit_plugins_ran(&outcome);

    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("small_complete", snapshot_json(&outcome, &image, &repo.commit));
    });

    // The next build of the same version gets release 2.
    let host = TestHost::new(request(&repo.url, &registry, &image));
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert_eq!(outcome.results.release.as_deref(), Some("2"));
    assert!(registry_tags(&registry, &image).contains(&"1-2".to_owned()));
    assert_eq!(image_labels(&registry, &image, "latest")["release"], "2");
}

#[test]
fn run_false_fails_naming_docker_api() {
    require_services();
    let repo = fixture_repo("fails");
    let image = format!("osbs-test/{}", unique("fails"));
    let mut request = request(&repo.url, &push_registry(), &image);
    // BuildKit's message for the same failure: `buildkit::a_failing_run_fails_naming_docker_api`.
    request.builder = Some(osbs_core::build::Builder::Classic);
    let host = TestHost::new(request);
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Failed, "{}", summary(&outcome));
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "Error in plugin docker_api: build failed: The command '/bin/sh -c echo osbs-fails-fixture && false' returned a non-zero code: 1"
        )
    );
    assert!(
        outcome
            .results
            .plugins_metadata
            .errors
            .contains_key("docker_api")
    );
    // Later phases were skipped, exit plugins ran, and nothing of the build is left.
    assert!(
        !outcome
            .results
            .plugins_metadata
            .timestamps
            .contains_key("tag_and_push")
    );
    assert_exit_plugins_ran(&outcome);
    assert_eq!(host.inner.stored_outcome().as_ref(), Some(&outcome));
    assert!(outcome.results.image_id.is_none());
    assert!(!container_commands().contains("osbs-fails-fixture"));
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("fails_failed", snapshot_json(&outcome, &image, &repo.commit));
    });
}

#[test]
fn cancel_during_the_build_step_ends_cancelled_within_5s() {
    require_services();
    let repo = fixture_repo("slow");
    let image = format!("osbs-test/{}", unique("slow"));
    // `sleeping` is printed by the RUN step's container: the build step is under way.
    let host = TestHost::new(request(&repo.url, &push_registry(), &image)).cancel_on("sleeping");
    let outcome = build(&host);
    let finished = Instant::now();
    assert_eq!(
        outcome.phase,
        BuildPhase::Cancelled,
        "{}",
        summary(&outcome)
    );
    assert_eq!(outcome.reason.as_deref(), Some("build cancelled"));
    let cancelled_at = host.cancelled_at.lock().unwrap().expect("cancel requested");
    let took = finished - cancelled_at;
    assert!(took.as_secs_f64() < 5.0, "cancel took {took:?}");
    assert!(
        outcome
            .results
            .plugins_metadata
            .timestamps
            .contains_key("docker_api")
    );
    assert_exit_plugins_ran(&outcome);
    // The daemon-side build really stopped: its step container goes away (a loaded daemon may
    // still be finishing the removal when the build has already ended).
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    while container_commands().contains("sleeping && sleep 60") && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        !container_commands().contains("sleeping && sleep 60"),
        "{}",
        container_commands()
    );
}

#[test]
fn autorebuild_respects_the_repo_config() {
    require_services();
    let registry = push_registry();

    let repo = fixture_repo("autorebuild-disabled");
    let image = format!("osbs-test/{}", unique("noauto"));
    let mut req = request(&repo.url, &registry, &image);
    req.is_autorebuild = true;
    let host = TestHost::new(req);
    let outcome = build(&host);
    assert_eq!(
        outcome.phase,
        BuildPhase::Cancelled,
        "{}",
        summary(&outcome)
    );
    assert_eq!(
        outcome.reason.as_deref(),
        Some("autorebuild disabled in .osbs-repo-config")
    );
    assert!(
        !outcome
            .results
            .plugins_metadata
            .timestamps
            .contains_key("docker_api")
    );
    assert!(host.inner.build_config_labels().is_empty());
    assert_exit_plugins_ran(&outcome);

    // No repo config: autorebuilds are on by default.
    let repo = fixture_repo("explicit-release");
    let image = format!("osbs-test/{}", unique("auto"));
    let mut req = request(&repo.url, &registry, &image);
    req.is_autorebuild = true;
    let outcome = build(&TestHost::new(req));
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    // An autorebuild of an explicit release 7 gets a counter.
    assert_eq!(outcome.results.release.as_deref(), Some("7.1"));
}

#[test]
fn an_explicit_release_that_exists_fails_clearly() {
    require_services();
    let registry = push_registry();
    let repo = fixture_repo("explicit-release");
    let image = format!("osbs-test/{}", unique("explicit"));
    let outcome = build(&TestHost::new(request(&repo.url, &registry, &image)));
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert_eq!(outcome.results.release.as_deref(), Some("7"));

    let outcome = build(&TestHost::new(request(&repo.url, &registry, &image)));
    assert_eq!(outcome.phase, BuildPhase::Failed, "{}", summary(&outcome));
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "Error in plugin bump_release: release 7 already exists: tag `2-7` is in the target repository"
        )
    );
    assert_exit_plugins_ran(&outcome);
}

/// With a sync target, `registry_sync` copies every pushed tag to the second registry by
/// digest: the sync registry serves the same digests, and the results record them.
#[test]
fn registry_sync_copies_every_pushed_tag_with_its_digest() {
    require_services();
    let registry = push_registry();
    let sync_registry = osbs_testkit::sync_registry();
    let repo = fixture_repo("small");
    let image = format!("osbs-test/{}", unique("synced"));
    let mut request = request(&repo.url, &registry, &image);
    request.sync_target = Some(osbs_core::build::SyncTarget {
        name: "stage".to_owned(),
        registry_uri: sync_registry.clone(),
        registry_secret: None,
    });
    let host = TestHost::new(request);
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    let results = &outcome.results;
    assert_eq!(results.sync.len(), results.digests.len());
    assert_eq!(
        registry_tags(&sync_registry, &image),
        registry_tags(&registry, &image)
    );
    for (pushed, synced) in results.digests.iter().zip(&results.sync) {
        assert_eq!(synced.registry, sync_registry);
        assert_eq!(
            (&synced.repository, &synced.tag),
            (&pushed.repository, &pushed.tag)
        );
        assert_eq!(synced.digest, pushed.digest);
        assert_eq!(
            served_digest(&sync_registry, &image, &synced.tag),
            pushed.digest
        );
    }
    assert!(
        results
            .plugins_metadata
            .durations
            .contains_key("registry_sync"),
        "registry_sync ran"
    );

    // Without a sync target the plugin is skipped and nothing is recorded.
    let host = TestHost::new(crate::support::request(&repo.url, &registry, &image));
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert!(outcome.results.sync.is_empty());
}

/// The id of the local image `reference`.
fn local_image_id(reference: &str) -> String {
    osbs_testkit::fixture::run(
        std::process::Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", reference]),
    )
    .trim()
    .to_owned()
}

/// The tags this build left in the base-hold repository.
fn holds_of(build_name: &str) -> Vec<String> {
    osbs_testkit::fixture::run(std::process::Command::new("docker").args([
        "images",
        "--format",
        "{{.Tag}}",
        "localhost/osbs-reactor/base-hold",
    ]))
    .lines()
    .filter(|tag| tag.starts_with(build_name))
    .map(str::to_owned)
    .collect()
}

/// `request` for the classic builder: its intermediate images are the layer cache that
/// clean-up must not prune (BuildKit keeps its cache apart from images).
fn classic(mut request: osbs_core::build::BuildRequest) -> osbs_core::build::BuildRequest {
    request.builder = Some(osbs_core::build::Builder::Classic);
    request
}

#[test]
fn the_base_image_is_held_and_pinned_and_clean_up_spares_other_builds() {
    require_services();
    let registry = push_registry();
    // A base image of this test's own, so removing its tag cannot disturb other tests.
    let name = unique("held-base");
    let base = format!("{registry}/osbs-test/{name}:latest");
    let dockerfile = format!(
        "FROM {}\nLABEL osbs-test-base={name}\n",
        osbs_testkit::base_image()
    );
    let mut docker_build = std::process::Command::new("docker");
    docker_build
        .args(["build", "--quiet", "--tag", &base, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = docker_build.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), dockerfile.as_bytes()).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    osbs_testkit::fixture::run(std::process::Command::new("docker").args(["push", &base]));
    let base_id = local_image_id(&base);
    // Holds that other runs left: one from a run killed long ago, one of a run going on now.
    let stale = format!("localhost/osbs-reactor/base-hold:{name}-killed-20200101000000");
    let live = format!("localhost/osbs-reactor/base-hold:{name}-running-99991231000000");
    for hold in [&stale, &live] {
        osbs_testkit::fixture::run(std::process::Command::new("docker").args(["tag", &base, hold]));
    }

    // While the build runs, another build's clean-up untags the base image's only name (as a
    // finished base build does in an autorebuild cascade). The hold keeps the image.
    let repo = fixture_repo_from("small", &base);
    let image = format!("osbs-test/{}", unique("held"));
    let untag = base.clone();
    let host = TestHost::new(classic(request(&repo.url, &registry, &image))).on_line(move |line| {
        if line.contains("held as") {
            osbs_testkit::fixture::run(std::process::Command::new("docker").args(["rmi", &untag]));
        }
    });
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    let results = &outcome.results;
    assert_eq!(results.base_image_id.as_deref(), Some(base_id.as_str()));
    let built_from = results
        .dockerfile
        .as_deref()
        .unwrap()
        .lines()
        .find(|l| l.starts_with("FROM "))
        .unwrap()
        .to_owned();
    assert_eq!(built_from, format!("FROM {base_id}"));
    let labels = image_labels(&registry, &image, "latest");
    assert_eq!(labels["osbs-test-base"], name.as_str(), "{labels}");

    // Its own references are gone: the built image and the hold on the base.
    let build_name = format!("{}-1", image.replace('/', "-"));
    assert!(!image_exists(results.image_id.as_deref().unwrap()));
    assert_eq!(holds_of(&build_name), Vec::<String>::new());
    // The stale hold went with it; the live one stays.
    assert_eq!(
        holds_of(&name),
        vec![format!("{name}-running-99991231000000")]
    );
    osbs_testkit::fixture::run(std::process::Command::new("docker").args(["rmi", &live]));
    assert!(
        host.log_text().contains(&format!(
            "removed localhost/osbs-reactor/base-hold:{build_name}"
        )),
        "{}",
        host.log_text()
    );

    // The layer cache it made was not pruned with it: the next build of the same source uses it.
    let again = format!("osbs-test/{}", unique("held-again"));
    let host = TestHost::new(classic(request(&repo.url, &registry, &again)));
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert!(
        host.log_text().contains("Using cache"),
        "{}",
        host.log_text()
    );
}

/// Builds and pushes a base image of a test's own with `label`; returns its reference.
fn push_own_base(name: &str, label: &str) -> String {
    let base = format!("{}/osbs-test/{name}:latest", push_registry());
    let dockerfile = format!(
        "FROM {}\nLABEL osbs-test-base={label}\n",
        osbs_testkit::base_image()
    );
    let mut docker_build = std::process::Command::new("docker");
    docker_build
        .args(["build", "--quiet", "--tag", &base, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = docker_build.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), dockerfile.as_bytes()).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    osbs_testkit::fixture::run(std::process::Command::new("docker").args(["push", &base]));
    base
}

/// The pinned base image vanishes (removed by force, hold and all) between `pull_base_image`
/// and the build step: the build pulls it again and completes from exactly that image; when the
/// registry serves another image by then, the build fails naming the base, and never falls
/// back to Docker Hub.
#[test]
fn a_vanished_pinned_base_is_pulled_again_or_named() {
    require_services();
    let registry = push_registry();
    // Fresh bases (no layer cache builds on them yet), so a forced removal can take them.
    let name = unique("vanishing-base");
    let base = push_own_base(&name, &format!("{name}-one"));
    let base_id = local_image_id(&base);
    let repo = fixture_repo_from("small", &base);

    // The same image is still in the registry: pulled again, the build completes.
    let image = format!("osbs-test/{}", unique("vanished"));
    let id = base_id.clone();
    let host = TestHost::new(request(&repo.url, &registry, &image)).on_line(move |line| {
        if line.contains("held as") {
            osbs_testkit::fixture::run(
                std::process::Command::new("docker").args(["rmi", "--force", &id]),
            );
        }
    });
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert_eq!(
        outcome.results.base_image_id.as_deref(),
        Some(base_id.as_str())
    );
    assert!(
        host.log_text()
            .contains("vanished from the Docker Engine before the build"),
        "{}",
        host.log_text()
    );

    // The registry moved on meanwhile: the build fails and names the base.
    let name = unique("moving-base");
    let base = push_own_base(&name, &format!("{name}-one"));
    let repo = fixture_repo_from("small", &base);
    let image = format!("osbs-test/{}", unique("vanished-moved"));
    let (id, moved) = (local_image_id(&base), base.clone());
    let name2 = name.clone();
    let host = TestHost::new(request(&repo.url, &registry, &image)).on_line(move |line| {
        if line.contains("held as") {
            osbs_testkit::fixture::run(
                std::process::Command::new("docker").args(["rmi", "--force", &id]),
            );
            let _ = push_own_base(&name2, &format!("{name2}-two"));
            osbs_testkit::fixture::run(std::process::Command::new("docker").args(["rmi", &moved]));
        }
    });
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Failed, "{}", summary(&outcome));
    let error = outcome.error.clone().unwrap_or_default();
    assert!(error.contains(&base), "{error}");
    assert!(error.contains("registry now serves"), "{error}");
    assert!(!error.contains("docker.io"), "{error}");
}

/// The local names (`repository:tag`) the Docker Engine has in `repository`.
fn local_names(repository: &str) -> Vec<String> {
    osbs_testkit::fixture::run(std::process::Command::new("docker").args([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        repository,
    ]))
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The results are stored before the clean-up (the Build is final while it runs, so the next
/// build of the BuildConfig may start), which is safe because the build never gives its image
/// a name another build shares: in the Engine it is only ever tagged with its unique tag, on
/// either push path, and the clean-up leaves no image and no tag of the build behind.
#[test]
fn a_build_tags_only_its_own_names_and_leaves_nothing_behind_on_either_push_path() {
    use osbs_core::build::PushMethod;
    use std::sync::{Arc, Mutex};

    require_services();
    let registry = push_registry();
    let repo = fixture_repo("small");
    for method in [PushMethod::Reactor, PushMethod::Engine] {
        let image = format!("osbs-test/{}", unique(&format!("own-names-{method}")));
        let local_repository = format!("{registry}/{image}");
        let mut request = request(&repo.url, &registry, &image);
        request.push_method = method;
        // The image's local names right after the push and when the clean-up starts.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let watched = local_repository.clone();
        let host = TestHost::new(request).on_line(move |line| {
            if line == "running plugin registry_sync" || line == "running plugin remove_built_image"
            {
                record.lock().unwrap().push(local_names(&watched));
            }
        });
        let outcome = build(&host);
        assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
        let results = &outcome.results;
        assert_eq!(results.digests.len(), 4, "{method}");
        assert_eq!(results.repositories.primary.len(), 3, "{method}");
        let unique_name = results.repositories.unique[0].clone();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![vec![unique_name.clone()], vec![unique_name.clone()]],
            "{method}: the shared names (latest, 1, 1-1) were made locally"
        );
        // Every tag is in the registry with the digest the results name.
        assert_digests_served(&registry, &image, &results.digests, &format!("{method}: "));

        // Stored, then cleaned up.
        let log = host.log_text();
        let at = |line: &str| log.lines().position(|l| l == line).unwrap_or(usize::MAX);
        assert!(
            at("running plugin store_metadata") < at("running plugin remove_built_image"),
            "{log}"
        );
        assert!(
            log.contains(&format!("removed {unique_name}")),
            "{method}: {log}"
        );
        assert_eq!(host.inner.stored_outcome().as_ref(), Some(&outcome));

        // Nothing of the build is left in the Engine: no name in its repository, no hold, no
        // BuildKit export name, no image.
        let build_name = format!("{}-1", image.replace('/', "-"));
        assert_eq!(
            local_names(&local_repository),
            Vec::<String>::new(),
            "{method}"
        );
        assert_eq!(holds_of(&build_name), Vec::<String>::new(), "{method}");
        assert!(
            !local_names("localhost/osbs-reactor/built")
                .iter()
                .any(|name| name.contains(&build_name)),
            "{method}"
        );
        assert!(
            !image_exists(results.image_id.as_deref().unwrap()),
            "{method}"
        );
    }
}

/// The manifest `HEAD`s of `repository:tag` the proxy saw.
fn manifest_heads(
    proxy: &osbs_testkit::fault_proxy::FaultProxy,
    repository: &str,
    tag: &str,
) -> usize {
    let target = format!("/v2/{repository}/manifests/{tag}");
    proxy
        .requests()
        .iter()
        .filter(|r| r.method == "HEAD" && r.target == target)
        .count()
}

/// A base image hint in the request starts the base's lookup while the source is cloned:
/// when the cloned `FROM` names the same image, `pull_base_image` uses that answer (one digest
/// check in all, none of its own); when it names another, the build looks up its own base
/// again and builds from it.
#[test]
fn the_base_image_hint_is_looked_up_during_the_clone_and_used_only_for_that_image() {
    use osbs_testkit::fault_proxy::FaultProxy;
    use std::sync::Arc;
    use std::time::Duration;

    require_services();
    let proxy = Arc::new(FaultProxy::start(&push_registry(), 0.0, 1));
    // The base through the proxy, so its registry's requests are counted.
    let base = format!("{}/osbs/busybox:latest", proxy.addr());
    let repo = fixture_repo_from("small", &base);
    osbs_testkit::fixture::run(std::process::Command::new("docker").args(["pull", &base]));
    let base_id = local_image_id(&base);

    // The hint names the FROM's image: once the early lookup reached the registry, every
    // registry request fails until `pull_base_image` is done, so the build only finds the
    // base's digest (rather than warning that it cannot check it) through the early answer.
    proxy.clear();
    let image = format!("osbs-test/{}", unique("base-hint"));
    let mut same = request(&repo.url, proxy.addr(), &image);
    same.base_image_hint = Some(base.clone());
    let switch = Arc::clone(&proxy);
    let host = TestHost::new(same).on_line(move |line| {
        if line == "running plugin pull_base_image" {
            let deadline = Instant::now() + Duration::from_secs(20);
            while manifest_heads(&switch, "osbs/busybox", "latest") == 0
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            switch.set_rate(1.0);
        } else if line == "running plugin add_labels" {
            switch.set_rate(0.0);
        }
    });
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert_eq!(
        outcome.results.base_image_id.as_deref(),
        Some(base_id.as_str())
    );
    let log = host.log_text();
    assert!(
        log.contains(&format!("{base} is present with digest sha256:")),
        "{log}"
    );
    assert!(!log.contains("cannot check"), "{log}");
    assert_eq!(
        manifest_heads(&proxy, "osbs/busybox", "latest"),
        1,
        "{:#?}",
        proxy.requests()
    );

    // The hint names another image: its answer is not used, the FROM's base is looked up.
    proxy.clear();
    let image = format!("osbs-test/{}", unique("base-hint"));
    let mut other = request(&repo.url, proxy.addr(), &image);
    other.base_image_hint = Some(format!("{}/osbs/not-the-base:latest", proxy.addr()));
    let host = TestHost::new(other);
    let outcome = build(&host);
    assert_eq!(outcome.phase, BuildPhase::Complete, "{}", summary(&outcome));
    assert_eq!(
        outcome.results.base_image_id.as_deref(),
        Some(base_id.as_str())
    );
    assert_eq!(
        manifest_heads(&proxy, "osbs/busybox", "latest"),
        1,
        "{:#?}",
        proxy.requests()
    );
    let _ = std::process::Command::new("docker")
        .args(["rmi", &base])
        .output();
}
