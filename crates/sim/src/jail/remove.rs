//! `jail -r` and `jail -R`: stop hooks, removal (the jail may stay dying), then the
//! unmounts, address removals and release hooks of its configuration.

use super::dying::VNET_DYING_COMMANDS;
use super::find_live;
use super::hooks::run_hooks;
use super::mounts::mounts_of;
use super::steps::{Opts, bare, split_addr, tool};
use crate::Ctx;
use crate::jailconf::ResolvedJail;
use jailctl_host::{Cmd, Output, tools};

/// Remove a jail; `def` is its configuration (hooks, mounts, aliases) when jail(8) has one.
pub(super) fn remove(
    ctx: &mut Ctx<'_>,
    out: &mut Output,
    o: &Opts,
    key: &str,
    def: Option<&ResolvedJail>,
) -> bool {
    let Some(j) = find_live(&ctx.state.jail, key).cloned() else {
        out.stderr += &format!("jail: \"{key}\" not found\n");
        out.status = 1;
        return false;
    };
    let name = j.name.clone();
    if let Some(d) = def
        && (!run_hooks(ctx, out, o, &name, d, "exec.prestop")
            || !run_hooks(ctx, out, o, &name, d, "exec.stop"))
    {
        return false;
    }
    // jail_remove
    let linger = match ctx.state.config.dying_commands {
        0 if j.is_vnet() => VNET_DYING_COMMANDS,
        n => n,
    };
    if linger > 0 {
        if let Some(x) = ctx.state.jail.jails.get_mut(&name) {
            x.dying = true;
            x.dying_left = Some(linger);
        }
    } else {
        ctx.state.jail.jails.remove(&name);
        // The kernel frees the jail's cpuset with it.
        ctx.state.cpuset.masks.remove(&j.jid);
    }
    let mut ok = true;
    if let Some(d) = def {
        ok &= run_hooks(ctx, out, o, &name, d, "exec.poststop");
        if let Ok(ms) = mounts_of(ctx, d, &j.path) {
            for [_, _, dst, _, _] in ms.into_iter().rev() {
                ok &= tool(ctx, out, o, &name, Cmd::new(tools::UMOUNT, [dst]));
            }
        }
        let iface = d.string("interface");
        for (param, fam) in [("ip6.addr", "inet6"), ("ip4.addr", "inet")] {
            for a in d.list(param) {
                if let (Some(ifc), addr) = split_addr(&a, iface.as_deref()) {
                    ok &= tool(
                        ctx,
                        out,
                        o,
                        &name,
                        Cmd::new(
                            tools::IFCONFIG,
                            [ifc, fam.into(), bare(&addr), "-alias".into()],
                        ),
                    );
                }
            }
        }
        ok &= run_hooks(ctx, out, o, &name, d, "exec.release");
    }
    if !o.quiet {
        out.stdout += &format!("{name}: removed\n");
    }
    ok
}
