//! The FreeBSD port (`packaging/freebsd/`) must ship what the tree holds: a template added to
//! `templates/` without a `pkg-plist` line fails `make check-plist` only on a FreeBSD ports
//! machine, so this checks the list, and the port's install targets, on every run here.

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn templates_dir() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect()
}

#[test]
fn pkg_plist_lists_every_shipped_template_and_nothing_else() {
    let plist = read("packaging/freebsd/pkg-plist");
    let listed: BTreeSet<String> = plist
        .lines()
        .filter_map(|l| l.strip_prefix("%%DATADIR%%/templates/"))
        .map(str::to_string)
        .collect();
    assert_eq!(listed, templates_dir(), "pkg-plist vs templates/");
    for line in [
        "sbin/jailctl",
        "etc/rc.d/jailctl",
        "share/man/man8/jailctl.8.gz",
    ] {
        assert!(plist.lines().any(|l| l == line), "pkg-plist lacks {line}");
    }
}

#[test]
fn the_built_in_templates_are_the_files_in_templates() {
    let built_in: BTreeSet<String> = jailctl::config::templates::SHIPPED
        .iter()
        .map(|(name, _)| format!("{name}.toml"))
        .collect();
    assert_eq!(built_in, templates_dir());
    for (name, body) in jailctl::config::templates::SHIPPED {
        assert_eq!(
            *body,
            read(&format!("templates/{name}.toml")),
            "built-in {name}"
        );
    }
}

#[test]
fn port_installs_binary_rc_script_man_page_and_templates() {
    let mk = read("packaging/freebsd/Makefile");
    for needle in [
        "${STAGEDIR}${PREFIX}/sbin/jailctl",
        "${WRKSRC}/rc.d/jailctl ${STAGEDIR}${PREFIX}/etc/rc.d/jailctl",
        "man > ${STAGEDIR}${PREFIX}/share/man/man8/jailctl.8",
        "(cd ${WRKSRC}/templates && ${COPYTREE_SHARE} . ${STAGEDIR}${DATADIR}/templates)",
    ] {
        assert!(
            mk.contains(needle),
            "packaging/freebsd/Makefile lacks `{needle}`"
        );
    }
}
