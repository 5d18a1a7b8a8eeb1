//! Which ZFS filesystems are mounted where, kept up to date with the datasets change by
//! change: jail(8)'s exec hooks, jexec and every `zfs clone` ask which mounted filesystem a
//! path lies on, and computing every dataset's mountpoint again after each change made each
//! of those commands cost as much as the host is large.
//!
//! A dataset's mountpoint depends on its own properties and its ancestors' (an inherited
//! `mountpoint` adds the path below the dataset that sets it), and whether it is mounted on
//! itself. So when a dataset changes, the index recomputes that dataset and everything below
//! it, read as a range of the sorted names; the datasets table says which ones changed
//! ([`crate::table::Table::changed_since`]).

use super::props::mountpoint;
use super::{DsKind, ZfsState, keys_under};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The mounted filesystems with an absolute mountpoint, by name and by mountpoint.
#[derive(Debug, Default)]
struct Index {
    /// The datasets table's [`crate::table::Table::log_position`] this index is at.
    at: u64,
    /// Name → mountpoint as [`mountpoint`] gives it.
    by_name: BTreeMap<String, String>,
    /// Mountpoint, compared by path components (`/a/` is `/a`) → names mounted there.
    by_path: BTreeMap<PathBuf, BTreeSet<String>>,
}

impl Index {
    fn build(z: &ZfsState) -> Index {
        let mut ix = Index {
            at: z.datasets.log_position(),
            ..Index::default()
        };
        for name in z.datasets.keys() {
            ix.add(z, name);
        }
        ix
    }

    fn add(&mut self, z: &ZfsState, name: &str) {
        let Some(d) = z.datasets.get(name) else {
            return;
        };
        if d.kind != DsKind::Filesystem || !d.mounted {
            return;
        }
        let (mp, _) = mountpoint(z, name);
        if !mp.starts_with('/') {
            return;
        }
        self.by_path
            .entry(PathBuf::from(&mp))
            .or_default()
            .insert(name.to_string());
        self.by_name.insert(name.to_string(), mp);
    }

    fn remove(&mut self, name: &str) {
        if let Some(mp) = self.by_name.remove(name) {
            let key = PathBuf::from(mp);
            if let Some(set) = self.by_path.get_mut(&key) {
                set.remove(name);
                if set.is_empty() {
                    self.by_path.remove(&key);
                }
            }
        }
    }

    /// Recompute `name` and every filesystem below it.
    fn refresh(&mut self, z: &ZfsState, name: &str) {
        let stale: Vec<String> = std::iter::once(name.to_string())
            .chain(keys_under(&self.by_name, name, '/').cloned())
            .collect();
        for n in &stale {
            self.remove(n);
        }
        for n in std::iter::once(name).chain(z.under(name, '/').map(String::as_str)) {
            self.add(z, n);
        }
    }

    /// Bring the index to the datasets' current state.
    fn catch_up(&mut self, z: &ZfsState) {
        let now = z.datasets.log_position();
        if now == self.at {
            return;
        }
        match z.datasets.changed_since(self.at) {
            Some(keys) => {
                let keys: BTreeSet<&String> = keys.into_iter().collect();
                for k in keys {
                    self.refresh(z, k);
                }
                self.at = now;
            }
            None => *self = Index::build(z),
        }
    }
}

/// The index, beside the state and not part of it: a copy starts empty, any two compare
/// equal, and the first query after a load builds it.
#[derive(Debug, Default)]
pub struct MountIndex(Mutex<Option<Index>>);

impl Clone for MountIndex {
    fn clone(&self) -> Self {
        MountIndex::default()
    }
}

impl PartialEq for MountIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl MountIndex {
    fn with<T>(&self, z: &ZfsState, f: impl FnOnce(&Index) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(ix) => ix.catch_up(z),
            None => *g = Some(Index::build(z)),
        }
        f(g.as_ref().expect("built above"))
    }
}

/// The mounted filesystems whose mountpoint is `path` or one of its ancestors (compared by
/// path components), as `(name, mountpoint)` in mount order (parents first; by name, as
/// [`super::mounted_filesystems`] lists them). At most a few per path component.
pub fn holding(z: &ZfsState, path: &Path) -> Vec<(String, String)> {
    z.mount_index.with(z, |ix| {
        let mut v: Vec<(String, String)> = path
            .ancestors()
            .filter_map(|a| ix.by_path.get(a))
            .flatten()
            .map(|n| (n.clone(), ix.by_name[n].clone()))
            .collect();
        v.sort();
        v
    })
}

/// Every mounted filesystem with an absolute mountpoint, in mount order.
pub fn all(z: &ZfsState) -> Vec<(String, String)> {
    z.mount_index.with(z, |ix| {
        ix.by_name
            .iter()
            .map(|(n, m)| (n.clone(), m.clone()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::super::{SimDataset, init_fresh};
    use super::*;
    use crate::SimState;

    /// Every mounted filesystem with an absolute mountpoint, computed from scratch: what
    /// the index must agree with.
    fn brute(z: &ZfsState) -> Vec<(String, String)> {
        z.datasets
            .iter()
            .filter(|(_, d)| d.kind == DsKind::Filesystem && d.mounted)
            .map(|(n, _)| (n.clone(), mountpoint(z, n).0))
            .filter(|(_, mp)| mp.starts_with('/'))
            .collect()
    }

    /// A random walk of changes to the datasets (new filesystems in a small tree, local and
    /// received mountpoints set and removed, mounts and unmounts, removals of whole
    /// subtrees, more changes at once than the log keeps), the index checked against a
    /// fresh computation after each, whole and for the lookups of a path.
    #[test]
    fn the_index_follows_every_change() {
        let mut s = SimState::default();
        init_fresh(&mut s);
        let fs = s.zfs.datasets["zroot"].clone();
        let names = [
            "zroot/a",
            "zroot/a/b",
            "zroot/a/b/c",
            "zroot/a-2",
            "zroot/a.x",
            "zroot/d",
            "zroot/d/e",
        ];
        let mps = ["/m", "/m/", "/zroot/a", "none", "legacy", "/j/w", "/"];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for step in 0..3_000 {
            let name = names[next(names.len())];
            match next(7) {
                0 | 1 => {
                    let mut d: SimDataset = fs.clone();
                    d.props.clear();
                    d.mounted = next(4) != 0;
                    s.zfs.datasets.insert(name.into(), d);
                }
                2 => {
                    let v = mps[next(mps.len())];
                    if let Some(d) = s.zfs.datasets.get_mut(name) {
                        d.props.insert("mountpoint".into(), v.into());
                    }
                }
                3 => {
                    let v = mps[next(mps.len())];
                    if let Some(d) = s.zfs.datasets.get_mut(name) {
                        d.props.remove("mountpoint");
                        d.received.insert("mountpoint".into(), v.into());
                    }
                }
                4 => {
                    if let Some(d) = s.zfs.datasets.get_mut(name) {
                        d.mounted = !d.mounted;
                    }
                }
                5 => {
                    let gone: Vec<String> = std::iter::once(name.to_string())
                        .chain(s.zfs.under(name, '/').cloned())
                        .collect();
                    for n in gone {
                        s.zfs.datasets.remove(&n);
                    }
                }
                _ => {
                    // More changes than the log keeps: the index starts over.
                    for _ in 0..(next(3) * 700) {
                        let _ = s.zfs.datasets.get_mut("zroot");
                    }
                }
            }
            // Ask only every few steps, so changes pile up between two questions.
            if next(3) == 0 {
                let want = brute(&s.zfs);
                assert_eq!(all(&s.zfs), want, "step {step}");
                for path in ["/m/x/y", "/zroot/a/b/c/f", "/j/w", "/", "/zroot/d/e"] {
                    let p = Path::new(path);
                    let held: Vec<(String, String)> = want
                        .iter()
                        .filter(|(_, mp)| p.starts_with(mp))
                        .cloned()
                        .collect();
                    assert_eq!(holding(&s.zfs, p), held, "step {step}: {path}");
                }
            }
        }
    }
}
