//! Snapshot and property tests of the rendering.

use super::*;
use crate::config::spec::*;
use crate::fixtures::{global, spec};
use proptest::prelude::*;

#[test]
fn plain_inherit_jail() {
    let r = render(&spec("web"), &global()).unwrap();
    insta::assert_snapshot!(r.conf);
    insta::assert_snapshot!(r.rc_conf);
}

#[test]
fn alias_with_mounts_volumes_params_hooks() {
    let mut s = spec("db");
    s.network = Network::Alias {
        interface: "em0".into(),
        ip4: vec![
            "192.0.2.20/24".parse().unwrap(),
            "192.0.2.21/24".parse().unwrap(),
        ],
        ip6: vec!["2001:db8::20/64".parse().unwrap()],
    };
    s.mounts.push(MountSpec {
        source: "/srv/shared-data".into(),
        target: "/mnt/shared".into(),
        read_only: true,
    });
    s.volumes.push(VolumeSpec {
        name: "pgdata".into(),
        target: "/var/db/postgres".into(),
        quota: Some(1 << 30),
        read_only: false,
    });
    s.params
        .insert("allow.sysvipc".into(), ParamValue::Bool(true));
    s.params.insert("children.max".into(), ParamValue::Int(2));
    s.hooks.prestart.push("logger starting $name".into());
    s.hooks.poststop.push("echo \"done\"; rm -f /tmp/x".into());
    let r = render(&s, &global()).unwrap();
    insta::assert_snapshot!(r.conf);
    assert_eq!(
        r.params,
        vec![
            "allow.sysvipc=true".to_string(),
            "children.max=2".to_string()
        ]
    );
    assert_eq!(
        r.mount_points,
        vec![
            PathBuf::from("/usr/local/jails/db/mnt/shared"),
            PathBuf::from("/usr/local/jails/db/var/db/postgres")
        ]
    );
}

#[test]
fn no_network() {
    let mut s = spec("isolated");
    s.network = Network::None;
    let r = render(&s, &global()).unwrap();
    assert!(
        r.conf.contains("\tip4 = disable;\n\tip6 = disable;\n"),
        "{}",
        r.conf
    );
}

#[test]
fn hostile_hostname_stays_one_value() {
    let mut s = spec("web");
    s.hostname = "x\"; exec.start = \"/bin/sh -c evil\"; $path\n}".into();
    let r = render(&s, &global()).unwrap();
    // Exactly one exec.start statement: the hostile one is inside a string.
    assert_eq!(r.conf.matches("\n\texec.start =").count(), 1, "{}", r.conf);
    assert!(
        r.conf
            .contains(r#"host.hostname = "x\"; exec.start = \"/bin/sh -c evil\"; \$path\n}";"#)
    );
    assert!(
        r.rc_conf
            .contains(r#"hostname="x\"; exec.start = \"/bin/sh -c evil\"; \$path"#)
    );
}

#[test]
fn bad_names_and_long_paths_are_refused() {
    let g = global();
    let e = render(&spec("123"), &g).unwrap_err();
    assert!(matches!(e, RenderError::BadName { .. }));
    assert!(e.to_string().contains("jid"), "{e}");
    let mut s = spec("web");
    s.network = Network::Vnet {
        bridge: "bridge0".into(),
        ip4: vec![],
        ip6: vec![],
        gateway4: None,
        gateway6: None,
    };
    // VNET renders now (crate::vnet); see src/vnet/tests.rs for its contents.
    let r = render(&s, &g).unwrap();
    assert!(
        r.conf.contains("\tvnet.interface = \"e0b_web\";\n"),
        "{}",
        r.conf
    );
    let mut s = spec("web");
    s.mounts.push(MountSpec {
        source: "/srv".into(),
        target: PathBuf::from(format!("/{}", "d".repeat(80))),
        read_only: true,
    });
    let e = render(&s, &g).unwrap_err();
    assert!(e.to_string().contains("MNAMELEN"), "{e}");
}

#[test]
fn parts_round_trip_and_detect_changes() {
    let g = global();
    let a = render(&spec("web"), &g).unwrap();
    assert_eq!(Parts::decode(&a.parts.encode()), Some(a.parts.clone()));
    assert_eq!(Parts::decode("garbage"), None);
    let mut s = spec("web");
    s.hostname = "other.example.org".into();
    let b = render(&s, &g).unwrap();
    assert_eq!(b.parts.changed(&a.parts), vec!["host", "files"]);
    assert_ne!(a.spec_hash(), b.spec_hash());
    assert_eq!(a.spec_hash(), render(&spec("web"), &g).unwrap().spec_hash());
}

/// A minimal reader of one double-quoted jail.conf string, as jail(8)'s lexer reads it:
/// backslash escapes (C escapes, octal) and no unescaped `"` or `$` inside.
fn unquote(q: &str) -> Option<String> {
    let inner = q.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '"' | '$' | '\n' => return None,
            '\\' => match it.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                d @ '0'..='7' => {
                    let mut v = d.to_digit(8)?;
                    for _ in 0..2 {
                        v = v * 8 + it.next()?.to_digit(8)?;
                    }
                    out.push(char::from_u32(v)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    Some(out)
}

proptest! {
    #[test]
    fn quoting_round_trips(s in any::<String>()) {
        let q = quote(&s);
        prop_assert_eq!(unquote(&q), Some(s));
    }

    #[test]
    fn hostile_hook_cannot_add_statements(s in "[ -~\n]{0,40}") {
        let mut sp = spec("web");
        sp.hooks.poststart.push(s);
        let r = render(&sp, &global()).unwrap();
        // Every line in the block is one statement ending in `;` (or the block braces).
        for line in r.conf.lines().skip(2) {
            prop_assert!(line == "}" || line.ends_with(';'), "line {:?}", line);
        }
    }
}

#[test]
fn hash_is_sha256_over_length_prefixed_chunks() {
    // Expected values computed outside jailctl: Python's hashlib.sha256 over each chunk's
    // length as 8 little-endian bytes followed by the chunk; the first 16 hex digits.
    assert_eq!(crate::render::hash_hex(&[b"ab", b"c"]), "43ee655579de01ca");
    assert_eq!(crate::render::hash_hex(&[b"a", b"bc"]), "9a8acca1b6c6c0be");
    // The old 0xff separator made a chunk ending in 0xff ambiguous with the next boundary.
    assert_ne!(
        crate::render::hash_hex(&[b"a\xff", b"b"]),
        crate::render::hash_hex(&[b"a", b"\xffb"])
    );
    assert_ne!(
        crate::render::hash_hex(&[b"", b"x"]),
        crate::render::hash_hex(&[b"x", b""])
    );
}

#[test]
fn spec_hash_ignores_where_the_definition_was_read_from() {
    let g = global();
    let a = render(&spec("web"), &g).unwrap();
    let mut s = spec("web");
    s.source = "cfg/jails/../jails/web.toml".into();
    let b = render(&s, &g).unwrap();
    assert_ne!(a.conf, b.conf, "the comment still names the file");
    assert_eq!(a.spec_hash(), b.spec_hash());
    assert!(a.conf[..a.header_len].starts_with("# Rendered by jailctl from "));
    assert!(a.conf[a.header_len..].starts_with("web {\n"));
}

#[test]
fn mount_paths_jail8_would_split_are_refused_not_escaped() {
    let g = global();
    for bad in [
        "/srv/a b",
        "/srv/a\\b",
        "/srv/a\rb",
        "/srv/a\u{0b}b",
        "/srv/a\u{0c}b",
    ] {
        let mut s = spec("web");
        s.mounts.push(crate::config::MountSpec {
            source: bad.into(),
            target: "/mnt/x".into(),
            read_only: false,
        });
        let e = render(&s, &g).unwrap_err();
        assert!(matches!(e, RenderError::Refused { .. }), "{bad:?}: {e}");
        assert!(e.to_string().contains("mount source"), "{e}");
    }
    let mut s = spec("web");
    s.mounts.push(crate::config::MountSpec {
        source: "/srv/caf\u{e9}\u{a0}x".into(),
        target: "/mnt/x".into(),
        read_only: false,
    });
    let r = render(&s, &g).unwrap();
    assert!(
        r.conf.contains(
            "mount += \"/srv/caf\u{e9}\u{a0}x /usr/local/jails/web/mnt/x nullfs rw 0 0\";"
        ),
        "{}",
        r.conf
    );
}

#[test]
fn all_digit_names_are_refused() {
    let e = render(&spec("1"), &global()).unwrap_err();
    assert!(matches!(e, RenderError::BadName { .. }));
}
