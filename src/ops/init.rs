//! `jailctl init`'s work on the host: check the pool, create the `zfs_root` dataset with the
//! properties jailctl's datasets rely on and the `mount_root` directory, write a new
//! `jailctl.toml` and the `jails/` and `templates/` directories. What exists already is kept
//! (the configuration file is never overwritten). The command line (`cli::init`) prints the
//! result and what to run next.

use crate::host::{Cmd, Host, tools};
use std::path::Path;

/// Why a host could not be set up for jailctl.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InitError {
    #[error("refusing to overwrite {}: this host is already set up for jailctl", .0.display())]
    #[diagnostic(help(
        "edit the file, or move it away and run `jailctl init` again; `jailctl doctor` checks the host"
    ))]
    Exists(std::path::PathBuf),
    #[error("invalid pool name \"{0}\"")]
    #[diagnostic(help("name a pool as `zpool list` shows it, e.g. --pool zroot"))]
    BadPool(String),
    #[error("cannot set up jailctl on pool {pool}: {stderr}. Nothing was changed")]
    #[diagnostic(help("pass the pool to use with --pool (`zpool list` shows them)"))]
    NoPool { pool: String, stderr: String },
    #[error("{what}: {cause}")]
    Host {
        what: String,
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn host_err(
    what: impl Into<String>,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> InitError {
    let what = what.into();
    move |cause| InitError::Host { what, cause }
}

/// What can be refused before the host is opened: an existing `jailctl.toml`, a bad pool name.
pub fn check(config_dir: &Path, pool: &str) -> Result<(), InitError> {
    let file = config_dir.join("jailctl.toml");
    if file.exists() {
        return Err(InitError::Exists(file));
    }
    let p = pool.trim_end_matches('/');
    if p.is_empty() || p.contains(['/', '@', ' ']) {
        return Err(InitError::BadPool(pool.to_string()));
    }
    Ok(())
}

/// Set the host up; returns one line per thing made or kept. `config_text(zfs_root)` is the
/// `jailctl.toml` to write.
pub fn init(
    host: &dyn Host,
    config_dir: &Path,
    pool: &str,
    mount_root: &str,
    config_text: &dyn Fn(&str) -> String,
) -> Result<Vec<String>, InitError> {
    check(config_dir, pool)?;
    let pool = pool.trim_end_matches('/');
    let zfs_root = format!("{pool}/jailctl");
    let p = host
        .output(&Cmd::new(tools::ZPOOL, ["list", "-H", "-o", "name", pool]))
        .map_err(|e| host_err("cannot run zpool")(e.into()))?;
    if !p.success() {
        return Err(InitError::NoPool {
            pool: pool.to_string(),
            stderr: p.stderr.trim().to_string(),
        });
    }
    let mut done = vec![zfs_root_dataset(host, &zfs_root)?];
    let mr = Path::new(mount_root);
    if !host.exists(mr) {
        host.mkdir_p(mr, 0o755)
            .map_err(|e| host_err(format!("cannot create directory {mount_root}"))(e.into()))?;
        done.push(format!("created directory {mount_root} (mount_root)"));
    }
    for d in [
        config_dir.to_path_buf(),
        config_dir.join("jails"),
        config_dir.join("templates"),
    ] {
        if !d.is_dir() {
            std::fs::create_dir_all(&d).map_err(|e| {
                host_err(format!("cannot create directory {}", d.display()))(e.into())
            })?;
            done.push(format!("created directory {}", d.display()));
        }
    }
    let file = config_dir.join("jailctl.toml");
    write_new(&file, config_text(&zfs_root).as_bytes())
        .map_err(|e| host_err(format!("cannot write {}", file.display()))(e.into()))?;
    done.push(format!("wrote {}", file.display()));
    Ok(done)
}

/// Create `zfs_root` (mountpoint=none exec=on setuid=on compression=lz4) unless it exists.
fn zfs_root_dataset(host: &dyn Host, zfs_root: &str) -> Result<String, InitError> {
    let exists = host
        .output(&Cmd::new(
            tools::ZFS,
            ["list", "-H", "-o", "name", zfs_root],
        ))
        .map_err(|e| host_err("cannot run zfs")(e.into()))?
        .success();
    if exists {
        return Ok(format!(
            "kept the existing dataset {zfs_root} (`jailctl doctor` checks its properties)"
        ));
    }
    host.run(&Cmd::new(
        tools::ZFS,
        [
            "create",
            "-o",
            "mountpoint=none",
            "-o",
            "exec=on",
            "-o",
            "setuid=on",
            "-o",
            "compression=lz4",
            zfs_root,
        ],
    ))
    .map_err(|e| host_err(format!("cannot create dataset {zfs_root}"))(e.into()))?;
    Ok(format!(
        "created dataset {zfs_root} (mountpoint=none exec=on setuid=on compression=lz4)"
    ))
}

/// Write a new file (mode 0644); fails if it exists.
fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}
