//! Shared helpers for the end-to-end tests: run the real `jailctl` binary against a simulated
//! host directory, make such a host with a base, and take a fingerprint of the whole host
//! (`jailctl_sim::fingerprint`, shared with the unit tests) so a test can require that two
//! hosts are the same, not merely that a few chosen facts agree. Every test module runs the
//! binary through these helpers.
// A support module offers more helpers than any one test module uses.
#![allow(dead_code)]

mod fingerprint;
pub mod kill;
pub mod sets;

// Re-exported for the test modules, which do not all use each.
#[allow(unused_imports)]
pub use jailctl_sim::fingerprint::{Fingerprint, assert_same, fingerprint};

use jailctl_sim::{HistoryEntry, SimConfig, SimHost, SimState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Remove every `JAILCTL_*` variable (the simulator's settings, `JAILCTL_SIMULATE`, the
/// configuration directory, and any added later), so the developer's shell cannot change a
/// test's outcome.
fn clean_env(c: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("JAILCTL_") {
            c.env_remove(k);
        }
    }
}

/// The `jailctl` binary with a clean environment and an empty stdin, no arguments yet.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jailctl"));
    clean_env(&mut c);
    c.stdin(std::process::Stdio::null());
    c
}

/// `jailctl --simulate SIM --config-dir CFG`, not quiet (for tests of what it prints as it
/// goes), with a clean environment and an empty stdin.
pub fn jailctl_loud(sim: &Path, cfg: &Path) -> Command {
    let mut c = bin();
    c.arg("--simulate").arg(sim).arg("--config-dir").arg(cfg);
    c
}

/// `jailctl -q --simulate SIM --config-dir CFG` with a clean environment and an empty stdin;
/// add the subcommand and its arguments, and any `JAILCTL_SIM_*` setting, then run or spawn.
pub fn jailctl_std(sim: &Path, cfg: &Path) -> Command {
    let mut c = jailctl_loud(sim, cfg);
    c.arg("-q");
    c
}

/// [`jailctl_std`] as an `assert_cmd` command (`.assert()`, `.write_stdin()`).
pub fn jailctl(sim: &Path, cfg: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(jailctl_std(sim, cfg))
}

/// Run `jailctl ARGS...` to completion.
pub fn run(sim: &Path, cfg: &Path, args: &[&str]) -> Output {
    jailctl_std(sim, cfg).args(args).output().unwrap()
}

/// Run `jailctl ARGS...`, which must succeed; its stdout.
#[track_caller]
pub fn ok(sim: &Path, cfg: &Path, args: &[&str]) -> String {
    let o = run(sim, cfg, args);
    assert!(
        o.status.success(),
        "jailctl {args:?} exited {:?}:\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `jailctl --simulate SIM sim TOOL ARGS...` (one command on the simulated host), which must
/// succeed; its stdout.
#[track_caller]
pub fn sim(simdir: &Path, args: &[&str]) -> String {
    let o = bin()
        .arg("-q")
        .arg("--simulate")
        .arg(simdir)
        .arg("sim")
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "jailctl sim {args:?} exited {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Where the base of [`host_with_base`] is mounted.
pub const BASE_MOUNT: &str = "/usr/local/jails/.bases/14.3-RELEASE";
/// Its snapshot, as `jailctl base create` names one.
pub const BASE_SNAPSHOT: &str = "zroot/jailctl/bases/14.3-RELEASE@20260101-000000";

/// A simulated host with base `14.3-RELEASE` snapshotted as `@20260101-000000` (what the
/// base holds: `jailctl_sim::testing::seed_base`), the host directories the examples mount,
/// and the rest of the host layout ([`with_layout`]), so `boot` finds the examples healthy
/// and a test's "before" is a prepared host. Made in-process, not with `jailctl base
/// create`, which has its own tests (tests/it/base.rs).
pub fn host_with_base(simdir: &Path) {
    base_only(simdir);
    with_layout(simdir);
}

/// [`host_with_base`] without the rest of the host layout: the base's dataset (and the
/// parents `zfs create -p` made for it) and nothing for jails yet, as a host whose base was
/// made by hand. The first `up` or `boot` must lay out the rest.
pub fn base_only(simdir: &Path) {
    let h = jailctl_sim::SimHost::open(simdir).unwrap();
    let (dataset, snapshot) = BASE_SNAPSHOT.split_once('@').unwrap();
    jailctl_sim::testing::seed_base(&h, dataset, BASE_MOUNT, snapshot);
    let root = simdir.join("root");
    for d in ["srv/www/example.org", "srv/a", "srv/b"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
}

/// The rest of the host layout that `base create` leaves (the parents of jail roots and
/// volumes, the mount root, the runtime directories). A fresh host is tested in
/// `shared_layout`.
pub fn with_layout(simdir: &Path) {
    for ds in ["zroot/jailctl/jails", "zroot/jailctl/volumes"] {
        sim(simdir, &["zfs", "create", "-o", "mountpoint=none", ds]);
    }
    for d in [
        "usr/local/jails",
        "var/run/jailctl",
        "var/db/jailctl/journal",
    ] {
        std::fs::create_dir_all(simdir.join("root").join(d)).unwrap();
    }
}

/// Copy the shipped `examples/` configuration (four jails) to `to`.
pub fn examples_config(to: &Path) {
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), to);
}

/// Every command run on the simulated host in `simdir`, with its exit status.
pub fn history(simdir: &Path) -> Vec<HistoryEntry> {
    SimHost::open_with(simdir, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap()
        .history
}

/// `TOOL ARG...` as the fault rules see it.
pub fn line(h: &HistoryEntry) -> String {
    let tool = Path::new(&h.cmd.program)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    std::iter::once(tool)
        .chain(h.cmd.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copy a directory tree (files, directories, symlinks; modes kept by `fs::copy`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&e.path(), &t);
            let mode = std::fs::metadata(e.path()).unwrap().permissions();
            std::fs::set_permissions(&t, mode).unwrap();
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &t).unwrap();
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A temporary simulated host (`sim/`) with base 14.3-RELEASE and a configuration
/// directory (`etc/`) holding the shipped examples. Its commands run in the temporary
/// directory with the relative paths `sim` and `etc`, as jailctl records the configuration
/// path it read (in the rendered jail.conf and the spec digest): two hosts made this way in
/// different directories are then byte for byte comparable.
pub struct TestHost {
    pub dir: tempfile::TempDir,
}

impl TestHost {
    pub fn examples() -> TestHost {
        let dir = tempfile::tempdir().unwrap();
        let t = TestHost { dir };
        host_with_base(&t.sim());
        examples_config(&t.cfg());
        t
    }

    pub fn sim(&self) -> PathBuf {
        self.dir.path().join("sim")
    }

    pub fn cfg(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Write `etc/jails/NAME.toml`.
    pub fn jail(&self, name: &str, toml: &str) {
        let d = self.cfg().join("jails");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{name}.toml")), toml).unwrap();
    }

    /// `jailctl -q --simulate sim --config-dir etc`, run in the host's directory.
    pub fn jailctl(&self) -> Command {
        let mut c = jailctl_std(Path::new("sim"), Path::new("etc"));
        c.current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.jailctl().args(args).output().unwrap()
    }

    /// Run `jailctl ARGS...` on this host, which must succeed; its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "jailctl {args:?} exited {:?}:\n{}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.sim())
    }

    /// A copy of this host and its configuration in a new temporary directory.
    pub fn copy(&self) -> TestHost {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(self.dir.path(), dir.path());
        TestHost { dir }
    }
}

/// Commands that change the host (everything but the read-only queries jailctl makes).
pub fn mutating(h: &HistoryEntry) -> bool {
    let l = line(h);
    let ro = [
        "zfs get ",
        "zpool list ",
        "kldstat ",
        "zfs list ",
        "jls ",
        "sysctl -n ",
        "rctl jail:",
        "rctl -u ",
        "ifconfig -l",
        "mount -p",
    ];
    // pfctl: its `-s` and `-T show` forms only read (the seam's own classification).
    let pf_read = h.cmd.program == jailctl::host::tools::PFCTL
        && jailctl::host::readonly::is_read_only(&h.cmd);
    !ro.iter().any(|p| l.starts_with(p)) && l != "rctl" && !pf_read
}

/// Everything the lifecycle can change, without the command history and fault counters:
/// a coarser comparison than [`fingerprint`] (directories count through their files).
pub fn host_state(simdir: &Path) -> (Value, BTreeMap<PathBuf, Option<Vec<u8>>>) {
    let st: SimState = SimHost::open_with(simdir, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    // Counters that move forward on a real host too (ZFS txg, the kernel's last jid) and the
    // log of hooks run are history, not state.
    let zfs = serde_json::to_value(&st.zfs).unwrap();
    let jail = serde_json::to_value(&st.jail).unwrap();
    // cpusets by jail name: the kernel keys them by jid, which a restart changes.
    let names: BTreeMap<i32, String> = st
        .jail
        .jails
        .values()
        .map(|j| (j.jid, j.name.clone()))
        .collect();
    let cpusets: BTreeMap<String, Vec<u32>> = st
        .cpuset
        .masks
        .iter()
        .map(|(jid, m)| {
            let n = names
                .get(jid)
                .cloned()
                .unwrap_or_else(|| format!("jid {jid}"));
            (n, m.clone())
        })
        .collect();
    let v = serde_json::json!({
        "zfs": {"datasets": zfs["datasets"], "pools": zfs["pools"]},
        "jail": jail["jails"],
        "rctl": st.rctl,
        "cpuset": cpusets,
        "net": st.net,
        "mount": st.mount,
        "sysctl": st.sysctl,
    });
    let mut files = BTreeMap::new();
    for dir in [
        "usr/local/jails",
        "var/run/jailctl",
        "var/db/jailctl",
        "srv",
    ] {
        walk(
            &simdir.join("root").join(dir),
            &simdir.join("root"),
            &mut files,
        );
    }
    (v, files)
}

fn walk(p: &Path, base: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return;
    };
    let rel = p.strip_prefix(base).unwrap().to_path_buf();
    if md.is_dir() {
        // Directories are compared through the files in them: mounting a dataset makes its
        // mount point's parents and destroying it leaves them empty, as ZFS does, and
        // jailctl's own lock directory stays.
        for e in std::fs::read_dir(p).unwrap() {
            walk(&e.unwrap().path(), base, out);
        }
    } else if md.is_symlink() {
        // A link counts as its target, never followed.
        let to = std::fs::read_link(p).unwrap();
        out.insert(rel, Some(format!("-> {}", to.display()).into_bytes()));
    } else if !(rel.starts_with("var/db/jailctl/locks")
        && rel.extension().is_some_and(|e| e == "lock"))
    {
        // Lock files stay (flock needs a file); everything else counts.
        out.insert(rel, Some(std::fs::read(p).unwrap()));
    }
}
