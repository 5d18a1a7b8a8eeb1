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

/// The absolute path of kldstat(8), a read-only tool jailctl does not otherwise run.
const KLDSTAT: &str = "/sbin/kldstat";

/// Whether `cmd` only reads the host. One rule per tool; unknown tools and unknown forms are
/// changes.
pub fn is_read_only(cmd: &Cmd) -> bool {
    let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    match cmd.program.as_str() {
        // zfs(8)/zpool(8): the subcommand decides.
        tools::ZFS => matches!(
            args.first(),
            Some(&("list" | "get" | "holds" | "version" | "userspace" | "groupspace"))
        ),
        tools::ZPOOL => matches!(
            args.first(),
            Some(&("list" | "get" | "status" | "iostat" | "version"))
        ),
        // jls(8) only lists.
        tools::JLS => true,
        KLDSTAT => true,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::testhost::TestHost;
    use crate::plan::Step;
    use std::collections::BTreeSet;

    /// Split a command line as [`Cmd`]'s `Display` quotes it (single quotes, `'\\''`).
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut any = false;
        for c in line.chars() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    any = true;
                }
                ' ' if !quoted => {
                    if any || !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                _ => cur.push(c),
            }
        }
        if any || !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    /// Every command the executor emits, with its undo commands: the recorded argv snapshots
    /// of every step kind and of a dry run, plus the steps and tools those do not cover
    /// (parents, unmounts, VNET interfaces, provisioning, forced removal).
    fn emitted() -> Vec<Cmd> {
        let mut out = Vec::new();
        for snap in [
            include_str!(
                "../apply/snapshots/jailctl__apply__tests__every_step_renders_exact_argv.snap"
            ),
            include_str!(
                "../apply/snapshots/jailctl__apply__tests__dry_run_lists_the_commands_without_running_them.snap"
            ),
        ] {
            for line in snap.lines() {
                let l = line.trim_start();
                let l = l.strip_prefix("undo: ").unwrap_or(l);
                if l.starts_with('/') {
                    let w = words(l);
                    out.push(Cmd::new(&w[0], w[1..].iter().cloned()));
                }
            }
        }
        let steps = [
            Step::CreateParent {
                dataset: "zroot/jailctl/jails".into(),
            },
            Step::Unmount {
                source: "/usr/local/jails/.volumes/web/data".into(),
                target: "/usr/local/jails/web/data".into(),
                fstype: "nullfs".into(),
                options: "rw".into(),
            },
        ];
        for s in &steps {
            for (op, undo) in crate::apply::ops(s) {
                if let crate::apply::Op::Run(c) = op {
                    out.push(c);
                }
                for u in undo {
                    if let crate::apply::Undo::Run { cmd } = u {
                        out.push(cmd);
                    }
                }
            }
        }
        out.push(crate::vnet::destroy_cmd("epair3a"));
        out.push(crate::vnet::create_bridge_cmd("bridge0", Some("em0")));
        out.push(crate::vnet::create_bridge_cmd("jailnet", None));
        out.push(Cmd::new(tools::IFCONFIG, ["epair", "create"]));
        out.push(Cmd::new(
            tools::IFCONFIG,
            ["epair0a", "up", "name", "web_h"],
        ));
        out.push(Cmd::new(tools::IFCONFIG, ["bridge0", "addm", "web_h"]));
        out.push(Cmd::new(tools::JAIL, ["-R", "web"]));
        out.push(Cmd::new(
            tools::PKG,
            ["-j", "web", "install", "-y", "nginx"],
        ));
        out.push(Cmd::new(
            tools::JEXEC,
            ["-l", "web", "/bin/sh", "-c", "true"],
        ));
        out.push(Cmd::new(
            tools::CHOWN,
            ["www:www", "/usr/local/jails/web/srv"],
        ));
        out
    }

    #[test]
    fn every_command_the_executor_emits_is_refused() {
        let cmds = emitted();
        let tools: BTreeSet<&str> = cmds.iter().map(|c| c.tool()).collect();
        // The kinds of change jailctl makes, so the list above cannot silently shrink.
        for t in [
            "zfs", "jail", "rctl", "umount", "mount", "cpuset", "ifconfig", "pkg", "jexec",
        ] {
            assert!(tools.contains(t), "no `{t}` command among {cmds:?}");
        }
        let h = TestHost::with_base();
        let ro = ReadOnlyHost::new(&h);
        for c in &cmds {
            assert!(!is_read_only(c), "classified as read-only: {c}");
            let e = ro.output(c).unwrap_err();
            assert!(matches!(e, ProcessError::ReadOnly { .. }), "{c}: {e}");
            assert!(e.to_string().contains(&c.to_string()), "{e}");
            assert!(e.to_string().contains("bug in jailctl"), "{e}");
        }
        assert!(
            h.log.borrow().is_empty(),
            "a refused command ran: {:?}",
            h.log.borrow()
        );
    }

    #[test]
    fn other_changing_forms_are_refused() {
        let changes = [
            Cmd::new(tools::ZFS, ["create", "-o", "mountpoint=none", "zroot/x"]),
            Cmd::new(tools::ZFS, ["set", "quota=1G", "zroot/x"]),
            Cmd::new(tools::ZFS, ["snapshot", "zroot/x@s"]),
            Cmd::new(tools::ZFS, ["rollback", "-r", "zroot/x@s"]),
            Cmd::new(tools::ZFS, ["destroy", "-r", "zroot/x"]),
            Cmd::new(tools::ZFS, [] as [&str; 0]),
            Cmd::new(tools::ZPOOL, ["create", "zroot", "da0"]),
            Cmd::new(tools::ZPOOL, ["scrub", "zroot"]),
            Cmd::new(tools::JAIL, ["-R", "web"]),
            Cmd::new(
                tools::JAIL,
                ["-f", "/var/run/jailctl/web.conf", "-c", "web"],
            ),
            Cmd::new(tools::JEXEC, ["-l", "web", "/bin/ls"]),
            Cmd::new(tools::PKG, ["-j", "web", "install", "-y", "nginx"]),
            Cmd::new(tools::CHOWN, ["root", "/x"]),
            Cmd::new(tools::RCTL, ["-a", "jail:web:memoryuse:deny=1g"]),
            Cmd::new(tools::RCTL, ["-r", "jail:web"]),
            Cmd::new(tools::RCTL, ["-ar", "jail:web"]),
            Cmd::new(tools::SYSCTL, ["security.jail.allow_raw_sockets=1"]),
            Cmd::new(tools::SYSCTL, ["-f", "/etc/sysctl.conf"]),
            Cmd::new(tools::IFCONFIG, ["bridge0", "create"]),
            Cmd::new(tools::IFCONFIG, ["epair", "create"]),
            Cmd::new(tools::IFCONFIG, ["em0", "inet", "192.0.2.1/32", "alias"]),
            Cmd::new(tools::IFCONFIG, ["em0", "up"]),
            Cmd::new(tools::IFCONFIG, ["epair0a", "destroy"]),
            Cmd::new(tools::MOUNT, ["-t", "nullfs", "/a", "/b"]),
            Cmd::new(tools::UMOUNT, ["/b"]),
            Cmd::new(tools::CPUSET, ["-l", "0-1", "-j", "web"]),
            Cmd::new(tools::CPUSET, ["-g", "-l", "0"]),
            // A read-looking command by another path is not trusted.
            Cmd::new("/tmp/zfs", ["list"]),
            Cmd::new("zfs", ["list"]),
            Cmd::new("/sbin/kldload", ["vmm"]),
        ];
        let h = TestHost::with_base();
        let ro = ReadOnlyHost::new(&h);
        for c in &changes {
            assert!(!is_read_only(c), "classified as read-only: {c}");
            assert!(ro.output(c).is_err(), "{c}");
            assert!(ro.interactive(c).is_err(), "{c}");
        }
        assert!(h.log.borrow().is_empty());
    }

    #[test]
    fn read_commands_pass_through() {
        let reads = [
            crate::ops::owned::get_cmd("zroot/jailctl/jails/web"),
            Cmd::new(tools::ZFS, ["list", "-H", "-o", "name"]),
            Cmd::new(tools::ZFS, ["get", "-H", "-p", "all", "zroot"]),
            Cmd::new(tools::ZPOOL, ["list", "-H"]),
            Cmd::new(tools::ZPOOL, ["get", "-H", "health", "zroot"]),
            Cmd::new(tools::ZPOOL, ["status", "zroot"]),
            Cmd::new(tools::JLS, ["-j", "web", "jid"]),
            Cmd::new(tools::JLS, ["-d", "-j", "web", "jid"]),
            Cmd::new(tools::RCTL, [] as [&str; 0]),
            Cmd::new(tools::RCTL, ["jail:"]),
            Cmd::new(tools::RCTL, ["-u", "jail:web"]),
            Cmd::new(tools::RCTL, ["-hu", "jail:web"]),
            Cmd::new(tools::RCTL, ["-l", "jail:web"]),
            Cmd::new(tools::SYSCTL, ["-n", "kern.racct.enable"]),
            Cmd::new(tools::SYSCTL, ["hw.ncpu", "kern.features.vimage"]),
            Cmd::new(tools::IFCONFIG, ["-l"]),
            Cmd::new(tools::IFCONFIG, [] as [&str; 0]),
            Cmd::new(tools::IFCONFIG, ["-a"]),
            Cmd::new(tools::IFCONFIG, ["bridge0"]),
            Cmd::new(tools::MOUNT, ["-p"]),
            Cmd::new(tools::MOUNT, [] as [&str; 0]),
            Cmd::new(tools::CPUSET, ["-g", "-j", "web"]),
            Cmd::new(KLDSTAT, ["-q", "-m", "vmm"]),
        ];
        for c in &reads {
            assert!(is_read_only(c), "classified as a change: {c}");
        }
        // And through the handle they reach the host.
        let h = TestHost::with_base();
        let ro = ReadOnlyHost::new(&h);
        let c = Cmd::new(tools::JLS, ["-j", "web", "jid"]);
        ro.output(&c).unwrap();
        assert_eq!(h.log.borrow().len(), 1);
    }

    #[test]
    fn file_changes_are_refused_and_reads_work() {
        let h = TestHost::with_base();
        let p = Path::new("/var/run/jailctl/web.conf");
        h.write(p, b"web {}\n", 0o600).unwrap();
        let ro = ReadOnlyHost::new(&h);
        assert_eq!(ro.read(p).unwrap(), b"web {}\n");
        assert!(ro.exists(p));
        let e = ro.write(p, b"x", 0o600).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("/var/run/jailctl/web.conf"), "{e}");
        assert!(e.to_string().contains("read-only preview"), "{e}");
        assert!(ro.remove_file(p).is_err());
        assert!(
            ro.mkdir_p(Path::new("/var/db/jailctl/locks"), 0o700)
                .is_err()
        );
        let root = Path::new("/usr/local/jails/web");
        assert!(
            ro.write_in_root(root, Path::new("etc/rc.conf"), b"x", 0o644)
                .is_err()
        );
        assert!(ro.mkdir_in_root(root, Path::new("etc")).is_err());
        assert!(ro.remove_in_root(root, Path::new("etc/rc.conf")).is_err());
        assert_eq!(h.read(p).unwrap(), b"web {}\n");
        assert!(!h.exists(Path::new("/var/db/jailctl/locks")));
    }
}
