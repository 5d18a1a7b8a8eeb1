//! The host the unit tests of apply and ops run on (a test-only module, named `*_tests.rs`
//! like the others, so the layer check lets it reach the simulator): the simulated FreeBSD host (jailctl's one
//! fake host, crates/sim) with jailctl's layout and a 14.2-RELEASE base, as the shared
//! fixtures (`jailctl_core::fixtures::global`, `spec`) expect. A test that needs a command to
//! fail uses the simulator's fault injection ([`TestSim::failing`]); what ran is the
//! simulator's command history; "the host is as before" is the shared fingerprint
//! (`jailctl_sim::fingerprint`) of the whole host.

use crate::host::{Cmd, HostFs, Runner, tools};
use crate::observe::HostState;
use jailctl_core::fixtures::global;
use jailctl_sim::SimHost;
use jailctl_sim::faults::{FaultRule, SimConfig};
use jailctl_sim::fingerprint::{Fingerprint, fingerprint};
use std::path::{Path, PathBuf};

/// A simulated host in a temporary directory.
pub(crate) struct TestSim {
    pub host: SimHost,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl TestSim {
    /// jailctl's layout (`zroot/jailctl` with its `jails`, `bases`, `volumes` parents and
    /// jailctl's directories, as `up` makes them: `apply::layout`), the base `zroot/jailctl/bases/14.2-RELEASE@jailctl` and the host's
    /// `/etc/resolv.conf`, which jailctl copies into each jail.
    pub fn with_base() -> TestSim {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim");
        let host = SimHost::open_with(&dir, SimConfig::default()).unwrap();
        let g = global();
        for ds in crate::apply::layout::datasets(&g) {
            jailctl_sim::testing::zfs(&host, &["create", "-p", "-o", "mountpoint=none", &ds]);
        }
        for (d, mode) in crate::apply::layout::dirs(&g) {
            host.mkdir_p(&d, mode).unwrap();
        }
        jailctl_sim::testing::seed_base(
            &host,
            "zroot/jailctl/bases/14.2-RELEASE",
            "/usr/local/jails/.bases/14.2-RELEASE",
            "jailctl",
        );
        host.mkdir_p(Path::new("/etc"), 0o755).unwrap();
        host.write(
            Path::new("/etc/resolv.conf"),
            b"nameserver 192.0.2.1\n",
            0o644,
        )
        .unwrap();
        TestSim {
            host,
            dir,
            _tmp: tmp,
        }
    }

    /// What observe reports of the host now.
    pub fn state(&self) -> HostState {
        crate::observe::observe(&self.host, &global()).unwrap()
    }

    /// Every command run on the host so far (the setup's too), as text.
    pub fn history(&self) -> Vec<String> {
        self.host
            .snapshot()
            .unwrap()
            .history
            .iter()
            .map(|e| e.cmd.to_string())
            .collect()
    }

    /// The commands run since the history was `mark` long.
    pub fn ran_since(&self, mark: usize) -> Vec<String> {
        self.history().split_off(mark)
    }

    /// The commands jailctl ran since the history was `mark` long: the history without the
    /// devfs mount and unmount jail(8) runs itself for a jail with `mount.devfs` (the
    /// simulator records the commands a tool runs, as they happen, next to jailctl's).
    pub fn jailctl_ran_since(&self, mark: usize) -> Vec<String> {
        self.ran_since(mark)
            .into_iter()
            .filter(|c| {
                let devfs_mount = c.starts_with("/sbin/mount -t devfs ");
                let devfs_umount = c.starts_with("/sbin/umount ") && c.ends_with("/dev");
                !devfs_mount && !devfs_umount
            })
            .collect()
    }

    /// The whole host, to compare with [`jailctl_sim::fingerprint::assert_same`].
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.dir)
    }

    /// Another handle on the same host whose commands matching each glob (over `TOOL ARGS`,
    /// e.g. `cpuset *`) fail once with status 1 and `injected failure`, without running.
    pub fn failing(&self, patterns: &[&str]) -> SimHost {
        let faults = patterns
            .iter()
            .map(|p| FaultRule {
                pattern: p.to_string(),
                nth: 1,
                count: 1,
                status: 1,
                stderr: "injected failure\n".into(),
            })
            .collect();
        SimHost::open_with(
            &self.dir,
            SimConfig {
                faults,
                ..SimConfig::default()
            },
        )
        .unwrap()
    }

    /// Whether jail `name` exists (running or dying).
    pub fn has_jail(&self, name: &str) -> bool {
        let o = self
            .host
            .output(&Cmd::new(tools::JLS, ["-d", "-j", name, "jid"]))
            .unwrap();
        o.status == 0
    }
}
