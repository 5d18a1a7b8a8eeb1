//! Settings of one simulated host that are not machine state: injected faults, hangs and
//! latency, kills inside file writes, and real-ZFS passthrough. They exist so reliability
//! tests can make the Nth `zfs clone` fail the way a full pool would (or hang until its
//! deadline), kill jailctl at the worst point of a write, and measure the boot scheduler in
//! wall-clock time with realistic tool latencies.
//!
//! Sources, merged in this order: `DIR/faults.toml`, then the environment
//! (`JAILCTL_SIM_FAULTS`, `JAILCTL_SIM_HANG`, `JAILCTL_SIM_LATENCY`, `JAILCTL_SIM_REAL_ZFS`,
//! `JAILCTL_SIM_DYING_COMMANDS`, `JAILCTL_SIM_KILL_IN_WRITE`). How many commands
//! each fault rule has matched is machine state (`SimState::fault_counts`), so the count
//! carries across processes that share the host directory.

use jailctl_host::{Cmd, Output};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Make matching commands fail: the `nth` match (1-based) and the `count - 1` after it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A glob over `TOOL ARG...` (tool base name, arguments joined by single spaces), e.g.
    /// `zfs clone *` or `jail -f * -c web`.
    #[serde(rename = "command")]
    pub pattern: String,
    #[serde(default = "one")]
    pub nth: u64,
    #[serde(default = "one")]
    pub count: u64,
    #[serde(default = "one_i32")]
    pub status: i32,
    #[serde(default)]
    pub stderr: String,
}

/// Make matching commands hang: they never answer, so the host handle's deadline for them
/// expires and they fail as a killed command does on the real host
/// ([`jailctl_host::ProcessError::TimedOut`]). A hung command changes nothing. Matches are
/// counted as for [`FaultRule`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangRule {
    #[serde(rename = "command")]
    pub pattern: String,
    #[serde(default = "one")]
    pub nth: u64,
    #[serde(default = "one")]
    pub count: u64,
}

/// What a matching fault rule does to a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The tool answers with this failure.
    Fail(Output),
    /// The tool never answers.
    Hang,
}

fn one() -> u64 {
    1
}
fn one_i32() -> i32 {
    1
}

/// Everything configurable about a simulated host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimConfig {
    pub faults: Vec<FaultRule>,
    /// Commands that hang (`[[hang]]`, `JAILCTL_SIM_HANG`).
    pub hangs: Vec<HangRule>,
    /// Extra wall-clock time per tool base name (`jail`, `zfs`, ...).
    pub latency: BTreeMap<String, Duration>,
    /// Send `zfs`/`zpool` to the real binaries; the pool jailctl's datasets live in.
    pub real_zfs: Option<String>,
    /// When non-zero, every removed jail stays dying (holding its root busy) for this many
    /// further commands, as the kernel keeps a jail while it tears it down.
    pub dying_commands: u64,
    /// Kill this process with SIGKILL inside the `nth` file write (this process's count)
    /// whose host path matches the glob, after the new contents are complete and before
    /// they replace the old (`JAILCTL_SIM_KILL_IN_WRITE=GLOB[|NTH]`).
    pub kill_in_write: Option<KillInWrite>,
}

/// Where [`SimConfig::kill_in_write`] strikes.
#[derive(Debug, Default)]
pub struct KillInWrite {
    pub pattern: String,
    pub nth: u64,
    seen: std::sync::atomic::AtomicU64,
}

impl Clone for KillInWrite {
    fn clone(&self) -> Self {
        KillInWrite {
            pattern: self.pattern.clone(),
            nth: self.nth,
            seen: std::sync::atomic::AtomicU64::new(
                self.seen.load(std::sync::atomic::Ordering::SeqCst),
            ),
        }
    }
}

impl PartialEq for KillInWrite {
    fn eq(&self, o: &Self) -> bool {
        self.pattern == o.pattern && self.nth == o.nth
    }
}
impl Eq for KillInWrite {}

/// A fault, hang, latency or kill setting the simulator cannot read. A setting is the
/// simulator's own configuration (not a simulated tool's answer), so it fails with this.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SpecError {
    /// An entry not in its form: the message quotes it and says the form.
    #[error("{0}")]
    Form(String),
    #[error("bad pattern `{pattern}`: {source}")]
    Pattern {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Toml(#[source] toml::de::Error),
    /// Where the entry was: a variable, a table of faults.toml, the file.
    #[error("{at}: {source}")]
    #[diagnostic(help("docs/simulator.md describes the settings and their forms"))]
    At {
        at: String,
        #[source]
        source: Box<SpecError>,
    },
}

impl SpecError {
    /// This error, found in `at`.
    fn at(self, at: impl std::fmt::Display) -> SpecError {
        SpecError::At {
            at: at.to_string(),
            source: Box::new(self),
        }
    }
}

/// `GLOB[|NTH]`.
pub fn parse_kill_in_write(spec: &str) -> Result<KillInWrite, SpecError> {
    let (pattern, nth) = match spec.split_once('|') {
        Some((p, n)) => (
            p,
            n.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| SpecError::Form(format!("`{n}` is not a count starting at 1")))?,
        ),
        None => (spec, 1),
    };
    glob::Pattern::new(pattern).map_err(|source| SpecError::Pattern {
        pattern: pattern.to_string(),
        source,
    })?;
    Ok(KillInWrite {
        pattern: pattern.to_string(),
        nth,
        seen: Default::default(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    fault: Vec<FaultRule>,
    #[serde(default)]
    hang: Vec<HangRule>,
    #[serde(default)]
    latency: BTreeMap<String, String>,
    #[serde(default)]
    real_zfs: Option<String>,
    #[serde(default)]
    dying_commands: u64,
}

impl SimConfig {
    /// `DIR/faults.toml` (if present) overridden by the environment.
    pub fn load(dir: &Path) -> Result<SimConfig, SpecError> {
        let mut c = SimConfig::default();
        let path = dir.join("faults.toml");
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|source| SpecError::Read {
                path: path.clone(),
                source,
            })?;
            c = SimConfig::from_toml(&text).map_err(|e| e.at(path.display()))?;
        }
        if let Ok(v) = std::env::var("JAILCTL_SIM_FAULTS") {
            c.faults
                .extend(parse_faults(&v).map_err(|e| e.at("JAILCTL_SIM_FAULTS"))?);
        }
        if let Ok(v) = std::env::var("JAILCTL_SIM_HANG") {
            c.hangs
                .extend(parse_hangs(&v).map_err(|e| e.at("JAILCTL_SIM_HANG"))?);
        }
        if let Ok(v) = std::env::var("JAILCTL_SIM_LATENCY") {
            c.latency
                .extend(parse_latency(&v).map_err(|e| e.at("JAILCTL_SIM_LATENCY"))?);
        }
        if let Ok(v) = std::env::var("JAILCTL_SIM_REAL_ZFS")
            && !v.is_empty()
        {
            c.real_zfs = Some(v);
        }
        if let Ok(v) = std::env::var("JAILCTL_SIM_DYING_COMMANDS")
            && !v.is_empty()
        {
            c.dying_commands = v.trim().parse().map_err(|_| {
                SpecError::Form(format!(
                    "JAILCTL_SIM_DYING_COMMANDS: `{v}` is not a number of commands"
                ))
            })?;
        }
        if let Ok(v) = std::env::var("JAILCTL_SIM_KILL_IN_WRITE")
            && !v.is_empty()
        {
            c.kill_in_write =
                Some(parse_kill_in_write(&v).map_err(|e| e.at("JAILCTL_SIM_KILL_IN_WRITE"))?);
        }
        Ok(c)
    }

    /// Whether this write of `path` is the one to be killed in.
    pub fn kill_in_write_fires(&self, path: &Path) -> bool {
        let Some(k) = &self.kill_in_write else {
            return false;
        };
        let matches =
            glob::Pattern::new(&k.pattern).is_ok_and(|p| p.matches(&path.to_string_lossy()));
        matches && k.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == k.nth
    }

    /// Parse the `faults.toml` format (see docs/simulator.md).
    pub fn from_toml(text: &str) -> Result<SimConfig, SpecError> {
        let f: File = toml::from_str(text).map_err(SpecError::Toml)?;
        let mut latency = BTreeMap::new();
        for (tool, d) in f.latency {
            latency.insert(
                tool.clone(),
                parse_duration(&d).map_err(|e| e.at(format!("latency.{tool}")))?,
            );
        }
        for r in &f.fault {
            check_rule(r)?;
        }
        for r in &f.hang {
            check_hang(r)?;
        }
        Ok(SimConfig {
            faults: f.fault,
            hangs: f.hang,
            latency,
            real_zfs: f.real_zfs,
            dying_commands: f.dying_commands,
            kill_in_write: None,
        })
    }

    /// The latency to add before running `cmd`.
    pub fn latency_for(&self, cmd: &Cmd) -> Option<Duration> {
        self.latency.get(cmd.tool()).copied()
    }

    /// If a fault rule fires for `cmd`, count the match in `counts` and return the fault.
    pub fn fault_for(&self, cmd: &Cmd, counts: &mut BTreeMap<String, u64>) -> Option<Fault> {
        let line = command_line(cmd);
        let mut hit = None;
        for (i, r) in self.hangs.iter().enumerate() {
            let Ok(p) = glob::Pattern::new(&r.pattern) else {
                continue;
            };
            if !p.matches(&line) {
                continue;
            }
            let n = counts.entry(format!("hang {i}:{}", r.pattern)).or_insert(0);
            *n += 1;
            if hit.is_none() && *n >= r.nth && *n < r.nth + r.count {
                hit = Some(Fault::Hang);
            }
        }
        for (i, r) in self.faults.iter().enumerate() {
            let Ok(p) = glob::Pattern::new(&r.pattern) else {
                continue;
            };
            if !p.matches(&line) {
                continue;
            }
            let n = counts.entry(format!("{i}:{}", r.pattern)).or_insert(0);
            *n += 1;
            if hit.is_none() && *n >= r.nth && *n < r.nth + r.count {
                let mut stderr = r.stderr.clone();
                if !stderr.is_empty() && !stderr.ends_with('\n') {
                    stderr.push('\n');
                }
                hit = Some(Fault::Fail(Output::fail(r.status, stderr)));
            }
        }
        hit
    }
}

/// The status of a command killed with SIGKILL (128 + 9): how the history records a hung one.
pub const KILLED: i32 = 137;

/// `TOOL ARG...` as fault patterns see it.
pub fn command_line(cmd: &Cmd) -> String {
    let mut s = cmd.tool().to_string();
    for a in &cmd.args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn check_rule(r: &FaultRule) -> Result<(), SpecError> {
    glob::Pattern::new(&r.pattern).map_err(|source| SpecError::Pattern {
        pattern: r.pattern.clone(),
        source,
    })?;
    if r.nth == 0 || r.count == 0 {
        return Err(SpecError::Form(format!(
            "fault `{}`: nth and count start at 1",
            r.pattern
        )));
    }
    if r.status == 0 {
        return Err(SpecError::Form(format!(
            "fault `{}`: a fault needs a non-zero status",
            r.pattern
        )));
    }
    Ok(())
}

/// `PATTERN|NTH[xCOUNT]|STATUS|STDERR` rules separated by `;`, e.g.
/// `zfs clone *|2|1|cannot create 'zroot/jails/web': out of space`.
pub fn parse_faults(spec: &str) -> Result<Vec<FaultRule>, SpecError> {
    let mut out = Vec::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let f: Vec<&str> = entry.splitn(4, '|').collect();
        if f.len() < 3 {
            return Err(SpecError::Form(format!(
                "`{entry}`: expected PATTERN|NTH[xCOUNT]|STATUS|STDERR"
            )));
        }
        let (nth, count) = match f[1].split_once('x') {
            Some((n, c)) => (n, c),
            None => (f[1], "1"),
        };
        let num = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| SpecError::Form(format!("`{entry}`: `{s}` is not a number")))
        };
        let rule = FaultRule {
            pattern: f[0].to_string(),
            nth: num(nth)?,
            count: num(count)?,
            status: f[2].trim().parse().map_err(|_| {
                SpecError::Form(format!("`{entry}`: status `{}` is not a number", f[2]))
            })?,
            stderr: f.get(3).unwrap_or(&"").to_string(),
        };
        check_rule(&rule)?;
        out.push(rule);
    }
    Ok(out)
}

fn check_hang(r: &HangRule) -> Result<(), SpecError> {
    glob::Pattern::new(&r.pattern).map_err(|source| SpecError::Pattern {
        pattern: r.pattern.clone(),
        source,
    })?;
    if r.nth == 0 || r.count == 0 {
        return Err(SpecError::Form(format!(
            "hang `{}`: nth and count start at 1",
            r.pattern
        )));
    }
    Ok(())
}

/// `PATTERN[|NTH[xCOUNT]]` rules separated by `;`, e.g. `jail -f * -c web|2`.
pub fn parse_hangs(spec: &str) -> Result<Vec<HangRule>, SpecError> {
    let mut out = Vec::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (pattern, when) = entry.split_once('|').unwrap_or((entry, "1"));
        let (nth, count) = when.split_once('x').unwrap_or((when, "1"));
        let num = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| SpecError::Form(format!("`{entry}`: `{s}` is not a number")))
        };
        let r = HangRule {
            pattern: pattern.to_string(),
            nth: num(nth)?,
            count: num(count)?,
        };
        check_hang(&r)?;
        out.push(r);
    }
    Ok(out)
}

/// `TOOL=DURATION` pairs separated by `,`, e.g. `jail=50ms,zfs=5ms`.
pub fn parse_latency(spec: &str) -> Result<BTreeMap<String, Duration>, SpecError> {
    let mut out = BTreeMap::new();
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (tool, d) = pair.split_once('=').ok_or_else(|| {
            SpecError::Form(format!("`{pair}`: expected TOOL=DURATION (jail=50ms)"))
        })?;
        out.insert(tool.trim().to_string(), parse_duration(d.trim())?);
    }
    Ok(out)
}

/// `50ms`, `2s`, `300us`.
pub fn parse_duration(s: &str) -> Result<Duration, SpecError> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(end);
    let n: u64 = n.parse().map_err(|_| {
        SpecError::Form(format!("`{s}`: expected a duration like 50ms, 2s or 300us"))
    })?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "us" => Ok(Duration::from_micros(n)),
        _ => Err(SpecError::Form(format!("`{s}`: unit must be us, ms or s"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_fault_syntax() {
        let r = parse_faults("zfs clone *|2x3|1|out of space; jail *|1|139|").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].nth, r[0].count, r[0].status), (2, 3, 1));
        assert_eq!(r[0].stderr, "out of space");
        assert_eq!(r[1].status, 139);
        assert!(
            parse_faults("zfs|x|1|m")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert!(
            parse_faults("zfs|0|1|m")
                .unwrap_err()
                .to_string()
                .contains("start at 1")
        );
        assert!(
            parse_faults("zfs|1|0|m")
                .unwrap_err()
                .to_string()
                .contains("non-zero")
        );
    }

    #[test]
    fn kill_in_write_fires_once_on_the_nth_matching_write() {
        let c = SimConfig {
            kill_in_write: Some(parse_kill_in_write("*/journal/web.json|2").unwrap()),
            ..Default::default()
        };
        let j = Path::new("/var/db/jailctl/journal/web.json");
        let other = Path::new("/var/db/jailctl/journal/db.json");
        let got: Vec<bool> = [j, other, j, j]
            .iter()
            .map(|p| c.kill_in_write_fires(p))
            .collect();
        assert_eq!(got, [false, false, true, false]);
        assert!(!SimConfig::default().kill_in_write_fires(j));
        assert_eq!(parse_kill_in_write("x").unwrap().nth, 1);
        assert!(parse_kill_in_write("x|0").is_err());
        assert!(parse_kill_in_write("[|1").is_err());
    }

    #[test]
    fn hang_rules() {
        let r = parse_hangs("jail -f * -c web|2; zfs clone *").unwrap();
        assert_eq!((r[0].nth, r[0].count, r[1].nth), (2, 1, 1));
        let c = SimConfig {
            hangs: r,
            faults: parse_faults("jail -f * -c web|1x5|1|boom").unwrap(),
            ..Default::default()
        };
        let mut counts = BTreeMap::new();
        let start = Cmd::new(
            "/usr/sbin/jail",
            ["-f", "/var/run/jailctl/web.conf", "-c", "web"],
        );
        // The first start fails by the fault rule, the second hangs (a hang wins).
        assert!(matches!(
            c.fault_for(&start, &mut counts),
            Some(Fault::Fail(_))
        ));
        assert_eq!(c.fault_for(&start, &mut counts), Some(Fault::Hang));
        let t = SimConfig::from_toml("[[hang]]\ncommand = \"zfs clone *\"\nnth = 2\n").unwrap();
        assert_eq!(t.hangs[0].nth, 2);
        assert!(
            parse_hangs("zfs|x")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert!(
            parse_hangs("zfs|0")
                .unwrap_err()
                .to_string()
                .contains("start at 1")
        );
        assert!(SimConfig::from_toml("[[hang]]\ncommand = \"x\"\nstatus = 1\n").is_err());
    }

    #[test]
    fn dying_commands_setting() {
        assert_eq!(SimConfig::from_toml("").unwrap().dying_commands, 0);
        assert_eq!(
            SimConfig::from_toml("dying_commands = 7\n")
                .unwrap()
                .dying_commands,
            7
        );
        assert!(SimConfig::from_toml("dying_commands = -1\n").is_err());
    }

    #[test]
    fn latency_syntax() {
        let l = parse_latency("jail=50ms, zfs=5ms,rctl=1s").unwrap();
        assert_eq!(l["jail"], Duration::from_millis(50));
        assert_eq!(l["rctl"], Duration::from_secs(1));
        assert!(
            parse_latency("jail=50")
                .unwrap_err()
                .to_string()
                .contains("unit")
        );
        assert!(
            parse_latency("jail")
                .unwrap_err()
                .to_string()
                .contains("TOOL=DURATION")
        );
    }

    #[test]
    fn nth_match_fails_and_counts_persist_in_the_map() {
        let c = SimConfig {
            faults: parse_faults("zfs clone *|2x2|1|boom").unwrap(),
            ..Default::default()
        };
        let mut counts = BTreeMap::new();
        let clone = Cmd::new("/sbin/zfs", ["clone", "a@b", "c"]);
        let other = Cmd::new("/sbin/zfs", ["list"]);
        let got: Vec<bool> = (0..4)
            .map(|_| c.fault_for(&clone, &mut counts).is_some())
            .collect();
        assert_eq!(got, [false, true, true, false]);
        assert!(c.fault_for(&other, &mut counts).is_none());
        assert_eq!(c.fault_for(&clone, &mut BTreeMap::new()), None);
    }

    #[test]
    fn toml_file_format() {
        let c = SimConfig::from_toml(
            "[[fault]]\ncommand = \"jail -c *\"\nnth = 3\nstatus = 2\nstderr = \"jail: nope\"\n\n[latency]\njail = \"50ms\"\n",
        )
        .unwrap();
        assert_eq!(c.faults[0].nth, 3);
        assert_eq!(c.faults[0].count, 1);
        assert_eq!(c.latency["jail"], Duration::from_millis(50));
        assert!(SimConfig::from_toml("[[fault]]\ncommand = \"x\"\nbogus = 1\n").is_err());
    }
}
