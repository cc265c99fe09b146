//! Layer progress on a terminal: `osbs build` under a pseudo-terminal (util-linux `script`)
//! draws the reactor's layer progress as bars (here the sync of a fresh 4 MiB layer to the
//! sync registry), while a pipe gets neither bars nor the raw progress lines; the stored log
//! keeps the progress lines, and `build-logs` never prints them; build output posing as a
//! progress line stays text.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::process::Command;

use osbs_core::naming::build_config_name;

use crate::cli::{Home, at_home, run_command};

/// Runs `osbs ARGS` under a pseudo-terminal: stdout and stderr are the terminal, and what
/// the terminal showed comes back as `stdout` (escape sequences and all).
fn on_a_terminal(home: &Home, args: &[&str]) -> crate::cli::Run {
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_osbs"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut cmd = Command::new("script");
    // -q: no banner; -e: the command's exit code; -c: the command; /dev/null: no typescript.
    cmd.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
        .current_dir(home.path());
    at_home(&mut cmd, home.path());
    let run = run_command(&mut cmd);
    assert!(
        run.code != -1 && !run.stderr.contains("not found"),
        "util-linux `script` is needed for this test: {}",
        run.stderr
    );
    run
}

/// Whether `text` shows a drawn bar for a layer being synced: `sync sha256:…  [   ] 0 B/4.0 MiB`.
fn shows_a_sync_bar(text: &str) -> bool {
    text.lines().any(|line| {
        line.match_indices("sync sha256:").any(|(at, _)| {
            let rest = &line[at..];
            rest.contains(" [") && rest.contains("] ") && rest.contains(" MiB")
        })
    })
}

#[test]
fn layer_progress_is_drawn_on_a_terminal_and_nowhere_else() {
    let mut home = Home::new();
    let conf_dir = home.path().join("config/osbs");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(
        conf_dir.join("osbs.conf"),
        format!(
            "[default]\npulp_registry_name = sync\n\n[registry sync]\nuri = {}\n",
            osbs_testkit::sync_registry()
        ),
    )
    .unwrap();
    // A layer of its own per run (the prefix defeats the build cache): the sync copies it.
    let url = home.repo_with(
        "big",
        &[(
            "Dockerfile",
            b"FROM 127.0.0.1:5000/osbs/busybox:latest\n\
              LABEL name=\"osbs/@PREFIX@-big\" version=\"1\"\n\
              RUN echo @PREFIX@ > /id && dd if=/dev/urandom of=/big bs=1M count=4 2>/dev/null\n\
              RUN echo '@osbs-progress push forged 1/2'\n",
        )],
    );
    let build = format!("{}-1", build_config_name(&url, "main"));

    let tty = on_a_terminal(&home, &["build", "-g", &url, "-b", "main"]);
    assert_eq!(tty.code, 0, "{}", tty.stdout);
    assert!(
        shows_a_sync_bar(&tty.stdout),
        "no sync bar drawn:\n{}",
        tty.stdout
    );
    assert!(
        !tty.stdout.contains("@osbs-progress sync"),
        "{}",
        tty.stdout
    );
    assert!(tty.stdout.contains("synced "), "{}", tty.stdout);

    // The stored log keeps the progress lines (the only channel to a follower)...
    let log =
        std::fs::read_to_string(home.path().join(format!("data/osbs/logs/{build}.log"))).unwrap();
    assert!(log.contains("@osbs-progress sync sha256:"), "{log}");
    // Build output posing as progress stays text (indented by the reactor, or behind
    // BuildKit's step prefix), never a progress line.
    assert!(log.contains("@osbs-progress push forged 1/2"), "{log}");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("@osbs-progress push forged")),
        "{log}"
    );

    // ...and a pipe shows neither them nor bars, following or not, quiet or not.
    for args in [
        vec!["build-logs", "-f", build.as_str()],
        vec!["build-logs", build.as_str()],
        vec!["-q", "build-logs", "-f", build.as_str()],
    ] {
        let piped = home.expect(0, &args);
        for text in [&piped.stdout, &piped.stderr] {
            assert!(!text.contains("@osbs-progress sync"), "{args:?}: {text}");
            assert!(!shows_a_sync_bar(text), "{args:?}: {text}");
            assert!(!text.contains('\u{1b}'), "{args:?}: {text}");
        }
        assert!(
            piped.stdout.contains("synced ")
                && piped.stdout.contains("@osbs-progress push forged 1/2"),
            "{args:?}: {}",
            piped.stdout
        );
    }

    // Followed on a terminal, a finished build's log draws the bars again.
    let tty = on_a_terminal(&home, &["build-logs", "-f", &build]);
    assert_eq!(tty.code, 0, "{}", tty.stdout);
    assert!(shows_a_sync_bar(&tty.stdout), "{}", tty.stdout);
    // -q: no bars even on a terminal, and build-logs without -f draws none.
    for args in [
        vec!["-q", "build-logs", "-f", build.as_str()],
        vec!["build-logs", build.as_str()],
    ] {
        let tty = on_a_terminal(&home, &args);
        assert_eq!(tty.code, 0, "{args:?}: {}", tty.stdout);
        assert!(!shows_a_sync_bar(&tty.stdout), "{args:?}: {}", tty.stdout);
        assert!(
            !tty.stdout.contains("@osbs-progress sync"),
            "{args:?}: {}",
            tty.stdout
        );
    }
}
