//! kldstat(8), kldload(8) and kldunload(8) on the simulated host: which kernel modules are
//! loaded. `jailctl doctor` asks `kldstat -q -m if_bridge` whether VNET's modules are in the
//! kernel; tests take one out (`kldunload`, or [`KldState::loaded`] directly) to see the
//! report.
//!
//! A fresh simulated host has `zfs`, `nullfs`, `if_bridge` and `if_epair` loaded, as a jail
//! host that has run VNET jails does (GENERIC builds the last three as modules that load on
//! first use). Messages and exit statuses follow the FreeBSD tools: a module that is not
//! loaded is "can't find module", loading one twice is refused.

use super::Ctx;
use jailctl_host::Output;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Kernel modules the simulated host can load (the ones in its /boot/kernel).
pub const AVAILABLE: &[&str] = &["if_bridge", "if_epair", "nullfs", "zfs", "pf", "linux64"];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KldState {
    /// Loaded module names.
    #[serde(default)]
    pub loaded: BTreeSet<String>,
}

pub fn init_fresh(s: &mut super::SimState) {
    for m in ["zfs", "nullfs", "if_bridge", "if_epair"] {
        s.kld.loaded.insert(m.to_string());
    }
}

/// `kldstat [-q] [-m MODULE | -n FILE]`; without -m/-n, every loaded module.
pub fn run_kldstat(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let usage = "usage: kldstat [-d] [-h] [-q] [-v] [-i id] [-n filename]\n       kldstat [-d] [-q] [-m modname]\n";
    let mut quiet = false;
    let mut name = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-q" => quiet = true,
            "-m" | "-n" => match it.next() {
                Some(n) => name = Some(n.trim_end_matches(".ko").to_string()),
                None => return Output::fail(1, usage),
            },
            _ => return Output::fail(1, usage),
        }
    }
    let loaded = &ctx.state.kld.loaded;
    match name {
        Some(n) if loaded.contains(&n) => {
            let id = loaded.iter().position(|m| *m == n).unwrap_or(0) + 1;
            Output::ok(format!("Id  Refs Name\n{id:>3}     1 {n}\n"))
        }
        Some(_) if quiet => Output::fail(1, ""),
        Some(n) => Output::fail(
            1,
            format!("kldstat: can't find module {n}: No such file or directory\n"),
        ),
        None => {
            let mut out = String::from("Id Refs Address                Size Name\n");
            for (i, m) in loaded.iter().enumerate() {
                out += &format!(
                    "{:>2} {:>4} 0xffffffff82000000 {:>8} {m}.ko\n",
                    i + 1,
                    1,
                    4096
                );
            }
            Output::ok(out)
        }
    }
}

/// `kldload NAME...`: loads modules from the simulated /boot/kernel.
pub fn run_kldload(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if names.is_empty() {
        return Output::fail(1, "usage: kldload [-nqv] file ...\n");
    }
    let mut out = Output::ok("");
    for n in names {
        let m = n.trim_end_matches(".ko");
        if ctx.state.kld.loaded.contains(m) {
            out.stderr += &format!("kldload: can't load {n}: module already loaded or in kernel\n");
            out.status = 1;
        } else if !AVAILABLE.contains(&m) {
            out.stderr += &format!("kldload: can't load {n}: No such file or directory\n");
            out.status = 1;
        } else {
            ctx.state.kld.loaded.insert(m.to_string());
        }
    }
    out
}

/// `kldunload NAME...`.
pub fn run_kldunload(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if names.is_empty() {
        return Output::fail(
            1,
            "usage: kldunload [-fv] -i id ...\n       kldunload [-fv] [-n] name ...\n",
        );
    }
    let mut out = Output::ok("");
    for n in names {
        let m = n.trim_end_matches(".ko");
        if !ctx.state.kld.loaded.remove(m) {
            out.stderr += &format!("kldunload: can't find file {n}\n");
            out.status = 1;
        }
    }
    out
}
