//! What jail(8)'s create, modify and remove share: the options of one run, its warnings,
//! running a tool (ifconfig, mount, umount) as jail(8) does, and undoing the steps of a
//! create that failed part-way.

use crate::Ctx;
use jailctl_host::{Cmd, Output, tools};

#[derive(Default)]
pub(super) struct Opts {
    pub(super) create: bool,
    pub(super) modify: bool,
    pub(super) remove: bool,
    pub(super) remove_noconf: bool,
    pub(super) quiet: bool,
    pub(super) verbose: bool,
    pub(super) print_jid: bool,
    pub(super) conf: Option<String>,
}

pub(super) fn warn(out: &mut Output, name: &str, msg: impl AsRef<str>) {
    out.stderr += &format!("jail: {name}: {}\n", msg.as_ref());
    out.status = 1;
}

/// Run a tool as jail(8) does, passing its stderr through.
pub(super) fn tool(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, name: &str, cmd: Cmd) -> bool {
    if o.verbose {
        out.stdout += &format!("{name}: run command: {cmd}\n");
    }
    match ctx.exec(&cmd) {
        Ok(r) if r.success() => {
            out.stdout += &r.stdout;
            true
        }
        Ok(r) => {
            out.stderr += &r.stderr;
            warn(out, name, format!("{cmd}: failed"));
            false
        }
        Err(e) => {
            warn(out, name, format!("{cmd}: {e}"));
            false
        }
    }
}

pub(super) enum Undo {
    Alias {
        iface: String,
        fam: &'static str,
        addr: String,
    },
    Mount(String),
    Jail(String),
}

/// `iface|addr/len extra` → (iface, addr/len).
pub(super) fn split_addr(a: &str, default_if: Option<&str>) -> (Option<String>, String) {
    let a = a.split_whitespace().next().unwrap_or("");
    let (ifc, addr) = match a.split_once('|') {
        Some((i, rest)) => (Some(i.to_string()), rest),
        None => (default_if.map(str::to_string), a),
    };
    // A dotted-quad mask becomes a prefix length.
    let addr = match addr.split_once('/') {
        Some((ip, m)) if m.contains('.') => match crate::addr::mask_len(m) {
            Some(n) => format!("{ip}/{n}"),
            None => addr.to_string(),
        },
        _ => addr.to_string(),
    };
    (ifc, addr)
}

pub(super) fn bare(addr: &str) -> String {
    addr.split('/').next().unwrap_or(addr).to_string()
}

pub(super) fn undo_all(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, name: &str, undo: Vec<Undo>) {
    let status = out.status;
    for u in undo.into_iter().rev() {
        match u {
            Undo::Alias { iface, fam, addr } => {
                tool(
                    ctx,
                    out,
                    o,
                    name,
                    Cmd::new(tools::IFCONFIG, [iface, fam.into(), addr, "-alias".into()]),
                );
            }
            Undo::Mount(t) => {
                tool(ctx, out, o, name, Cmd::new(tools::UMOUNT, [t]));
            }
            Undo::Jail(n) => {
                if let Some(j) = ctx.state.jail.jails.remove(&n) {
                    ctx.state.net.return_from_jail(j.jid);
                }
            }
        }
    }
    out.status = status.max(1);
}
