//! Every string of up to five characters over an alphabet of the grammar's interesting
//! characters: parsing never panics, and every accepted reference is normalised (its display
//! and familiar forms parse back to it) and within the limits.

use osbs_core::ImageReference;
use osbs_core::reference::REPOSITORY_NAME_MAX_LEN;

const ALPHABET: [char; 12] = ['a', 'A', '1', '.', '_', '-', ':', '/', '@', '[', ']', 'é'];
const MAX_LEN: u32 = 5;

#[test]
fn short_strings_round_trip() {
    let mut accepted = 0_usize;
    let mut total = 0_usize;
    let mut input = String::new();
    for len in 0..=MAX_LEN {
        for mut n in 0..ALPHABET.len().pow(len) {
            input.clear();
            for _ in 0..len {
                input.push(ALPHABET[n % ALPHABET.len()]);
                n /= ALPHABET.len();
            }
            total += 1;
            let Ok(r) = input.parse::<ImageReference>() else {
                continue;
            };
            accepted += 1;
            assert!(!r.registry().is_empty(), "{input:?}");
            assert!(r.repository().len() <= REPOSITORY_NAME_MAX_LEN, "{input:?}");
            let display = r.to_string();
            assert_eq!(
                display.parse::<ImageReference>().as_ref(),
                Ok(&r),
                "{input:?}"
            );
            assert_eq!(
                r.familiar().parse::<ImageReference>().as_ref(),
                Ok(&r),
                "{input:?}"
            );
            assert_eq!(
                display,
                format!(
                    "{}{}{}",
                    r.name(),
                    r.tag().map(|t| format!(":{t}")).unwrap_or_default(),
                    r.digest().map(|d| format!("@{d}")).unwrap_or_default()
                )
            );
        }
    }
    assert_eq!(
        total,
        (0..=MAX_LEN).map(|l| ALPHABET.len().pow(l)).sum::<usize>()
    );
    // Pins how much of the space is valid, so a grammar change shows up here.
    insta::assert_snapshot!(format!("{accepted} of {total} accepted"));
}
