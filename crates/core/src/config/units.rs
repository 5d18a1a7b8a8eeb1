//! Small value grammars shared by the validator: sizes (`512M`), durations (`30s`), cpu-lists
//! (`0-3,6`), jail names and hostnames. Pure functions; each error is a sentence for people.

use std::time::Duration;

/// A value that does not have its grammar: one sentence that names the value and says the
/// form it must have (the form is the fix, so it stays in the sentence). The validator puts
/// it into a [`super::ConfigError`] at the value's line; the command line's value parsers
/// print it as clap's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{0}")]
pub struct ValueError(pub String);

impl From<String> for ValueError {
    fn from(s: String) -> Self {
        ValueError(s)
    }
}

impl From<&str> for ValueError {
    fn from(s: &str) -> Self {
        ValueError(s.to_string())
    }
}

/// The sentence, for callers that put it into a longer message.
impl std::ops::Deref for ValueError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<ValueError> for String {
    fn from(e: ValueError) -> Self {
        e.0
    }
}

const SIZE_UNITS: [(char, u32); 6] = [('K', 1), ('M', 2), ('G', 3), ('T', 4), ('P', 5), ('E', 6)];

/// `512M`, `2G`, `1024`, `64k` (powers of 1024, suffix case-insensitive, optional `B`).
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let t = t
        .strip_suffix(['B', 'b'])
        .filter(|r| r.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let up = c.to_ascii_uppercase();
            match SIZE_UNITS.iter().find(|(u, _)| *u == up) {
                Some((_, p)) => (&t[..t.len() - 1], *p),
                None => return Err(ValueError(format!("unknown size suffix '{c}' in \"{s}\""))),
            }
        }
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError(format!(
            "\"{s}\" is not a size: write a whole number with an optional K, M, G, T, P or E suffix, e.g. \"512M\""
        )));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| ValueError(format!("size \"{s}\" is too large")))?;
    n.checked_mul(1u64 << (10 * shift))
        .ok_or_else(|| ValueError(format!("size \"{s}\" is too large")))
}

/// The shortest exact spelling of a byte count (`2G`, `1536M`, `100`).
pub fn format_size(n: u64) -> String {
    for (u, p) in SIZE_UNITS.iter().rev() {
        let unit = 1u64 << (10 * p);
        if n != 0 && n.is_multiple_of(unit) {
            return format!("{}{u}", n / unit);
        }
    }
    n.to_string()
}

/// `30s`, `2m`, `1h`, `500ms`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || {
        ValueError(format!(
            "\"{s}\" is not a duration: write a whole number with a unit ms, s, m or h, e.g. \"30s\""
        ))
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = |m: u64| {
        n.checked_mul(m)
            .map(Duration::from_secs)
            .ok_or_else(|| ValueError(format!("duration \"{s}\" is too large")))
    };
    let d = match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        _ => Err(bad()),
    }?;
    check_duration_bound(s, d)
}

/// The longest duration jailctl accepts anywhere (health intervals, timeouts, shutdown budget):
/// a day. Longer values are mistakes, and they would overflow deadline arithmetic.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Refuse a duration longer than [`MAX_DURATION`], naming the value and the limit.
pub fn check_duration_bound(s: &str, d: Duration) -> Result<Duration, ValueError> {
    if d > MAX_DURATION {
        Err(ValueError(format!(
            "duration \"{s}\" is too long: at most 24h (86400s)"
        )))
    } else {
        Ok(d)
    }
}

/// cpuset(1) cpu-list: `all`, or comma-separated CPU numbers and ranges `a-b` with a <= b.
pub fn check_cpu_list(s: &str) -> Result<(), ValueError> {
    if s == "all" {
        return Ok(());
    }
    if s.is_empty() {
        return Err("empty cpu-list".into());
    }
    let num = |p: &str| -> Result<u32, ValueError> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError(format!(
                "\"{p}\" in cpu-list \"{s}\" is not a CPU number"
            )));
        }
        p.parse::<u32>().ok().filter(|n| *n < 1024).ok_or_else(|| {
            ValueError(format!(
                "CPU {p} in cpu-list \"{s}\" is out of range (0-1023)"
            ))
        })
    };
    for item in s.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(ValueError(format!(
                        "range {a}-{b} in cpu-list \"{s}\" goes backwards; write {b}-{a}"
                    )));
                }
            }
            None => {
                num(item)?;
            }
        }
    }
    Ok(())
}

/// Letters, digits, `_` and `-`, starting with a letter or digit, at most 64 characters: the
/// shape of jail and volume names. `what` names the kind in the message.
pub fn check_plain_name(s: &str, what: &str) -> Result<(), ValueError> {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ValueError(format!(
            "\"{s}\" is not a valid {what}: use letters, digits, '_' and '-', starting with a letter or digit (no dots)"
        )));
    }
    if s.len() > 64 {
        return Err(ValueError(format!(
            "{what} \"{s}\" is longer than 64 characters"
        )));
    }
    Ok(())
}

/// RFC 1123 host name: dot-separated labels of letters, digits and '-', each 1-63
/// characters not starting or ending with '-', at most 253 characters in all.
pub fn check_hostname(s: &str) -> Result<(), ValueError> {
    if s.is_empty() || s.len() > 253 {
        return Err(ValueError(format!(
            "hostname \"{s}\" must be 1 to 253 characters long"
        )));
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(ValueError(format!(
                "hostname \"{s}\" has an invalid label \"{label}\": use letters, digits and '-', 1-63 characters, not starting or ending with '-'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rules::check_jail_name;

    #[test]
    fn durations_are_capped_at_a_day() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("86400"), Ok(Duration::from_secs(86400)));
        for s in [
            "25h",
            "86401s",
            "5000000000000000h",
            "18446744073709551615s",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(
                e.contains("at most 24h") || e.contains("too large"),
                "{s}: {e}"
            );
        }
    }
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2gb"), Ok(2 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(
            parse_size("2X")
                .unwrap_err()
                .contains("unknown size suffix")
        );
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("").is_err());
        assert!(
            parse_size("99999999999E")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(format_size(3 << 30), "3G");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn cpu_lists() {
        for ok in ["all", "0", "0-3", "0,2,4-7"] {
            assert_eq!(check_cpu_list(ok), Ok(()), "{ok}");
        }
        assert!(check_cpu_list("3-1").unwrap_err().contains("backwards"));
        assert!(check_cpu_list("0,,1").is_err());
        assert!(check_cpu_list("a-b").is_err());
        assert!(check_cpu_list("").is_err());
        assert!(check_cpu_list("2000").unwrap_err().contains("out of range"));
    }

    #[test]
    fn names_and_hostnames() {
        assert!(check_jail_name("web-1_a").is_ok());
        assert!(check_jail_name("web.example").is_err());
        assert!(check_jail_name("_web").is_err());
        assert!(check_jail_name("123").is_err());
        assert!(check_jail_name("1a").is_ok());
        assert!(check_hostname("web.example.org").is_ok());
        assert!(check_hostname("-web").is_err());
        assert!(check_hostname("a..b").is_err());
        assert!(check_hostname("we_b").is_err());
    }

    proptest! {
        #[test]
        fn size_round_trips(n in any::<u64>()) {
            prop_assert_eq!(parse_size(&format_size(n)), Ok(n));
        }

        #[test]
        fn size_with_unit_is_exact(n in 0u64..1_000_000, p in 0usize..4) {
            let suffix = ["", "K", "M", "G"][p];
            prop_assert_eq!(parse_size(&format!("{n}{suffix}")), Ok(n << (10 * p)));
        }
    }
}
