//! Crash tests through the real binary: a command runs on a simulated host with injected
//! latency (so its steps are spread over a second or more), is killed with SIGKILL at a
//! random moment, and is then run again to completion. The second run must succeed and leave
//! the host exactly as a run that was never interrupted leaves it: the whole host's
//! fingerprint (`support::fingerprint`), not a few chosen facts.
//!
//! Scenarios: `up --all` of a fresh host; `boot` of a host whose jails exist but are stopped
//! (the usual boot, after `shutdown`); `boot` of a fresh host (the first boot). The fleet is
//! the four shipped examples plus jails with a volume, nullfs mounts, an alias address and
//! two VNET jails (one with a pool address), with dependencies between them.
//!
//! The kill moment is uniform within the measured duration of a clean run; the seed is
//! printed, and `JAILCTL_KILL_SEED=N` repeats a series (the interleaving of parallel steps
//! still varies with the machine's load). `JAILCTL_KILL_TRIALS=N` changes the number of
//! trials (default 30), `JAILCTL_KILL_KEEP=1` keeps the host directories of failed trials.
//! Every trial is counted and the test fails on any failure, listing each with its seed,
//! the last command the killed run made, and what differed.

use crate::support::{TestHost, fingerprint::Fingerprint};
use std::path::Path;
use std::time::{Duration, Instant};

/// Per-tool latency for the killed run: enough that a kill lands between steps rather than
/// always before the first or after the last, small enough for ~30 trials in tens of seconds.
const LATENCY: &str = "zfs=10ms,jail=20ms,jexec=10ms,jls=2ms,ifconfig=5ms,mount=5ms,umount=5ms,rctl=3ms,cpuset=3ms,pkg=10ms,sysctl=1ms";

/// splitmix64: a small seeded generator, enough for choosing kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, max)`.
    fn below(&mut self, max: Duration) -> Duration {
        let us = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % us)
    }
}

fn base_seed() -> u64 {
    match std::env::var("JAILCTL_KILL_SEED") {
        Ok(s) => s.trim().parse().expect("JAILCTL_KILL_SEED: a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

fn trials() -> usize {
    std::env::var("JAILCTL_KILL_TRIALS")
        .map(|s| s.trim().parse().expect("JAILCTL_KILL_TRIALS: a number"))
        .unwrap_or(30)
}

/// Jails beyond the four examples: a volume, nullfs mounts (one read-only), an alias
/// address, two VNET jails on the examples' bridge0 (the second takes the next pool address,
/// after the first, so both runs give it the same one).
fn add_fleet(h: &TestHost) {
    h.jail(
        "vol1",
        r#"extends = "minimal"
[network]
mode = "alias"
interface = "em0"
ip4 = ["192.168.1.31/24"]
[[volumes]]
name = "data"
target = "/data"
quota = "1G"
"#,
    );
    h.jail(
        "mnt1",
        r#"extends = "minimal"
depends_on = ["vol1"]
[[mounts]]
source = "/srv/a"
target = "/mnt/a"
[[mounts]]
source = "/srv/b"
target = "/mnt/b"
read_only = true
"#,
    );
    h.jail(
        "vnet1",
        r#"extends = "vnet"
[network]
mode = "vnet"
bridge = "bridge0"
ip4 = ["10.20.0.11/24"]
"#,
    );
    h.jail(
        "vnet2",
        r#"extends = "vnet"
depends_on = ["vnet1"]
"#,
    );
}

fn fleet() -> TestHost {
    let h = TestHost::examples();
    add_fleet(&h);
    h
}

fn history_len(sim: &Path) -> usize {
    std::fs::read_to_string(sim.join("history.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The `n`th command of the host's history as `TOOL ARG... (exit N)`, or the raw line.
fn history_line(sim: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(sim.join("history.jsonl")).unwrap_or_default();
    let Some(raw) = t.lines().nth(n) else {
        return format!("<no history line {n}>");
    };
    let parsed = || -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(raw).ok()?;
        let prog = v["cmd"]["program"]
            .as_str()?
            .rsplit('/')
            .next()?
            .to_string();
        let args: Vec<String> = v["cmd"]["args"]
            .as_array()?
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect();
        Some(format!("{prog} {} (exit {})", args.join(" "), v["status"]))
    };
    parsed().unwrap_or_else(|| raw.chars().take(300).collect())
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// When a trial kills the command.
#[derive(Clone, Copy)]
enum When {
    /// This long after it started.
    At(Duration),
    /// As soon as the host's history shows a command containing this text.
    After(&'static str),
}

/// One command's crash test. `template` is the host before the command; the reference is a
/// clean run of the same command on a copy of it.
struct Series {
    what: &'static str,
    args: &'static [&'static str],
    /// The command whose result is the expected host, when not `args` itself.
    reference: Option<&'static [&'static str]>,
    template: TestHost,
}

struct Tally {
    trials: usize,
    failures: Vec<String>,
    /// Trials whose killed run was still running when killed (the clean run not counted).
    interrupted: usize,
    /// Trials whose killed run had made at least one host command.
    with_commands: usize,
}

impl Series {
    /// A clean run with latency: its duration, and whether it failed (a failure of the
    /// command itself, which counts as a failed trial). Then the host a clean run leaves:
    /// the same command without latency, or `reference` when given.
    fn reference(&self) -> (Duration, Option<String>, Fingerprint) {
        let h = self.template.copy();
        let t0 = Instant::now();
        let o = h
            .jailctl()
            .args(self.args)
            .env("JAILCTL_SIM_LATENCY", LATENCY)
            .output()
            .unwrap();
        let took = t0.elapsed();
        let clean_failed = (!o.status.success()).then(|| {
            format!(
                "{}: the clean run (no kill) exited {:?}:\n{}",
                self.what,
                o.status.code(),
                text(&o)
            )
        });
        let r = self.template.copy();
        let args = self.reference.unwrap_or(self.args);
        let o = r.run(args);
        assert!(
            o.status.success(),
            "the reference run `jailctl {}` failed ({:?}), so there is nothing to compare a \
             crashed run with:\n{}",
            args.join(" "),
            o.status.code(),
            text(&o)
        );
        let fp = r.fingerprint();
        // A clean run with latency leaves the same host as one without.
        if clean_failed.is_none() {
            crate::support::assert_same(&fp, &h.fingerprint());
        }
        (took, clean_failed, fp)
    }

    fn run(&self) -> Tally {
        let (clean, clean_failed, expected) = self.reference();
        let seed = base_seed();
        let n = trials();
        println!(
            "{}: clean run {} ms; {n} trials, seed {seed} (JAILCTL_KILL_SEED={seed} repeats them)",
            self.what,
            clean.as_millis()
        );
        let mut rng = Rng(seed);
        let mut tally = Tally {
            trials: 0,
            failures: vec![],
            interrupted: 0,
            with_commands: 0,
        };
        if let Some(f) = clean_failed {
            println!("FAILED {f}");
            tally.failures.push(f);
        }
        for i in 0..n {
            let at = rng.below(clean);
            tally.trials += 1;
            if let Err(e) = self.trial(When::At(at), &expected, &mut tally) {
                let line = format!(
                    "{} trial {i} (seed {seed}, killed at {} ms): {e}",
                    self.what,
                    at.as_millis()
                );
                println!("FAILED {line}");
                tally.failures.push(line);
            }
        }
        println!(
            "{}: {} kill trials and 1 clean run, {} failed; {} killed mid-run, {} after at least \
             one host command",
            self.what,
            tally.trials,
            tally.failures.len(),
            tally.interrupted,
            tally.with_commands
        );
        tally
    }

    /// Kill a run as soon as the host's history shows a command containing `pattern`, then
    /// run again and compare; `times` trials (the moment is fixed by the pattern, so a few
    /// suffice). For a step the random kills reach too rarely to be sure of.
    fn run_after(&self, pattern: &'static str, times: usize) -> Tally {
        let (_, clean_failed, expected) = self.reference();
        let mut tally = Tally {
            trials: 0,
            failures: clean_failed.into_iter().collect(),
            interrupted: 0,
            with_commands: 0,
        };
        for i in 0..times {
            tally.trials += 1;
            if let Err(e) = self.trial(When::After(pattern), &expected, &mut tally) {
                let line = format!("{} trial {i} (killed after `{pattern}`): {e}", self.what);
                println!("FAILED {line}");
                tally.failures.push(line);
            }
        }
        println!(
            "{}: {} kill trials after `{pattern}` and 1 clean run, {} failed",
            self.what,
            tally.trials,
            tally.failures.len()
        );
        tally
    }

    fn trial(&self, when: When, expected: &Fingerprint, tally: &mut Tally) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let h = self.template.copy();
        let before = history_len(&h.sim());
        let mut child = h
            .jailctl()
            .args(self.args)
            .env("JAILCTL_SIM_LATENCY", LATENCY)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        match when {
            When::At(at) => std::thread::sleep(at),
            When::After(pattern) => {
                let t0 = Instant::now();
                while child.try_wait().unwrap().is_none() {
                    let n = history_len(&h.sim());
                    if (before..n).any(|i| history_line(&h.sim(), i).contains(pattern)) {
                        break;
                    }
                    assert!(
                        t0.elapsed() < Duration::from_secs(60),
                        "`{pattern}` never ran"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        let running = child.try_wait().unwrap().is_none();
        // The whole process group: anything the command started dies with it.
        let pgid = nix::unistd::Pid::from_raw(-(child.id() as i32));
        let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
        child.wait().unwrap();
        let made = history_len(&h.sim()) - before;
        if running {
            tally.interrupted += 1;
        }
        if made > 0 {
            tally.with_commands += 1;
        }
        let last = if made > 0 {
            history_line(&h.sim(), before + made - 1)
        } else {
            "none".into()
        };
        let keep = |h: TestHost| {
            if std::env::var_os("JAILCTL_KILL_KEEP").is_some() {
                format!(" (kept in {})", h.dir.keep().display())
            } else {
                String::new()
            }
        };
        let o = h.run(self.args);
        if !o.status.success() {
            let msg = format!(
                "after {made} host command(s), the last `{last}`, the repeated run exited \
                 {:?}:\n{}",
                o.status.code(),
                text(&o)
            );
            return Err(msg + &keep(h));
        }
        if let Some(r) = expected.report(&h.fingerprint(), 15) {
            let msg = format!(
                "after {made} host command(s), the last `{last}`, the repeated run succeeded \
                 but the host is not as a clean run leaves it: {r}"
            );
            return Err(msg + &keep(h));
        }
        Ok(())
    }
}

#[track_caller]
fn check(t: Tally) {
    // Not vacuous: most kills must land while the command runs, and after it did something.
    assert!(
        t.interrupted * 2 >= t.trials && t.with_commands * 2 >= t.trials,
        "only {} of {} kills interrupted the command, {} after a host command: the kill \
         moments do not cover the run",
        t.interrupted,
        t.trials,
        t.with_commands
    );
    assert!(
        t.failures.is_empty(),
        "{} of {} kill trials and 1 clean run failed:\n{}",
        t.failures.len(),
        t.trials,
        t.failures.join("\n\n")
    );
}

#[test]
fn kill_up_all_at_random_points_then_up_again_converges() {
    let s = Series {
        what: "up --all (fresh host)",
        args: &["up", "--all"],
        reference: None,
        template: fleet(),
    };
    check(s.run());
}

#[test]
fn kill_boot_of_stopped_jails_at_random_points_then_boot_again_converges() {
    let template = fleet();
    template.ok(&["up", "--all"]);
    // `down --all` rather than `shutdown`: shutdown of this fleet can force-remove vnet1
    // (see the test below), and the host before boot must be the same for every trial.
    template.ok(&["down", "--all"]);
    let s = Series {
        what: "boot (jails stopped)",
        args: &["boot"],
        reference: None,
        template,
    };
    check(s.run());
}

#[test]
fn kill_first_boot_at_random_points_then_boot_again_converges() {
    // The expected host is that of a first boot one jail at a time: a parallel first boot's
    // own failures (shared parents created by two jails at once) must not define it. The
    // parallel clean run still has to succeed, and counts as a failed trial when it does not.
    let s = Series {
        what: "boot (fresh host)",
        args: &["boot"],
        reference: Some(&["boot", "--parallel", "1"]),
        template: fleet(),
    };
    check(s.run());
}

/// A kill between `ifconfig epair create` (whose output names the new pair) and the
/// renaming of its ends to `e0a_JAIL`/`e0b_JAIL`: the random series above reach this window
/// about once in 30 trials, this test every time.
#[test]
fn kill_right_after_epair_create_then_up_again_converges() {
    let template = TestHost::examples();
    add_fleet(&template);
    let s = Series {
        what: "up vnet1 (fresh host)",
        args: &["up", "vnet1"],
        reference: None,
        template,
    };
    let t = s.run_after("ifconfig epair create", 3);
    assert!(
        t.interrupted == t.trials,
        "the command ended before the kill in {} of {} trials",
        t.trials - t.interrupted,
        t.trials
    );
    assert!(
        t.failures.is_empty(),
        "{} of {} kill trials and 1 clean run failed:\n{}",
        t.failures.len(),
        t.trials,
        t.failures.join("\n\n")
    );
}

/// `shutdown` stops dependents first, so no orderly stop is refused and nothing is removed by
/// force. A VNET jail stays dying for a moment after `jail -r` (the simulator keeps it until
/// the next jail(8) command, as the kernel keeps it while tearing down its network stack):
/// the stop of the jail it depends on must not count it as running.
#[test]
fn shutdown_stops_a_vnet_dependent_and_its_dependency_without_force() {
    let h = TestHost::examples();
    add_fleet(&h);
    h.ok(&["up", "vnet2"]);
    let o = h.run(&["shutdown"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains("force"), "{out}");
    // Stopped VNET jails may still be dying; none may be running.
    let st = h.fingerprint();
    let running: Vec<&String> = st
        .entries
        .iter()
        .filter(|(k, v)| k.starts_with("jail ") && v.contains("dying=false"))
        .map(|(k, _)| k)
        .collect();
    assert!(running.is_empty(), "running after shutdown: {running:?}");
}
