//! File operations of the executor and its undo: writing a file on the host or inside a
//! jail root (no link below the root followed), and the mode and owner a file had, given
//! back when it is restored.

use super::{StepError, io_cause};
use crate::host::Host;
use std::path::Path;

/// The permission bits of an existing file and, for a host file (not inside a jail root),
/// its owner.
pub(super) fn file_meta(
    h: &dyn Host,
    path: &Path,
    in_root: bool,
) -> Option<(u32, Option<(u32, u32)>)> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(h.local_path(path)).ok()?;
    if !md.is_file() {
        return None;
    }
    Some((md.mode() & 0o7777, (!in_root).then(|| (md.uid(), md.gid()))))
}

/// Give a restored host file its recorded owner when it differs (a rewrite makes a new
/// file, owned by whoever runs jailctl).
pub(super) fn restore_owner(h: &dyn Host, path: &Path, owner: (u32, u32)) -> Result<(), StepError> {
    use std::os::unix::fs::MetadataExt;
    let local = h.local_path(path);
    let md = std::fs::symlink_metadata(&local).map_err(|e| io_cause("cannot inspect", path, e))?;
    if (md.uid(), md.gid()) == owner {
        return Ok(());
    }
    std::os::unix::fs::lchown(&local, Some(owner.0), Some(owner.1)).map_err(|source| {
        StepError::Owner {
            path: path.to_path_buf(),
            owner,
            source,
        }
    })
}

/// `path` split into its jail root and the part below, when it is inside one.
pub(super) fn in_root<'a>(path: &'a Path, root: Option<&'a Path>) -> Option<(&'a Path, &'a Path)> {
    let root = root?;
    path.strip_prefix(root).ok().map(|rel| (root, rel))
}

pub(super) fn write_file(
    h: &dyn Host,
    path: &Path,
    root: Option<&Path>,
    contents: &[u8],
    mode: u32,
) -> Result<(), StepError> {
    if let Some((root, rel)) = in_root(path, root) {
        return h
            .write_in_root(root, rel, contents, mode)
            .map_err(|e| io_cause("cannot write", path, e));
    }
    if let Some(parent) = path.parent() {
        h.mkdir_p(parent, 0o755)
            .map_err(|e| io_cause("cannot create directory", parent, e))?;
    }
    h.write(path, contents, mode)
        .map_err(|e| io_cause("cannot write", path, e))
}
