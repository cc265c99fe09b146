//! The BuildKit builder against the real Docker Engine: cache mounts reused across builds,
//! secrets that end up nowhere, two-stage builds on both builders, and the classic builder's
//! clear refusal of `RUN --mount`.

use std::process::Command;

use osbs_core::build::{BuildOutcome, BuildPhase, Builder};
use osbs_testkit::fixture::run;
use osbs_testkit::{push_registry, require_services};

use crate::support::*;

/// `fixtures/repos/NAME` as a git repository, with `@CACHE_ID@` made unique.
fn repo(name: &str, cache_id: &str) -> FixtureRepo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let commit = osbs_testkit::fixture::git_repo_from_fixture(
        &fixtures().join("repos").join(name),
        &path,
        &[
            (
                "127.0.0.1:5000/osbs/busybox:latest",
                &osbs_testkit::base_image(),
            ),
            ("@CACHE_ID@", cache_id),
        ],
    );
    FixtureRepo {
        url: format!("file://{}", path.display()),
        _dir: dir,
        commit,
    }
}

/// Builds `repo` as `image` with `builder`, the request changed by `change`.
fn build_with(
    repo: &FixtureRepo,
    image: &str,
    builder: Builder,
    change: impl FnOnce(&mut osbs_core::build::BuildRequest),
) -> (BuildOutcome, String) {
    let mut request = request(&repo.url, &push_registry(), image);
    request.builder = Some(builder);
    change(&mut request);
    let host = TestHost::new(request);
    let outcome = build(&host);
    (outcome, host.log_text())
}

/// `cat FILE` in a container of the pushed `image:latest`.
fn cat_in_image(image: &str, file: &str) -> String {
    let reference = format!("{}/{image}:latest", push_registry());
    let out = run(Command::new("docker").args(["run", "--rm", &reference, "cat", file]));
    let _ = Command::new("docker").args(["rmi", &reference]).output();
    out.trim().to_owned()
}

#[test]
fn a_cache_mount_is_reused_by_the_next_build() {
    require_services();
    let repo = repo("cache-mount", &unique("osbs-cache"));
    let image = format!("osbs-test/{}", unique("cache"));
    let (first, log) = build_with(&repo, &image, Builder::Buildkit, |_| {});
    assert_eq!(
        first.phase,
        BuildPhase::Complete,
        "{}\n{log}",
        summary(&first)
    );
    assert!(log.contains("building with BuildKit"), "{log}");
    // BuildKit's status stream reaches the build log as plain lines.
    assert!(log.contains("RUN --mount=type=cache"), "{log}");
    assert!(log.lines().any(|l| l.contains(" DONE ")), "{log}");
    // BuildKit builds the held base by its digest; the results keep the FROM pinned to its id.
    let base = osbs_testkit::base_image();
    let (repository, _) = base.rsplit_once(':').unwrap();
    let base_id = first.results.base_image_id.clone().unwrap();
    assert!(log.contains(&format!("FROM {repository}@sha256:")), "{log}");
    let dockerfile = first.results.dockerfile.clone().unwrap();
    assert!(
        dockerfile.contains(&format!("FROM {base_id}")),
        "{dockerfile}"
    );
    assert_eq!(cat_in_image(&image, "/runs-count"), "1");

    // A new build argument invalidates the RUN's layer, not its cache mount.
    let (second, log) = build_with(&repo, &image, Builder::Buildkit, |r| {
        r.variant
            .build_args
            .insert("RUN_ID".to_owned(), "second".to_owned());
    });
    assert_eq!(
        second.phase,
        BuildPhase::Complete,
        "{}\n{log}",
        summary(&second)
    );
    assert_eq!(cat_in_image(&image, "/runs-count"), "2");
    assert_ne!(first.results.image_id, second.results.image_id);
    // The image id the results name is the pushed image's.
    let id = second.results.image_id.clone().unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        image_labels(&push_registry(), &image, "latest")["name"],
        "osbs/cache-mount"
    );
}

#[test]
fn a_secret_mount_leaves_the_secret_nowhere() {
    require_services();
    let repo = repo("secret-mount", "unused");
    let image = format!("osbs-test/{}", unique("secret"));
    let secret = format!("s3cr3t-{}", unique("token"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, &secret).unwrap();
    let (outcome, log) = build_with(&repo, &image, Builder::Buildkit, |r| {
        r.build_secrets
            .insert("token".to_owned(), file.display().to_string());
        // A secret is not part of the layer cache key: another run's layer would do.
        r.no_cache = true;
    });
    assert_eq!(
        outcome.phase,
        BuildPhase::Complete,
        "{}\n{log}",
        summary(&outcome)
    );

    // The RUN saw the secret: the image records its hash.
    let sha = run(Command::new("sha256sum").arg(&file));
    assert_eq!(cat_in_image(&image, "/token.sha256"), sha[..64]);
    // Not in the log, not in the results, not in any layer of the image.
    assert!(!log.contains(&secret), "{log}");
    let results = serde_json::to_string(&outcome).unwrap();
    assert!(!results.contains(&secret), "{results}");
    let reference = format!("{}/{image}:latest", push_registry());
    run(Command::new("docker").args(["pull", "--quiet", &reference]));
    let saved = Command::new("docker")
        .args(["save", &reference])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", &reference]).output();
    assert!(saved.status.success());
    assert!(saved.stdout.len() > 100_000, "an image was exported");
    let found = saved
        .stdout
        .windows(secret.len())
        .any(|w| w == secret.as_bytes());
    assert!(!found, "the secret is in the image's layers");
}

#[test]
fn a_missing_secret_file_fails_naming_it() {
    require_services();
    let repo = repo("secret-mount", "unused");
    let image = format!("osbs-test/{}", unique("nosecret"));
    let (outcome, log) = build_with(&repo, &image, Builder::Buildkit, |r| {
        r.build_secrets
            .insert("token".to_owned(), "/nonexistent/osbs-token".to_owned());
    });
    assert_eq!(outcome.phase, BuildPhase::Failed, "{log}");
    let error = outcome.error.unwrap();
    assert!(
        error.contains("docker_api") && error.contains("/nonexistent/osbs-token"),
        "{error}"
    );
}

#[test]
fn two_stages_build_on_both_builders() {
    require_services();
    let repo = repo("two-stage", "unused");
    for builder in [Builder::Buildkit, Builder::Classic] {
        let image = format!("osbs-test/{}", unique(&format!("stages-{builder}")));
        let (outcome, log) = build_with(&repo, &image, builder, |_| {});
        assert_eq!(outcome.phase, BuildPhase::Complete, "{builder}: {log}");
        assert_eq!(cat_in_image(&image, "/both"), "one\ntwo", "{builder}");
        assert!(outcome.results.base_image_id.is_some(), "{builder}");
        // The clean-up removed what the build tagged locally (BuildKit's own tag too).
        let id = outcome.results.image_id.unwrap();
        assert!(!image_exists(&id), "{builder}: {id} left behind");
    }
}

#[test]
fn the_classic_builder_refuses_mounts_saying_buildkit_is_needed() {
    require_services();
    let repo = repo("cache-mount", &unique("osbs-cache"));
    let image = format!("osbs-test/{}", unique("classic-mount"));
    let (outcome, log) = build_with(&repo, &image, Builder::Classic, |_| {});
    assert_eq!(outcome.phase, BuildPhase::Failed, "{log}");
    let error = outcome.error.unwrap();
    assert!(
        error.contains("docker_api") && error.contains("requires BuildKit"),
        "{error}"
    );
}

#[test]
fn a_failing_run_fails_naming_docker_api() {
    require_services();
    let repo = fixture_repo("fails");
    let image = format!("osbs-test/{}", unique("fails-bk"));
    let (outcome, log) = build_with(&repo, &image, Builder::Buildkit, |_| {});
    assert_eq!(outcome.phase, BuildPhase::Failed, "{log}");
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "Error in plugin docker_api: build failed: executor failed running [/bin/sh -c echo \
             osbs-fails-fixture && false]: exit code: 1"
        )
    );
    // The step's output and the error reached the log; nothing of the build is left.
    assert!(log.contains("osbs-fails-fixture"), "{log}");
    assert!(log.contains("ERROR: executor failed running"), "{log}");
    assert!(outcome.results.image_id.is_none());
    assert!(!container_commands().contains("osbs-fails-fixture"));
}
