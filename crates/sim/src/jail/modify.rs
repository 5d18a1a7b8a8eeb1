//! `jail -m`: changing the parameters of a live jail, refusing those fixed at creation.

use super::find_live;
use super::params::{PSEUDO, READ_ONLY, known_kernel};
use super::steps::{Opts, bare, split_addr, warn};
use crate::Ctx;
use crate::jailconf::{PVal, ResolvedJail};
use jailctl_host::Output;

pub(super) fn modify(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, def: &ResolvedJail) {
    let name = def.name.clone();
    let Some(j) = find_live(&ctx.state.jail, &name).cloned() else {
        return;
    };
    let mut changed = false;
    let mut new = j.clone();
    for (p, v) in &def.params {
        if p.starts_with('$')
            || PSEUDO.contains(&p.as_str())
            || matches!(p.as_str(), "name" | "jid")
        {
            continue;
        }
        if !known_kernel(p) {
            return warn(out, &j.name, format!("unknown parameter: {p}"));
        }
        let val = match v {
            PVal::Bool(b) => b.to_string(),
            PVal::List(l) if p == "ip4.addr" || p == "ip6.addr" => l
                .iter()
                .map(|a| bare(&split_addr(a, None).1))
                .collect::<Vec<_>>()
                .join(","),
            PVal::List(l) => l.join(","),
        };
        if p == "vnet" {
            let want = if matches!(val.as_str(), "new" | "true") {
                "new"
            } else {
                "inherit"
            };
            if j.params.get("vnet").map(String::as_str) != Some(want) {
                return warn(out, &j.name, "vnet cannot be changed after creation");
            }
            continue;
        }
        if p == "path" {
            if val != j.path {
                return warn(out, &j.name, "path cannot be changed after creation");
            }
            continue;
        }
        if READ_ONLY.contains(&p.as_str()) {
            return warn(out, &j.name, format!("{p} cannot be set"));
        }
        if new.params.get(p) != Some(&val) {
            new.params.insert(p.clone(), val);
            changed = true;
        }
    }
    ctx.state.jail.jails.insert(name.clone(), new);
    if !o.quiet && changed {
        out.stdout += &format!("{name}: updated\n");
    }
}
