//! Fuzz target: the `.dockerignore` matcher never panics and stays fast on any rules and paths
//! (run with `-timeout`: the automaton is linear, the old matcher was exponential), agrees with
//! the old recursive matcher (`dockerignore/reference.rs`, with a step budget) on small inputs,
//! and, without `!` exceptions, excludes everything below an excluded path.
//!
//! Input: the `.dockerignore` text, then optionally a NUL and paths, one a line (else `a`).

#![no_main]
// The matcher's file is included whole; the target uses only part of its API.
#![allow(dead_code)]

#[path = "../../src/dockerignore.rs"]
mod dockerignore;
#[path = "../../src/dockerignore/reference.rs"]
mod reference;

use dockerignore::DockerIgnore;
use libfuzzer_sys::fuzz_target;

/// Inputs up to this size are compared with the exponential reference.
const SMALL: usize = 64;

fuzz_target!(|input: &str| {
    let (rules, paths) = input.split_once('\0').unwrap_or((input, "a"));
    let ignore = DockerIgnore::parse(rules);
    let exceptions = ignore.has_exclusions();
    // One budget for all the paths of an input, so a slow oracle does not slow fuzzing down.
    let budget = reference::Budget::new(20_000);
    for path in paths.split('\n') {
        let mut components: Vec<&str> = path.split('/').collect();
        let excluded = ignore.excludes(&components);
        if rules.len() <= SMALL && path.len() <= SMALL && !budget.exhausted() {
            if let Some(expected) = reference::excludes(rules, &components, &budget) {
                assert_eq!(excluded, expected, "rules {rules:?}, path {path:?}");
            }
        }
        if excluded && !exceptions {
            components.push("below");
            assert!(ignore.excludes(&components), "rules {rules:?}, {path:?}/below");
        }
    }
});
