//! The base programs of a simulated jail that jexec(8) runs without recursing: sysrc(8),
//! service(8)'s rc.d lookup, and the jail's passwd and group files that chown(8) reads.

use super::SimJail;
use crate::{Ctx, Last, strerror};
use jailctl_host::Output;
use std::path::Path;

/// Whether `name` (or a numeric id) is in the jail's `etc/passwd` or `etc/group`.
pub(super) fn jail_db_has(ctx: &Ctx<'_>, jail: &SimJail, db: &str, name: &str) -> bool {
    if name.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    let p = Path::new("etc").join(db);
    std::fs::read_to_string(ctx.jail_path(&jail.path, &p, Last::Follow)).is_ok_and(|t| {
        t.lines()
            .any(|l| !l.starts_with('#') && l.split(':').next() == Some(name))
    })
}

pub(super) fn rc_script_exists(ctx: &Ctx<'_>, jail: &SimJail, svc: &str) -> bool {
    ["etc/rc.d", "usr/local/etc/rc.d"].iter().any(|d| {
        ctx.jail_path(&jail.path, &Path::new(d).join(svc), Last::Follow)
            .exists()
    })
}

pub(super) fn rc_missing(svc: &str) -> String {
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
