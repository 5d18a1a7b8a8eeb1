//! Unpacking a distribution set (`*.txz`, an xz-compressed tar) into a base's root, safely.
//!
//! A set is data from the network, so every entry is checked before anything is written: an
//! absolute path, a `..` component, a hard link whose target does the same, or an entry whose
//! parent directory is a symbolic link (which would write through the link, outside the root)
//! stops the extraction with an error naming the entry. Symbolic links themselves may point
//! anywhere (`/etc/termcap -> /usr/share/misc/termcap` is normal in a base): they are created,
//! never followed. Device nodes are refused (a jail's `/dev` comes from devfs).
//!
//! Modes and modification times are kept, set-id bits included; owners are kept when running
//! as root. Directories get their mode and time at the end, once everything inside them is
//! written (so a `0555` directory does not lock out a non-root extraction).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use tar::EntryType;

/// How to extract.
#[derive(Clone, Copy, Debug)]
pub struct ExtractOptions {
    /// Set each entry's owner and group from the archive (needs root).
    pub preserve_owners: bool,
}

impl Default for ExtractOptions {
    /// Keep owners exactly when running as root.
    fn default() -> Self {
        ExtractOptions {
            preserve_owners: nix::unistd::geteuid().is_root(),
        }
    }
}

/// What an extraction wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtractStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
}

/// Why a distribution set could not be extracted.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExtractError {
    #[error("cannot open {}: {cause}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        cause: io::Error,
    },
    #[error("{} is not a readable xz-compressed tar archive (corrupt or truncated download?): {cause}", archive.display())]
    #[diagnostic(help("remove it and fetch the set again"))]
    Corrupt {
        archive: PathBuf,
        #[source]
        cause: io::Error,
    },
    /// `reason` says what makes the entry unsafe (an absolute path, `..`, a link out of the
    /// tree, a device).
    #[error("{} holds an unsafe entry `{entry}`: {reason}; nothing from it is trusted", archive.display())]
    #[diagnostic(help("use the sets of a FreeBSD release, and check where this one came from"))]
    Unsafe {
        archive: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("cannot extract `{entry}` from {} into {}: {cause}", archive.display(), dest.display())]
    #[diagnostic(help("check that the base's dataset is mounted, writable and not full"))]
    Write {
        archive: PathBuf,
        entry: String,
        dest: PathBuf,
        #[source]
        cause: io::Error,
    },
}

/// Extract the xz-compressed tar `archive` into the existing directory `dest`.
pub fn extract_txz(
    archive: &Path,
    dest: &Path,
    opts: ExtractOptions,
) -> Result<ExtractStats, ExtractError> {
    let file = fs::File::open(archive).map_err(|cause| ExtractError::Open {
        path: archive.to_path_buf(),
        cause,
    })?;
    let xz =
        liblzma::read::XzDecoder::new_multi_decoder(io::BufReader::with_capacity(1 << 20, file));
    extract_tar(xz, archive, dest, opts)
}

/// Extract an uncompressed tar stream. `archive` only names the source in errors.
pub fn extract_tar<R: Read>(
    reader: R,
    archive: &Path,
    dest: &Path,
    opts: ExtractOptions,
) -> Result<ExtractStats, ExtractError> {
    let corrupt = |cause| ExtractError::Corrupt {
        archive: archive.to_path_buf(),
        cause,
    };
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(opts.preserve_owners);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(false);
    ar.set_overwrite(true);

    let mut x = Extraction {
        archive,
        dest,
        stats: ExtractStats::default(),
        checked_dirs: HashSet::new(),
        deferred: Vec::new(),
    };
    for entry in ar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        x.entry(&mut entry)?;
    }
    x.finish()
}

/// One extraction in progress: what it wrote so far and what it knows of `dest`.
struct Extraction<'a> {
    archive: &'a Path,
    dest: &'a Path,
    stats: ExtractStats,
    /// Directories (relative paths) known to be real directories, not links.
    checked_dirs: HashSet<PathBuf>,
    /// Directories whose mode and time are applied once everything inside is written:
    /// a `0555` directory must stay writable until then (for a non-root user), and writing
    /// into a directory changes its time.
    deferred: Vec<(PathBuf, u32, u64)>,
}

impl Extraction<'_> {
    /// Check one entry, make room for it, write it and count it.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ExtractError> {
        let (archive, dest) = (self.archive, self.dest);
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_entry = |reason: &str| ExtractError::Unsafe {
            archive: archive.to_path_buf(),
            entry: raw_name.clone(),
            reason: reason.to_string(),
        };
        let rel = entry
            .path()
            .map_err(|_| unsafe_entry("the name is not a valid path"))
            .and_then(|p| safe_relative(&p).map_err(&unsafe_entry))?;
        let kind = entry.header().entry_type();
        check_kind(kind).map_err(|reason| unsafe_entry(&reason))?;
        if rel.as_os_str().is_empty() {
            // `./` itself: the destination already exists.
            return Ok(());
        }
        // Every parent directory must be a real directory inside dest, never a link.
        if let Some(parent) = rel.parent() {
            check_no_links(dest, parent, &mut self.checked_dirs)
                .map_err(|reason| unsafe_entry(&reason))?;
        }
        if kind == EntryType::Link {
            self.check_hard_link(entry)
                .map_err(|reason| unsafe_entry(&reason))?;
        }
        let full = dest.join(&rel);
        if kind == EntryType::Directory {
            if let Ok(md) = fs::symlink_metadata(&full)
                && md.file_type().is_symlink()
            {
                return Err(unsafe_entry(
                    "a directory entry would replace a symbolic link already extracted",
                ));
            }
        } else {
            self.checked_dirs.remove(&rel);
            // Replace whatever is there (tar would otherwise follow a link left at this path).
            if let Ok(md) = fs::symlink_metadata(&full) {
                if md.is_dir() {
                    return Err(unsafe_entry(
                        "a non-directory entry would replace a directory already extracted",
                    ));
                }
                fs::remove_file(&full)
                    .map_err(|source| write_err(archive, &raw_name, dest, source))?;
            }
        }
        let size = entry.size();
        entry
            .unpack_in(dest)
            .map_err(|source| write_err(archive, &raw_name, dest, source))
            .and_then(|written| {
                if written {
                    Ok(())
                } else {
                    Err(unsafe_entry(
                        "refused by the tar reader as outside the destination",
                    ))
                }
            })?;
        self.count(entry.header(), kind, rel, full, size)
            .map_err(|source| write_err(archive, &raw_name, dest, source))
    }

    /// A hard link's target must be a safe path, reached through real directories, and not
    /// a symbolic link.
    fn check_hard_link<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<(), String> {
        let target = entry
            .link_name()
            .ok()
            .flatten()
            .ok_or_else(|| "hard link without a target".to_string())?;
        let target = safe_relative(&target).map_err(|r| format!("hard link target: {r}"))?;
        if let Some(parent) = target.parent() {
            check_no_links(self.dest, parent, &mut self.checked_dirs)
                .map_err(|reason| format!("hard link target: {reason}"))?;
        }
        if fs::symlink_metadata(self.dest.join(&target)).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err("hard link to a symbolic link (some systems would follow it)".to_string());
        }
        Ok(())
    }

    /// Count a written entry; a directory is kept writable and its mode and time deferred.
    fn count(
        &mut self,
        header: &tar::Header,
        kind: EntryType,
        rel: PathBuf,
        full: PathBuf,
        size: u64,
    ) -> io::Result<()> {
        match kind {
            EntryType::Directory => {
                self.stats.dirs += 1;
                self.checked_dirs.insert(rel);
                let mode = header.mode().unwrap_or(0o755) & 0o7777;
                let mtime = header.mtime().unwrap_or(0);
                if mode & 0o700 != 0o700 {
                    fs::set_permissions(&full, fs::Permissions::from_mode(mode | 0o700))?;
                }
                self.deferred.push((full, mode, mtime));
            }
            EntryType::Symlink => self.stats.symlinks += 1,
            EntryType::Link => self.stats.hardlinks += 1,
            _ => {
                self.stats.files += 1;
                self.stats.bytes += size;
            }
        }
        Ok(())
    }

    /// Give the directories their mode and time, deepest first.
    fn finish(self) -> Result<ExtractStats, ExtractError> {
        let (archive, dest) = (self.archive, self.dest);
        for (dir, mode, mtime) in self.deferred.into_iter().rev() {
            let fail = |source| write_err(archive, &dir.to_string_lossy(), dest, source);
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
            fs::File::open(&dir)
                .and_then(|d| d.set_times(fs::FileTimes::new().set_modified(when)))
                .map_err(fail)?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).map_err(fail)?;
        }
        Ok(self.stats)
    }
}

/// The kinds of entry a base may hold: files, directories and links; why not otherwise.
fn check_kind(kind: EntryType) -> Result<(), String> {
    match kind {
        EntryType::Regular
        | EntryType::Continuous
        | EntryType::Directory
        | EntryType::Symlink
        | EntryType::Link => Ok(()),
        EntryType::Char | EntryType::Block => Err(
            "device nodes do not belong in a base (a jail's /dev is mounted by devfs)".to_string(),
        ),
        other => Err(format!(
            "entries of type {other:?} are not supported in a base"
        )),
    }
}

fn write_err(archive: &Path, entry: &str, dest: &Path, source: io::Error) -> ExtractError {
    ExtractError::Write {
        archive: archive.to_path_buf(),
        entry: entry.to_string(),
        dest: dest.to_path_buf(),
        cause: source,
    }
}

/// The entry's path relative to the root, or why it may not be written. `./x` is `x`.
pub fn safe_relative(p: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => return Err("the path contains `..` and could leave the base"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("the path is absolute and would be written outside the base");
            }
        }
    }
    Ok(out)
}

/// Require every prefix of `rel_dir` under `dest` to be a real directory or absent.
fn check_no_links(
    dest: &Path,
    rel_dir: &Path,
    checked: &mut HashSet<PathBuf>,
) -> Result<(), String> {
    let mut cur = PathBuf::new();
    for c in rel_dir.components() {
        cur.push(c);
        if checked.contains(&cur) {
            continue;
        }
        match fs::symlink_metadata(dest.join(&cur)) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(format!(
                    "`{}` is a symbolic link; writing through it could land outside the base",
                    cur.display()
                ));
            }
            Ok(md) if !md.is_dir() => {
                return Err(format!("`{}` is not a directory", cur.display()));
            }
            Ok(_) => {
                checked.insert(cur.clone());
            }
            // Missing: tar creates it as a plain directory.
            Err(_) => {}
        }
    }
    Ok(())
}
