//! Registries started by a test (feature `registry`): Debian's `docker-registry` on a free
//! loopback port, optionally with htpasswd Basic auth (bcrypt made at test time) and TLS (a CA
//! and a server certificate for `127.0.0.1`/`localhost` made at test time with the `openssl`
//! CLI). Each lives in its own temporary directory and is killed on drop.
//!
//! ```no_run
//! use osbs_testkit::registry::TestRegistry;
//!
//! let registry = TestRegistry::builder().htpasswd("builder", "s3cret").tls().start();
//! // https://127.0.0.1:PORT, trusted only with registry.ca_file()
//! println!("{} {}", registry.uri(), registry.ca_file().unwrap().display());
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start a [`TestRegistry`].
#[derive(Debug, Default, Clone)]
pub struct Builder {
    htpasswd: Option<(String, String)>,
    tls: bool,
}

impl Builder {
    /// Requires `user` with `password` (htpasswd Basic auth).
    pub fn htpasswd(mut self, user: &str, password: &str) -> Self {
        self.htpasswd = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Serves HTTPS with a certificate signed by a CA made for this registry only.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Starts it and waits until it answers (panics with its log when it does not in 20 s).
    pub fn start(self) -> TestRegistry {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n",
            data = dir.path().join("data").display(),
        );
        let ca_file = if self.tls {
            let (cert, key, ca) = make_certificates(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            Some(ca)
        } else {
            None
        };
        if let Some((user, password)) = &self.htpasswd {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, format!("{user}:{hash}\n")).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: osbs-test\n    path: {}\n",
                path.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write the registry config");
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).expect("create the registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let registry = TestRegistry {
            addr,
            tls: self.tls,
            ca_file,
            child,
            dir,
        };
        // Any HTTP answer means it listens (a TLS one answers plain HTTP with 400).
        let deadline = Instant::now() + Duration::from_secs(20);
        while crate::http_get_status(&registry.addr, "/v2/", "*/*").is_none() {
            assert!(
                Instant::now() < deadline,
                "the test registry did not start: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

/// A `docker-registry` started by a test; killed (and its storage removed) on drop.
#[derive(Debug)]
pub struct TestRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    tls: bool,
    ca_file: Option<PathBuf>,
    child: Child,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// A builder: plain HTTP and anonymous unless told otherwise.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `https://127.0.0.1:PORT` for a TLS registry (loopback means plain HTTP without the
    /// scheme), else `127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        if self.tls {
            format!("https://{}", self.addr)
        } else {
            self.addr.clone()
        }
    }

    /// The PEM file of the CA that signed a TLS registry's certificate.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// A directory for this test's own files, removed with the registry.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Makes a CA and a server certificate for `127.0.0.1`/`localhost` signed by it in `dir`:
/// `(server.crt, server.key, ca.crt)`.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        dir,
        &[
            &["req", "-x509", "-nodes", "-days", "2"],
            &ec[..],
            &[
                "-subj",
                "/CN=osbs test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req", "-nodes"][..],
            &ec[..],
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        path("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    (path("server.crt"), path("server.key"), path("ca.crt"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}
