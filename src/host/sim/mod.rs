//! The simulated FreeBSD host. A model of the parts of a FreeBSD host jailctl touches, behind
//! a strict interpreter of the commands jailctl runs: each tool fails the way the real one
//! does, with its exit status and message (see `shared/freebsd.md`). Used in-process by the
//! tests and across processes with `--simulate DIR`, where the state lives in `DIR/state.json`
//! under an exclusive lock held for the length of one command. The command history is kept
//! apart, appended to `DIR/history.jsonl`, so the state file does not grow with every command
//! and a command that changed nothing (a `jls`, a `zfs get`) does not rewrite it.
//!
//! Host paths map under `DIR/root/`, so the files jailctl writes through [`HostFs`] land there.
//!
//! One module per tool family; each exposes `run(ctx, args) -> Output` and owns its part of
//! [`SimState`]. A tool that itself runs other tools (jail(8) runs ifconfig and mount) goes
//! back through [`Ctx::exec`], as the real one does.
//!
//! Around every command: an injected fault may answer instead of the tool, and injected
//! latency is slept *before* the state lock is taken, so parallel callers overlap as they
//! would on a real host ([`faults`]). In real-ZFS mode `zfs`/`zpool` go to the real tools
//! ([`realzfs`]). See `docs/simulator.md`.

pub mod cpuset;
pub mod faults;
pub mod jail;
pub mod jailconf;
pub mod mount;
pub mod net;
pub mod rctl;
pub mod realzfs;
pub mod sysctl;
pub mod zfs;

use super::{Cmd, Host, HostFs, Output, ProcessError, Runner, tools};
pub use faults::SimConfig;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Component, Path, PathBuf};

/// The whole simulated machine, persisted as JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SimState {
    pub zfs: zfs::ZfsState,
    pub jail: jail::JailState,
    pub rctl: rctl::RctlState,
    pub cpuset: cpuset::CpusetState,
    pub net: net::NetState,
    pub mount: mount::MountState,
    pub sysctl: sysctl::SysctlState,
    /// Every command run against this host, in order, with its exit status. Not in
    /// `state.json`: during a command it holds that command's entries, which are then
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
}

impl Ctx<'_> {
    /// Run another tool on this host, as a real tool would run a subprocess.
    pub fn exec(&mut self, cmd: &Cmd) -> Result<Output, ProcessError> {
        dispatch(self, cmd)
    }

    /// The real path under the simulator's directory for a host path.
    pub fn host_path(&self, p: &Path) -> PathBuf {
        map_path(self.root, p)
    }
}

/// Map an absolute host path under `root`, dropping `..` so nothing escapes it.
pub fn map_path(root: &Path, p: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir if out != root => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn dispatch(ctx: &mut Ctx<'_>, cmd: &Cmd) -> Result<Output, ProcessError> {
    let args = &cmd.args;
    let config = std::mem::take(&mut ctx.state.config);
    let fault = config.fault_for(cmd, &mut ctx.state.fault_counts);
    let real_zfs = config.real_zfs.is_some();
    ctx.state.config = config;
    let out = match cmd.program.as_str() {
        _ if fault.is_some() => fault.expect("checked"),
        tools::ZFS | tools::ZPOOL if real_zfs => realzfs::run(ctx, cmd),
        tools::ZFS => zfs::run(ctx, args),
        tools::ZPOOL => zfs::run_zpool(ctx, args),
        tools::JAIL => jail::run_jail(ctx, args),
        tools::JLS => jail::run_jls(ctx, args),
        tools::JEXEC => jail::run_jexec(ctx, args),
        tools::PKG => jail::run_pkg(ctx, args),
        tools::RCTL => rctl::run(ctx, args),
        tools::CPUSET => cpuset::run(ctx, args),
        tools::IFCONFIG => net::run(ctx, args),
        tools::MOUNT => mount::run_mount(ctx, args),
        tools::UMOUNT => mount::run_umount(ctx, args),
        tools::SYSCTL => sysctl::run(ctx, args),
        _ => {
            return Err(ProcessError::Spawn {
                cmd: cmd.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{}: not found on the simulated host", cmd.program),
                ),
            });
        }
    };
    ctx.state.history.push(HistoryEntry {
        cmd: cmd.clone(),
        status: out.status,
    });
    Ok(out)
}

/// A simulated FreeBSD host kept in a directory.
#[derive(Debug)]
pub struct SimHost {
    dir: PathBuf,
    root: PathBuf,
    config: SimConfig,
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
        let host = SimHost { dir, root, config };
        let _lock = host.lock()?;
        if !host.state_path().exists() {
            let mut state = SimState::fresh();
            zfs::ensure_mount_dirs(&mut Ctx {
                state: &mut state,
                root: &host.root,
            });
            // Like a real host, a fresh one has a resolver configuration that new jails
            // get a copy of.
            std::fs::create_dir_all(host.root.join("etc"))?;
            std::fs::write(host.root.join("etc/resolv.conf"), "nameserver 192.0.2.53\n")?;
            host.save(&state)?;
        }
        Ok(host)
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn lock(&self) -> std::io::Result<Flock<File>> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))
    }

    fn history_path(&self) -> PathBuf {
        self.dir.join("history.jsonl")
    }

    /// The state file's bytes and what they hold.
    fn load_bytes(&self) -> std::io::Result<(Vec<u8>, SimState)> {
        let bytes = std::fs::read(self.state_path())?;
        let state = serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", self.state_path().display()),
            )
        })?;
        Ok((bytes, state))
    }

    fn load(&self) -> std::io::Result<SimState> {
        Ok(self.load_bytes()?.1)
    }

    fn save(&self, state: &SimState) -> std::io::Result<()> {
        self.save_bytes(&serde_json::to_vec(state)?)
    }

    /// Replace the state file atomically (temporary file, fsync, rename), so a killed
    /// command leaves the old state or the new one.
    fn save_bytes(&self, bytes: &[u8]) -> std::io::Result<()> {
        super::system::write_atomic(&self.state_path(), bytes, 0o644, || {})
    }

    /// Append the entries to `history.jsonl`, one JSON object per line, in one write.
    fn append_history(&self, entries: &[HistoryEntry]) -> std::io::Result<()> {
        use std::io::Write;
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.history_path())?
            .write_all(&buf)
    }

    fn load_history(&self) -> std::io::Result<Vec<HistoryEntry>> {
        let text = match std::fs::read_to_string(self.history_path()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} line {}: {e}", self.history_path().display(), i + 1),
                    )
                })
            })
            .collect()
    }

    /// Run `f` on the state under the lock; append the commands it ran to the history and
    /// write the state back only if it changed.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> T) -> std::io::Result<T> {
        let _lock = self.lock()?;
        let (before, mut state) = self.load_bytes()?;
        state.config = self.config.clone();
        let mut ctx = Ctx {
            state: &mut state,
            root: &self.root,
        };
        let t = f(&mut ctx);
        let ran = std::mem::take(&mut state.history);
        let after = serde_json::to_vec(&state)?;
        if after != before {
            self.save_bytes(&after)?;
        }
        self.append_history(&ran)?;
        Ok(t)
    }

    /// A copy of the current state with the whole history, for tests and inspection.
    pub fn snapshot(&self) -> std::io::Result<SimState> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        state.history = self.load_history()?;
        Ok(state)
    }
}

impl SimState {
    /// A fresh machine: one pool, the default sysctls and interfaces.
    pub fn fresh() -> Self {
        let mut s = SimState::default();
        zfs::init_fresh(&mut s);
        sysctl::init_fresh(&mut s);
        net::init_fresh(&mut s);
        s
    }
}

impl Runner for SimHost {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        // Outside the lock: parallel callers wait side by side, as on a real host.
        if let Some(d) = self.config.latency_for(cmd) {
            std::thread::sleep(d);
        }
        self.with_state(|ctx| {
            jail::tick_dying(ctx.state);
            dispatch(ctx, cmd)
        })
        .map_err(|source| ProcessError::Spawn {
            cmd: cmd.clone(),
            source,
        })?
    }

    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        let out = self.output(cmd)?;
        print!("{}", out.stdout);
        eprint!("{}", out.stderr);
        Ok(out.status)
    }
}

impl HostFs for SimHost {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(map_path(&self.root, path))
    }
    /// Atomic, as on the real host ([`super::system::write_atomic`]). With a kill-in-write
    /// setting matching `path`, the process kills itself with SIGKILL once the temporary
    /// file is complete, before the rename: the exact point a kill would hurt a
    /// non-atomic write.
    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        let p = map_path(&self.root, path);
        super::system::write_atomic(&p, contents, mode, || {
            if self.config.kill_in_write_fires(path) {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        })
    }
    fn mkdir_p(&self, path: &Path, _mode: u32) -> std::io::Result<()> {
        std::fs::create_dir_all(map_path(&self.root, path))
    }
    fn exists(&self, path: &Path) -> bool {
        map_path(&self.root, path).exists()
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(map_path(&self.root, path))
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(map_path(&self.root, path))? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn local_path(&self, path: &Path) -> PathBuf {
        map_path(&self.root, path)
    }
}

impl Host for SimHost {
    fn simulated(&self) -> Option<String> {
        Some(format!("simulated FreeBSD host at {}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_read_only_command_is_recorded_without_rewriting_the_state() {
        let d = tempfile::tempdir().unwrap();
        let h = SimHost::open_with(&d.path().join("sim"), SimConfig::default()).unwrap();
        let state = h.dir().join("state.json");
        let inode = || std::fs::metadata(&state).unwrap().ino();
        let first = inode();
        h.run(&Cmd::new(tools::SYSCTL, ["-n", "hw.ncpu"])).unwrap();
        h.output(&Cmd::new(tools::ZFS, ["get", "-H", "quota", "zroot/nope"]))
            .unwrap();
        assert_eq!(inode(), first, "a read-only command rewrote state.json");
        h.run(&Cmd::new(tools::ZFS, ["create", "zroot/a"])).unwrap();
        assert_ne!(inode(), first, "a change was not saved");
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
}
