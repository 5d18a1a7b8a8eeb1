//! jail(8), jls(8) and jexec(8) on the simulated host.
//!
//! jail(8) follows the order of operations of the real tool: addresses and mounts are made
//! by running the simulated ifconfig and mount through [`crate::Ctx::exec`], exec hooks are
//! *recorded* in [`JailState::hooks`] rather than run, and a failure part-way undoes the
//! non-exec steps already done. A hook fails when its command is `false`, `/usr/bin/false`
//! or `exit N` with N ≠ 0 (possibly after `/bin/sh -c`); every other hook succeeds.
//!
//! Dying jails: removing a jail with `vnet = new` leaves it dying (visible with `jls -d`, its
//! interfaces still held, its root busy) for the next [`VNET_DYING_COMMANDS`] commands run on
//! the host, whatever they are; then the kernel has finished and it is reaped, its interfaces
//! back on the host. FreeBSD's kernel frees a removed jail when its last reference goes
//! (kern_jail.c, `prison_deref`: the vnet is destroyed, the root vnode released and the
//! interfaces returned only then), on its own and not at the next jail(8) command, so
//! polling `jls -d` is what sees it go. Other jails disappear at once. With the
//! `dying_commands = N` setting ([`crate::SimConfig`]) *every* removed jail stays dying for
//! the next N commands and keeps its root busy (`zfs destroy`, `zfs unmount` and `zfs
//! rename` of it fail with "dataset is busy"); then it is reaped.
//!
//! jexec(8) runs a command whose program exists as an executable file in the jail's root
//! (an absolute path, or found on the jail's PATH). A small fixed set of base programs is
//! modelled (sh -c lists, sysrc, service, pkg install, ...); any other existing program
//! exits 0 without output, since the simulator does not execute programs; a missing one
//! fails as execvp(3) does. See `docs/simulator-kernel.md`.
//!
//! The files follow jail(8)'s actions: `cli` (jail(8)'s command line and its config-file
//! form), `create`, `modify` and `remove`, with what they share in `steps` (options, tool
//! runs, undo), `hooks` (exec.* hooks) and `mounts`; `params` (the parameters jail(8) and the
//! kernel know), `dying` (jails the kernel is still tearing down), `jls` (jls(8)), `jexec`
//! (jexec(8) and the host's `pkg -j`), with the base programs a jail runs in `base` and the
//! packages in `pkg`.

use crate::table::{Seq, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod base;
mod cli;
mod create;
mod dying;
mod hooks;
mod jexec;
mod jls;
mod modify;
mod mounts;
mod params;
mod pkg;
mod remove;
mod steps;

pub use cli::{USAGE, run_jail};
pub use dying::{VNET_DYING_COMMANDS, reap_dying, tick_dying};
pub use jexec::{JAIL_PATH, run_jexec, run_pkg};
pub use jls::run_jls;

/// One jail the simulated kernel knows about.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimJail {
    pub jid: i32,
    pub name: String,
    pub path: String,
    /// Kernel parameters as jls(8) would print them (`host.hostname`, `ip4.addr`, ...).
    /// Lists are comma-separated, booleans `true`/`false`.
    pub params: BTreeMap<String, String>,
    pub dying: bool,
    /// Packages installed through `jexec JAIL pkg install`.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Whether exec.start or command ran (services count as running).
    #[serde(default)]
    pub started: bool,
    /// A dying jail kept by the `dying_commands` setting: how many more commands it stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dying_left: Option<u64>,
}

impl SimJail {
    pub fn is_vnet(&self) -> bool {
        self.params.get("vnet").map(String::as_str) == Some("new")
    }
    fn list(&self, p: &str) -> Vec<String> {
        self.params
            .get(p)
            .filter(|v| !v.is_empty())
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// One exec hook jail(8) ran (recorded, not executed).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HookRun {
    pub jail: String,
    /// `exec.prestart`, `exec.start`, ...
    pub hook: String,
    pub command: String,
    pub status: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JailState {
    /// Jails by name.
    pub jails: Table<String, SimJail>,
    pub last_jid: i32,
    /// Every exec hook run, in order.
    #[serde(default)]
    pub hooks: Seq<HookRun>,
}

/// The `allow.*` booleans of the simulated kernel (without the `allow.` prefix).
pub use jailctl_host::jail_params::ALLOW;

/// A live (not dying) jail by name or jid.
pub fn find_live<'a>(st: &'a JailState, key: &str) -> Option<&'a SimJail> {
    find_any(st, key).filter(|j| !j.dying)
}

fn find_any<'a>(st: &'a JailState, key: &str) -> Option<&'a SimJail> {
    match key.parse::<i32>() {
        Ok(jid) => st.jails.values().find(|j| j.jid == jid),
        Err(_) => st.jails.get(key),
    }
}
