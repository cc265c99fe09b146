//! Cross-crate integration tests that run against the real services of `cargo xtask services up`
//! (Docker Engine, two distribution registries, the busybox base image).

mod services;
