//! Tests of `rc.d/jailctl`: the real script run by `sh` over the rc.subr stand-in in
//! `tests/rc/rc.subr`. Start, stop, restart, status and named jails run the real jailctl
//! binary on a simulated host (`jailctl_flags="--simulate DIR --config-dir D"`) and check which jails
//! run afterwards; the rc.subr enable gate, usage, rcvar and the exact command lines (also
//! for `status`) are checked with `jailctl_binary` pointing at a recorder of its argv; the
//! stand-in's `${name}_program` process check and service-jail wrapping are shown to bite a
//! script that uses them, and not rc.d/jailctl; and the rcorder headers are ordered among
//! FreeBSD 14's own by an rcorder(8) model.

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
    /// A test host whose rc.conf holds `conf` (plus `jailctl_binary` = the recorder).
    fn new(conf: &str) -> Rc {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("jailctl-recorder");
        std::fs::write(&rec, RECORDER).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("rc.conf"),
            format!("jailctl_binary=\"{}\"\n{conf}", rec.display()),
        )
        .unwrap();
        Rc { dir }
    }

    /// A test host whose rc.conf enables jailctl and runs the real binary on `fleet`'s
    /// simulated host and configuration.
    fn real(fleet: &Fleet) -> Rc {
        Rc::new(&format!(
            "jailctl_enable=\"YES\"\njailctl_binary=\"{}\"\njailctl_flags=\"--simulate {} --config-dir {}\"\n",
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
        self.run_script(&Self::root().join("rc.d/jailctl"), args)
    }

    /// `sh SCRIPT ARGS...` over the stand-in rc.subr, with this host's rc.conf, and
    /// recorders standing in for /usr/sbin/jail and /usr/sbin/service.
    fn run_script(&self, script: &Path, args: &[&str]) -> Output {
        let rec = self.dir.path().join("jailctl-recorder");
        Command::new("/bin/sh")
            .arg(script)
            .args(args)
            .env_clear()
            .env("JAILCTL_TEST_JAIL_CMD", format!("{} JAIL", rec.display()))
            .env("JAILCTL_TEST_SERVICE", format!("{} SERVICE", rec.display()))
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
        concat!(
            "# jailctl : Start the jails defined for jailctl in dependency order; stop them at shutdown\n",
            "#\n",
            "jailctl_enable=\"NO\"\n",
            "# - YES starts the autostart jails at boot\n",
            "#   (default: \"NO\")\n",
            "jailctl_flags=\"\"\n",
            "# - Global options before the subcommand, e.g. --config-dir DIR\n",
            "#   (default: \"\")\n",
            "jailctl_env=\"\"\n",
            "# - Environment for jailctl, e.g. RUST_LOG=debug\n",
            "#   (default: \"\")\n",
            "jailctl_binary=\"{}\"\n",
            "# - Path of the jailctl binary\n",
            "#   (default: \"/usr/local/sbin/jailctl\")\n",
            "\n"
        )
        .replace("{}", &rc.dir.path().join("jailctl-recorder").display().to_string())
    );
    // Without rc.conf settings the defaults are what rcvar shows as the values.
    let bare = Rc::new("");
    std::fs::write(bare.dir.path().join("rc.conf"), "").unwrap();
    let out = stdout(&bare.run(&["rcvar"]));
    assert!(out.contains("jailctl_enable=\"NO\"\n"), "{out}");
    assert!(
        out.contains("jailctl_binary=\"/usr/local/sbin/jailctl\"\n"),
        "{out}"
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
        err.contains(
            "(start|stop|restart|rcvar|enable|disable|delete|enabled|describe|extracommands|status)\n"
        ),
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
    for need in ["LOGIN", "FILESYSTEMS", "NETWORKING", "jail"] {
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

/// A process whose command line starts with `argv0`, as ps shows another jailctl (a
/// `jailctl status` or `jailctl console` someone left running). Killed on drop.
struct Proc(std::process::Child);

impl Proc {
    /// sleep(1) started through a symlink named `argv0` found on PATH, so its argv[0] (what
    /// ps shows first) is exactly `argv0`; no shell feature needed.
    fn named(argv0: &str) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/bin/sleep", dir.path().join(argv0)).unwrap();
        let p = Proc(
            Command::new(argv0)
                .arg("120")
                .env("PATH", dir.path())
                .spawn()
                .unwrap(),
        );
        // spawn() returns once exec succeeded: the symlink is no longer needed.
        drop(dir);
        let pid = p.0.id().to_string();
        for _ in 0..100 {
            let ps = Command::new("ps")
                .args(["-o", "command=", "-p", &pid])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&ps.stdout).starts_with(&format!("{argv0} ")) {
                return p;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{argv0} never showed up in ps");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The stand-in is not lenient: a script that names its binary in `${name}_program` (what
/// rc.d/jailctl used to do) is refused "already running?" by it while a process of that name
/// runs, its `stop` skips the enable gate, and `status` reports the process, as FreeBSD's
/// rc.subr does. The process name is unique to this test so nothing else on the machine
/// matches it.
#[test]
fn stand_in_looks_for_the_process_named_by_name_program_like_rc_subr() {
    let probe = format!("jcprobe{}", std::process::id());
    let rc = Rc::new(&format!("{probe}_program=\"/usr/local/sbin/{probe}\"\n"));
    let script = rc.dir.path().join("probe.rc");
    std::fs::write(
        &script,
        format!(
            ". \"$JAILCTL_RC_SUBR\"\nname={probe}\nrcvar={probe}_enable\nload_rc_config $name\nstart_cmd=\"echo started\"\nstop_cmd=\"echo stopped\"\nrun_rc_command \"$@\"\n"
        ),
    )
    .unwrap();
    // Nothing of that name runs: enable gate for start and stop, status says not running.
    let o = rc.run_script(&script, &["stop"]);
    assert!(
        stdout(&o).starts_with(&format!("Cannot 'stop' {probe}.")),
        "{o:?}"
    );
    let o = rc.run_script(&script, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), format!("{probe} is not running.\n"));

    let p = Proc::named(&probe);
    let pid = p.0.id();
    let o = rc.run_script(&script, &["onestart"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        stderr(&o),
        format!("{probe} already running?  (pid={pid}).\n")
    );
    assert_eq!(stdout(&o), "");
    // With a pid known, stop runs although the service is not enabled.
    let o = rc.run_script(&script, &["stop"]);
    assert_eq!(stdout(&o), "stopped\n", "{o:?}");
    let o = rc.run_script(&script, &["status"]);
    assert_eq!(stdout(&o), format!("{probe} is running as pid {pid}.\n"));
}

/// Another jailctl process running does not stop `service jailctl restart` half-way (it
/// stopped every jail, then refused to start them), nor `start`, and with jailctl_enable=NO
/// `stop` keeps its refusal. An old rc.conf that still sets jailctl_program works, with a
/// warning, without turning the process check back on.
#[test]
fn restart_and_start_work_while_another_jailctl_runs() {
    let f = fleet();
    let rc = Rc::real(&f);
    // The obsolete knob, as rc.conf files written for earlier versions have it.
    let conf = std::fs::read_to_string(rc.dir.path().join("rc.conf")).unwrap();
    std::fs::write(
        rc.dir.path().join("rc.conf"),
        conf.replace("jailctl_binary=", "jailctl_program="),
    )
    .unwrap();
    let _other = Proc::named("jailctl");
    let o = rc.run(&["start"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(f.running(), ["db", "web"]);
    assert!(
        stderr(&o).contains("$jailctl_program is obsolete.  Use $jailctl_binary instead."),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("already running"), "{}", stderr(&o));
    let o = rc.run(&["restart"]);
    assert!(o.status.success(), "{o:?}");
    assert!(!stderr(&o).contains("already running"), "{}", stderr(&o));
    assert_eq!(f.running(), ["db", "web"], "restart brought the jails back");

    let off = Rc::new("jailctl_enable=\"NO\"\njailctl_program=\"/usr/local/sbin/jailctl\"\n");
    std::fs::write(
        off.dir.path().join("rc.conf"),
        format!(
            "jailctl_enable=\"NO\"\njailctl_program=\"{}\"\n",
            off.dir.path().join("jailctl-recorder").display()
        ),
    )
    .unwrap();
    let o = off.run(&["stop"]);
    assert!(stdout(&o).starts_with("Cannot 'stop' jailctl."), "{o:?}");
    assert!(off.calls().is_empty(), "{:?}", off.calls());
}

/// `jailctl_svcj=YES` in rc.conf does not wrap jailctl in a service jail (where it would
/// create no jail and still exit 0): the script forces it to NO with a warning, and jailctl
/// boots on the host. `svcj_all_enable=YES` applies to it neither, without a warning.
#[test]
fn service_jail_settings_do_not_apply_to_jailctl() {
    let rc = Rc::new("jailctl_enable=\"YES\"\njailctl_svcj=\"YES\"\n");
    let o = rc.run(&["start"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        rc.calls(),
        vec!["boot"],
        "no JAIL/SERVICE call, jailctl ran"
    );
    assert!(
        stderr(&o).contains("jailctl_svcj=\"YES\" is ignored"),
        "{}",
        stderr(&o)
    );
    let all = Rc::new("jailctl_enable=\"YES\"\nsvcj_all_enable=\"YES\"\n");
    for cmd in ["start", "stop", "status"] {
        let o = all.run(&[cmd]);
        assert!(o.status.success(), "{cmd}: {o:?}");
        assert_eq!(stderr(&o), "", "{cmd}");
    }
    assert_eq!(all.calls(), vec!["boot", "shutdown", "status"]);
}

/// The stand-in wraps a script that does not opt out in a service jail, as rc.subr does, so
/// the test above would catch rc.d/jailctl losing its `jailctl_svcj="NO"`.
#[test]
fn stand_in_wraps_start_in_a_service_jail_when_asked() {
    let rc = Rc::new("svcjprobe_svcj=\"YES\"\nsvcjprobe_enable=\"YES\"\n");
    let script = rc.dir.path().join("probe.rc");
    std::fs::write(
        &script,
        ". \"$JAILCTL_RC_SUBR\"\nname=svcjprobe\nrcvar=svcjprobe_enable\nload_rc_config $name\nstart_cmd=\"echo started\"\nstop_cmd=\"echo stopped\"\nrun_rc_command \"$@\"\n",
    )
    .unwrap();
    let o = rc.run_script(&script, &["start"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "", "start_cmd did not run on the host");
    let calls = rc.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("JAIL -c path=/ mount.nodevfs host=inherit exec.start="),
        "{calls:?}"
    );
    assert!(
        calls[0].contains(" SERVICE -E _rc_svcj=jailing svcjprobe start "),
        "{calls:?}"
    );
    assert!(calls[0].ends_with("name=svcj-svcjprobe"), "{calls:?}");
    // svcj_all_enable with the service's own variable empty: checkyesno warns.
    let all = Rc::new("svcj_all_enable=\"YES\"\nsvcjprobe_enable=\"YES\"\n");
    std::fs::copy(&script, all.dir.path().join("probe.rc")).unwrap();
    let o = all.run_script(&all.dir.path().join("probe.rc"), &["stop"]);
    assert!(
        stderr(&o).contains("$svcjprobe_svcj is not set properly - see rc.conf(5)."),
        "{o:?}"
    );
}

/// rcorder(8)'s order over FreeBSD 14's headers for the scripts that matter here, with
/// rc.d/jailctl's real header: every `BEFORE: X` becomes a requirement of X's providers,
/// files are visited in name order and each is printed after what it requires, as
/// sbin/rcorder/rcorder.c does. sysctl_lastload says `BEFORE: jail` only; jailctl must still
/// come after it (late sysctl.conf settings before any jail starts), and before securelevel.
#[test]
fn rcorder_puts_jailctl_after_sysctl_lastload_and_jail() {
    let jailctl = std::fs::read_to_string(Rc::root().join("rc.d/jailctl")).unwrap();
    // (file, PROVIDE, REQUIRE, BEFORE) as in FreeBSD 14's libexec/rc/rc.d.
    // (file, PROVIDE, REQUIRE, BEFORE)
    type Header = (String, Vec<String>, Vec<String>, Vec<String>);
    let mut files: Vec<Header> = [
        (
            "FILESYSTEMS",
            "FILESYSTEMS",
            "root mountcritlocal cleanvar zfs",
            "",
        ),
        ("NETWORKING", "NETWORKING NETWORK", "netif netwait", ""),
        ("DAEMON", "DAEMON", "NETWORKING SERVERS", ""),
        ("SERVERS", "SERVERS", "mountcritremote", ""),
        ("LOGIN", "LOGIN", "DAEMON", ""),
        ("zfs", "zfs", "zfsbe", "FILESYSTEMS var"),
        ("root", "root", "", ""),
        ("mountcritlocal", "mountcritlocal", "root", ""),
        ("cleanvar", "cleanvar", "var", ""),
        ("var", "var", "mountcritlocal", ""),
        ("zfsbe", "zfsbe", "mountcritlocal", ""),
        ("netif", "netif", "FILESYSTEMS", ""),
        ("netwait", "netwait", "NETWORKING", ""),
        ("mountcritremote", "mountcritremote", "NETWORKING", ""),
        ("jail", "jail", "LOGIN FILESYSTEMS", "securelevel"),
        ("sysctl_lastload", "sysctl_lastload", "LOGIN", "jail"),
        ("securelevel", "securelevel", "sysctl", ""),
        ("sysctl", "sysctl", "", ""),
    ]
    .iter()
    .map(|(f, p, r, b)| {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        (f.to_string(), w(p), w(r), w(b))
    })
    .collect();
    // netwait's real header has REQUIRE NETWORKING too; it is left out to keep the model
    // acyclic as rcorder's own output is (netwait provides, it is not required).
    files.retain(|f| f.0 != "netwait");
    for f in &mut files {
        if f.0 == "NETWORKING" {
            f.2.retain(|r| r != "netwait");
        }
    }
    let header = |key: &str| -> Vec<String> {
        jailctl
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}:")))
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    };
    files.push((
        "jailctl".into(),
        header("PROVIDE"),
        header("REQUIRE"),
        header("BEFORE"),
    ));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let n = files.len();
    // needs[i]: files that must come before file i.
    let mut needs: Vec<Vec<usize>> = vec![vec![]; n];
    for i in 0..n {
        for r in &files[i].2 {
            let providers: Vec<usize> = (0..n).filter(|&j| files[j].1.contains(r)).collect();
            assert!(
                !providers.is_empty(),
                "{}: requirement {r} has no providers",
                files[i].0
            );
            needs[i].extend(providers);
        }
        for b in &files[i].3 {
            for j in (0..n).filter(|&j| files[j].1.contains(b)) {
                needs[j].push(i);
            }
        }
    }
    fn visit(i: usize, needs: &[Vec<usize>], state: &mut [u8], out: &mut Vec<usize>) {
        match state[i] {
            2 => return,
            1 => panic!("rcorder cycle through file {i}"),
            _ => {}
        }
        state[i] = 1;
        for &j in &needs[i] {
            visit(j, needs, state, out);
        }
        state[i] = 2;
        out.push(i);
    }
    let mut state = vec![0u8; n];
    let mut order = vec![];
    for i in 0..n {
        visit(i, &needs, &mut state, &mut order);
    }
    let names: Vec<&str> = order.iter().map(|&i| files[i].0.as_str()).collect();
    let pos = |f: &str| names.iter().position(|n| *n == f).unwrap();
    assert!(pos("sysctl_lastload") < pos("jailctl"), "{names:?}");
    assert!(pos("jail") < pos("jailctl"), "{names:?}");
    assert!(pos("LOGIN") < pos("jailctl"), "{names:?}");
    assert!(pos("zfs") < pos("jailctl"), "{names:?}");
    assert!(pos("jailctl") < pos("securelevel"), "{names:?}");
}
