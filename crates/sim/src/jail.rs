//! jail(8), jls(8) and jexec(8) on the simulated host.
//!
//! jail(8) follows the order of operations of the real tool: addresses and mounts are made
//! by running the simulated ifconfig and mount through [`Ctx::exec`], exec hooks are
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
//! `dying_commands = N` setting ([`super::SimConfig`]) *every* removed jail stays dying for
//! the next N commands and keeps its root busy (`zfs destroy`, `zfs unmount` and `zfs
//! rename` of it fail with "dataset is busy"); then it is reaped.
//!
//! jexec(8) runs a command whose program exists as an executable file in the jail's root
//! (an absolute path, or found on the jail's PATH). A small fixed set of base programs is
//! modelled (sh -c lists, sysrc, service, pkg install, ...); any other existing program
//! exits 0 without output, since the simulator does not execute programs; a missing one
//! fails as execvp(3) does. See `docs/simulator-kernel.md`.

use super::jailconf::{self, JailConf, PVal, ResolvedJail};
use super::{Ctx, Last, strerror};
use jailctl_host::{Cmd, Output, shell_quote, tools};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

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
    pub jails: BTreeMap<String, SimJail>,
    pub last_jid: i32,
    /// Every exec hook run, in order.
    #[serde(default)]
    pub hooks: Vec<HookRun>,
}

/// The `allow.*` booleans of the simulated kernel (without the `allow.` prefix).
pub use jailctl_host::jail_params::ALLOW;

/// Kernel parameters (other than `allow.*`).
const KERNEL: &[&str] = &[
    "jid",
    "name",
    "path",
    "ip4.addr",
    "ip6.addr",
    "ip4",
    "ip6",
    "ip4.saddrsel",
    "ip6.saddrsel",
    "vnet",
    "host.hostname",
    "host.domainname",
    "host.hostuuid",
    "host.hostid",
    "host",
    "securelevel",
    "devfs_ruleset",
    "enforce_statfs",
    "children.max",
    "children.cur",
    "persist",
    "osrelease",
    "osreldate",
    "sysvmsg",
    "sysvsem",
    "sysvshm",
    "cpuset.id",
    "dying",
    "parent",
    "allow",
];

/// Parameters jail(8) handles itself.
const PSEUDO: &[&str] = &[
    "exec.prepare",
    "exec.prestart",
    "exec.created",
    "exec.start",
    "command",
    "exec.poststart",
    "exec.prestop",
    "exec.stop",
    "exec.poststop",
    "exec.release",
    "exec.clean",
    "exec.jail_user",
    "exec.system_user",
    "exec.system_jail_user",
    "exec.timeout",
    "exec.consolelog",
    "exec.fib",
    "stop.timeout",
    "interface",
    "ip_hostname",
    "vnet.interface",
    "mount",
    "mount.fstab",
    "mount.devfs",
    "mount.fdescfs",
    "mount.procfs",
    "depend",
];

const READ_ONLY: &[&str] = &["children.cur", "cpuset.id", "dying", "parent"];

fn known_kernel(p: &str) -> bool {
    KERNEL.contains(&p) || p.strip_prefix("allow.").is_some_and(|a| ALLOW.contains(&a))
}

fn known(p: &str) -> bool {
    known_kernel(p) || PSEUDO.contains(&p)
}

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

/// How many commands a removed VNET jail stays dying by default: the kernel tears down its
/// network stack after `jail -r` has returned, and a poll of `jls -d` sees it go.
pub const VNET_DYING_COMMANDS: u64 = 3;

/// Finish tearing down every dying jail now (as if the kernel were done): forget them and
/// return their interfaces to the host.
pub fn reap_dying(s: &mut super::SimState) {
    let dying: Vec<(String, i32)> = s
        .jail
        .jails
        .values()
        .filter(|j| j.dying)
        .map(|j| (j.name.clone(), j.jid))
        .collect();
    forget(s, dying);
}

fn forget(s: &mut super::SimState, dying: Vec<(String, i32)>) {
    for (_, jid) in dying {
        // By jid: a replaced dying jail is no longer under its name (see `create`).
        s.jail.jails.retain(|_, j| j.jid != jid);
        s.cpuset.masks.remove(&jid);
        s.net.return_from_jail(jid);
    }
}

/// One more command has run: count down the jails kept dying by `dying_commands`, and
/// reap those whose time is up. Whether that changed anything.
pub fn tick_dying(s: &mut super::SimState) -> bool {
    let mut done = vec![];
    let mut changed = false;
    for j in s.jail.jails.values_mut() {
        match &mut j.dying_left {
            Some(0) => done.push((j.name.clone(), j.jid)),
            Some(n) => {
                *n -= 1;
                changed = true;
            }
            None => {}
        }
    }
    changed |= !done.is_empty();
    forget(s, done);
    changed
}

#[derive(Default)]
struct Opts {
    create: bool,
    modify: bool,
    remove: bool,
    remove_noconf: bool,
    quiet: bool,
    verbose: bool,
    print_jid: bool,
    conf: Option<String>,
}

pub const USAGE: &str = "usage: jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n            -[cmr] param=value ... [command=command ...]\n       jail [-dqv] [-f file] -[cmr] [jail]\n       jail [-qv] [-f file] -[rR] ['*' | jail ...]\n       jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n            [-n jailname] [-s securelevel]\n            path hostname [ip[,...]] command ...\n";

fn usage() -> Output {
    Output::fail(1, USAGE)
}

/// Parameters from the command line (`name=value`, `name`, `noname`).
fn cmdline_params(args: &[String]) -> Result<ResolvedJail, String> {
    let mut params: Vec<(String, PVal)> = vec![];
    let mut k = 0;
    while k < args.len() {
        let a = &args[k];
        let (n, v) = match a.split_once('=') {
            Some(("command", c)) => {
                let mut words = vec![c.to_string()];
                words.extend(args[k + 1..].iter().cloned());
                let cmd = words
                    .iter()
                    .map(|w| shell_quote(w))
                    .collect::<Vec<_>>()
                    .join(" ");
                params.retain(|(p, _)| p != "command");
                params.push(("command".into(), PVal::List(vec![cmd])));
                break;
            }
            Some((n, v)) => {
                let list = matches!(n, "ip4.addr" | "ip6.addr" | "vnet.interface" | "depend");
                let vals = if list {
                    v.split(',').map(str::to_string).collect()
                } else {
                    vec![v.to_string()]
                };
                let val = match v {
                    "true" | "false" if jailconf::is_bool_param(n) => PVal::Bool(v == "true"),
                    _ => PVal::List(vals),
                };
                (n.to_string(), val)
            }
            None => match jailconf::split_no(a) {
                Some(b) => (b, PVal::Bool(false)),
                None => (a.clone(), PVal::Bool(true)),
            },
        };
        params.retain(|(p, _)| *p != n);
        params.push((n, v));
        k += 1;
    }
    let name = params
        .iter()
        .find(|(p, _)| p == "name")
        .and_then(|(_, v)| match v {
            PVal::List(l) => l.first().cloned(),
            _ => None,
        })
        .or_else(|| {
            params
                .iter()
                .find(|(p, _)| p == "jid")
                .and_then(|(_, v)| match v {
                    PVal::List(l) => l.first().cloned(),
                    _ => None,
                })
        })
        .ok_or_else(|| "no name or jid given".to_string())?;
    Ok(ResolvedJail { name, params })
}

pub fn run_jail(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let mut o = Opts::default();
    let mut k = 0;
    while k < args.len() {
        let a = &args[k];
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let letters: Vec<char> = a[1..].chars().collect();
        let mut li = 0;
        while li < letters.len() {
            match letters[li] {
                'c' => o.create = true,
                'm' => o.modify = true,
                'r' => o.remove = true,
                'R' => o.remove_noconf = true,
                'q' => o.quiet = true,
                'v' => o.verbose = true,
                'i' => {
                    o.print_jid = true;
                    o.quiet = true
                }
                'd' => {}
                'e' | 'J' | 'C' => {
                    return Output::fail(
                        1,
                        format!(
                            "jail: -{} is not modelled by the simulated host\n",
                            letters[li]
                        ),
                    );
                }
                'f' | 'p' => {
                    let rest: String = letters[li + 1..].iter().collect();
                    let val = if !rest.is_empty() {
                        rest
                    } else {
                        k += 1;
                        match args.get(k) {
                            Some(v) => v.clone(),
                            None => return usage(),
                        }
                    };
                    if letters[li] == 'f' {
                        o.conf = Some(val);
                    }
                    li = letters.len();
                    continue;
                }
                _ => return usage(),
            }
            li += 1;
        }
        k += 1;
    }
    let rest = &args[k..];
    if !(o.create || o.modify || o.remove || o.remove_noconf) {
        return usage();
    }
    let mut out = Output::ok("");
    let param_form = rest.iter().any(|a| a.contains('='))
        || (o.create
            && rest
                .iter()
                .any(|a| known(a) || jailconf::split_no(a).is_some()));

    if o.remove_noconf {
        if rest.is_empty() {
            return usage();
        }
        for key in expand_names(ctx, rest) {
            remove(ctx, &mut out, &o, &key, None);
        }
        return finish(out);
    }

    if param_form {
        let def = match cmdline_params(rest) {
            Ok(d) => d,
            Err(_) => return usage(),
        };
        op_one(ctx, &mut out, &o, &def.name.clone(), Some(&def));
        return finish(out);
    }

    // Config-file form.
    let conf_path = o.conf.clone().unwrap_or_else(|| "/etc/jail.conf".into());
    let conf = match load_conf(ctx, &conf_path, o.conf.is_none()) {
        Ok(c) => c,
        Err(e) => return Output::fail(1, format!("jail: {e}\n")),
    };
    let names: Vec<String> = if rest.is_empty() {
        if o.remove {
            return usage();
        }
        conf.jails.clone()
    } else if o.remove {
        expand_names(ctx, rest)
    } else {
        rest.to_vec()
    };
    for n in names {
        let in_conf = conf.jails.contains(&n)
            || find_any(&ctx.state.jail, &n).is_some_and(|j| conf.jails.contains(&j.name));
        let def = if in_conf {
            let jname = find_any(&ctx.state.jail, &n)
                .map(|j| j.name.clone())
                .unwrap_or(n.clone());
            match conf.resolve(&jname) {
                Ok(d) => Some(d),
                Err(e) => {
                    out.stderr += &format!("jail: {e}\n");
                    out.status = 1;
                    continue;
                }
            }
        } else {
            None
        };
        if def.is_none() && (o.create || o.modify) && !o.remove {
            out.stderr += &format!("jail: \"{n}\" not found\n");
            out.status = 1;
            continue;
        }
        op_one(ctx, &mut out, &o, &n, def.as_ref());
    }
    finish(out)
}

fn finish(mut out: Output) -> Output {
    if out.status != 0 {
        out.status = 1;
    }
    out
}

fn expand_names(ctx: &Ctx<'_>, rest: &[String]) -> Vec<String> {
    let mut v = vec![];
    for r in rest {
        if r == "*" {
            let mut live: Vec<&SimJail> =
                ctx.state.jail.jails.values().filter(|j| !j.dying).collect();
            live.sort_by_key(|j| std::cmp::Reverse(j.jid));
            v.extend(live.iter().map(|j| j.name.clone()));
        } else {
            v.push(r.clone());
        }
    }
    v
}

fn load_conf(ctx: &Ctx<'_>, path: &str, default: bool) -> Result<JailConf, jailconf::ConfError> {
    let root = ctx.root.to_path_buf();
    if default && !ctx.host_path(Path::new(path)).exists() {
        return Ok(JailConf::default());
    }
    let r2 = root.clone();
    let read = move |p: &Path| -> io::Result<String> {
        // jail(8) reads bytes; a file that is not UTF-8 is read, not refused.
        let bytes = std::fs::read(super::resolve(&r2, p, super::Last::Follow)?)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let list = move |p: &Path| -> io::Result<Vec<String>> {
        let mut v = vec![];
        for e in std::fs::read_dir(super::resolve(&root, p, super::Last::Follow)?)? {
            v.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(v)
    };
    let p = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new("/").join(path)
    };
    jailconf::parse_file_with(
        &p,
        &jailconf::Source {
            read: &read,
            list_dir: Some(&list),
        },
    )
}

/// One jail under the selected operation.
fn op_one(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, key: &str, def: Option<&ResolvedJail>) {
    let exists = find_live(&ctx.state.jail, key).is_some();
    if o.remove {
        if !exists {
            out.stderr += &format!("jail: \"{key}\" not found\n");
            out.status = 1;
            return;
        }
        if !remove(ctx, out, o, key, def) {
            return;
        }
        if o.create
            && let Some(d) = def
        {
            create(ctx, out, o, d);
        }
        return;
    }
    let Some(def) = def else { return };
    match (exists, o.create, o.modify) {
        (true, _, true) => modify(ctx, out, o, def),
        (true, true, false) => {
            out.stderr += &format!("jail: \"{key}\" already exists\n");
            out.status = 1;
        }
        (false, true, _) => create(ctx, out, o, def),
        (false, false, _) => {
            out.stderr += &format!("jail: \"{key}\" not found\n");
            out.status = 1;
        }
        (true, false, false) => {}
    }
}

fn warn(out: &mut Output, name: &str, msg: impl AsRef<str>) {
    out.stderr += &format!("jail: {name}: {}\n", msg.as_ref());
    out.status = 1;
}

/// Run a tool as jail(8) does, passing its stderr through.
fn tool(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, name: &str, cmd: Cmd) -> bool {
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

/// Whether the simulator treats a hook command line as failing.
fn hook_fails(cmd: &str) -> Option<i32> {
    let mut c = cmd.trim();
    for sh in ["/bin/sh -c ", "sh -c "] {
        if let Some(r) = c.strip_prefix(sh) {
            c = r.trim().trim_matches(|ch| ch == '"' || ch == '\'');
        }
    }
    let words: Vec<&str> = c.split_whitespace().collect();
    match words.as_slice() {
        ["false", ..] | ["/usr/bin/false", ..] => Some(1),
        ["exit", n] => n.parse::<i32>().ok().filter(|n| *n != 0),
        _ => None,
    }
}

fn run_hooks(
    ctx: &mut Ctx<'_>,
    out: &mut Output,
    o: &Opts,
    name: &str,
    def: &ResolvedJail,
    hook: &str,
) -> bool {
    for c in def.list(hook) {
        if o.verbose {
            out.stdout += &format!("{name}: run command: {c}\n");
        }
        // exec.start, exec.stop and command run inside the jail, through the jail's own
        // /bin/sh: on a root with exec=off that shell cannot be executed.
        let inside = matches!(hook, "exec.start" | "exec.stop" | "command");
        let no_exec = inside
            && def
                .string("path")
                .is_some_and(|p| super::zfs::exec_off_at(&ctx.state.zfs, Path::new(&p)));
        let status = if no_exec {
            1
        } else {
            hook_fails(&c).unwrap_or(0)
        };
        ctx.state.jail.hooks.push(HookRun {
            jail: name.to_string(),
            hook: hook.to_string(),
            command: c.clone(),
            status,
        });
        if status != 0 {
            warn(out, name, format!("{c}: failed"));
            return false;
        }
    }
    true
}

enum Undo {
    Alias {
        iface: String,
        fam: &'static str,
        addr: String,
    },
    Mount(String),
    Jail(String),
}

/// `iface|addr/len extra` → (iface, addr/len).
fn split_addr(a: &str, default_if: Option<&str>) -> (Option<String>, String) {
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

fn bare(addr: &str) -> String {
    addr.split('/').next().unwrap_or(addr).to_string()
}

/// The mounts jail(8) makes for a definition, in order: (fstype, source, target, options,
/// the parameter that asked for it).
fn mounts_of(ctx: &Ctx<'_>, def: &ResolvedJail, path: &str) -> Result<Vec<[String; 5]>, String> {
    let mut v = vec![];
    let mut fstab_line = |line: &str, pname: &str| -> Result<(), String> {
        // jail(8) splits on these bytes only (command.c: strtok on " \t\f\v\r\n"), not on
        // Unicode spaces, and decodes nothing in the fields on 13.x/14.x.
        let f: Vec<&str> = line
            .split([' ', '\t', '\u{c}', '\u{b}', '\r', '\n'])
            .filter(|f| !f.is_empty())
            .collect();
        if f.is_empty() || f[0].starts_with('#') {
            return Ok(());
        }
        if f.len() < 3 {
            return Err(format!("{line}: invalid fstab line"));
        }
        v.push([
            f[2].to_string(),
            f[0].to_string(),
            f[1].to_string(),
            f.get(3).unwrap_or(&"rw").to_string(),
            pname.to_string(),
        ]);
        Ok(())
    };
    for m in def.list("mount") {
        fstab_line(&m, "mount")?;
    }
    for f in def.list("mount.fstab") {
        let text = std::fs::read_to_string(ctx.host_path(Path::new(&f)))
            .map_err(|e| format!("{f}: {}", strerror(&e)))?;
        for l in text.lines() {
            fstab_line(l, "mount.fstab")?;
        }
    }
    let p = path.trim_end_matches('/');
    if def.flag("mount.devfs") == Some(true) {
        let rs = def.string("devfs_ruleset").unwrap_or_else(|| "4".into());
        v.push([
            "devfs".into(),
            "devfs".into(),
            format!("{p}/dev"),
            format!("ruleset={rs}"),
            "mount.devfs".into(),
        ]);
    }
    if def.flag("mount.fdescfs") == Some(true) {
        v.push([
            "fdescfs".into(),
            "fdesc".into(),
            format!("{p}/dev/fd"),
            "rw".into(),
            "mount.fdescfs".into(),
        ]);
    }
    if def.flag("mount.procfs") == Some(true) {
        v.push([
            "procfs".into(),
            "proc".into(),
            format!("{p}/proc"),
            "rw".into(),
            "mount.procfs".into(),
        ]);
    }
    Ok(v)
}

/// jail(8)'s check of a mount point before it mounts (usr.sbin/jail/command.c,
/// `check_path`): the path must be absolute, and below the jail's `path` every component,
/// from the first under it to the mount point itself, is lstat(2)ed in turn: one that is a
/// symbolic link, or missing, fails the jail with the parameter that asked for the mount.
/// A link planted in a jail's root (`dev -> /etc`) therefore never redirects a mount onto
/// the host. Components above the jail's path are not checked, as in jail(8).
fn check_path(ctx: &Ctx<'_>, pname: &str, target: &str, jail_path: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!("{pname}: {target}: not an absolute pathname"));
    }
    let Some(below) = target
        .strip_prefix(jail_path)
        .filter(|rest| rest.starts_with('/'))
    else {
        return Ok(());
    };
    let mut at = jail_path.to_string();
    for c in below.split('/').skip(1) {
        at.push('/');
        at.push_str(c);
        let local = super::resolve(ctx.root, Path::new(&at), super::Last::NoFollow)
            .unwrap_or_else(|_| super::unresolvable(ctx.root));
        match std::fs::symlink_metadata(&local) {
            Err(e) => return Err(format!("{pname}: {at}: {}", strerror(&e))),
            Ok(md) if md.file_type().is_symlink() => {
                return Err(format!("{pname}: {at} is a symbolic link"));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

fn undo_all(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, name: &str, undo: Vec<Undo>) {
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

fn create(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, def: &ResolvedJail) {
    let name = def.name.clone();
    // Checks jail(8) and the kernel make before anything happens.
    for (p, _) in &def.params {
        if p.starts_with('$') {
            continue;
        }
        if !known(p) {
            return warn(out, &name, format!("unknown parameter: {p}"));
        }
        if READ_ONLY.contains(&p.as_str()) {
            return warn(out, &name, format!("{p} cannot be set"));
        }
    }
    if name.contains('.') {
        return warn(out, &name, "name cannot contain a \".\"");
    }
    let path = def.string("path").unwrap_or_else(|| "/".into());
    if !path.starts_with('/') {
        return warn(out, &name, format!("path {path}: not an absolute pathname"));
    }
    let hp = ctx.host_path(Path::new(&path));
    match std::fs::metadata(&hp) {
        Err(e) => return warn(out, &name, format!("path {path}: {}", strerror(&e))),
        Ok(m) if !m.is_dir() => return warn(out, &name, format!("path {path}: Not a directory")),
        Ok(_) => {}
    }
    let persist = def.flag("persist") == Some(true);
    let has_cmd = !def.list("exec.start").is_empty() || !def.list("command").is_empty();
    if !persist && !has_cmd {
        return warn(out, &name, "no command or persist specified");
    }
    let vnet = match def.string("vnet").as_deref() {
        None | Some("inherit") | Some("false") => false,
        Some("new") | Some("true") => true,
        Some(v) => return warn(out, &name, format!("vnet: invalid value \"{v}\"")),
    };
    if vnet && ctx.state.sysctl.get("kern.features.vimage") != Some("1") {
        return warn(out, &name, "vnet: Operation not supported");
    }
    let mounts = match mounts_of(ctx, def, &path) {
        Ok(m) => m,
        Err(e) => return warn(out, &name, e),
    };
    let iface = def.string("interface");
    let mut undo: Vec<Undo> = vec![];

    // jail(8) strips an address's interface, `/width` and ifconfig options (the width only
    // goes to ifconfig, when there is an interface), then libjail converts what is left with
    // inet_pton(3) before anything runs: a bad address fails here, a bad width only in
    // ifconfig.
    for (param, v6) in [("ip4.addr", false), ("ip6.addr", true)] {
        for a in def.list(param) {
            let ip = bare(&split_addr(&a, None).1);
            if !crate::addr::is_addr(&ip, v6) {
                let fam = if v6 { "IPv6" } else { "IPv4" };
                return warn(out, &name, format!("{param}: not an {fam} address: {ip}"));
            }
        }
    }

    if !run_hooks(ctx, out, o, &name, def, "exec.prepare") {
        return;
    }
    // Addresses: IPv4 then IPv6.
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
                    &name,
                    Cmd::new(
                        tools::IFCONFIG,
                        [ifc.clone(), fam.into(), addr.clone(), "alias".into()],
                    ),
                );
                if !ok {
                    return undo_all(ctx, out, o, &name, undo);
                }
                undo.push(Undo::Alias {
                    iface: ifc,
                    fam,
                    addr: bare(&addr),
                });
            }
        }
    }
    for [fstype, src, dst, opts, pname] in mounts {
        if let Err(e) = check_path(ctx, &pname, &dst, &path) {
            warn(out, &name, e);
            return undo_all(ctx, out, o, &name, undo);
        }
        let ok = tool(
            ctx,
            out,
            o,
            &name,
            Cmd::new(
                tools::MOUNT,
                ["-t".into(), fstype, "-o".into(), opts, src, dst.clone()],
            ),
        );
        if !ok {
            return undo_all(ctx, out, o, &name, undo);
        }
        undo.push(Undo::Mount(dst));
    }
    if !run_hooks(ctx, out, o, &name, def, "exec.prestart") {
        return undo_all(ctx, out, o, &name, undo);
    }
    // jail_set(JAIL_CREATE)
    let jid = match def.string("jid") {
        Some(j) => match j.parse::<i32>() {
            Ok(j) if j > 0 => {
                if ctx.state.jail.jails.values().any(|x| x.jid == j) {
                    warn(out, &name, format!("jail {j} already exists"));
                    return undo_all(ctx, out, o, &name, undo);
                }
                j
            }
            _ => {
                warn(out, &name, format!("jid: invalid value \"{j}\""));
                return undo_all(ctx, out, o, &name, undo);
            }
        },
        None => {
            let mut j = ctx.state.jail.last_jid + 1;
            while ctx.state.jail.jails.values().any(|x| x.jid == j) {
                j += 1;
            }
            j
        }
    };
    ctx.state.jail.last_jid = ctx.state.jail.last_jid.max(jid);
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
        .or_insert_with(|| name.clone());
    params
        .entry("persist".into())
        .or_insert_with(|| "false".into());
    // A new jail may take a dying jail's name (jail(8) replaces it). The kernel keeps tearing
    // the old one down under its own jid, still holding its root busy and still listed by
    // `jls -d`; it moves to a key no name lookup finds, so by name the new jail is found.
    let jails = &mut ctx.state.jail.jails;
    if jails.get(&name).is_some_and(|j| j.dying)
        && let Some(old) = jails.remove(&name)
    {
        jails.insert(format!("{name}\u{0}{}", old.jid), old);
    }
    ctx.state.jail.jails.insert(
        name.clone(),
        SimJail {
            jid,
            name: name.clone(),
            path: path.clone(),
            params,
            dying: false,
            dying_left: None,
            packages: vec![],
            started: false,
        },
    );
    undo.push(Undo::Jail(name.clone()));
    if !run_hooks(ctx, out, o, &name, def, "exec.created") {
        return undo_all(ctx, out, o, &name, undo);
    }
    for ifc in def.list("vnet.interface") {
        if !vnet {
            warn(out, &name, "vnet.interface requires vnet");
            return undo_all(ctx, out, o, &name, undo);
        }
        if !tool(
            ctx,
            out,
            o,
            &name,
            Cmd::new(tools::IFCONFIG, [ifc, "vnet".into(), jid.to_string()]),
        ) {
            return undo_all(ctx, out, o, &name, undo);
        }
    }
    if !run_hooks(ctx, out, o, &name, def, "exec.start")
        || !run_hooks(ctx, out, o, &name, def, "command")
    {
        return undo_all(ctx, out, o, &name, undo);
    }
    if let Some(j) = ctx.state.jail.jails.get_mut(&name) {
        j.started = has_cmd;
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

fn modify(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, def: &ResolvedJail) {
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

/// Remove a jail; `def` is its configuration (hooks, mounts, aliases) when jail(8) has one.
fn remove(
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

// ---------------------------------------------------------------- jls(8)

fn jls_value(j: &SimJail, p: &str) -> Option<String> {
    Some(match p {
        "jid" => j.jid.to_string(),
        "name" => j.name.clone(),
        "path" => j.path.clone(),
        "dying" => j.dying.to_string(),
        "cpuset.id" => (j.jid + 1).to_string(),
        "parent" => "0".into(),
        "children.cur" => "0".into(),
        _ => match j.params.get(p) {
            Some(v) => v.clone(),
            None if p.starts_with("allow.") && known_kernel(p) => {
                (p == "allow.set_hostname" || p == "allow.reserved_ports").to_string()
            }
            None if known_kernel(p) => match p {
                "enforce_statfs" => "2".into(),
                "children.max" | "securelevel" | "devfs_ruleset" => "0".into(),
                "ip4" | "ip6" => "inherit".into(),
                "ip4.saddrsel" | "ip6.saddrsel" => "true".into(),
                "sysvmsg" | "sysvsem" | "sysvshm" => "disable".into(),
                "host" => "new".into(),
                _ => String::new(),
            },
            None => return None,
        },
    })
}

fn is_bool_kernel(p: &str) -> bool {
    p == "persist" || p == "dying" || p.ends_with("saddrsel") || p.starts_with("allow.")
}

const ALL: &[&str] = &[
    "jid",
    "name",
    "path",
    "host.hostname",
    "host.domainname",
    "ip4.addr",
    "ip6.addr",
    "vnet",
    "persist",
    "securelevel",
    "devfs_ruleset",
    "enforce_statfs",
    "children.max",
    "dying",
];

fn quote_jls(v: &str) -> String {
    if v.is_empty() || v.contains([' ', '"', '\'', '\t']) {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

pub fn run_jls(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let (mut dying, mut header, mut nv, mut quote, mut save, mut json, mut by_name) =
        (false, false, false, false, false, false, false);
    let mut sel: Option<String> = None;
    let mut verbose = false;
    let mut params: Vec<String> = vec![];
    let usage = || Output::fail(1, "usage: jls [-dhNnqsv] [-j jail] [param ...]\n");
    let mut k = 0;
    while k < args.len() {
        let a = args[k].as_str();
        if a == "--libxo" {
            match args.get(k + 1).map(String::as_str) {
                Some(f) if f.split(',').any(|x| x == "json") => json = true,
                Some(_) => {}
                None => return usage(),
            }
            k += 2;
            continue;
        }
        if let Some(f) = a.strip_prefix("--libxo=") {
            json = f.split(',').any(|x| x == "json");
            k += 1;
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            for (ci, c) in a[1..].char_indices() {
                match c {
                    'd' => dying = true,
                    'h' => header = true,
                    'n' => nv = true,
                    'q' => quote = true,
                    's' => {
                        save = true;
                        nv = true;
                        quote = true
                    }
                    'N' => by_name = true,
                    'v' => verbose = true,
                    'j' => {
                        let rest = &a[1 + ci + 1..];
                        if rest.is_empty() {
                            k += 1;
                            match args.get(k) {
                                Some(v) => sel = Some(v.clone()),
                                None => return usage(),
                            }
                        } else {
                            sel = Some(rest.to_string());
                        }
                        break;
                    }
                    _ => return usage(),
                }
            }
            k += 1;
            continue;
        }
        params.push(a.to_string());
        k += 1;
    }
    for p in &params {
        if p != "all" && !known_kernel(p) {
            return Output::fail(1, format!("jls: unknown parameter: {p}\n"));
        }
    }
    let mut jails: Vec<&SimJail> = ctx
        .state
        .jail
        .jails
        .values()
        .filter(|j| dying || !j.dying)
        .collect();
    jails.sort_by_key(|j| j.jid);
    if let Some(s) = &sel {
        let found = match s.parse::<i32>() {
            Ok(jid) => jails.iter().find(|j| j.jid == jid),
            // Like the kernel's lookup by name: a live jail before a dying one it replaced.
            Err(_) => jails
                .iter()
                .find(|j| j.name == *s && !j.dying)
                .or_else(|| jails.iter().find(|j| j.name == *s)),
        };
        match found {
            Some(j) => jails = vec![*j],
            None => return Output::fail(1, format!("jls: jail \"{s}\" not found\n")),
        }
    }
    if params.is_empty() && (nv || header) || params.iter().any(|p| p == "all") {
        params = ALL.iter().map(|s| s.to_string()).collect();
    }
    if save {
        params.retain(|p| !READ_ONLY.contains(&p.as_str()) && p != "jid");
    }
    let mut s = String::new();
    if params.is_empty() && verbose {
        return jls_verbose(&jails, json);
    }
    if params.is_empty() {
        // Default columns.
        if json {
            let rows: Vec<String> = jails
                .iter()
                .map(|j| {
                    let ip = j.list("ip4.addr").first().cloned().unwrap_or_default();
                    let key = if by_name {
                        format!("\"name\":{}", serde_json::to_string(&j.name).unwrap())
                    } else {
                        format!("\"jid\":{}", j.jid)
                    };
                    format!(
                        "{{{key},\"ipv4\":{},\"hostname\":{},\"path\":{}}}",
                        serde_json::to_string(&ip).unwrap(),
                        serde_json::to_string(
                            j.params
                                .get("host.hostname")
                                .map(String::as_str)
                                .unwrap_or("")
                        )
                        .unwrap(),
                        serde_json::to_string(&j.path).unwrap()
                    )
                })
                .collect();
            return Output::ok(wrap_json(&rows));
        }
        s += &format!(
            "{:>6}  {:<15} {:<29} {}\n",
            if by_name { "Name" } else { "JID" },
            "IP Address",
            "Hostname",
            "Path"
        );
        for j in &jails {
            let ip = j.list("ip4.addr").first().cloned().unwrap_or_default();
            let id = if by_name {
                j.name.clone()
            } else {
                j.jid.to_string()
            };
            s += &format!(
                "{:>6}  {:<15} {:<29} {}\n",
                id,
                ip,
                j.params.get("host.hostname").cloned().unwrap_or_default(),
                j.path
            );
        }
        return Output::ok(s);
    }
    if json {
        let rows: Vec<String> = jails
            .iter()
            .map(|j| {
                let fields: Vec<String> = params
                    .iter()
                    .map(|p| {
                        let v = jls_value(j, p).unwrap_or_default();
                        let jv = if p == "ip4.addr" || p == "ip6.addr" {
                            serde_json::to_string(&j.list(p)).unwrap()
                        } else if is_bool_kernel(p) {
                            (v == "true").to_string()
                        } else {
                            serde_json::to_string(&v).unwrap()
                        };
                        format!("{}:{jv}", serde_json::to_string(p).unwrap())
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        return Output::ok(wrap_json(&rows));
    }
    if header && !nv {
        s += &params.join(" ");
        s += "\n";
    }
    for j in &jails {
        let cells: Vec<String> = params
            .iter()
            .map(|p| {
                let v = jls_value(j, p).unwrap_or_default();
                if nv {
                    if is_bool_kernel(p) {
                        let last = p.rsplit('.').next().unwrap_or(p);
                        let head = &p[..p.len() - last.len()];
                        if v == "true" {
                            p.clone()
                        } else {
                            format!("{head}no{last}")
                        }
                    } else {
                        format!("{p}={}", if quote { quote_jls(&v) } else { v })
                    }
                } else if quote {
                    quote_jls(&v)
                } else {
                    v
                }
            })
            .collect();
        s += &cells.join(" ");
        s += "\n";
    }
    Output::ok(s)
}

/// `jls -v`: the multi-line summary (jid, hostname, path, name, state, cpuset id, addresses).
fn jls_verbose(jails: &[&SimJail], json: bool) -> Output {
    let js = |s: &str| serde_json::to_string(s).unwrap();
    let state = |j: &SimJail| if j.dying { "DYING" } else { "ACTIVE" };
    let host = |j: &SimJail| j.params.get("host.hostname").cloned().unwrap_or_default();
    if json {
        let rows: Vec<String> = jails
            .iter()
            .map(|j| {
                format!(
                    "{{\"jid\":{},\"hostname\":{},\"path\":{},\"name\":{},\"state\":{},\"cpusetid\":{},\"ipv4_addrs\":{},\"ipv6_addrs\":{}}}",
                    j.jid,
                    js(&host(j)),
                    js(&j.path),
                    js(&j.name),
                    js(state(j)),
                    j.jid + 1,
                    serde_json::to_string(&j.list("ip4.addr")).unwrap(),
                    serde_json::to_string(&j.list("ip6.addr")).unwrap()
                )
            })
            .collect();
        return Output::ok(wrap_json(&rows));
    }
    let mut s = format!(
        "{:>6}  {:<29} {}\n{:>6}  {:<29} {}\n{:>6}  {}\n{:>6}  {}\n",
        "JID", "Hostname", "Path", "", "Name", "State", "", "CPUSetID", "", "IP Address(es)"
    );
    for j in jails {
        s += &format!(
            "{:>6}  {:<29} {}\n{:>6}  {:<29} {}\n{:>6}  {}\n",
            j.jid,
            host(j),
            j.path,
            "",
            j.name,
            state(j),
            "",
            j.jid + 1
        );
        for a in j.list("ip4.addr").iter().chain(j.list("ip6.addr").iter()) {
            s += &format!("{:>6}  {a}\n", "");
        }
    }
    Output::ok(s)
}

fn wrap_json(rows: &[String]) -> String {
    format!(
        "{{\"__version\": \"2\", \"jail-information\": {{\"jail\": [{}]}}}}\n",
        rows.join(", ")
    )
}

// ---------------------------------------------------------------- jexec(8)

/// Commands the simulated jail understands; see the module doc.
pub fn run_jexec(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let usage = || {
        Output::fail(
            1,
            "usage: jexec [-l] [-u username | -U username] jail [command ...]\n",
        )
    };
    let mut k = 0;
    while k < args.len() && args[k].starts_with('-') {
        match args[k].as_str() {
            "-l" => k += 1,
            "-u" | "-U" => {
                if args.get(k + 1).is_none() {
                    return usage();
                }
                k += 2
            }
            _ => return usage(),
        }
    }
    let Some(key) = args.get(k) else {
        return usage();
    };
    let Some(jail) = find_live(&ctx.state.jail, key).cloned() else {
        return Output::fail(1, format!("jexec: jail \"{key}\" not found\n"));
    };
    let cmd = &args[k + 1..];
    if cmd.is_empty() {
        return Output::fail(
            1,
            "jexec: interactive shells are not modelled by the simulated host\n",
        );
    }
    in_jail(ctx, &jail, cmd)
}

/// pkg(8) on the host: only `pkg -j JAIL install ...` (the host's pkg working inside a jail,
/// as provisioning runs it), which does what `pkg install` inside the jail does.
pub fn run_pkg(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let [j, key, rest @ ..] = args else {
        return Output::fail(
            1,
            "pkg: not modelled by the simulated host except `pkg -j JAIL install ...`\n",
        );
    };
    if j != "-j" || rest.first().map(String::as_str) != Some("install") {
        return Output::fail(
            1,
            "pkg: not modelled by the simulated host except `pkg -j JAIL install ...`\n",
        );
    }
    let Some(jail) = find_live(&ctx.state.jail, key).cloned() else {
        return Output::fail(1, format!("pkg: jail \"{key}\" not found\n"));
    };
    let mut cmd = vec!["pkg".to_string()];
    cmd.extend(rest.iter().cloned());
    in_jail(ctx, &jail, &cmd)
}

/// Whether `name` (or a numeric id) is in the jail's `etc/passwd` or `etc/group`.
fn jail_db_has(ctx: &Ctx<'_>, jail: &SimJail, db: &str, name: &str) -> bool {
    if name.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    let p = Path::new("etc").join(db);
    std::fs::read_to_string(ctx.jail_path(&jail.path, &p, Last::Follow)).is_ok_and(|t| {
        t.lines()
            .any(|l| !l.starts_with('#') && l.split(':').next() == Some(name))
    })
}

/// One simple command of a `sh -c` list: `exit N`, or a command the jail knows.
fn sh_simple(ctx: &mut Ctx<'_>, jail: &SimJail, words: &[String]) -> Output {
    if words[0] == "exit" {
        let n = words.get(1).and_then(|n| n.parse().ok()).unwrap_or(0);
        return Output {
            status: n,
            ..Output::default()
        };
    }
    let out = in_jail(ctx, jail, words);
    if !out.stderr.starts_with("jexec: execvp:") {
        out
    } else if out.stderr.contains("Permission denied") {
        Output::fail(126, format!("sh: {}: Permission denied\n", words[0]))
    } else {
        Output::fail(127, format!("sh: {}: not found\n", words[0]))
    }
}

fn rc_script_exists(ctx: &Ctx<'_>, jail: &SimJail, svc: &str) -> bool {
    ["etc/rc.d", "usr/local/etc/rc.d"].iter().any(|d| {
        ctx.jail_path(&jail.path, &Path::new(d).join(svc), Last::Follow)
            .exists()
    })
}

fn rc_missing(svc: &str) -> String {
    format!(
        "{svc} does not exist in /etc/rc.d or the local startup\ndirectories (/usr/local/etc/rc.d), or is not executable\n"
    )
}

/// The few packages the simulated pkg knows the contents of: the rc.d script each installs,
/// the user (and group) it adds and the programs it puts on the jail's PATH (with those of
/// the packages it pulls in: postgresql16-server brings postgresql16-client's `psql` and
/// `pg_isready`). Any other package is only recorded.
struct CatalogEntry {
    package: &'static str,
    rc_script: &'static str,
    /// User and group added, with their id.
    user: Option<(&'static str, u32)>,
    programs: &'static [&'static str],
}

const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        package: "nginx",
        rc_script: "nginx",
        user: None,
        programs: &["/usr/local/sbin/nginx"],
    },
    CatalogEntry {
        package: "redis",
        rc_script: "redis",
        user: Some(("redis", 535)),
        programs: &["/usr/local/bin/redis-server", "/usr/local/bin/redis-cli"],
    },
    CatalogEntry {
        package: "unbound",
        rc_script: "unbound",
        user: Some(("unbound", 59)),
        programs: &[
            "/usr/local/sbin/unbound",
            "/usr/local/sbin/unbound-control",
            "/usr/local/sbin/unbound-checkconf",
        ],
    },
    CatalogEntry {
        package: "postgresql16-server",
        rc_script: "postgresql",
        user: Some(("postgres", 770)),
        programs: &[
            "/usr/local/bin/postgres",
            "/usr/local/bin/pg_ctl",
            "/usr/local/bin/initdb",
            "/usr/local/bin/psql",
            "/usr/local/bin/pg_isready",
        ],
    },
];

/// Write what package `p` installs into the jail's root, as pkg does.
fn plant_package(ctx: &Ctx<'_>, jail: &SimJail, p: &str) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(entry) = CATALOG.iter().find(|e| e.package == p) else {
        return Ok(());
    };
    let (svc, user) = (entry.rc_script, entry.user);
    // Every file pkg(8) installs is resolved inside the jail, as pkg running in the jail
    // (`pkg -j`) would see it: a link planted there cannot lead out of the jail's root.
    let at = |p: &str| ctx.jail_path(&jail.path, Path::new(p), Last::Follow);
    let rc = at("usr/local/etc/rc.d");
    std::fs::create_dir_all(&rc)?;
    std::fs::write(
        at(&format!("usr/local/etc/rc.d/{svc}")),
        format!("#!/bin/sh\n# PROVIDE: {svc}\n"),
    )?;
    for prog in entry.programs {
        let f = at(prog);
        std::fs::create_dir_all(f.parent().expect("absolute program path"))?;
        std::fs::write(&f, format!("#!/bin/sh\n# {prog} from package {p}\n"))?;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o555))?;
    }
    if let Some((u, id)) = user {
        std::fs::create_dir_all(at("etc"))?;
        for (db, line) in [
            (
                "passwd",
                format!("{u}:*:{id}:{id}::0:0:{u}:/nonexistent:/usr/sbin/nologin\n"),
            ),
            ("group", format!("{u}:*:{id}:\n")),
        ] {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(at(&format!("etc/{db}")))?
                .write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

/// sysrc(8): `NAME=VALUE` words set variables in the jail's /etc/rc.conf (replacing an
/// earlier assignment); a bare `NAME` prints its value.
fn sysrc(ctx: &mut Ctx<'_>, jail: &SimJail, settings: &[String]) -> Output {
    let path = ctx.jail_path(&jail.path, Path::new("etc/rc.conf"), Last::Follow);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = Output::ok("");
    for w in settings {
        let (name, value) = match w.split_once('=') {
            Some((n, v)) => (n, Some(v.trim_matches('"'))),
            None => (w.as_str(), None),
        };
        if name.is_empty() || name.starts_with('-') {
            return Output::fail(
                1,
                format!("sysrc: {w}: not modelled by the simulated host\n"),
            );
        }
        let old = text.lines().rev().find_map(|l| {
            l.strip_prefix(&format!("{name}="))
                .map(|v| v.trim_matches('"').to_string())
        });
        match value {
            None => match old {
                Some(v) => out.stdout += &format!("{name}: {v}\n"),
                None => {
                    out.stderr += &format!("sysrc: unknown variable '{name}'\n");
                    out.status = 1;
                }
            },
            Some(v) => {
                text = text
                    .lines()
                    .filter(|l| !l.starts_with(&format!("{name}=")))
                    .map(|l| format!("{l}\n"))
                    .collect();
                text += &format!("{name}=\"{v}\"\n");
                out.stdout += &format!("{name}: {} -> {v}\n", old.unwrap_or_default());
            }
        }
    }
    if let Err(e) = std::fs::write(&path, &text) {
        return Output::fail(1, format!("sysrc: /etc/rc.conf: {}\n", strerror(&e)));
    }
    out
}

/// The programs the simulated jail runs itself, as part of every FreeBSD base (see
/// [`in_jail`]).
const BUILTIN: &[&str] = &[
    "sh", "chown", "test", "sysrc", "service", "true", "false", "echo", "hostname", "cat", "pkg",
];

/// The PATH jexec(8) gives a command (`-l` takes it from login.conf's default class, which
/// is the same list).
pub const JAIL_PATH: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// Where execvp(3) finds `prog` in the jail: `Ok(path)`, or the errno text it fails with.
fn lookup(ctx: &Ctx<'_>, jail: &SimJail, prog: &str) -> Result<PathBuf, &'static str> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<PathBuf> = if prog.contains('/') {
        vec![Path::new("/").join(prog)]
    } else {
        JAIL_PATH.iter().map(|d| Path::new(d).join(prog)).collect()
    };
    let mut denied = false;
    for c in candidates {
        let on_host = Path::new(&jail.path).join(c.strip_prefix("/").unwrap_or(&c));
        match std::fs::metadata(ctx.jail_path(&jail.path, &c, Last::Follow)) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
                // A filesystem with exec=off: execve(2) fails with EACCES.
                if super::zfs::exec_off_at(&ctx.state.zfs, &on_host) {
                    denied = true;
                    continue;
                }
                return Ok(c);
            }
            Ok(_) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied {
        "Permission denied"
    } else {
        "No such file or directory"
    })
}

fn in_jail(ctx: &mut Ctx<'_>, jail: &SimJail, cmd: &[String]) -> Output {
    let prog = cmd[0].as_str();
    let base = prog.rsplit('/').next().unwrap_or(prog);
    let nf = || {
        Output::fail(
            1,
            format!("jexec: execvp: {prog}: No such file or directory\n"),
        )
    };
    // Nothing on a filesystem with exec=off runs, not even the base's own programs.
    if super::zfs::exec_off_at(&ctx.state.zfs, Path::new(&jail.path)) {
        return Output::fail(1, format!("jexec: execvp: {prog}: Permission denied\n"));
    }
    if !BUILTIN.contains(&base) {
        // The simulator does not run programs: one that exists as an executable file in
        // the jail stands for a working one and exits 0 without output.
        return match lookup(ctx, jail, prog) {
            Ok(_) => Output::ok(""),
            Err(why) => Output::fail(1, format!("jexec: execvp: {prog}: {why}\n")),
        };
    }
    match (base, &cmd[1..]) {
        ("sh", [c, script]) if c == "-c" => {
            // Words split on blanks, joined by `&&` and `||` as sh(1) does: a list runs
            // left to right, each part depending on the status of the one before.
            let words: Vec<String> = script.split_whitespace().map(str::to_string).collect();
            if words.is_empty() {
                return Output::ok("");
            }
            let mut out = Output::ok("");
            let mut pending: Option<&str> = None;
            for part in words.split_inclusive(|w| w == "&&" || w == "||") {
                let (cmd, op) = match part.last().map(String::as_str) {
                    Some(o @ ("&&" | "||")) => (&part[..part.len() - 1], Some(o)),
                    _ => (part, None),
                };
                if cmd.is_empty() {
                    return Output::fail(2, format!("sh: syntax error: `{script}`\n"));
                }
                let run = match pending {
                    None => true,
                    Some("&&") => out.status == 0,
                    Some(_) => out.status != 0,
                };
                if run {
                    let o = sh_simple(ctx, jail, cmd);
                    out.stdout += &o.stdout;
                    out.stderr += &o.stderr;
                    out.status = o.status;
                }
                pending = op;
            }
            if pending.is_some() {
                return Output::fail(2, format!("sh: syntax error: `{script}`\n"));
            }
            out
        }
        ("chown", [r, owner, file]) if r == "-R" && !owner.starts_with('-') => in_jail(
            ctx,
            jail,
            &["chown".to_string(), owner.clone(), file.clone()],
        ),
        ("test", [flag, path]) if matches!(flag.as_str(), "-d" | "-f" | "-e") => {
            let p = ctx.jail_path(&jail.path, Path::new(path), Last::Follow);
            let ok = match flag.as_str() {
                "-d" => p.is_dir(),
                "-f" => p.is_file(),
                _ => p.exists(),
            };
            Output {
                status: i32::from(!ok),
                ..Output::default()
            }
        }
        ("sysrc", settings) if !settings.is_empty() => sysrc(ctx, jail, settings),
        ("service", [svc, action]) if action != "status" => {
            if !rc_script_exists(ctx, jail, svc) {
                return Output::fail(1, rc_missing(svc));
            }
            Output::ok(format!("{svc}: {action} done\n"))
        }
        ("chown", [owner, file]) if !owner.starts_with('-') => {
            // chown(8): names are looked up in the jail's own passwd and group files.
            let (user, group) = match owner.split_once(':') {
                Some((u, g)) => (u, Some(g)),
                None => (owner.as_str(), None),
            };
            if !jail_db_has(ctx, jail, "passwd", user) {
                return Output::fail(67, format!("chown: {user}: illegal user name\n"));
            }
            if let Some(g) = group
                && !jail_db_has(ctx, jail, "group", g)
            {
                return Output::fail(67, format!("chown: {g}: illegal group name\n"));
            }
            let p = ctx.jail_path(&jail.path, Path::new(file), Last::Follow);
            if std::fs::symlink_metadata(&p).is_err() {
                return Output::fail(1, format!("chown: {file}: No such file or directory\n"));
            }
            Output::ok("")
        }
        ("true", _) => Output::ok(""),
        ("false", _) => Output::fail(1, ""),
        ("echo", rest) => Output::ok(format!("{}\n", rest.join(" "))),
        ("hostname", []) => Output::ok(format!(
            "{}\n",
            jail.params
                .get("host.hostname")
                .cloned()
                .unwrap_or_default()
        )),
        ("cat", files) if !files.is_empty() => {
            let mut out = Output::ok("");
            for f in files {
                let p = ctx.jail_path(&jail.path, Path::new(f), Last::Follow);
                match std::fs::read_to_string(&p) {
                    Ok(t) => out.stdout += &t,
                    Err(e) => {
                        out.stderr += &format!("cat: {f}: {}\n", strerror(&e));
                        out.status = 1;
                    }
                }
            }
            out
        }
        ("pkg", rest) if rest.first().map(String::as_str) == Some("install") => {
            let pkgs: Vec<&String> = rest[1..].iter().filter(|a| !a.starts_with('-')).collect();
            if !rest.iter().any(|a| a == "-y") {
                return Output::fail(
                    1,
                    "pkg: non-interactive install needs -y on the simulated host\n",
                );
            }
            if pkgs.is_empty() {
                return Output::fail(
                    64,
                    "Usage: pkg install [-AfInFMqRUy] [-r reponame] <pkg-name> ...\n",
                );
            }
            let j = ctx.state.jail.jails.get_mut(&jail.name).expect("live jail");
            let mut s = String::new();
            let mut planted = Vec::new();
            for p in pkgs {
                if !j.packages.contains(p) {
                    j.packages.push(p.clone());
                    planted.push(p.clone());
                    s += &format!("Installing {p}...\n");
                } else {
                    s += &format!("The most recent version of {p} is already installed\n");
                }
            }
            for p in planted {
                if let Err(e) = plant_package(ctx, jail, &p) {
                    return Output::fail(
                        1,
                        format!("pkg: cannot install {p} into the jail: {}\n", strerror(&e)),
                    );
                }
            }
            Output::ok(s)
        }
        ("service", [svc, action]) if action == "status" => {
            if !rc_script_exists(ctx, jail, svc) {
                Output::fail(1, rc_missing(svc))
            } else if jail.started {
                Output::ok(format!(
                    "{svc} is running as pid {}.\n",
                    1000 + jail.jid * 10
                ))
            } else {
                Output::fail(1, format!("{svc} is not running.\n"))
            }
        }
        _ => nf(),
    }
}
