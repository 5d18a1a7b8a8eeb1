//! Mounts and volumes: targets inside the jail, FreeBSD's mount path length, uniqueness.

use super::*;

pub(super) fn check_mnamelen(v: &mut V, n: &Node, g: &Global, name: &str, target: &Path) {
    let full = format!("{}/{name}{}", trim_slash(&g.mount_root), target.display());
    if full.len() > MAX_MOUNT_PATH {
        v.err(
            n,
            too_long("mount point", &full),
            Some("use a shorter target, jail name or mount_root".into()),
        );
    }
}

pub(super) fn check_target_unique(
    v: &mut V,
    n: &Node,
    target: &Path,
    targets: &mut BTreeSet<PathBuf>,
) {
    if !targets.insert(target.to_path_buf()) {
        v.err(
            n,
            format!("{} is mounted twice in this jail", target.display()),
            Some("give each mount and volume its own target".into()),
        );
    }
}

pub(super) fn mount(
    v: &mut V,
    name: &str,
    t: &Table,
    at: &Node,
    g: &Global,
    targets: &mut BTreeSet<PathBuf>,
) -> Option<MountSpec> {
    v.keys(t, schema::MOUNT, "[[mounts]]");
    let k = schema::MOUNT;
    let source = match get(t, k, "source") {
        Some(n) => v.abs_path(n, "mount source").inspect(|p| {
            let s = p.display().to_string();
            if !s.contains('\0')
                && let Err((msg, help)) = rules::check_mount_path("mount source", &s)
            {
                v.err(n, msg, Some(help));
            }
            // The kernel records the source in the mount table (f_mntfromname, MNAMELEN too);
            // a longer one is cut, and the mount could no longer be recognised.
            let s = p.display().to_string();
            if s.len() > MAX_MOUNT_PATH {
                v.err(
                    n,
                    too_long("mount source", &s),
                    Some(
                        "mount a shorter path (a parent directory, or a symlink-free alias)".into(),
                    ),
                );
            }
        }),
        None => {
            v.err(
                at,
                "mount has no source",
                Some("add source = \"/host/dir\"".into()),
            );
            None
        }
    };
    let target = match get(t, k, "target") {
        Some(n) => v.jail_path(n, "mount target").inspect(|p| {
            let s = p.display().to_string();
            if !s.contains('\0')
                && let Err((msg, help)) = rules::check_mount_path("mount target", &s)
            {
                v.err(n, msg, Some(help));
            }
            check_mnamelen(v, n, g, name, p);
            check_target_unique(v, n, p, targets);
        }),
        None => {
            v.err(
                at,
                "mount has no target",
                Some("add target = \"/path/in/jail\"".into()),
            );
            None
        }
    };
    let read_only = get(t, k, "read_only")
        .and_then(|n| v.boolean(n, "read_only"))
        .unwrap_or(false);
    Some(MountSpec {
        source: source?,
        target: target?,
        read_only,
    })
}

pub(super) fn volume(
    v: &mut V,
    jail: &str,
    t: &Table,
    at: &Node,
    g: &Global,
    targets: &mut BTreeSet<PathBuf>,
    names: &mut BTreeSet<String>,
) -> Option<VolumeSpec> {
    v.keys(t, schema::VOLUME, "[[volumes]]");
    let k = schema::VOLUME;
    let name = match get(t, k, "name") {
        Some(n) => v.string(n, "volume name").and_then(|s| {
            if let Err(e) = units::check_plain_name(&s, "volume name") {
                v.err(n, e, None);
                None
            } else if !names.insert(s.clone()) {
                v.err(n, format!("volume \"{s}\" is defined twice"), None);
                None
            } else {
                Some(s)
            }
        }),
        None => {
            v.err(at, "volume has no name", Some("add name = \"data\"".into()));
            None
        }
    };
    let target = match get(t, k, "target") {
        Some(n) => v.jail_path(n, "volume target").inspect(|p| {
            let s = p.display().to_string();
            if !s.contains('\0')
                && let Err((msg, help)) = rules::check_mount_path("volume target", &s)
            {
                v.err(n, msg, Some(help));
            }
            check_mnamelen(v, n, g, jail, p);
            check_target_unique(v, n, p, targets);
        }),
        None => {
            v.err(
                at,
                "volume has no target",
                Some("add target = \"/var/db/data\"".into()),
            );
            None
        }
    };
    // The volume's dataset is mounted at <mount_root>/.volumes/JAIL/NAME and that path is
    // the nullfs source: both are mount table entries.
    if let (Some(vn), Some(n)) = (&name, get(t, k, "name")) {
        let src = crate::config::layout::volume_mountpoint(g, jail, vn)
            .display()
            .to_string();
        if src.len() > MAX_MOUNT_PATH {
            v.err(
                n,
                too_long("the volume's mount point", &src),
                Some("use a shorter volume name, jail name or mount_root".into()),
            );
        }
    }
    let quota = get(t, k, "quota").and_then(|n| v.size(n, "quota"));
    let read_only = get(t, k, "read_only")
        .and_then(|n| v.boolean(n, "read_only"))
        .unwrap_or(false);
    Some(VolumeSpec {
        name: name?,
        target: target?,
        quota,
        read_only,
    })
}
