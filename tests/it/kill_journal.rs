//! SIGKILL at a random moment of `base create`, `base update`, `snapshot rollback` and
//! `destroy --volumes`, through the real binary on the simulated host, with latency injected
//! into the tools so the kill lands mid-run. After each kill the same command is run again:
//! it must succeed (finishing or undoing the killed run from its journal first), and the
//! whole simulated host must then be exactly what one clean run makes: datasets with their
//! properties, snapshots, jails, rctl rules, interfaces, mounts, and every file with its mode
//! and owner (snapshot names and creation times, jail ids, exec-hook history, lock files and
//! the empty journal directories aside). Base snapshots are named after the second they were
//! taken in, so snapshot names are replaced by their rank on their dataset.
//!
//! The seed is printed; `JAILCTL_KILL_SEED=N` replays a run, `JAILCTL_KILL_TRIALS=N` changes
//! the number of interrupted trials required per command (30 by default).

use super::support::sets::release_dir;
use super::support::{examples_config, history, host_with_base};
use jailctl_sim::SimHost;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// xorshift64*: small, seedable, good enough to spread kill times.
struct Rng(u64);

impl Rng {
    fn from_env(what: &str) -> Self {
        let seed = std::env::var("JAILCTL_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{what}: JAILCTL_KILL_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, max).
    fn below(&mut self, max: Duration) -> Duration {
        let us = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % us)
    }
}

fn trials() -> usize {
    std::env::var("JAILCTL_KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn cmd(sim: &Path, cfg: &Path, args: &[String], latency: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jailctl"));
    c.env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_LATENCY")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .env_remove("JAILCTL_SIM_DYING_COMMANDS")
        .arg("--simulate")
        .arg(sim)
        .arg("--config-dir")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(l) = latency {
        c.env("JAILCTL_SIM_LATENCY", l);
    }
    c
}

fn run(sim: &Path, cfg: &Path, args: &[String]) -> (bool, String) {
    let out = cmd(sim, cfg, args, None).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(sim: &Path, cfg: &Path, args: &[String]) {
    let (ok, err) = run(sim, cfg, args);
    assert!(ok, "jailctl {args:?} failed:\n{err}");
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(ToString::to_string).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Keys that differ between two runs that did the same thing.
const VOLATILE: &[&str] = &[
    "creation",
    "createtxg",
    "guid",
    "txg",
    "jid",
    "last_jid",
    "hooks",
    "fault_counts",
];

fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !VOLATILE.contains(&k.as_str()));
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Files under `dir`: relative path → mode and contents (or link target).
fn files(dir: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(rd) = std::fs::read_dir(dir.join(rel)) else {
        return;
    };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        let s = r.display().to_string();
        if s.ends_with("var/db/jailctl/locks") {
            continue;
        }
        let md = std::fs::symlink_metadata(dir.join(&r)).unwrap();
        let mode = format!(
            "{:o} {}:{}",
            md.permissions().mode() & 0o7777,
            md.uid(),
            md.gid()
        );
        if md.is_dir() {
            // jailctl's journal directories are made once and kept; files in them show.
            if !(s.ends_with("var/db/jailctl/journal")
                || s.ends_with("var/db/jailctl/journal/bases")
                || s.ends_with("var/db/jailctl/journal/rollback"))
            {
                out.insert(s, format!("dir {mode}"));
            }
            files(dir, &r, out);
        } else if md.file_type().is_symlink() {
            let t = std::fs::read_link(dir.join(&r)).unwrap();
            out.insert(s, format!("-> {}", t.display()));
        } else {
            let b = std::fs::read(dir.join(&r)).unwrap();
            out.insert(s, format!("{mode} {}", String::from_utf8_lossy(&b)));
        }
    }
}

/// The whole simulated host, with snapshot names replaced by their rank on their dataset
/// (base snapshots are named after the second they were taken in).
fn fingerprint(sim: &Path) -> String {
    let st = SimHost::open_with(sim, Default::default())
        .unwrap()
        .snapshot()
        .unwrap();
    let mut snaps: Vec<(String, u64)> = st
        .zfs
        .datasets
        .iter()
        .filter(|(n, _)| n.contains('@'))
        .map(|(n, d)| (n.clone(), d.createtxg))
        .collect();
    snaps.sort_by_key(|s| s.1);
    let mut rank: BTreeMap<String, usize> = BTreeMap::new();
    let mut renames = Vec::new();
    for (n, _) in &snaps {
        let (fs, _) = n.split_once('@').unwrap();
        let r = rank.entry(fs.to_string()).or_default();
        *r += 1;
        renames.push((n.clone(), format!("{fs}@#{r}")));
    }
    // Longest first, so no name is replaced inside a longer one.
    renames.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut v = serde_json::to_value(&st).unwrap();
    strip(&mut v);
    let mut f = BTreeMap::new();
    files(sim, Path::new("root"), &mut f);
    let mut snapfiles = BTreeMap::new();
    files(sim, Path::new("snapshots"), &mut snapfiles);
    // The simulator runs a tool inside jailctl's process, so a kill can stop it half-way
    // through copying a snapshot's files (a real zfs(8) is a process of its own and is not
    // killed with jailctl): files of a snapshot that does not exist are the simulator's
    // debris, not host state. Those of every existing snapshot are compared.
    for (k, v) in snapfiles {
        let name = k.trim_start_matches("snapshots/");
        let snap = match name.find('@') {
            Some(at) => match name[at..].find('/') {
                Some(slash) => &name[..at + slash],
                None => name,
            },
            None => "",
        };
        if snap.is_empty() || st.zfs.datasets.contains_key(snap) {
            f.insert(k, v);
        }
    }
    let mut text = format!(
        "{}\n{}",
        serde_json::to_string_pretty(&v).unwrap(),
        f.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (from, to) in &renames {
        text = text.replace(from.as_str(), to);
    }
    text
}

/// The first line where two fingerprints differ, for failure messages.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {i}:\n  got:      {x}\n  expected: {y}");
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

/// What one kill trial found.
#[derive(Default, Debug)]
struct Tally {
    /// Killed while running.
    interrupted: usize,
    /// Had already exited when the kill came (not counted as a trial).
    finished_first: usize,
    /// Interrupted trials that left a journal behind.
    with_journal: usize,
    /// Mutating commands the killed run had made, per interrupted trial.
    depth: Vec<usize>,
}

impl Tally {
    fn summary(&self, what: &str) -> String {
        let mut d = self.depth.clone();
        d.sort();
        format!(
            "{what}: {} interrupted trials ({} left a journal; host commands run before the kill: min {}, median {}, max {}), {} more finished before the kill",
            self.interrupted,
            self.with_journal,
            d.first().copied().unwrap_or(0),
            d.get(d.len() / 2).copied().unwrap_or(0),
            d.last().copied().unwrap_or(0),
            self.finished_first
        )
    }
}

const READS: &[&str] = &["list", "get", "jls", "-u"];

fn mutating_count(sim: &Path, from: usize) -> usize {
    history(sim)[from..]
        .iter()
        .filter(|h| {
            let tool = h.cmd.tool();
            let first = h.cmd.args.first().map(String::as_str).unwrap_or("");
            !(tool == "jls"
                || tool == "sysctl"
                || tool == "ifconfig" && h.cmd.args.len() <= 1
                || tool == "zfs" && READS.contains(&first)
                || tool == "rctl" && (h.cmd.args.len() == 1 || first == "-u")
                || tool == "mount" && h.cmd.args.is_empty())
        })
        .count()
}

fn journal_left(sim: &Path) -> bool {
    let j = sim.join("root/var/db/jailctl/journal");
    let mut f = BTreeMap::new();
    files(&j, Path::new(""), &mut f);
    f.keys().any(|k| k.ends_with(".json"))
}

/// Run `trial` until enough were interrupted; each gets a fresh host from `setup` and the
/// time to kill after.
struct Scenario<'a> {
    name: &'a str,
    /// Makes the host the command starts from (in the given directory).
    setup: &'a dyn Fn(&Path),
    cfg: &'a Path,
    command: Vec<String>,
    latency: &'a str,
    /// The state one clean run leaves, and (for a command that is not idempotent, `base
    /// update`) the state two clean runs leave.
    clean: String,
    clean_twice: Option<String>,
    /// For a command that refuses when already done (`base create`): the message.
    done_refusal: Option<&'a str>,
    /// How long one clean run with the latency takes.
    duration: Duration,
}

fn measure(
    name: &str,
    setup: &dyn Fn(&Path),
    cfg: &Path,
    command: &[String],
    latency: &str,
    twice: bool,
) -> (String, Option<String>, Duration) {
    let t = tempfile::tempdir().unwrap();
    let sim = t.path().join("clean");
    setup(&sim);
    let t0 = Instant::now();
    let out = cmd(&sim, cfg, command, Some(latency)).output().unwrap();
    let duration = t0.elapsed();
    assert!(
        out.status.success(),
        "{name}: the clean run failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clean = fingerprint(&sim);
    let clean_twice = twice.then(|| {
        ok(&sim, cfg, command);
        fingerprint(&sim)
    });
    (clean, clean_twice, duration)
}

fn kill_trials(s: &Scenario<'_>) -> Tally {
    let mut rng = Rng::from_env(s.name);
    let mut tally = Tally::default();
    let want = trials();
    let t = tempfile::tempdir().unwrap();
    let mut attempt = 0;
    while tally.interrupted < want {
        attempt += 1;
        assert!(
            attempt <= want * 3,
            "{}: too few kills landed mid-run: {tally:?}",
            s.name
        );
        let sim = t.path().join(format!("t{attempt}"));
        (s.setup)(&sim);
        let start = history(&sim).len();
        // The first quarter is mostly process start and reads: spread the kills over the rest.
        let wait = s.duration / 4 + rng.below(s.duration * 4 / 5);
        let mut child = cmd(&sim, s.cfg, &s.command, Some(s.latency))
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        let exited = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        let status = child.wait_with_output().unwrap();
        if exited {
            assert!(
                status.status.success(),
                "{} (attempt {attempt}): the run failed on its own:\n{}",
                s.name,
                String::from_utf8_lossy(&status.stderr)
            );
            tally.finished_first += 1;
            let _ = std::fs::remove_dir_all(&sim);
            continue;
        }
        tally.interrupted += 1;
        tally.depth.push(mutating_count(&sim, start));
        let journal = journal_left(&sim);
        if journal {
            tally.with_journal += 1;
        }
        // Had the killed run got to its end (only the exit was left)?
        let complete = !journal && fingerprint(&sim) == s.clean;
        let (rerun_ok, err) = run(&sim, s.cfg, &s.command);
        let expected = match (&s.clean_twice, s.done_refusal) {
            (Some(twice), _) if complete => twice,
            (_, Some(refusal)) if complete => {
                assert!(
                    !rerun_ok && err.contains(refusal),
                    "{} (attempt {attempt}, killed after {wait:?}): the run had finished; the same command again should say `{refusal}`:\n{err}",
                    s.name
                );
                &s.clean
            }
            _ => &s.clean,
        };
        if s.done_refusal.is_none() || !complete {
            assert!(
                rerun_ok,
                "{} (attempt {attempt}, killed after {wait:?}): the same command again failed:\n{err}",
                s.name
            );
        }
        let got = fingerprint(&sim);
        assert!(
            &got == expected,
            "{} (attempt {attempt}, killed after {wait:?}): the host differs from a clean run's: {}",
            s.name,
            first_difference(&got, expected)
        );
        let _ = std::fs::remove_dir_all(&sim);
    }
    eprintln!("{}", tally.summary(s.name));
    tally
}

fn config(t: &Path) -> PathBuf {
    let cfg = t.join("etc");
    examples_config(&cfg);
    cfg
}

#[test]
fn killed_base_create_is_undone_and_the_same_command_converges() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let rel = release_dir();
    let command = args(&[
        "base",
        "create",
        "14.2",
        "--from",
        rel.path().to_str().unwrap(),
    ]);
    let setup = |sim: &Path| std::fs::create_dir_all(sim).unwrap();
    let latency = "zfs=40ms";
    let (clean, _, duration) = measure("base create", &setup, &cfg, &command, latency, false);
    kill_trials(&Scenario {
        name: "base create",
        setup: &setup,
        cfg: &cfg,
        command,
        latency,
        clean,
        clean_twice: None,
        done_refusal: Some("already exists"),
        duration,
    });
}

#[test]
fn killed_base_update_is_undone_and_the_same_command_converges() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let (rel1, rel2) = (release_dir(), release_dir());
    let template = t.path().join("template");
    std::fs::create_dir_all(&template).unwrap();
    ok(
        &template,
        &cfg,
        &args(&[
            "base",
            "create",
            "14.2",
            "--from",
            rel1.path().to_str().unwrap(),
        ]),
    );
    // Base snapshots are named by the second: keep the update's out of the create's.
    std::thread::sleep(Duration::from_millis(1100));
    let command = args(&[
        "base",
        "update",
        "14.2",
        "--from",
        rel2.path().to_str().unwrap(),
    ]);
    let setup = |sim: &Path| copy_dir(&template, sim);
    let latency = "zfs=40ms";
    let (clean, twice, duration) = measure("base update", &setup, &cfg, &command, latency, true);
    kill_trials(&Scenario {
        name: "base update",
        setup: &setup,
        cfg: &cfg,
        command,
        latency,
        clean,
        clean_twice: twice,
        done_refusal: None,
        duration,
    });
}

/// The example `db` jail (a root and the volume `pgdata`), up.
fn db_up(template: &Path, cfg: &Path) {
    host_with_base(template);
    ok(template, cfg, &args(&["up", "db"]));
}

#[test]
fn killed_snapshot_rollback_is_finished_by_the_same_command() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let template = t.path().join("template");
    db_up(&template, &cfg);
    ok(
        &template,
        &cfg,
        &args(&["snapshot", "create", "db", "good"]),
    );
    ok(&template, &cfg, &args(&["down", "db"]));
    // Change files in the root and in the volume after the snapshot.
    let h = SimHost::open_with(&template, Default::default()).unwrap();
    let vol_mp =
        h.snapshot().unwrap().zfs.datasets["zroot/jailctl/volumes/db/pgdata"].props["mountpoint"]
            .clone();
    use jailctl::host::HostFs;
    for p in [
        "/usr/local/jails/db/etc/motd".to_string(),
        format!("{vol_mp}/x"),
    ] {
        let local = h.local_path(Path::new(&p));
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        std::fs::write(&local, b"changed after the snapshot\n").unwrap();
    }
    let before = fingerprint(&template);
    let command = args(&["snapshot", "rollback", "db", "good", "--yes"]);
    let setup = |sim: &Path| copy_dir(&template, sim);
    let latency = "zfs=60ms";
    let (clean, _, duration) = measure("snapshot rollback", &setup, &cfg, &command, latency, false);
    for changed in ["etc/motd: ", "/x: "] {
        assert!(
            before
                .lines()
                .any(|l| l.contains(changed) && l.contains("changed after")),
            "{changed} was not changed in the root or volume"
        );
        assert!(
            !clean
                .lines()
                .any(|l| l.contains(changed) && l.contains("changed after")),
            "the rollback did not bring back {changed}"
        );
    }
    kill_trials(&Scenario {
        name: "snapshot rollback",
        setup: &setup,
        cfg: &cfg,
        command,
        latency,
        clean,
        clean_twice: None,
        done_refusal: None,
        duration,
    });
}

#[test]
fn killed_destroy_is_undone_or_finished_by_the_same_command() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let template = t.path().join("template");
    db_up(&template, &cfg);
    let command = args(&["destroy", "db", "--volumes", "--yes"]);
    let setup = |sim: &Path| copy_dir(&template, sim);
    let latency = "zfs=40ms,jail=40ms,rctl=20ms,jls=10ms";
    let (clean, _, duration) = measure("destroy --volumes", &setup, &cfg, &command, latency, false);
    kill_trials(&Scenario {
        name: "destroy --volumes",
        setup: &setup,
        cfg: &cfg,
        command,
        latency,
        clean,
        clean_twice: None,
        done_refusal: None,
        duration,
    });
}

/// A `snapshot rollback` killed part-way leaves the root and the volume at different points
/// in time. `up` of that jail finishes the rollback first (under the jail's lock, which the
/// rollback takes too), and its preview says it would: a jail never starts on a root rolled
/// back in part.
#[test]
fn up_finishes_an_interrupted_rollback_before_starting_the_jail() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let sim = t.path().join("sim");
    db_up(&sim, &cfg);
    ok(&sim, &cfg, &args(&["snapshot", "create", "db", "good"]));
    ok(&sim, &cfg, &args(&["down", "db"]));
    let h = SimHost::open_with(&sim, Default::default()).unwrap();
    let vol_mp =
        h.snapshot().unwrap().zfs.datasets["zroot/jailctl/volumes/db/pgdata"].props["mountpoint"]
            .clone();
    use jailctl::host::HostFs;
    let changed = h.local_path(Path::new(&format!("{vol_mp}/x")));
    std::fs::write(&changed, b"changed after the snapshot\n").unwrap();
    let snap = h
        .snapshot()
        .unwrap()
        .zfs
        .datasets
        .keys()
        .find_map(|k| {
            k.strip_prefix("zroot/jailctl/jails/db@")
                .map(str::to_string)
        })
        .expect("the snapshot was taken");
    // What a rollback killed after the root's `zfs rollback` leaves: its journal.
    let journal = sim.join("root/var/db/jailctl/journal/rollback/db.json");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::fs::write(
        &journal,
        format!(
            r#"{{"snapshot":"{snap}","datasets":["zroot/jailctl/jails/db","zroot/jailctl/volumes/db/pgdata"],"force":false}}"#
        ),
    )
    .unwrap();

    let before = fingerprint(&sim);
    let (ok_dry, err) = run(&sim, &cfg, &args(&["up", "db", "--dry-run"]));
    assert!(ok_dry, "{err}");
    assert!(
        err.contains(&format!(
            "zfs rollback zroot/jailctl/volumes/db/pgdata@{snap}"
        )) && err.contains(&format!(
            "interrupted `jailctl snapshot rollback db {snap}`"
        )),
        "the preview does not say it would finish the rollback:\n{err}"
    );
    assert_eq!(fingerprint(&sim), before, "the preview changed the host");

    let from = history(&sim).len();
    let (ok_up, err) = run(&sim, &cfg, &args(&["up", "db"]));
    assert!(ok_up, "{err}");
    let ran: Vec<String> = history(&sim)[from..]
        .iter()
        .map(super::support::line)
        .collect();
    let rolled = ran
        .iter()
        .position(|l| *l == format!("zfs rollback zroot/jailctl/volumes/db/pgdata@{snap}"))
        .unwrap_or_else(|| panic!("no rollback of the volume: {ran:#?}"));
    let started = ran
        .iter()
        .position(|l| l.starts_with("jail ") && l.ends_with("-c db"))
        .unwrap_or_else(|| panic!("db was not started: {ran:#?}"));
    assert!(
        rolled < started,
        "started before the rollback was finished: {ran:#?}"
    );
    assert!(!changed.exists(), "the volume's change is still there");
    assert!(!journal.exists(), "the rollback journal is still there");
}

/// Poll until `done` holds (at most 30 s).
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what}: not within 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ran(sim: &Path, prefix: &str) -> bool {
    history(sim)
        .iter()
        .any(|h| super::support::line(h).starts_with(prefix) && h.status == 0)
}

/// Killed after the root's `zfs destroy -r`: the run is past its point of no return, so the
/// next run finishes it (destroys the volume) instead of restoring jail.conf and failing to
/// start a jail whose root is gone.
#[test]
fn destroy_killed_after_the_root_is_gone_is_finished_not_undone() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let sim = t.path().join("sim");
    db_up(&sim, &cfg);
    let mut child = cmd(
        &sim,
        &cfg,
        &args(&["destroy", "db", "--volumes", "--yes"]),
        Some("zfs=400ms"),
    )
    .spawn()
    .unwrap();
    wait_until("the root's zfs destroy", || {
        ran(&sim, "zfs destroy -r zroot/jailctl/jails/db")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let st = SimHost::open_with(&sim, Default::default())
        .unwrap()
        .snapshot()
        .unwrap();
    assert!(
        st.zfs
            .datasets
            .contains_key("zroot/jailctl/volumes/db/pgdata")
    );
    let journal = std::fs::read_to_string(sim.join("root/var/db/jailctl/journal/db.json")).unwrap();
    assert!(journal.contains("\"forward\""), "{journal}");

    let before = history(&sim).len();
    let (ok, err) = run(&sim, &cfg, &args(&["destroy", "db", "--volumes", "--yes"]));
    assert!(ok, "{err}");
    assert!(
        err.contains("finished rather than undone")
            && err.contains("zfs destroy -r zroot/jailctl/volumes/db/pgdata"),
        "{err}"
    );
    let after: Vec<String> = history(&sim)[before..]
        .iter()
        .map(super::support::line)
        .collect();
    assert!(
        !after.iter().any(|l| l.starts_with("jail ")),
        "no jail was started again: {after:?}"
    );
    let st = SimHost::open_with(&sim, Default::default())
        .unwrap()
        .snapshot()
        .unwrap();
    assert!(
        !st.zfs
            .datasets
            .keys()
            .any(|d| d.starts_with("zroot/jailctl/jails/db") || d.contains("/volumes/db/")),
        "{:?}",
        st.zfs.datasets.keys().collect::<Vec<_>>()
    );
    assert!(!journal_left(&sim));
}

/// Killed after its last `zfs destroy`, before it removed its journal: everything is gone,
/// so there is nothing left to plan, but the journal must still be finished by the same
/// command, not reported as pending by its preview and left behind ("nothing to destroy").
#[test]
fn destroy_killed_after_its_last_step_removes_the_journal() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let sim = t.path().join("sim");
    db_up(&sim, &cfg);
    ok(&sim, &cfg, &args(&["destroy", "db", "--volumes", "--yes"]));
    // The journal such a run leaves (as a kill at that point left it in the kill series).
    let destroy = |d: &str| format!(r#"{{"program":"/sbin/zfs","args":["destroy","-r","{d}"]}}"#);
    let (root, vol) = ("zroot/jailctl/jails/db", "zroot/jailctl/volumes/db/pgdata");
    let journal = format!(
        r#"{{"run":"1.0-1","entries":[{{"seq":5,"what":"/sbin/zfs destroy -r {root}","state":"done","undo":[]}},{{"seq":6,"what":"/sbin/zfs destroy -r {vol}","state":"done","undo":[]}}],"forward":[{},{}],"forward_seq":5}}"#,
        destroy(root),
        destroy(vol)
    );
    let path = sim.join("root/var/db/jailctl/journal/db.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, journal).unwrap();
    let (ok, err) = run(&sim, &cfg, &args(&["destroy", "db", "--volumes", "--yes"]));
    assert!(ok, "{err}");
    assert!(err.contains("finished rather than undone"), "{err}");
    assert!(!journal_left(&sim), "the journal is still there:\n{err}");
}

/// Killed after jail.conf was removed but before any dataset was destroyed: the next run
/// undoes, and jail.conf comes back with the mode it had (0600), not the op's default.
#[test]
fn destroy_killed_before_its_point_of_no_return_restores_jail_conf_exactly() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let sim = t.path().join("sim");
    db_up(&sim, &cfg);
    let conf = sim.join("root/var/run/jailctl/db.conf");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let (mode0, text0) = (mode(&conf), std::fs::read(&conf).unwrap());
    assert_eq!(mode0, 0o600);
    // jls(8) is slow: the kill lands while destroy waits for the stopped jail to be gone.
    let mut child = cmd(
        &sim,
        &cfg,
        &args(&["destroy", "db", "--volumes", "--yes"]),
        Some("jls=600ms"),
    )
    .spawn()
    .unwrap();
    wait_until("jail.conf removed", || !conf.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    let (ok, err) = run(&sim, &cfg, &args(&["down", "db"]));
    assert!(ok, "{err}");
    assert!(err.contains("finished the undo"), "{err}");
    assert_eq!(std::fs::read(&conf).unwrap(), text0);
    assert_eq!(mode(&conf), mode0, "jail.conf comes back with its own mode");
}

/// Concurrent `base update`s of one base (different releases, slow zfs so they would
/// interleave) take turns under the base's lock: all succeed, and every snapshot's recorded
/// `jailctl:source` names the release whose files it holds.
#[test]
fn concurrent_base_updates_each_snapshot_holds_the_source_it_records() {
    use super::support::sets::marked_release_dir;
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let sim = t.path().join("sim");
    std::fs::create_dir_all(&sim).unwrap();
    let first = marked_release_dir("release-0");
    ok(
        &sim,
        &cfg,
        &args(&[
            "base",
            "create",
            "b",
            "--from",
            first.path().to_str().unwrap(),
        ]),
    );
    let rels: Vec<(String, tempfile::TempDir)> = (1..=4)
        .map(|i| {
            let m = format!("release-{i}");
            let d = marked_release_dir(&m);
            (m, d)
        })
        .collect();
    let children: Vec<_> = rels
        .iter()
        .map(|(_, d)| {
            cmd(
                &sim,
                &cfg,
                &args(&["base", "update", "b", "--from", d.path().to_str().unwrap()]),
                Some("zfs=30ms"),
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let st = SimHost::open_with(&sim, Default::default())
        .unwrap()
        .snapshot()
        .unwrap();
    let mark_of: BTreeMap<String, String> = std::iter::once(("release-0".to_string(), &first))
        .chain(rels.iter().map(|(m, d)| (m.clone(), d)))
        .map(|(m, d)| (d.path().display().to_string(), m))
        .collect();
    let snaps: Vec<(&String, &jailctl_sim::zfs::SimDataset)> = st
        .zfs
        .datasets
        .iter()
        .filter(|(n, _)| n.starts_with("zroot/jailctl/bases/b@"))
        .collect();
    assert_eq!(snaps.len(), 5, "one snapshot per run");
    let mut seen = Vec::new();
    for (name, d) in snaps {
        let source = d.props["jailctl:source"].trim_end_matches('/').to_string();
        let want = mark_of
            .iter()
            .find(|(dir, _)| source.ends_with(dir.as_str()) || dir.ends_with(&source))
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("{name}: unknown source {source}"));
        let held = std::fs::read_to_string(sim.join("snapshots").join(name).join("etc/marker"))
            .unwrap_or_else(|e| panic!("{name}: no etc/marker: {e}"));
        assert_eq!(held, want, "{name} records {source} but holds {held}");
        seen.push(want);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "release-0",
            "release-1",
            "release-2",
            "release-3",
            "release-4"
        ]
    );
}

#[test]
fn killed_base_destroy_is_finished_by_the_same_command() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path());
    let rel = release_dir();
    let template = t.path().join("template");
    std::fs::create_dir_all(&template).unwrap();
    ok(
        &template,
        &cfg,
        &args(&[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ]),
    );
    let command = args(&["base", "destroy", "14.2", "--yes"]);
    let setup = |sim: &Path| copy_dir(&template, sim);
    let latency = "zfs=40ms";
    let (clean, _, duration) = measure("base destroy", &setup, &cfg, &command, latency, false);
    kill_trials(&Scenario {
        name: "base destroy",
        setup: &setup,
        cfg: &cfg,
        command,
        latency,
        clean,
        clean_twice: None,
        done_refusal: Some("does not exist"),
        duration,
    });
}
