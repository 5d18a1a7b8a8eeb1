//! The simulated jexec(8) runs what exists in the jail: after the quick start, `jailctl boot`
//! finds every example jail healthy because provisioning's `pkg install` put the probes
//! (`redis-cli`, `pg_isready`, `unbound-control`) in the jails and the base has `fetch`;
//! a probe whose program is missing fails as execvp(3) does.

use std::path::Path;
use std::process::Command;

fn jailctl(host: &Path) -> Command {
    crate::support::jailctl_loud(
        host,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
    )
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn boot_after_the_quickstart_finds_every_example_jail_healthy() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("qs");
    let out = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.sh"))
        .env("QUICKSTART_DIR", &work)
        .env("JAILCTL", env!("CARGO_BIN_EXE_jailctl"))
        .env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_DYING_COMMANDS")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "quickstart failed:\n{}", text(&out));
    let host = work.join("host");
    let down = jailctl(&host).args(["down", "--all"]).output().unwrap();
    assert!(down.status.success(), "{}", text(&down));

    let boot = jailctl(&host).arg("boot").output().unwrap();
    let all = text(&boot);
    assert!(boot.status.success(), "{all}");
    for jail in ["cache", "db", "resolver", "web"] {
        assert!(
            all.contains(&format!("{jail}: health check 1/"))
                && all.contains(&format!("{jail}: up (")),
            "{jail} not up and healthy:\n{all}"
        );
    }
    assert!(all.contains("4 of 4 jails up"), "{all}");
    assert!(!all.contains("FAILED"), "{all}");

    // The probes are real files in the jails, not names the simulator lets through: without
    // pg_isready the database's health probe fails the way execvp(3) does.
    let probe = host.join("root/usr/local/jails/db/usr/local/bin/pg_isready");
    std::fs::remove_file(&probe).unwrap();
    let exec = jailctl(&host)
        .args(["sim", "jexec", "db", "/usr/local/bin/pg_isready", "-q"])
        .output()
        .unwrap();
    assert!(!exec.status.success());
    assert!(
        text(&exec).contains("execvp: /usr/local/bin/pg_isready: No such file or directory"),
        "{}",
        text(&exec)
    );
}

mod sim {
    //! jexec(8) on the simulator directly: how a program is found and what it does.
    use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
    use jailctl_sim::SimHost;
    use std::path::Path;

    fn web() -> (tempfile::TempDir, SimHost) {
        let d = tempfile::tempdir().unwrap();
        let h = SimHost::open(&d.path().join("sim")).unwrap();
        h.mkdir_p(Path::new("/jails/web/usr/local/bin"), 0o755)
            .unwrap();
        let o = jexec_raw(
            &h,
            tools::JAIL,
            &["-c", "name=web", "path=/jails/web", "persist"],
        );
        assert!(o.success(), "{o:?}");
        (d, h)
    }

    fn jexec_raw(h: &SimHost, prog: &str, args: &[&str]) -> Output {
        h.output(&Cmd::new(prog, args.iter().copied())).unwrap()
    }

    fn jexec(h: &SimHost, args: &[&str]) -> Output {
        let mut a = vec!["web"];
        a.extend(args);
        jexec_raw(h, tools::JEXEC, &a)
    }

    fn install(h: &SimHost, path: &str, mode: u32) {
        h.mkdir_p(Path::new(path).parent().unwrap(), 0o755).unwrap();
        h.write(Path::new(path), b"#!/bin/sh\n", mode).unwrap();
    }

    #[test]
    fn a_program_found_on_the_jail_path_exits_zero_without_output() {
        let (_d, h) = web();
        install(&h, "/jails/web/usr/local/bin/probe", 0o755);
        for cmd in [&["/usr/local/bin/probe", "-q"][..], &["probe", "-q"]] {
            let o = jexec(&h, cmd);
            assert_eq!(o, Output::ok(""), "{cmd:?}");
        }
        // In an sh -c list too.
        let o = jexec(&h, &["/bin/sh", "-c", "probe && echo fine"]);
        assert_eq!(o.stdout, "fine\n", "{o:?}");
    }

    #[test]
    fn a_missing_program_fails_like_execvp() {
        let (_d, h) = web();
        // A file on the host, outside the jail, does not count.
        install(&h, "/usr/local/bin/probe", 0o755);
        let o = jexec(&h, &["probe"]);
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (1, "jexec: execvp: probe: No such file or directory\n")
        );
        let o = jexec(&h, &["/bin/sh", "-c", "probe"]);
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (127, "sh: probe: not found\n")
        );
    }

    #[test]
    fn a_file_without_execute_permission_is_denied() {
        let (_d, h) = web();
        install(&h, "/jails/web/usr/local/bin/probe", 0o644);
        let o = jexec(&h, &["/usr/local/bin/probe"]);
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (
                1,
                "jexec: execvp: /usr/local/bin/probe: Permission denied\n"
            )
        );
        let o = jexec(&h, &["/bin/sh", "-c", "/usr/local/bin/probe"]);
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (126, "sh: /usr/local/bin/probe: Permission denied\n")
        );
    }

    #[test]
    fn pkg_install_puts_the_package_programs_in_the_jail() {
        let (_d, h) = web();
        assert!(!jexec(&h, &["redis-cli", "ping"]).success());
        let o = jexec_raw(&h, tools::PKG, &["-j", "web", "install", "-y", "redis"]);
        assert!(o.success(), "{o:?}");
        assert!(jexec(&h, &["redis-cli", "ping"]).success());
        assert!(jexec(&h, &["/usr/local/bin/redis-server"]).success());
    }

    #[test]
    fn nothing_runs_on_a_filesystem_with_exec_off() {
        let d = tempfile::tempdir().unwrap();
        let h = SimHost::open(&d.path().join("sim")).unwrap();
        let zfs = |args: &[&str]| {
            let o = jexec_raw(&h, tools::ZFS, args);
            assert!(o.success(), "zfs {args:?}: {o:?}");
        };
        zfs(&["create", "-o", "mountpoint=/jails", "zroot/jails"]);
        zfs(&["create", "zroot/jails/web"]);
        install(&h, "/jails/web/usr/local/bin/probe", 0o755);
        zfs(&["set", "exec=off", "zroot/jails"]);
        let o = jexec_raw(
            &h,
            tools::JAIL,
            &[
                "-c",
                "name=web",
                "path=/jails/web",
                "exec.start=/bin/sh /etc/rc",
                "persist",
            ],
        );
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (1, "jail: web: /bin/sh /etc/rc: failed\n"),
            "{o:?}"
        );
        let o = jexec_raw(&h, tools::JLS, &["-j", "web"]);
        assert!(!o.success(), "the failed jail -c left a jail: {o:?}");
        let o = jexec_raw(
            &h,
            tools::JAIL,
            &["-c", "name=web", "path=/jails/web", "persist"],
        );
        assert!(o.success(), "{o:?}");
        for prog in ["/usr/local/bin/probe", "/bin/sh"] {
            let o = jexec(&h, &[prog, "-c", "true"]);
            assert_eq!(
                (o.status, o.stderr),
                (1, format!("jexec: execvp: {prog}: Permission denied\n"))
            );
        }
        // Inherited or own, `exec=on` below lifts it.
        zfs(&["set", "exec=on", "zroot/jails/web"]);
        assert!(jexec(&h, &["/usr/local/bin/probe"]).success());
    }
}
