//! Per-jail locks: `flock(2)` on `/var/db/jailctl/locks/<name>.lock` (the real path from
//! [`HostFs::local_path`](crate::host::HostFs::local_path), so a simulated host keeps its
//! locks in its own directory). Two jailctl processes working on the same jail take turns;
//! work on unrelated jails never waits. Locks are taken in name order, so two runs that need
//! overlapping sets cannot deadlock. The kernel drops a lock when its process dies, so a
//! killed run never leaves a jail locked.

use crate::host::Host;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const LOCK_DIR: &str = "/var/db/jailctl/locks";

/// Held locks; dropping releases them.
#[derive(Debug)]
pub struct JailLocks {
    held: Vec<(String, Flock<File>)>,
}

impl JailLocks {
    /// Lock every named jail, waiting for other jailctl processes that hold one.
    /// `on_wait` is called with a jail's name before waiting for it.
    pub fn acquire(
        host: &dyn Host,
        names: &[String],
        mut on_wait: impl FnMut(&str),
    ) -> std::io::Result<JailLocks> {
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        host.mkdir_p(Path::new(LOCK_DIR), 0o700)?;
        let dir = host.local_path(Path::new(LOCK_DIR));
        std::fs::create_dir_all(&dir)?;
        let mut held = Vec::new();
        for n in names {
            let path = dir.join(format!("{n}.lock"));
            let file = open(&path)?;
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
                    on_wait(&n);
                    Flock::lock(file, FlockArg::LockExclusive)
                        .map_err(|(_, e)| lock_error(&path, e))?
                }
                Err((_, e)) => return Err(lock_error(&path, e)),
            };
            held.push((n, lock));
        }
        Ok(JailLocks { held })
    }

    /// Names of the locked jails.
    pub fn names(&self) -> Vec<String> {
        self.held.iter().map(|(n, _)| n.clone()).collect()
    }
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot open lock file {}: {e}; jailctl must run as root",
                    path.display()
                ),
            )
        })
}

fn lock_error(path: &Path, e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::other(format!("cannot lock {}: {e}", path.display()))
}
