//! The `.dockerignore` matcher as it was before the NFA: a direct recursive reading of the rules
//! (Go's `filepath.Match` per component, `**` trying every number of components), exponential
//! in the number of `*`. Kept only as the oracle of the tests and of the `dockerignore` fuzz
//! target (which includes this file by path), with a step budget so an oracle call on a
//! pathological input gives up instead of running for hours.

use std::cell::Cell;

/// Steps the reference may take before it gives up.
pub struct Budget(Cell<u64>);

impl Budget {
    /// A budget of `steps` recursive calls.
    pub fn new(steps: u64) -> Self {
        Budget(Cell::new(steps))
    }

    /// Whether the budget ran out (the answer is then meaningless).
    pub fn exhausted(&self) -> bool {
        self.0.get() == 0
    }

    /// Takes one step; `false` once the budget is spent.
    fn tick(&self) -> bool {
        let left = self.0.get();
        if left == 0 {
            return false;
        }
        self.0.set(left - 1);
        true
    }
}

/// One `.dockerignore` rule.
struct Rule {
    segments: Vec<String>,
    exclusion: bool,
}

fn parse(text: &str) -> Vec<Rule> {
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
        let segments: Vec<String> = pattern
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .map(str::to_owned)
            .collect();
        if segments.is_empty() {
            continue;
        }
        rules.push(Rule {
            segments,
            exclusion,
        });
    }
    rules
}

/// Whether the rules of the `.dockerignore` text `text` exclude the path given as its
/// components; `None` when the budget ran out first.
pub fn excludes(text: &str, components: &[&str], budget: &Budget) -> Option<bool> {
    let mut excluded = false;
    for rule in &parse(text) {
        let matched = (1..=components.len())
            .any(|n| match_segments(&rule.segments, &components[..n], budget));
        if budget.exhausted() {
            return None;
        }
        if matched {
            excluded = !rule.exclusion;
        }
    }
    Some(excluded)
}

/// Whether pattern segments match path components exactly (`**` spans any number of them).
fn match_segments(pattern: &[String], path: &[&str], budget: &Budget) -> bool {
    if !budget.tick() {
        return false;
    }
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..], budget))
        }
        Some((first, rest)) => match path.split_first() {
            Some((component, path_rest)) => {
                glob(first.as_bytes(), component.as_bytes(), budget)
                    && match_segments(rest, path_rest, budget)
            }
            None => false,
        },
    }
}

/// Go's `filepath.Match` for one path component: `*`, `?`, `[...]` (with `^`/`!` negation and
/// ranges) and `\` escapes.
fn glob(pattern: &[u8], text: &[u8], budget: &Budget) -> bool {
    if !budget.tick() {
        return false;
    }
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..], budget)),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..], budget),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let (negate, mut class) = match rest.first() {
                Some(b'^' | b'!') => (true, &rest[1..]),
                _ => (false, rest),
            };
            let mut matched = false;
            let mut first = true;
            loop {
                match class.split_first() {
                    None => return false,
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
                        if after.len() >= 2 && after[0] == b'-' && after[1] != b']' {
                            let hi = after[1];
                            matched |= lo <= c && c <= hi;
                            class = &after[2..];
                        } else {
                            matched |= lo == c;
                            class = after;
                        }
                    }
                }
                first = false;
            }
            matched != negate && glob(class, text_rest, budget)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && glob(&rest[1..], &text[1..], budget)
        }
        Some((&p, rest)) => text.first() == Some(&p) && glob(rest, &text[1..], budget),
    }
}
