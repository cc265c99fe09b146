//! Integration tests of osbs-repo-config: the fixture snapshots, the public API and loading from disk.

mod api;
mod fixtures;
mod load;
