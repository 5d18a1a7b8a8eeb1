//! The lock hierarchy: every shared thing jailctl changes has one lock, an `flock(2)` on a file
//! under `/var/db/jailctl/locks` (the real path from
//! [`HostFs::local_path`](crate::host::HostFs::local_path), so a simulated host keeps its locks
//! in its own directory). The kernel drops a lock when its process dies, so a killed run never
//! leaves anything locked.
//!
//! | kind | file | guards | taken by |
//! |---|---|---|---|
//! | fleet | `.fleet.lock` | the set of running jails as a whole | `boot`, `shutdown`, `up/down --all` (exclusive) |
//! | jail | `<name>.lock` | one jail: its root, volumes, jail.conf, journal | every operation on that jail (exclusive) |
//! | base | `.base.<name>.lock` | one base's files and snapshots | `base create/update/destroy` (exclusive); a clone from it (shared) |
//! | network | `.net.lock` | bridges, their members, address pools | each bridge/epair change (exclusive) |
//! | firewall | `.pf.lock` | pf: jailctl's anchors and its `<jailctl_nat>` table | each pfctl(8) change and its undo (exclusive) |
//! | layout | `.layout.lock` | `<zfs_root>` and its `jails`/`bases`/`volumes` parents, host directories | [`super::layout::ensure`] when something is missing (exclusive) |
//!
//! **One order.** Locks are always taken in the order of [`LockKey`]: fleet, then jails by
//! name, then bases by name, then the network, then the firewall, then the layout. A run that holds a lock may
//! only take locks that come after every lock it holds; anything else is refused with
//! [`LockError::Order`] (a bug in jailctl, never a wait), so two runs cannot deadlock.
//!
//! **Held locks are passed explicitly.** What a run holds is a [`Held`] value; an operation
//! that needs locks asks the [`Held`] it was given with [`Held::take`], which returns a child
//! holding only what was missing. A lock the run already holds is never taken again: `flock`
//! belongs to an open file description, so a second `open` + `flock` of the same file in the
//! same process would wait for itself. `shutdown` takes the fleet lock and every jail lock once
//! and hands them to each stop.

use crate::host::Host;
use nix::fcntl::{Flock, FlockArg};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

pub const LOCK_DIR: &str = "/var/db/jailctl/locks";

/// One lock of the hierarchy. The derived order (variant first, then name) is the one order
/// in which locks are taken.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKey {
    /// `boot`, `shutdown` and the `--all` operations.
    Fleet,
    /// One jail.
    Jail(String),
    /// One base (`<zfs_root>/bases/<name>`).
    Base(String),
    /// Bridges, epairs and address pools.
    Network,
    /// pf: the anchors under `jailctl/` and the table of NATed addresses.
    Firewall,
    /// The datasets and directories every jail shares.
    Layout,
}

impl LockKey {
    /// The lock file's name in [`LOCK_DIR`]. Jail names start with a letter or digit, so the
    /// dot-names of the other kinds cannot clash with a jail's.
    pub fn file_name(&self) -> String {
        match self {
            LockKey::Fleet => ".fleet.lock".into(),
            LockKey::Jail(n) => format!("{n}.lock"),
            LockKey::Base(n) => format!(".base.{n}.lock"),
            LockKey::Network => ".net.lock".into(),
            LockKey::Firewall => ".pf.lock".into(),
            LockKey::Layout => ".layout.lock".into(),
        }
    }
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockKey::Fleet => write!(f, "the fleet"),
            LockKey::Jail(n) => write!(f, "jail {n}"),
            LockKey::Base(n) => write!(f, "base {n}"),
            LockKey::Network => write!(f, "the network"),
            LockKey::Firewall => write!(f, "the firewall"),
            LockKey::Layout => write!(f, "the host layout"),
        }
    }
}

/// Shared locks of one key coexist; an exclusive one excludes every other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error("cannot open lock file {path}: {cause}", path = .path.display())]
    #[diagnostic(help("jailctl must run as root (the directory {LOCK_DIR} must be writable)"))]
    Open {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("cannot lock {what} ({path}): {cause}", path = .path.display())]
    Lock {
        what: LockKey,
        path: PathBuf,
        #[source]
        cause: nix::errno::Errno,
    },
    /// A bug in jailctl: taking `wanted` while holding `held` breaks the one order.
    #[error(
        "internal error: jailctl asked for the lock of {wanted} while holding the lock of {held}; locks are taken fleet, jails, bases, network, firewall, layout"
    )]
    #[diagnostic(help("this is a bug in jailctl, please report it"))]
    Order { wanted: LockKey, held: LockKey },
    /// A bug in jailctl: a shared lock cannot be turned into an exclusive one in place.
    #[error("internal error: jailctl holds a shared lock of {0} and asked for it exclusively")]
    #[diagnostic(help("this is a bug in jailctl, please report it"))]
    Upgrade(LockKey),
}

impl From<LockError> for std::io::Error {
    fn from(e: LockError) -> Self {
        let kind = match &e {
            LockError::Open { cause, .. } => cause.kind(),
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e.to_string())
    }
}

struct HeldLock {
    key: LockKey,
    mode: Mode,
    _flock: Flock<File>,
}

impl fmt::Debug for HeldLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.key, self.mode)
    }
}

/// The locks a run holds: its own, plus those of the [`Held`] it was taken under. Dropping
/// it releases its own locks only.
#[derive(Debug)]
pub struct Held<'p> {
    parent: Option<&'p Held<'p>>,
    own: Vec<HeldLock>,
}

impl Held<'static> {
    /// Holding nothing: where a command starts.
    pub fn none() -> Held<'static> {
        Held {
            parent: None,
            own: Vec::new(),
        }
    }

    /// Take `wanted` with nothing held before; see [`Held::take`].
    pub fn acquire(
        host: &dyn Host,
        wanted: &[(LockKey, Mode)],
        on_wait: impl FnMut(&LockKey),
    ) -> Result<Held<'static>, LockError> {
        let mut h = Held::none();
        h.own = take_locks(host, None, wanted, on_wait)?;
        Ok(h)
    }
}

impl<'p> Held<'p> {
    /// Take the locks of `wanted` this run does not hold yet, in the one order, waiting for
    /// other processes; `on_wait` is called with a key before waiting for it. Keys already
    /// held (in the same or a stronger mode) are not taken again. Every key taken must come
    /// after every key held, else [`LockError::Order`]. The returned child holds the new
    /// locks and sees this run's as its own.
    pub fn take(
        &self,
        host: &dyn Host,
        wanted: &[(LockKey, Mode)],
        on_wait: impl FnMut(&LockKey),
    ) -> Result<Held<'_>, LockError> {
        let own = take_locks(host, Some(self), wanted, on_wait)?;
        Ok(Held {
            parent: Some(self),
            own,
        })
    }

    /// [`Held::take`] of these jails, exclusively, warning on a wait.
    pub fn take_jails(&self, host: &dyn Host, names: &[String]) -> Result<Held<'_>, LockError> {
        let wanted: Vec<(LockKey, Mode)> = names
            .iter()
            .map(|n| (LockKey::Jail(n.clone()), Mode::Exclusive))
            .collect();
        self.take(host, &wanted, warn_wait)
    }

    /// The mode `key` is held in by this run, if it is.
    pub fn mode_of(&self, key: &LockKey) -> Option<Mode> {
        let mut best = None;
        for l in self.all() {
            if &l.key == key {
                best = match (best, l.mode) {
                    (Some(Mode::Exclusive), _) | (_, Mode::Exclusive) => Some(Mode::Exclusive),
                    _ => Some(Mode::Shared),
                };
            }
        }
        best
    }

    /// Whether this run holds `key` (in any mode).
    pub fn holds(&self, key: &LockKey) -> bool {
        self.mode_of(key).is_some()
    }

    /// Every key this run holds, in the one order.
    pub fn keys(&self) -> Vec<LockKey> {
        let mut k: Vec<LockKey> = self.all().map(|l| l.key.clone()).collect();
        k.sort();
        k.dedup();
        k
    }

    /// Names of the jails this run holds (in name order).
    pub fn names(&self) -> Vec<String> {
        self.keys()
            .into_iter()
            .filter_map(|k| match k {
                LockKey::Jail(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    fn all(&self) -> impl Iterator<Item = &HeldLock> {
        let mut chain: Vec<&Held> = vec![self];
        let mut cur = self.parent;
        while let Some(p) = cur {
            chain.push(p);
            cur = p.parent;
        }
        chain.into_iter().flat_map(|h| h.own.iter())
    }

    /// The last key in the one order among those held.
    fn last(&self) -> Option<&LockKey> {
        self.all().map(|l| &l.key).max()
    }
}

/// The warning printed before waiting for another jailctl process.
pub fn warn_wait(key: &LockKey) {
    tracing::warn!("{key} is locked by another jailctl; waiting");
}

fn take_locks(
    host: &dyn Host,
    held: Option<&Held>,
    wanted: &[(LockKey, Mode)],
    mut on_wait: impl FnMut(&LockKey),
) -> Result<Vec<HeldLock>, LockError> {
    // One entry per key, exclusive if any asks so, in the one order.
    let mut want: Vec<(LockKey, Mode)> = Vec::new();
    for (k, m) in wanted {
        match want.iter_mut().find(|(x, _)| x == k) {
            Some((_, mode)) if *m == Mode::Exclusive => *mode = Mode::Exclusive,
            Some(_) => {}
            None => want.push((k.clone(), *m)),
        }
    }
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let mut todo = Vec::new();
    for (k, m) in want {
        match held.and_then(|h| h.mode_of(&k)) {
            Some(Mode::Exclusive) => {}
            Some(Mode::Shared) if m == Mode::Shared => {}
            Some(Mode::Shared) => return Err(LockError::Upgrade(k)),
            None => {
                if let Some(last) = held.and_then(|h| h.last())
                    && *last >= k
                {
                    return Err(LockError::Order {
                        wanted: k,
                        held: last.clone(),
                    });
                }
                todo.push((k, m));
            }
        }
    }
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let dir = lock_dir(host)?;
    let mut out = Vec::with_capacity(todo.len());
    for (key, mode) in todo {
        let path = dir.join(key.file_name());
        let file = open(&path)?;
        let (now, wait) = match mode {
            Mode::Shared => (FlockArg::LockSharedNonblock, FlockArg::LockShared),
            Mode::Exclusive => (FlockArg::LockExclusiveNonblock, FlockArg::LockExclusive),
        };
        let flock = match Flock::lock(file, now) {
            Ok(l) => l,
            Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
                on_wait(&key);
                Flock::lock(file, wait).map_err(|(_, cause)| LockError::Lock {
                    what: key.clone(),
                    path: path.clone(),
                    cause,
                })?
            }
            Err((_, cause)) => {
                return Err(LockError::Lock {
                    what: key,
                    path,
                    cause,
                });
            }
        };
        out.push(HeldLock {
            key,
            mode,
            _flock: flock,
        });
    }
    Ok(out)
}

/// The lock directory on this host, made if missing (mode 0700).
fn lock_dir(host: &dyn Host) -> Result<PathBuf, LockError> {
    let open_err = |cause| LockError::Open {
        path: PathBuf::from(LOCK_DIR),
        cause,
    };
    host.mkdir_p(Path::new(LOCK_DIR), 0o700).map_err(open_err)?;
    let dir = host.local_path(Path::new(LOCK_DIR));
    std::fs::create_dir_all(&dir).map_err(open_err)?;
    Ok(dir)
}

fn open(path: &Path) -> Result<File, LockError> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|cause| LockError::Open {
            path: path.to_path_buf(),
            cause,
        })
}

/// Exclusive locks of jails taken from nothing held: for the operations on one jail that
/// are not part of a larger run (`snapshot`).
#[derive(Debug)]
pub struct JailLocks(Held<'static>);

impl JailLocks {
    /// Lock every named jail (in name order), waiting for other jailctl processes that hold
    /// one; `on_wait` is called with a jail's name before waiting for it.
    pub fn acquire(
        host: &dyn Host,
        names: &[String],
        mut on_wait: impl FnMut(&str),
    ) -> std::io::Result<JailLocks> {
        let wanted: Vec<(LockKey, Mode)> = names
            .iter()
            .map(|n| (LockKey::Jail(n.clone()), Mode::Exclusive))
            .collect();
        let held = Held::acquire(host, &wanted, |k| {
            if let LockKey::Jail(n) = k {
                on_wait(n)
            }
        })?;
        Ok(JailLocks(held))
    }

    /// Names of the locked jails.
    pub fn names(&self) -> Vec<String> {
        self.0.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jailctl_sim::SimHost;

    fn jail(n: &str) -> (LockKey, Mode) {
        (LockKey::Jail(n.into()), Mode::Exclusive)
    }

    #[test]
    fn the_one_order() {
        let mut keys = [
            LockKey::Layout,
            LockKey::Base("14.2".into()),
            LockKey::Firewall,
            LockKey::Network,
            LockKey::Jail("web".into()),
            LockKey::Fleet,
            LockKey::Jail("db".into()),
            LockKey::Base("13.4".into()),
        ];
        keys.sort();
        let shown: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "the fleet",
                "jail db",
                "jail web",
                "base 13.4",
                "base 14.2",
                "the network",
                "the firewall",
                "the host layout"
            ]
        );
    }

    #[test]
    fn a_held_lock_is_not_taken_again() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimHost::open(dir.path()).unwrap();
        let top = Held::acquire(
            &sim,
            &[(LockKey::Fleet, Mode::Exclusive), jail("db"), jail("web")],
            |k| panic!("waited for {k}"),
        )
        .unwrap();
        // Two stops under the same fleet run, one per thread, each asking for what it needs.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let sim = SimHost::open(dir.path()).unwrap();
                    let child = top
                        .take(&sim, &[jail("db"), jail("web")], |k| {
                            panic!("waited for {k}, which this run holds")
                        })
                        .unwrap();
                    assert!(child.own.is_empty());
                    assert_eq!(child.names(), ["db", "web"]);
                });
            }
        });
    }

    #[test]
    fn out_of_order_is_refused_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimHost::open(dir.path()).unwrap();
        let top = Held::acquire(&sim, &[jail("web")], |_| {}).unwrap();
        let e = top.take(&sim, &[jail("db")], |_| {}).unwrap_err();
        assert!(
            matches!(&e, LockError::Order { wanted: LockKey::Jail(w), held: LockKey::Jail(h) } if w == "db" && h == "web"),
            "{e}"
        );
        let e = top
            .take(&sim, &[(LockKey::Fleet, Mode::Exclusive)], |_| {})
            .unwrap_err();
        assert!(matches!(e, LockError::Order { .. }), "{e}");
        // After every held key: fine, and a shared base coexists with another shared holder.
        let a = top
            .take(
                &sim,
                &[(LockKey::Base("14.2".into()), Mode::Shared)],
                |_| {},
            )
            .unwrap();
        let b = Held::acquire(&sim, &[(LockKey::Base("14.2".into()), Mode::Shared)], |k| {
            panic!("waited for {k}")
        })
        .unwrap();
        assert_eq!(a.mode_of(&LockKey::Base("14.2".into())), Some(Mode::Shared));
        let e = a
            .take(
                &sim,
                &[(LockKey::Base("14.2".into()), Mode::Exclusive)],
                |_| {},
            )
            .unwrap_err();
        assert!(matches!(e, LockError::Upgrade(_)), "{e}");
        drop(b);
        let net = a
            .take(
                &sim,
                &[
                    (LockKey::Layout, Mode::Exclusive),
                    (LockKey::Network, Mode::Exclusive),
                ],
                |_| {},
            )
            .unwrap();
        assert_eq!(
            net.keys(),
            [
                LockKey::Jail("web".into()),
                LockKey::Base("14.2".into()),
                LockKey::Network,
                LockKey::Layout
            ]
        );
    }

    #[test]
    fn exclusive_waits_for_shared_of_another_run() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimHost::open(dir.path()).unwrap();
        let clone =
            Held::acquire(&sim, &[(LockKey::Base("b".into()), Mode::Shared)], |_| {}).unwrap();
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let sim = SimHost::open(&path).unwrap();
            let _update =
                Held::acquire(&sim, &[(LockKey::Base("b".into()), Mode::Exclusive)], |k| {
                    tx.send(k.clone()).unwrap()
                })
                .unwrap();
        });
        assert_eq!(rx.recv().unwrap(), LockKey::Base("b".into()));
        drop(clone);
        t.join().unwrap();
    }
}
