//! The kill harness: run a jailctl command on a simulated host with injected latency, kill
//! it with SIGKILL at a random moment (or right after a given host command), run it again,
//! and require that the second run succeeds and leaves the whole host (its
//! [`fingerprint`](super::fingerprint)) as a clean run does. A [`Series`] is one command on
//! one prepared host; `Series::run` makes the random trials, `Series::run_after` the targeted
//! ones, and [`check`] fails the test on any failure, listing each. Settings from the
//! environment: `JAILCTL_KILL_SEED`, `JAILCTL_KILL_TRIALS`, `JAILCTL_KILL_KEEP` (see
//! docs/lifecycle.md, "Crash and concurrency tests").

use super::{Fingerprint, TestHost};
use std::path::Path;
use std::time::{Duration, Instant};

/// Per-tool latency for the killed run: enough that a kill lands between steps rather than
/// always before the first or after the last, small enough for ~30 trials in tens of seconds.
pub const LATENCY: &str = "zfs=10ms,jail=20ms,jexec=10ms,jls=2ms,ifconfig=5ms,mount=5ms,umount=5ms,rctl=3ms,cpuset=3ms,pkg=10ms,sysctl=1ms";

/// splitmix64: a small seeded generator, enough for choosing kill moments.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, max)`.
    pub fn below(&mut self, max: Duration) -> Duration {
        let us = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % us)
    }
}

pub fn base_seed() -> u64 {
    match std::env::var("JAILCTL_KILL_SEED") {
        Ok(s) => s.trim().parse().expect("JAILCTL_KILL_SEED: a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

pub fn trials() -> usize {
    std::env::var("JAILCTL_KILL_TRIALS")
        .map(|s| s.trim().parse().expect("JAILCTL_KILL_TRIALS: a number"))
        .unwrap_or(30)
}

pub fn history_len(sim: &Path) -> usize {
    std::fs::read_to_string(sim.join("history.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The `n`th command of the host's history as `TOOL ARG... (exit N)`, or the raw line.
pub fn history_line(sim: &Path, n: usize) -> String {
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

pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// When a trial kills the command.
#[derive(Clone, Copy)]
pub enum When {
    /// This long after it started.
    At(Duration),
    /// As soon as the host's history shows a command containing this text.
    After(&'static str),
}

/// One command's crash test. `template` is the host before the command; the reference is a
/// clean run of the same command on a copy of it.
pub struct Series {
    pub what: &'static str,
    pub args: &'static [&'static str],
    /// The command whose result is the expected host, when not `args` itself.
    pub reference: Option<&'static [&'static str]>,
    pub template: TestHost,
}

pub struct Tally {
    pub trials: usize,
    pub failures: Vec<String>,
    /// Trials whose killed run was still running when killed (the clean run not counted).
    pub interrupted: usize,
    /// Trials whose killed run had made at least one host command.
    pub with_commands: usize,
}

impl Series {
    /// A clean run with latency: its duration, and whether it failed (a failure of the
    /// command itself, which counts as a failed trial). Then the host a clean run leaves:
    /// the same command without latency, or `reference` when given.
    pub fn reference(&self) -> (Duration, Option<String>, Fingerprint) {
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

    pub fn run(&self) -> Tally {
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
    pub fn run_after(&self, pattern: &'static str, times: usize) -> Tally {
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

    pub fn trial(
        &self,
        when: When,
        expected: &Fingerprint,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let h = self.template.copy();
        let k = kill(&h, self.args, when);
        if k.running {
            tally.interrupted += 1;
        }
        if k.commands > 0 {
            tally.with_commands += 1;
        }
        let (made, last) = (k.commands, k.last);
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

/// What a killed run had done.
pub struct Killed {
    /// Whether it was still running when the signal was sent.
    pub running: bool,
    /// How many host commands it made.
    pub commands: usize,
    /// The last of them, as `TOOL ARG... (exit N)`, or `none`.
    pub last: String,
}

/// Run `jailctl ARGS...` on `h` with [`LATENCY`] and kill its process group with SIGKILL
/// `when` says. Also for making a host with a pending undo journal (kill `up` right after
/// `zfs clone`, say) to run other commands against.
pub fn kill(h: &TestHost, args: &[&str], when: When) -> Killed {
    use std::os::unix::process::CommandExt;
    let before = history_len(&h.sim());
    let mut child = h
        .jailctl()
        .args(args)
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
    let commands = history_len(&h.sim()) - before;
    let last = if commands > 0 {
        history_line(&h.sim(), before + commands - 1)
    } else {
        "none".into()
    };
    Killed {
        running,
        commands,
        last,
    }
}

#[track_caller]
pub fn check(t: Tally) {
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
