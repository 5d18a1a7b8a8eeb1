//! The simulated FreeBSD host, its own crate so the planning core and the seam never depend
//! on it (the binary has it behind the default `sim` feature). A model of the parts of a
//! FreeBSD host jailctl touches, behind a strict interpreter of the commands jailctl runs:
//! each tool fails the way the real one does, with its exit status and message (see `shared/freebsd.md`). Used in-process by the
//! tests and across processes with `--simulate DIR`, where the state lives in `DIR/state.jsonl`,
//! a log of the entries each command changed (`store`), appended under an exclusive lock held
//! for the length of one command; reads hold it shared. The command history is kept apart,
//! appended to `DIR/history.jsonl`, so a command that changed nothing (a `jls`, a `zfs get`)
//! writes nothing to the state.
//!
//! Host paths map under `DIR/root/`, so the files jailctl writes through
//! [`HostFs`](jailctl_host::HostFs) land there.
//!
//! One module per tool family; each exposes `run(ctx, args) -> Output` and owns its part of
//! [`SimState`]. A tool that itself runs other tools (jail(8) runs ifconfig and mount) goes
//! back through [`Ctx::exec`], as the real one does.
//!
//! Around every command: an injected fault may answer instead of the tool, and injected
//! latency is slept *before* the state lock is taken, so parallel callers overlap as they
//! would on a real host ([`faults`]). In real-ZFS mode `zfs`/`zpool` go to the real tools
//! ([`realzfs`]). See `docs/simulator.md`.
//!
//! Below the tool models, the host itself: `paths` (host paths under `DIR/root/`), `store`
//! (the state's log, its locks, cache and history), `table` (the collections that record
//! which entries a command changed), `run` (one command's path, and `Runner`)
//! and `host` (`HostFs` and `Host`). This file keeps the state, the context a tool runs in
//! and opening a simulated host.

// No unsafe code at all in this crate (the workspace denies it; the one allowed block is in
// the binary's SIGPIPE handling).
#![forbid(unsafe_code)]

pub mod addr;
pub mod cpuset;
pub mod faults;
#[cfg(feature = "test-support")]
pub mod fingerprint;
mod host;
pub mod jail;
pub mod jailconf;
pub mod kld;
mod memo;
pub mod mount;
pub mod net;
mod paths;
pub mod pf;
pub mod rctl;
pub mod realzfs;
mod run;
mod store;
pub mod sysctl;
pub mod table;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod zfs;

pub use faults::SimConfig;
use jailctl_host::{Cmd, Output, ProcessError};
pub use paths::{Last, map_path, resolve, unresolvable};
use run::dispatch;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use store::StateCache;

/// The whole simulated machine, persisted as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimState {
    pub zfs: zfs::ZfsState,
    pub jail: jail::JailState,
    pub rctl: rctl::RctlState,
    pub cpuset: cpuset::CpusetState,
    pub net: net::NetState,
    pub mount: mount::MountState,
    pub sysctl: sysctl::SysctlState,
    #[serde(default)]
    pub kld: kld::KldState,
    /// The packet filter (pfctl(8)): rulesets, anchors, tables.
    #[serde(default)]
    pub pf: pf::PfState,
    /// Every command run against this host, in order, with its exit status. Not in
    /// `state.jsonl`: during a command it holds that command's entries, which are then
    /// appended to `history.jsonl`; [`SimHost::snapshot`] reads the whole history back.
    #[serde(skip)]
    pub history: Vec<HistoryEntry>,
    /// How many commands each fault rule has matched so far (key: `INDEX:PATTERN`).
    #[serde(default)]
    pub fault_counts: std::collections::BTreeMap<String, u64>,
    /// This run's settings (faults, latency, real ZFS); loaded, never persisted.
    #[serde(skip)]
    pub config: SimConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryEntry {
    pub cmd: Cmd,
    pub status: i32,
}

/// What one command sees: the machine state and where host paths live.
pub struct Ctx<'a> {
    pub state: &'a mut SimState,
    /// The directory that stands for the host's `/`.
    pub root: &'a Path,
    /// A command run during this one hung (a `hang` rule): the command jailctl ran hangs too.
    pub hung: bool,
    /// The standard input of a command run through [`Runner::pipe`](jailctl_host::Runner::pipe) (`zfs receive`), read
    /// whole before the state lock is taken; `None` for a command with no input.
    pub stdin: Option<Vec<u8>>,
    /// What a streaming tool (`zfs send`) writes to its standard output, as bytes: handed to
    /// the caller's writer by [`Runner::pipe`](jailctl_host::Runner::pipe), appended (lossily, as text) to the captured
    /// stdout by [`Runner::output`](jailctl_host::Runner::output).
    pub stdout: Vec<u8>,
}

impl Ctx<'_> {
    /// Run another tool on this host, as a real tool would run a subprocess.
    pub fn exec(&mut self, cmd: &Cmd) -> Result<Output, ProcessError> {
        dispatch(self, cmd)
    }

    /// The real path under the simulator's directory for a host path, following symbolic
    /// links the way the kernel does, but confined to the simulated root ([`resolve`]).
    /// A path that cannot be resolved (a link loop) maps to [`unresolvable`], which every
    /// system call refuses, so the tool fails instead of touching anything.
    pub fn host_path(&self, p: &Path) -> PathBuf {
        resolve(self.root, p, Last::Follow).unwrap_or_else(|_| unresolvable(self.root))
    }

    /// Path `p` as a process in a jail rooted at host path `jail_root` sees it: the jail's
    /// root is resolved on the host, then `p` below it with the jail's root as `/` (chroot(2)
    /// semantics), so a link inside a jail never leads out of that jail.
    pub fn jail_path(&self, jail_root: &str, p: &Path, last: Last) -> PathBuf {
        let top = self.host_path(Path::new(jail_root));
        resolve(&top, p, last).unwrap_or_else(|_| unresolvable(self.root))
    }

    /// [`Ctx::host_path`] with the error, for tools that report it (mount(8)).
    pub fn resolve(&self, p: &Path, last: Last) -> std::io::Result<PathBuf> {
        resolve(self.root, p, last)
    }
}

/// A simulated FreeBSD host kept in a directory.
#[derive(Debug)]
pub struct SimHost {
    dir: PathBuf,
    root: PathBuf,
    config: SimConfig,
    /// The deadlines this handle runs commands with, as [`jailctl_host::system::SystemHost`] does.
    deadlines: jailctl_host::deadline::Deadlines,
    /// The state as this handle last read or wrote it, with the identity of the file it came
    /// from ([`StateCache`]).
    cache: std::sync::Mutex<Option<StateCache>>,
}

impl SimHost {
    /// Open the simulated host in `dir`, creating a fresh one (with a pool) if `dir` has none.
    /// Faults, latency and real-ZFS mode come from `DIR/faults.toml` and the environment.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let config = SimConfig::load(dir)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Self::open_with(dir, config)
    }

    /// Open with explicit settings (tests: no environment involved).
    pub fn open_with(dir: &Path, config: SimConfig) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let root = dir.join("root");
        std::fs::create_dir_all(&root)?;
        // The simulated `/` itself must be a directory: a link there would carry every path
        // of the simulated host out of `dir`.
        if std::fs::symlink_metadata(&root)?.file_type().is_symlink() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{}: the simulated host's root is a symbolic link; remove it (jailctl \
                     recreates it as a directory)",
                    root.display()
                ),
            ));
        }
        let host = SimHost {
            dir,
            root,
            config,
            deadlines: Default::default(),
            cache: Default::default(),
        };
        let _lock = host.lock()?;
        if !host.state_path().exists() && !host.convert_legacy()? {
            let mut state = SimState::fresh();
            zfs::ensure_mount_dirs(&mut Ctx {
                stdin: None,
                stdout: Vec::new(),
                state: &mut state,
                root: &host.root,
                hung: false,
            });
            // Like a real host, a fresh one has a resolver configuration that new jails
            // get a copy of.
            std::fs::create_dir_all(host.resolve(Path::new("/etc"), Last::Follow)?)?;
            std::fs::write(
                host.resolve(Path::new("/etc/resolv.conf"), Last::Follow)?,
                "nameserver 192.0.2.53\n",
            )?;
            host.create_state(&mut state)?;
        }
        Ok(host)
    }

    /// Run commands with these deadlines (`[deadlines]` of jailctl.toml).
    pub fn with_deadlines(mut self, deadlines: jailctl_host::deadline::Deadlines) -> Self {
        self.deadlines = deadlines;
        self
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A simulated host path as a path under the simulator's directory ([`resolve`]).
    fn resolve(&self, path: &Path, last: Last) -> std::io::Result<PathBuf> {
        resolve(&self.root, path, last)
    }
}

impl SimState {
    /// A fresh machine: one pool, the default sysctls and interfaces.
    pub fn fresh() -> Self {
        let mut s = SimState::default();
        zfs::init_fresh(&mut s);
        sysctl::init_fresh(&mut s);
        kld::init_fresh(&mut s);
        net::init_fresh(&mut s);
        s
    }
}

/// strerror(3) text for the errors the simulator reports.
pub fn strerror(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        std::io::ErrorKind::NotADirectory => "Not a directory".into(),
        std::io::ErrorKind::IsADirectory => "Is a directory".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jailctl_host::{Runner, tools};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn resolve_follows_links_within_the_root_only() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("jails")).unwrap();
        let r = |p: &str, last| resolve(&root, Path::new(p), last).unwrap();
        // Absolute: from the simulated `/`, never the machine's.
        symlink("/etc", root.join("jails/abs")).unwrap();
        assert_eq!(
            r("/jails/abs/passwd", Last::Follow),
            root.join("etc/passwd")
        );
        // `..` past the root stays at the root.
        symlink("../../../../../../etc", root.join("jails/up")).unwrap();
        assert_eq!(r("/jails/up", Last::Follow), root.join("etc"));
        assert_eq!(r("/../../etc/x", Last::Follow), root.join("etc/x"));
        // A link as the last component: followed or kept.
        assert_eq!(r("/jails/abs", Last::NoFollow), root.join("jails/abs"));
        assert_eq!(r("/jails/abs/", Last::Follow), root.join("etc"));
        // A chain of links, and a missing tail.
        symlink("abs", root.join("jails/chain")).unwrap();
        assert_eq!(r("/jails/chain/a/b", Last::Follow), root.join("etc/a/b"));
        // A loop: ELOOP after MAXSYMLINKS, as namei(9).
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        let e = resolve(&root, Path::new("/a"), Last::Follow).unwrap_err();
        assert_eq!(e.raw_os_error(), None);
        assert!(
            e.to_string().contains("Too many levels of symbolic links"),
            "{e}"
        );
        assert!(std::fs::metadata(unresolvable(&root)).is_err());
        assert!(std::fs::create_dir_all(unresolvable(&root)).is_err());
    }

    #[test]
    fn a_simulator_whose_root_is_a_link_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("sim");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(d.path(), dir.join("root")).unwrap();
        let e = SimHost::open_with(&dir, SimConfig::default()).unwrap_err();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
    }

    #[test]
    fn a_read_only_command_is_recorded_without_rewriting_the_state() {
        let d = tempfile::tempdir().unwrap();
        let h = SimHost::open_with(&d.path().join("sim"), SimConfig::default()).unwrap();
        let state = h.dir().join("state.jsonl");
        let file = || {
            let m = std::fs::metadata(&state).unwrap();
            (m.ino(), m.len())
        };
        let first = file();
        h.run(&Cmd::new(tools::SYSCTL, ["-n", "hw.ncpu"])).unwrap();
        h.output(&Cmd::new(tools::ZFS, ["get", "-H", "quota", "zroot/nope"]))
            .unwrap();
        assert_eq!(file(), first, "a read-only command wrote to state.jsonl");
        h.run(&Cmd::new(tools::ZFS, ["create", "zroot/a"])).unwrap();
        let after = file();
        assert_eq!(
            after.0, first.0,
            "a change rewrote the log instead of appending"
        );
        assert!(after.1 > first.1, "a change was not saved");
        // One line: the new dataset and the heads whose bytes changed (the txg), nothing
        // else of the host.
        let text = std::fs::read_to_string(&state).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.contains("\"zfs.datasets/zroot/a\""), "{last}");
        assert!(!last.contains("\"zfs.datasets/zroot\""), "{last}");
        assert!(!last.contains("head/sysctl"), "{last}");
        let st = h.snapshot().unwrap();
        assert!(st.zfs.datasets.contains_key("zroot/a"));
        let run: Vec<(String, i32)> = st
            .history
            .iter()
            .map(|e| (e.cmd.to_string(), e.status))
            .collect();
        assert_eq!(
            run,
            [
                (format!("{} -n hw.ncpu", tools::SYSCTL), 0),
                (format!("{} get -H quota zroot/nope", tools::ZFS), 1),
                (format!("{} create zroot/a", tools::ZFS), 0),
            ]
        );
    }

    /// Two handles on one directory (two processes, as far as the cache can tell): each
    /// command sees what the other handle wrote last, although both keep a parsed copy.
    #[test]
    fn two_handles_see_each_others_writes() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("sim");
        let a = SimHost::open_with(&dir, SimConfig::default()).unwrap();
        let b = SimHost::open_with(&dir, SimConfig::default()).unwrap();
        let names = |h: &SimHost| {
            h.run(&Cmd::new(
                tools::ZFS,
                ["list", "-H", "-o", "name", "-r", "zroot"],
            ))
            .unwrap()
            .stdout
        };
        for i in 0..4 {
            let (w, r) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            // Warm the reader's cache, change the host through the writer, read again.
            let before = names(r);
            w.run(&Cmd::new(tools::ZFS, ["create", &format!("zroot/d{i}")]))
                .unwrap();
            let after = names(r);
            assert!(!before.contains(&format!("zroot/d{i}\n")), "{before}");
            assert!(
                after.contains(&format!("zroot/d{i}\n")),
                "handle {i}: {after}"
            );
        }
        // The same for the other parts of the state, which are saved without re-serialising
        // the datasets: an interface made through one handle, then a dataset through the
        // other, and both are there for a third handle reading the file afresh.
        a.run(&Cmd::new(tools::IFCONFIG, ["lo1", "create"]))
            .unwrap();
        b.run(&Cmd::new(tools::ZFS, ["create", "zroot/late"]))
            .unwrap();
        a.run(&Cmd::new(tools::IFCONFIG, ["lo2", "create"]))
            .unwrap();
        let c = SimHost::open_with(&dir, SimConfig::default()).unwrap();
        let st = c.snapshot().unwrap();
        assert!(st.zfs.datasets.contains_key("zroot/late"));
        assert!(st.zfs.datasets.contains_key("zroot/d3"));
        let ifs = c.run(&Cmd::new(tools::IFCONFIG, ["-l"])).unwrap().stdout;
        assert!(ifs.contains("lo1") && ifs.contains("lo2"), "{ifs}");
    }

    /// A change made through `with_state` (tests set up hosts this way) is saved whatever
    /// part it touches, the datasets included, although no `zfs` ran.
    #[test]
    fn a_direct_change_to_the_datasets_is_saved() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("sim");
        let a = SimHost::open_with(&dir, SimConfig::default()).unwrap();
        // Cache the datasets' bytes, then change them without a zfs command.
        a.run(&Cmd::new(tools::IFCONFIG, ["lo1", "create"]))
            .unwrap();
        a.with_state(|ctx| {
            let z = ctx.state.zfs.datasets.get("zroot").unwrap().clone();
            ctx.state.zfs.datasets.insert("zroot/direct".into(), z);
        })
        .unwrap();
        a.run(&Cmd::new(tools::IFCONFIG, ["lo2", "create"]))
            .unwrap();
        let fresh = SimHost::open_with(&dir, SimConfig::default()).unwrap();
        assert!(
            fresh
                .snapshot()
                .unwrap()
                .zfs
                .datasets
                .contains_key("zroot/direct"),
            "the direct change was lost"
        );
    }
}
