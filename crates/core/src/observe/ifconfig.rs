//! Parser for `ifconfig -l`: the interface names on the host, space-separated on one line.

use super::ParseError;

pub fn parse_list(stdout: &str) -> Result<Vec<String>, ParseError> {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() > 1 {
        return Err(ParseError::new(
            "ifconfig -l",
            2,
            "expected a single line of names",
        ));
    }
    Ok(lines
        .first()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_list("em0 lo0 epair0a bridge0\n").unwrap(),
            vec!["em0", "lo0", "epair0a", "bridge0"]
        );
        assert!(parse_list("").unwrap().is_empty());
        assert_eq!(parse_list("em0\nlo0\n").unwrap_err().line, 2);
    }
}
