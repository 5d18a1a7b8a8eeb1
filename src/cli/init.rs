//! `jailctl init [--pool POOL]`: set a fresh host up for jailctl, the step Bastille calls
//! `setup` and iocage `activate`. Writes a commented `jailctl.toml` (and the empty `jails/`
//! and `templates/` directories) into the configuration directory, creates the `zfs_root`
//! dataset with the properties jailctl's datasets rely on (`exec=on`, `setuid=on`, so a pool
//! set `exec=off` does not break every jail; `mountpoint=none`, as every parent dataset
//! jailctl makes; `compression=lz4`) and the `mount_root` directory, then says what to run
//! next. It refuses to overwrite an existing `jailctl.toml`; a dataset or directory that
//! already exists is kept as it is.

use super::output::{Exit, failure_of};
use super::{Access, GlobalArgs, open_host};
use std::path::Path;
use std::process::ExitCode;

/// Set this host up for jailctl: jailctl.toml, the zfs_root dataset, the directories.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ZFS pool for jailctl's datasets (zfs_root becomes POOL/jailctl).
    #[arg(long, default_value = "zroot")]
    pub pool: String,
}

/// Where jail roots are mounted unless jailctl.toml says otherwise.
const MOUNT_ROOT: &str = "/usr/local/jails";

/// The jailctl.toml that `init` writes: every setting, the optional ones commented out.
pub fn config_text(zfs_root: &str) -> String {
    format!(
        r#"# jailctl's global settings; docs/configuration.md describes every key.
# Jails are defined one per file in jails/NAME.toml (the file name is the jail's name);
# your own templates go in templates/NAME.toml.

# The ZFS dataset under which jailctl keeps bases, jails and volumes.
zfs_root = "{zfs_root}"

# Where jail roots are mounted: a jail's root is <mount_root>/<name>. Keep it short:
# FreeBSD's mount table holds mount points of at most 87 characters.
mount_root = "{MOUNT_ROOT}"

# The base jails use when they name none (make it with `jailctl base create`).
# default_base = "14.3-RELEASE"

# How many jails `boot` and `shutdown` handle at once (default: the number of CPUs).
# parallelism = 4

# Time `shutdown` gives jails to stop before forcing them down.
shutdown_timeout = "60s"

# A bridge for VNET jails, with an address pool (see docs/networking.md).
# [bridges.bridge0]
# create = true
# uplink = "em0"
# ip4_pool = "10.20.0.0/24"
# gateway4 = "10.20.0.1"

# Applied to every jail before its template and its own file.
# [defaults.root]
# compression = "lz4"
"#
    )
}

pub fn run(global: &GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    use crate::ops::init::{self, InitError};
    let dir = &global.config_dir;
    let text = |zfs_root: &str| config_text(zfs_root);
    let done = match init::check(dir, &a.pool) {
        Ok(()) => {
            let host = open_host(global, Access::Change)?;
            init::init(host.as_ref(), dir, &a.pool, MOUNT_ROOT, &text)
        }
        Err(e) => Err(e),
    }
    .map_err(|e| {
        let exit = match &e {
            InitError::Exists(_) | InitError::NoPool { .. } => Exit::Refused,
            InitError::BadPool(_) => Exit::Usage,
            InitError::Host { .. } => Exit::HostFailure,
        };
        failure_of(exit, e)
    })?;
    if !global.quiet {
        for l in &done {
            crate::outln!("{l}");
        }
        let cd = if dir == Path::new("/usr/local/etc/jailctl") {
            String::new()
        } else {
            format!(" --config-dir {}", dir.display())
        };
        crate::outln!(
            "next:\n  jailctl{cd} base create 14.3-RELEASE --from https://download.freebsd.org/releases/amd64/amd64/14.3-RELEASE/\n  write {}/web.toml (base = \"14.3-RELEASE\", hostname, [network]; docs/configuration.md)\n  jailctl{cd} doctor\n  jailctl{cd} up web",
            dir.join("jails").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
