//! Real `jailctl up` processes against one simulated host: a run killed with SIGKILL in the
//! middle is undone by the next run from its journal, and two runs serialize on the same jail
//! but not on different jails. A slow step is made with latency injection
//! (`JAILCTL_SIM_LATENCY`, per process), and the tests wait on the host's command history,
//! not on the clock.

use super::support::{examples_config, history, host_with_base, line};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(sim: &Path, cfg: &Path, args: &[&str], latency: Option<&str>) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jailctl"));
    c.env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_LATENCY")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .arg("--simulate")
        .arg(sim)
        .arg("--config-dir")
        .arg(cfg)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(l) = latency {
        c.env("JAILCTL_SIM_LATENCY", l);
    }
    c.spawn().unwrap()
}

/// Wait until the host's history has a command line starting with `prefix`.
fn wait_for(sim: &Path, prefix: &str) {
    let t0 = Instant::now();
    while !history(sim).iter().any(|h| line(h).starts_with(prefix)) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no `{prefix}` ran within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn setup(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (s, cfg) = (root.join("sim"), root.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    (s, cfg)
}

fn finish(c: Child) -> (bool, String) {
    let out = c.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_run_killed_mid_way_is_undone_by_the_next_one() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    // jail(8) is slow: the kill lands while `jail -c` waits, after the clone and the files.
    let mut a = spawn(&s, &cfg, &["up", "resolver"], Some("jail=30s"));
    wait_for(&s, "zfs clone ");
    let journal = s.join("root/var/db/jailctl/journal/resolver.json");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("jail -f")) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "journal never reached jail -c"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    assert!(journal.exists(), "a killed run leaves its journal");

    let before = history(&s).len();
    let b = spawn(&s, &cfg, &["up", "resolver"], None);
    let (ok, err) = finish(b);
    assert!(ok, "{err}");
    assert!(
        err.contains("finished the undo of an interrupted run"),
        "{err}"
    );
    assert!(!journal.exists());
    let run: Vec<String> = history(&s)[before..].iter().map(line).collect();
    let undo = run
        .iter()
        .position(|l| l == "zfs destroy -r zroot/jailctl/jails/resolver")
        .unwrap_or_else(|| panic!("no undo of the clone: {run:?}"));
    let clone = run
        .iter()
        .position(|l| l.starts_with("zfs clone "))
        .unwrap();
    assert!(undo < clone, "{run:?}");
    assert!(
        run.iter()
            .any(|l| l == "jail -f /var/run/jailctl/resolver.conf -c resolver")
    );
}

#[test]
fn runs_on_the_same_jail_serialize_and_on_different_jails_do_not() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    // A holds resolver's lock while its `jail -c` sleeps 3 s.
    let mut a = spawn(&s, &cfg, &["up", "resolver"], Some("jail=3s"));
    wait_for(&s, "zfs clone ");
    // A run on another jail finishes while A still sleeps.
    let (ok, err) = finish(spawn(&s, &cfg, &["up", "cache"], None));
    assert!(ok, "{err}");
    assert!(
        a.try_wait().unwrap().is_none(),
        "the run on resolver ended before the one on cache: they blocked each other"
    );
    // A second run on resolver waits for A's lock, then has nothing left to do.
    let b = spawn(&s, &cfg, &["up", "resolver"], None);
    let (ok_b, err_b) = finish(b);
    // A lets go of the lock as its run ends, then prints and exits: on a loaded machine B
    // can finish a moment before A's process is gone. Had B not waited, A would still be
    // in its `jail -c` for seconds.
    let t0 = Instant::now();
    while a.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        a.try_wait().unwrap().is_some(),
        "the second run on resolver finished (ok: {ok_b}) more than a second before the first ended:\n{err_b}"
    );
    assert!(ok_b, "{err_b}");
    assert!(
        err_b.contains("locked by another jailctl; waiting"),
        "{err_b}"
    );
    let (ok_a, err_a) = finish(a);
    assert!(ok_a, "{err_a}");
    let clones = history(&s)
        .iter()
        .filter(|h| line(h).starts_with("zfs clone ") && line(h).ends_with("/resolver"))
        .count();
    assert_eq!(clones, 1);
}
