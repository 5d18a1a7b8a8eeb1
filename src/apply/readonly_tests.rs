//! The read-only host wrapper (`host::readonly::ReadOnlyHost`) checked against every command
//! the executor emits; it lives here because the emitted commands come from `apply`.

use crate::apply::sim_tests::TestSim;
use crate::host::readonly::*;
use crate::host::{Cmd, HostFs, ProcessError, Runner, tools};
use crate::plan::Step;
use std::collections::BTreeSet;
use std::path::Path;

/// Split a command line as [`Cmd`]'s `Display` quotes it (single quotes, `'\\''`).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            _ => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every command the executor emits, with its undo commands: the recorded argv snapshots
/// of every step kind and of a dry run, plus the steps and tools those do not cover
/// (parents, unmounts, VNET interfaces, provisioning, forced removal).
fn emitted() -> Vec<Cmd> {
    let mut out = Vec::new();
    for snap in [
        include_str!(
            "../apply/snapshots/jailctl__apply__tests__every_step_renders_exact_argv.snap"
        ),
        include_str!(
            "../apply/snapshots/jailctl__apply__tests__dry_run_lists_the_commands_without_running_them.snap"
        ),
    ] {
        for line in snap.lines() {
            let l = line.trim_start();
            let l = l.strip_prefix("undo: ").unwrap_or(l);
            if l.starts_with('/') {
                let w = words(l);
                out.push(Cmd::new(&w[0], w[1..].iter().cloned()));
            }
        }
    }
    let steps = [
        Step::CreateParent {
            dataset: "zroot/jailctl/jails".into(),
        },
        Step::Unmount {
            source: "/usr/local/jails/.volumes/web/data".into(),
            target: "/usr/local/jails/web/data".into(),
            fstype: "nullfs".into(),
            options: "rw".into(),
        },
    ];
    for s in &steps {
        for (op, undo) in crate::apply::ops(s) {
            if let crate::apply::Op::Run(c) = op {
                out.push(c);
            }
            for u in undo {
                if let crate::apply::Undo::Run { cmd } = u {
                    out.push(cmd);
                }
            }
        }
    }
    out.push(crate::vnet::destroy_cmd("epair3a"));
    out.push(crate::vnet::create_bridge_cmd("bridge0", Some("em0")));
    out.push(crate::vnet::create_bridge_cmd("jailnet", None));
    out.push(Cmd::new(tools::IFCONFIG, ["epair", "create"]));
    out.push(Cmd::new(
        tools::IFCONFIG,
        ["epair0a", "up", "name", "web_h"],
    ));
    out.push(Cmd::new(tools::IFCONFIG, ["bridge0", "addm", "web_h"]));
    out.push(Cmd::new(tools::JAIL, ["-R", "web"]));
    out.push(Cmd::new(
        tools::PKG,
        ["-j", "web", "install", "-y", "nginx"],
    ));
    out.push(Cmd::new(
        tools::JEXEC,
        ["-l", "web", "/bin/sh", "-c", "true"],
    ));
    out.push(Cmd::new(
        tools::CHOWN,
        ["www:www", "/usr/local/jails/web/srv"],
    ));
    out
}

#[test]
fn every_command_the_executor_emits_is_refused() {
    let cmds = emitted();
    let tools: BTreeSet<&str> = cmds.iter().map(|c| c.tool()).collect();
    // The kinds of change jailctl makes, so the list above cannot silently shrink.
    for t in [
        "zfs", "jail", "rctl", "umount", "mount", "cpuset", "ifconfig", "pkg", "jexec",
    ] {
        assert!(tools.contains(t), "no `{t}` command among {cmds:?}");
    }
    let t = TestSim::with_base();
    let h = &t.host;
    let mark = t.history().len();
    let ro = ReadOnlyHost::new(h);
    for c in &cmds {
        assert!(!is_read_only(c), "classified as read-only: {c}");
        let e = ro.output(c).unwrap_err();
        assert!(matches!(e, ProcessError::ReadOnly { .. }), "{c}: {e}");
        assert!(e.to_string().contains(&c.to_string()), "{e}");
        assert!(crate::host::explain(&e).contains("bug in jailctl"), "{e}");
    }
    let ran = t.ran_since(mark);
    assert!(ran.is_empty(), "a refused command ran: {ran:?}");
}

#[test]
fn other_changing_forms_are_refused() {
    let changes = [
        Cmd::new(tools::ZFS, ["create", "-o", "mountpoint=none", "zroot/x"]),
        Cmd::new(tools::ZFS, ["set", "quota=1G", "zroot/x"]),
        Cmd::new(tools::ZFS, ["snapshot", "zroot/x@s"]),
        Cmd::new(tools::ZFS, ["rollback", "-r", "zroot/x@s"]),
        Cmd::new(tools::ZFS, ["destroy", "-r", "zroot/x"]),
        Cmd::new(tools::ZFS, [] as [&str; 0]),
        Cmd::new(tools::ZPOOL, ["create", "zroot", "da0"]),
        Cmd::new(tools::ZPOOL, ["scrub", "zroot"]),
        Cmd::new(tools::JAIL, ["-R", "web"]),
        Cmd::new(
            tools::JAIL,
            ["-f", "/var/run/jailctl/web.conf", "-c", "web"],
        ),
        Cmd::new(tools::JEXEC, ["-l", "web", "/bin/ls"]),
        Cmd::new(tools::PKG, ["-j", "web", "install", "-y", "nginx"]),
        Cmd::new(tools::CHOWN, ["root", "/x"]),
        Cmd::new(tools::RCTL, ["-a", "jail:web:memoryuse:deny=1g"]),
        Cmd::new(tools::RCTL, ["-r", "jail:web"]),
        Cmd::new(tools::RCTL, ["-ar", "jail:web"]),
        Cmd::new(tools::SYSCTL, ["security.jail.allow_raw_sockets=1"]),
        Cmd::new(tools::SYSCTL, ["-f", "/etc/sysctl.conf"]),
        Cmd::new(tools::IFCONFIG, ["bridge0", "create"]),
        Cmd::new(tools::IFCONFIG, ["epair", "create"]),
        Cmd::new(tools::IFCONFIG, ["em0", "inet", "192.0.2.1/32", "alias"]),
        Cmd::new(tools::IFCONFIG, ["em0", "up"]),
        Cmd::new(tools::IFCONFIG, ["epair0a", "destroy"]),
        Cmd::new(tools::MOUNT, ["-t", "nullfs", "/a", "/b"]),
        Cmd::new(tools::UMOUNT, ["/b"]),
        Cmd::new(tools::CPUSET, ["-l", "0-1", "-j", "web"]),
        Cmd::new(tools::CPUSET, ["-g", "-l", "0"]),
        Cmd::new(tools::PFCTL, ["-a", "jailctl/web", "-f", "-"]).stdin("pass\n"),
        Cmd::new(tools::PFCTL, ["-a", "jailctl/web", "-F", "all"]),
        Cmd::new(tools::PFCTL, ["-t", "jailctl_nat", "-T", "add", "10.0.0.2"]),
        Cmd::new(
            tools::PFCTL,
            ["-t", "jailctl_nat", "-T", "delete", "10.0.0.2"],
        ),
        Cmd::new(tools::PFCTL, ["-e"]),
        Cmd::new(tools::PFCTL, ["-s", "rules", "-f", "/etc/pf.conf"]),
        // A read-looking command by another path is not trusted.
        Cmd::new("/tmp/zfs", ["list"]),
        Cmd::new("zfs", ["list"]),
        Cmd::new("/sbin/kldload", ["vmm"]),
    ];
    let t = TestSim::with_base();
    let mark = t.history().len();
    let ro = ReadOnlyHost::new(&t.host);
    for c in &changes {
        assert!(!is_read_only(c), "classified as read-only: {c}");
        assert!(ro.output(c).is_err(), "{c}");
        assert!(ro.interactive(c).is_err(), "{c}");
    }
    assert_eq!(t.ran_since(mark), Vec::<String>::new());
}

#[test]
fn read_commands_pass_through() {
    let reads = [
        crate::ops::owned::get_cmd("zroot/jailctl/jails/web"),
        Cmd::new(tools::ZFS, ["list", "-H", "-o", "name"]),
        Cmd::new(tools::ZFS, ["get", "-H", "-p", "all", "zroot"]),
        Cmd::new(tools::ZPOOL, ["list", "-H"]),
        Cmd::new(tools::ZPOOL, ["get", "-H", "health", "zroot"]),
        Cmd::new(tools::ZPOOL, ["status", "zroot"]),
        Cmd::new(tools::JLS, ["-j", "web", "jid"]),
        Cmd::new(tools::JLS, ["-d", "-j", "web", "jid"]),
        Cmd::new(tools::RCTL, [] as [&str; 0]),
        Cmd::new(tools::RCTL, ["jail:"]),
        Cmd::new(tools::RCTL, ["-u", "jail:web"]),
        Cmd::new(tools::RCTL, ["-hu", "jail:web"]),
        Cmd::new(tools::RCTL, ["-l", "jail:web"]),
        Cmd::new(tools::SYSCTL, ["-n", "kern.racct.enable"]),
        Cmd::new(tools::SYSCTL, ["hw.ncpu", "kern.features.vimage"]),
        Cmd::new(tools::IFCONFIG, ["-l"]),
        Cmd::new(tools::IFCONFIG, [] as [&str; 0]),
        Cmd::new(tools::IFCONFIG, ["-a"]),
        Cmd::new(tools::IFCONFIG, ["bridge0"]),
        Cmd::new(tools::MOUNT, ["-p"]),
        Cmd::new(tools::MOUNT, [] as [&str; 0]),
        Cmd::new(tools::CPUSET, ["-g", "-j", "web"]),
        Cmd::new(tools::KLDSTAT, ["-q", "-m", "vmm"]),
        Cmd::new(tools::PFCTL, ["-s", "info"]),
        Cmd::new(tools::PFCTL, ["-a", "jailctl/*", "-s", "nat"]),
        Cmd::new(tools::PFCTL, ["-a", "jailctl", "-s", "Anchors"]),
        Cmd::new(tools::PFCTL, ["-t", "jailctl_nat", "-T", "show"]),
    ];
    for c in &reads {
        assert!(is_read_only(c), "classified as a change: {c}");
    }
    // And through the handle they reach the host.
    let t = TestSim::with_base();
    let mark = t.history().len();
    let ro = ReadOnlyHost::new(&t.host);
    let c = Cmd::new(tools::JLS, ["-j", "web", "jid"]);
    ro.output(&c).unwrap();
    assert_eq!(t.ran_since(mark), [c.to_string()]);
}

#[test]
fn file_changes_are_refused_and_reads_work() {
    let t = TestSim::with_base();
    let h = &t.host;
    let p = Path::new("/var/run/jailctl/web.conf");
    h.mkdir_p(p.parent().unwrap(), 0o755).unwrap();
    h.write(p, b"web {}\n", 0o600).unwrap();
    let ro = ReadOnlyHost::new(h);
    assert_eq!(ro.read(p).unwrap(), b"web {}\n");
    assert!(ro.exists(p));
    let e = ro.write(p, b"x", 0o600).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("/var/run/jailctl/web.conf"), "{e}");
    assert!(e.to_string().contains("read-only preview"), "{e}");
    assert!(ro.remove_file(p).is_err());
    assert!(
        ro.mkdir_p(Path::new("/var/db/jailctl/locks"), 0o700)
            .is_err()
    );
    let root = Path::new("/usr/local/jails/web");
    assert!(
        ro.write_in_root(root, Path::new("etc/rc.conf"), b"x", 0o644)
            .is_err()
    );
    assert!(ro.mkdir_in_root(root, Path::new("etc")).is_err());
    assert!(ro.remove_in_root(root, Path::new("etc/rc.conf")).is_err());
    assert_eq!(h.read(p).unwrap(), b"web {}\n");
    assert!(!h.exists(Path::new("/var/db/jailctl/locks")));
}
