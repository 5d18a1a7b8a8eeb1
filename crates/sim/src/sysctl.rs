//! sysctl(8) on the simulated host: the few OIDs jailctl reads (`kern.racct.enable`,
//! `kern.features.vimage`, `hw.ncpu`, `security.jail.jailed`).
//!
//! Every modelled OID is read-only, as on FreeBSD (`kern.racct.enable` is a loader tunable).
//! Tests change the simulated kernel through [`SysctlState::values`] directly: set
//! `kern.racct.enable` to `"0"` for a GENERIC-like host with RACCT disabled, or remove the
//! key for a kernel built without RACCT. The simulated host defaults to `1` (enabled), unlike
//! GENERIC, so that rctl works out of the box in tests.

use super::Ctx;
use jailctl_host::Output;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OIDs and their values. Missing OIDs are unknown to the simulated kernel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SysctlState {
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

impl SysctlState {
    pub fn get(&self, oid: &str) -> Option<&str> {
        self.values.get(oid).map(String::as_str)
    }

    /// `hw.ncpu`, 4 when unset or unreadable.
    pub fn ncpu(&self) -> u32 {
        self.get("hw.ncpu")
            .and_then(|v| v.parse().ok())
            .unwrap_or(4)
    }
}

/// OIDs that are loader tunables: read-only at runtime with a hint about loader.conf.
const TUNABLES: &[&str] = &["kern.racct.enable"];

pub fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let mut value_only = false;
    let mut oids = Vec::new();
    for a in args {
        match a.as_str() {
            "-n" => value_only = true,
            s if s.starts_with('-') => {
                return Output::fail(
                    1,
                    format!(
                        "sysctl: illegal option -- {}\nusage: sysctl [-n] name[=value] ...\n",
                        &s[1..]
                    ),
                );
            }
            s => oids.push(s.to_string()),
        }
    }
    if oids.is_empty() {
        return Output::fail(1, "usage: sysctl [-n] name[=value] ...\n");
    }
    let mut out = Output::ok("");
    for oid in oids {
        if let Some((name, _value)) = oid.split_once('=') {
            if ctx.state.sysctl.get(name).is_none() {
                out.stderr += &format!("sysctl: unknown oid '{name}'\n");
            } else if TUNABLES.contains(&name) {
                out.stderr += &format!(
                    "sysctl: oid '{name}' is a read only tunable\nsysctl: Tunable values are set in /boot/loader.conf\n"
                );
            } else {
                out.stderr += &format!("sysctl: oid '{name}' is read only\n");
            }
            out.status = 1;
            continue;
        }
        match ctx.state.sysctl.get(&oid) {
            Some(v) if value_only => out.stdout += &format!("{v}\n"),
            Some(v) => out.stdout += &format!("{oid}: {v}\n"),
            None => {
                out.stderr += &format!("sysctl: unknown oid '{oid}'\n");
                out.status = 1;
            }
        }
    }
    out
}

/// The defaults of the simulated kernel (see the module doc for `kern.racct.enable`).
pub fn init_fresh(s: &mut super::SimState) {
    for (k, v) in [
        ("kern.racct.enable", "1"),
        ("kern.features.vimage", "1"),
        ("hw.ncpu", "4"),
        ("security.jail.jailed", "0"),
    ] {
        s.sysctl.values.insert(k.to_string(), v.to_string());
    }
}
