//! `cargo xtask services up|down|status`: the real services that tests and the demo need on this
//! machine — a Docker Engine, two distribution registries on loopback (push target and sync
//! target) and a busybox base image made with `docker import` and pushed to the first registry.
//!
//! With `--pulp`, also a Pulp 3 registry with token auth (module `pulp`). Always, a small venv
//! of offline checkers the tests run, kubernetes-validate among them (module `tools`).
//!
//! Every step first checks whether its service already answers, so `up` is idempotent and fast
//! the second time. Missing tools are installed with apt-get when running as root on Debian, and
//! the Python module aiosmtpd (the SMTP sink of osbs-engine's notification tests) with pip when
//! running as root or in CI.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use osbs_testkit as kit;

use crate::cmd::{Cmd, on_path};

/// Media type the registry needs in Accept to answer a manifest request for a schema2 image.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json";

/// Where services keep their data, logs and pid files.
pub fn state_dir(root: &Path) -> PathBuf {
    std::env::var_os("OSBS_SERVICES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("osbs-services"))
}

/// The two registries: (name, address).
fn registries() -> [(&'static str, String); 2] {
    [
        ("push", kit::push_registry()),
        ("sync", kit::sync_registry()),
    ]
}

/// Brings every service up, starting or installing only what is missing.
pub fn up(root: &Path) -> Result<()> {
    let started = Instant::now();
    let state = state_dir(root);
    fs::create_dir_all(&state).with_context(|| format!("cannot create {}", state.display()))?;
    ensure_tools(root)?;
    ensure_aiosmtpd(root)?;
    crate::tools::ensure(root, &state)?;
    ensure_docker(root, &state)?;
    for (name, addr) in registries() {
        ensure_registry(root, &state, name, &addr)?;
    }
    ensure_base_image(root, &state)?;
    eprintln!(
        "services: up in {:.2}s (state in {})",
        started.elapsed().as_secs_f64(),
        state.display()
    );
    Ok(())
}

/// [`up`], then the Pulp 3 registry (`services up --pulp`, module `pulp`).
pub fn up_with_pulp(root: &Path) -> Result<()> {
    up(root)?;
    crate::pulp::ensure(root, &state_dir(root))
}

/// Stops the registries, Pulp and, if xtask started it, the Docker daemon.
pub fn down(root: &Path) -> Result<()> {
    let state = state_dir(root);
    crate::pulp::down(root, &state)?;
    for name in ["registry-push", "registry-sync", "dockerd"] {
        let pid_file = state.join(format!("{name}.pid"));
        let Ok(pid) = fs::read_to_string(&pid_file) else {
            eprintln!("{name}: not started by xtask");
            continue;
        };
        let pid = pid.trim().to_owned();
        if Cmd::new(root, "kill", [&pid]).succeeds() {
            eprintln!("{name}: stopped (pid {pid})");
        } else {
            eprintln!("{name}: pid {pid} was not running");
        }
        fs::remove_file(&pid_file)
            .with_context(|| format!("cannot remove {}", pid_file.display()))?;
    }
    Ok(())
}

/// Prints whether each service answers; fails when one does not.
pub fn status(root: &Path) -> Result<()> {
    let mut ok = true;
    let docker = kit::docker_answers();
    ok &= docker;
    println!("docker      {} ({})", word(docker), kit::docker_socket());
    for (name, addr) in registries() {
        let up = kit::registry_answers(&addr);
        ok &= up;
        println!("registry    {} ({name}, http://{addr})", word(up));
    }
    let base = base_image_present();
    ok &= base;
    println!("base image  {} ({})", word(base), kit::base_image());
    // Pulp is optional (`services up --pulp`): shown, but not a reason to fail.
    println!("{}", crate::pulp::status().1);
    println!("{}", crate::tools::status(&state_dir(root)));
    println!("state       {}", state_dir(root).display());
    if !ok {
        bail!("some services are down: run `cargo xtask services up`");
    }
    Ok(())
}

fn word(up: bool) -> &'static str {
    if up { "up  " } else { "DOWN" }
}

/// (program, Debian package) pairs the services need.
const TOOLS: &[(&str, &str)] = &[
    ("dockerd", "docker.io"),
    ("docker", "docker.io"),
    ("docker-registry", "docker-registry"),
    ("git", "git"),
    ("skopeo", "skopeo"),
    ("tar", "tar"),
    // osbs-testkit's TLS registries make their CA and certificate with the openssl CLI.
    ("openssl", "openssl"),
    // osbs-engine's notification tests run their webhook and SMTP receivers in Python.
    ("python3", "python3"),
    // `kubectl kustomize deploy/` in osbs-controller's tests. Only installed when `kubectl` is
    // missing: a kubectl from another source conflicts with Debian's kubernetes-client.
    ("kubectl", "kubernetes-client"),
];

fn ensure_tools(root: &Path) -> Result<()> {
    let mut packages: Vec<&str> = TOOLS
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|&(_, package)| package)
        .collect();
    if static_busybox().is_none() {
        packages.push("busybox-static");
    }
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !(is_root() && Path::new("/etc/debian_version").exists()) {
        bail!("missing tools; install them with: sudo apt-get install -y {list}");
    }
    apt_install(root, &packages)?;
    if let Some((program, _)) = TOOLS.iter().find(|(program, _)| !on_path(program)) {
        bail!("`{program}` is still missing after installing {list}");
    }
    if static_busybox().is_none() {
        bail!("no statically linked busybox after installing {list}");
    }
    Ok(())
}

/// Installs Debian `packages` with apt-get (the caller checked for root on Debian).
pub(crate) fn apt_install(root: &Path, packages: &[&str]) -> Result<()> {
    eprintln!("services: installing {} with apt-get", packages.join(" "));
    Cmd::new(root, "apt-get", ["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(packages);
    Cmd::new(root, "apt-get", args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
}

/// How aiosmtpd is installed, as the error names it.
const AIOSMTPD_INSTALL: &str = "python3 -m pip install --quiet aiosmtpd";

/// Makes `python3` able to import aiosmtpd, the SMTP sink of osbs-engine's notification
/// tests: installed with pip (and pip with apt-get on Debian) when running as root or in CI,
/// otherwise an error naming the command.
fn ensure_aiosmtpd(root: &Path) -> Result<()> {
    let importable = || Cmd::new(root, "python3", ["-c", "import aiosmtpd"]).succeeds();
    if importable() {
        eprintln!("aiosmtpd: importable by python3");
        return Ok(());
    }
    if !(is_root() || std::env::var_os("CI").is_some()) {
        bail!("python3 cannot import aiosmtpd; install it with: {AIOSMTPD_INSTALL}");
    }
    let has_pip = || Cmd::new(root, "python3", ["-m", "pip", "--version"]).succeeds();
    if !has_pip() && is_root() && Path::new("/etc/debian_version").exists() {
        apt_install(root, &["python3-pip"])?;
    }
    if !has_pip() {
        bail!("python3 has no pip; install pip, then run: {AIOSMTPD_INSTALL}");
    }
    Cmd::new(
        root,
        "python3",
        ["-m", "pip", "install", "--quiet", "aiosmtpd"],
    )
    // Debian's own python3 refuses to install outside a virtual environment (PEP 668)
    // unless told to; pips without that check ignore the variable.
    .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
    .run()?;
    if !importable() {
        bail!("python3 still cannot import aiosmtpd after `{AIOSMTPD_INSTALL}`");
    }
    eprintln!("aiosmtpd: installed");
    Ok(())
}

pub(crate) fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            == Some("0")
    })
}

/// The path of a statically linked busybox (one with no ELF interpreter), if there is one.
fn static_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| fs::read(p).is_ok_and(|elf| is_static_elf64(&elf)))
}

/// Whether `elf` is a little-endian ELF64 executable without a `PT_INTERP` program header.
fn is_static_elf64(elf: &[u8]) -> bool {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..phnum).all(|i| u32_at(phoff + i * phentsize).is_some_and(|ty| ty != 3))
}

/// Starts `program args` detached from xtask (own process group, output to `log`) and records
/// its pid in `pid_file`.
fn spawn_detached(
    root: &Path,
    program: &str,
    args: &[&str],
    log: &Path,
    pid_file: &Path,
) -> Result<Child> {
    spawn_detached_cmd(Cmd::new(root, program, args), log, pid_file)
}

/// Starts `cmd` detached from xtask (own process group, output to `log`) and records its pid
/// in `pid_file`.
pub(crate) fn spawn_detached_cmd(mut cmd: Cmd, log: &Path, pid_file: &Path) -> Result<Child> {
    let program = cmd.display().to_owned();
    let out = fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    eprintln!("$ {} > {} 2>&1 &", cmd.display(), log.display());
    let child = cmd
        .inner()
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start `{program}`"))?;
    fs::write(pid_file, child.id().to_string())
        .with_context(|| format!("cannot write {}", pid_file.display()))?;
    Ok(child)
}

/// Polls `ready` until it holds or `timeout` passes; fails early when `child` exits.
fn wait_until(
    what: &str,
    log: &Path,
    child: &mut Child,
    timeout: Duration,
    ready: impl Fn() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status}) before answering:\n{}", tail(log));
        }
        sleep(Duration::from_millis(100));
    }
    bail!(
        "{what} did not answer within {}s:\n{}",
        timeout.as_secs(),
        tail(log)
    )
}

pub(crate) fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn ensure_docker(root: &Path, state: &Path) -> Result<()> {
    if kit::docker_answers() {
        eprintln!("docker: answering at {}", kit::docker_socket());
        return Ok(());
    }
    if !is_root() {
        bail!(
            "no Docker daemon answers at {}; start one (e.g. `sudo dockerd &`) or set DOCKER_HOST",
            kit::docker_socket()
        );
    }
    let log = state.join("dockerd.log");
    let mut child = spawn_detached(root, "dockerd", &[], &log, &state.join("dockerd.pid"))?;
    wait_until(
        "dockerd",
        &log,
        &mut child,
        Duration::from_secs(60),
        kit::docker_answers,
    )?;
    eprintln!("docker: started dockerd (pid {})", child.id());
    Ok(())
}

fn ensure_registry(root: &Path, state: &Path, name: &str, addr: &str) -> Result<()> {
    if kit::registry_answers(addr) {
        eprintln!("registry {name}: answering at http://{addr}");
        return Ok(());
    }
    let dir = state.join(format!("registry-{name}"));
    fs::create_dir_all(dir.join("data"))?;
    let config = dir.join("config.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n",
            data = dir.join("data").display()
        ),
    )?;
    let log = dir.join("registry.log");
    let pid = state.join(format!("registry-{name}.pid"));
    let config_arg = config.display().to_string();
    let mut child = spawn_detached(root, "docker-registry", &["serve", &config_arg], &log, &pid)?;
    let what = format!("registry {name} at {addr}");
    wait_until(&what, &log, &mut child, Duration::from_secs(20), || {
        kit::registry_answers(addr)
    })?;
    eprintln!(
        "registry {name}: started at http://{addr} (pid {})",
        child.id()
    );
    Ok(())
}

fn base_image_present() -> bool {
    let path = format!(
        "/v2/{}/manifests/{}",
        kit::BASE_IMAGE_REPOSITORY,
        kit::BASE_IMAGE_TAG
    );
    kit::http_get_status(&kit::push_registry(), &path, MANIFEST_ACCEPT) == Some(200)
}

fn ensure_base_image(root: &Path, state: &Path) -> Result<()> {
    let image = kit::base_image();
    if base_image_present() {
        eprintln!("base image: {image} present");
        return Ok(());
    }
    let busybox =
        static_busybox().context("no statically linked busybox (package busybox-static)")?;
    let rootfs = state.join("busybox-rootfs");
    if rootfs.exists() {
        fs::remove_dir_all(&rootfs)?;
    }
    for dir in [
        "bin", "etc", "root", "tmp", "dev", "proc", "sys", "usr/bin", "var",
    ] {
        fs::create_dir_all(rootfs.join(dir))?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::copy(&busybox, rootfs.join("bin/busybox"))?;
    let applets = Cmd::new(
        root,
        busybox.to_str().context("busybox path is not UTF-8")?,
        ["--list"],
    )
    .read()?;
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))?;
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    let tarball = state.join("busybox-rootfs.tar");
    let tarball_arg = tarball.display().to_string();
    let rootfs_arg = rootfs.display().to_string();
    Cmd::new(
        root,
        "tar",
        [
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
            &rootfs_arg,
            "-cf",
            &tarball_arg,
            ".",
        ],
    )
    .run()?;
    Cmd::new(
        root,
        "docker",
        [
            "import",
            "--change",
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            "CMD [\"/bin/sh\"]",
            &tarball_arg,
            &image,
        ],
    )
    .read()?;
    Cmd::new(root, "docker", ["push", &image]).run()?;
    if !base_image_present() {
        bail!("pushed {image} but the registry does not serve it");
    }
    eprintln!("base image: pushed {image}");
    Ok(())
}
