//! The shared host fingerprint (`jailctl_sim::fingerprint`) sees what jailctl changes and
//! nothing that legitimately differs between two clean runs: checked on hosts jailctl made.

use crate::support::{TestHost, sim};
use jailctl_sim::fingerprint::{Difference, Fingerprint, assert_same};

/// One difference, and it concerns `key`.
#[track_caller]
fn only_difference(a: &Fingerprint, b: &Fingerprint, key: &str) -> Difference {
    let d = a.diff(b);
    assert_eq!(d.len(), 1, "expected one difference about {key}: {d:#?}");
    assert_eq!(d[0].key(), key, "{d:#?}");
    assert!(a.report(b, 5).unwrap().contains(key));
    d[0].clone()
}

#[test]
fn fingerprint_sees_one_file_one_property_one_jail_one_rule_one_mode() {
    let h = TestHost::examples();
    h.ok(&["up", "resolver"]);
    let a = h.fingerprint();
    // Not vacuous: the running jail, its dataset and its files are in it.
    for k in [
        "jail resolver",
        "zfs zroot/jailctl/jails/resolver prop:jailctl:managed",
        "file root/var/run/jailctl/resolver.conf",
        "rctl jail:resolver:maxproc:deny=512",
    ] {
        assert!(a.entries.contains_key(k), "{k} missing from {a:?}");
    }
    // A copy elsewhere is the same host: no path of the test directory leaks in.
    let same = h.copy();
    assert_same(&a, &same.fingerprint());
    assert_eq!(a.report(&same.fingerprint(), 5), None);

    let b = h.copy();
    std::fs::write(b.sim().join("root/usr/local/jails/resolver/tmp/x"), "x").unwrap();
    let d = only_difference(
        &a,
        &b.fingerprint(),
        "file root/usr/local/jails/resolver/tmp/x",
    );
    assert!(matches!(d, Difference::Extra { .. }), "{d:?}");

    let c = h.copy();
    sim(
        &c.sim(),
        &["zfs", "set", "quota=1G", "zroot/jailctl/jails/resolver"],
    );
    let d = only_difference(
        &a,
        &c.fingerprint(),
        "zfs zroot/jailctl/jails/resolver prop:quota",
    );
    assert!(
        matches!(&d, Difference::Changed { second, .. } if second == "1073741824"),
        "{d:?}"
    );

    let j = h.copy();
    sim(&j.sim(), &["jail", "-c", "name=hand", "path=/", "persist"]);
    let fj = j.fingerprint();
    let d = a.diff(&fj);
    assert!(
        d.iter()
            .any(|x| matches!(x, Difference::Extra { key, .. } if key == "jail hand")),
        "{d:#?}"
    );
    assert!(
        d.iter().all(|x| matches!(x, Difference::Extra { .. })),
        "{d:#?}"
    );

    let r = h.copy();
    sim(
        &r.sim(),
        &["rctl", "-a", "jail:resolver:openfiles:deny=100"],
    );
    let d = only_difference(
        &a,
        &r.fingerprint(),
        "rctl jail:resolver:openfiles:deny=100",
    );
    assert!(matches!(d, Difference::Extra { .. }), "{d:?}");

    let m = h.copy();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        m.sim().join("root/var/run/jailctl/resolver.conf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let d = only_difference(
        &a,
        &m.fingerprint(),
        "file root/var/run/jailctl/resolver.conf",
    );
    assert!(format!("{d}").contains("mode=644"), "{d}");
}

#[test]
fn two_clean_runs_in_different_orders_have_one_fingerprint() {
    let a = TestHost::examples();
    let b = a.copy();
    a.ok(&["up", "--all"]);
    // The other host starts the jails one by one in the reverse order, so jids, rule
    // order and address order differ; the fingerprint must not.
    for j in ["web", "resolver", "cache", "db"] {
        b.ok(&["up", j]);
    }
    assert_same(&a.fingerprint(), &b.fingerprint());
}
