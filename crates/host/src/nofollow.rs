//! Reading and writing files inside a jail's root without following symbolic links. The
//! jail's root user owns everything under its root and can replace `etc/rc.conf` or `etc`
//! itself with a link to a host path; a plain write by jailctl (running as the host's root)
//! would then overwrite that host file. Here every component below the root is opened
//! relative to its parent with `O_NOFOLLOW`, so a link anywhere in the path makes the
//! operation fail with `ELOOP` (or `ENOTDIR`) instead of leaving the root.

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

/// An error of this module: the OS error, and what was being done to which path. It travels
/// inside a `std::io::Error` (the [`crate::HostFs`] methods return those), so the message
/// itself says why a link stopped it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct InRootError {
    #[source]
    pub errno: Errno,
    message: String,
}

/// Did the operation stop at a symbolic link below the root?
pub fn is_link_refusal(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<InRootError>())
        .is_some_and(|i| matches!(i.errno, Errno::ELOOP | Errno::EMLINK | Errno::ENOTDIR))
}

fn io(e: Errno, what: &str, path: &Path) -> std::io::Error {
    let hint = if matches!(e, Errno::ELOOP | Errno::ENOTDIR | Errno::EMLINK) {
        " (a symbolic link inside the jail's root is not followed; remove it from the jail)"
    } else {
        ""
    };
    std::io::Error::new(
        std::io::Error::from(e).kind(),
        InRootError {
            errno: e,
            message: format!("{what} {}: {}{hint}", path.display(), e.desc()),
        },
    )
}

/// The components of `rel`, which must be a plain relative path (no `..`, no root).
fn parts(rel: &Path) -> std::io::Result<Vec<&std::ffi::OsStr>> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    rel.components()
        .map(|c| match c {
            Component::Normal(s) => Ok(s),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a plain path inside a jail root", rel.display()),
            )),
        })
        .collect()
}

const DIR: OFlag = OFlag::O_DIRECTORY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_RDONLY)
    .union(OFlag::O_CLOEXEC);

/// `mode` as the platform's `mode_t` (u16 on FreeBSD, u32 on Linux), permission bits only.
#[allow(clippy::unnecessary_cast)] // a no-op cast on Linux, a narrowing one on FreeBSD
fn file_mode(mode: u32) -> Mode {
    Mode::from_bits_truncate((mode & 0o7777) as nix::libc::mode_t)
}

/// Open the directory holding `rel`'s last component, creating missing directories (mode
/// 0755) when `create`; returns it with the last component's name.
fn parent<'a>(
    root: &Path,
    rel: &'a Path,
    create: bool,
) -> std::io::Result<(OwnedFd, &'a std::ffi::OsStr)> {
    let p = parts(rel)?;
    let Some((last, dirs)) = p.split_last() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty path inside a jail root",
        ));
    };
    Ok((open_dirs(root, dirs, create)?, last))
}

/// Open `root/dirs...` as a directory, one component at a time with `O_NOFOLLOW`, creating
/// missing ones (mode 0755) when `create`.
fn open_dirs(root: &Path, dirs: &[&std::ffi::OsStr], create: bool) -> std::io::Result<OwnedFd> {
    let mut fd = openat(nix::fcntl::AT_FDCWD, root, DIR, Mode::empty())
        .map_err(|e| io(e, "cannot open", root))?;
    let mut at = root.to_path_buf();
    for d in dirs {
        at.push(d);
        let next = match openat(&fd, *d, DIR, Mode::empty()) {
            Err(Errno::ENOENT) if create => {
                match mkdirat(&fd, *d, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(io(e, "cannot create directory", &at)),
                }
                openat(&fd, *d, DIR, Mode::empty())
            }
            r => r,
        }
        .map_err(|e| io(e, "cannot open directory", &at))?;
        fd = next;
    }
    Ok(fd)
}

/// Write `contents` to `root/rel` (atomically: a temporary file beside it, then a rename)
/// with `mode`, never following a symbolic link below `root`.
pub fn write_in_root(root: &Path, rel: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let full = root.join(rel.strip_prefix("/").unwrap_or(rel));
    let (dir, name) = parent(root, rel, true)?;
    let mut tmp = name.to_os_string();
    tmp.push(".jailctl-tmp");
    // A link planted at the target itself is replaced by the rename, never written through.
    let f = openat(
        &dir,
        tmp.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        file_mode(mode),
    )
    .map_err(|e| io(e, "cannot write", &full))?;
    let mut f = std::fs::File::from(f);
    f.write_all(contents)?;
    // The creation mode is filtered by the umask; set it exactly.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.sync_all()?;
    renameat(&dir, tmp.as_os_str(), &dir, name).map_err(|e| io(e, "cannot write", &full))
}

/// Make the directory `root/rel` and its missing parents (mode 0755), never following a
/// symbolic link below `root`: a link anywhere on the way, the last component included,
/// fails with `ELOOP` or `ENOTDIR`.
pub fn mkdir_in_root(root: &Path, rel: &Path) -> std::io::Result<()> {
    let p = parts(rel)?;
    open_dirs(root, &p, true).map(drop)
}

/// Read `root/rel`, never following a symbolic link below `root`.
pub fn read_in_root(root: &Path, rel: &Path) -> std::io::Result<Vec<u8>> {
    let full = root.join(rel.strip_prefix("/").unwrap_or(rel));
    let (dir, name) = parent(root, rel, false)?;
    let f = openat(
        &dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e, "cannot read", &full))?;
    let mut out = Vec::new();
    std::fs::File::from(f).read_to_end(&mut out)?;
    Ok(out)
}

/// Remove `root/rel` (a link there is removed itself, its target untouched).
pub fn remove_in_root(root: &Path, rel: &Path) -> std::io::Result<()> {
    let full = root.join(rel.strip_prefix("/").unwrap_or(rel));
    let (dir, name) = parent(root, rel, false)?;
    unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir).map_err(|e| io(e, "cannot remove", &full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_and_refuses_planted_links() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("jail");
        let host = t.path().join("host");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("passwd"), "host secret\n").unwrap();

        write_in_root(&root, Path::new("etc/rc.conf"), b"a=1\n", 0o644).unwrap();
        assert_eq!(
            read_in_root(&root, Path::new("/etc/rc.conf")).unwrap(),
            b"a=1\n"
        );
        write_in_root(&root, Path::new("new/dir/f"), b"x", 0o600).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(root.join("new/dir/f"))
            .unwrap()
            .permissions();
        assert_eq!(m.mode() & 0o777, 0o600);

        // The jail's root user links its rc.conf to a host file: jailctl replaces the link
        // and the host file stays as it was.
        std::fs::remove_file(root.join("etc/rc.conf")).unwrap();
        std::os::unix::fs::symlink(host.join("passwd"), root.join("etc/rc.conf")).unwrap();
        let e = read_in_root(&root, Path::new("etc/rc.conf")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(is_link_refusal(&e), "{e:?}");
        write_in_root(&root, Path::new("etc/rc.conf"), b"b=2\n", 0o644).unwrap();
        assert_eq!(
            std::fs::read(host.join("passwd")).unwrap(),
            b"host secret\n"
        );
        assert!(
            !std::fs::symlink_metadata(root.join("etc/rc.conf"))
                .unwrap()
                .is_symlink()
        );

        // ... or links a whole directory out of the root: refused, nothing written.
        std::fs::remove_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink(&host, root.join("etc")).unwrap();
        let e = write_in_root(&root, Path::new("etc/passwd"), b"owned\n", 0o644).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(
            std::fs::read(host.join("passwd")).unwrap(),
            b"host secret\n"
        );
        assert!(write_in_root(&root, Path::new("../escape"), b"", 0o644).is_err());
        assert!(remove_in_root(&root, Path::new("etc/passwd")).is_err());
        assert!(host.join("passwd").exists());
    }

    #[test]
    fn mkdir_in_root_makes_parents_and_refuses_links() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir(&root).unwrap();
        mkdir_in_root(&root, Path::new("/mnt/data/a")).unwrap();
        assert!(root.join("mnt/data/a").is_dir());
        // Again: it exists, fine.
        mkdir_in_root(&root, Path::new("mnt/data/a")).unwrap();
        let host = t.path().join("host");
        std::fs::create_dir(&host).unwrap();
        // A link as the last component, and as a parent.
        std::os::unix::fs::symlink(&host, root.join("last")).unwrap();
        let e = mkdir_in_root(&root, Path::new("last")).unwrap_err();
        assert!(is_link_refusal(&e), "{e}");
        let e = mkdir_in_root(&root, Path::new("last/b")).unwrap_err();
        assert!(is_link_refusal(&e), "{e}");
        assert!(!host.join("b").exists());
        assert!(mkdir_in_root(&root, Path::new("../x")).is_err());
    }
}
