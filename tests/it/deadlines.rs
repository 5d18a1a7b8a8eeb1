//! Deadlines through the real binary on the simulated host: a `jail -c` that hangs (a
//! `JAILCTL_SIM_HANG` rule) fails once its configured deadline has passed, not later, with a
//! message that names the command, the deadline and the setting; the run's undo puts the host
//! back as it was; a run without the hang then succeeds. A deadline of 0 is refused.

use super::support::{examples_config, host_state, host_with_base};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn jailctl(sim: &Path, cfg: &Path, args: &[&str], hang: Option<&str>) -> Command {
    let mut c = crate::support::jailctl_loud(sim, cfg);
    c.args(args);
    if let Some(h) = hang {
        c.env("JAILCTL_SIM_HANG", h);
    }
    c
}

/// The text without miette's wrapping (line breaks, the `│` gutter and blanks).
fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

fn with_deadlines(cfg: &Path, table: &str) {
    let p = cfg.join("jailctl.toml");
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(&format!("\n[deadlines]\n{table}\n"));
    std::fs::write(p, text).unwrap();
}

#[test]
fn a_hung_jail_start_fails_at_its_deadline_and_is_undone() {
    hung_start_is_undone("jail -f /var/run/jailctl/resolver.conf -c resolver");
}

/// jail(8) itself waits on a hung `ifconfig` it runs: the `jail -c` is what times out, after
/// part of its work; the undo of the run takes back the rest.
#[test]
fn a_hang_inside_jail_c_fails_jail_c_at_its_deadline_and_is_undone() {
    hung_start_is_undone("ifconfig em0 inet 192.168.1.23/24 alias");
}

fn hung_start_is_undone(hang: &str) {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    with_deadlines(&cfg, "jail = \"1s\"");
    let before = host_state(&s);

    let t0 = Instant::now();
    let out = jailctl(&s, &cfg, &["up", "resolver"], Some(hang))
        .output()
        .unwrap();
    let took = t0.elapsed();
    eprintln!("up with a hung `{hang}` (jail deadline 1s) failed after {took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    // The deadline, plus the rest of a short run (clone, files, undo) on a busy machine.
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(20),
        "took {took:?}"
    );
    assert!(
        flat(&err).contains(&flat("`/usr/sbin/jail -f /var/run/jailctl/resolver.conf -c resolver` did not finish within its deadline of 1s and was killed"))
            && flat(&err).contains(&flat("raise `[deadlines] jail` in jailctl.toml")),
        "{err}"
    );
    assert!(flat(&err).contains(&flat("the host is as before")), "{err}");
    assert_eq!(
        host_state(&s),
        before,
        "the failed run left changes:\n{err}"
    );
    assert!(!s.join("root/var/db/jailctl/journal/resolver.json").exists());

    let again = jailctl(&s, &cfg, &["up", "resolver"], None)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn deadlines_are_validated() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("etc");
    examples_config(&cfg);
    with_deadlines(&cfg, "zfs = \"0s\"\nzfss = \"1m\"\njail = \"soon\"");
    let out = jailctl(&t.path().join("sim"), &cfg, &["validate"], None)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let f = flat(&err);
    assert!(f.contains(&flat("deadlines.zfs: a deadline of 0")), "{err}");
    assert!(
        f.contains(&flat("unknown key \"zfss\" in [deadlines]")),
        "{err}"
    );
    assert!(f.contains(&flat("\"soon\" is not a duration")), "{err}");
}

#[test]
fn a_hung_health_probe_is_killed_at_its_timeout() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    let jail = cfg.join("jails/resolver.toml");
    let mut text = std::fs::read_to_string(&jail).unwrap();
    text.push_str(
        "\n[health]\ncommand = [\"/usr/bin/true\"]\ntimeout = \"300ms\"\ninterval = \"10ms\"\nretries = 1\n",
    );
    std::fs::write(&jail, text).unwrap();
    let t0 = Instant::now();
    let out = jailctl(
        &s,
        &cfg,
        &["boot", "resolver"],
        Some("jexec resolver /usr/bin/true"),
    )
    .output()
    .unwrap();
    let took = t0.elapsed();
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        flat(&err).contains(&flat("did not answer within 300ms and was killed")),
        "{err}"
    );
    // The probe is in the history as killed (128 + SIGKILL), not left running.
    let probes: Vec<i32> = super::support::history(&s)
        .iter()
        .filter(|h| {
            h.cmd.program == "/usr/sbin/jexec"
                && h.cmd.args.last().is_some_and(|a| a == "/usr/bin/true")
        })
        .map(|h| h.status)
        .collect();
    assert!(
        !probes.is_empty() && probes.iter().all(|s| *s == 137),
        "{probes:?}"
    );
}

#[test]
fn validate_warns_when_hooks_may_outlast_the_jail_deadline() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("etc");
    examples_config(&cfg);
    // The examples' [defaults.params] set exec.timeout = 120: with the default 10 min
    // deadline there is room; with 2 min a single hook could use all of it.
    let quiet = jailctl(&t.path().join("sim"), &cfg, &["validate"], None)
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("deadline"),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    with_deadlines(&cfg, "jail = \"2m\"");
    let out = jailctl(&t.path().join("sim"), &cfg, &["validate"], None)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a warning must not fail validate: {err}"
    );
    assert!(
        err.contains("warning: jail resolver: exec.timeout = 120")
            && err.contains("over the `jail` deadline of 2m")
            && err.contains("raise [deadlines] jail in jailctl.toml to at least"),
        "{err}"
    );
}
