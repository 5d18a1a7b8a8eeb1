//! The collections of the simulated host's state that grow with the host (datasets, jails,
//! rules, mounts, interfaces, anchors): a map ([`Table`]) and a list ([`Seq`]) that remember
//! which of their entries a command changed.
//!
//! Why it exists: the store ([`crate::store`]) saves what a command changed, entry by entry,
//! so a command's cost follows what it touches and not the size of the host. Reading goes
//! through `Deref` to the plain `BTreeMap` or slice, so the tool models read as before; every
//! way to change an entry goes through a method here that records the entry's key, so a
//! change cannot escape the record (the compiler refuses a `&mut` any other way).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

/// The entries changed since the collection was last saved.
#[derive(Clone, Debug)]
pub(crate) struct Changes<K> {
    keys: BTreeSet<K>,
    /// Every entry may have changed (an `iter_mut`, a `clear`): save the whole collection.
    all: bool,
}

impl<K> Default for Changes<K> {
    fn default() -> Self {
        Changes {
            keys: BTreeSet::new(),
            all: false,
        }
    }
}

/// A key as the store names it: `zfs.datasets/zroot/a`, `cpuset.masks/7`.
pub trait ObjectKey: Ord + Clone {
    fn to_key(&self) -> String;
    fn from_key(s: &str) -> Option<Self>;
}

impl ObjectKey for String {
    fn to_key(&self) -> String {
        self.clone()
    }
    fn from_key(s: &str) -> Option<Self> {
        Some(s.to_string())
    }
}

impl ObjectKey for i32 {
    fn to_key(&self) -> String {
        self.to_string()
    }
    fn from_key(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// An entry of the log the collection cannot take: the file was not written by the
/// simulator, or by another version of it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EntryError {
    #[error("`{0}` is not a key of this collection")]
    #[diagnostic(help("remove the simulated host's directory to start a fresh one"))]
    Key(String),
    #[error("entry `{key}` does not read as this collection's values")]
    #[diagnostic(help("remove the simulated host's directory to start a fresh one"))]
    Value {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What the store asks of a tracked collection, whatever its key and value types.
pub(crate) trait Tracked {
    /// The keys of the entries changed since the last call (`None`: possibly all of them),
    /// and forget them.
    fn take_changes(&mut self) -> Option<Vec<String>>;
    /// Every key, in order.
    fn keys(&self) -> Vec<String>;
    /// The serialised entry under `key`, `None` if there is none.
    fn entry_bytes(&self, key: &str) -> Option<serde_json::Result<Vec<u8>>>;
    /// Set (`Some`) or remove (`None`) the entry under `key`, as the store loads it; not
    /// recorded as a change.
    fn load_entry(&mut self, key: &str, value: Option<&str>) -> Result<(), EntryError>;
    /// Remove every entry, as the store loads it.
    fn load_clear(&mut self);
    /// Whether an entry differs from `before`'s without having been recorded (a check for
    /// tests; `before` must be the same type).
    fn unrecorded(&self, before: &dyn std::any::Any) -> Option<String>;
    fn as_any(&self) -> &dyn std::any::Any;
    /// Number a list's items 0, 1, ... again, as deserialising the list does (after the
    /// store wrote the whole state).
    fn renumber(&mut self) {}
}

/// Versions of tables: each change to a [`Table`] gives it a number no other version of any
/// table in this process has, so a value computed from a table can be kept with the number
/// it was computed at ([`Memo`]).
static VERSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn new_version() -> u64 {
    VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// How many changed keys a [`Table`] keeps for the indexes beside it ([`Table::changed_since`])
/// before it starts over; an index further behind is rebuilt whole, once per this many
/// changes at most.
const LOG_LIMIT: usize = 1024;

/// An ordered map that records the keys of the entries changed through it: since the last
/// save, for the store, and in order, for indexes kept beside it.
#[derive(Clone, Debug)]
pub struct Table<K: Ord, V> {
    map: BTreeMap<K, V>,
    changes: Changes<K>,
    version: u64,
    /// The keys changed, in order (`None`: every entry may have changed); `log[0]` is
    /// change number `log_start`.
    log: Vec<Option<K>>,
    log_start: u64,
}

impl<K: Ord, V> Default for Table<K, V> {
    fn default() -> Self {
        Table::from_map(BTreeMap::new())
    }
}

impl<K: Ord, V> Table<K, V> {
    fn from_map(map: BTreeMap<K, V>) -> Self {
        Table {
            map,
            changes: Changes::default(),
            version: new_version(),
            log: Vec::new(),
            log_start: 0,
        }
    }

    /// A new version, and `key` (`None`: every entry) in the log.
    fn note(&mut self, key: Option<K>) {
        self.version = new_version();
        if self.log.len() >= LOG_LIMIT {
            self.log_start += self.log.len() as u64;
            self.log.clear();
        }
        self.log.push(key);
    }

    /// The number of changes so far, for [`Table::changed_since`].
    pub fn log_position(&self) -> u64 {
        self.log_start + self.log.len() as u64
    }

    /// The keys changed since position `pos` ([`Table::log_position`]), in order and
    /// repeated as often as they changed; `None` when every entry may have changed since or
    /// the log no longer reaches back to `pos`: then an index must be rebuilt whole.
    pub fn changed_since(&self, pos: u64) -> Option<Vec<&K>> {
        let from = usize::try_from(pos.checked_sub(self.log_start)?).ok()?;
        self.log.get(from..)?.iter().map(Option::as_ref).collect()
    }
}

pub use crate::memo::Memo;

impl<K: Ord, V: PartialEq> PartialEq for Table<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}
impl<K: Ord, V: Eq> Eq for Table<K, V> {}

impl<K: Ord, V> std::ops::Deref for Table<K, V> {
    type Target = BTreeMap<K, V>;
    fn deref(&self) -> &BTreeMap<K, V> {
        &self.map
    }
}

impl<K: Ord + Serialize, V: Serialize> Serialize for Table<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Table<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Table::from_map(BTreeMap::deserialize(d)?))
    }
}

impl<K: Ord + Clone, V> FromIterator<(K, V)> for Table<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut t = Table::default();
        for (k, v) in iter {
            t.insert(k, v);
        }
        t
    }
}

impl<K: Ord + Clone, V> Table<K, V> {
    /// This version's number ([`Memo`]).
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let k = self.map.get_key_value(key)?.0.clone();
        self.note(Some(k.clone()));
        self.changes.keys.insert(k.clone());
        self.map.get_mut::<K>(&k)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.note(Some(key.clone()));
        self.changes.keys.insert(key.clone());
        self.map.insert(key, value)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let (k, v) = self.map.remove_entry(key)?;
        self.note(Some(k.clone()));
        self.changes.keys.insert(k);
        Some(v)
    }

    pub fn entry(&mut self, key: K) -> std::collections::btree_map::Entry<'_, K, V> {
        self.note(Some(key.clone()));
        self.changes.keys.insert(key.clone());
        self.map.entry(key)
    }

    /// Every value, to change: the whole table counts as changed.
    pub fn values_mut(&mut self) -> std::collections::btree_map::ValuesMut<'_, K, V> {
        self.note(None);
        self.changes.all = true;
        self.map.values_mut()
    }

    /// Every entry, to change: the whole table counts as changed.
    pub fn iter_mut(&mut self) -> std::collections::btree_map::IterMut<'_, K, V> {
        self.note(None);
        self.changes.all = true;
        self.map.iter_mut()
    }

    /// Keep the entries `keep` says to keep; only the removed ones count as changed.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.version = new_version();
        let gone: Vec<K> = self
            .map
            .iter()
            .filter(|(k, v)| !keep(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.map.remove(&k);
            self.note(Some(k.clone()));
            self.changes.keys.insert(k);
        }
    }

    pub fn clear(&mut self) {
        self.note(None);
        self.map.clear();
        self.changes.all = true;
    }

    /// Change the values `which` picks with `f`; only those count as changed.
    pub fn update_where(&mut self, which: impl Fn(&V) -> bool, mut f: impl FnMut(&mut V)) {
        self.version = new_version();
        let mut changed = Vec::new();
        for (k, v) in self.map.iter_mut().filter(|(_, v)| which(v)) {
            self.changes.keys.insert(k.clone());
            changed.push(k.clone());
            f(v);
        }
        for k in changed {
            self.note(Some(k));
        }
    }
}

impl<K, V> Tracked for Table<K, V>
where
    K: ObjectKey + 'static,
    V: Serialize + DeserializeOwned + PartialEq + 'static,
{
    fn take_changes(&mut self) -> Option<Vec<String>> {
        let c = std::mem::take(&mut self.changes);
        (!c.all).then(|| c.keys.iter().map(ObjectKey::to_key).collect())
    }

    fn keys(&self) -> Vec<String> {
        self.map.keys().map(ObjectKey::to_key).collect()
    }

    fn entry_bytes(&self, key: &str) -> Option<serde_json::Result<Vec<u8>>> {
        let k = K::from_key(key)?;
        self.map.get(&k).map(serde_json::to_vec)
    }

    fn load_entry(&mut self, key: &str, value: Option<&str>) -> Result<(), EntryError> {
        let k = K::from_key(key).ok_or_else(|| EntryError::Key(key.to_string()))?;
        self.note(Some(k.clone()));
        match value {
            Some(v) => {
                let v = serde_json::from_str(v).map_err(|source| EntryError::Value {
                    key: key.to_string(),
                    source,
                })?;
                self.map.insert(k, v);
            }
            None => {
                self.map.remove(&k);
            }
        }
        Ok(())
    }

    fn load_clear(&mut self) {
        self.note(None);
        self.map.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn unrecorded(&self, before: &dyn std::any::Any) -> Option<String> {
        let before = before.downcast_ref::<Self>()?;
        if self.changes.all {
            return None;
        }
        let keys: BTreeSet<&K> = self.map.keys().chain(before.map.keys()).collect();
        keys.into_iter()
            .find(|k| self.map.get(*k) != before.map.get(*k) && !self.changes.keys.contains(*k))
            .map(ObjectKey::to_key)
    }
}

/// A list in insertion order that records which of its items changed. Each item has an id
/// that never changes and grows with each push, so removing an item does not renumber the
/// others and the store can keep each item as its own entry.
#[derive(Clone, Debug)]
pub struct Seq<T> {
    items: Vec<T>,
    ids: Vec<u64>,
    changes: Changes<u64>,
}

impl<T> Default for Seq<T> {
    fn default() -> Self {
        Seq {
            items: Vec::new(),
            ids: Vec::new(),
            changes: Changes::default(),
        }
    }
}

impl<T: PartialEq> PartialEq for Seq<T> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}
impl<T: Eq> Eq for Seq<T> {}

impl<T> std::ops::Deref for Seq<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T> std::ops::Index<usize> for Seq<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.items[i]
    }
}

impl<T> std::ops::IndexMut<usize> for Seq<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        self.changes.keys.insert(self.ids[i]);
        &mut self.items[i]
    }
}

impl<T: Serialize> Serialize for Seq<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Seq<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Seq::from(Vec::deserialize(d)?))
    }
}

impl<T> From<Vec<T>> for Seq<T> {
    fn from(items: Vec<T>) -> Self {
        let ids = (0..items.len() as u64).collect();
        Seq {
            items,
            ids,
            changes: Changes {
                keys: BTreeSet::new(),
                all: true,
            },
        }
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a Table<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl<'a, T> IntoIterator for &'a Seq<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// Every item, to change: the whole list counts as changed.
impl<'a, T> IntoIterator for &'a mut Seq<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// An item's id as the store names it: fixed width, so the names sort as the ids do.
fn id_key(id: u64) -> String {
    format!("{id:016x}")
}

impl<T> Seq<T> {
    pub fn push(&mut self, item: T) {
        let id = self.ids.last().map_or(0, |l| l + 1);
        self.ids.push(id);
        self.items.push(item);
        self.changes.keys.insert(id);
    }

    pub fn remove(&mut self, i: usize) -> T {
        self.changes.keys.insert(self.ids.remove(i));
        self.items.remove(i)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let id = *self.ids.get(i)?;
        self.changes.keys.insert(id);
        self.items.get_mut(i)
    }

    /// Every item, to change: the whole list counts as changed.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.changes.all = true;
        self.items.iter_mut()
    }

    /// Keep the items `keep` says to keep; only the removed ones count as changed.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut i = 0;
        while i < self.items.len() {
            if keep(&self.items[i]) {
                i += 1;
            } else {
                self.remove(i);
            }
        }
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.ids.clear();
        self.changes.all = true;
    }

    /// Change the items `which` picks with `f`; only those count as changed.
    pub fn update_where(&mut self, which: impl Fn(&T) -> bool, mut f: impl FnMut(&mut T)) {
        for (i, item) in self.items.iter_mut().enumerate().filter(|(_, x)| which(x)) {
            self.changes.keys.insert(self.ids[i]);
            f(item);
        }
    }

    /// The first item `which` picks, to change; only it counts as changed.
    pub fn find_mut(&mut self, which: impl Fn(&T) -> bool) -> Option<&mut T> {
        let i = self.items.iter().position(which)?;
        self.get_mut(i)
    }
}

impl<T> Tracked for Seq<T>
where
    T: Serialize + DeserializeOwned + PartialEq + 'static,
{
    fn renumber(&mut self) {
        self.ids = (0..self.items.len() as u64).collect();
    }

    fn take_changes(&mut self) -> Option<Vec<String>> {
        let c = std::mem::take(&mut self.changes);
        (!c.all).then(|| c.keys.into_iter().map(id_key).collect())
    }

    fn keys(&self) -> Vec<String> {
        self.ids.iter().copied().map(id_key).collect()
    }

    fn entry_bytes(&self, key: &str) -> Option<serde_json::Result<Vec<u8>>> {
        let id = u64::from_str_radix(key, 16).ok()?;
        let i = self.ids.binary_search(&id).ok()?;
        Some(serde_json::to_vec(&self.items[i]))
    }

    fn load_entry(&mut self, key: &str, value: Option<&str>) -> Result<(), EntryError> {
        let id = u64::from_str_radix(key, 16).map_err(|_| EntryError::Key(key.to_string()))?;
        let at = self.ids.binary_search(&id);
        match (value, at) {
            (Some(v), at) => {
                let v = serde_json::from_str(v).map_err(|source| EntryError::Value {
                    key: key.to_string(),
                    source,
                })?;
                match at {
                    Ok(i) => self.items[i] = v,
                    Err(i) => {
                        self.ids.insert(i, id);
                        self.items.insert(i, v);
                    }
                }
            }
            (None, Ok(i)) => {
                self.ids.remove(i);
                self.items.remove(i);
            }
            (None, Err(_)) => {}
        }
        Ok(())
    }

    fn load_clear(&mut self) {
        self.items.clear();
        self.ids.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn unrecorded(&self, before: &dyn std::any::Any) -> Option<String> {
        let before = before.downcast_ref::<Self>()?;
        if self.changes.all {
            return None;
        }
        fn find<T>(s: &Seq<T>, id: u64) -> Option<&T> {
            s.ids.binary_search(&id).ok().map(|i| &s.items[i])
        }
        let ids: BTreeSet<u64> = self.ids.iter().chain(&before.ids).copied().collect();
        ids.into_iter()
            .find(|id| find(self, *id) != find(before, *id) && !self.changes.keys.contains(id))
            .map(id_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_records_what_changed_through_it() {
        let mut t: Table<String, u32> = [("a".to_string(), 1), ("b".into(), 2)]
            .into_iter()
            .collect();
        assert_eq!(t.take_changes(), Some(vec!["a".into(), "b".into()]));
        let before = t.clone();
        *t.get_mut("a").unwrap() = 5;
        t.remove("b");
        t.entry("c".into()).or_insert(3);
        assert!(t.get_mut("nope").is_none());
        assert_eq!(t.unrecorded(&before), None);
        assert_eq!(
            t.take_changes(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        t.values_mut().for_each(|v| *v += 1);
        assert_eq!(t.take_changes(), None, "a change to every value");
        assert_eq!(t.take_changes(), Some(vec![]));
    }

    #[test]
    fn a_seq_keeps_ids_across_removals_and_loads_back_in_order() {
        let mut s: Seq<String> = Seq::default();
        for x in ["a", "b", "c"] {
            s.push(x.to_string());
        }
        s.remove(1);
        s.push("d".to_string());
        assert_eq!(&*s, ["a", "c", "d"]);
        assert_eq!(
            s.keys(),
            [id_key(0), id_key(2), id_key(3)],
            "ids are not reused"
        );
        let changed = s.take_changes().unwrap();
        assert_eq!(changed.len(), 4, "{changed:?}");
        // Loading the entries in any order gives the same list.
        let mut back: Seq<String> = Seq::default();
        for k in s.keys().iter().rev() {
            let v = String::from_utf8(s.entry_bytes(k).unwrap().unwrap()).unwrap();
            back.load_entry(k, Some(&v)).unwrap();
        }
        assert_eq!(&*back, ["a", "c", "d"]);
        back.load_entry(&id_key(2), None).unwrap();
        assert_eq!(&*back, ["a", "d"]);
    }

    #[test]
    fn an_unrecorded_change_is_found() {
        let mut t: Table<String, u32> = Table::default();
        t.insert("a".into(), 1);
        t.take_changes();
        let before = t.clone();
        // Only a test can do this: change the map behind the record's back.
        t.map.insert("a".into(), 2);
        assert_eq!(t.unrecorded(&before), Some("a".into()));
    }
}
