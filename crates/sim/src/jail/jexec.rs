//! jexec(8) (and the host's `pkg -j JAIL install`): finding the program in the jail as
//! execvp(3) does, and running the `sh -c` lists and base programs the simulator models.

use super::base::{cat, chown, service, sysrc, test};
use super::pkg::pkg_install;
use super::{SimJail, find_live};
use crate::{Ctx, Last};
use jailctl_host::Output;
use std::path::{Path, PathBuf};

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
                if crate::zfs::exec_off_at(&ctx.state.zfs, &on_host) {
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
    if crate::zfs::exec_off_at(&ctx.state.zfs, Path::new(&jail.path)) {
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
        ("sh", [c, script]) if c == "-c" => sh_list(ctx, jail, script),
        ("chown", [r, owner, file]) if r == "-R" && !owner.starts_with('-') => in_jail(
            ctx,
            jail,
            &["chown".to_string(), owner.clone(), file.clone()],
        ),
        ("test", [flag, path]) if matches!(flag.as_str(), "-d" | "-f" | "-e") => {
            test(ctx, jail, flag, path)
        }
        ("sysrc", settings) if !settings.is_empty() => sysrc(ctx, jail, settings),
        ("service", [svc, action]) => service(ctx, jail, svc, action),
        ("chown", [owner, file]) if !owner.starts_with('-') => chown(ctx, jail, owner, file),
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
        ("cat", files) if !files.is_empty() => cat(ctx, jail, files),
        ("pkg", rest) if rest.first().map(String::as_str) == Some("install") => {
            pkg_install(ctx, jail, rest)
        }
        _ => nf(),
    }
}

/// `sh -c SCRIPT`: words split on blanks, joined by `&&` and `||` as sh(1) does: a list runs
/// left to right, each part depending on the status of the one before.
fn sh_list(ctx: &mut Ctx<'_>, jail: &SimJail, script: &str) -> Output {
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
