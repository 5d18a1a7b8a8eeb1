//! Tests of `rc.d/jailctl`: the real script run by `sh` over the rc.subr stand-in in
//! `tests/rc/rc.subr`. Start, stop, restart, status and named jails run the real jailctl
//! binary on a simulated host (`jailctl_flags="--simulate DIR --config-dir D"`) and check which jails
//! run afterwards; the rc.subr enable gate, usage, rcvar and the exact command lines (also
//! for `status`) are checked with `jailctl_program` pointing at a recorder of its argv; and
//! the rcorder headers are read from the file.

use crate::boot_driver::Fleet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Rc {
    dir: tempfile::TempDir,
}

const RECORDER: &str = r#"#!/bin/sh
echo "$*" >> "$(dirname "$0")/argv.log"
exit "$(cat "$(dirname "$0")/exit-code" 2>/dev/null || echo 0)"
"#;

impl Rc {
    /// A test host whose rc.conf holds `conf` (plus `jailctl_program` = the recorder).
    fn new(conf: &str) -> Rc {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("jailctl-recorder");
        std::fs::write(&rec, RECORDER).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("rc.conf"),
            format!("jailctl_program=\"{}\"\n{conf}", rec.display()),
        )
        .unwrap();
        Rc { dir }
    }

    /// A test host whose rc.conf enables jailctl and runs the real binary on `fleet`'s
    /// simulated host and configuration.
    fn real(fleet: &Fleet) -> Rc {
        Rc::new(&format!(
            "jailctl_enable=\"YES\"\njailctl_program=\"{}\"\njailctl_flags=\"--simulate {} --config-dir {}\"\n",
            env!("CARGO_BIN_EXE_jailctl"),
            fleet.sim().display(),
            fleet.cfg().display()
        ))
    }

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
    }

    /// `sh rc.d/jailctl ARGS...` with an environment as empty as service(8) gives it.
    fn run(&self, args: &[&str]) -> Output {
        Command::new("/bin/sh")
            .arg(Self::root().join("rc.d/jailctl"))
            .args(args)
            .env_clear()
            .env("HOME", "/")
            .env("PATH", "/sbin:/bin:/usr/sbin:/usr/bin")
            .env("JAILCTL_RC_SUBR", Self::root().join("tests/rc/rc.subr"))
            .env("JAILCTL_TEST_RC_CONF", self.dir.path().join("rc.conf"))
            .output()
            .unwrap()
    }

    /// The argv lines the recorder saw, in order.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("argv.log"))
            .map(|s| s.lines().map(String::from).collect())
            .unwrap_or_default()
    }

    fn fail_with(&self, code: i32) {
        std::fs::write(self.dir.path().join("exit-code"), code.to_string()).unwrap();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn disabled_by_default_start_is_refused_with_rc_subr_s_message() {
    let rc = Rc::new("");
    let o = rc.run(&["start"]);
    assert_eq!(o.status.code(), Some(0), "rc.subr refuses with status 0");
    assert_eq!(
        stdout(&o),
        "Cannot 'start' jailctl. Set jailctl_enable to YES in /etc/rc.conf or use 'onestart' instead of 'start'.\n"
    );
    assert!(rc.calls().is_empty());
    let o = rc.run(&["stop"]);
    assert!(stdout(&o).starts_with("Cannot 'stop' jailctl."));
    assert!(rc.calls().is_empty());
}

#[test]
fn onestart_and_onestop_work_while_disabled() {
    let rc = Rc::new("jailctl_enable=\"NO\"\n");
    assert!(rc.run(&["onestart"]).status.success());
    assert!(rc.run(&["onestop", "web"]).status.success());
    assert_eq!(rc.calls(), vec!["boot", "shutdown web"]);
}

#[test]
fn enabled_start_stop_status_map_to_boot_shutdown_status() {
    let rc = Rc::new("jailctl_enable=\"YES\"\n");
    for cmd in ["start", "stop", "status"] {
        let o = rc.run(&[cmd]);
        assert!(o.status.success(), "{cmd}: {o:?}");
    }
    // quietstart is what /etc/rc uses at boot.
    assert!(rc.run(&["quietstart"]).status.success());
    assert_eq!(rc.calls(), vec!["boot", "shutdown", "status", "boot"]);
}

#[test]
fn named_jails_and_flags_are_passed_through() {
    let rc = Rc::new("jailctl_enable=\"YES\"\njailctl_flags=\"--config-dir /tank/jailctl -v\"\n");
    assert!(rc.run(&["start", "web", "db"]).status.success());
    assert!(rc.run(&["stop", "web"]).status.success());
    assert!(rc.run(&["status", "db"]).status.success());
    assert!(rc.run(&["restart", "web"]).status.success());
    assert_eq!(
        rc.calls(),
        vec![
            "--config-dir /tank/jailctl -v boot web db",
            "--config-dir /tank/jailctl -v shutdown web",
            "--config-dir /tank/jailctl -v status db",
            "--config-dir /tank/jailctl -v shutdown web",
            "--config-dir /tank/jailctl -v boot web",
        ]
    );
}

#[test]
fn a_failing_jailctl_fails_the_rc_command() {
    let rc = Rc::new("jailctl_enable=\"YES\"\n");
    rc.fail_with(2);
    let o = rc.run(&["start"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(rc.calls(), vec!["boot"]);
}

#[test]
fn rcvar_and_enabled_report_the_enable_variable() {
    let rc = Rc::new("");
    let o = rc.run(&["rcvar"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "# jailctl : Start the jails defined for jailctl in dependency order; stop them at shutdown\n#\njailctl_enable=\"NO\"\n#   (default: \"\")\n\n"
    );
    assert_eq!(rc.run(&["enabled"]).status.code(), Some(1));
    let on = Rc::new("jailctl_enable=\"yes\"\n");
    assert_eq!(on.run(&["enabled"]).status.code(), Some(0));
    assert!(rc.calls().is_empty() && on.calls().is_empty());
}

#[test]
fn unknown_commands_print_usage_and_fail() {
    let rc = Rc::new("jailctl_enable=\"YES\"\n");
    let o = rc.run(&["reload"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown directive 'reload'"), "{err}");
    assert!(
        err.contains("(start|stop|restart|rcvar|enabled|describe|extracommands|status)"),
        "{err}"
    );
    assert!(rc.calls().is_empty());
}

#[test]
fn rcorder_headers_order_jailctl_after_zfs_and_network_and_at_shutdown() {
    let text = std::fs::read_to_string(Rc::root().join("rc.d/jailctl")).unwrap();
    let header = |key: &str| -> Vec<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}:")))
            .unwrap_or_else(|| panic!("no {key} line"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(header("PROVIDE"), vec!["jailctl"]);
    for need in ["LOGIN", "FILESYSTEMS", "NETWORKING"] {
        assert!(
            header("REQUIRE").contains(&need.to_string()),
            "REQUIRE lacks {need}"
        );
    }
    assert_eq!(header("BEFORE"), vec!["securelevel"]);
    assert!(header("KEYWORD").contains(&"shutdown".to_string()));
    // The production source line: the real rc.subr unless the tests say otherwise.
    assert!(text.contains(". \"${JAILCTL_RC_SUBR:-/etc/rc.subr}\""));
}

/// db ← web, db ← api; cache alone; all autostart except `api` and `cache`.
fn fleet() -> Fleet {
    let f = Fleet::new();
    f.jail("db", true, &[], "");
    f.jail("web", true, &["db"], "[health]\ncommand = [\"hostname\"]\n");
    f.jail("api", false, &["db"], "");
    f.jail("cache", false, &[], "");
    f
}

#[test]
fn start_boots_the_autostart_jails_on_the_simulated_host_and_stop_stops_them() {
    let f = fleet();
    let rc = Rc::real(&f);
    let o = rc.run(&["start"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("2 of 2 jails up"), "{}", stdout(&o));
    assert_eq!(f.running(), ["db", "web"]);
    // status runs the real `jailctl status` on the simulated host: one line per jail.
    let o = rc.run(&["status"]);
    assert!(o.status.success(), "{o:?}");
    let state_of = |out: &str, jail: &str| -> String {
        out.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&jail)).then(|| f[1].to_string())
            })
            .unwrap_or_else(|| panic!("no line for {jail} in:\n{out}"))
    };
    let out = stdout(&o);
    assert_eq!(state_of(&out, "db"), "running");
    assert_eq!(state_of(&out, "web"), "running");
    assert_eq!(state_of(&out, "api"), "absent");
    let o = rc.run(&["status", "cache"]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert_eq!(state_of(&out, "cache"), "absent");
    assert!(
        !out.contains("db "),
        "status cache lists only cache:\n{out}"
    );
    // quietstart (what /etc/rc uses) on a booted host changes nothing and succeeds.
    let o = rc.run(&["quietstart"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(f.running(), ["db", "web"]);
    let o = rc.run(&["stop"]);
    assert!(o.status.success(), "{o:?}");
    assert!(f.running().is_empty(), "{:?}", f.running());
    let o = rc.run(&["status", "db"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(state_of(&stdout(&o), "db"), "stopped");
}

#[test]
fn named_jails_start_with_their_dependencies_and_stop_with_their_dependents() {
    let f = fleet();
    let rc = Rc::real(&f);
    let o = rc.run(&["start", "api", "cache"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(f.running(), ["api", "cache", "db"], "web is not named");
    let o = rc.run(&["stop", "db"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        f.running(),
        ["cache"],
        "api depends on db, so it stopped first"
    );
    let before = f.history().len();
    let o = rc.run(&["restart", "cache"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(f.running(), ["cache"]);
    let h: Vec<String> = f.history()[before..]
        .iter()
        .filter(|(c, s)| *s == 0 && c.starts_with("/usr/sbin/jail -f "))
        .map(|(c, _)| c.clone())
        .collect();
    assert_eq!(
        h,
        [
            "/usr/sbin/jail -f /var/run/jailctl/cache.conf -r cache",
            "/usr/sbin/jail -f /var/run/jailctl/cache.conf -c cache",
        ]
    );
}

#[test]
fn a_jail_that_fails_to_start_fails_the_rc_command_and_spares_the_others() {
    let f = fleet();
    std::fs::write(
        f.sim().join("faults.toml"),
        "[[fault]]\ncommand = \"jail -f * -c db\"\nstderr = \"jail: db: simulated failure\"\n",
    )
    .unwrap();
    let rc = Rc::real(&f);
    let o = rc.run(&["start", "web", "cache"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("db: FAILED"), "{out}");
    assert!(
        out.contains("web: not started: dependency db failed"),
        "{out}"
    );
    assert_eq!(f.running(), ["cache"]);
}
