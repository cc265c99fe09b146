//! Fuzz target: reading `osbs.conf` never panics, every error names the file, and the
//! settings returned are those of the instance asked for.
//!
//! Input: the file's text, then optionally a NUL and the instance name (else `default`).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use osbs_client::config;

const FILE: &str = "fuzz/osbs.conf";

fuzz_target!(|input: &str| {
    let (text, instance) = input.split_once('\0').unwrap_or((input, "default"));
    let path = Path::new(FILE);
    match config::parse(text, path, instance) {
        Ok(settings) => {
            assert_eq!(settings.name, instance);
            assert_eq!(settings.file.as_deref(), Some(path));
            for warning in &settings.warnings {
                assert!(warning.starts_with(FILE), "{warning}");
            }
            let _ = settings.registry.to_string();
            if let Some(sync) = &settings.sync {
                let _ = sync.registry.to_string();
            }
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.starts_with(FILE), "{message}");
        }
    }
});
