//! Parsers for `sysctl -n OID` output, and the RACCT state rctl(8) depends on.

use super::ParseError;
use crate::host::Output;

/// The single value printed by `sysctl -n OID`.
pub fn parse_value(stdout: &str) -> Result<String, ParseError> {
    let mut lines = stdout.lines();
    match (lines.next(), lines.next()) {
        (Some(v), None) => Ok(v.trim().to_string()),
        (None, _) => Err(ParseError::new("sysctl -n", 0, "no value")),
        (Some(_), Some(_)) => Err(ParseError::new("sysctl -n", 2, "more than one line")),
    }
}

/// An integer or boolean OID: `1`/`0`.
pub fn parse_bool(stdout: &str) -> Result<bool, ParseError> {
    match parse_value(stdout)?.as_str() {
        "0" => Ok(false),
        "1" => Ok(true),
        v => Err(ParseError::new(
            "sysctl -n",
            1,
            format!("expected 0 or 1, got {v:?}"),
        )),
    }
}

/// `kern.racct.enable` from the whole result of `sysctl -n kern.racct.enable`:
/// `Some(true)`/`Some(false)`, or `None` when the kernel has no such OID (no RACCT).
pub fn parse_racct(out: &Output) -> Result<Option<bool>, ParseError> {
    if !out.success() {
        if out.stderr.contains("unknown oid") {
            return Ok(None);
        }
        return Err(ParseError::new(
            "sysctl -n kern.racct.enable",
            0,
            out.stderr.trim().to_string(),
        ));
    }
    parse_bool(&out.stdout).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value("4\n").unwrap(), "4");
        assert!(parse_bool("1\n").unwrap());
        assert!(parse_bool("yes\n").is_err());
        assert!(parse_value("").is_err());
        assert_eq!(parse_racct(&Output::ok("0\n")).unwrap(), Some(false));
        assert_eq!(
            parse_racct(&Output::fail(
                1,
                "sysctl: unknown oid 'kern.racct.enable'\n"
            ))
            .unwrap(),
            None
        );
        assert!(parse_racct(&Output::fail(1, "sysctl: Permission denied\n")).is_err());
    }
}
