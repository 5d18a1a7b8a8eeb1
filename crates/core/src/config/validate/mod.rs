//! Stage two: turn the merged, span-carrying tree of one jail (or of `jailctl.toml`) into the
//! validated types of [`super::spec`]. Nothing here stops at the first mistake: every problem
//! is recorded with its location and validation carries on with a placeholder, so one run
//! reports everything.

use super::error::{ConfigError, Sources};
use super::raw::{Entry, Node, Table, Val};
use super::rules;
use super::schema::{self, suggest};
use super::spec::*;
use super::units;
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The longest mount point (and mount source) FreeBSD's mount table holds: MNAMELEN is 88
/// bytes including the NUL. One constant with the renderer, so `validate` rejects exactly
/// what `up` would.
use super::layout::MAX_MOUNT_PATH;

mod behaviour;
mod global;
mod jail;
mod mounts;
mod network;
pub(crate) mod ports;
mod resources;
pub(crate) use global::global;
pub(crate) use jail::jail;
use network::check_ifname;
pub(crate) use ports::conflicts as port_conflicts;
#[cfg(test)]
use resources::parse_rctl;

/// The sentence every too-long mount path error shares.
fn too_long(what: &str, path: &str) -> String {
    format!(
        "{what} {path} is {} characters long; FreeBSD mount paths hold at most {MAX_MOUNT_PATH} (MNAMELEN, 88 bytes with the NUL)",
        path.len()
    )
}

/// Error collector over the files of one load.
pub(crate) struct V<'s> {
    pub src: &'s Sources,
    pub errs: Vec<ConfigError>,
}

/// Look up `key`, which must be one of the table's known keys (checked in debug builds, so the
/// key lists in [`schema`] are the single source of truth).
fn get<'t>(t: &'t Table, allowed: &[&str], key: &str) -> Option<&'t Node> {
    debug_assert!(allowed.contains(&key), "{key} missing from its key list");
    t.get(key).map(|e| &e.node)
}

/// `ip4_pool = "ADDR/LEN"` of a `[bridges.NAME]` or `[networks.NAME]` table.
fn ip4_pool(v: &mut V, t: &Table, allowed: &[&str]) -> Option<Ipv4Net> {
    let n = get(t, allowed, "ip4_pool")?;
    let s = v.string(n, "ip4_pool")?;
    s.parse::<Ipv4Net>()
        .map_err(|_| {
            v.err(
                n,
                format!("ip4_pool \"{s}\" is not an IPv4 network"),
                Some("write it as address/prefix, e.g. \"10.10.0.0/24\"".into()),
            )
        })
        .ok()
}

impl<'s> V<'s> {
    pub fn err(&mut self, n: &Node, msg: impl Into<String>, help: Option<String>) {
        self.errs
            .push(self.src.error(n.file, n.span.clone(), msg, help));
    }

    fn err_key(&mut self, e: &Entry, key: &str, msg: impl Into<String>, help: Option<String>) {
        let end = e.key_span.start + key.len().max(1);
        self.errs
            .push(self.src.error(e.key_file, e.key_span.start..end, msg, help));
    }

    /// Report keys of `t` that are not in `allowed`.
    pub fn keys(&mut self, t: &Table, allowed: &[&str], section: &str) {
        for (k, e) in t {
            if !allowed.contains(&k.as_str()) {
                let msg = match suggest(k, allowed.iter().copied()) {
                    Some(s) => format!("unknown key \"{k}\" in {section}; did you mean \"{s}\"?"),
                    None => format!("unknown key \"{k}\" in {section}"),
                };
                let help = format!("known keys in {section}: {}", allowed.join(", "));
                self.err_key(e, k, msg, Some(help));
            }
        }
    }

    fn wrong_type(&mut self, n: &Node, what: &str, want: &str) {
        let msg = format!("{what} must be {want}, not {}", n.val.kind());
        self.err(n, msg, None);
    }

    pub fn table<'t>(&mut self, n: &'t Node, what: &str) -> Option<&'t Table> {
        match &n.val {
            Val::Table(t) => Some(t),
            _ => {
                self.wrong_type(n, what, "a table");
                None
            }
        }
    }

    fn array<'t>(&mut self, n: &'t Node, what: &str) -> Option<&'t [Node]> {
        match &n.val {
            Val::Array(a) => Some(a),
            _ => {
                self.wrong_type(n, what, "an array");
                None
            }
        }
    }

    pub fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        match &n.val {
            Val::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(n, what, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, n: &Node, what: &str) -> Option<bool> {
        match &n.val {
            Val::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(n, what, "true or false");
                None
            }
        }
    }

    fn int(&mut self, n: &Node, what: &str, min: i64, max: i64) -> Option<i64> {
        match &n.val {
            Val::Int(i) if (min..=max).contains(i) => Some(*i),
            Val::Int(i) => {
                self.err(
                    n,
                    format!("{what} is {i}, but must be between {min} and {max}"),
                    None,
                );
                None
            }
            _ => {
                self.wrong_type(n, what, "an integer");
                None
            }
        }
    }

    /// A list of strings; each with its node for later errors.
    fn strings<'t>(&mut self, n: &'t Node, what: &str) -> Vec<(String, &'t Node)> {
        let Some(items) = self.array(n, what) else {
            return vec![];
        };
        items
            .iter()
            .filter_map(|i| {
                self.string(i, &format!("each entry of {what}"))
                    .map(|s| (s, i))
            })
            .collect()
    }

    /// A string or a list of strings (command lines).
    fn lines(&mut self, n: &Node, what: &str) -> Vec<String> {
        match &n.val {
            Val::Str(s) => vec![s.clone()],
            Val::Array(_) => self.strings(n, what).into_iter().map(|(s, _)| s).collect(),
            _ => {
                self.wrong_type(n, what, "a string or an array of strings");
                vec![]
            }
        }
    }

    fn size(&mut self, n: &Node, what: &str) -> Option<u64> {
        match &n.val {
            Val::Int(i) if *i >= 0 => Some(*i as u64),
            Val::Str(s) => match units::parse_size(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.err(n, format!("{what}: {e}"), None);
                    None
                }
            },
            _ => {
                self.wrong_type(n, what, "a size such as \"512M\" or a byte count");
                None
            }
        }
    }

    fn duration(&mut self, n: &Node, what: &str) -> Option<Duration> {
        match &n.val {
            Val::Int(i) if *i >= 0 => {
                match units::check_duration_bound(&i.to_string(), Duration::from_secs(*i as u64)) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        self.err(n, format!("{what}: {e}"), None);
                        None
                    }
                }
            }
            Val::Str(s) => match units::parse_duration(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.err(n, format!("{what}: {e}"), None);
                    None
                }
            },
            _ => {
                self.wrong_type(n, what, "a duration such as \"30s\"");
                None
            }
        }
    }

    fn abs_path(&mut self, n: &Node, what: &str) -> Option<PathBuf> {
        let s = self.string(n, what)?;
        if !s.starts_with('/') {
            self.err(
                n,
                format!("{what} \"{s}\" is not an absolute path"),
                Some(format!(
                    "write it from the root, e.g. \"/{}\"",
                    s.trim_start_matches("./")
                )),
            );
            return None;
        }
        Some(PathBuf::from(s))
    }

    /// An absolute path inside the jail that does not climb out of it with `..`.
    fn jail_path(&mut self, n: &Node, what: &str) -> Option<PathBuf> {
        let p = self.abs_path(n, what)?;
        if p.components().any(|c| c == Component::ParentDir) {
            self.err(
                n,
                format!(
                    "{what} \"{}\" escapes the jail root with \"..\"",
                    p.display()
                ),
                Some("use a path inside the jail without \"..\"".into()),
            );
            return None;
        }
        if p.components()
            .all(|c| matches!(c, Component::RootDir | Component::CurDir))
        {
            self.err(
                n,
                format!(
                    "{what} \"{}\" is the jail root itself: it would cover the jail's whole file system",
                    p.display()
                ),
                Some("name a directory inside the jail, e.g. \"/mnt/data\"".into()),
            );
            return None;
        }
        Some(p)
    }

    /// Report every string in `t` (keys and values, nested tables and arrays included) that
    /// holds a NUL byte. `skip` names top-level keys checked elsewhere. The key path for the
    /// message is only built for an offending string.
    pub fn no_nul(&mut self, t: &Table, path: &str, skip: &[&str]) {
        for (k, e) in t {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let what = || {
                if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                }
            };
            if k.contains('\0')
                && let Err((msg, help)) =
                    rules::check_no_nul(&format!("the key \"{}\"", what().escape_debug()), k)
            {
                self.err_key(e, k, msg, Some(help));
            }
            if has_nul(&e.node) {
                self.no_nul_node(&e.node, &what());
            }
        }
    }

    fn no_nul_node(&mut self, n: &Node, what: &str) {
        match &n.val {
            Val::Str(s) => {
                if let Err((msg, help)) =
                    rules::check_no_nul(&format!("the value of {}", what.escape_debug()), s)
                {
                    self.err(n, msg, Some(help));
                }
            }
            Val::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    if has_nul(x) {
                        self.no_nul_node(x, &format!("{what}[{i}]"));
                    }
                }
            }
            Val::Table(t) => self.no_nul(t, what, &[]),
            _ => {}
        }
    }
}

/// Whether a NUL byte is anywhere in `n` (its strings, or its keys and values below it).
fn has_nul(n: &Node) -> bool {
    match &n.val {
        Val::Str(s) => s.contains('\0'),
        Val::Array(a) => a.iter().any(has_nul),
        Val::Table(t) => t.iter().any(|(k, e)| k.contains('\0') || has_nul(&e.node)),
        _ => false,
    }
}

/// What cross-jail checks need to point back into the files.
pub(crate) struct JailRefs {
    pub deps: Vec<(String, Node)>,
    pub addrs: Vec<(IpAddr, Node)>,
    /// Each forward with the `[[ports]]` entry it came from.
    pub ports: Vec<(PortForward, Node)>,
}

fn trim_slash(p: &Path) -> String {
    p.display().to_string().trim_end_matches('/').to_string()
}

fn base_name(v: &mut V, n: &Node) -> Option<String> {
    let s = v.string(n, "base")?;
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        v.err(
            n,
            format!("\"{s}\" is not a valid base name: use letters, digits, '.', '_' and '-'"),
            Some("bases are named after releases, e.g. \"14.3-RELEASE\"".into()),
        );
        return None;
    }
    if let Err((msg, help)) = rules::check_not_option("base name", &s) {
        v.err(n, msg, Some(help));
        return None;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::parse_rctl;

    #[test]
    fn rctl_rules_parse_with_suffixes_signals_and_per() {
        let r = parse_rctl("vmemoryuse:sigterm=4g/process").unwrap();
        assert_eq!(
            (
                r.resource.as_str(),
                r.action.as_str(),
                r.amount,
                r.per.as_deref()
            ),
            ("vmemoryuse", "sigterm", 4 << 30, Some("process"))
        );
        let r = parse_rctl("writeiops:throttle=500").unwrap();
        assert_eq!((r.amount, r.per), (500, None));
        assert!(parse_rctl("pcpu:deny=50").is_ok());
        assert!(
            parse_rctl("maxproc:sigbogus=5")
                .unwrap_err()
                .0
                .contains("unknown rctl action")
        );
        assert!(
            parse_rctl("maxproc:deny=5/everyone")
                .unwrap_err()
                .0
                .contains("unknown rctl per")
        );
        assert!(
            parse_rctl("maxproc:deny")
                .unwrap_err()
                .0
                .contains("no \"=amount\"")
        );
        assert!(
            parse_rctl("cputime:deny=10")
                .unwrap_err()
                .0
                .contains("cannot deny cputime")
        );
    }
}
