//! Where a value is in a TOML document: the byte range of a dotted field path
//! (`accounts[0].key`, `pingback.rules[1].fault`), the element of an array of tables that
//! does not parse, and 1-based lines and columns. Configuration errors use it to point at the
//! offending value; so do tools that embed the mock's syntax in their own TOML files.

use std::ops::Range;

/// Points at values in one TOML document, so an error can name the line and column of what
/// it is about, as [`Config::from_toml`](crate::Config::from_toml) does.
///
/// For tools that embed the mock's configuration syntax (fault rules, distributions, rate
/// limits) in their own TOML files, as the conformance harness's scenario files do, and want
/// their errors to point where the mock's own do:
///
/// ```
/// use captchaai_mock::{FaultRule, TomlLocator};
///
/// let text = "name = \"x\"\n[[faults]]\nfault = \"drop\"\n[[faults]]\nfault = { duplicate = { copies = 0 } }\n";
/// #[derive(Debug, serde::Deserialize)]
/// struct File { #[allow(dead_code)] name: String, #[allow(dead_code)] faults: Vec<FaultRule> }
/// let error = toml::from_str::<File>(text).unwrap_err();
/// let doc = TomlLocator::new(text);
/// // toml points an error in any `[[faults]]` table at the first one; this finds the right one.
/// let (index, span) = doc.failing_element::<FaultRule>("faults", &error).unwrap();
/// assert_eq!(index, 1);
/// assert_eq!(doc.line_col(span.start), (5, 34));
/// assert_eq!(doc.span("name").map(|r| &text[r]), Some("\"x\""));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TomlLocator<'a> {
    text: &'a str,
}

impl<'a> TomlLocator<'a> {
    /// A locator over a TOML document's text.
    pub fn new(text: &'a str) -> Self {
        TomlLocator { text }
    }

    /// The byte range of the value at a dotted field path (`accounts[0].key`,
    /// `solving.unsolvable.geetest`), for pointing at the offending value once the document
    /// has parsed. A missing key gives the range of the nearest table that is present (its
    /// default was kept); `None` when the text does not parse or not even the first key is
    /// present.
    pub fn span(&self, field: &str) -> Option<Range<usize>> {
        let root = toml::de::DeTable::parse(self.text).ok()?;
        locate_path(root.get_ref(), field).map(|(range, _)| range)
    }

    /// toml reports an error inside an array of tables (`[[faults]]`) at the array's first
    /// header, whichever element is wrong. This finds the element of `array` (a dotted path)
    /// that does not deserialize as `T`, and in it the value the message starts with
    /// (`duplicate.copies must be ...`), directly or one table down; else the element itself.
    /// Gives the element's index and the span; `None` when the error is elsewhere.
    pub fn failing_element<T: serde::de::DeserializeOwned>(
        &self,
        array: &str,
        error: &toml::de::Error,
    ) -> Option<(usize, Range<usize>)> {
        let message = error.message();
        let doc: toml::Table = toml::from_str(self.text).ok()?;
        let mut value = None;
        let mut table = &doc;
        for key in array.split('.') {
            let v = table.get(key)?;
            value = Some(v);
            if let Some(t) = v.as_table() {
                table = t;
            }
        }
        let items = value?.as_array()?;
        let i = items
            .iter()
            .position(|v| v.clone().try_into::<T>().is_err())?;
        let root = toml::de::DeTable::parse(self.text).ok()?;
        let root = root.get_ref();
        let element = format!("{array}[{i}]");
        let whole = exact(root, &element)?;
        // toml falls back to the array's own span (the first `[[...]]` header);
        // anywhere else, it pointed at the value itself.
        let fell_back = match error.span() {
            None => true,
            Some(r) => [exact(root, array), exact(root, &format!("{array}[0]"))].contains(&Some(r)),
        };
        if !fell_back {
            return None;
        }
        // `duplicate.copies must be ...` or `match.tasks: need ...`.
        let named = message
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches(':');
        let mut candidates = vec![format!("{element}.{named}")];
        if let Some(t) = items[i].as_table() {
            candidates.extend(t.keys().map(|k| format!("{element}.{k}.{named}")));
        }
        let span = candidates
            .iter()
            .find_map(|f| exact(root, f))
            .unwrap_or(whole);
        Some((i, span))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

fn exact(root: &toml::de::DeTable<'_>, field: &str) -> Option<Range<usize>> {
    locate_path(root, field).and_then(|(range, whole)| whole.then_some(range))
}

/// The span of `field`'s value, or of the nearest ancestor present, and
/// whether the whole path was found.
fn locate_path(root: &toml::de::DeTable<'_>, field: &str) -> Option<(Range<usize>, bool)> {
    use toml::de::DeValue;
    let mut table = root;
    let mut found = None;
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let Some(mut value) = table.get(key) else {
            return found.map(|r| (r, false));
        };
        found = Some(value.span());
        for index in indices
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .map(str::parse::<usize>)
        {
            let item = match (value.get_ref(), index) {
                (DeValue::Array(items), Ok(i)) => items.get(i),
                _ => None,
            };
            let Some(item) = item else {
                return found.map(|r| (r, false));
            };
            value = item;
            found = Some(value.span());
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ if parts.peek().is_some() => return found.map(|r| (r, false)),
            _ => {}
        }
    }
    found.map(|r| (r, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_values_in_every_toml_shape() {
        let text = "seed = 4\n[[accounts]]\nkey = \"a\"\n[[accounts]]\nkey = \"b\"\n\
                    [api]\nrate-limits = { ip-ban = { bad-keys = 3 } }\nlist = [1, [2, 30]]\n";
        let doc = TomlLocator::new(text);
        let at = |field: &str| doc.span(field).map(|r| &text[r]);
        assert_eq!(at("seed"), Some("4"));
        assert_eq!(at("accounts[1].key"), Some("\"b\""));
        assert_eq!(at("api.rate-limits.ip-ban.bad-keys"), Some("3"));
        assert_eq!(at("api.list[1][1]"), Some("30"));
        // Missing keys fall back to the nearest table that is there.
        assert_eq!(
            at("api.rate-limits.max-user-turn"),
            Some("{ ip-ban = { bad-keys = 3 } }")
        );
        assert_eq!(
            at("accounts[7].key").map(|s| s.starts_with('[')),
            Some(true)
        );
        assert_eq!(at("solving.unsolvable-rate"), None);
        assert_eq!(TomlLocator::new("not toml = = =").span("seed"), None);
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        let lc = |text: &str, offset| TomlLocator::new(text).line_col(offset);
        assert_eq!(lc("ab\ncd", 0), (1, 1));
        assert_eq!(lc("ab\ncd", 4), (2, 2));
        assert_eq!(lc("é = 1", 3), (1, 3));
        assert_eq!(lc("é", 1), (1, 1));
        assert_eq!(lc("ab", 99), (1, 3));
    }
}
