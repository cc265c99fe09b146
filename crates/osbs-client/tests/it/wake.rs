//! How a client waiting on a local build learns of its progress and its end: by the runner's
//! signals, not by polling (a silent build costs about one look per second), and still, a
//! little later, when the signals are lost.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use osbs_client::backend::{Backend as _, LogEvent};
use osbs_core::build::BuildPhase;
use osbs_core::model::Build;

use crate::local::support::World;

/// What following a `pause` build came to.
struct Followed {
    build: Build,
    /// Wait rounds of the follower during 2.5 s of the build's silent step.
    silent_rounds: u64,
    /// From the build's recorded end to the follower's return.
    after_end: Duration,
}

/// Follows the log of a `pause` build until it ends. With `lose_signals`, every waiter's
/// registration in the state directory is deleted as soon as it appears: no signal arrives.
async fn follow_a_pause_build(lose_signals: bool) -> Followed {
    let world = World::new(false);
    let wake_dir: PathBuf = world.tmp.path().join("state").join("wake");
    let backend = world.backend();
    let repo = world.repo("pause");
    let name = backend
        .create_build(&repo.submission())
        .await
        .unwrap()
        .build
        .name;
    let done = AtomicBool::new(false);
    let mut finished = None;
    let mut returned = None;
    let follow = async {
        backend
            .build_logs(&name, true, &mut |event| {
                if let LogEvent::Finished(build) = event {
                    finished = Some(*build);
                }
            })
            .await
            .unwrap();
        returned = Some(SystemTime::now());
        done.store(true, Ordering::SeqCst);
    };
    let silent = async {
        let started = Instant::now();
        while !std::fs::read_to_string(backend.log_path(&name))
            .is_ok_and(|log| log.contains("pausing osbs/"))
        {
            assert!(started.elapsed() < Duration::from_secs(120), "no pause");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let before = backend.wait_rounds();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        backend.wait_rounds() - before
    };
    let unregister = async {
        let mut removed = 0;
        while lose_signals && !done.load(Ordering::SeqCst) {
            removed += remove_all(&wake_dir);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            !lose_signals || removed > 0,
            "no registration was ever made"
        );
    };
    let (_, silent_rounds, ()) = tokio::time::timeout(Duration::from_secs(180), async {
        tokio::join!(follow, silent, unregister)
    })
    .await
    .expect("the follower returned");
    let build = finished.expect("a Finished event");
    let end = build.finished.expect("an end time").unix_millis();
    let returned_ms = returned
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let after_end = Duration::from_millis(
        u64::try_from(returned_ms)
            .unwrap()
            .saturating_sub(u64::try_from(end).unwrap()),
    );
    Followed {
        build,
        silent_rounds,
        after_end,
    }
}

/// Removes every file in `dir`; how many.
fn remove_all(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_wakes_on_signals_and_returns_promptly() {
    osbs_testkit::require_services();
    let followed = follow_a_pause_build(false).await;
    assert_eq!(
        followed.build.phase,
        BuildPhase::Complete,
        "{:#?}",
        followed.build
    );
    // 2.5 silent seconds: a look per second at most (polling every 200 ms made 12).
    assert!(
        followed.silent_rounds <= 4,
        "{} wait rounds in 2.5 silent seconds",
        followed.silent_rounds
    );
    assert!(
        followed.after_end < Duration::from_millis(500),
        "returned {:?} after the build's end",
        followed.after_end
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_signals_are_lost_still_returns() {
    osbs_testkit::require_services();
    let followed = follow_a_pause_build(true).await;
    assert_eq!(
        followed.build.phase,
        BuildPhase::Complete,
        "{:#?}",
        followed.build
    );
    // Without signals it looks once a second, and so returns within about a second.
    assert!(
        followed.after_end < Duration::from_millis(2500),
        "returned {:?} after the build's end",
        followed.after_end
    );
}
