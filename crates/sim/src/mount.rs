//! mount(8)/umount(8) on the simulated host: nullfs, devfs, fdescfs, procfs and tmpfs mounts,
//! the mount table and `mount -p`. jail(8) mounts and unmounts through this same code.
//!
//! The table starts empty: the host's own root and `/dev` are not listed (the ZFS model owns
//! dataset mounts). Mount points must exist as directories under the simulator root and be
//! shorter than MNAMELEN (88 bytes including the NUL); a mount point with another mount below
//! it is busy.

use super::Ctx;
use crate::table::Seq;
use jailctl_host::Output;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// FreeBSD's MNAMELEN: mount point names are at most 87 characters.
pub const MNAMELEN: usize = 88;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimMount {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MountState {
    /// Mounts in the order they were made.
    #[serde(default)]
    pub mounts: Seq<SimMount>,
}

impl MountState {
    /// Whether anything is mounted on `target` or below it.
    pub fn anything_under(&self, target: &str) -> bool {
        let t = target.trim_end_matches('/');
        self.mounts
            .iter()
            .any(|m| m.target == t || m.target.starts_with(&format!("{t}/")))
    }
}

const FSTYPES: &[&str] = &["nullfs", "devfs", "fdescfs", "procfs", "tmpfs"];

fn usage() -> Output {
    Output::fail(
        1,
        "usage: mount [-adflpruvw] [-F fstab] [-o options] [-t ufs | external_type]\n       mount [-dfpruvw] special | node\n       mount [-dfpruvw] [-o options] [-t ufs | external_type] special node\n",
    )
}

/// Print one entry the way `mount -p` does (fstab(5) layout, tab-padded).
fn fstab_line(m: &SimMount) -> String {
    let pad = |s: &str| {
        let l = s.len();
        format!(
            "{s}{}{}{}",
            if l < 8 { "\t" } else { "" },
            if l < 16 { "\t" } else { "" },
            if l < 24 { "\t" } else { " " }
        )
    };
    let o = &m.options;
    format!(
        "{}{}{}\t{}{}0 0\n",
        pad(&m.source),
        pad(&m.target),
        m.fstype,
        o,
        if o.len() < 8 { "\t" } else { " " }
    )
}

pub fn run_mount(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let mut fstype = None;
    let mut opts: Vec<String> = vec![];
    let mut pos = vec![];
    let mut print = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" => print = true,
            "-t" => match it.next() {
                Some(t) => fstype = Some(t.clone()),
                None => return usage(),
            },
            "-o" => match it.next() {
                Some(o) => opts.push(o.clone()),
                None => return usage(),
            },
            "-r" => opts.push("ro".into()),
            s if s.starts_with("-o") && s.len() > 2 => opts.push(s[2..].to_string()),
            s if s.starts_with("-t") && s.len() > 2 => fstype = Some(s[2..].to_string()),
            s if s.starts_with('-') => return usage(),
            s => pos.push(s.to_string()),
        }
    }
    if pos.is_empty() {
        return list_mounts(ctx, print);
    }
    let [src, dst] = pos.as_slice() else {
        return usage();
    };
    let Some(fstype) = fstype else {
        return Output::fail(
            1,
            format!("mount: {dst}: unknown special file or file system\n"),
        );
    };
    let tool = if fstype == "nullfs" {
        "mount_nullfs"
    } else {
        "mount"
    };
    if !FSTYPES.contains(&fstype.as_str()) {
        return Output::fail(
            1,
            format!("mount: {dst}: Operation not supported by device\n"),
        );
    }
    let fail = |what: &str, e: &str| Output::fail(1, format!("{tool}: {what}: {e}\n"));
    if !dst.starts_with('/') {
        return fail(dst, "No such file or directory");
    }
    // mount(8) and mount_nullfs(8) pass both paths through realpath(3) first (checkpath()
    // in sbin/mount/getmntopts.c), so a link in them is followed, within the host's root,
    // and the table holds the resolved path.
    let (dp, dst_n) = match real(ctx, dst) {
        Ok(r) => r,
        Err(e) => return fail(dst, &e),
    };
    if dst_n.len() >= MNAMELEN {
        return fail(dst, "File name too long");
    }
    if !dp.exists() {
        return fail(dst, "No such file or directory");
    }
    if !dp.is_dir() {
        return fail(dst, "Not a directory");
    }
    let Some(options) = mount_options(&opts, &fstype) else {
        return fail(dst, "Invalid argument");
    };
    let mut source = fstype.clone();
    if fstype == "nullfs" {
        if !src.starts_with('/') {
            return fail(src, "No such file or directory");
        }
        let (sp, src_n) = match real(ctx, src) {
            Ok(r) => r,
            Err(e) => return fail(src, &e),
        };
        if !sp.exists() {
            return fail(src, "No such file or directory");
        }
        if !sp.is_dir() {
            return fail(src, "Not a directory");
        }
        source = src_n;
    }
    ctx.state.mount.mounts.push(SimMount {
        source,
        target: dst_n,
        fstype,
        options: options.join(","),
    });
    Output::ok("")
}

/// `mount` without operands: the mount table, the ZFS filesystems first; one fstab(5) line
/// per mount under `-p`.
fn list_mounts(ctx: &Ctx<'_>, print: bool) -> Output {
    let mut s = String::new();
    // Mounted ZFS filesystems come first, as on a host that mounted them at boot.
    let zfs_mounts: Vec<SimMount> = super::zfs::mounted_filesystems(&ctx.state.zfs)
        .iter()
        .map(|(name, mp)| SimMount {
            source: name.clone(),
            target: mp.clone(),
            fstype: "zfs".into(),
            options: "rw".into(),
        })
        .collect();
    for m in zfs_mounts.iter().chain(&ctx.state.mount.mounts) {
        if print {
            s += &fstab_line(m);
        } else {
            s += &format!(
                "{} on {} ({}, {})\n",
                m.source, m.target, m.fstype, m.options
            );
        }
    }
    Output::ok(s)
}

/// The options of `-o` (and `-r`) as the mount table shows them: the last of `ro`/`rw`
/// wins, `rw` when neither is given; `None` for a `ruleset=` that is not a devfs number.
fn mount_options(opts: &[String], fstype: &str) -> Option<Vec<String>> {
    let mut options: Vec<String> = vec![];
    for o in opts.iter().flat_map(|o| o.split(',')) {
        match o {
            "ro" | "rdonly" => options.retain(|x| x != "rw"),
            "rw" => options.retain(|x| x != "ro"),
            _ => {}
        }
        let o = if o == "rdonly" { "ro" } else { o };
        if let Some(r) = o.strip_prefix("ruleset=")
            && (fstype != "devfs" || r.parse::<u32>().is_err())
        {
            return None;
        }
        options.push(o.to_string());
    }
    if !options.iter().any(|o| o == "ro") && !options.iter().any(|o| o == "rw") {
        options.insert(0, "rw".into());
    }
    Some(options)
}

/// realpath(3) of host path `p` on the simulated host: where it is under the simulator's
/// directory and its name as the host sees it; the error is the OS error's text.
fn real(ctx: &Ctx<'_>, p: &str) -> Result<(std::path::PathBuf, String), String> {
    let local = ctx
        .resolve(Path::new(p), super::Last::Follow)
        .map_err(|_| "Too many levels of symbolic links".to_string())?;
    let rel = local.strip_prefix(ctx.root).unwrap_or(Path::new(""));
    Ok((local.clone(), format!("/{}", rel.display())))
}

fn normalize(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

pub fn run_umount(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let mut force = false;
    let mut targets = vec![];
    for a in args {
        match a.as_str() {
            "-f" => force = true,
            s if s.starts_with('-') => {
                return Output::fail(
                    1,
                    "usage: umount [-fNnv] special ... | node ... | fsid ...\n",
                );
            }
            s => targets.push(s.to_string()),
        }
    }
    if targets.is_empty() {
        return Output::fail(
            1,
            "usage: umount [-fNnv] special ... | node ... | fsid ...\n",
        );
    }
    let mut out = Output::ok("");
    for t in targets {
        let mut n = normalize(&t);
        // umount(8) looks the name up as given, then as realpath(3) gives it.
        if !ctx.state.mount.mounts.iter().any(|m| m.target == n)
            && let Ok((_, r)) = real(ctx, &n)
        {
            n = r;
        }
        let mounts = &mut ctx.state.mount.mounts;
        let Some(i) = mounts.iter().rposition(|m| m.target == n) else {
            if !ctx.host_path(Path::new(&n)).exists() {
                out.stderr += &format!("umount: {t}: statfs: No such file or directory\n");
            } else {
                out.stderr += &format!("umount: {t}: not a file system root directory\n");
            }
            out.status = 1;
            continue;
        };
        let busy = mounts
            .iter()
            .enumerate()
            .any(|(k, m)| k > i && m.target.starts_with(&format!("{n}/")));
        if busy && !force {
            out.stderr += &format!("umount: unmount of {n} failed: Device busy\n");
            out.status = 1;
            continue;
        }
        mounts.remove(i);
    }
    out
}
