//! `jail -c`: the checks jail(8) and the kernel make, then addresses, mounts, hooks and the
//! jail itself in jail(8)'s order, undoing the steps done when one fails.

use super::SimJail;
use super::hooks::run_hooks;
use super::mounts::{check_path, mounts_of};
use super::params::{READ_ONLY, known, known_kernel};
use super::steps::{Opts, Undo, bare, split_addr, tool, undo_all, warn};
use crate::jailconf::{PVal, ResolvedJail};
use crate::{Ctx, strerror};
use jailctl_host::{Cmd, Output, tools};
use std::collections::BTreeMap;
use std::path::Path;

/// What the checks made before anything happens found out about the jail.
struct Checked {
    path: String,
    vnet: bool,
    /// exec.start or command is set.
    has_cmd: bool,
    mounts: Vec<[String; 5]>,
}

pub(super) fn create(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, def: &ResolvedJail) {
    let name = def.name.clone();
    let c = match check(ctx, def) {
        Ok(c) => c,
        Err(e) => return warn(out, &name, e),
    };
    if !run_hooks(ctx, out, o, &name, def, "exec.prepare") {
        return;
    }
    let mut undo: Vec<Undo> = vec![];
    let Some(kaddrs) = add_addresses(ctx, out, o, def, &mut undo) else {
        return undo_all(ctx, out, o, &name, undo);
    };
    if !mount_all(ctx, out, o, &name, &c, &mut undo)
        || !run_hooks(ctx, out, o, &name, def, "exec.prestart")
    {
        return undo_all(ctx, out, o, &name, undo);
    }
    // jail_set(JAIL_CREATE)
    let Some(jid) = pick_jid(ctx, out, def) else {
        return undo_all(ctx, out, o, &name, undo);
    };
    ctx.state.jail.last_jid = ctx.state.jail.last_jid.max(jid);
    let params = kernel_params(def, c.vnet, kaddrs);
    insert_jail(
        ctx,
        SimJail {
            jid,
            name: name.clone(),
            path: c.path.clone(),
            params,
            dying: false,
            dying_left: None,
            packages: vec![],
            started: false,
        },
    );
    undo.push(Undo::Jail(name.clone()));
    if !run_hooks(ctx, out, o, &name, def, "exec.created")
        || !move_interfaces(ctx, out, o, def, c.vnet, jid)
        || !run_hooks(ctx, out, o, &name, def, "exec.start")
        || !run_hooks(ctx, out, o, &name, def, "command")
    {
        return undo_all(ctx, out, o, &name, undo);
    }
    if let Some(j) = ctx.state.jail.jails.get_mut(&name) {
        j.started = c.has_cmd;
    }
    if !run_hooks(ctx, out, o, &name, def, "exec.poststart") {
        return undo_all(ctx, out, o, &name, undo);
    }
    if o.print_jid {
        out.stdout += &format!("{jid}\n");
    }
    if !o.quiet {
        out.stdout += &format!("{name}: created\n");
    }
}

/// Checks jail(8) and the kernel make before anything happens; the message of the first
/// that fails.
fn check(ctx: &Ctx<'_>, def: &ResolvedJail) -> Result<Checked, String> {
    for (p, _) in &def.params {
        if p.starts_with('$') {
            continue;
        }
        if !known(p) {
            return Err(format!("unknown parameter: {p}"));
        }
        if READ_ONLY.contains(&p.as_str()) {
            return Err(format!("{p} cannot be set"));
        }
    }
    if def.name.contains('.') {
        return Err("name cannot contain a \".\"".into());
    }
    let path = def.string("path").unwrap_or_else(|| "/".into());
    if !path.starts_with('/') {
        return Err(format!("path {path}: not an absolute pathname"));
    }
    let hp = ctx.host_path(Path::new(&path));
    match std::fs::metadata(&hp) {
        Err(e) => return Err(format!("path {path}: {}", strerror(&e))),
        Ok(m) if !m.is_dir() => return Err(format!("path {path}: Not a directory")),
        Ok(_) => {}
    }
    let persist = def.flag("persist") == Some(true);
    let has_cmd = !def.list("exec.start").is_empty() || !def.list("command").is_empty();
    if !persist && !has_cmd {
        return Err("no command or persist specified".into());
    }
    let vnet = match def.string("vnet").as_deref() {
        None | Some("inherit") | Some("false") => false,
        Some("new") | Some("true") => true,
        Some(v) => return Err(format!("vnet: invalid value \"{v}\"")),
    };
    if vnet && ctx.state.sysctl.get("kern.features.vimage") != Some("1") {
        return Err("vnet: Operation not supported".into());
    }
    let mounts = mounts_of(ctx, def, &path)?;
    // jail(8) strips an address's interface, `/width` and ifconfig options (the width only
    // goes to ifconfig, when there is an interface), then libjail converts what is left with
    // inet_pton(3) before anything runs: a bad address fails here, a bad width only in
    // ifconfig.
    for (param, v6) in [("ip4.addr", false), ("ip6.addr", true)] {
        for a in def.list(param) {
            let ip = bare(&split_addr(&a, None).1);
            if !crate::addr::is_addr(&ip, v6) {
                let fam = if v6 { "IPv6" } else { "IPv4" };
                return Err(format!("{param}: not an {fam} address: {ip}"));
            }
        }
    }
    Ok(Checked {
        path,
        vnet,
        has_cmd,
        mounts,
    })
}

/// The jail's addresses, IPv4 then IPv6: aliases added where an interface is given, and
/// the bare addresses the kernel keeps (`None` when an ifconfig failed).
fn add_addresses(
    ctx: &mut Ctx<'_>,
    out: &mut Output,
    o: &Opts,
    def: &ResolvedJail,
    undo: &mut Vec<Undo>,
) -> Option<[Vec<String>; 2]> {
    let iface = def.string("interface");
    let mut kaddrs: [Vec<String>; 2] = [vec![], vec![]];
    for (fi, (param, fam)) in [("ip4.addr", "inet"), ("ip6.addr", "inet6")]
        .into_iter()
        .enumerate()
    {
        for a in def.list(param) {
            let (ifc, addr) = split_addr(&a, iface.as_deref());
            kaddrs[fi].push(bare(&addr));
            if let Some(ifc) = ifc {
                let ok = tool(
                    ctx,
                    out,
                    o,
                    &def.name,
                    Cmd::new(
                        tools::IFCONFIG,
                        [ifc.clone(), fam.into(), addr.clone(), "alias".into()],
                    ),
                );
                if !ok {
                    return None;
                }
                undo.push(Undo::Alias {
                    iface: ifc,
                    fam,
                    addr: bare(&addr),
                });
            }
        }
    }
    Some(kaddrs)
}

/// The jail's mounts in order, each mount point checked first; whether all were made.
fn mount_all(
    ctx: &mut Ctx<'_>,
    out: &mut Output,
    o: &Opts,
    name: &str,
    c: &Checked,
    undo: &mut Vec<Undo>,
) -> bool {
    for [fstype, src, dst, opts, pname] in c.mounts.iter().cloned() {
        if let Err(e) = check_path(ctx, &pname, &dst, &c.path) {
            warn(out, name, e);
            return false;
        }
        let ok = tool(
            ctx,
            out,
            o,
            name,
            Cmd::new(
                tools::MOUNT,
                ["-t".into(), fstype, "-o".into(), opts, src, dst.clone()],
            ),
        );
        if !ok {
            return false;
        }
        undo.push(Undo::Mount(dst));
    }
    true
}

/// The jid asked for (which must be free) or the next free one after the last given.
fn pick_jid(ctx: &Ctx<'_>, out: &mut Output, def: &ResolvedJail) -> Option<i32> {
    let name = &def.name;
    match def.string("jid") {
        Some(j) => match j.parse::<i32>() {
            Ok(j) if j > 0 => {
                if ctx.state.jail.jails.values().any(|x| x.jid == j) {
                    warn(out, name, format!("jail {j} already exists"));
                    return None;
                }
                Some(j)
            }
            _ => {
                warn(out, name, format!("jid: invalid value \"{j}\""));
                None
            }
        },
        None => {
            let mut j = ctx.state.jail.last_jid + 1;
            while ctx.state.jail.jails.values().any(|x| x.jid == j) {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The kernel's parameters of the new jail as jls(8) shows them.
fn kernel_params(
    def: &ResolvedJail,
    vnet: bool,
    kaddrs: [Vec<String>; 2],
) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    for (p, v) in &def.params {
        if !known_kernel(p)
            || matches!(
                p.as_str(),
                "jid" | "name" | "path" | "ip4.addr" | "ip6.addr"
            )
        {
            continue;
        }
        params.insert(
            p.clone(),
            match v {
                PVal::Bool(b) => b.to_string(),
                PVal::List(l) => l.join(","),
            },
        );
    }
    params.insert("vnet".into(), if vnet { "new" } else { "inherit" }.into());
    params.insert("ip4.addr".into(), kaddrs[0].join(","));
    params.insert("ip6.addr".into(), kaddrs[1].join(","));
    params
        .entry("host.hostname".into())
        .or_insert_with(|| def.name.clone());
    params
        .entry("persist".into())
        .or_insert_with(|| "false".into());
    params
}

/// Add the new jail to the kernel's table.
fn insert_jail(ctx: &mut Ctx<'_>, jail: SimJail) {
    let name = jail.name.clone();
    // A new jail may take a dying jail's name (jail(8) replaces it). The kernel keeps tearing
    // the old one down under its own jid, still holding its root busy and still listed by
    // `jls -d`; it moves to a key no name lookup finds, so by name the new jail is found.
    let jails = &mut ctx.state.jail.jails;
    if jails.get(&name).is_some_and(|j| j.dying)
        && let Some(old) = jails.remove(&name)
    {
        jails.insert(format!("{name}\u{0}{}", old.jid), old);
    }
    jails.insert(name, jail);
}

/// `vnet.interface`: move each interface into the new jail's vnet; whether all moved.
fn move_interfaces(
    ctx: &mut Ctx<'_>,
    out: &mut Output,
    o: &Opts,
    def: &ResolvedJail,
    vnet: bool,
    jid: i32,
) -> bool {
    for ifc in def.list("vnet.interface") {
        if !vnet {
            warn(out, &def.name, "vnet.interface requires vnet");
            return false;
        }
        if !tool(
            ctx,
            out,
            o,
            &def.name,
            Cmd::new(tools::IFCONFIG, [ifc, "vnet".into(), jid.to_string()]),
        ) {
            return false;
        }
    }
    true
}
