//! Names of the service's objects, derived from what the user gave: the BuildConfig name of a
//! (git repository, branch) pair and the ImageStream name of an image (SPEC §2).
//!
//! Both are DNS-1123 labels so that the same names work as SQLite keys locally and as object
//! names on Kubernetes.

use sha2::{Digest, Sha256};

/// The longest DNS-1123 label Kubernetes accepts.
pub const MAX_NAME_LEN: usize = 63;

/// Hex characters of the hash suffix that keeps BuildConfig names unique.
const SUFFIX_LEN: usize = 5;

/// The path part of a git URL, the part that names the repository whatever the transport:
/// `https://host/ns/repo.git` and `git@host:ns/repo.git` both give `ns/repo`. A trailing `/`
/// and `.git` are dropped, so the spellings of one repository share one BuildConfig.
pub fn git_url_path(url: &str) -> &str {
    let rest = match url.split_once("://") {
        // scheme://[user@]host[:port]/path
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        // scp-like [user@]host:path, or a plain local path
        None => match url.split_once(':') {
            Some((host, path)) if !host.contains('/') => path,
            _ => url,
        },
    };
    let rest = rest.trim_matches('/');
    rest.strip_suffix(".git")
        .unwrap_or(rest)
        .trim_end_matches('/')
}

/// The repository name of a git URL: the last component of its path (`ns/repo.git` → `repo`).
pub fn git_repo_name(url: &str) -> &str {
    let path = git_url_path(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// Lowercases `raw` and turns every run of characters outside `[a-z0-9]` into one `-`, without
/// leading or trailing `-`.
pub fn dns1123_sanitise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The BuildConfig name of `(git_url, branch)`: `<repo>-<branch>` sanitised to a DNS-1123
/// label and cut so that, with a `-` and a 5-hex-character suffix of
/// sha256(url path, NUL, branch), it has at most 63 characters. Forks (same repository name,
/// other path) and names that sanitise alike never collide.
pub fn build_config_name(git_url: &str, branch: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(git_url_path(git_url).as_bytes());
    hasher.update([0]);
    hasher.update(branch.as_bytes());
    let digest = hasher.finalize();
    let suffix: String = digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(SUFFIX_LEN)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
        .collect();
    let mut prefix = dns1123_sanitise(&format!("{}-{branch}", git_repo_name(git_url)));
    prefix.truncate(MAX_NAME_LEN - SUFFIX_LEN - 1);
    while prefix.ends_with('-') {
        prefix.pop();
    }
    if prefix.is_empty() {
        prefix.push_str("build");
    }
    format!("{prefix}-{suffix}")
}

/// The name of the n-th Build of a BuildConfig: `<buildconfig>-<n>`.
pub fn build_name(build_config: &str, n: u64) -> String {
    format!("{build_config}-{n}")
}

/// The ImageStream name of an image name: `/` replaced by `-` (`osbs/app` → `osbs-app`).
/// For an external base image pass the repository path without the registry.
pub fn image_stream_name(repository: &str) -> String {
    repository.replace('/', "-")
}

// Build secrets (issue 12): the names osbs.conf's `build_secrets` gives, checked alike by the
// client (at submission) and by osbs-kube (the BuildConfig's spec, the build Pod).

/// Whether `id` is a build secret id (`RUN --mount=type=secret,id=ID`) that every backend
/// can carry: 1 to 253 letters, digits, `.`, `_` and `-`, starting with a letter or digit.
/// It is also a valid key of a Kubernetes Secret and a file name (never `.` or `..`), and has
/// no `,` (the build Pod lists ids comma-separated).
pub fn is_build_secret_id(id: &str) -> bool {
    id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id.len() <= 253
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `name` is a DNS-1123 subdomain, what Kubernetes requires of the name of a Secret
/// or ConfigMap: at most 253 characters, dot-separated labels of lowercase letters, digits and
/// `-`, each starting and ending with a letter or digit.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_secret_ids_and_secret_names() {
        for id in ["npmrc", "NPM_TOKEN", "pip.conf", "a-b_c.d", "0"] {
            assert!(is_build_secret_id(id), "{id}");
        }
        let long = "x".repeat(254);
        for id in [
            "", ".", "..", ".npmrc", "-x", "a/b", "a,b", "a=b", "a b", &long,
        ] {
            assert!(!is_build_secret_id(id), "{id}");
        }
        for name in ["npm-token", "osbs.npm-token", "a", "0-1"] {
            assert!(is_dns1123_subdomain(name), "{name}");
        }
        let long = "a".repeat(254);
        for name in [
            "",
            "Npm",
            "npm_token",
            "-npm",
            "npm-",
            "a..b",
            ".a",
            "a.",
            &long,
        ] {
            assert!(!is_dns1123_subdomain(name), "{name}");
        }
    }

    #[test]
    fn url_paths_of_one_repository_agree() {
        for url in [
            "https://git.example.com/ns/repo.git",
            "https://git.example.com/ns/repo/",
            "ssh://git@git.example.com:2222/ns/repo.git",
            "git@git.example.com:ns/repo.git",
            "git://git.example.com/ns/repo",
        ] {
            assert_eq!(git_url_path(url), "ns/repo", "{url}");
        }
        assert_eq!(git_url_path("file:///tmp/x/repo"), "tmp/x/repo");
        assert_eq!(git_url_path("/tmp/x/repo.git"), "tmp/x/repo");
        assert_eq!(git_repo_name("file:///tmp/x/my-repo.git"), "my-repo");
    }

    #[test]
    fn build_config_names_are_dns_labels_with_a_stable_suffix() {
        let name = build_config_name("https://h/ns/My_Repo.git", "feature/X");
        assert!(name.starts_with("my-repo-feature-x-"), "{name}");
        assert_eq!(name.len(), "my-repo-feature-x-".len() + 5);
        assert_eq!(name, build_config_name("git@h:ns/My_Repo", "feature/X"));
        // A fork: same repository name, other path.
        assert_ne!(
            name,
            build_config_name("https://h/fork/My_Repo.git", "feature/X")
        );
        // Branches that sanitise alike.
        assert_ne!(
            build_config_name("https://h/ns/r", "a/b"),
            build_config_name("https://h/ns/r", "a-b")
        );
    }

    #[test]
    fn long_and_empty_names_stay_valid() {
        let long = build_config_name(&format!("https://h/{}", "x".repeat(200)), "main");
        assert_eq!(long.len(), MAX_NAME_LEN);
        assert!(!long.contains("--"));
        let odd = build_config_name("https://h/___", "///");
        assert!(odd.starts_with("build-"), "{odd}");
        for name in [long, odd] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            assert!(!name.starts_with('-') && !name.ends_with('-'));
        }
    }

    #[test]
    fn image_stream_names() {
        assert_eq!(image_stream_name("osbs/app"), "osbs-app");
        assert_eq!(build_name("app-main-1a2b3", 7), "app-main-1a2b3-7");
    }
}
