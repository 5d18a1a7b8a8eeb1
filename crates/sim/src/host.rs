//! [`HostFs`] and [`Host`] for the simulated host: file operations on the paths under
//! `DIR/root/`, and the resource usage the kernel reports.
//!
//! Why it exists: jailctl writes files and reads racct through these traits, not commands;
//! on the simulated host they must act on the same tree and state the tool models use.

use crate::store::Writes;
use crate::{Last, SimHost, rctl, resolve, unresolvable};
use jailctl_host::{Host, HostFs};
use std::path::{Path, PathBuf};

impl HostFs for SimHost {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path, Last::Follow)?)
    }
    /// Atomic, as on the real host ([`jailctl_host::system::write_atomic`]): a temporary file
    /// renamed over the target, so a killed run leaves the old file whole. Without the real
    /// host's fsyncs: the simulator models killed processes, not power loss, and the fsyncs
    /// doubled the wall time of `up --all` of the examples (median 2.0 s against 1.2 s on
    /// the build machine), which would distort every latency measurement made on it.
    /// With a kill-in-write
    /// setting matching `path`, the process kills itself with SIGKILL once the temporary
    /// file is complete, before the rename: the exact point a kill would hurt a
    /// non-atomic write.
    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        // The file is replaced (renamed over), as on the real host, so a link in its place
        // is replaced too, never followed.
        let p = self.resolve(path, Last::NoFollow)?;
        jailctl_host::system::write_atomic(&p, contents, mode, false, || {
            if self.config.kill_in_write_fires(path) {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        })
    }
    /// As on the real host ([`jailctl_host::system::append_durable`]), without its fsyncs.
    /// With a kill-in-write setting matching `path`, the process kills itself with SIGKILL
    /// after half of `contents` is written: the torn line a kill leaves.
    fn append(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        let p = self.resolve(path, Last::NoFollow)?;
        jailctl_host::system::append_durable(&p, contents, mode, false, || {
            if self.config.kill_in_write_fires(path) {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        })
    }
    fn mkdir_p(&self, path: &Path, _mode: u32) -> std::io::Result<()> {
        std::fs::create_dir_all(self.resolve(path, Last::Follow)?)
    }
    fn exists(&self, path: &Path) -> bool {
        self.resolve(path, Last::Follow).is_ok_and(|p| p.exists())
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(self.resolve(path, Last::NoFollow)?)
    }
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(self.resolve(path, Last::NoFollow)?)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(self.resolve(path, Last::Follow)?)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn local_path(&self, path: &Path) -> PathBuf {
        resolve(&self.root, path, Last::Follow).unwrap_or_else(|_| unresolvable(&self.root))
    }
}

impl Host for SimHost {
    fn simulated(&self) -> Option<String> {
        Some(format!("simulated FreeBSD host at {}", self.dir.display()))
    }

    /// Answered from the state under one lock, as the FreeBSD host answers it from the
    /// kernel ([`rctl::usage_of_jails`]): a system call, not a command, so nothing is added to
    /// the history and no latency is injected.
    fn racct_usage(
        &self,
        names: &[String],
    ) -> Option<Result<jailctl_host::platform::Usages, jailctl_host::platform::PlatformError>> {
        let read = self.locked(Writes::OnlyIfSaid, |ctx| {
            (rctl::usage_of_jails(ctx.state, names), false)
        });
        Some(match read {
            Ok(Ok(u)) => Ok(u),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(jailctl_host::platform::PlatformError::Kernel {
                what: format!("read the simulated host's state at {}", self.dir.display()),
                source: Box::new(e),
            }),
        })
    }
}
