//! cpuset(1) on the simulated host: per-jail CPU masks. A jail's set starts as every CPU of
//! the simulated machine (`hw.ncpu`, 4 by default); the only domain policy is first-touch.

use super::Ctx;
use crate::table::Table;
use jailctl_host::Output;
use serde::{Deserialize, Serialize};

/// CPU_SETSIZE of the simulated kernel.
pub const CPU_SETSIZE: u32 = 256;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpusetState {
    /// Masks set with `cpuset -l`, by jid. Jails absent here use every CPU.
    #[serde(default)]
    pub masks: Table<i32, Vec<u32>>,
}

const USAGE: &str = "usage: cpuset [-l cpu-list] [-n policy:domain-list] [-s setid] cmd ...\n       cpuset [-l cpu-list] [-n policy:domain-list] [-s setid]\n              [-j jailid | -p pid | -t tid | -x irq]\n       cpuset -g [-cir] [-d domain | -j jailid | -p pid | -t tid | -x irq]\n";

/// Parse a cpu-list (`0-3`, `0,2`, `all`) for a machine with `ncpu` CPUs.
pub fn parse_list(s: &str, ncpu: u32) -> Option<Vec<u32>> {
    if s == "all" {
        return Some((0..ncpu).collect());
    }
    let mut v = vec![];
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: u32 = a.parse().ok()?;
        let b: u32 = b.parse().ok()?;
        if a > b || b >= CPU_SETSIZE {
            return None;
        }
        v.extend(a..=b);
    }
    v.sort_unstable();
    v.dedup();
    Some(v)
}

pub fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let mut list = None;
    let mut jail = None;
    let mut get = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-l" => list = it.next().cloned(),
            "-j" => jail = it.next().cloned(),
            "-g" => get = true,
            _ => return Output::fail(1, USAGE),
        }
    }
    let Some(jname) = jail else {
        return Output::fail(1, USAGE);
    };
    if get == list.is_some() {
        return Output::fail(1, USAGE);
    }
    let ncpu = ctx.state.sysctl.ncpu();
    // cpuset parses the list before it looks the jail up.
    let parsed = match &list {
        Some(l) => match parse_list(l, ncpu) {
            Some(v) => Some(v),
            None => return Output::fail(1, format!("cpuset: Malformed cpu-list {l}\n")),
        },
        None => None,
    };
    let Some(j) = super::jail::find_live(&ctx.state.jail, &jname) else {
        return Output::fail(1, format!("cpuset: jail \"{jname}\" not found\n"));
    };
    let jid = j.jid;
    if let Some(v) = parsed {
        if v.is_empty() || v.iter().any(|c| *c >= ncpu) {
            return Output::fail(1, "cpuset: setaffinity: Resource deadlock avoided\n");
        }
        ctx.state.cpuset.masks.insert(jid, v);
        return Output::ok("");
    }
    let mask = ctx
        .state
        .cpuset
        .masks
        .get(&jid)
        .cloned()
        .unwrap_or_else(|| (0..ncpu).collect());
    let m: Vec<String> = mask.iter().map(u32::to_string).collect();
    Output::ok(format!(
        "jail {jid} mask: {}\njail {jid} domain policy: first-touch mask: 0\n",
        m.join(", ")
    ))
}
