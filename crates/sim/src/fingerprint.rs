//! A fingerprint of a whole simulated FreeBSD host: every dataset with its properties, every
//! snapshot, jail, rctl rule, cpuset, interface, mount, sysctl and loaded kernel module, and
//! every file and directory under the simulated root and the snapshots' copies (type, mode,
//! owner, content digest). Crash and preview tests compare two of them: "the host is as a clean run leaves
//! it" must mean the whole host, not the few facts a test thought of.
//!
//! The fingerprint is a sorted map from a readable key (`zfs zroot/jailctl/jails/web
//! prop:quota`, `file root/var/run/jailctl/web.conf`) to a value, so a difference reads as
//! the objects it concerns. Only what legitimately differs between two clean runs of the
//! same commands is left out or normalised; each case says why where it is done.
//!
//! Test support (the `test-support` feature): jailctl's unit tests and its integration tests
//! (tests/it) share it. To fingerprint a new part of the simulator's state, add its fields to
//! [`KNOWN_FIELDS`] (the one list of the state's fields; a field missing there fails every
//! fingerprint) and its entries to `state_entries`, one section per part.

use crate::net::IfKind;
use crate::{SimConfig, SimHost, SimState};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The state of a simulated host, normalised; see the module documentation.
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub entries: BTreeMap<String, String>,
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Fingerprint ({} entries) {{", self.entries.len())?;
        for (k, v) in &self.entries {
            writeln!(f, "  {k} = {v}")?;
        }
        write!(f, "}}")
    }
}

/// One way two fingerprints differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// Only in the first.
    Missing { key: String, value: String },
    /// Only in the second.
    Extra { key: String, value: String },
    Changed {
        key: String,
        first: String,
        second: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { key, value } => write!(f, "- {key} = {value}"),
            Difference::Extra { key, value } => write!(f, "+ {key} = {value}"),
            Difference::Changed { key, first, second } => {
                write!(f, "~ {key}: {first}  ->  {second}")
            }
        }
    }
}

impl Fingerprint {
    /// Every difference from `self` (the expected host) to `other`, in key order.
    pub fn diff(&self, other: &Fingerprint) -> Vec<Difference> {
        let mut out = Vec::new();
        for (k, v) in &self.entries {
            match other.entries.get(k) {
                None => out.push(Difference::Missing {
                    key: k.clone(),
                    value: v.clone(),
                }),
                Some(w) if w != v => out.push(Difference::Changed {
                    key: k.clone(),
                    first: v.clone(),
                    second: w.clone(),
                }),
                Some(_) => {}
            }
        }
        for (k, v) in &other.entries {
            if !self.entries.contains_key(k) {
                out.push(Difference::Extra {
                    key: k.clone(),
                    value: v.clone(),
                });
            }
        }
        out.sort_by(|a, b| key_of(a).cmp(key_of(b)));
        out
    }

    /// The first `max` differences, one per line (`-` only in the expected host, `+` only in
    /// the other, `~` changed), or `None` when the hosts are the same.
    pub fn report(&self, other: &Fingerprint, max: usize) -> Option<String> {
        let d = self.diff(other);
        if d.is_empty() {
            return None;
        }
        let mut s = format!("{} difference(s):\n", d.len());
        for x in d.iter().take(max) {
            s += &format!("  {x}\n");
        }
        if d.len() > max {
            s += &format!("  ... and {} more\n", d.len() - max);
        }
        Some(s)
    }
}

impl Difference {
    /// The key the difference concerns.
    pub fn key(&self) -> &str {
        key_of(self)
    }
}

fn key_of(d: &Difference) -> &str {
    match d {
        Difference::Missing { key, .. }
        | Difference::Extra { key, .. }
        | Difference::Changed { key, .. } => key,
    }
}

/// Fail, printing the first differences, unless `actual` is the same host as `expected`.
#[track_caller]
pub fn assert_same(expected: &Fingerprint, actual: &Fingerprint) {
    if let Some(r) = expected.report(actual, 40) {
        panic!("the hosts differ (- expected only, + actual only, ~ changed):\n{r}");
    }
}

/// Timestamps jailctl puts in snapshot names (`@20260101-000000`, `YYYYMMDD-HHMMSS`) come
/// from the wall clock, so two clean runs name the same snapshot differently: every such
/// run of digits is replaced, in keys and values alike. Snapshots still count one by one.
fn norm(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let stamp = b.len() - i >= 15
            && b[i..i + 8].iter().all(u8::is_ascii_digit)
            && b[i + 8] == b'-'
            && b[i + 9..i + 15].iter().all(u8::is_ascii_digit)
            && (i == 0 || !b[i - 1].is_ascii_digit())
            && b.get(i + 15).is_none_or(|c| !c.is_ascii_digit());
        if stamp {
            out.push_str("<YYYYMMDD-HHMMSS>");
            i += 15;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The fingerprint of the simulated host in `sim_dir`. Nothing may be running on it.
pub fn fingerprint(sim_dir: &Path) -> Fingerprint {
    assert!(
        sim_dir.join("state.jsonl").exists(),
        "{}: not a simulated host (no state.jsonl)",
        sim_dir.display()
    );
    // snapshot() reads state.jsonl under the simulator's lock.
    let st = SimHost::open_with(sim_dir, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    covers_every_field(&st);
    let mut e = BTreeMap::new();
    state_entries(&st, &mut e);
    for sub in ["root", "snapshots", "unmounted"] {
        let d = sim_dir.join(sub);
        if d.exists() {
            walk(&d, sub, &mut e);
        }
    }
    // Anything else the simulator keeps in its directory. Left out: `state.jsonl` (read
    // above), `history.jsonl` (the log of commands run: a killed and repeated run ran more),
    // `lock` (the simulator's flock target), `faults.toml` (settings, not host state) and
    // `state.jailctl-tmp` (the simulator's own atomic write in progress).
    for f in std::fs::read_dir(sim_dir).unwrap() {
        let n = f.unwrap().file_name().to_string_lossy().into_owned();
        let known = [
            "state.jsonl",
            "history.jsonl",
            "lock",
            "faults.toml",
            "state.jailctl-tmp",
            "root",
            "snapshots",
            "unmounted",
        ];
        if !known.contains(&n.as_str()) {
            e.insert(format!("simdir {n}"), "present".into());
        }
    }
    Fingerprint { entries: e }
}

/// The fields of the simulator's state the fingerprint knows, by where they are. A field
/// added to the simulator later (say, file owners) fails here until the fingerprint reads it
/// or says why not, instead of silently falling outside every comparison.
pub const KNOWN_FIELDS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "zfs",
            "jail",
            "rctl",
            "cpuset",
            "net",
            "mount",
            "sysctl",
            "kld",
            "pf",
            "fault_counts",
        ],
    ),
    ("zfs", &["pools", "datasets", "txg"]),
    ("zfs.pools.*", &["size", "health", "readonly", "guid"]),
    (
        "zfs.datasets.*",
        &[
            "kind",
            "props",
            "origin",
            "createtxg",
            "creation",
            "guid",
            "mounted",
        ],
    ),
    ("jail", &["jails", "last_jid", "hooks"]),
    (
        "jail.jails.*",
        &[
            "jid",
            "name",
            "path",
            "params",
            "dying",
            "packages",
            "started",
            "dying_left",
        ],
    ),
    ("rctl", &["rules"]),
    (
        "rctl.rules.*",
        &["subject", "id", "resource", "action", "amount", "per"],
    ),
    ("cpuset", &["masks"]),
    ("net", &["ifaces"]),
    (
        "net.ifaces.*",
        &["name", "kind", "up", "inet", "inet6", "vnet"],
    ),
    ("mount", &["mounts"]),
    ("mount.mounts.*", &["source", "target", "fstype", "options"]),
    ("sysctl", &["values"]),
    ("kld", &["loaded"]),
    ("pf", &["enabled", "main", "anchors", "tables"]),
    ("pf.main", &["nat", "rules"]),
    ("pf.anchors.*", &["nat", "rules"]),
];

fn covers_every_field(st: &SimState) {
    let v = serde_json::to_value(st).unwrap();
    for (at, known) in KNOWN_FIELDS {
        let mut objs = vec![&v];
        for part in at.split('.').filter(|p| !p.is_empty()) {
            objs = objs
                .into_iter()
                .flat_map(|o| -> Vec<&serde_json::Value> {
                    match (part, o) {
                        ("*", serde_json::Value::Object(m)) => m.values().collect(),
                        ("*", serde_json::Value::Array(a)) => a.iter().collect(),
                        (p, o) => o.get(p).into_iter().collect(),
                    }
                })
                .collect();
        }
        for o in objs {
            for k in o.as_object().map(|m| m.keys()).into_iter().flatten() {
                assert!(
                    known.contains(&k.as_str()),
                    "the simulator's state has a field `{at}.{k}` the fingerprint does not \
                     know: add it to jailctl_sim::fingerprint (or say there why it is left out)"
                );
            }
        }
    }
}

fn state_entries(st: &SimState, e: &mut BTreeMap<String, String>) {
    zfs_entries(st, e);
    // Jails by name. Jids are left out and every reference to a jid is replaced by the
    // jail's name: the kernel numbers jails in creation order, so a run that made and undid
    // a jail, or started independent jails in another order, numbers them differently.
    // `last_jid` is left out for the same reason, and `hooks` (the log of exec hooks run) like
    // the command history.
    let by_jid: BTreeMap<i32, &str> = st
        .jail
        .jails
        .values()
        .map(|j| (j.jid, j.name.as_str()))
        .collect();
    let jail_of = |jid: i32| {
        by_jid
            .get(&jid)
            .map_or_else(|| format!("<jid {jid}, no such jail>"), |n| n.to_string())
    };
    jail_entries(st, e);
    rctl_entries(st, e, &jail_of);
    iface_entries(st, e, &jail_of);
    host_entries(st, e);
    pf_entries(st, e);
    // Left out: `fault_counts` (how often injected faults matched: test settings, not host).
}

/// Add one entry, key and value normalised; a key made twice is a fault of the fingerprint.
fn put(e: &mut BTreeMap<String, String>, k: String, v: String) {
    let k = norm(&k);
    let prev = e.insert(k.clone(), norm(&v));
    assert!(prev.is_none(), "fingerprint key {k} produced twice");
}

/// Pools, and per dataset its kind, origin, mount state and local properties.
fn zfs_entries(st: &SimState, e: &mut BTreeMap<String, String>) {
    for (name, p) in &st.zfs.pools {
        put(
            e,
            format!("zpool {name}"),
            format!(
                "size={} health={} readonly={} guid={}",
                p.size, p.health, p.readonly, p.guid
            ),
        );
    }
    // Per dataset: kind, origin, mounted and every locally set property. Left out:
    // `createtxg` and `guid` (derived from the pool's transaction counter, which an undone
    // and repeated step advances further) and `creation` (wall-clock seconds).
    for (name, d) in &st.zfs.datasets {
        put(
            e,
            format!("zfs {name}"),
            format!(
                "{:?} origin={} mounted={}",
                d.kind,
                d.origin.as_deref().unwrap_or("-"),
                d.mounted
            ),
        );
        for (k, v) in &d.props {
            put(e, format!("zfs {name} prop:{k}"), v.clone());
        }
    }
}

/// Jails by name, with their parameters but not their jids.
fn jail_entries(st: &SimState, e: &mut BTreeMap<String, String>) {
    for (name, j) in &st.jail.jails {
        let mut pkgs = j.packages.clone();
        pkgs.sort();
        put(
            e,
            format!("jail {name}"),
            format!(
                "path={} dying={} dying_left={:?} started={} packages={pkgs:?}",
                j.path, j.dying, j.dying_left, j.started
            ),
        );
        for (k, v) in &j.params {
            if k == "jid" {
                continue;
            }
            // Address lists: jails sharing an interface add addresses in start order.
            put(e, format!("jail {name} param:{k}"), v.clone());
        }
    }
}

/// rctl rules, counted, and cpusets by jail name.
fn rctl_entries(st: &SimState, e: &mut BTreeMap<String, String>, jail_of: &dyn Fn(i32) -> String) {
    // rctl rules as rctl(8) prints them, counted: the order of rules of independent jails
    // is their start order, which parallel runs do not fix.
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    for r in &st.rctl.rules {
        *rules.entry(r.render(false)).or_default() += 1;
    }
    for (r, n) in rules {
        put(e, format!("rctl {r}"), format!("x{n}"));
    }
    for (jid, mask) in &st.cpuset.masks {
        put(e, format!("cpuset {}", jail_of(*jid)), format!("{mask:?}"));
    }
}

/// Network interfaces by name.
fn iface_entries(st: &SimState, e: &mut BTreeMap<String, String>, jail_of: &dyn Fn(i32) -> String) {
    // Interfaces by name, with their address lists sorted (independent jails add theirs in
    // start order) and the vnet jail by name. An epair's unit number is left out: the
    // kernel gives the lowest free one, so it depends on the order of creation, like a jid;
    // the ends' names (`e0a_web`) and peers say which pair is which. A bridge's members are
    // sorted (they join in start order).
    for i in &st.net.ifaces {
        let kind = match &i.kind {
            IfKind::Epair { peer, .. } => format!("Epair peer={peer}"),
            IfKind::Bridge { members } => {
                let mut m = members.clone();
                m.sort();
                format!("Bridge members={m:?}")
            }
            k => format!("{k:?}"),
        };
        let (mut v4, mut v6) = (i.inet.clone(), i.inet6.clone());
        v4.sort();
        v6.sort();
        put(
            e,
            format!("iface {}", i.name),
            format!(
                "{kind} up={} inet={v4:?} inet6={v6:?} vnet={}",
                i.up,
                i.vnet.map_or("-".into(), jail_of)
            ),
        );
    }
}

/// Mounts, sysctls and loaded kernel modules.
fn host_entries(st: &SimState, e: &mut BTreeMap<String, String>) {
    // Mounts sorted (jails mount in start order); a mount stacked twice on one target counts.
    let mut mounts: Vec<String> = st
        .mount
        .mounts
        .iter()
        .map(|m| format!("{} {} {} {}", m.target, m.source, m.fstype, m.options))
        .collect();
    mounts.sort();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in mounts {
        let n = seen.entry(m.clone()).or_default();
        *n += 1;
        put(e, format!("mount {m} #{n}"), String::new());
    }
    for (k, v) in &st.sysctl.values {
        put(e, format!("sysctl {k}"), v.clone());
    }
    for m in &st.kld.loaded {
        put(e, format!("kld {m}"), "loaded".into());
    }
}

/// The firewall.
fn pf_entries(st: &SimState, e: &mut BTreeMap<String, String>) {
    // The firewall: on or off, every rule of the main ruleset and of each anchor in order,
    // every table entry.
    put(e, "pf enabled".into(), st.pf.enabled.to_string());
    let rulesets = std::iter::once(("(main)", &st.pf.main))
        .chain(st.pf.anchors.iter().map(|(a, r)| (a.as_str(), r)));
    for (at, rs) in rulesets {
        for (i, r) in rs.nat.iter().enumerate() {
            put(e, format!("pf {at} nat #{i}"), r.clone());
        }
        for (i, r) in rs.rules.iter().enumerate() {
            put(e, format!("pf {at} rule #{i}"), r.clone());
        }
    }
    // A table's entries only: `pfctl -T add` creates a missing table (persistent), and an
    // empty table matches nothing, as an absent one.
    for (t, addrs) in &st.pf.tables {
        for a in addrs {
            put(e, format!("pf table {t} {a}"), String::new());
        }
    }
}

/// Every entry under `dir`, keyed `file PREFIX/relative/path`: type, mode, owner, and for a
/// file its size and SHA-256. Left out: modification times (wall clock), and the empty lock
/// files jailctl flocks (`*.lock`), which exist once any command has taken them and say
/// nothing about the host; a lock file with content is kept, as that content would be state.
fn walk(dir: &Path, prefix: &str, e: &mut BTreeMap<String, String>) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|x| x.unwrap().file_name())
        .collect();
    names.sort();
    for n in names {
        let p = dir.join(&n);
        let key = format!("{prefix}/{}", n.to_string_lossy());
        let md = std::fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let who = format!(
            "mode={:o} owner={}:{}",
            md.mode() & 0o7777,
            md.uid(),
            md.gid()
        );
        let v = if ft.is_dir() {
            walk(&p, &key, e);
            format!("dir {who}")
        } else if ft.is_symlink() {
            format!("symlink -> {}", std::fs::read_link(&p).unwrap().display())
        } else if ft.is_file() {
            if key.ends_with(".lock") && md.len() == 0 {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            format!(
                "file {who} size={} sha256={:x}",
                bytes.len(),
                Sha256::digest(&bytes)
            )
        } else {
            format!("special {:?} {who}", ft)
        };
        e.insert(norm(&format!("file {key}")), norm(&v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_normalised_and_nothing_else() {
        assert_eq!(norm("zroot/b@20260101-000000"), "zroot/b@<YYYYMMDD-HHMMSS>");
        assert_eq!(norm("a120260101-000000"), "a120260101-000000");
        assert_eq!(norm("20260101-0000001"), "20260101-0000001");
        assert_eq!(norm("x-20260101-000000.y"), "x-<YYYYMMDD-HHMMSS>.y");
        assert_eq!(norm("é20260101-000000"), "é<YYYYMMDD-HHMMSS>");
    }
}
