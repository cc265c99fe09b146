//! The `.dockerignore` rules of a build context, as Docker reads them: one pattern a line, `#`
//! comments, `!` exceptions, the last matching rule deciding. Patterns are Go's
//! `filepath.Match` per path component (`*`, `?`, `[...]` with `^`/`!` negation and ranges,
//! `\` escapes), a `**` component spans any number of components, and a pattern that matches a
//! directory also matches everything below it.
//!
//! Matching takes time linear in the path whatever the pattern: each rule is compiled into a
//! position automaton (a Glushkov NFA) and the path is run through it once, with the set of
//! live pattern positions kept as a bitset, so one path byte costs one pass over
//! ⌈positions/64⌉ words (O(path × pattern / 64) in all, no backtracking). A `*` is a position
//! with a self-loop; a `**` component is two positions, "at a component boundary" and "inside a
//! component", so it can only be left at a boundary. The path is read as its components with a
//! separator symbol after each (not a `/` byte: a component is matched as the bytes it has), and
//! a rule matches when the automaton accepts right after a separator, that is on some prefix of
//! the components: the directory rule for free.
//!
//! ```
//! use osbs_reactor::dockerignore::DockerIgnore;
//!
//! let ignore = DockerIgnore::parse("**/*.log\nsecret\n!secret/keep\n");
//! assert!(ignore.excludes(&["build", "out", "a.log"]));
//! assert!(ignore.excludes(&["secret", "drop"]));
//! assert!(!ignore.excludes(&["secret", "keep"]));
//! assert!(!ignore.excludes(&["src", "main.rs"]));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

#[cfg(test)]
mod reference;

/// The rules of a `.dockerignore` file, in order; the last matching rule decides.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
    /// The widest automaton's bitset, in words (the scratch size of [`DockerIgnore::excludes`]).
    words: usize,
}

/// One `.dockerignore` rule.
#[derive(Debug, Clone)]
struct Rule {
    exclusion: bool,
    automaton: Automaton,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore`. Every line is a rule; blank lines and `#` comments
    /// are skipped, and so are patterns with no component besides `.` (such as `/`).
    pub fn parse(text: &str) -> Self {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let segments: Vec<&str> = pattern
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .collect();
            if segments.is_empty() {
                continue;
            }
            rules.push(Rule {
                exclusion,
                automaton: Automaton::compile(&segments),
            });
        }
        let words = rules.iter().map(|r| r.automaton.words).max().unwrap_or(0);
        DockerIgnore { rules, words }
    }

    /// Reads `dir/.dockerignore`; no file means no rules.
    ///
    /// # Errors
    ///
    /// Any error reading the file but "not found".
    pub fn load(dir: &Path) -> io::Result<Self> {
        match fs::read_to_string(dir.join(".dockerignore")) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Whether any rule is an exception (`!pattern`): then an excluded directory may still
    /// hold files to send, and has to be walked.
    pub fn has_exclusions(&self) -> bool {
        self.rules.iter().any(|r| r.exclusion)
    }

    /// Whether the path, given as its components (relative, the text between the `/`), is
    /// excluded from the context. A pattern also matches everything below a directory it
    /// matches. Takes O(path length × pattern length / 64) per rule.
    pub fn excludes(&self, components: &[&str]) -> bool {
        let mut scratch = Vec::with_capacity(self.words);
        self.rules
            .iter()
            .rev()
            .find(|rule| rule.automaton.matches_a_prefix(components, &mut scratch))
            .is_some_and(|rule| !rule.exclusion)
    }
}

/// What one position of the automaton reads.
#[derive(Clone, Copy)]
enum Position {
    /// One byte out of a set (a literal, an escape, `?`, a `[...]` class).
    Byte([u64; 4]),
    /// `*`: any bytes of the component, then on to the next position.
    Star,
    /// The end of a component (the separator after it).
    Separator,
    /// `**`, at a component boundary: may read a separator (an empty component), a byte (then
    /// it is inside a component), or be left.
    AnyComponentsBoundary,
    /// `**`, inside a component: reads bytes, and a separator brings it back to the boundary.
    AnyComponentsInside,
}

/// The position automaton of one pattern as bit masks over its positions; position `accept`
/// (one past the last) is the accepting state.
#[derive(Clone)]
struct Automaton {
    /// Words per bitset.
    words: usize,
    accept: usize,
    /// Positions that move on (one position to the right) when reading each byte: index into
    /// `rows` (`words` words each) by byte value.
    row_of: [u16; 256],
    rows: Vec<u64>,
    /// Positions that stay where they are on a byte (`*`, `**` inside a component).
    stay_on_byte: Vec<u64>,
    /// `*` positions (ε-move to the next position).
    star: Vec<u64>,
    /// Separator positions (move on when reading a separator).
    separator: Vec<u64>,
    /// `**` boundary positions (stay on a separator; ε-move two positions to the right).
    boundary: Vec<u64>,
    /// `**` inside positions (move back to the boundary on a separator).
    inside: Vec<u64>,
}

impl fmt::Debug for Automaton {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Automaton")
            .field("positions", &self.accept)
            .finish_non_exhaustive()
    }
}

/// The bytes a `[...]` class at the start of `class` (just after the `[`) accepts and the rest
/// of the component after its `]`; `None` when it is not closed (then the pattern matches
/// nothing). The same reading as Go's `filepath.Match`, quirks included: a `]` right after the
/// `[` (or the `^`/`!`) is a member, a `\` escapes the low end of a range but not the high one.
fn class(class: &[u8]) -> Option<([u64; 4], &[u8])> {
    let (negate, mut class) = match class.first() {
        Some(b'^' | b'!') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut set = [0u64; 4];
    let mut first = true;
    loop {
        match class.split_first() {
            None => return None,
            Some((b']', after)) if !first => {
                class = after;
                break;
            }
            Some((&lo, after)) => {
                let (lo, after) = if lo == b'\\' && !after.is_empty() {
                    (after[0], &after[1..])
                } else {
                    (lo, after)
                };
                let hi = if after.len() >= 2 && after[0] == b'-' && after[1] != b']' {
                    let hi = after[1];
                    class = &after[2..];
                    hi
                } else {
                    class = after;
                    lo
                };
                for c in lo..=hi {
                    set[usize::from(c / 64)] |= 1 << (c % 64);
                }
            }
        }
        first = false;
    }
    if negate {
        for word in &mut set {
            *word = !*word;
        }
    }
    Some((set, class))
}

/// The positions of one component pattern (not `**`), its separator included.
fn component_positions(pattern: &[u8], out: &mut Vec<Position>) {
    let mut rest = pattern;
    let mut last_was_star = false;
    while let Some((&c, after)) = rest.split_first() {
        let (position, after) = match c {
            b'*' => {
                rest = after;
                if !last_was_star {
                    out.push(Position::Star);
                }
                last_was_star = true;
                continue;
            }
            b'?' => (Position::Byte([u64::MAX; 4]), after),
            b'[' => match class(after) {
                Some((set, after)) => (Position::Byte(set), after),
                None => {
                    // An unclosed class matches no byte, so the component matches nothing.
                    out.push(Position::Byte([0; 4]));
                    break;
                }
            },
            b'\\' if !after.is_empty() => (Position::Byte(single(after[0])), &after[1..]),
            c => (Position::Byte(single(c)), after),
        };
        out.push(position);
        last_was_star = false;
        rest = after;
    }
    out.push(Position::Separator);
}

fn single(c: u8) -> [u64; 4] {
    let mut set = [0; 4];
    set[usize::from(c / 64)] = 1 << (c % 64);
    set
}

fn set_bit(mask: &mut [u64], bit: usize) {
    mask[bit / 64] |= 1 << (bit % 64);
}

impl Automaton {
    /// Compiles the components of one pattern (none empty, none `.`).
    fn compile(segments: &[&str]) -> Self {
        let mut positions = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            if *segment == "**" {
                // `**/**` spans what one `**` spans.
                if i > 0 && segments[i - 1] == "**" {
                    continue;
                }
                positions.push(Position::AnyComponentsBoundary);
                positions.push(Position::AnyComponentsInside);
            } else {
                component_positions(segment.as_bytes(), &mut positions);
            }
        }
        let accept = positions.len();
        let words = accept / 64 + 1;
        // Positions that move on whatever the byte (`?`, `**`), and, for the few bytes some
        // literal or class names, the positions that move on for that byte alone.
        let mut any_byte = vec![0; words];
        let mut named_row = [u16::MAX; 256];
        let mut named = Vec::new();
        let mut stay_on_byte = vec![0; words];
        let mut star = vec![0; words];
        let mut separator = vec![0; words];
        let mut boundary = vec![0; words];
        let mut inside = vec![0; words];
        for (p, position) in positions.iter().enumerate() {
            match position {
                Position::Byte(set) if *set == [u64::MAX; 4] => set_bit(&mut any_byte, p),
                Position::Byte(set) => {
                    for (w, &bits) in set.iter().enumerate() {
                        let mut bits = bits;
                        while bits != 0 {
                            let c = w * 64 + bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            if named_row[c] == u16::MAX {
                                // At most 256 named bytes: the index fits.
                                named_row[c] = (named.len() / words) as u16;
                                named.resize(named.len() + words, 0);
                            }
                            let row = usize::from(named_row[c]) * words;
                            set_bit(&mut named[row..row + words], p);
                        }
                    }
                }
                Position::Star => {
                    set_bit(&mut star, p);
                    set_bit(&mut stay_on_byte, p);
                }
                Position::Separator => set_bit(&mut separator, p),
                Position::AnyComponentsBoundary => {
                    set_bit(&mut boundary, p);
                    // A byte starts a component: on to the inside position.
                    set_bit(&mut any_byte, p);
                }
                Position::AnyComponentsInside => {
                    set_bit(&mut inside, p);
                    set_bit(&mut stay_on_byte, p);
                }
            }
        }
        // Row 0 is for the bytes no literal or class names; each distinct row is stored once.
        let mut row_of = [0u16; 256];
        let mut rows = any_byte.clone();
        let mut seen: HashMap<Vec<u64>, u16> = HashMap::new();
        seen.insert(any_byte.clone(), 0);
        for (c, &named_row) in named_row.iter().enumerate() {
            if named_row == u16::MAX {
                continue;
            }
            let start = usize::from(named_row) * words;
            let row: Vec<u64> = named[start..start + words]
                .iter()
                .zip(&any_byte)
                .map(|(n, a)| n | a)
                .collect();
            // At most 257 distinct rows: the index fits.
            let next = seen.len() as u16;
            row_of[c] = *seen.entry(row).or_insert_with_key(|row| {
                rows.extend_from_slice(row);
                next
            });
        }
        Automaton {
            words,
            accept,
            row_of,
            rows,
            stay_on_byte,
            star,
            separator,
            boundary,
            inside,
        }
    }

    /// Whether the pattern matches the first n components for some n ≥ 1. `state` is scratch.
    fn matches_a_prefix(&self, components: &[&str], state: &mut Vec<u64>) -> bool {
        let words = self.words;
        state.clear();
        state.resize(words, 0);
        state[0] = 1;
        self.close_after_separator(state);
        for component in components {
            for &byte in component.as_bytes() {
                let row = usize::from(self.row_of[usize::from(byte)]) * words;
                let row = &self.rows[row..row + words];
                let (mut moved, mut star_carry, mut live) = (0, 0, 0);
                for i in 0..words {
                    let d = state[i];
                    let m = d & row[i];
                    let mut v = (m << 1) | moved | (d & self.stay_on_byte[i]);
                    moved = m >> 63;
                    // ε-closure: a `*` position may also be passed over.
                    let s = v & self.star[i];
                    v |= (s << 1) | star_carry;
                    star_carry = s >> 63;
                    state[i] = v;
                    live |= v;
                }
                if live == 0 {
                    return false;
                }
            }
            let mut moved = 0;
            for i in 0..words {
                let d = state[i];
                let m = d & self.separator[i];
                let back_here = (d & self.inside[i]) >> 1;
                let back_above = match state.get(i + 1) {
                    Some(&above) => (above & self.inside[i + 1]) << 63,
                    None => 0,
                };
                state[i] = (m << 1) | moved | (d & self.boundary[i]) | back_here | back_above;
                moved = m >> 63;
            }
            self.close_after_separator(state);
            if state[self.accept / 64] >> (self.accept % 64) & 1 == 1 {
                return true;
            }
            if state.iter().all(|&w| w == 0) {
                return false;
            }
        }
        false
    }

    /// ε-closure: a `**` boundary position may be left (two positions on), then a `*` passed
    /// over. (After a byte only the second can apply: no byte leads to a boundary.)
    fn close_after_separator(&self, state: &mut [u64]) {
        let (mut boundary_carry, mut star_carry) = (0, 0);
        for (i, word) in state.iter_mut().enumerate() {
            let b = *word & self.boundary[i];
            let mut v = *word | (b << 2) | boundary_carry;
            boundary_carry = b >> 62;
            let s = v & self.star[i];
            v |= (s << 1) | star_carry;
            star_carry = s >> 63;
            *word = v;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Whether `rules` exclude the `/`-separated `path` (also used by `context_tar`'s tests).
    pub(crate) fn excluded(rules: &str, path: &str) -> bool {
        let components: Vec<&str> = path.split('/').collect();
        DockerIgnore::parse(rules).excludes(&components)
    }

    #[test]
    fn double_star_and_edges() {
        assert!(excluded("build/**", "build"));
        assert!(excluded("build/**", "build/a/b"));
        assert!(excluded("a/**/b", "a/b"));
        assert!(excluded("a/**/b", "a/x/y/b"));
        assert!(excluded("a/**/b", "a/x//b"));
        assert!(!excluded("a/**/b", "a/x/y"));
        assert!(excluded("**", "anything/at/all"));
        assert!(excluded("a/**/**/b", "a/b"));
        assert!(excluded("a**b", "ab"));
        assert!(!excluded("a**b", "a/b"));
        assert!(excluded("*", ""));
        assert!(!excluded("[abc", "a"));
        assert!(!excluded("*[abc", "xa"));
        assert!(excluded("[]a]", "]"));
        assert!(excluded("[!]a]", "b"));
        assert!(excluded("\\*", "*"));
        assert!(!excluded("\\*", "x"));
        assert!(excluded("a\\", "a\\"));
        assert!(excluded("[\\]]", "]"));
        assert!(excluded("[Z-\\]x", "\\x"));
        assert!(!excluded("[a-\\]x", "\\x"));
        assert!(!excluded("[z-a]", "m"));
        assert!(excluded("./a/./b", "a/b"));
        assert!(!DockerIgnore::parse("a").excludes(&[]));
    }

    /// The old recursive matcher took exponential time on these; the automaton is linear.
    #[test]
    fn pathological_patterns_finish() {
        let long = "a".repeat(4096);
        let cases = [
            ("*".repeat(1024), true),
            (format!("{}b", "*a".repeat(512)), false),
            (format!("{}*b", "a*".repeat(512)), false),
            ("**/".repeat(340), true),
            (format!("{}x", "**/".repeat(340)), false),
        ];
        for (pattern, expected) in cases {
            assert_eq!(excluded(&pattern, &long), expected, "{pattern:.20}");
        }
        let many = vec!["a"; 2048].join("/");
        assert!(excluded(&"*/".repeat(512), &many));
        assert!(excluded(&"**/a/".repeat(200), &many));
        assert!(!excluded(&format!("{}b", "**/a/".repeat(200)), &many));
    }

    /// Every ASCII byte in a class of its own, plus non-ASCII: many distinct byte rows.
    #[test]
    fn many_distinct_bytes() {
        let mut pattern = String::new();
        for c in (1u8..128).filter(|c| !b"/\\]!^\n\r".contains(c)) {
            pattern.push_str(&format!("[!{}]", char::from(c)));
        }
        pattern.push_str("[!é]*ü");
        let ignore = DockerIgnore::parse(&pattern);
        for path in ["abc", "ü", "éü", "ééü", "aü/x"] {
            let components: Vec<&str> = path.split('/').collect();
            let budget = reference::Budget::new(1_000_000);
            let expected = reference::excludes(&pattern, &components, &budget);
            assert_eq!(Some(ignore.excludes(&components)), expected, "{path}");
        }
    }

    /// A small deterministic generator (splitmix64), so a failure replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn text(&mut self, alphabet: &[&str], max_len: usize) -> String {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    /// The automaton agrees with the old recursive matcher on many small random inputs.
    #[test]
    fn agrees_with_the_reference() {
        const PATTERN: &[&str] = &[
            "a", "b", "a", "*", "*", "**", "?", "[", "]", "[a-b]", "[!a]", "^", "-", "\\", "/",
            "/", ".", "!", " ", "\n", "#",
        ];
        const PATH: &[&str] = &["a", "b", "a", "/", "/", "-", "]", "\\", ".", "*", "[", "^"];
        let mut rng = Rng(0x05b5_d0c4);
        let mut compared = 0;
        for _ in 0..20_000 {
            let rules = rng.text(PATTERN, 12);
            let ignore = DockerIgnore::parse(&rules);
            for _ in 0..4 {
                let path = rng.text(PATH, 10);
                let components: Vec<&str> = path.split('/').collect();
                let budget = reference::Budget::new(100_000);
                let Some(expected) = reference::excludes(&rules, &components, &budget) else {
                    continue;
                };
                assert_eq!(
                    ignore.excludes(&components),
                    expected,
                    "rules {rules:?}, path {path:?}"
                );
                compared += 1;
            }
        }
        assert!(compared > 70_000, "only {compared} comparisons");
    }

    #[test]
    fn load() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!DockerIgnore::load(dir.path()).unwrap().has_exclusions());
        fs::write(dir.path().join(".dockerignore"), "*\n!keep\n").unwrap();
        let ignore = DockerIgnore::load(dir.path()).unwrap();
        assert!(ignore.has_exclusions());
        assert!(ignore.excludes(&["drop"]));
        assert!(!ignore.excludes(&["keep"]));
    }
}
