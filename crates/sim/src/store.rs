//! The simulated host's state on disk: `state.jsonl`, a log of what each command changed,
//! entry by entry (one dataset, one jail, one rule), with `history.jsonl` beside it and the
//! lock file that orders the writers.
//!
//! Why it exists: `--simulate DIR` runs each jailctl process against the same directory;
//! the lock and the append of one whole line per command are what make parallel and killed
//! runs behave as on a real host, and saving only the entries a command changed is what
//! keeps a command's cost to what it touches instead of the size of the host.
//!
//! The format (docs/simulator.md, "Core"): each line is one JSON array of operations, `["s",
//! KEY, VALUE]` (set), `["d", KEY, null]` (remove) or `["c", COLLECTION, null]` (empty a
//! collection). Keys are `COLLECTION/KEY` for the entries of the collections in
//! [`crate::table`] and `head/PART` for the rest of each part (the pools and txg, sysctls,
//! modules, the main pf ruleset, the fault counters). Replaying the lines in order gives the
//! state; a line is applied only once it ends in a newline, so a writer killed in the
//! middle of its write leaves a tail that readers ignore and the next writer cuts off. The
//! first line is the whole state as one JSON object; when the log has grown well past it, a
//! writer rewrites the log as that one line (a temporary file renamed over it), so a new
//! version of the file is a new inode and every handle notices.

use crate::table::Tracked;
use crate::{Ctx, HistoryEntry, SimHost, SimState};
use nix::fcntl::{Flock, FlockArg};
use serde_json::value::RawValue;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// How [`SimHost::locked`] treats a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writes {
    /// It may change the state: run it under the exclusive lock and append what changed.
    Always,
    /// It only reads ([`reads_only`](crate::run::reads_only)): under the shared lock, side
    /// by side with other reads, unless fault rules or dying jails may make it write (the
    /// closure says whether it did).
    OnlyIfSaid,
}

/// The log grows to one and a half times the size of its first line (the whole state as
/// last compacted), plus [`COMPACT_SLACK`], before it is rewritten as one line: a reader
/// starting afresh parses at most that, and a compaction (one serialisation of the state)
/// comes after at least half the state's size of changes.
const COMPACT_SLACK: u64 = 1 << 20;

/// The parts of [`SimState`] outside the tracked collections, saved whole under `head/NAME`
/// when their bytes change. Small whatever the host's size.
const HEADS: [&str; 10] = [
    "zfs",
    "jail",
    "rctl",
    "cpuset",
    "net",
    "mount",
    "sysctl",
    "kld",
    "pf",
    "fault_counts",
];

/// The state as this handle last read or wrote it, and where in which version of the log.
///
/// A version of the log is identified by its device and inode while the handle keeps it
/// open: a compaction renames a new file over it, and an inode held open cannot be reused,
/// so "same inode" means "same file, possibly longer".
#[derive(Debug)]
pub(crate) struct StateCache {
    file: File,
    id: (u64, u64),
    /// Bytes of whole lines applied.
    offset: u64,
    /// The length of the first line: the size of the state at the last compaction.
    base_len: u64,
    state: SimState,
    /// Each head's bytes as last saved or loaded ([`HEADS`]).
    heads: Heads,
}

/// Each tracked collection of the state, with the name of its entries' keys.
fn collections(s: &mut SimState) -> [(&'static str, &mut dyn Tracked); 9] {
    [
        ("zfs.datasets", &mut s.zfs.datasets),
        ("jail.jails", &mut s.jail.jails),
        ("jail.hooks", &mut s.jail.hooks),
        ("rctl.rules", &mut s.rctl.rules),
        ("cpuset.masks", &mut s.cpuset.masks),
        ("net.ifaces", &mut s.net.ifaces),
        ("mount.mounts", &mut s.mount.mounts),
        ("pf.anchors", &mut s.pf.anchors),
        ("pf.tables", &mut s.pf.tables),
    ]
}

/// The tracked collections of `s`, taken out for the time it takes to serialise or load the
/// heads: a head is its part without them.
struct Detached {
    datasets: crate::table::Table<String, crate::zfs::SimDataset>,
    jails: crate::table::Table<String, crate::jail::SimJail>,
    hooks: crate::table::Seq<crate::jail::HookRun>,
    rules: crate::table::Seq<crate::rctl::Rule>,
    masks: crate::table::Table<i32, Vec<u32>>,
    ifaces: crate::table::Seq<crate::net::Iface>,
    mounts: crate::table::Seq<crate::mount::SimMount>,
    anchors: crate::table::Table<String, crate::pf::Ruleset>,
    tables: crate::table::Table<String, std::collections::BTreeSet<String>>,
}

impl Detached {
    fn take(s: &mut SimState) -> Self {
        use std::mem::take;
        Detached {
            datasets: take(&mut s.zfs.datasets),
            jails: take(&mut s.jail.jails),
            hooks: take(&mut s.jail.hooks),
            rules: take(&mut s.rctl.rules),
            masks: take(&mut s.cpuset.masks),
            ifaces: take(&mut s.net.ifaces),
            mounts: take(&mut s.mount.mounts),
            anchors: take(&mut s.pf.anchors),
            tables: take(&mut s.pf.tables),
        }
    }

    fn put_back(self, s: &mut SimState) {
        s.zfs.datasets = self.datasets;
        s.jail.jails = self.jails;
        s.jail.hooks = self.hooks;
        s.rctl.rules = self.rules;
        s.cpuset.masks = self.masks;
        s.net.ifaces = self.ifaces;
        s.mount.mounts = self.mounts;
        s.pf.anchors = self.anchors;
        s.pf.tables = self.tables;
    }
}

fn heads(s: &mut SimState) -> serde_json::Result<Heads> {
    let d = Detached::take(s);
    let r = (|| {
        Ok([
            serde_json::to_vec(&s.zfs)?,
            serde_json::to_vec(&s.jail)?,
            serde_json::to_vec(&s.rctl)?,
            serde_json::to_vec(&s.cpuset)?,
            serde_json::to_vec(&s.net)?,
            serde_json::to_vec(&s.mount)?,
            serde_json::to_vec(&s.sysctl)?,
            serde_json::to_vec(&s.kld)?,
            serde_json::to_vec(&s.pf)?,
            serde_json::to_vec(&s.fault_counts)?,
        ])
    })();
    d.put_back(s);
    r
}

fn load_head(s: &mut SimState, name: &str, v: &str) -> serde_json::Result<()> {
    let d = Detached::take(s);
    let r = (|| {
        match name {
            "zfs" => s.zfs = serde_json::from_str(v)?,
            "jail" => s.jail = serde_json::from_str(v)?,
            "rctl" => s.rctl = serde_json::from_str(v)?,
            "cpuset" => s.cpuset = serde_json::from_str(v)?,
            "net" => s.net = serde_json::from_str(v)?,
            "mount" => s.mount = serde_json::from_str(v)?,
            "sysctl" => s.sysctl = serde_json::from_str(v)?,
            "kld" => s.kld = serde_json::from_str(v)?,
            "pf" => s.pf = serde_json::from_str(v)?,
            "fault_counts" => s.fault_counts = serde_json::from_str(v)?,
            _ => {}
        }
        Ok(())
    })();
    d.put_back(s);
    r
}

/// The serialised heads, in the order of [`HEADS`].
type Heads = [Vec<u8>; 10];

/// One line of the log: its operations, in order.
type Line = Vec<(String, String, Option<Box<RawValue>>)>;

/// Apply one line to `s` (and the cached heads). A key the state has no place for is an
/// error: the file was written by something else.
fn apply(s: &mut SimState, heads: &mut Heads, line: &[u8]) -> Result<(), String> {
    let ops: Line = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    for (op, key, value) in ops {
        let (coll, entry) = key.split_once('/').unwrap_or((key.as_str(), ""));
        if coll == "head" {
            let (Some(i), Some(v)) = (HEADS.iter().position(|h| *h == entry), &value) else {
                return Err(format!("`{key}`: not a part of the state"));
            };
            load_head(s, entry, v.get()).map_err(|e| format!("`{key}`: {e}"))?;
            heads[i] = v.get().as_bytes().to_vec();
            continue;
        }
        let mut all = collections(s);
        let Some((_, c)) = all.iter_mut().find(|(n, _)| *n == coll) else {
            return Err(format!("`{key}`: not a collection of the state"));
        };
        match op.as_str() {
            "s" => c
                .load_entry(entry, value.as_deref().map(RawValue::get))
                .map_err(|e| jailctl_host::explain(&e))?,
            "d" => c
                .load_entry(entry, None)
                .map_err(|e| jailctl_host::explain(&e))?,
            "c" => c.load_clear(),
            _ => return Err(format!("`{op}`: not an operation")),
        }
    }
    Ok(())
}

fn push_op(line: &mut Vec<u8>, op: &str, key: &str, value: Option<&[u8]>) {
    if line.len() > 1 {
        line.push(b',');
    }
    line.extend_from_slice(format!("[\"{op}\",").as_bytes());
    serde_json::to_writer(&mut *line, key).expect("a string serialises");
    line.push(b',');
    line.extend_from_slice(value.unwrap_or(b"null"));
    line.push(b']');
}

/// The whole of `s` as the log's first line (a compaction, a fresh host): the state as one
/// JSON object, which a reader parses in one typed pass. The lists' items are numbered
/// 0, 1, ... as a reader of that object numbers them, and what the collections recorded as
/// changed is forgotten.
fn whole_line(s: &mut SimState) -> std::io::Result<(Vec<u8>, Heads)> {
    let mut line = serde_json::to_vec(&*s)?;
    line.push(b'\n');
    for (_, c) in collections(s) {
        c.take_changes();
        c.renumber();
    }
    Ok((line, heads(s)?))
}

/// Read the log's first line when it is a whole state ([`whole_line`]).
fn load_whole(line: &[u8]) -> Result<(SimState, Heads), String> {
    let mut s: SimState = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let h = heads(&mut s).map_err(|e| e.to_string())?;
    Ok((s, h))
}

/// What changed in `s` since it was last saved, as one line (`None`: nothing), with the new
/// heads. Forgets what the collections recorded.
fn changes_line(s: &mut SimState, known: &Heads) -> std::io::Result<(Option<Vec<u8>>, Heads)> {
    let mut line = vec![b'['];
    let h = heads(s)?;
    for ((name, bytes), old) in HEADS.iter().zip(&h).zip(known) {
        if bytes != old {
            push_op(&mut line, "s", &format!("head/{name}"), Some(bytes));
        }
    }
    for (name, c) in collections(s) {
        let keys = match c.take_changes() {
            Some(keys) => keys,
            None => {
                push_op(&mut line, "c", name, None);
                c.keys()
            }
        };
        for k in keys {
            match c.entry_bytes(&k) {
                Some(v) => push_op(&mut line, "s", &format!("{name}/{k}"), Some(&v?)),
                None => push_op(&mut line, "d", &format!("{name}/{k}"), None),
            }
        }
    }
    if line.len() == 1 {
        return Ok((None, h));
    }
    line.extend_from_slice(b"]\n");
    Ok((Some(line), h))
}

fn invalid(path: &std::path::Path, what: String) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{}: {what}; the simulated host's state is damaged: remove the directory to start \
             a fresh one",
            path.display()
        ),
    )
}

impl SimHost {
    pub(crate) fn state_path(&self) -> PathBuf {
        self.dir.join("state.jsonl")
    }

    /// The state file of simulators made before the log (one JSON object).
    fn legacy_state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn lock_as(&self, arg: FlockArg) -> std::io::Result<Flock<File>> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        Flock::lock(f, arg).map_err(|(_, e)| std::io::Error::from(e))
    }

    pub(crate) fn lock(&self) -> std::io::Result<Flock<File>> {
        self.lock_as(FlockArg::LockExclusive)
    }

    pub(crate) fn history_path(&self) -> PathBuf {
        self.dir.join("history.jsonl")
    }

    /// Write `state` as a fresh log (a new host, or one in the old single-file format).
    /// Under the exclusive lock.
    pub(crate) fn create_state(&self, state: &mut SimState) -> std::io::Result<()> {
        let (line, _) = whole_line(state)?;
        jailctl_host::system::write_atomic(&self.state_path(), &line, 0o644, false, || {})?;
        let _ = std::fs::remove_file(self.legacy_state_path());
        Ok(())
    }

    /// Convert a simulator directory from before the log: read `state.json`, write the log.
    pub(crate) fn convert_legacy(&self) -> std::io::Result<bool> {
        let old = self.legacy_state_path();
        let bytes = match std::fs::read(&old) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut state: SimState =
            serde_json::from_slice(&bytes).map_err(|e| invalid(&old, e.to_string()))?;
        self.create_state(&mut state)?;
        Ok(true)
    }

    /// Bring `cache` up to the end of the log: the lines appended since it was read, or the
    /// whole file when it is a new version (or there is no cache).
    fn refresh(&self, cache: Option<StateCache>) -> std::io::Result<StateCache> {
        use std::os::unix::fs::MetadataExt;
        let path = self.state_path();
        let meta = std::fs::metadata(&path)?;
        let mut c = match cache {
            Some(c) if c.id == (meta.dev(), meta.ino()) => c,
            _ => {
                let file = File::open(&path)?;
                let m = file.metadata()?;
                StateCache {
                    file,
                    id: (m.dev(), m.ino()),
                    offset: 0,
                    base_len: 0,
                    state: SimState::default(),
                    heads: Default::default(),
                }
            }
        };
        if meta.len() <= c.offset {
            return Ok(c);
        }
        let mut tail = Vec::with_capacity((meta.len() - c.offset) as usize);
        c.file.seek(SeekFrom::Start(c.offset))?;
        (&c.file)
            .take(meta.len() - c.offset)
            .read_to_end(&mut tail)?;
        let whole = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        for line in tail[..whole].split_inclusive(|b| *b == b'\n') {
            if c.offset == 0 {
                c.base_len = line.len() as u64;
            }
            if c.offset == 0 && line.first() == Some(&b'{') {
                (c.state, c.heads) = load_whole(line).map_err(|e| invalid(&path, e))?;
            } else {
                apply(&mut c.state, &mut c.heads, line).map_err(|e| invalid(&path, e))?;
            }
            c.offset += line.len() as u64;
        }
        // Whatever loading recorded is what the file already says.
        for (_, coll) in collections(&mut c.state) {
            coll.take_changes();
        }
        Ok(c)
    }

    /// Append what changed in the cached state to the log (nothing if nothing did), cutting
    /// off first the tail a killed writer may have left; compact the log when it has grown
    /// enough. Under the exclusive lock, with `c` refreshed to the end of the log.
    fn save(&self, c: &mut StateCache) -> std::io::Result<()> {
        let (line, heads) = changes_line(&mut c.state, &c.heads)?;
        let Some(line) = line else {
            return Ok(());
        };
        let mut f = File::options().write(true).open(self.state_path())?;
        if f.metadata()?.len() != c.offset {
            f.set_len(c.offset)?;
        }
        f.seek(SeekFrom::Start(c.offset))?;
        f.write_all(&line)?;
        c.offset += line.len() as u64;
        c.heads = heads;
        if c.offset > c.base_len + c.base_len / 2 + COMPACT_SLACK {
            self.compact(c)?;
        }
        Ok(())
    }

    /// Compact the log now, whatever its size (tests).
    #[cfg(test)]
    pub(crate) fn compact_now(&self) -> std::io::Result<()> {
        let _lock = self.lock()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = self.refresh(cache.take())?;
        self.compact(&mut c)?;
        *cache = Some(c);
        Ok(())
    }

    /// Rewrite the log as one line holding the cached state. Under the exclusive lock.
    pub(crate) fn compact(&self, c: &mut StateCache) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let (line, heads) = whole_line(&mut c.state)?;
        jailctl_host::system::write_atomic(&self.state_path(), &line, 0o644, false, || {})?;
        c.file = File::open(self.state_path())?;
        let m = c.file.metadata()?;
        c.id = (m.dev(), m.ino());
        c.offset = line.len() as u64;
        c.base_len = c.offset;
        c.heads = heads;
        Ok(())
    }

    /// Append the entries to `history.jsonl`, one JSON object per line, in one write.
    pub(crate) fn append_history(&self, entries: &[HistoryEntry]) -> std::io::Result<()> {
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
    /// what it changed to the log.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> T) -> std::io::Result<T> {
        self.locked(Writes::Always, |ctx| (f(ctx), true))
    }

    /// Whether a read can run under the shared lock: nothing in this run's settings or the
    /// state can make it write (fault rules count their matches, dying jails count down).
    fn read_shared(&self, state: &SimState) -> bool {
        let c = &self.config;
        c.faults.is_empty()
            && c.hangs.is_empty()
            && c.dying_commands == 0
            && !state.jail.jails.values().any(|j| j.dying_left.is_some())
    }

    /// [`Self::with_state`] with the caller's knowledge of whether `f` writes ([`Writes`]);
    /// `f` returns its result and whether it changed the state.
    ///
    /// A write holds the exclusive lock; a read the shared one, so reads run side by side and
    /// wait only for the write in progress. In debug builds (every test) a read is checked
    /// against a copy of the state taken before, and a write against the record of what
    /// changed: a change a collection did not record fails the tests.
    pub(crate) fn locked<T>(
        &self,
        writes: Writes,
        f: impl FnOnce(&mut Ctx<'_>) -> (T, bool),
    ) -> std::io::Result<T> {
        let mut f = Some(f);
        if writes == Writes::OnlyIfSaid {
            let _shared = self.lock_as(FlockArg::LockShared)?;
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let mut c = self.refresh(cache.take())?;
            if self.read_shared(&c.state) {
                let f = f.take().expect("not run yet");
                let (t, ran, said) = self.run_in(&mut c, writes, f)?;
                // Nothing can have changed (`read_shared`); if something did, it cannot be
                // saved under this lock, so the next command reads the file afresh.
                debug_assert!(!said, "a read under the shared lock changed the state");
                *cache = (!said).then_some(c);
                drop(cache);
                self.append_history(&ran)?;
                return Ok(t);
            }
            // Both locks are let go before the exclusive one is taken below.
            *cache = Some(c);
        }
        let f = f.take().expect("not run yet");
        let _lock = self.lock()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = self.refresh(cache.take())?;
        let (t, ran, said) = self.run_in(&mut c, writes, f)?;
        if said || writes == Writes::Always {
            self.save(&mut c)?;
        }
        *cache = Some(c);
        drop(cache);
        self.append_history(&ran)?;
        Ok(t)
    }

    /// Run `f` on the cached state; returns its result, the commands it ran and whether it
    /// said it changed the state.
    fn run_in<T>(
        &self,
        c: &mut StateCache,
        writes: Writes,
        f: impl FnOnce(&mut Ctx<'_>) -> (T, bool),
    ) -> std::io::Result<(T, Vec<HistoryEntry>, bool)> {
        c.state.config = self.config.clone();
        let before = cfg!(debug_assertions).then(|| c.state.clone());
        let mut ctx = Ctx {
            state: &mut c.state,
            root: &self.root,
            hung: false,
            stdin: None,
            stdout: Vec::new(),
        };
        let (t, said) = f(&mut ctx);
        let ran = std::mem::take(&mut c.state.history);
        if let Some(b) = before {
            let cmd = ran.first().map(|h| &h.cmd);
            if writes == Writes::OnlyIfSaid {
                assert!(
                    said || c.state == b,
                    "the simulated host classes {cmd:?} as read-only, but it changed the state"
                );
            }
            let mut old = b;
            let olds = collections(&mut old);
            for ((name, now), (_, was)) in collections(&mut c.state).into_iter().zip(olds) {
                let was = was.as_any();
                if let Some(k) = now.unrecorded(was) {
                    panic!("the simulated host changed {name}/{k} in {cmd:?} without recording it");
                }
            }
        }
        Ok((t, ran, said))
    }

    /// A copy of the current state with the whole history, for tests and inspection.
    pub fn snapshot(&self) -> std::io::Result<SimState> {
        let _lock = self.lock_as(FlockArg::LockShared)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let c = self.refresh(cache.take())?;
        let mut state = c.state.clone();
        *cache = Some(c);
        state.history = self.load_history()?;
        Ok(state)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
