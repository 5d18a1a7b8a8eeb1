//! The base programs of a simulated jail that jexec(8) runs without recursing: sysrc(8),
//! service(8) and its rc.d lookup, chown(8) against the jail's passwd and group files,
//! test(1) and cat(1).

use super::SimJail;
use crate::{Ctx, Last, strerror};
use jailctl_host::Output;
use std::path::Path;

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

/// sysrc(8): `NAME=VALUE` words set variables in the jail's /etc/rc.conf (replacing an
/// earlier assignment); a bare `NAME` prints its value.
pub(super) fn sysrc(ctx: &mut Ctx<'_>, jail: &SimJail, settings: &[String]) -> Output {
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

/// test(1) with `-d`, `-f` or `-e` on a path inside the jail.
pub(super) fn test(ctx: &Ctx<'_>, jail: &SimJail, flag: &str, path: &str) -> Output {
    let p = ctx.jail_path(&jail.path, Path::new(path), Last::Follow);
    let ok = match flag {
        "-d" => p.is_dir(),
        "-f" => p.is_file(),
        _ => p.exists(),
    };
    Output {
        status: i32::from(!ok),
        ..Output::default()
    }
}

/// service(8): an rc.d script must exist; `status` answers from whether the jail started.
pub(super) fn service(ctx: &Ctx<'_>, jail: &SimJail, svc: &str, action: &str) -> Output {
    if !rc_script_exists(ctx, jail, svc) {
        return Output::fail(1, rc_missing(svc));
    }
    if action != "status" {
        Output::ok(format!("{svc}: {action} done\n"))
    } else if jail.started {
        Output::ok(format!(
            "{svc} is running as pid {}.\n",
            1000 + jail.jid * 10
        ))
    } else {
        Output::fail(1, format!("{svc} is not running.\n"))
    }
}

/// chown(8): names are looked up in the jail's own passwd and group files.
pub(super) fn chown(ctx: &Ctx<'_>, jail: &SimJail, owner: &str, file: &str) -> Output {
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
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

/// cat(1) of files inside the jail.
pub(super) fn cat(ctx: &Ctx<'_>, jail: &SimJail, files: &[String]) -> Output {
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
