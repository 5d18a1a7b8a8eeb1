//! Parsers for rctl(8): the rule list (`rctl` / `rctl jail:`) grouped by jail name, and the
//! usage list (`rctl -u jail:NAME`, one `resource=value` per line).

use super::ParseError;
use std::collections::BTreeMap;

/// Rules per jail name, each in rctl(8) syntax as listed. Non-jail rules are skipped.
pub fn parse_rules(stdout: &str) -> Result<BTreeMap<String, Vec<String>>, ParseError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in stdout.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let f: Vec<&str> = l.splitn(4, ':').collect();
        if f.len() != 4 || !f[3].contains('=') || f[1].is_empty() {
            return Err(ParseError::new("rctl", i + 1, format!("not a rule: {l:?}")));
        }
        if f[0] == "jail" {
            out.entry(f[1].to_string()).or_default().push(l.to_string());
        }
    }
    Ok(out)
}

/// `resource=value` lines into numbers.
pub fn parse_usage(stdout: &str) -> Result<BTreeMap<String, u64>, ParseError> {
    let mut out = BTreeMap::new();
    for (i, line) in stdout.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| ParseError::new("rctl -u", i + 1, format!("no '=' in {l:?}")))?;
        let n = v
            .parse::<u64>()
            .map_err(|e| ParseError::new("rctl -u", i + 1, format!("{k}: {v:?}: {e}")))?;
        out.insert(k.to_string(), n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_grouped_by_jail() {
        let s = "jail:web:memoryuse:deny=536870912\njail:web:pcpu:deny=50\nuser:1001:maxproc:deny=100\njail:db:readbps:throttle=1048576\n";
        let r = parse_rules(s).unwrap();
        assert_eq!(
            r["web"],
            vec!["jail:web:memoryuse:deny=536870912", "jail:web:pcpu:deny=50"]
        );
        assert_eq!(r["db"].len(), 1);
        assert!(!r.contains_key("1001"));
        assert_eq!(parse_rules("jail:web\n").unwrap_err().line, 1);
    }

    #[test]
    fn usage_numbers() {
        let u = parse_usage("cputime=3\nmemoryuse=123456789\n").unwrap();
        assert_eq!(u["memoryuse"], 123_456_789);
        let e = parse_usage("cputime=3\nmemoryuse=12M\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
