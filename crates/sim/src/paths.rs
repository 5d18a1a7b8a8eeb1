//! Simulated host paths as paths under the simulator's directory: `/x` maps to `DIR/root/x`,
//! with symbolic links followed inside that root only, as namei(9) would inside a chroot.
//!
//! Why it exists: every tool model and [`HostFs`](jailctl_host::HostFs) touch files by
//! host path; one resolver keeps a link in the simulated tree from reaching the real
//! machine's files.

use std::path::{Component, Path, PathBuf};

/// Map an absolute host path under `root` lexically, dropping `..` so nothing escapes it.
/// Only for trees the simulator alone writes (its snapshot store); every path of the
/// simulated host goes through [`resolve`].
pub fn map_path(root: &Path, p: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir if out != root => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Whether [`resolve`] follows a symbolic link in the last component (stat(2), open(2),
/// mount(2)) or leaves it to be acted on itself (lstat(2), unlink(2), rename(2)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last {
    Follow,
    NoFollow,
}

/// FreeBSD's MAXSYMLINKS (sys/param.h): namei(9) gives up with ELOOP after this many links.
pub(crate) const MAXSYMLINKS: usize = 32;

/// The one place a simulated host path becomes a path on the machine running the simulator.
///
/// The simulator's `root` directory is the simulated machine's `/`, so a path is resolved
/// the way namei(9) resolves it for a process whose root is that directory: component by
/// component; a symbolic link is read and its target resolved in its place, an absolute
/// target from the simulated `/`, a relative one from the link's directory; `..` at the root
/// stays at the root (as `/..` is `/`). Every component of the result except a
/// [`Last::NoFollow`] last one is a directory that exists and is no link, or does not exist
/// yet, so the caller's own system calls cannot follow anything out of `root` whatever links
/// the simulated host's files hold. More than `MAXSYMLINKS` links is ELOOP, as on FreeBSD.
/// The state lock is held for a whole command, so nothing changes the tree in between.
pub fn resolve(root: &Path, p: &Path, last: Last) -> std::io::Result<PathBuf> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    let mut todo: VecDeque<OsString> = VecDeque::new();
    push_front(&mut todo, p);
    let mut out: Vec<OsString> = Vec::new();
    let mut links = 0;
    let here = |out: &[OsString]| {
        let mut d = root.to_path_buf();
        d.extend(out);
        d
    };
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            out.pop();
            continue;
        }
        let at = here(&out).join(&c);
        let is_last = todo.is_empty();
        let link = match std::fs::symlink_metadata(&at) {
            Ok(md) => md.file_type().is_symlink() && !(is_last && last == Last::NoFollow),
            Err(_) => false,
        };
        if !link {
            out.push(c);
            continue;
        }
        links += 1;
        if links > MAXSYMLINKS {
            return Err(std::io::Error::new(
                std::io::Error::from_raw_os_error(nix::libc::ELOOP).kind(),
                format!(
                    "{}: Too many levels of symbolic links (more than {MAXSYMLINKS} links)",
                    p.display()
                ),
            ));
        }
        let target = std::fs::read_link(&at)?;
        if target.is_absolute() {
            out.clear();
        }
        push_front(&mut todo, &target);
    }
    Ok(here(&out))
}

/// Put `p`'s components (without `/` and `.`) in front of `todo`, in order.
pub(crate) fn push_front(todo: &mut std::collections::VecDeque<std::ffi::OsString>, p: &Path) {
    for c in p.components().rev() {
        match c {
            Component::Normal(s) => todo.push_front(s.to_os_string()),
            Component::ParentDir => todo.push_front("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

/// A path under `root` that no system call accepts (its name holds a NUL byte): what an
/// unresolvable simulated path maps to, so a tool acting on it fails and changes nothing.
pub fn unresolvable(root: &Path) -> PathBuf {
    root.join("unresolvable\0link loop")
}
