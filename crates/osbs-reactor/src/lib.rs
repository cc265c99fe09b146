//! The OSBS build executor, atomic-reactor's role: runs one Build as a pipeline of plugins
//! (prebuild → buildstep → postbuild → exit) against a Docker Engine and a v2 registry.
//!
//! The reactor talks to the build service only through [`BuildHost`]: it reads the Build,
//! sets BuildConfig labels, imports images into ImageStreams, stores results and asks whether
//! the build was cancelled. It does not know which backend runs it; [`StandaloneHost`] serves
//! it without any cluster or database.
//!
//! ```no_run
//! # async fn demo(request: osbs_core::build::BuildRequest) {
//! use osbs_reactor::{StandaloneHost, run_build};
//! use tokio_util::sync::CancellationToken;
//!
//! let host = StandaloneHost::new(request);
//! let outcome = run_build(&host, CancellationToken::new()).await;
//! println!("{}", outcome.phase);
//! # }
//! ```

mod buildkit;
pub mod cli;
mod context_tar;
pub mod dockerignore;
mod error;
mod export;
mod git;
mod gzip;
mod host;
mod layer_push;
mod layer_store;
mod pipeline;
mod plugins;
pub mod progress;
mod registry;
pub mod source_files;
mod time;

pub use error::ReactorError;
pub use host::{BuildHost, HostError, StandaloneHost};
pub use pipeline::{PluginOutcome, run_build, run_build_until_signal, run_build_with_signals};
pub use plugins::exit::remove_leftovers;
pub use plugins::{Phase, PluginSpec, all as all_plugins};
