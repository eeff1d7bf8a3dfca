//! [`TaskId`]: the numeric id `in.php` hands out for a submitted task.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The id of a submitted task.
///
/// CaptchaAI ids are numeric. The documentation shows them as JSON strings
/// (`"request":"2122988149"`) while production was seen sending JSON integers
/// (`"request":2122988149`); both parse to the same `TaskId`.
///
/// ```
/// use captchaai_client::TaskId;
///
/// let id: TaskId = "2122988149".parse().unwrap();
/// assert_eq!(id, TaskId::new(2122988149));
/// assert_eq!(id.to_string(), "2122988149");
/// assert!("12a".parse::<TaskId>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    /// Wraps a numeric id.
    pub const fn new(id: u64) -> Self {
        TaskId(id)
    }

    /// The numeric value.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u64> for TaskId {
    fn from(id: u64) -> Self {
        TaskId(id)
    }
}

impl FromStr for TaskId {
    type Err = Error;

    /// Accepts ASCII digits only (no sign, no spaces), at most 20 of them, fitting `u64`.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::unexpected(format!(
                "task id is not numeric: {:?}",
                truncate(s, 40)
            )));
        }
        s.parse::<u64>()
            .map(TaskId)
            .map_err(|_| Error::unexpected("task id does not fit in 64 bits"))
    }
}

/// Shortens untrusted text for error messages.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((idx, _)) => &s[..idx],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digits_only() {
        assert_eq!("0".parse::<TaskId>().unwrap().get(), 0);
        assert_eq!(
            "18446744073709551615".parse::<TaskId>().unwrap().get(),
            u64::MAX
        );
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "18446744073709551616",
            "abc",
        ] {
            assert!(bad.parse::<TaskId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 2), "éé");
        assert_eq!(truncate("ab", 5), "ab");
    }
}
