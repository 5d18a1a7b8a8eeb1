//! How long each host command may run. A hung `zfs` (a pool that stopped answering) or
//! `jexec` (a service that never returns) must not block `up`, `boot` or `shutdown` forever:
//! every command run through [`super::Runner::output`] gets the deadline of its tool; on
//! expiry the host kills it (with its process group) and the command fails with
//! [`super::ProcessError::TimedOut`], which the executor treats like any failed step (its
//! undo runs, tolerantly, since the command may have done part of its work).
//!
//! Defaults, per tool (configurable in `jailctl.toml` under `[deadlines]`, see
//! docs/configuration.md):
//! - `zfs`, `zpool`: 10 min. `zfs destroy -r` of a large tree or a clone on a busy pool can
//!   take minutes; a pool that does not answer in 10 min is stuck.
//! - `jail`: 10 min. `jail -c`/`-r` run the jail's exec.* hooks (rc start and stop scripts),
//!   which jail(8) itself bounds with `exec.timeout` (none by default); jailctl's own
//!   shutdown budget is 60 s, so 10 min is a generous margin over any hook that finishes.
//! - `jexec`: 30 min, for provisioning commands (package installs). Health probes use their
//!   own `[health] timeout` instead.
//! - `pkg`: 30 min (downloads and installs).
//! - `umount`, `mount`, `chown`: 2 min. `ifconfig`: 1 min.
//! - `jls`, `sysctl`, `rctl`, `cpuset`, `pfctl`: 30 s: kernel queries and ioctls that answer
//!   at once (pfctl loads an anchor's few rules in one ioctl transaction).
//! - anything else: 10 min.
//!
//! Interactive commands (`exec`, `console`) have no deadline: a person is at the terminal.

use super::Cmd;
use std::collections::BTreeMap;
use std::time::Duration;

const MIN: u64 = 60;

/// The tools `[deadlines]` accepts, with their default deadline.
pub const DEFAULTS: &[(&str, Duration)] = &[
    ("zfs", Duration::from_secs(10 * MIN)),
    ("zpool", Duration::from_secs(10 * MIN)),
    ("jail", Duration::from_secs(10 * MIN)),
    ("jexec", Duration::from_secs(30 * MIN)),
    ("pkg", Duration::from_secs(30 * MIN)),
    ("mount", Duration::from_secs(2 * MIN)),
    ("umount", Duration::from_secs(2 * MIN)),
    ("chown", Duration::from_secs(2 * MIN)),
    ("ifconfig", Duration::from_secs(MIN)),
    ("jls", Duration::from_secs(30)),
    ("sysctl", Duration::from_secs(30)),
    ("rctl", Duration::from_secs(30)),
    ("cpuset", Duration::from_secs(30)),
    ("pfctl", Duration::from_secs(30)),
];

/// A tool not in [`DEFAULTS`].
pub const OTHER: Duration = Duration::from_secs(10 * MIN);

/// The deadline of each tool: the defaults, overridden by `[deadlines]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deadlines {
    /// Only the configured ones; the rest come from [`DEFAULTS`].
    pub set: BTreeMap<String, Duration>,
}

impl Deadlines {
    /// Whether `[deadlines]` accepts `tool`.
    pub fn known(tool: &str) -> bool {
        DEFAULTS.iter().any(|(t, _)| *t == tool)
    }

    /// The deadline for a tool by base name.
    pub fn for_tool(&self, tool: &str) -> Duration {
        self.set.get(tool).copied().unwrap_or_else(|| {
            DEFAULTS
                .iter()
                .find(|(t, _)| *t == tool)
                .map_or(OTHER, |(_, d)| *d)
        })
    }

    /// The deadline for `cmd`.
    pub fn for_cmd(&self, cmd: &Cmd) -> Duration {
        self.for_tool(cmd.tool())
    }
}

/// The setting that raises the deadline of `cmd`, for error messages.
pub fn knob(cmd: &Cmd) -> String {
    let tool = cmd.tool();
    if Deadlines::known(tool) {
        format!("`[deadlines] {tool}` in jailctl.toml")
    } else {
        "nothing: this tool's deadline is fixed".to_string()
    }
}

/// A duration as people write it in jailctl.toml (`90s`, `10m`, `1500ms`).
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools;

    #[test]
    fn defaults_and_overrides() {
        let mut d = Deadlines::default();
        let clone = Cmd::new(tools::ZFS, ["clone", "a@b", "c"]);
        assert_eq!(d.for_cmd(&clone), Duration::from_secs(600));
        assert_eq!(
            d.for_cmd(&Cmd::new(tools::JLS, ["-j", "web"])),
            Duration::from_secs(30)
        );
        assert_eq!(d.for_cmd(&Cmd::new("/bin/true", [] as [&str; 0])), OTHER);
        d.set.insert("zfs".into(), Duration::from_secs(900));
        assert_eq!(d.for_cmd(&clone), Duration::from_secs(900));
        assert_eq!(knob(&clone), "`[deadlines] zfs` in jailctl.toml");
        assert_eq!(show(Duration::from_secs(900)), "15m");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show(Duration::from_secs(30)), "30s");
    }

    #[test]
    fn every_tool_jailctl_runs_has_a_default() {
        for p in [
            tools::ZFS,
            tools::ZPOOL,
            tools::JAIL,
            tools::JLS,
            tools::JEXEC,
            tools::RCTL,
            tools::CPUSET,
            tools::IFCONFIG,
            tools::MOUNT,
            tools::UMOUNT,
            tools::SYSCTL,
            tools::PKG,
            tools::CHOWN,
        ] {
            let c = Cmd::new(p, [] as [&str; 0]);
            assert!(Deadlines::known(c.tool()), "{p}");
        }
    }
}
