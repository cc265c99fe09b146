//! Fuzz target: `DockerConfig::parse` never panics, every registry it lists gets its
//! credential back from `credential_for`, normalising a registry twice changes nothing, and no
//! secret of the input shows in the parsed config's `Debug` or in an error message.
//!
//! Input: the Docker config text, then optionally NUL-separated registry names to look up.

#![no_main]

use libfuzzer_sys::fuzz_target;
use osbs_core::auth::{DockerConfig, normalize_registry};
use serde_json::Value;

/// The secret values an input holds (passwords, tokens and the password half of `auth`), long
/// and distinctive enough that finding one in the output is a leak and not a coincidence.
fn secrets(text: &str) -> Vec<String> {
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let registries = match top.get("auths") {
        Some(Value::Object(auths)) => auths.clone(),
        _ => top,
    };
    let mut out = Vec::new();
    // What the config's Debug shows besides secrets: keys, user names, its own skeleton.
    let mut public: Vec<String> = [
        "DockerConfig { entries: [",
        "Basic { username: ",
        "password: <redacted> }",
        "IdentityToken { username: Some(",
        "IdentityToken { username: None, ",
        "token: <redacted> }",
        "RegistryToken(<redacted>)",
    ]
    .map(str::to_owned)
    .into();
    for (key, entry) in &registries {
        public.push(key.clone());
        public.push(normalize_registry(key));
        let Value::Object(entry) = entry else {
            continue;
        };
        for (field, value) in entry {
            let Value::String(value) = value else {
                continue;
            };
            match field.as_str() {
                "password" | "identitytoken" | "registrytoken" => out.push(value.clone()),
                "auth" => {
                    use base64::Engine as _;
                    if let Ok(decoded) =
                        base64::engine::general_purpose::STANDARD.decode(value.trim())
                        && let Ok(decoded) = String::from_utf8(decoded)
                        && let Some((user, password)) = decoded.split_once(':')
                    {
                        public.push(user.to_owned());
                        out.push(password.to_owned());
                    }
                }
                _ => public.push(value.clone()),
            }
        }
    }
    out.retain(|s| s.chars().count() >= 12 && !public.iter().any(|p| p.contains(s.as_str())));
    out
}

fuzz_target!(|input: &str| {
    let mut parts = input.split('\0');
    let text = parts.next().unwrap_or_default();
    let secrets = secrets(text);

    for registry in parts.clone() {
        let once = normalize_registry(registry);
        assert_eq!(normalize_registry(&once), once, "{registry:?}");
    }

    match DockerConfig::parse(text) {
        Ok(config) => {
            let shown = format!("{config:?}");
            for secret in &secrets {
                assert!(!shown.contains(secret.as_str()), "{secret:?} in {shown}");
            }
            for registry in config.registries() {
                assert_eq!(registry, normalize_registry(registry));
                assert!(
                    config.credential_for(registry).is_some(),
                    "no credential for listed registry {registry:?}"
                );
            }
            assert_eq!(config.is_empty(), config.registries().next().is_none());
            for registry in parts {
                let credential = config.credential_for(registry);
                // Lookup is by the normalised name only.
                assert_eq!(
                    credential,
                    config.credential_for(&normalize_registry(registry))
                );
            }
        }
        Err(err) => {
            let message = err.to_string();
            let debug = format!("{err:?}");
            for secret in &secrets {
                assert!(
                    !message.contains(secret.as_str()),
                    "{secret:?} in {message}"
                );
                assert!(!debug.contains(secret.as_str()), "{secret:?} in {debug}");
            }
        }
    }
});
