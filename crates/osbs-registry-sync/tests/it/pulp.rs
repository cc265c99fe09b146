//! Against the real Pulp 3 of `cargo xtask services up --pulp` (pulpcore + pulp_container,
//! token auth on; these tests fail in CI without it and skip elsewhere): a copy between two
//! Pulp repositories mounts its blobs, and a mount Pulp refuses falls back to an upload; the
//! sync of a 20-tag repository with the default jobs succeeds ten runs out of ten.

use std::time::Instant;

use bytes::Bytes;
use osbs_registry_sync::{CopyOptions, Error, RegistryClient, copy_image};
use osbs_testkit::{PULP_PASSWORD, PULP_USER, pulp_registry, push_registry};
use serde_json::json;

use crate::support::{
    Proxy, basic, cli, client, client_with, oci_image, push_image, services, tar_with, unique,
};

/// A Pulp user that may create namespaces (and push to them) but has no other permission.
const LIMITED_USER: &str = "osbs-test-limited";
const LIMITED_PASSWORD: &str = "osbs-Test-limited-9";

/// A repository name for Pulp: `registry-sync-tests/NAME-…` like the other tests.
fn pulp_repo(name: &str) -> String {
    unique(name)
}

fn admin(addr: &str) -> RegistryClient {
    client_with(addr, Some(basic(PULP_USER, PULP_PASSWORD)))
}

/// An image whose layer is `shared` plus one of its own.
fn image_with(shared: &Bytes, own: &str) -> crate::support::TestImage {
    oci_image(
        "amd64",
        &[shared.clone(), tar_with("own.txt", own.as_bytes())],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_between_two_pulp_repositories_mounts_its_blobs() {
    if !osbs_testkit::require_pulp() {
        return;
    }
    osbs_registry_sync::install_crypto_provider();
    let pulp = pulp_registry();
    let src_name = pulp_repo("pulp-mount-src");
    let dst_name = pulp_repo("pulp-mount-dst");
    let image = image_with(&tar_with("base.txt", b"pulp mount base"), &src_name);
    push_image(&admin(&pulp).repository(&src_name), "v1", &image).await;

    // Through a counting proxy: Pulp's challenge names the proxy's address as the service, so
    // the tokens are for it; the token server itself is reached directly.
    let proxy = Proxy::start(&pulp).await;
    let registry = admin(&proxy.addr);
    let summary = copy_image(
        &registry.repository(&src_name),
        "v1",
        &registry.repository(&dst_name),
        Some("v1"),
        &CopyOptions::default(),
    )
    .await
    .unwrap();

    assert_eq!(
        (summary.blobs_mounted, summary.blobs_copied),
        (image.blobs.len() as u64, 0),
        "{summary:?}"
    );
    let requests = proxy.requests();
    let mounts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("mount="))
        .count();
    assert_eq!(mounts, image.blobs.len(), "{requests:#?}");
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/")),
        "no blob uploaded: {requests:#?}"
    );
    assert_eq!(
        admin(&pulp)
            .repository(&dst_name)
            .manifest_digest("v1")
            .await
            .unwrap(),
        Some(image.manifest.digest.clone())
    );

    // The command line, as the issue ran it: a promotion within Pulp, token auth.
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), osbs_testkit::pulp_docker_config()).unwrap();
    let authfile = config.path().display().to_string();
    let source = format!("{pulp}/{src_name}:v1");
    let target = format!("{pulp}/{}:v2", pulp_repo("pulp-mount-cli"));
    let out = tokio::task::spawn_blocking(move || {
        cli(&[
            "--authfile",
            &authfile,
            "--quiet",
            "--output",
            "json",
            "copy",
            &source,
            &target,
        ])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        summary["blobs_mounted"],
        json!(image.blobs.len()),
        "{summary}"
    );
}

/// Pulp's REST API as its administrator.
struct PulpApi {
    http: reqwest::Client,
    base: String,
}

impl PulpApi {
    fn new() -> PulpApi {
        PulpApi {
            http: reqwest::Client::new(),
            base: format!("http://{}", pulp_registry()),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(PULP_USER, Some(PULP_PASSWORD));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(json!(text)))
    }

    /// Waits for the task at `href` to complete.
    async fn wait_task(&self, href: &str) {
        let started = Instant::now();
        loop {
            let (_, task) = self.call(reqwest::Method::GET, href, None).await;
            match task["state"].as_str() {
                Some("completed") => return,
                Some("failed" | "canceled") => panic!("pulp task failed: {task}"),
                _ => {}
            }
            assert!(started.elapsed().as_secs() < 60, "pulp task hangs: {task}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Makes sure [`LIMITED_USER`] exists and may create namespaces, nothing else.
    async fn limited_user(&self) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/pulp/api/v3/users/",
                Some(json!({"username": LIMITED_USER, "password": LIMITED_PASSWORD})),
            )
            .await;
        assert!(status == 201 || status == 400, "{status} {body}");
        let (_, users) = self
            .call(
                reqwest::Method::GET,
                &format!("/pulp/api/v3/users/?username={LIMITED_USER}"),
                None,
            )
            .await;
        let href = users["results"][0]["pulp_href"]
            .as_str()
            .unwrap_or_else(|| panic!("no user {LIMITED_USER}: {users}"))
            .to_owned();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("{href}roles/"),
                Some(
                    json!({"role": "container.containernamespace_creator", "content_object": null}),
                ),
            )
            .await;
        // 400 when the role is already assigned.
        assert!(status == 201 || status == 400, "{status} {body}");
    }

    /// Makes the distribution of `repository` private: only permitted users may pull.
    async fn make_private(&self, repository: &str) {
        let (_, found) = self
            .call(
                reqwest::Method::GET,
                &format!("/pulp/api/v3/distributions/container/container/?base_path={repository}"),
                None,
            )
            .await;
        let href = found["results"][0]["pulp_href"]
            .as_str()
            .unwrap_or_else(|| panic!("no distribution {repository}: {found}"))
            .to_owned();
        let (status, task) = self
            .call(
                reqwest::Method::PATCH,
                &href,
                Some(json!({"private": true})),
            )
            .await;
        assert_eq!(status, 202, "{task}");
        self.wait_task(task["task"].as_str().unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mount_pulp_refuses_falls_back_to_an_upload() {
    if !osbs_testkit::require_pulp() {
        return;
    }
    osbs_registry_sync::install_crypto_provider();
    let pulp = pulp_registry();
    let api = PulpApi::new();
    api.limited_user().await;
    let src_name = pulp_repo("pulp-private-src");
    let image = image_with(&tar_with("base.txt", b"pulp private base"), &src_name);
    push_image(&admin(&pulp).repository(&src_name), "v1", &image).await;
    api.make_private(&src_name).await;

    // The destination's user may push to a namespace of its own but not read the source:
    // Pulp's token leaves out `repository:SRC:pull`, and the mount is refused.
    let limited = client_with(&pulp, Some(basic(LIMITED_USER, LIMITED_PASSWORD)));
    let err = limited
        .repository(&src_name)
        .manifest("v1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientScope { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!(
            "(401 insufficient_scope): the token does not grant all of repository:{src_name}:pull"
        )),
        "{err}"
    );

    let proxy = Proxy::start(&pulp).await;
    let src = admin(&proxy.addr);
    let dst = client_with(&proxy.addr, Some(basic(LIMITED_USER, LIMITED_PASSWORD)));
    let dst_name = format!(
        "{}/app",
        unique("osbs-limited").replace('/', "-").to_lowercase()
    );
    let summary = copy_image(
        &src.repository(&src_name),
        "v1",
        &dst.repository(&dst_name),
        Some("v1"),
        &CopyOptions::default(),
    )
    .await
    .unwrap();

    assert_eq!(
        (summary.blobs_mounted, summary.blobs_copied),
        (0, image.blobs.len() as u64),
        "{summary:?}"
    );
    let requests = proxy.requests();
    let mounts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("mount="))
        .count();
    assert!(
        (1..=image.blobs.len()).contains(&mounts),
        "the mount was asked and refused: {requests:#?}"
    );
    let uploads = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(uploads, image.blobs.len(), "{requests:#?}");
    let limited_direct = client_with(&pulp, Some(basic(LIMITED_USER, LIMITED_PASSWORD)));
    assert_eq!(
        limited_direct
            .repository(&dst_name)
            .manifest_digest("v1")
            .await
            .unwrap(),
        Some(image.manifest.digest.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncing_twenty_tags_into_pulp_with_the_default_jobs_succeeds_ten_times_of_ten() {
    if !osbs_testkit::require_pulp() {
        return;
    }
    services();
    let pulp = pulp_registry();
    let src_name = unique("pulp-twenty");
    let src = client(&push_registry()).repository(&src_name);
    let shared = tar_with("base.txt", b"twenty tags share this layer");
    let mut images = Vec::new();
    for n in 0..20 {
        let image = image_with(&shared, &format!("{src_name} tag {n}"));
        push_image(&src, &format!("t{n:02}"), &image).await;
        images.push(image);
    }
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), osbs_testkit::pulp_docker_config()).unwrap();

    let mut seconds = Vec::new();
    let mut last = String::new();
    for run in 0..10 {
        // skopeo's form: the source's last path component goes under the destination prefix.
        let dst_prefix = unique(&format!("pulp-twenty-run{run}"));
        let dst_name = format!(
            "{dst_prefix}/{}",
            src_name.rsplit('/').next().unwrap_or(&src_name)
        );
        let args = [
            "--authfile".to_owned(),
            config.path().display().to_string(),
            "--quiet".to_owned(),
            "sync".to_owned(),
            "--src".to_owned(),
            "docker".to_owned(),
            "--dest".to_owned(),
            "docker".to_owned(),
            format!("{}/{src_name}", push_registry()),
            format!("{pulp}/{dst_prefix}"),
        ];
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&args)
        })
        .await
        .unwrap();
        seconds.push(started.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "run {} of 10 failed: {}",
            run + 1,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("images: 20 copied, 0 unchanged"),
            "{stdout}"
        );
        last = dst_name;
    }
    eprintln!("ten syncs of 20 tags into Pulp: {seconds:.2?} s");

    // The digests read back from Pulp are the source's.
    let dst = admin(&pulp).repository(&last);
    for (n, image) in images.iter().enumerate() {
        assert_eq!(
            dst.manifest_digest(&format!("t{n:02}")).await.unwrap(),
            Some(image.manifest.digest.clone()),
            "t{n:02}"
        );
    }
    // A re-sync of the unchanged repository moves nothing.
    let again = osbs_registry_sync::sync_repository(
        &src,
        &dst,
        &osbs_registry_sync::SyncOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!((again.images_copied, again.images_skipped), (0, 20));
    assert_eq!(again.bytes_copied, 0);
}
