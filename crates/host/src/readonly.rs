//! A host handle that can only look. Read and preview commands (`plan`, `list`, `status`,
//! `show`, `render`, `validate`, every `--dry-run`, `destroy` before its confirmation) get a
//! [`ReadOnlyHost`]: it passes through the commands [`is_read_only`] classifies as reads and
//! refuses everything else, and it refuses every file write, directory creation and removal.
//! A refusal means jailctl itself tried to change the host from a preview, which is a bug, so
//! it is loud: an error naming the command or path, and an `error!` trace.
//!
//! The classification lives here, once, per tool. Anything not listed as a read is treated as
//! a change, including tools jailctl does not know and tools called by another path than the
//! absolute ones in [`super::tools`].
//!
//! [`HostFs::local_path`] is passed through: it only maps a path, and must never be used to
//! write from a read handle. Its users are the base extractor (`base create`/`update`, which
//! needs a real directory) and the lock files of [`crate::apply::JailLocks`]; no read or
//! preview command runs either (a preview takes no lock).

use super::{Cmd, Host, HostFs, Output, ProcessError, Runner, tools};
use std::path::{Path, PathBuf};

/// Whether `cmd` only reads the host. One rule per tool; unknown tools and unknown forms are
/// changes.
pub fn is_read_only(cmd: &Cmd) -> bool {
    let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    match cmd.program.as_str() {
        // zfs(8)/zpool(8): the subcommand decides.
        tools::ZFS => matches!(
            args.first(),
            Some(
                &("list" | "get" | "holds" | "version" | "userspace" | "groupspace"
                    // send only reads the snapshots it streams (zfs(8): zfs send).
                    | "send")
            )
        ),
        tools::ZPOOL => matches!(
            args.first(),
            Some(&("list" | "get" | "status" | "iostat" | "version"))
        ),
        // jls(8) only lists.
        tools::JLS => true,
        tools::KLDSTAT => true,
        // rctl(8): `-a` adds and `-r` removes; bare (list rules), `-l`, `-u`, `-h`, `-n` and
        // a filter only read.
        tools::RCTL => args
            .iter()
            .filter(|a| a.starts_with('-'))
            .all(|a| a.len() > 1 && a[1..].chars().all(|c| "hlnu".contains(c))),
        // sysctl(8): `NAME=VALUE` sets, `-f FILE` sets from a file; the rest reads.
        tools::SYSCTL => args.iter().all(|a| {
            let sets = a.contains('=');
            let other_flag =
                a.starts_with('-') && a[1..].chars().any(|c| !"abdehiNnoqTtWx".contains(c));
            !sets && !other_flag
        }),
        // ifconfig(8): only listing forms: flags that select what to show, and at most one
        // interface (or group/family) name. `IFACE create`, `IFACE inet ... alias`,
        // `IFACE destroy`, `IFACE up` all have two or more words.
        tools::IFCONFIG => {
            let flags_ok = args
                .iter()
                .filter(|a| a.starts_with('-'))
                .all(|a| matches!(*a, "-l" | "-a" | "-d" | "-u" | "-m" | "-v" | "-g" | "-L"));
            let words = args.iter().filter(|a| !a.starts_with('-')).count();
            flags_ok && words <= 1
        }
        // mount(8): bare or `-p`/`-v` lists; any operand mounts.
        tools::MOUNT => args.iter().all(|a| matches!(*a, "-p" | "-v")),
        // cpuset(8): `-g` gets; `-l`, `-s`, `-C`, `-n` set.
        tools::CPUSET => {
            args.contains(&"-g") && !args.iter().any(|a| matches!(*a, "-l" | "-s" | "-C" | "-n"))
        }
        // pfctl(8): `-s WHAT` shows (rules, nat, Anchors, info, Tables), alone or with
        // `-a ANCHOR` and `-v`; `-t TABLE -T show` lists a table. `-f` loads, `-F` flushes,
        // `-T add|delete|flush` and `-e`/`-d` change the firewall.
        tools::PFCTL => {
            let mut i = 0;
            let mut reads = false;
            while i < args.len() {
                match args[i] {
                    "-s" if i + 1 < args.len() => {
                        reads = true;
                        i += 2;
                    }
                    "-T" if args.get(i + 1) == Some(&"show") => {
                        reads = true;
                        i += 2;
                    }
                    "-a" | "-t" if i + 1 < args.len() => i += 2,
                    "-v" | "-vv" | "-q" => i += 1,
                    _ => return false,
                }
            }
            reads
        }
        // jail(8) creates, changes and removes; jexec(8) runs anything inside a jail; pkg(8),
        // umount(8), chown(8) change things.
        _ => false,
    }
}

/// The host as a read-only preview sees it.
pub struct ReadOnlyHost<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Borrowed(&'a dyn Host),
    Owned(Box<dyn Host + 'a>),
}

impl<'a> ReadOnlyHost<'a> {
    /// A read-only view of `host`, for a caller that keeps the host.
    pub fn new(host: &'a dyn Host) -> Self {
        ReadOnlyHost {
            inner: Inner::Borrowed(host),
        }
    }

    /// A read-only handle that owns its host (what the command line gets).
    pub fn owning(host: Box<dyn Host + 'a>) -> Self {
        ReadOnlyHost {
            inner: Inner::Owned(host),
        }
    }

    fn host(&self) -> &dyn Host {
        match &self.inner {
            Inner::Borrowed(h) => *h,
            Inner::Owned(h) => h.as_ref(),
        }
    }

    fn refuse_cmd(cmd: &Cmd) -> ProcessError {
        tracing::error!(%cmd, "read-only preview refused a command that changes the host");
        ProcessError::ReadOnly { cmd: cmd.clone() }
    }
}

/// The error a refused file operation returns.
fn refuse_fs(what: &str, path: &Path) -> std::io::Error {
    tracing::error!(path = %path.display(), what, "read-only preview refused a file change");
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "refusing to {what} {}: this is a read-only preview, which must not change the host; this is a bug in jailctl, please report it (the real command, without --dry-run, is not affected)",
            path.display()
        ),
    )
}

impl Runner for ReadOnlyHost<'_> {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        if is_read_only(cmd) {
            self.host().output(cmd)
        } else {
            Err(Self::refuse_cmd(cmd))
        }
    }

    fn output_within(
        &self,
        cmd: &Cmd,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        if is_read_only(cmd) {
            self.host().output_within(cmd, deadline)
        } else {
            Err(Self::refuse_cmd(cmd))
        }
    }

    fn pipe(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn std::io::Read + Send)>,
        output: Option<&mut dyn std::io::Write>,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        if is_read_only(cmd) {
            self.host().pipe(cmd, input, output, deadline)
        } else {
            Err(Self::refuse_cmd(cmd))
        }
    }

    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        Err(Self::refuse_cmd(cmd))
    }
}

impl HostFs for ReadOnlyHost<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.host().read(path)
    }
    fn write(&self, path: &Path, _contents: &[u8], _mode: u32) -> std::io::Result<()> {
        Err(refuse_fs("write", path))
    }
    fn append(&self, path: &Path, _contents: &[u8], _mode: u32) -> std::io::Result<()> {
        Err(refuse_fs("append to", path))
    }
    fn mkdir_p(&self, path: &Path, _mode: u32) -> std::io::Result<()> {
        Err(refuse_fs("create the directory", path))
    }
    fn exists(&self, path: &Path) -> bool {
        self.host().exists(path)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        Err(refuse_fs("remove", path))
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        self.host().read_dir(path)
    }
    /// Only maps the path (see the module docs): never write through what it returns.
    fn local_path(&self, path: &Path) -> PathBuf {
        self.host().local_path(path)
    }
    fn write_in_root(
        &self,
        root: &Path,
        rel: &Path,
        _contents: &[u8],
        _mode: u32,
    ) -> std::io::Result<()> {
        Err(refuse_fs("write", &root.join(rel)))
    }
    fn read_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<Vec<u8>> {
        self.host().read_in_root(root, rel)
    }
    fn mkdir_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        Err(refuse_fs("create the directory", &root.join(rel)))
    }
    fn remove_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        Err(refuse_fs("remove", &root.join(rel)))
    }
}

impl Host for ReadOnlyHost<'_> {
    fn simulated(&self) -> Option<String> {
        self.host().simulated()
    }
    /// Reading usage changes nothing.
    fn racct_usage(
        &self,
        names: &[String],
    ) -> Option<Result<crate::platform::Usages, crate::platform::PlatformError>> {
        self.host().racct_usage(names)
    }
}
