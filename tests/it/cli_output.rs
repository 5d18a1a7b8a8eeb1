//! What the command line prints, through the real binary on the example fleet: every read
//! command into a closed pipe ends quietly (no panic, SIGPIPE's status), output to a file has
//! no escape codes, error reports are not wrapped inside dataset names, and exit statuses
//! tell an invalid configuration from a refusal and a host failure.

use crate::support::{examples_config, host_with_base, jailctl};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The examples up and running on a fresh simulated host.
pub fn fleet_up(t: &Path) -> (PathBuf, PathBuf) {
    let (s, c) = (t.join("sim"), t.join("cfg"));
    host_with_base(&s);
    examples_config(&c);
    jailctl(&s, &c).args(["up", "--all"]).assert().success();
    (s, c)
}

/// Run with standard output a pipe whose reading end is already closed.
fn into_closed_pipe(s: &Path, c: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("jailctl"));
    let out = cmd
        .env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .arg("-q")
        .arg("--simulate")
        .arg(s)
        .arg("--config-dir")
        .arg(c)
        .args(args)
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_read_command_into_a_closed_pipe_ends_quietly() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = fleet_up(t.path());
    jailctl(&s, &c)
        .args(["snapshot", "create", "db", "before"])
        .assert()
        .success();
    for args in [
        &["show", "web"][..],
        &["show", "web", "--json"],
        &["list"],
        &["list", "--json"],
        &["status"],
        &["status", "--json"],
        &["status", "web"],
        &["render", "web"],
        &["plan"],
        &["plan", "--json"],
        &["snapshot", "list", "db"],
        &["base", "list"],
        &["validate"],
        &["completions", "bash"],
        &["man"],
        &["doctor"],
        &["doctor", "--json"],
    ] {
        let (status, err) = into_closed_pipe(&s, &c, args);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        // Killed by SIGPIPE at the first write; `validate -q` writes nothing and succeeds.
        let sigpipe = status.signal() == Some(nix::sys::signal::Signal::SIGPIPE as i32);
        let silent_ok = args == ["validate"] && status.success();
        assert!(
            sigpipe || silent_ok,
            "{args:?} ended with {status:?}: {err}"
        );
    }
}

fn has_escape(b: &[u8]) -> bool {
    b.contains(&0x1b)
}

#[test]
fn output_to_a_file_has_no_escape_codes_and_logs_no_module_paths() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = fleet_up(t.path());
    for args in [
        &["list"][..],
        &["status"],
        &["show", "web"],
        &["plan"],
        &["-v", "up", "web"],
        &["show", "nosuchjail"],
        &["down", "db"],
    ] {
        let out = jailctl(&s, &c)
            .args(args)
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        assert!(!has_escape(&out.stdout), "{args:?}: {:?}", out.stdout);
        assert!(
            !has_escape(&out.stderr),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("jailctl::"), "{args:?}: {err}");
    }
    // A log line (a stray file in jails/ is a warning): plain words, no colour, no module.
    std::fs::write(c.join("jails/README.txt"), "notes\n").unwrap();
    let out = loud(&s, &c)
        .args(["validate"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARN ignoring ") && err.contains("README.txt: jail definitions end in .toml"),
        "{err}"
    );
    assert!(!has_escape(&out.stderr), "{err}");
    assert!(!err.contains("jailctl::"), "{err}");
}

#[test]
fn exit_statuses_tell_config_refusal_and_host_failure_apart() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = fleet_up(t.path());
    // Unknown jail: the configuration does not define it.
    jailctl(&s, &c).args(["show", "nosuch"]).assert().code(3);
    // A broken definition.
    std::fs::write(c.join("jails/bad.toml"), "hostname = 5\n").unwrap();
    jailctl(&s, &c).args(["up", "bad"]).assert().code(3);
    std::fs::remove_file(c.join("jails/bad.toml")).unwrap();
    // A refusal: rollback of a running jail.
    jailctl(&s, &c)
        .args(["snapshot", "create", "db", "x"])
        .assert()
        .success();
    jailctl(&s, &c)
        .args(["snapshot", "rollback", "db", "x", "--yes"])
        .assert()
        .code(4);
    // Off FreeBSD without --simulate: jailctl refuses to touch this machine.
    if !cfg!(target_os = "freebsd") {
        assert_cmd::Command::cargo_bin("jailctl")
            .unwrap()
            .env_remove("JAILCTL_SIMULATE")
            .arg("--config-dir")
            .arg(&c)
            .arg("list")
            .assert()
            .code(4);
    }
    // Command line errors keep clap's 2.
    jailctl(&s, &c)
        .args(["up", "--no-such-flag"])
        .assert()
        .code(2);
    // A failing host command: an injected zfs failure.
    let out = jailctl(&s, &c)
        .env("JAILCTL_SIM_FAULTS", "zfs snapshot *|1|1|cannot create snapshot 'zroot/jailctl/jails/db@jailctl-y': out of space")
        .args(["snapshot", "create", "db", "y"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_long_error_is_not_wrapped_inside_a_dataset_name() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = fleet_up(t.path());
    jailctl(&s, &c)
        .args([
            "snapshot",
            "create",
            "db",
            "a-rather-long-snapshot-name-to-push-the-line",
        ])
        .assert()
        .success();
    let out = jailctl(&s, &c)
        .args([
            "snapshot",
            "create",
            "db",
            "a-rather-long-snapshot-name-to-push-the-line",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    // jailctl's own words, not zfs's, with the label whole on one line.
    assert!(
        err.lines().any(|l| l
            .contains("already has a snapshot \"a-rather-long-snapshot-name-to-push-the-line\"")),
        "{err}"
    );
    assert!(!err.contains("cannot create snapshot"), "{err}");
    assert_eq!(out.status.code(), Some(4), "{err}");
    // A host error naming a long dataset is printed whole on one line.
    let long = "zroot/jailctl/jails/db@jailctl-another-quite-long-label-for-the-wrap-test";
    let out = jailctl(&s, &c)
        .env(
            "JAILCTL_SIM_FAULTS",
            format!("zfs snapshot *|1|1|cannot create snapshot '{long}': dataset is busy"),
        )
        .args([
            "snapshot",
            "create",
            "db",
            "another-quite-long-label-for-the-wrap-test",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().any(|l| l.contains(long)), "{err}");
}

/// `jailctl` on the simulated host without `-q`.
fn loud(s: &Path, c: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("jailctl").unwrap();
    cmd.env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .arg("--simulate")
        .arg(s)
        .arg("--config-dir")
        .arg(c);
    cmd
}

#[test]
fn a_requested_stop_and_a_boot_of_running_jails_say_what_happens() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = fleet_up(t.path());
    // web's health check runs the base system's fetch, which this test base lacks.
    let bin = s.join("root/usr/local/jails/web/usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("fetch"), "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("fetch"), std::fs::Permissions::from_mode(0o555)).unwrap();
    // Every jail is running: boot checks them and says so, it does not "start" them.
    let boot = {
        let o = loud(&s, &c).arg("boot").output().unwrap();
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(boot.contains("web: already running"), "{boot}");
    assert!(!boot.contains("starting"), "{boot}");
    assert!(!boot.contains("started"), "{boot}");
    // down (without -q): the reason is that it runs, not its rctl rules.
    let o = loud(&s, &c).args(["down", "web"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("web: stop\n    because it is running\n"),
        "{out}"
    );
    assert!(!out.contains("outlive"), "{out}");
}

/// `-v` tells the story of a run by jail and step, `-vv` adds every host command with its
/// exit status inside the step that ran it; on the simulated host as on the real one.
#[test]
fn verbose_output_tells_the_story_by_jail_and_step() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    let run = |v: &str| {
        let out = crate::support::jailctl_loud(&s, &cfg)
            .env("NO_COLOR", "1")
            .args([v, "up", "cache"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let v = run("-v");
    assert!(
        v.lines()
            .any(|l| l.contains("apply{jail=cache step=") && l.contains("start jail cache")),
        "{v}"
    );
    assert!(!v.contains("DEBUG"), "{v}");
    crate::support::jailctl(&s, &cfg)
        .args(["down", "cache"])
        .assert()
        .success();
    let vv = run("-vv");
    let start = vv
        .lines()
        .position(|l| l.contains("apply{jail=cache step=") && l.contains("run cmd=/usr/sbin/jail "))
        .unwrap_or_else(|| panic!("no jail(8) command inside a step:\n{vv}"));
    assert!(
        vv.lines()
            .nth(start + 1)
            .is_some_and(|l| l.contains("apply{jail=cache step=") && l.contains("exit status=0")),
        "{vv}"
    );
}
