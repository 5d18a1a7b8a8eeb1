//! The mounts jail(8) makes for a jail (mount, mount.fstab, mount.devfs, mount.fdescfs,
//! mount.procfs) and its check of each mount point before it mounts.

use crate::jailconf::ResolvedJail;
use crate::{Ctx, strerror};
use std::path::Path;

/// The mounts jail(8) makes for a definition, in order: (fstype, source, target, options,
/// the parameter that asked for it).
pub(super) fn mounts_of(
    ctx: &Ctx<'_>,
    def: &ResolvedJail,
    path: &str,
) -> Result<Vec<[String; 5]>, String> {
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
pub(super) fn check_path(
    ctx: &Ctx<'_>,
    pname: &str,
    target: &str,
    jail_path: &str,
) -> Result<(), String> {
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
        let local = crate::resolve(ctx.root, Path::new(&at), crate::Last::NoFollow)
            .unwrap_or_else(|_| crate::unresolvable(ctx.root));
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
