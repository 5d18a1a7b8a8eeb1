//! Checking an undo instead of assuming it. Undo actions can succeed one by one and still
//! leave the host different from before: a tool that failed half-way (`jail -r` removes the
//! jail, then its own `umount` or `ifconfig -alias` fails), or a side effect no undo names
//! (a directory made by a mount). So before a run, jailctl keeps a [`Fingerprint`] of what
//! the run could touch, taken from the state it observed to plan (no extra commands); after
//! an undo it observes the host again, compares, and reports what remains with the command
//! that cleans it. "The host is as before" is said only when the comparison found nothing.
//!
//! The fingerprint covers, for each jail of the plan: its datasets (root, retired root,
//! volumes, and the datasets the plan names) with the properties jailctl observes, the jail
//! as jls(8) shows it (without the jid, which a restart changes), its rctl rules, its VNET
//! interfaces (`*_NAME`), the mounts below its root and volume directories, the files the
//! plan writes or removes, and the directories mounting its datasets makes. Shared things
//! (parent datasets, bridges) are not in it: a concurrent run on another jail may change
//! them, and they are not this run's to clean.
//! Parts the observe before the run did not read (the per-jail observe reads no mount
//! table) are not compared.

use crate::config::spec::Global;
use crate::host::{Cmd, Host, tools};
use crate::observe::HostState;
use crate::plan::{Plan, Step};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What one jail's part of a run could touch, as it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct JailPrint {
    datasets: BTreeMap<String, BTreeMap<String, String>>,
    /// `path hostname ip4 ip6 dying`, or `None` when the kernel has no such jail.
    jail: Option<String>,
    /// The addresses the jail had (for the check that a removal took them away).
    addrs: Vec<String>,
    rctl: Option<BTreeSet<String>>,
    interfaces: Option<BTreeSet<String>>,
    /// `(target, source, fstype)` below the jail's directories.
    mounts: Option<BTreeSet<(String, String, String)>>,
    /// File → contents (`None`: absent, or unreadable).
    files: BTreeMap<PathBuf, Option<Vec<u8>>>,
    /// Directory → exists.
    dirs: BTreeMap<PathBuf, bool>,
}

/// What a run could touch, per jail, as observed before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    jails: BTreeMap<String, JailPrint>,
}

/// One way the host is not as before, and the command that cleans it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remains {
    pub what: String,
    pub fix: String,
}

/// The outcome of re-observing after an undo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Checked {
    /// No fingerprint was taken (a recovery of a killed run, a bare `apply`).
    #[default]
    NotChecked,
    /// Observed again: equal to the fingerprint.
    AsBefore,
    /// Observed again: these differences remain.
    Differs(Vec<Remains>),
    /// Observing again failed.
    Failed(String),
}

/// The things of `plan`'s jail `name` the fingerprint covers.
struct Scope<'a> {
    name: &'a str,
    prefixes: Vec<String>,
    datasets: BTreeSet<String>,
    roots: Vec<PathBuf>,
    files: Vec<(PathBuf, Option<PathBuf>)>,
    dirs: Vec<PathBuf>,
}

fn scope<'a>(global: &Global, name: &'a str, steps: &[Step]) -> Scope<'a> {
    let root = crate::render::root_dataset(global, name);
    let vols = format!("{}/volumes/{name}", global.zfs_root);
    let mut s = Scope {
        name,
        prefixes: vec![root, vols],
        datasets: BTreeSet::new(),
        roots: vec![
            crate::render::jail_root(global, name),
            global.mount_root.join(".volumes").join(name),
        ],
        files: Vec::new(),
        dirs: vec![
            crate::render::jail_root(global, name),
            global.mount_root.join(".volumes").join(name),
        ],
    };
    for st in steps {
        match st {
            Step::CreateVolume {
                dataset,
                mountpoint,
                ..
            } => {
                s.datasets.insert(dataset.clone());
                s.dirs.push(mountpoint.clone());
            }
            // Shared parents (`<zfs_root>/jails`, `<zfs_root>/volumes`) are left out: another
            // run may make them meanwhile, and advice to destroy one would be wrong.
            Step::DestroyDataset { dataset } | Step::CloneRoot { dataset, .. } => {
                s.datasets.insert(dataset.clone());
            }
            Step::RetireRoot {
                dataset, retired, ..
            }
            | Step::RestoreRoot {
                dataset,
                kept: retired,
                ..
            } => {
                s.datasets.insert(dataset.clone());
                s.datasets.insert(retired.clone());
            }
            Step::WriteFile { path, root, .. } => s.files.push((path.clone(), root.clone())),
            Step::CopyHostFile { to, root, .. } => s.files.push((to.clone(), Some(root.clone()))),
            Step::RemoveFile { path } => s.files.push((path.clone(), None)),
            Step::CreateJail { conf, .. } | Step::RemoveJail { conf, .. } => {
                s.files.push((conf.clone(), None))
            }
            _ => {}
        }
    }
    s.dirs.sort();
    s.dirs.dedup();
    s.files.sort();
    s.files.dedup();
    s
}

fn in_scope_dataset(s: &Scope, d: &str) -> bool {
    s.datasets.contains(d)
        || s.prefixes.iter().any(|p| {
            d == p
                || d.strip_prefix(p.as_str())
                    .is_some_and(|r| r.starts_with('/') || r.starts_with('.'))
        })
}

fn under(p: &str, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| Path::new(p).starts_with(r))
}

fn read(host: &dyn Host, path: &Path, root: Option<&Path>) -> Option<Vec<u8>> {
    match root.and_then(|r| path.strip_prefix(r).ok().map(|rel| (r, rel))) {
        Some((r, rel)) => host.read_in_root(r, rel).ok(),
        None => host.read(path).ok(),
    }
}

fn print(host: &dyn Host, state: &HostState, s: &Scope) -> JailPrint {
    let jail = state.jails.get(s.name);
    JailPrint {
        datasets: state
            .datasets
            .iter()
            .filter(|(k, _)| in_scope_dataset(s, k))
            .map(|(k, d)| (k.clone(), d.props.clone()))
            .collect(),
        jail: jail.map(|j| {
            format!(
                "path {} hostname {} ip4 [{}] ip6 [{}]{}",
                j.path,
                j.hostname,
                j.ip4.join(","),
                j.ip6.join(","),
                if j.dying { " dying" } else { "" }
            )
        }),
        addrs: jail
            .map(|j| j.ip4.iter().chain(&j.ip6).cloned().collect())
            .unwrap_or_default(),
        rctl: (state.racct == Some(true)).then(|| {
            state
                .rctl_rules
                .get(s.name)
                .into_iter()
                .flatten()
                .cloned()
                .collect()
        }),
        interfaces: (!state.interfaces.is_empty()).then(|| {
            let suffix = format!("_{}", s.name);
            state
                .interfaces
                .iter()
                .filter(|i| i.ends_with(&suffix))
                .cloned()
                .collect()
        }),
        mounts: (!state.mounts.is_empty()).then(|| {
            state
                .mounts
                .iter()
                .filter(|m| under(&m.target, &s.roots))
                .map(|m| (m.target.clone(), m.source.clone(), m.fstype.clone()))
                .collect()
        }),
        files: s
            .files
            .iter()
            .map(|(p, r)| (p.clone(), read(host, p, r.as_deref())))
            .collect(),
        dirs: s.dirs.iter().map(|d| (d.clone(), host.exists(d))).collect(),
    }
}

impl Fingerprint {
    /// The fingerprint of what `plan` could touch, from the state observed to plan it (and
    /// the plan's files and directories, read from the host).
    pub fn of(host: &dyn Host, state: &HostState, plan: &Plan, global: &Global) -> Self {
        Fingerprint {
            jails: plan
                .jails
                .iter()
                .filter(|j| !j.steps.is_empty())
                .map(|j| {
                    let s = scope(global, &j.name, &j.steps);
                    (j.name.clone(), print(host, state, &s))
                })
                .collect(),
        }
    }

    /// Observe the host again and compare with this fingerprint.
    pub fn check(&self, host: &dyn Host, global: &Global, plan: &Plan) -> Checked {
        let state = match crate::observe::observe(host, global) {
            Ok(s) => s,
            Err(e) => return Checked::Failed(e.to_string()),
        };
        let mut now = Fingerprint::of(host, &state, plan, global);
        let mut remains = Vec::new();
        for (name, before) in &self.jails {
            let Some(after) = now.jails.get_mut(name) else {
                continue;
            };
            // Compare only what was read before.
            if before.rctl.is_none() {
                after.rctl = None;
            }
            if before.interfaces.is_none() {
                after.interfaces = None;
            }
            if before.mounts.is_none() {
                after.mounts = None;
            }
            diff(host, name, before, after, &mut remains);
        }
        if remains.is_empty() {
            Checked::AsBefore
        } else {
            Checked::Differs(remains)
        }
    }
}

fn diff(host: &dyn Host, name: &str, b: &JailPrint, a: &JailPrint, out: &mut Vec<Remains>) {
    diff_datasets(name, b, a, out);
    let stopped = b.jail.is_some() && a.jail.is_none();
    diff_jail(host, name, b, a, out);
    diff_rctl(b, a, out);
    diff_interfaces(name, b, a, out);
    diff_mounts(name, b, a, stopped, out);
    diff_files(name, b, a, out);
}

/// What remains, fixed by running `fix`.
fn push(out: &mut Vec<Remains>, what: String, fix: String) {
    out.push(Remains {
        what,
        fix: format!("run `{fix}`"),
    })
}

/// Datasets made, changed or destroyed.
fn diff_datasets(name: &str, b: &JailPrint, a: &JailPrint, out: &mut Vec<Remains>) {
    for (d, props) in &a.datasets {
        match b.datasets.get(d) {
            None => push(
                out,
                format!("dataset {d} exists (it did not before)"),
                format!("zfs destroy -r {d}"),
            ),
            Some(old) => {
                for (k, v) in old {
                    let now = props.get(k).map(String::as_str).unwrap_or("-");
                    if now != v {
                        let fix = if v == "-" {
                            format!("zfs inherit {k} {d}")
                        } else {
                            format!("zfs set {k}={v} {d}")
                        };
                        push(out, format!("dataset {d}: {k} is {now}, was {v}"), fix);
                    }
                }
            }
        }
    }
    for d in b.datasets.keys().filter(|d| !a.datasets.contains_key(*d)) {
        out.push(Remains {
            what: format!("dataset {d} is gone (destroyed: it cannot be brought back)"),
            fix: format!(
                "run `jailctl destroy {name}` to finish the destroy, or `jailctl up {name}` to make a new one"
            ),
        });
    }
}

/// The jail running, stopped (and how far its clean-up went) or running otherwise.
fn diff_jail(host: &dyn Host, name: &str, b: &JailPrint, a: &JailPrint, out: &mut Vec<Remains>) {
    match (&b.jail, &a.jail) {
        (Some(_), None) => {
            let mut left: Vec<String> = Vec::new();
            let mut fixes: Vec<String> = Vec::new();
            if let Some(m) = &a.mounts {
                // The jail's own datasets stay mounted when it is stopped.
                left.extend(
                    m.iter()
                        .filter(|(_, _, f)| f != "zfs")
                        .map(|(t, s, f)| format!("{f} {s} on {t}")),
                );
            }
            for (i, ad) in addresses_left(host, &b.addrs) {
                let fam = if ad.contains(':') { "inet6" } else { "inet" };
                left.push(format!("address {ad} on {i}"));
                fixes.push(format!("`ifconfig {i} {fam} {ad} -alias`"));
            }
            let what = if left.is_empty() {
                format!("jail {name} was running and is not any more")
            } else {
                format!(
                    "jail {name} was removed, but its clean-up stopped part way; still there: {}",
                    left.join(", ")
                )
            };
            fixes.push(format!(
                "`jailctl down {name}` to finish stopping it (or `jailctl up {name}` to start it again)"
            ));
            out.push(Remains {
                what,
                fix: format!("run {}", fixes.join(", then ")),
            });
        }
        (None, Some(_)) => push(
            out,
            format!("jail {name} is running (it was not before)"),
            format!("jail -r {name}"),
        ),
        (Some(x), Some(y)) if x != y => push(
            out,
            format!("jail {name} runs as {y}, was {x}"),
            format!("jailctl restart {name}"),
        ),
        _ => {}
    }
}

/// rctl rules added or gone.
fn diff_rctl(b: &JailPrint, a: &JailPrint, out: &mut Vec<Remains>) {
    if let (Some(br), Some(ar)) = (&b.rctl, &a.rctl) {
        for r in ar.difference(br) {
            push(
                out,
                format!("rctl rule {r} is in place"),
                format!("rctl -r {r}"),
            );
        }
        for r in br.difference(ar) {
            push(
                out,
                format!("rctl rule {r} is gone"),
                format!("rctl -a {r}"),
            );
        }
    }
}

/// Interfaces made or gone.
fn diff_interfaces(name: &str, b: &JailPrint, a: &JailPrint, out: &mut Vec<Remains>) {
    if let (Some(bi), Some(ai)) = (&b.interfaces, &a.interfaces) {
        for i in ai.difference(bi) {
            push(
                out,
                format!("interface {i} exists (it did not before)"),
                format!("ifconfig {i} destroy"),
            );
        }
        for i in bi.difference(ai) {
            push(
                out,
                format!("interface {i} is gone"),
                format!("jailctl up {name}"),
            );
        }
    }
}

/// Mounts added, or lost while the jail was not stopped.
fn diff_mounts(name: &str, b: &JailPrint, a: &JailPrint, stopped: bool, out: &mut Vec<Remains>) {
    if let (Some(bm), Some(am)) = (&b.mounts, &a.mounts) {
        for (t, s, f) in am.difference(bm) {
            push(
                out,
                format!("{f} {s} is mounted on {t} (it was not before)"),
                format!("umount {t}"),
            );
        }
        // Mounts a removed jail lost are part of its stop, reported above.
        if !stopped {
            for (t, s, f) in bm.difference(am) {
                push(
                    out,
                    format!("{f} {s} is no longer mounted on {t}"),
                    format!("jailctl restart {name}"),
                );
            }
        }
    }
}

/// Files and directories made, changed or gone.
fn diff_files(name: &str, b: &JailPrint, a: &JailPrint, out: &mut Vec<Remains>) {
    for (p, was) in &b.files {
        let now = a.files.get(p).cloned().flatten();
        if &now != was {
            let (what, fix) = match (was, &now) {
                (None, Some(_)) => ("exists (it did not before)", format!("rm {}", p.display())),
                (Some(_), None) => ("is gone", format!("jailctl up {name}")),
                _ => ("differs from before", format!("jailctl up {name}")),
            };
            push(out, format!("file {} {what}", p.display()), fix);
        }
    }
    for (d, was) in &b.dirs {
        let now = a.dirs.get(d).copied().unwrap_or(false);
        if now && !was {
            push(
                out,
                format!("directory {} exists (it did not before)", d.display()),
                format!("rmdir {}", d.display()),
            );
        }
    }
}

/// Which of `addrs` an interface of the host still carries: `(interface, address)`.
fn addresses_left(host: &dyn Host, addrs: &[String]) -> Vec<(String, String)> {
    if addrs.is_empty() {
        return vec![];
    }
    let Ok(list) = host.run(&Cmd::new(tools::IFCONFIG, ["-l"])) else {
        return vec![];
    };
    let mut out = Vec::new();
    for i in list.stdout.split_whitespace() {
        let Ok(o) = host.output(&Cmd::new(tools::IFCONFIG, [i])) else {
            continue;
        };
        for l in o.stdout.lines() {
            let mut f = l.split_whitespace();
            if let (Some("inet" | "inet6"), Some(a)) = (f.next(), f.next()) {
                let a = a.split('%').next().unwrap_or(a);
                if addrs.iter().any(|x| x == a) {
                    out.push((i.to_string(), a.to_string()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::sim_tests::TestSim;

    fn fixes(b: &JailPrint, a: &JailPrint) -> Vec<String> {
        let mut out = Vec::new();
        diff(&TestSim::with_base().host, "web", b, a, &mut out);
        out.into_iter()
            .map(|r| format!("{}: {}", r.what, r.fix))
            .collect()
    }

    #[test]
    fn equal_prints_leave_nothing_and_each_difference_has_its_command() {
        let mut b = JailPrint::default();
        b.datasets.insert(
            "z/jails/web".into(),
            [("quota".to_string(), "1024".to_string())].into(),
        );
        b.rctl = Some(["jail:web:maxproc:deny=10".to_string()].into());
        b.interfaces = Some(BTreeSet::new());
        b.mounts = Some(BTreeSet::new());
        b.files.insert("/var/run/jailctl/web.conf".into(), None);
        b.dirs.insert("/j/.volumes/web".into(), false);
        assert!(fixes(&b, &b.clone()).is_empty());

        let mut a = b.clone();
        a.datasets
            .get_mut("z/jails/web")
            .unwrap()
            .insert("quota".into(), "-".into());
        a.datasets
            .insert("z/jails/web.retired".into(), Default::default());
        a.jail = Some("path /j/web".into());
        a.rctl = Some(["jail:web:memoryuse:deny=1".to_string()].into());
        a.interfaces = Some(["e0a_web".to_string()].into());
        a.mounts = Some([("/j/web/dev".into(), "devfs".into(), "devfs".into())].into());
        a.files
            .insert("/var/run/jailctl/web.conf".into(), Some(b"x".to_vec()));
        a.dirs.insert("/j/.volumes/web".into(), true);
        assert_eq!(
            fixes(&b, &a),
            [
                "dataset z/jails/web: quota is -, was 1024: run `zfs set quota=1024 z/jails/web`",
                "dataset z/jails/web.retired exists (it did not before): run `zfs destroy -r z/jails/web.retired`",
                "jail web is running (it was not before): run `jail -r web`",
                "rctl rule jail:web:memoryuse:deny=1 is in place: run `rctl -r jail:web:memoryuse:deny=1`",
                "rctl rule jail:web:maxproc:deny=10 is gone: run `rctl -a jail:web:maxproc:deny=10`",
                "interface e0a_web exists (it did not before): run `ifconfig e0a_web destroy`",
                "devfs devfs is mounted on /j/web/dev (it was not before): run `umount /j/web/dev`",
                "file /var/run/jailctl/web.conf exists (it did not before): run `rm /var/run/jailctl/web.conf`",
                "directory /j/.volumes/web exists (it did not before): run `rmdir /j/.volumes/web`",
            ]
        );
    }

    #[test]
    fn a_removed_jail_names_what_its_stop_left() {
        let b = JailPrint {
            jail: Some("path /j/web".into()),
            mounts: Some(
                [
                    (
                        "/j/web".to_string(),
                        "z/jails/web".to_string(),
                        "zfs".to_string(),
                    ),
                    ("/j/web/mnt".into(), "/srv".into(), "nullfs".into()),
                ]
                .into(),
            ),
            ..JailPrint::default()
        };
        let mut a = b.clone();
        a.jail = None;
        assert_eq!(
            fixes(&b, &a),
            [
                "jail web was removed, but its clean-up stopped part way; still there: nullfs /srv on /j/web/mnt: run `jailctl down web` to finish stopping it (or `jailctl up web` to start it again)"
            ]
        );
        a.mounts = Some(BTreeSet::new());
        assert_eq!(
            fixes(&b, &a),
            [
                "jail web was running and is not any more: run `jailctl down web` to finish stopping it (or `jailctl up web` to start it again)"
            ]
        );
    }
}
