//! Parser for `jls --libxo json -d jid name path host.hostname ip4.addr ip6.addr dying`: the
//! jails the kernel knows, including dying ones. Values come as strings (booleans as JSON
//! booleans, addresses as arrays), per jls(8)'s libxo format version 2.

use super::{JailInfo, ParseError};
use serde_json::Value;

const WHAT: &str = "jls --libxo json";

/// The command whose output [`parse_jls_json`] reads (after the program path).
pub const JLS_ARGS: &[&str] = &[
    "--libxo",
    "json",
    "-d",
    "jid",
    "name",
    "path",
    "host.hostname",
    "ip4.addr",
    "ip6.addr",
    "dying",
];

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn addrs(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "address is not a string".to_string())
            })
            .collect(),
        Some(Value::String(s)) if s.is_empty() => Ok(vec![]),
        Some(Value::String(s)) => Ok(s.split(',').map(str::to_string).collect()),
        Some(_) => Err("address list has an unexpected type".into()),
    }
}

pub fn parse_jls_json(stdout: &str) -> Result<Vec<JailInfo>, ParseError> {
    let v: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| ParseError::new(WHAT, e.line(), e.to_string()))?;
    let list = v
        .get("jail-information")
        .and_then(|j| j.get("jail"))
        .ok_or_else(|| ParseError::new(WHAT, 0, "no \"jail-information\".\"jail\" list"))?;
    let Value::Array(list) = list else {
        return Err(ParseError::new(WHAT, 0, "\"jail\" is not a list"));
    };
    let mut out = vec![];
    for (i, j) in list.iter().enumerate() {
        let bad = |m: String| ParseError::new(WHAT, 0, format!("jail #{}: {m}", i + 1));
        let jid = text(j.get("jid"))
            .ok_or_else(|| bad("no jid".into()))?
            .parse::<i32>()
            .map_err(|e| bad(format!("jid: {e}")))?;
        let name = text(j.get("name")).ok_or_else(|| bad("no name".into()))?;
        let dying = match j.get("dying") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "1",
            Some(Value::Number(n)) => n.as_i64() != Some(0),
            Some(_) => return Err(bad("dying has an unexpected type".into())),
        };
        out.push(JailInfo {
            jid,
            name,
            path: text(j.get("path")).unwrap_or_default(),
            hostname: text(j.get("host.hostname")).unwrap_or_default(),
            ip4: addrs(j.get("ip4.addr")).map_err(bad)?,
            ip6: addrs(j.get("ip6.addr")).map_err(bad)?,
            dying,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_jails_one_dying() {
        let s = r#"{"__version": "2", "jail-information": {"jail": [{"jid":"1","name":"web","path":"/jails/web","host.hostname":"web.example","ip4.addr":["10.0.0.5","10.0.0.6"],"ip6.addr":[],"dying":false}, {"jid":"2","name":"db","path":"/jails/db","host.hostname":"db","ip4.addr":[],"ip6.addr":["2001:db8::5"],"dying":true}]}}"#;
        let v = parse_jls_json(s).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].jid, 1);
        assert_eq!(v[0].ip4, vec!["10.0.0.5", "10.0.0.6"]);
        assert!(!v[0].dying);
        assert_eq!(v[1].ip6, vec!["2001:db8::5"]);
        assert!(v[1].dying);
    }

    #[test]
    fn empty_list_and_errors() {
        assert!(
            parse_jls_json(r#"{"__version": "2", "jail-information": {"jail": []}}"#)
                .unwrap()
                .is_empty()
        );
        let e = parse_jls_json("{\n\"x\": ").unwrap_err();
        assert_eq!(e.line, 2);
        let e =
            parse_jls_json(r#"{"__version": "2", "jail-information": {"jail": [{"name":"web"}]}}"#)
                .unwrap_err();
        assert!(e.message.contains("no jid"), "{e}");
        let e = parse_jls_json(
            r#"{"__version": "2", "jail-information": {"jail": [{"jid":"x","name":"web"}]}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("jid"), "{e}");
    }
}
