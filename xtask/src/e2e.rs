//! `cargo xtask e2e`: the kubernetes backend end to end on a kind cluster. Checks for docker,
//! kind and kubectl (and says what is missing), creates the cluster, an in-cluster registry,
//! builds and loads the controller and reactor images, deploys `deploy/`, runs the base/app
//! autorebuild scenario with the `osbs` client (backend = kubernetes), asserts, and deletes the
//! cluster unless `--keep`. `--plan` prints the exact steps without running any.
//!
//! This is the only test that needs a cluster; everything else about the backend is tested
//! against wiremock and as pure functions (see ARCHITECTURE.md, "Testing ladder").

use std::path::Path;

use anyhow::{Result, bail};

use crate::cmd::Cmd;
use crate::cmd::on_path;

/// The kind cluster's name.
const CLUSTER: &str = "osbs-e2e";
/// kubectl's context for it.
const CONTEXT: &str = "kind-osbs-e2e";
/// Where the scenario's git repositories, config and base image rootfs go.
const WORK: &str = "target/e2e";

/// One step: a command line, run from the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    why: &'static str,
    program: &'static str,
    args: Vec<String>,
}

fn step(why: &'static str, program: &'static str, args: &[&str]) -> Step {
    Step {
        why,
        program,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn kubectl(why: &'static str, args: &[&str]) -> Step {
    let mut all = vec!["--context", CONTEXT];
    all.extend_from_slice(args);
    step(why, "kubectl", &all)
}

/// The scenario as a shell script (run with `sh -eu`): two git repositories served over the
/// git protocol to the cluster, `base` FROM the busybox image and `app` FROM `base`; build
/// both, rebuild `base`, and wait for `app`'s autorebuild to complete.
const SCENARIO: &str = r#"
W=target/e2e
HOST=$(docker network inspect kind -f '{{(index .IPAM.Config 0).Gateway}}')
REG=registry.osbs.svc:5000
rm -rf $W/repos && mkdir -p $W/repos/base $W/repos/app
printf 'FROM %s/osbs/busybox\nLABEL name=osbs/base version=1\nRUN echo base > /base.txt\n' $REG > $W/repos/base/Dockerfile
printf 'FROM %s/osbs/base:latest\nLABEL name=osbs/app version=1\nRUN cat /base.txt\n' $REG > $W/repos/app/Dockerfile
for r in base app; do git -C $W/repos/$r init -q -b main && git -C $W/repos/$r add . && git -C $W/repos/$r -c user.name=e2e -c user.email=e2e@example.com commit -qm init; done
git daemon --reuseaddr --export-all --base-path=$W/repos --listen=$HOST --port=9418 --detach --pid-file=$W/git-daemon.pid
printf '[default]\nbackend = kubernetes\nnamespace = osbs\nregistry_uri = %s\n' $REG > $W/osbs.conf
export OSBS_CONFIG=$W/osbs.conf
target/debug/osbs build -g git://$HOST/base -b main
target/debug/osbs build -g git://$HOST/app -b main
target/debug/osbs build -g git://$HOST/base -b main
for i in $(seq 1 120); do
  if target/debug/osbs list-builds --output json | grep -q '"is_autorebuild": true'; then break; fi; sleep 5
done
target/debug/osbs list-builds --output json > $W/builds.json
grep -q '"is_autorebuild": true' $W/builds.json
APP=$(target/debug/osbs list-build-configs --output json | sed -n 's/.*"name": "\(app-main-[0-9a-f]*\)".*/\1/p' | head -1)
AUTO=$(target/debug/osbs list-builds --build-config "$APP" --output json | sed -n 's/.*"name": "\(app-main-[0-9a-f]*-[0-9]*\)".*/\1/p' | head -1)
target/debug/osbs watch-build "$AUTO"
kill $(cat $W/git-daemon.pid)
"#;

/// The steps of a full run.
fn plan(keep: bool) -> Vec<Step> {
    let mut steps = vec![
        step(
            "create the cluster",
            "kind",
            &["create", "cluster", "--name", CLUSTER, "--wait", "180s"],
        ),
        step(
            "build the osbs client for the scenario",
            "cargo",
            &["build", "-p", "osbs-client", "--bin", "osbs"],
        ),
        step(
            "build the controller image",
            "docker",
            &[
                "build",
                "-f",
                "deploy/docker/controller.Dockerfile",
                "-t",
                "osbs-controller:dev",
                ".",
            ],
        ),
        step(
            "build the reactor image",
            "docker",
            &[
                "build",
                "-f",
                "deploy/docker/reactor.Dockerfile",
                "-t",
                "osbs-reactor:dev",
                ".",
            ],
        ),
        step(
            "load the images into the cluster",
            "kind",
            &[
                "load",
                "docker-image",
                "--name",
                CLUSTER,
                "osbs-controller:dev",
                "osbs-reactor:dev",
            ],
        ),
        kubectl(
            "deploy CRDs, RBAC and the controller",
            &["apply", "-k", "deploy/"],
        ),
        kubectl(
            "start the in-cluster registry",
            &["apply", "-n", "osbs", "-f", "deploy/e2e/registry.yaml"],
        ),
        kubectl(
            "wait for the registry",
            &[
                "-n",
                "osbs",
                "rollout",
                "status",
                "deployment/registry",
                "--timeout=180s",
            ],
        ),
        kubectl(
            "wait for the controller",
            &[
                "-n",
                "osbs",
                "rollout",
                "status",
                "deployment/osbs-controller",
                "--timeout=180s",
            ],
        ),
        step(
            "make the busybox base image",
            "sh",
            &[
                "-euc",
                "mkdir -p target/e2e && docker import target/e2e/busybox-rootfs.tar osbs/busybox:latest 2>/dev/null || (mkdir -p target/e2e/rootfs/bin && cp \"$(command -v busybox)\" target/e2e/rootfs/bin/ && tar -C target/e2e/rootfs -cf target/e2e/busybox-rootfs.tar . && docker import target/e2e/busybox-rootfs.tar osbs/busybox:latest)",
            ],
        ),
        step(
            "push it to the in-cluster registry (port-forward)",
            "sh",
            &[
                "-euc",
                "kubectl --context kind-osbs-e2e -n osbs port-forward svc/registry 5055:5000 & PF=$!; sleep 3; docker tag osbs/busybox:latest 127.0.0.1:5055/osbs/busybox:latest && docker push 127.0.0.1:5055/osbs/busybox:latest; kill $PF",
            ],
        ),
        step(
            "run the base/app autorebuild scenario",
            "sh",
            &["-euc", SCENARIO],
        ),
        kubectl(
            "show the builds",
            &["-n", "osbs", "get", "builds", "-o", "wide"],
        ),
    ];
    if !keep {
        steps.push(step(
            "delete the cluster",
            "kind",
            &["delete", "cluster", "--name", CLUSTER],
        ));
    }
    steps
}

/// The plan as text, one numbered step per line.
fn render(steps: &[Step]) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        let args: Vec<String> = s
            .args
            .iter()
            .map(|a| {
                if a.contains(char::is_whitespace) || a.is_empty() {
                    format!("'{}'", a.replace('\'', r"'\''"))
                } else {
                    a.clone()
                }
            })
            .collect();
        out.push_str(&format!(
            "# {}. {}\n{} {}\n",
            i + 1,
            s.why,
            s.program,
            args.join(" ")
        ));
    }
    out
}

/// `cargo xtask e2e [--plan] [--keep]`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut show_plan = false;
    let mut keep = false;
    for arg in args {
        match *arg {
            "--plan" => show_plan = true,
            "--keep" => keep = true,
            other => bail!("unknown e2e option `{other}` (expected --plan, --keep)"),
        }
    }
    let steps = plan(keep);
    if show_plan {
        print!("{}", render(&steps));
        return Ok(());
    }
    let missing: Vec<&str> = [
        ("docker", "Docker Engine (Debian: docker.io)"),
        (
            "kind",
            "kind (https://kind.sigs.k8s.io, `go install sigs.k8s.io/kind@latest`)",
        ),
        ("kubectl", "kubectl (Debian: kubernetes-client)"),
        ("git", "git"),
    ]
    .iter()
    .filter(|(program, _)| !on_path(program))
    .map(|(_, what)| *what)
    .collect();
    if !missing.is_empty() {
        bail!(
            "e2e needs these tools, which are missing:\n  {}",
            missing.join("\n  ")
        );
    }
    std::fs::create_dir_all(root.join(WORK))?;
    let result = steps
        .iter()
        .take_while(|s| s.why != "delete the cluster")
        .try_for_each(|s| {
            eprintln!("e2e: {}", s.why);
            Cmd::new(root, s.program, &s.args).run()
        });
    if !keep {
        eprintln!("e2e: delete the cluster");
        let _ = Cmd::new(root, "kind", ["delete", "cluster", "--name", CLUSTER]).run();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan is pinned in `e2e_plan.txt` (a snapshot; update it when the steps change).
    #[test]
    fn plan_is_the_documented_one() {
        let rendered = render(&plan(false));
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/e2e_plan.txt");
        if std::env::var_os("UPDATE_E2E_PLAN").is_some() {
            std::fs::write(&path, &rendered).expect("write e2e_plan.txt");
        }
        let pinned = std::fs::read_to_string(&path).expect("xtask/src/e2e_plan.txt");
        assert_eq!(
            rendered, pinned,
            "rerun with UPDATE_E2E_PLAN=1 after reviewing the diff"
        );
        let keep = render(&plan(true));
        assert!(!keep.contains("kind delete cluster"));
    }
}
