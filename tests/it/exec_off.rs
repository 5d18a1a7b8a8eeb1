//! A dataset with `exec=off` under jailctl's root: `up` refuses before any step and names
//! where the setting comes from, instead of failing part-way in jail(8) with
//! "/bin/sh /etc/rc: failed".

use crate::support::{examples_config, history, host_with_base, jailctl, mutating, sim};

fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

#[test]
fn up_refuses_a_jail_whose_root_cannot_execute_and_names_the_source() {
    let d = tempfile::tempdir().unwrap();
    let simdir = d.path().join("sim");
    let conf = d.path().join("conf");
    host_with_base(&simdir);
    examples_config(&conf);
    sim(&simdir, &["zfs", "set", "exec=off", "zroot/jailctl"]);
    let before = history(&simdir).len();

    let out = jailctl(&simdir, &conf)
        .args(["up", "resolver"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    // The message, then the fix as the report's help.
    let want = flat(
        "jail `resolver`: zroot/jailctl has exec=off (inherited by zroot/jailctl/jails/resolver), so nothing in the jail could run. Nothing was changed",
    );
    assert!(err.contains(&want), "{err}");
    let fix = flat("help: run `zfs set exec=on zroot/jailctl` or `zfs inherit exec zroot/jailctl`");
    assert!(err.contains(&fix), "{err}");
    let ran = history(&simdir);
    assert!(
        !ran[before..].iter().any(mutating),
        "up changed the host: {:#?}",
        &ran[before..]
    );

    // Fixed as the message says, the jail comes up.
    sim(&simdir, &["zfs", "inherit", "exec", "zroot/jailctl"]);
    jailctl(&simdir, &conf)
        .args(["up", "resolver"])
        .assert()
        .success();

    // Set on the jail's own root: named as set locally.
    jailctl(&simdir, &conf)
        .args(["down", "resolver"])
        .assert()
        .success();
    sim(
        &simdir,
        &["zfs", "set", "exec=off", "zroot/jailctl/jails/resolver"],
    );
    let out = jailctl(&simdir, &conf)
        .args(["up", "resolver"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    assert!(
        err.contains(&flat(
            "zroot/jailctl/jails/resolver has exec=off (set locally)"
        )) && err.contains(&flat("`zfs inherit exec zroot/jailctl/jails/resolver`")),
        "{err}"
    );
}

/// The one `zfs get` observe runs (with `exec` and the source column) reads the same on a
/// real ZFS: zfs-fuse prints the source jailctl's parser expects.
#[test]
fn exec_source_on_real_zfs() {
    use crate::real_zfs::{Real, real_pool};
    let Some(pool) = real_pool("exec_source_on_real_zfs") else {
        return;
    };
    let r = Real::new(&pool);
    let jails = format!("{}/jails", r.base);
    let web = format!("{jails}/web");
    r.ok(&["create", &jails]);
    r.ok(&["create", &web]);
    r.ok(&["set", "exec=off", &jails]);
    let props = jailctl::plan::props::ALL.join(",");
    let out = r.ok(&[
        "get",
        "-H",
        "-p",
        "-r",
        "-o",
        "name,property,value,source",
        &props,
        &r.base,
    ]);
    let (ds, sources) = jailctl::observe::zfs::parse_zfs_get_sourced(&out, "exec").unwrap();
    assert_eq!(ds[&web].prop("exec"), Some("off"), "{out}");
    assert_eq!(sources[&jails], "local", "{out}");
    assert_eq!(sources[&web], format!("inherited from {jails}"), "{out}");
    assert_eq!(ds[&r.base].prop("exec"), Some("on"), "{out}");
}
