//! Snapshot tests of the jail.conf jailctl renders for a jail built on each shipped
//! template; every rendering must be accepted by the simulator's jail.conf parser (which
//! follows jail.conf(5)) and declare exactly that jail.

use jailctl_sim::jailconf;
use std::path::Path;

const TEMPLATES: &[&str] = &[
    "minimal",
    "nginx",
    "postgresql",
    "redis",
    "unbound",
    "build",
    "vnet",
];

#[test]
fn every_template_renders_a_jail_conf_the_parser_accepts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("jails")).unwrap();
    std::fs::copy(
        root.join("examples/jailctl.toml"),
        t.path().join("jailctl.toml"),
    )
    .unwrap();
    for (i, name) in TEMPLATES.iter().enumerate() {
        let net = if *name == "vnet" {
            String::new()
        } else {
            format!(
                "\n[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.0.2.{}/24\"]\n",
                10 + i
            )
        };
        std::fs::write(
            t.path().join(format!("jails/t-{name}.toml")),
            format!("extends = \"{name}\"\nhostname = \"{name}.example.org\"\n{net}"),
        )
        .unwrap();
    }
    let cfg = jailctl::config::load(t.path()).unwrap();
    assert_eq!(cfg.jails.len(), TEMPLATES.len());
    for spec in &cfg.jails {
        let r = jailctl::render::render(spec, &cfg.global).unwrap();
        // The source path differs per run; the snapshot keeps the rest exact.
        let conf = r
            .conf
            .replace(&t.path().display().to_string(), "CONFIG_DIR");
        insta::assert_snapshot!(format!("jail_conf_{}", spec.name), conf);
        let parsed = jailconf::parse_str(&r.conf, "/var/run/jailctl/x.conf")
            .unwrap_or_else(|e| panic!("{}: {e:?}\n{}", spec.name, r.conf));
        // Exactly this jail is declared, and it resolves to the path jailctl put it at.
        assert_eq!(parsed.jails, std::slice::from_ref(&spec.name), "{}", r.conf);
        let resolved = parsed
            .resolve(&spec.name)
            .unwrap_or_else(|e| panic!("{}: {e:?}", spec.name));
        assert_eq!(
            resolved.string("path").as_deref(),
            Some(format!("/usr/local/jails/{}", spec.name).as_str()),
            "{}",
            r.conf
        );
    }
}
