//! Dataset name checks as libzfs's zfs_validate_name makes them (the characters allowed in a
//! component, the `@` of a snapshot, the pool part), with its messages.
//!
//! Why it exists: every command opens or creates datasets by name and must refuse a bad one
//! with the reason a real zfs gives.

use super::pool_of;

/// Check a dataset name; `Err(reason)` in zfs's words.
pub(super) fn check_name(name: &str, allow_snap: bool) -> Result<(), String> {
    if name.len() >= 256 {
        return Err("name is too long".into());
    }
    if name.starts_with('/') {
        return Err("leading slash in name".into());
    }
    if name.ends_with('/') {
        return Err("trailing slash in name".into());
    }
    if name.matches('@').count() > 1 {
        // module/zcommon/zfs_namecheck.c, entity_namecheck: NAME_ERR_MULTIPLE_DELIMITERS,
        // worded by libzfs_dataset.c, zfs_validate_name.
        return Err("multiple '@' and/or '#' delimiters in name".into());
    }
    if name.contains('#') {
        return Err("bookmarks are not modelled by the simulated host".into());
    }
    let (fs, snap) = match name.split_once('@') {
        Some((f, s)) => (f, Some(s)),
        None => (name, None),
    };
    for comp in fs.split('/') {
        if comp.is_empty() {
            return Err("empty component or misplaced '@' or '#' delimiter in name".into());
        }
        check_chars(comp)?;
    }
    if let Some(s) = snap {
        if s.is_empty() {
            return Err("empty component or misplaced '@' or '#' delimiter in name".into());
        }
        check_chars(s)?;
    }
    let pool = pool_of(name);
    if !pool.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("pool name must begin with a letter".into());
    }
    // OpenZFS 2.2, lib/libzfs/libzfs_dataset.c, zfs_validate_name: the name itself first
    // (entity_namecheck), then an '@' where a filesystem is wanted.
    if name.contains('@') && !allow_snap {
        return Err("snapshot delimiter '@' is not expected here".into());
    }
    Ok(())
}

pub(super) fn check_chars(comp: &str) -> Result<(), String> {
    if let Some(c) = comp
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.: ".contains(*c)))
    {
        return Err(format!("invalid character '{c}' in name"));
    }
    if comp == "." || comp == ".." {
        return Err("self reference, '.' is found in name".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Command-line plumbing

/// A name zfs_name_valid accepts as a filesystem: with `-p`, an existing dataset of that
/// name makes `create`/`clone` succeed without doing anything.
pub(super) fn fs_name_valid(name: &str) -> bool {
    check_name(name, false).is_ok() && name.contains('/')
}
