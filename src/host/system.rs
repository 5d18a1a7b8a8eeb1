//! The real host: spawns the base-system tools by absolute path (argv only, never a shell)
//! and reads and writes real files.

use super::{Cmd, Host, HostFs, Output, ProcessError, Runner};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

/// The machine jailctl runs on.
#[derive(Debug, Default)]
pub struct SystemHost;

impl Runner for SystemHost {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        tracing::debug!(%cmd, "run");
        let out = Command::new(&cmd.program)
            .args(&cmd.args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| ProcessError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        Ok(Output {
            status: exit_code(out.status),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        tracing::debug!(%cmd, "run interactive");
        let status = Command::new(&cmd.program)
            .args(&cmd.args)
            .status()
            .map_err(|source| ProcessError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        Ok(exit_code(status))
    }
}

/// Exit code, with death by signal N reported as 128+N like sh(1).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl HostFs for SystemHost {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        write_atomic(path, contents, mode, || {})
    }

    fn mkdir_p(&self, path: &Path, mode: u32) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }

    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(path)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn local_path(&self, path: &Path) -> std::path::PathBuf {
        path.to_path_buf()
    }
}

use std::os::unix::fs::DirBuilderExt;

/// Write `path` so that a reader, or a host that loses power or kills jailctl half-way, sees
/// either the old contents or the new, never a truncated file: write a temporary file beside
/// it (`NAME.jailctl-tmp`), fsync it, rename it over `path`, fsync the directory. A kill
/// before the rename leaves the old file and the temporary one, which the next write
/// replaces. `before_rename` runs once the temporary file is complete (the simulator's kill
/// point, see `docs/simulator.md`).
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    before_rename: impl FnOnce(),
) -> std::io::Result<()> {
    let tmp = path.with_extension("jailctl-tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    before_rename();
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Host for SystemHost {
    fn simulated(&self) -> Option<String> {
        None
    }
}
