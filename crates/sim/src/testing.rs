//! Test support (the `test-support` feature): a simulated host holding a FreeBSD base, so
//! jailctl's unit tests and its integration tests start from the same kind of host instead
//! of each seeding one its own way.

use crate::SimHost;
use jailctl_host::{Cmd, HostFs, Runner, tools};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Make `dataset` (and its parents) mounted at `mountpoint`, fill it with what jailctl and
/// the shipped templates need of a FreeBSD base, and snapshot it as `snapshot` (the part
/// after `@`). What it holds: the directories a jail's root needs (`dev`, `etc`, `tmp`,
/// `var/run`, `usr/local`, `usr/bin`), an empty `/etc/rc.conf`, the accounts provisioning's
/// chown resolves (`root`, `www`), and the base programs the templates' health probes run
/// (`/usr/bin/fetch`, `/usr/bin/drill`: the simulator runs nothing, an executable file stands
/// for the program).
pub fn seed_base(h: &SimHost, dataset: &str, mountpoint: &str, snapshot: &str) {
    let mp = format!("mountpoint={mountpoint}");
    zfs(h, &["create", "-p", "-o", &mp, dataset]);
    let base = h.local_path(Path::new(mountpoint));
    for d in ["dev", "etc", "tmp", "var/run", "usr/local", "usr/bin"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    std::fs::write(base.join("etc/rc.conf"), "").unwrap();
    std::fs::write(
        base.join("etc/passwd"),
        "root:*:0:0:Charlie &:/root:/bin/sh\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(base.join("etc/group"), "wheel:*:0:root\nwww:*:80:\n").unwrap();
    for prog in ["fetch", "drill"] {
        let p = base.join("usr/bin").join(prog);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    zfs(h, &["snapshot", &format!("{dataset}@{snapshot}")]);
}

/// `zfs ARGS...` on `h`, which must succeed.
#[track_caller]
pub fn zfs(h: &SimHost, args: &[&str]) -> String {
    let o = h
        .output(&Cmd::new(tools::ZFS, args.iter().copied()))
        .unwrap();
    assert_eq!(o.status, 0, "zfs {args:?}: {}", o.stderr);
    o.stdout
}
