//! Containment of the simulated host: whatever symbolic links the simulated host's files
//! hold, no tool model and no file jailctl writes through it reaches anything outside the
//! simulator's directory. A sentinel directory outside it (files, modes, listing) is the
//! target of links planted at every place a path is resolved; it must come out unchanged.
//! A link to an absolute path means that path on the *simulated* host (the simulator's
//! directory is the simulated `/`), as the kernel confines every path to the real root.
//!
//! Also jailctl's own check: `up` refuses a jail whose `<mount_root>/NAME` is a link.

use crate::support::{examples_config, history, host_with_base, jailctl, mutating, sim};
use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl_sim::{SimConfig, SimHost};
use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Everything observable about a directory tree: per entry (relative path) its kind, its
/// permission bits and its contents (file bytes, link target, or the sorted listing).
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (String, u32, Vec<u8>)> {
    fn walk(top: &Path, at: &Path, out: &mut BTreeMap<PathBuf, (String, u32, Vec<u8>)>) {
        let md = std::fs::symlink_metadata(at).unwrap();
        let rel = at.strip_prefix(top).unwrap().to_path_buf();
        let mode = md.permissions().mode() & 0o7777;
        let ft = md.file_type();
        if ft.is_symlink() {
            let t = std::fs::read_link(at).unwrap();
            out.insert(
                rel,
                ("link".into(), mode, t.into_os_string().into_encoded_bytes()),
            );
        } else if ft.is_dir() {
            let mut names: Vec<String> = std::fs::read_dir(at)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            out.insert(rel, ("dir".into(), mode, names.join("\n").into_bytes()));
            for n in names {
                walk(top, &at.join(n), out);
            }
        } else {
            out.insert(rel, ("file".into(), mode, std::fs::read(at).unwrap()));
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A sentinel directory with files of several modes and a subdirectory.
fn sentinel(at: &Path) -> PathBuf {
    let s = at.join("outside");
    std::fs::create_dir_all(s.join("etc")).unwrap();
    std::fs::create_dir_all(s.join("sub")).unwrap();
    for (f, body, mode) in [
        ("precious.txt", "do not touch\n", 0o640),
        ("etc/passwd", "root:*:0:0::0:0:root:/root:/bin/sh\n", 0o644),
        ("etc/rc.conf", "sshd_enable=\"YES\"\n", 0o600),
        ("sub/keep", "x", 0o400),
    ] {
        std::fs::write(s.join(f), body).unwrap();
        std::fs::set_permissions(s.join(f), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::set_permissions(s.join("sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
    s
}

/// Plant `link -> target` under the simulated root, creating the link's parent.
fn plant(root: &Path, link: &str, target: &Path) {
    let l = root.join(link);
    std::fs::create_dir_all(l.parent().unwrap()).unwrap();
    symlink(target, &l).unwrap();
}

fn run(h: &SimHost, tool: &str, args: &[&str]) -> Output {
    h.output(&Cmd::new(tool, args.iter().copied())).unwrap()
}

/// Every tool model and every HostFs operation, over a simulated host whose paths lead out of
/// it through absolute links, relative links with more `..` than the path has components, and
/// links in the middle of paths.
#[test]
fn no_tool_and_no_file_operation_leaves_the_simulated_root() {
    let d = tempfile::tempdir().unwrap();
    let out = sentinel(d.path());
    let before = fingerprint(&out);
    let h = SimHost::open_with(&d.path().join("sim"), SimConfig::default()).unwrap();
    let root = h.dir().join("root");
    // Where the sentinel's absolute path lands inside the simulated host: links to it
    // resolve there.
    let mirror = root.join(out.strip_prefix("/").unwrap());
    let deep_up =
        Path::new("../../../../../../../../../../..").join(out.strip_prefix("/").unwrap());
    plant(&root, "x", &out); // a dataset mountpoint
    plant(&root, "rel", &deep_up); // a relative link climbing past the root
    plant(&root, "mnt/src", &out); // a nullfs source
    plant(&root, "mnt/dst", &out); // a mount target
    plant(&root, "jails/j1", &out); // a jail root
    plant(&root, "var/db/jailctl", &out); // journal and lock directories
    plant(&root, "var/run/jailctl", &deep_up); // rendered jail.conf files
    plant(&root, "loop/a", Path::new("b"));
    plant(&root, "loop/b", Path::new("a"));

    let steps: &[(&str, &[&str])] = &[
        (tools::ZFS, &["create", "-o", "mountpoint=/x", "zroot/x"]),
        (
            tools::ZFS,
            &["create", "-o", "mountpoint=/rel/in", "zroot/r"],
        ),
        (tools::ZFS, &["snapshot", "zroot/x@s"]),
        (tools::ZFS, &["rollback", "zroot/x@s"]),
        (
            tools::ZFS,
            &[
                "clone",
                "-o",
                "mountpoint=/mnt/dst/c",
                "zroot/x@s",
                "zroot/c",
            ],
        ),
        (tools::ZFS, &["rename", "zroot/c", "zroot/c2"]),
        (tools::ZFS, &["set", "mountpoint=/rel/moved", "zroot/c2"]),
        // zfs mount/unmount are not modelled (they say so); a mountpoint change moves the
        // mounted directory instead.
        (tools::ZFS, &["set", "mountpoint=/mnt/src/r2", "zroot/r"]),
        (tools::MOUNT, &["-t", "nullfs", "/mnt/src", "/mnt/dst"]),
        (tools::UMOUNT, &["/mnt/dst"]),
        (tools::MOUNT, &["-t", "devfs", "devfs", "/x"]),
        (tools::UMOUNT, &["/x"]),
        (tools::JAIL, &["-c", "name=j1", "path=/jails/j1", "persist"]),
        (tools::JEXEC, &["j1", "cat", "/etc/passwd"]),
        (tools::JEXEC, &["j1", "sysrc", "sshd_enable=NO"]),
        // pkg writes rc.d scripts, programs and accounts below links planted in the jail.
        (tools::PKG, &["-j", "j1", "install", "-y", "nginx"]),
        (tools::JAIL, &["-r", "j1"]),
        (tools::ZFS, &["destroy", "-R", "zroot/x"]),
        (tools::ZFS, &["destroy", "zroot/r"]),
    ];
    // The mirror directories exist inside the simulated host, so the tools succeed there.
    std::fs::create_dir_all(mirror.join("etc")).unwrap();
    // Inside the jail (whose root is the mirror): absolute and climbing links to the sentinel.
    plant(&mirror, "usr/local", &out);
    plant(&mirror, "usr/sbin", &deep_up.join("sub"));
    std::fs::write(
        mirror.join("etc/passwd"),
        "root:*:0:0::0:0:root:/root:/bin/sh\n",
    )
    .unwrap();
    for (tool, args) in steps {
        let o = run(&h, tool, args);
        assert_eq!(o.status, 0, "{tool} {args:?}: {}", o.stderr);
        assert_eq!(
            fingerprint(&out),
            before,
            "{tool} {args:?} changed the sentinel"
        );
        if args.contains(&"nginx") {
            // Installed where the jail sees /usr/local: the sentinel's path inside the jail.
            let inside = mirror.join(out.strip_prefix("/").unwrap());
            assert!(
                inside.join("etc/rc.d/nginx").is_file(),
                "pkg wrote elsewhere"
            );
        }
        if args.contains(&"sysrc") {
            // It acted on the simulated path: the rc.conf sysrc wrote is the simulated one.
            let rc = std::fs::read_to_string(mirror.join("etc/rc.conf")).unwrap();
            assert!(rc.contains("sshd_enable=\"NO\""), "{rc}");
        }
    }
    assert!(
        !mirror.exists(),
        "zfs destroy of zroot/x removed its directory"
    );

    // Files jailctl writes through HostFs, and the other operations on them.
    let j = Path::new("/var/db/jailctl/journal/web.json");
    h.mkdir_p(j.parent().unwrap(), 0o700).unwrap();
    h.write(j, b"{}", 0o600).unwrap();
    assert_eq!(h.read(j).unwrap(), b"{}");
    assert_eq!(
        std::fs::read(mirror.join("journal/web.json")).unwrap(),
        b"{}",
        "an absolute link is the simulated path"
    );
    h.write(Path::new("/var/run/jailctl/web.conf"), b"web {}\n", 0o644)
        .unwrap();
    assert!(mirror.join("web.conf").is_file());
    // A link at the file's own place is replaced, never written through (planted where the
    // simulated /var/run/jailctl really is: planting through the link would leave the sim).
    plant(&mirror, "db.conf", &out.join("precious.txt"));
    h.write(Path::new("/var/run/jailctl/db.conf"), b"db {}\n", 0o644)
        .unwrap();
    h.remove_file(Path::new("/var/run/jailctl/db.conf"))
        .unwrap();
    plant(&mirror, "sub", &out.join("sub"));
    h.remove_file(Path::new("/x/sub")).unwrap();
    assert!(
        h.read_dir(Path::new("/mnt/src"))
            .unwrap()
            .contains(&"journal".to_string())
    );
    h.remove_file(j).unwrap();
    h.remove_dir(j.parent().unwrap()).unwrap();
    h.write_in_root(Path::new("/jails/j1"), Path::new("motd"), b"hi\n", 0o644)
        .unwrap();
    assert!(mirror.join("motd").is_file());
    assert!(
        h.local_path(Path::new("/rel/precious.txt"))
            .starts_with(&root)
    );
    assert_eq!(
        fingerprint(&out),
        before,
        "a HostFs operation changed the sentinel"
    );

    // A link loop fails as on FreeBSD and touches nothing.
    let e = h.read(Path::new("/loop/a")).unwrap_err();
    assert!(
        e.to_string().contains("Too many levels of symbolic links"),
        "{e}"
    );
    let o = run(&h, tools::MOUNT, &["-t", "devfs", "devfs", "/loop/a"]);
    assert_eq!(
        (o.status, o.stderr.as_str()),
        (1, "mount: /loop/a: Too many levels of symbolic links\n")
    );
    assert!(!h.local_path(Path::new("/loop/a/x")).exists());
    assert_eq!(fingerprint(&out), before);
}

/// The report's reproduction through the binary: `sim zfs create` on a mountpoint that is a
/// link to a directory outside, then `sim zfs destroy`.
#[test]
fn sim_zfs_destroy_through_a_linked_mountpoint_keeps_the_outside_files() {
    let d = tempfile::tempdir().unwrap();
    let out = sentinel(d.path());
    let before = fingerprint(&out);
    let simdir = d.path().join("sim");
    sim(&simdir, &["zfs", "list"]);
    plant(&simdir.join("root"), "x", &out);
    sim(
        &simdir,
        &["zfs", "create", "-o", "mountpoint=/x", "zroot/x"],
    );
    sim(&simdir, &["zfs", "destroy", "zroot/x"]);
    assert_eq!(fingerprint(&out), before);
}

/// `up`, `down` and `destroy` of a jail with the journal, lock and run directories reached
/// through links to a directory outside the simulator.
#[test]
fn up_down_destroy_over_linked_state_directories_stay_inside() {
    let d = tempfile::tempdir().unwrap();
    let out = sentinel(d.path());
    let before = fingerprint(&out);
    let simdir = d.path().join("sim");
    let conf = d.path().join("conf");
    host_with_base(&simdir);
    examples_config(&conf);
    let root = simdir.join("root");
    let mirror = root.join(out.strip_prefix("/").unwrap());
    // The base and the host layout left lock files, an emptied journal directory and an
    // empty run directory there: nothing the links replacing them need to keep.
    std::fs::remove_dir_all(root.join("var/db/jailctl")).unwrap();
    std::fs::remove_dir_all(root.join("var/run/jailctl")).unwrap();
    plant(&root, "var/db/jailctl", &out);
    plant(&root, "var/run/jailctl", &out.join("sub"));
    for cmd in [
        &["up", "resolver"][..],
        &["down", "resolver"],
        &["destroy", "--yes", "resolver"],
    ] {
        let o = jailctl(&simdir, &conf).args(cmd).output().unwrap();
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(fingerprint(&out), before, "{cmd:?} changed the sentinel");
    }
    // The journal and locks were kept in the simulated directories the links name.
    assert!(
        mirror.join("locks").is_dir(),
        "no {}",
        mirror.join("locks").display()
    );
}

/// `<mount_root>/evil -> ../../../etc`: `up evil` (and `plan evil`) is refused before
/// anything changes, naming the link and the fix, and the simulated /etc is intact.
#[test]
fn up_refuses_a_jail_root_that_is_a_symbolic_link() {
    let d = tempfile::tempdir().unwrap();
    let simdir = d.path().join("sim");
    let conf = d.path().join("conf");
    host_with_base(&simdir);
    examples_config(&conf);
    std::fs::write(
        conf.join("jails/evil.toml"),
        "extends = \"unbound\"\nhostname = \"evil.example.internal\"\n\n[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.168.1.66/24\"]\n",
    )
    .unwrap();
    let root = simdir.join("root");
    plant(&root, "usr/local/jails/evil", Path::new("../../../etc"));
    let etc = fingerprint(&root.join("etc"));
    assert!(etc.len() > 1, "the simulated /etc has files: {etc:?}");
    let ran = history(&simdir).len();

    for cmd in ["up", "plan"] {
        let o = jailctl(&simdir, &conf)
            .args([cmd, "evil"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{cmd} evil succeeded");
        let err: String = String::from_utf8_lossy(&o.stderr)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            err.contains(
                "jail `evil`: its root /usr/local/jails/evil is reached through the symbolic link /usr/local/jails/evil -> ../../../etc"
            ) && err.contains("`rm /usr/local/jails/evil`")
                && err.contains("Nothing was changed"),
            "{cmd}: {err}"
        );
    }
    let after = history(&simdir);
    assert!(
        !after[ran..].iter().any(mutating),
        "up changed the host: {:#?}",
        &after[ran..]
    );
    assert_eq!(fingerprint(&root.join("etc")), etc);

    // Removed as the message says, the jail comes up.
    std::fs::remove_file(root.join("usr/local/jails/evil")).unwrap();
    jailctl(&simdir, &conf)
        .args(["up", "evil"])
        .assert()
        .success();
    assert_eq!(fingerprint(&root.join("etc")), etc);
}
