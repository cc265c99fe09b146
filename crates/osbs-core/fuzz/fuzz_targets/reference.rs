//! Fuzz target: `ImageReference` parsing never panics, and every accepted reference is
//! normalised: its display and familiar forms parse back to the same reference.

#![no_main]

use libfuzzer_sys::fuzz_target;
use osbs_core::ImageReference;
use osbs_core::reference::REPOSITORY_NAME_MAX_LEN;

fuzz_target!(|input: &str| {
    let Ok(reference) = input.parse::<ImageReference>() else {
        return;
    };
    assert!(!reference.registry().is_empty(), "{input:?}");
    assert!(
        reference.repository().len() <= REPOSITORY_NAME_MAX_LEN,
        "{input:?}"
    );

    let display = reference.to_string();
    let reparsed = display.parse::<ImageReference>();
    assert_eq!(
        reparsed.as_ref(),
        Ok(&reference),
        "display {display:?} of {input:?}"
    );
    // The display form is canonical: it prints back unchanged.
    assert_eq!(
        reparsed.map(|r| r.to_string()).as_deref(),
        Ok(display.as_str())
    );

    let familiar = reference.familiar();
    assert_eq!(
        familiar.parse::<ImageReference>().as_ref(),
        Ok(&reference),
        "familiar {familiar:?} of {input:?}"
    );

    // The builders keep the reference valid.
    let trimmed = reference.without_tag_and_digest();
    assert_eq!(
        trimmed.to_string().parse::<ImageReference>().as_ref(),
        Ok(&trimmed)
    );
    let pulled = reference.docker_ref();
    assert_eq!(
        pulled.to_string().parse::<ImageReference>().as_ref(),
        Ok(&pulled)
    );
});
