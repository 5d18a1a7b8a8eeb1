//! Observing the host: read-only commands run through the [`Runner`](crate::host::Runner) and
//! pure parsers of their output. The result, [`HostState`], is plain data that
//! [`plan`](crate::plan) compares with the definitions. Only jailctl's own dataset prefix and
//! only the properties it needs are queried, so listing stays fast however big the pool is.

pub mod host;
pub mod pf;
pub mod zfs;

pub use host::{ObserveError, observe};

use serde::Serialize;
use std::collections::BTreeMap;

/// What jailctl knows about the host, from one round of read-only commands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostState {
    /// Datasets under jailctl's root, by full name, with the properties jailctl asked for.
    pub datasets: BTreeMap<String, Dataset>,
    /// Jails the kernel knows (including dying ones), by name.
    pub jails: BTreeMap<String, JailInfo>,
    /// rctl rules per jail name, in rctl(8) syntax (`jail:web:memoryuse:deny=536870912`).
    pub rctl_rules: BTreeMap<String, Vec<String>>,
    /// `kern.racct.enable`: `Some(true)` on, `Some(false)` off, `None` kernel without RACCT.
    pub racct: Option<bool>,
    /// `kern.features.vimage`.
    pub vimage: bool,
    /// Interface names (`ifconfig -l`).
    pub interfaces: Vec<String>,
    /// The mount table (`mount -p`).
    pub mounts: Vec<MountEntry>,
    /// Where each observed dataset's `exec` property comes from, as `zfs get` prints the
    /// source: `local`, `default`, `inherited from DATASET`.
    pub exec_sources: BTreeMap<String, String>,
    /// The observed datasets whose `jailctl:managed=yes` is set locally: those jailctl made
    /// (an inherited value marks a dataset someone else made below one of jailctl's).
    pub managed_local: std::collections::BTreeSet<String>,
    /// Jails whose root path `<mount_root>/NAME` is, or passes through, a symbolic link
    /// below `mount_root` ([`host::root_links`]); `plan` refuses to start or clone them.
    pub root_links: BTreeMap<String, RootLink>,
    /// jailctl's part of the packet filter ([`pf::observe_pf`]): read only when some jail
    /// is NATed or has rules recorded; `None` when not read.
    pub pf: Option<pf::PfObserved>,
}

/// A symbolic link on the way to a jail's root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RootLink {
    /// The link itself (the jail's root or a directory between it and `mount_root`).
    pub link: String,
    /// What it points to, as readlink(2) gives it.
    pub target: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Dataset {
    pub name: String,
    /// Property → value, as `zfs get -Hp` prints it (`-` for none).
    pub props: BTreeMap<String, String>,
}

impl Dataset {
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .get(name)
            .map(String::as_str)
            .filter(|v| *v != "-")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JailInfo {
    pub jid: i32,
    pub name: String,
    pub path: String,
    pub hostname: String,
    pub ip4: Vec<String>,
    pub ip6: Vec<String>,
    pub dying: bool,
}

/// One line of `mount -p` (fstab(5) format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountEntry {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

pub mod ifconfig;
pub mod jls;
pub mod mount;
pub mod owned;
pub mod rctl;
pub mod sysctl;

/// Output of a host tool that did not have the shape jailctl expects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("could not read the output of {what} (line {line}): {message}")]
#[diagnostic(help(
    "run the command by hand to see what it answers; if it looks normal, this is a bug in jailctl, please report it"
))]
pub struct ParseError {
    /// The command, e.g. `jls --libxo json`.
    pub what: String,
    /// 1-based line of the offending text, 0 for the whole output.
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(what: &str, line: usize, message: impl Into<String>) -> Self {
        ParseError {
            what: what.to_string(),
            line,
            message: message.into(),
        }
    }
}
