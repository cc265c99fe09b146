//! A toy backend for scenario tests: BuildConfigs, Builds and ImageStreams in memory, changed
//! only through osbs-core's decisions, the way the SQLite backend and the controller apply them.

use std::collections::BTreeMap;

use osbs_core::build::{BuildOutcome, BuildPhase, BuildResults, ImageImport};
use osbs_core::import::{TagChange, apply_import};
use osbs_core::model::{
    Build, BuildCause, BuildConfig, ImageStream, ImageStreamTag, LABEL_IS_AUTOREBUILD,
    UserSubmission,
};
use osbs_core::policy::{self, Action, Liveness, StaleRules};
use osbs_core::time::Timestamp;
use osbs_core::trigger::{FanOut, TriggerGraph};

/// A digest made of one repeated byte.
pub fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// The in-memory state and a clock that ticks one second per event.
#[derive(Debug, Default)]
pub struct World {
    pub now: i64,
    pub configs: BTreeMap<String, BuildConfig>,
    pub builds: Vec<Build>,
    pub streams: BTreeMap<String, ImageStream>,
    /// Every action applied, as text, in order.
    pub log: Vec<String>,
    /// Branch heads of the git repositories; autorebuilds must never use these.
    pub heads: BTreeMap<String, String>,
}

impl World {
    pub fn new() -> Self {
        World {
            now: 1_700_000_000_000,
            ..World::default()
        }
    }

    pub fn tick(&mut self) -> Timestamp {
        self.now += 1000;
        Timestamp::from_unix_millis(self.now)
    }

    /// A BuildConfig for repository `repo` (branch main) whose image is `osbs/<repo>` (stream
    /// `osbs-<repo>`), built FROM `base` (a stream tag like `osbs-base:latest`), with one user
    /// commit recorded. Returns its name.
    pub fn add_config(&mut self, repo: &str, base: Option<&str>) -> String {
        let url = format!("https://git.example.com/osbs/{repo}.git");
        let mut config = BuildConfig::new(&url, "main");
        config.record_user_build(UserSubmission {
            commit: format!("{repo}-commit-1"),
            trigger: base.map(|b| ImageStreamTag::parse(b).expect("valid base stream tag")),
            repo_config_name: ".osbs-repo-config".into(),
            image_name: Some(format!("osbs/{repo}")),
        });
        self.heads
            .insert(config.name.clone(), format!("{repo}-commit-1"));
        let name = config.name.clone();
        self.configs.insert(name.clone(), config);
        name
    }

    pub fn config(&self, name: &str) -> &BuildConfig {
        &self.configs[name]
    }

    pub fn build(&self, name: &str) -> &Build {
        self.builds
            .iter()
            .find(|b| b.name == name)
            .expect("known build")
    }

    pub fn phase(&self, name: &str) -> BuildPhase {
        self.build(name).phase
    }

    /// `osbs build`: a new commit lands on the branch, the user builds it (SPEC §3 steps 1-5).
    pub fn user_build(&mut self, config: &str, commit: &str) -> String {
        self.heads.insert(config.to_owned(), commit.to_owned());
        let now = self.tick();
        let bc = self.configs.get_mut(config).expect("known build config");
        let trigger = bc.trigger.clone();
        let image_name = bc.image_name.clone();
        bc.record_user_build(UserSubmission {
            commit: commit.to_owned(),
            trigger,
            repo_config_name: ".osbs-repo-config".into(),
            image_name,
        });
        let build = Build::queued(bc, BuildCause::User, Some(commit.to_owned()), now);
        let name = build.name.clone();
        self.builds.push(build);
        self.schedule();
        name
    }

    /// Runs the policy with every runner alive and applies its decisions.
    pub fn schedule(&mut self) -> Vec<Action> {
        self.schedule_with(|_| Liveness::Alive)
    }

    /// Runs the policy with `liveness` and applies its decisions.
    pub fn schedule_with(&mut self, liveness: impl FnMut(&Build) -> Liveness) -> Vec<Action> {
        let actions = policy::schedule(&self.builds, liveness, &StaleRules::default());
        let now = self.tick();
        for action in &actions {
            let build = self
                .builds
                .iter_mut()
                .find(|b| b.name == action.build())
                .expect("actions name known builds");
            assert!(action.apply(build, now), "{action} did not apply");
            self.log.push(action.to_string());
        }
        actions
    }

    /// The runner picks up a `Pending` build; a user build's `check_and_set_rebuild` sets the
    /// BuildConfig's `is_autorebuild` label.
    pub fn run(&mut self, name: &str) {
        let now = self.tick();
        let build = self
            .builds
            .iter_mut()
            .find(|b| b.name == name)
            .expect("known build");
        assert!(build.mark_running(now), "{name} was not Pending");
        if !build.is_autorebuild {
            let config = self
                .configs
                .get_mut(&build.build_config)
                .expect("known build config");
            config
                .labels
                .insert(LABEL_IS_AUTOREBUILD.into(), "true".into());
        }
    }

    /// The running build `name` completes, imports `osbs-<repo>:latest` = `digest`, and the
    /// triggers fire; the autorebuilds are queued and the policy runs.
    pub fn complete(&mut self, name: &str, digest: &str) -> FanOut {
        let now = self.tick();
        let index = self
            .builds
            .iter()
            .position(|b| b.name == name)
            .expect("known build");
        let outcome = BuildOutcome {
            phase: BuildPhase::Complete,
            error: None,
            reason: None,
            results: BuildResults::default(),
        };
        assert!(self.builds[index].record_outcome(&outcome, now));
        let build = self.builds[index].clone();
        let stream = self.configs[&build.build_config]
            .image_stream()
            .expect("an image name");
        let import = ImageImport {
            image_stream: stream.clone(),
            docker_image_repository: format!("127.0.0.1:5000/{stream}"),
            tags: vec![("latest".into(), digest.into())],
        };
        let changes = self.import(&import, Some(&build.name));
        let fan_out = self.fire(&stream, &changes, &build.downstream_chain());
        self.schedule();
        fan_out
    }

    /// Applies an import to its ImageStream (created when missing).
    pub fn import(&mut self, import: &ImageImport, build: Option<&str>) -> Vec<TagChange> {
        let now = self.tick();
        let stream = self
            .streams
            .entry(import.image_stream.clone())
            .or_insert_with(|| ImageStream::new(&import.image_stream));
        apply_import(stream, import, build, now).expect("valid import")
    }

    /// `osbs import-image`: a manual import of `stream:latest` = `digest`, triggers included.
    pub fn manual_import(&mut self, stream: &str, digest: &str) -> FanOut {
        let import = ImageImport {
            image_stream: stream.into(),
            docker_image_repository: format!("registry.example.com/{stream}"),
            tags: vec![("latest".into(), digest.into())],
        };
        let changes = self.import(&import, None);
        let fan_out = self.fire(stream, &changes, &[]);
        self.schedule();
        fan_out
    }

    /// Fans out `changes` and queues the requested autorebuilds.
    fn fire(&mut self, stream: &str, changes: &[TagChange], chain: &[String]) -> FanOut {
        let fan_out = TriggerGraph::new(self.configs.values()).fan_out(stream, changes, chain);
        let now = self.tick();
        for request in fan_out.requests.clone() {
            let config = self
                .configs
                .get_mut(&request.build_config)
                .expect("known build config");
            let build = request.into_build(config, now);
            self.builds.push(build);
        }
        fan_out
    }

    /// Runs every build to completion, one per BuildConfig at a time, each producing a fresh
    /// digest, until nothing is queued; returns the names of the builds run, in order.
    pub fn drain(&mut self, mut next_digest: u8) -> Vec<String> {
        let mut ran = Vec::new();
        for _ in 0..1000 {
            let Some(name) = self
                .builds
                .iter()
                .find(|b| b.phase == BuildPhase::Pending)
                .map(|b| b.name.clone())
            else {
                return ran;
            };
            self.run(&name);
            self.complete(&name, &digest(next_digest));
            next_digest = next_digest.wrapping_add(1);
            ran.push(name);
        }
        panic!("the cascade did not terminate: {ran:?}");
    }

    /// Checks the serial run policy on the recorded timestamps: per BuildConfig, the runs
    /// (started..finished) never overlap.
    pub fn assert_serial(&self) {
        let mut runs: BTreeMap<&str, Vec<(Timestamp, Timestamp)>> = BTreeMap::new();
        for build in &self.builds {
            if let (Some(started), Some(finished)) = (build.started, build.finished) {
                runs.entry(&build.build_config)
                    .or_default()
                    .push((started, finished));
            }
        }
        for (config, mut spans) in runs {
            spans.sort();
            for pair in spans.windows(2) {
                assert!(pair[0].1 <= pair[1].0, "{config}: {pair:?} overlap");
            }
        }
    }
}
