//! The simulated FreeBSD host, its own crate so the planning core and the seam never depend
//! on it (the binary has it behind the default `sim` feature). A model of the parts of a
//! FreeBSD host jailctl touches, behind a strict interpreter of the commands jailctl runs:
//! each tool fails the way the real one does, with its exit status and message (see `shared/freebsd.md`). Used in-process by the
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

// No unsafe code at all in this crate (the workspace denies it; the one allowed block is in
// the binary's SIGPIPE handling).
#![forbid(unsafe_code)]

pub mod addr;
pub mod cpuset;
pub mod faults;
#[cfg(feature = "test-support")]
pub mod fingerprint;
pub mod jail;
pub mod jailconf;
pub mod kld;
pub mod mount;
pub mod net;
pub mod pf;
pub mod rctl;
pub mod realzfs;
pub mod sysctl;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod zfs;

pub use faults::SimConfig;
use jailctl_host::{Cmd, Host, HostFs, Output, ProcessError, Runner, tools};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Component, Path, PathBuf};

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
    /// A command run during this one hung (a `hang` rule): the command jailctl ran hangs too.
    pub hung: bool,
    /// The standard input of a command run through [`Runner::pipe`] (`zfs receive`), read
    /// whole before the state lock is taken; `None` for a command with no input.
    pub stdin: Option<Vec<u8>>,
    /// What a streaming tool (`zfs send`) writes to its standard output, as bytes: handed to
    /// the caller's writer by [`Runner::pipe`], appended (lossily, as text) to the captured
    /// stdout by [`Runner::output`].
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

/// Map an absolute host path under `root` lexically, dropping `..` so nothing escapes it.
/// Only for trees the simulator alone writes (its snapshot store); every path of the
/// simulated host goes through [`resolve`].
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

/// Whether [`resolve`] follows a symbolic link in the last component (stat(2), open(2),
/// mount(2)) or leaves it to be acted on itself (lstat(2), unlink(2), rename(2)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last {
    Follow,
    NoFollow,
}

/// FreeBSD's MAXSYMLINKS (sys/param.h): namei(9) gives up with ELOOP after this many links.
const MAXSYMLINKS: usize = 32;

/// The one place a simulated host path becomes a path on the machine running the simulator.
///
/// The simulator's `root` directory is the simulated machine's `/`, so a path is resolved
/// the way namei(9) resolves it for a process whose root is that directory: component by
/// component; a symbolic link is read and its target resolved in its place, an absolute
/// target from the simulated `/`, a relative one from the link's directory; `..` at the root
/// stays at the root (as `/..` is `/`). Every component of the result except a
/// [`Last::NoFollow`] last one is a directory that exists and is no link, or does not exist
/// yet, so the caller's own system calls cannot follow anything out of `root` whatever links
/// the simulated host's files hold. More than [`MAXSYMLINKS`] links is ELOOP, as on FreeBSD.
/// The state lock is held for a whole command, so nothing changes the tree in between.
pub fn resolve(root: &Path, p: &Path, last: Last) -> std::io::Result<PathBuf> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    let mut todo: VecDeque<OsString> = VecDeque::new();
    push_front(&mut todo, p);
    let mut out: Vec<OsString> = Vec::new();
    let mut links = 0;
    let here = |out: &[OsString]| {
        let mut d = root.to_path_buf();
        d.extend(out);
        d
    };
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            out.pop();
            continue;
        }
        let at = here(&out).join(&c);
        let is_last = todo.is_empty();
        let link = match std::fs::symlink_metadata(&at) {
            Ok(md) => md.file_type().is_symlink() && !(is_last && last == Last::NoFollow),
            Err(_) => false,
        };
        if !link {
            out.push(c);
            continue;
        }
        links += 1;
        if links > MAXSYMLINKS {
            return Err(std::io::Error::new(
                std::io::Error::from_raw_os_error(nix::libc::ELOOP).kind(),
                format!(
                    "{}: Too many levels of symbolic links (more than {MAXSYMLINKS} links)",
                    p.display()
                ),
            ));
        }
        let target = std::fs::read_link(&at)?;
        if target.is_absolute() {
            out.clear();
        }
        push_front(&mut todo, &target);
    }
    Ok(here(&out))
}

/// Put `p`'s components (without `/` and `.`) in front of `todo`, in order.
fn push_front(todo: &mut std::collections::VecDeque<std::ffi::OsString>, p: &Path) {
    for c in p.components().rev() {
        match c {
            Component::Normal(s) => todo.push_front(s.to_os_string()),
            Component::ParentDir => todo.push_front("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

/// A path under `root` that no system call accepts (its name holds a NUL byte): what an
/// unresolvable simulated path maps to, so a tool acting on it fails and changes nothing.
pub fn unresolvable(root: &Path) -> PathBuf {
    root.join("unresolvable\0link loop")
}

fn dispatch(ctx: &mut Ctx<'_>, cmd: &Cmd) -> Result<Output, ProcessError> {
    let args = &cmd.args;
    let config = std::mem::take(&mut ctx.state.config);
    let fault = config.fault_for(cmd, &mut ctx.state.fault_counts);
    let real_zfs = config.real_zfs.is_some();
    ctx.state.config = config;
    let out = match cmd.program.as_str() {
        _ if fault == Some(faults::Fault::Hang) => {
            // Recorded as the kill that ends it; the caller waits out the deadline.
            ctx.hung = true;
            ctx.state.history.push(HistoryEntry {
                cmd: cmd.clone(),
                status: faults::KILLED,
            });
            return Err(hung(cmd));
        }
        _ if fault.is_some() => match fault.expect("checked") {
            faults::Fault::Fail(out) => out,
            faults::Fault::Hang => unreachable!("handled above"),
        },
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
        tools::KLDSTAT => kld::run_kldstat(ctx, args),
        tools::KLDLOAD => kld::run_kldload(ctx, args),
        tools::KLDUNLOAD => kld::run_kldunload(ctx, args),
        tools::PFCTL => {
            let input = ctx.stdin.take().or_else(|| cmd.stdin.clone());
            pf::run(ctx, args, input.as_deref())
        }
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

/// The answer of a hung command inside the state lock: a [`ProcessError::TimedOut`] with no
/// deadline yet; [`SimHost::output_within`] waits the deadline out (outside the lock) and
/// fills it in.
fn hung(cmd: &Cmd) -> ProcessError {
    ProcessError::TimedOut {
        cmd: cmd.clone(),
        after: std::time::Duration::ZERO,
        knob: String::new(),
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

/// How [`SimHost::locked`] learns whether a command changed the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writes {
    /// Compare the state with a copy taken before (anything a test does to the state).
    IfChanged,
    /// Write it back without comparing (a command that changes the host when it succeeds).
    Always,
    /// Write it back only if the closure says so ([`reads_only`]: the bookkeeping around
    /// a read — a fault's match count, a dying jail counted down — is all that can change).
    OnlyIfSaid,
}

/// Whether `cmd` only reads the host: `jls`, `zfs list|get`, `zpool list|get`, `sysctl`
/// without `=`, `rctl` without `-a`/`-r`, `ifconfig -l`, `kldstat`, `mount` without
/// arguments. Anything else may write.
fn reads_only(cmd: &Cmd) -> bool {
    let first = cmd.args.first().map(String::as_str);
    match cmd.program.as_str() {
        tools::JLS | tools::KLDSTAT => true,
        tools::ZFS => matches!(first, Some("list" | "get" | "send")),
        tools::ZPOOL => matches!(first, Some("list" | "get")),
        tools::SYSCTL => cmd.args.iter().all(|a| !a.contains('=')),
        tools::RCTL => cmd
            .args
            .iter()
            .all(|a| !(a.starts_with('-') && (a.contains('a') || a.contains('r')))),
        tools::IFCONFIG => cmd.args == ["-l"],
        tools::MOUNT => cmd.args.is_empty(),
        tools::PFCTL => jailctl_host::readonly::is_read_only(cmd),
        _ => false,
    }
}

/// The parsed state of one version of `state.json`, so a command does not parse the file
/// again when nobody has replaced it since this handle last read or wrote it.
///
/// Every write replaces the file by a rename, so a new version is a new inode. The cache
/// keeps the old version open: while an inode is open it cannot be freed, so its number
/// cannot be given to a later version, and "same device, inode, size and modification time
/// as the cached file" means "the cached file". A version written by another process or
/// another handle is therefore always seen.
#[derive(Debug)]
struct StateCache {
    _file: File,
    id: FileId,
    state: SimState,
    /// Each part of the state as it is in the file, when known ([`Parts`]): a command
    /// serialises again only the parts the tools it ran can change, and writes the others'
    /// bytes as they were.
    parts: Option<Parts>,
}

/// The parts of [`SimState`] saved one after the other in `state.json`, by the tools that
/// change them. Serialising the whole state after every command made its cost grow with the
/// host (the datasets were about 60 % of it with 200 jails, the jails most of the rest).
const PARTS: [&str; 9] = [
    "zfs", "jail", "rctl", "cpuset", "net", "mount", "sysctl", "kld", "pf",
];

/// The serialised bytes of each of [`PARTS`], in that order.
type Parts = [Vec<u8>; 9];

/// One bit per entry of [`PARTS`].
type PartSet = u16;
const ALL_PARTS: PartSet = 0x1ff;
const ZFS_PART: PartSet = 1;

/// The parts a tool can change. jail(8) runs other tools (mount, ifconfig, the hooks) inside
/// the same command, and those are in the history too, so each adds its own; a tool not
/// listed may change anything. Checked against a copy of the state in debug builds (every
/// test): a part changed outside this map panics.
fn parts_changed_by(program: &str) -> PartSet {
    let bit = |name: &str| 1u16 << PARTS.iter().position(|p| *p == name).expect("a part");
    match program {
        tools::ZFS | tools::ZPOOL => bit("zfs"),
        tools::RCTL => bit("rctl"),
        tools::CPUSET => bit("cpuset"),
        tools::IFCONFIG => bit("net"),
        tools::MOUNT | tools::UMOUNT => bit("mount"),
        tools::SYSCTL => bit("sysctl"),
        tools::KLDLOAD | tools::KLDSTAT => bit("kld"),
        tools::PFCTL => bit("pf"),
        tools::JLS => 0,
        // jail(8), jexec, pkg and the rest: everything but the datasets, which only zfs(8)
        // changes (their own nested zfs runs are recorded and add it).
        _ => ALL_PARTS & !ZFS_PART,
    }
}

fn part_bytes(state: &SimState, i: usize) -> serde_json::Result<Vec<u8>> {
    match i {
        0 => serde_json::to_vec(&state.zfs),
        1 => serde_json::to_vec(&state.jail),
        2 => serde_json::to_vec(&state.rctl),
        3 => serde_json::to_vec(&state.cpuset),
        4 => serde_json::to_vec(&state.net),
        5 => serde_json::to_vec(&state.mount),
        6 => serde_json::to_vec(&state.sysctl),
        7 => serde_json::to_vec(&state.kld),
        _ => serde_json::to_vec(&state.pf),
    }
}

/// Whether part `i` differs between two states.
fn part_differs(a: &SimState, b: &SimState, i: usize) -> bool {
    match i {
        0 => a.zfs != b.zfs,
        1 => a.jail != b.jail,
        2 => a.rctl != b.rctl,
        3 => a.cpuset != b.cpuset,
        4 => a.net != b.net,
        5 => a.mount != b.mount,
        6 => a.sysctl != b.sysctl,
        7 => a.kld != b.kld,
        _ => a.pf != b.pf,
    }
}

/// What identifies one version of `state.json` while it is held open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl FileId {
    fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
        }
    }
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
        if !host.state_path().exists() {
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
            host.save(&state, None, ALL_PARTS)?;
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

    fn load(&self) -> std::io::Result<SimState> {
        Ok(self.load_cached()?.state)
    }

    /// Replace the state file atomically (temporary file, rename), so a killed command
    /// leaves the old state or the new one. Not fsynced: see [`HostFs::write`] below.
    /// `known` holds the bytes of the parts not in `stale`, from the last save; the others
    /// are serialised again. Returns every part's bytes, for the next save.
    fn save(
        &self,
        state: &SimState,
        known: Option<Parts>,
        stale: PartSet,
    ) -> std::io::Result<Parts> {
        let mut parts: Parts = Default::default();
        let mut known = known;
        for (i, part) in parts.iter_mut().enumerate() {
            *part = match known.as_mut() {
                Some(k) if stale & (1 << i) == 0 => std::mem::take(&mut k[i]),
                _ => part_bytes(state, i)?,
            };
        }
        let counts = serde_json::to_vec(&state.fault_counts)?;
        // One JSON object with the fields of `SimState`'s own serialisation.
        let mut bytes = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 128);
        bytes.push(b'{');
        for (name, part) in PARTS.iter().zip(&parts) {
            bytes.extend_from_slice(format!("\"{name}\":").as_bytes());
            bytes.extend_from_slice(part);
            bytes.push(b',');
        }
        bytes.extend_from_slice(b"\"fault_counts\":");
        bytes.extend_from_slice(&counts);
        bytes.push(b'}');
        jailctl_host::system::write_atomic(&self.state_path(), &bytes, 0o644, false, || {})?;
        Ok(parts)
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
        self.locked(Writes::IfChanged, |ctx| (f(ctx), true, true))
    }

    /// [`Self::with_state`] with the caller's knowledge of whether `f` writes ([`Writes`]).
    ///
    /// The state is parsed only when `state.json` is not the version this handle last read
    /// or wrote ([`StateCache`]). Deciding whether a command changed the state costs a copy
    /// of it and a comparison, and writing it costs serialising it: a command known to
    /// change the state skips the copy, and one known to read it skips both.
    fn locked<T>(
        &self,
        writes: Writes,
        f: impl FnOnce(&mut Ctx<'_>) -> (T, bool, bool),
    ) -> std::io::Result<T> {
        let _lock = self.lock()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let current = FileId::of(&std::fs::metadata(self.state_path())?);
        let mut entry = match cache.take() {
            Some(c) if c.id == current => c,
            _ => self.load_cached()?,
        };
        let mut state = std::mem::take(&mut entry.state);
        let known = entry.parts.take();
        state.config = self.config.clone();
        // A read-only command is checked against a copy in debug builds (every test), so a
        // command classed as read-only that changes the state fails the tests.
        let before = match writes {
            Writes::IfChanged => Some(state.clone()),
            Writes::OnlyIfSaid if cfg!(debug_assertions) => Some(state.clone()),
            _ => None,
        };
        // Checked the same way: a command that changed a part its tools do not change
        // ([`parts_changed_by`]) fails the tests.
        let parts_before =
            (cfg!(debug_assertions) && before.is_none() && known.is_some()).then(|| state.clone());
        let mut ctx = Ctx {
            state: &mut state,
            root: &self.root,
            hung: false,
            stdin: None,
            stdout: Vec::new(),
        };
        let (t, said, beyond) = f(&mut ctx);
        let ran = std::mem::take(&mut state.history);
        let changed = match (writes, &before) {
            (Writes::Always, _) => true,
            (Writes::IfChanged, Some(b)) => state != *b,
            (Writes::OnlyIfSaid, b) => {
                if let Some(b) = b {
                    assert!(
                        said || state == *b,
                        "the simulated host classes {:?} as read-only, but it changed the state",
                        ran.first().map(|h| &h.cmd)
                    );
                }
                said
            }
            (Writes::IfChanged, None) => unreachable!("a copy is taken for IfChanged"),
        };
        // What must be serialised again: nothing for an unchanged state; for `with_state`,
        // the parts that differ from the copy; for a command, what its tools change (all
        // but the datasets when it changed something no tool accounts for, the clock of
        // dying jails).
        let stale: PartSet = match (writes, &before) {
            _ if !changed => 0,
            (Writes::IfChanged, Some(b)) => (0..PARTS.len())
                .filter(|&i| part_differs(b, &state, i))
                .fold(0, |m, i| m | (1 << i)),
            _ => {
                let by_tools = ran
                    .iter()
                    .fold(0, |m, h| m | parts_changed_by(&h.cmd.program));
                if beyond {
                    by_tools | (ALL_PARTS & !ZFS_PART)
                } else {
                    by_tools
                }
            }
        };
        if let Some(b) = parts_before.as_ref().or(before.as_ref()) {
            for (i, name) in PARTS.iter().enumerate() {
                assert!(
                    stale & (1 << i) != 0 || !part_differs(b, &state, i),
                    "the simulated host changed its {name} state in {:?}, whose tools do not change it",
                    ran.first().map(|h| &h.cmd)
                );
            }
        }
        let parts = if changed {
            let parts = self.save(&state, known, stale)?;
            entry = self.open_state()?;
            Some(parts)
        } else {
            known
        };
        entry.state = state;
        entry.parts = parts;
        *cache = Some(entry);
        self.append_history(&ran)?;
        Ok(t)
    }

    /// Open `state.json` and note its identity, without parsing it.
    fn open_state(&self) -> std::io::Result<StateCache> {
        let file = File::open(self.state_path())?;
        let id = FileId::of(&file.metadata()?);
        Ok(StateCache {
            _file: file,
            id,
            state: SimState::default(),
            parts: None,
        })
    }

    /// Open, identify and parse `state.json`.
    fn load_cached(&self) -> std::io::Result<StateCache> {
        use std::io::Read;
        let mut c = self.open_state()?;
        let mut bytes = Vec::with_capacity(c.id.size as usize);
        c._file.read_to_end(&mut bytes)?;
        c.state = serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", self.state_path().display()),
            )
        })?;
        Ok(c)
    }

    /// Run one command within `deadline`, with `stdin` as its input; returns its output and
    /// the bytes it wrote to [`Ctx::stdout`].
    fn run_cmd(
        &self,
        cmd: &Cmd,
        deadline: std::time::Duration,
        stdin: Option<Vec<u8>>,
    ) -> Result<(Output, Vec<u8>), ProcessError> {
        let timed_out = || {
            std::thread::sleep(deadline);
            ProcessError::TimedOut {
                cmd: cmd.clone(),
                after: deadline,
                knob: jailctl_host::deadline::knob(cmd),
            }
        };
        // Outside the lock: parallel callers wait side by side, as on a real host.
        if let Some(d) = self.config.latency_for(cmd) {
            if d >= deadline {
                return Err(timed_out());
            }
            std::thread::sleep(d);
        }
        let writes = if reads_only(cmd) {
            Writes::OnlyIfSaid
        } else {
            Writes::Always
        };
        let r = self
            .locked(writes, |ctx| {
                // One standard input, however it came: streamed through `pipe`, or the bytes
                // a command carries (`pfctl -f -`).
                ctx.stdin = stdin.or_else(|| cmd.stdin.clone());
                let counted = ctx.state.fault_counts.clone();
                let ticked = jail::tick_dying(ctx.state);
                let r = dispatch(ctx, cmd).map(|o| (o, std::mem::take(&mut ctx.stdout)));
                let changed = ticked || ctx.state.fault_counts != counted;
                if ctx.hung && r.is_ok() {
                    // A tool this one ran (jail(8) running ifconfig) hung, so this one never
                    // returns either; what it did before stays done, as after a real kill.
                    if let Some(h) = ctx.state.history.iter_mut().rev().find(|h| &h.cmd == cmd) {
                        h.status = faults::KILLED;
                    }
                    return (Err(hung(cmd)), true, ticked);
                }
                (r, changed, ticked)
            })
            .map_err(|source| ProcessError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        match r {
            Err(ProcessError::TimedOut { after, .. }) if after.is_zero() => Err(timed_out()),
            r => r,
        }
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
        kld::init_fresh(&mut s);
        net::init_fresh(&mut s);
        s
    }
}

impl Runner for SimHost {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        self.output_within(cmd, self.deadlines.for_cmd(cmd))
    }

    /// A command slower than its deadline (injected latency) or hung (a `hang` fault) fails
    /// once the deadline has passed, exactly as on the real host, without having changed
    /// anything.
    fn output_within(
        &self,
        cmd: &Cmd,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        let (mut out, bytes) = self.run_cmd(cmd, deadline, None)?;
        if !bytes.is_empty() {
            out.stdout.insert_str(0, &String::from_utf8_lossy(&bytes));
        }
        Ok(out)
    }

    /// The input is read whole first (a simulated tool sees all of it at once, see
    /// [`Ctx::stdin`]); an error reading it ends the input there, as a closed pipe would,
    /// and is added to stderr. The tool's stdout goes to `output` once it has finished.
    fn pipe(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn std::io::Read + Send)>,
        output: Option<&mut dyn std::io::Write>,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        let mut read_err = None;
        let stdin = input.map(|i| {
            let mut v = Vec::new();
            if let Err(e) = i.read_to_end(&mut v) {
                read_err = Some(e);
            }
            v
        });
        let (mut out, bytes) = self.run_cmd(cmd, deadline, Some(stdin.unwrap_or_default()))?;
        if let Some(e) = read_err {
            out.stderr.push_str(&format!(
                "jailctl: reading the input of `{cmd}` failed: {e}\n"
            ));
            out.status = out.status.max(1);
        }
        match output {
            Some(w) => {
                if let Err(e) = w.write_all(&bytes).and_then(|()| w.flush()) {
                    out.stderr.push_str(&format!(
                        "jailctl: writing the output of `{cmd}` failed: {e}\n"
                    ));
                    out.status = out.status.max(1);
                }
            }
            None => out.stdout.insert_str(0, &String::from_utf8_lossy(&bytes)),
        }
        Ok(out)
    }

    /// No deadline: a person is at the terminal (as on the real host).
    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        let out = self.output_within(cmd, std::time::Duration::MAX)?;
        // As the real child would: a closed stdout is the reader's choice, not a panic.
        use std::io::Write;
        let _ = std::io::stdout().write_all(out.stdout.as_bytes());
        let _ = std::io::stderr().write_all(out.stderr.as_bytes());
        Ok(out.status)
    }
}

impl HostFs for SimHost {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path, Last::Follow)?)
    }
    /// Atomic, as on the real host ([`jailctl_host::system::write_atomic`]): a temporary file
    /// renamed over the target, so a killed run leaves the old file whole. Without the real
    /// host's fsyncs: the simulator models killed processes, not power loss, and the fsyncs
    /// doubled the wall time of `up --all` of the examples (median 2.0 s against 1.2 s on
    /// the build machine), which would distort every latency measurement made on it.
    /// With a kill-in-write
    /// setting matching `path`, the process kills itself with SIGKILL once the temporary
    /// file is complete, before the rename: the exact point a kill would hurt a
    /// non-atomic write.
    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        // The file is replaced (renamed over), as on the real host, so a link in its place
        // is replaced too, never followed.
        let p = self.resolve(path, Last::NoFollow)?;
        jailctl_host::system::write_atomic(&p, contents, mode, false, || {
            if self.config.kill_in_write_fires(path) {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        })
    }
    fn mkdir_p(&self, path: &Path, _mode: u32) -> std::io::Result<()> {
        std::fs::create_dir_all(self.resolve(path, Last::Follow)?)
    }
    fn exists(&self, path: &Path) -> bool {
        self.resolve(path, Last::Follow).is_ok_and(|p| p.exists())
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(self.resolve(path, Last::NoFollow)?)
    }
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(self.resolve(path, Last::NoFollow)?)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(self.resolve(path, Last::Follow)?)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn local_path(&self, path: &Path) -> PathBuf {
        resolve(&self.root, path, Last::Follow).unwrap_or_else(|_| unresolvable(&self.root))
    }
}

impl Host for SimHost {
    fn simulated(&self) -> Option<String> {
        Some(format!("simulated FreeBSD host at {}", self.dir.display()))
    }

    /// Answered from the state under one lock, as the FreeBSD host answers it from the
    /// kernel ([`rctl::usage_of_jails`]): a system call, not a command, so nothing is added to
    /// the history and no latency is injected.
    fn racct_usage(
        &self,
        names: &[String],
    ) -> Option<Result<jailctl_host::platform::Usages, jailctl_host::platform::PlatformError>> {
        let read = self.locked(Writes::OnlyIfSaid, |ctx| {
            (rctl::usage_of_jails(ctx.state, names), false, false)
        });
        Some(match read {
            Ok(Ok(u)) => Ok(u),
            Ok(Err(message)) => Err(jailctl_host::platform::PlatformError::Kernel {
                what: "read jails' resource usage (rctl_get_racct(2))".into(),
                message,
            }),
            Err(e) => Err(jailctl_host::platform::PlatformError::Kernel {
                what: format!("read the simulated host's state at {}", self.dir.display()),
                message: e.to_string(),
            }),
        })
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
