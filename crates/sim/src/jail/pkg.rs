//! The packages the simulated pkg(8) knows the contents of, and what installing one writes
//! into a jail's root.

use super::SimJail;
use crate::{Ctx, Last, strerror};
use jailctl_host::Output;
use std::io;
use std::path::Path;

/// The few packages the simulated pkg knows the contents of: the rc.d script each installs,
/// the user (and group) it adds and the programs it puts on the jail's PATH (with those of
/// the packages it pulls in: postgresql16-server brings postgresql16-client's `psql` and
/// `pg_isready`). Any other package is only recorded.
struct CatalogEntry {
    package: &'static str,
    rc_script: &'static str,
    /// User and group added, with their id.
    user: Option<(&'static str, u32)>,
    programs: &'static [&'static str],
}

const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        package: "nginx",
        rc_script: "nginx",
        user: None,
        programs: &["/usr/local/sbin/nginx"],
    },
    CatalogEntry {
        package: "redis",
        rc_script: "redis",
        user: Some(("redis", 535)),
        programs: &["/usr/local/bin/redis-server", "/usr/local/bin/redis-cli"],
    },
    CatalogEntry {
        package: "unbound",
        rc_script: "unbound",
        user: Some(("unbound", 59)),
        programs: &[
            "/usr/local/sbin/unbound",
            "/usr/local/sbin/unbound-control",
            "/usr/local/sbin/unbound-checkconf",
        ],
    },
    CatalogEntry {
        package: "postgresql16-server",
        rc_script: "postgresql",
        user: Some(("postgres", 770)),
        programs: &[
            "/usr/local/bin/postgres",
            "/usr/local/bin/pg_ctl",
            "/usr/local/bin/initdb",
            "/usr/local/bin/psql",
            "/usr/local/bin/pg_isready",
        ],
    },
];

/// Write what package `p` installs into the jail's root, as pkg does.
fn plant_package(ctx: &Ctx<'_>, jail: &SimJail, p: &str) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(entry) = CATALOG.iter().find(|e| e.package == p) else {
        return Ok(());
    };
    let (svc, user) = (entry.rc_script, entry.user);
    // Every file pkg(8) installs is resolved inside the jail, as pkg running in the jail
    // (`pkg -j`) would see it: a link planted there cannot lead out of the jail's root.
    let at = |p: &str| ctx.jail_path(&jail.path, Path::new(p), Last::Follow);
    let rc = at("usr/local/etc/rc.d");
    std::fs::create_dir_all(&rc)?;
    std::fs::write(
        at(&format!("usr/local/etc/rc.d/{svc}")),
        format!("#!/bin/sh\n# PROVIDE: {svc}\n"),
    )?;
    for prog in entry.programs {
        let f = at(prog);
        std::fs::create_dir_all(f.parent().expect("absolute program path"))?;
        std::fs::write(&f, format!("#!/bin/sh\n# {prog} from package {p}\n"))?;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o555))?;
    }
    if let Some((u, id)) = user {
        std::fs::create_dir_all(at("etc"))?;
        for (db, line) in [
            (
                "passwd",
                format!("{u}:*:{id}:{id}::0:0:{u}:/nonexistent:/usr/sbin/nologin\n"),
            ),
            ("group", format!("{u}:*:{id}:\n")),
        ] {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(at(&format!("etc/{db}")))?
                .write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

/// `pkg install -y PKG...` inside the jail: records each package and writes what it installs.
pub(super) fn pkg_install(ctx: &mut Ctx<'_>, jail: &SimJail, rest: &[String]) -> Output {
    let pkgs: Vec<&String> = rest[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if !rest.iter().any(|a| a == "-y") {
        return Output::fail(
            1,
            "pkg: non-interactive install needs -y on the simulated host\n",
        );
    }
    if pkgs.is_empty() {
        return Output::fail(
            64,
            "Usage: pkg install [-AfInFMqRUy] [-r reponame] <pkg-name> ...\n",
        );
    }
    let j = ctx.state.jail.jails.get_mut(&jail.name).expect("live jail");
    let mut s = String::new();
    let mut planted = Vec::new();
    for p in pkgs {
        if !j.packages.contains(p) {
            j.packages.push(p.clone());
            planted.push(p.clone());
            s += &format!("Installing {p}...\n");
        } else {
            s += &format!("The most recent version of {p} is already installed\n");
        }
    }
    for p in planted {
        if let Err(e) = plant_package(ctx, jail, &p) {
            return Output::fail(
                1,
                format!("pkg: cannot install {p} into the jail: {}\n", strerror(&e)),
            );
        }
    }
    Output::ok(s)
}
