//! What jailctl may destroy. `jailctl:managed` is a ZFS *user property*, and user properties
//! are inherited: a dataset an administrator creates below a jail's root (or below a volume,
//! or a base) reads `jailctl:managed=yes` too, with the source `inherited from ...`. Before a
//! `zfs destroy -r`, jailctl therefore lists the dataset and everything below it with the
//! property's *source*, and owns only what carries the property itself (`local`). Anything
//! else below is named and the destroy is refused, so an admin's data is never taken along.
//! Snapshots are part of the dataset they belong to and are not checked.
//!
//! A running jail is jailctl's only when everything jailctl records about it agrees
//! ([`foreign_jail`]): the kernel's path for it is `<mount_root>/<name>`, the root dataset
//! `<zfs_root>/jails/<name>` exists with `jailctl:managed=yes` set locally, and that dataset's
//! mountpoint is that path. A jail started by hand (`jail -c name=web path=/somewhere`) fails
//! at least one of these even when a `web.toml` exists, and no command stops or changes it.

use crate::config::spec::Global;
use crate::host::{Cmd, Host, ProcessError, zfs};
use crate::observe::HostState;

/// The property that marks what jailctl created.
pub const MANAGED: &str = crate::config::layout::props::MANAGED;

/// `zfs get -H -p -r -o name,property,value,source jailctl:managed DATASET`.
pub fn get_cmd(dataset: &str) -> Cmd {
    zfs::Get::new([MANAGED], [dataset])
        .depth(zfs::Depth::All)
        .cmd()
}

/// One dataset at or below the one to destroy that jailctl did not create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    pub name: String,
    /// Why: `jailctl:managed=VALUE (SOURCE)`.
    pub why: String,
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.why)
    }
}

/// The datasets (not snapshots) in `get_cmd`'s output that jailctl does not own: those
/// without `jailctl:managed=yes` set locally.
/// An answer that cannot be read is one foreign entry naming the line: the destroy is refused
/// rather than taken on trust.
pub fn foreign_in(output: &str) -> Vec<Foreign> {
    let rows = match zfs::parse_rows(output, true) {
        Ok(rows) => rows,
        Err(e) => {
            return vec![Foreign {
                name: e.text.clone(),
                why: format!("cannot read this {e}"),
            }];
        }
    };
    rows.into_iter()
        .filter(|r| !(r.name.contains('@') || (r.value == "yes" && r.source == "local")))
        .map(|r| Foreign {
            name: r.name.to_string(),
            why: match (r.value, r.source) {
                ("-", "-") => format!("{MANAGED} is not set"),
                (v, s) => format!("{MANAGED}={v}, {s}"),
            },
        })
        .collect()
}

/// The datasets at or below `dataset` that a `zfs destroy -r` would take but jailctl does
/// not own.
pub fn foreign_below(host: &dyn Host, dataset: &str) -> Result<Vec<Foreign>, ProcessError> {
    let out = host.run(&get_cmd(dataset))?;
    Ok(foreign_in(&out.stdout))
}

/// A running jail jailctl did not start: why, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignJail {
    pub name: String,
    pub jid: i32,
    pub path: String,
    /// What does not match, e.g. `no dataset zroot/jailctl/jails/hand exists`.
    pub why: String,
}

impl std::fmt::Display for ForeignJail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "jail `{n}` (jid {j}, path {p}) is running but jailctl did not start it: {w}. jailctl leaves it alone: stop it yourself with `jail -r {n}`; to have jailctl manage it, stop it, keep what you need from {p}, and run `jailctl up {n}`",
            n = self.name,
            j = self.jid,
            p = self.path,
            w = self.why
        )
    }
}

/// `Some` when jail `name` runs (and is not dying) in `state` but is not jailctl's: its path
/// is not `<mount_root>/<name>`, or the root dataset there is missing, not marked
/// `jailctl:managed=yes` locally, or mounted elsewhere. `state` must hold the jail (jls) and
/// the datasets under `<zfs_root>` (as every observe does).
pub fn foreign_jail(state: &HostState, global: &Global, name: &str) -> Option<ForeignJail> {
    let j = state.jails.get(name).filter(|j| !j.dying)?;
    let root = crate::render::root_dataset(global, name);
    let path = crate::render::jail_root(global, name);
    let why = if std::path::Path::new(&j.path) != path {
        format!(
            "its path is not {}, where jailctl puts jail `{name}`",
            path.display()
        )
    } else if let Some(d) = state.datasets.get(&root) {
        if !state.managed_local.contains(&root) {
            match d.prop(MANAGED) {
                Some(v) => format!("{root} has {MANAGED}={v}, but not set on it by jailctl"),
                None => format!("{root} has no {MANAGED} property"),
            }
        } else if d
            .prop("mountpoint")
            .is_some_and(|m| std::path::Path::new(m) != path)
        {
            format!(
                "{root} is mounted at {}, not at the jail's path",
                d.prop("mountpoint").unwrap_or("-")
            )
        } else {
            return None;
        }
    } else {
        format!("no dataset {root} exists")
    };
    Some(ForeignJail {
        name: name.to_string(),
        jid: j.jid,
        path: j.path.clone(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{Dataset, JailInfo};

    fn state(path: &str, managed: Option<(&str, bool)>, mountpoint: &str) -> HostState {
        let mut st = HostState::default();
        st.jails.insert(
            "web".into(),
            JailInfo {
                jid: 3,
                name: "web".into(),
                path: path.into(),
                ..JailInfo::default()
            },
        );
        if let Some((value, local)) = managed {
            let name = "zroot/jailctl/jails/web".to_string();
            let mut props = std::collections::BTreeMap::new();
            props.insert(MANAGED.to_string(), value.to_string());
            props.insert("mountpoint".to_string(), mountpoint.to_string());
            st.datasets.insert(
                name.clone(),
                Dataset {
                    name: name.clone(),
                    props,
                },
            );
            if local {
                st.managed_local.insert(name);
            }
        }
        st
    }

    #[test]
    fn a_running_jail_is_ours_only_when_path_dataset_and_mark_agree() {
        let g = crate::fixtures::global();
        let p = "/usr/local/jails/web";
        assert_eq!(
            foreign_jail(&state(p, Some(("yes", true)), p), &g, "web"),
            None
        );
        // Not running at all: nothing to refuse.
        assert_eq!(foreign_jail(&HostState::default(), &g, "web"), None);
        let why = |st: HostState| foreign_jail(&st, &g, "web").unwrap().why;
        assert_eq!(
            why(state("/tmp/hand", Some(("yes", true)), p)),
            "its path is not /usr/local/jails/web, where jailctl puts jail `web`"
        );
        assert_eq!(
            why(state(p, None, p)),
            "no dataset zroot/jailctl/jails/web exists"
        );
        assert_eq!(
            why(state(p, Some(("yes", false)), p)),
            "zroot/jailctl/jails/web has jailctl:managed=yes, but not set on it by jailctl"
        );
        assert_eq!(
            why(state(p, Some(("-", false)), p)),
            "zroot/jailctl/jails/web has no jailctl:managed property"
        );
        assert_eq!(
            why(state(p, Some(("yes", true)), "/elsewhere")),
            "zroot/jailctl/jails/web is mounted at /elsewhere, not at the jail's path"
        );
        let msg = foreign_jail(&state(p, None, p), &g, "web")
            .unwrap()
            .to_string();
        assert!(
            msg.contains("jid 3")
                && msg.contains("`jail -r web`")
                && msg.contains("jailctl up web"),
            "{msg}"
        );
    }

    #[test]
    fn only_a_locally_set_yes_is_owned() {
        let out = "z/j/web\tjailctl:managed\tyes\tlocal\n\
z/j/web/data\tjailctl:managed\tyes\tinherited from z/j/web\n\
z/j/web@s1\tjailctl:managed\tyes\tinherited from z/j/web\n\
z/j/web/own\tjailctl:managed\tyes\tlocal\n\
z/j/web/x\tjailctl:managed\t-\t-\n\
z/j/web/r\tjailctl:managed\tyes\treceived\n";
        let f = foreign_in(out);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["z/j/web/data", "z/j/web/x", "z/j/web/r"]);
        assert_eq!(
            f[0].to_string(),
            "z/j/web/data (jailctl:managed=yes, inherited from z/j/web)"
        );
        assert_eq!(f[1].why, "jailctl:managed is not set");
        assert!(foreign_in("z/j/web\tjailctl:managed\tyes\tlocal\n").is_empty());
    }

    #[test]
    fn the_query_asks_for_the_source() {
        assert_eq!(
            get_cmd("z/j/web").to_string(),
            "/sbin/zfs get -H -p -r -o name,property,value,source jailctl:managed z/j/web"
        );
    }
}
