//! The simulated host's state on disk: `state.json` (written whole by a rename, in parts so
//! only what a command's tools change is serialised again), `history.jsonl`, the lock file
//! that holds one command at a time, and the parsed state cached per handle.
//!
//! Why it exists: `--simulate DIR` runs each jailctl process against the same directory;
//! the lock and the atomic write are what make parallel runs and killed runs behave as on
//! a real host, and the cache and parts keep a command's cost from growing with the host.

use crate::{Ctx, HistoryEntry, SimHost, SimState};
use jailctl_host::tools;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::PathBuf;

/// How [`SimHost::locked`] learns whether a command changed the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writes {
    /// Compare the state with a copy taken before (anything a test does to the state).
    IfChanged,
    /// Write it back without comparing (a command that changes the host when it succeeds).
    Always,
    /// Write it back only if the closure says so ([`reads_only`](crate::run::reads_only): the bookkeeping around
    /// a read — a fault's match count, a dying jail counted down — is all that can change).
    OnlyIfSaid,
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
pub(crate) struct StateCache {
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
pub(crate) const PARTS: [&str; 9] = [
    "zfs", "jail", "rctl", "cpuset", "net", "mount", "sysctl", "kld", "pf",
];

/// The serialised bytes of each of [`PARTS`], in that order.
pub(crate) type Parts = [Vec<u8>; 9];

/// One bit per entry of [`PARTS`].
pub(crate) type PartSet = u16;
pub(crate) const ALL_PARTS: PartSet = 0x1ff;
pub(crate) const ZFS_PART: PartSet = 1;

/// The parts a tool can change. jail(8) runs other tools (mount, ifconfig, the hooks) inside
/// the same command, and those are in the history too, so each adds its own; a tool not
/// listed may change anything. Checked against a copy of the state in debug builds (every
/// test): a part changed outside this map panics.
pub(crate) fn parts_changed_by(program: &str) -> PartSet {
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

pub(crate) fn part_bytes(state: &SimState, i: usize) -> serde_json::Result<Vec<u8>> {
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
pub(crate) fn part_differs(a: &SimState, b: &SimState, i: usize) -> bool {
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
pub(crate) struct FileId {
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
    pub(crate) fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub(crate) fn lock(&self) -> std::io::Result<Flock<File>> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| std::io::Error::from(e))
    }

    pub(crate) fn history_path(&self) -> PathBuf {
        self.dir.join("history.jsonl")
    }

    pub(crate) fn load(&self) -> std::io::Result<SimState> {
        Ok(self.load_cached()?.state)
    }

    /// Replace the state file atomically (temporary file, rename), so a killed command
    /// leaves the old state or the new one. Not fsynced: see `HostFs::write` in `host.rs`.
    /// `known` holds the bytes of the parts not in `stale`, from the last save; the others
    /// are serialised again. Returns every part's bytes, for the next save.
    pub(crate) fn save(
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
    pub(crate) fn append_history(&self, entries: &[HistoryEntry]) -> std::io::Result<()> {
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

    pub(crate) fn load_history(&self) -> std::io::Result<Vec<HistoryEntry>> {
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
    pub(crate) fn locked<T>(
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
    pub(crate) fn open_state(&self) -> std::io::Result<StateCache> {
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
    pub(crate) fn load_cached(&self) -> std::io::Result<StateCache> {
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

    /// A copy of the current state with the whole history, for tests and inspection.
    pub fn snapshot(&self) -> std::io::Result<SimState> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        state.history = self.load_history()?;
        Ok(state)
    }
}
