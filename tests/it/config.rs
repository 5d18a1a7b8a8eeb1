//! The configuration layer end to end: invalid configurations report the right file, line,
//! column and message; templates, defaults and examples load; the CLI validates and shows;
//! the reference documents every key the parser accepts.

use assert_cmd::Command;
use jailctl::config::{self, ConfigErrors, Network};
use std::path::Path;

const GLOBAL: &str = r#"zfs_root = "zroot/jailctl"
mount_root = "/usr/local/jails"
default_base = "14.3-RELEASE"
[bridges.bridge0]
ip4_pool = "10.0.0.0/24"
gateway4 = "10.0.0.1"
"#;

/// A config dir with the standard jailctl.toml (unless the case brings its own) and `files`.
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("jails")).unwrap();
    if !files.iter().any(|(p, _)| *p == "jailctl.toml") {
        std::fs::write(d.path().join("jailctl.toml"), GLOBAL).unwrap();
    }
    for (p, text) in files {
        let path = d.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    d
}

fn load_err(files: &[(&str, &str)]) -> (tempfile::TempDir, Option<ConfigErrors>) {
    let d = dir_with(files);
    let e = config::load(d.path()).err();
    (d, e)
}

struct Case {
    what: &'static str,
    files: &'static [(&'static str, &'static str)],
    file: &'static str,
    line: usize,
    column: usize,
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        what: "misspelt limit",
        files: &[("jails/web.toml", "[limits]\nmemroy = \"1G\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 1,
        message: "unknown key \"memroy\" in [limits]; did you mean \"memory\"?",
    },
    Case {
        what: "misspelt top-level key",
        files: &[("jails/web.toml", "hostnam = \"web\"\n")],
        file: "jails/web.toml",
        line: 1,
        column: 1,
        message: "unknown key \"hostnam\" in jail \"web\"; did you mean \"hostname\"?",
    },
    Case {
        what: "size with an unknown suffix",
        files: &[("jails/web.toml", "[limits]\nmemory = \"2X\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 10,
        message: "memory: unknown size suffix 'X' in \"2X\"",
    },
    Case {
        what: "size with a fraction",
        files: &[("jails/web.toml", "[root]\nquota = \"1.5G\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 9,
        message: "quota: \"1.5G\" is not a size: write a whole number with an optional K, M, G, T, P or E suffix, e.g. \"512M\"",
    },
    Case {
        what: "duration in words",
        files: &[(
            "jails/web.toml",
            "[health]\ncommand = [\"/usr/bin/true\"]\ninterval = \"5 minutes\"\n",
        )],
        file: "jails/web.toml",
        line: 3,
        column: 12,
        message: "interval: \"5 minutes\" is not a duration: write a whole number with a unit ms, s, m or h, e.g. \"30s\"",
    },
    Case {
        what: "deny on readbps",
        files: &[(
            "jails/web.toml",
            "[limits]\nrctl = [\"readbps:deny=10M\"]\n",
        )],
        file: "jails/web.toml",
        line: 2,
        column: 9,
        message: "rctl cannot deny readbps",
    },
    Case {
        what: "deny on wallclock",
        files: &[(
            "jails/web.toml",
            "[limits]\nrctl = [\"wallclock:deny=3600\"]\n",
        )],
        file: "jails/web.toml",
        line: 2,
        column: 9,
        message: "rctl cannot deny wallclock",
    },
    Case {
        what: "throttle on memory",
        files: &[(
            "jails/web.toml",
            "[limits]\nrctl = [\"memoryuse:throttle=1G\"]\n",
        )],
        file: "jails/web.toml",
        line: 2,
        column: 9,
        message: "rctl can only throttle readbps, writebps, readiops and writeiops, not memoryuse",
    },
    Case {
        what: "misspelt rctl resource",
        files: &[(
            "jails/web.toml",
            "[limits]\nrctl = [\"memoryus:deny=1G\"]\n",
        )],
        file: "jails/web.toml",
        line: 2,
        column: 9,
        message: "unknown rctl resource \"memoryus\"; did you mean \"memoryuse\"?",
    },
    Case {
        what: "rctl rule with a subject",
        files: &[(
            "jails/web.toml",
            "[limits]\nrctl = [\"jail:web:maxproc:deny=10\"]\n",
        )],
        file: "jails/web.toml",
        line: 2,
        column: 9,
        message: "rctl rule \"jail:web:maxproc:deny=10\" names a subject",
    },
    Case {
        what: "rctl rule and friendly limit on the same resource",
        files: &[(
            "jails/web.toml",
            "[limits]\nmemory = \"1G\"\nrctl = [\"memoryuse:deny=2G\"]\n",
        )],
        file: "jails/web.toml",
        line: 3,
        column: 9,
        message: "rctl rule \"memoryuse:deny=2G\" limits memoryuse which `memory` already limits",
    },
    Case {
        what: "zero cpu percent",
        files: &[("jails/web.toml", "[limits]\ncpu_percent = 0\n")],
        file: "jails/web.toml",
        line: 2,
        column: 15,
        message: "cpu_percent is 0, but must be between 1 and 102400",
    },
    Case {
        what: "backwards cpu range",
        files: &[("jails/web.toml", "cpuset = \"3-1\"\n")],
        file: "jails/web.toml",
        line: 1,
        column: 10,
        message: "range 3-1 in cpu-list \"3-1\" goes backwards; write 1-3",
    },
    Case {
        what: "misspelt network mode",
        files: &[("jails/web.toml", "[network]\nmode = \"alais\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 8,
        message: "unknown network mode \"alais\"; did you mean \"alias\"?",
    },
    Case {
        what: "bridge in alias mode",
        files: &[(
            "jails/web.toml",
            "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.0.2.1\"]\nbridge = \"bridge0\"\n",
        )],
        file: "jails/web.toml",
        line: 5,
        column: 1,
        message: "bridge does not apply to mode = \"alias\"",
    },
    Case {
        what: "address out of range",
        files: &[(
            "jails/web.toml",
            "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"10.0.0.300/24\"]\n",
        )],
        file: "jails/web.toml",
        line: 4,
        column: 8,
        message: "\"10.0.0.300/24\" is not an IPv4 address",
    },
    Case {
        what: "IPv6 address in ip4",
        files: &[(
            "jails/web.toml",
            "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"2001:db8::1\"]\n",
        )],
        file: "jails/web.toml",
        line: 4,
        column: 8,
        message: "\"2001:db8::1\" is not an IPv4 address",
    },
    Case {
        what: "jail.conf interface|address form",
        files: &[(
            "jails/web.toml",
            "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"em0|10.0.0.5\"]\n",
        )],
        file: "jails/web.toml",
        line: 4,
        column: 8,
        message: "\"em0|10.0.0.5\" uses jail.conf's interface|address form",
    },
    Case {
        what: "alias mode with empty address lists",
        files: &[(
            "jails/web.toml",
            "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = []\n",
        )],
        file: "jails/web.toml",
        line: 1,
        column: 1,
        message: "mode = \"alias\" needs at least one address in ip4 or ip6",
    },
    Case {
        what: "vnet jail on its gateway's address",
        files: &[(
            "jails/web.toml",
            "[network]\nmode = \"vnet\"\nbridge = \"bridge0\"\nip4 = [\"10.0.0.1/24\"]\n",
        )],
        file: "jails/web.toml",
        line: 4,
        column: 8,
        message: "address 10.0.0.1 is the gateway of this jail's network",
    },
    Case {
        what: "unknown bridge",
        files: &[(
            "jails/web.toml",
            "[network]\nmode = \"vnet\"\nbridge = \"bridge1\"\n",
        )],
        file: "jails/web.toml",
        line: 3,
        column: 10,
        message: "unknown bridge \"bridge1\"; did you mean \"bridge0\"?",
    },
    Case {
        what: "mount target escaping the jail",
        files: &[(
            "jails/web.toml",
            "[[mounts]]\nsource = \"/srv\"\ntarget = \"/srv/../../etc\"\n",
        )],
        file: "jails/web.toml",
        line: 3,
        column: 10,
        message: "mount target \"/srv/../../etc\" escapes the jail root with \"..\"",
    },
    Case {
        what: "relative mount source",
        files: &[(
            "jails/web.toml",
            "[[mounts]]\nsource = \"srv/www\"\ntarget = \"/srv\"\n",
        )],
        file: "jails/web.toml",
        line: 2,
        column: 10,
        message: "mount source \"srv/www\" is not an absolute path",
    },
    Case {
        what: "mount point longer than MNAMELEN",
        files: &[(
            "jails/web.toml",
            "[[mounts]]\nsource = \"/srv\"\ntarget = \"/usr/local/www/a-rather-long-directory-name/and-another-one/xxxxxxxxx\"\n",
        )],
        file: "jails/web.toml",
        line: 3,
        column: 10,
        message: "mount point /usr/local/jails/web/usr/local/www/a-rather-long-directory-name/and-another-one/xxxxxxxxx is 89 characters long; FreeBSD mount paths hold at most 87 (MNAMELEN, 88 bytes with the NUL)",
    },
    Case {
        what: "target mounted twice",
        files: &[(
            "jails/web.toml",
            "[[mounts]]\nsource = \"/srv\"\ntarget = \"/data\"\n[[volumes]]\nname = \"d\"\ntarget = \"/data\"\n",
        )],
        file: "jails/web.toml",
        line: 6,
        column: 10,
        message: "/data is mounted twice in this jail",
    },
    Case {
        what: "volume defined twice",
        files: &[(
            "jails/web.toml",
            "[[volumes]]\nname = \"d\"\ntarget = \"/a\"\n[[volumes]]\nname = \"d\"\ntarget = \"/b\"\n",
        )],
        file: "jails/web.toml",
        line: 5,
        column: 8,
        message: "volume \"d\" is defined twice",
    },
    Case {
        what: "misspelt jail parameter",
        files: &[("jails/web.toml", "[params]\n\"allow.mout\" = true\n")],
        file: "jails/web.toml",
        line: 2,
        column: 1,
        message: "unknown jail parameter \"allow.mout\"; did you mean \"allow.mount\"?",
    },
    Case {
        what: "unknown jail parameter as a dotted key",
        files: &[("jails/web.toml", "[params]\nallow.bogus = true\n")],
        file: "jails/web.toml",
        line: 2,
        column: 7,
        message: "unknown jail parameter \"allow.bogus\"",
    },
    Case {
        what: "parameter jailctl manages",
        files: &[("jails/web.toml", "[params]\npath = \"/jails/web\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 1,
        message: "jail parameter \"path\" is set by jailctl",
    },
    Case {
        what: "read-only parameter",
        files: &[("jails/web.toml", "[params]\njid = 5\n")],
        file: "jails/web.toml",
        line: 2,
        column: 1,
        message: "jail parameter \"jid\" is read-only",
    },
    Case {
        what: "allow.* that is not a boolean",
        files: &[("jails/web.toml", "[params]\n\"allow.mount\" = \"yes\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 17,
        message: "allow.mount must be true or false",
    },
    Case {
        what: "hook of the wrong type",
        files: &[("jails/web.toml", "[hooks]\nstart = 5\n")],
        file: "jails/web.toml",
        line: 2,
        column: 9,
        message: "start must be a string or an array of strings, not an integer",
    },
    Case {
        what: "health command as a string",
        files: &[("jails/web.toml", "[health]\ncommand = \"curl localhost\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 11,
        message: "health command must be an array of arguments",
    },
    Case {
        what: "provision file mode not octal",
        files: &[(
            "jails/web.toml",
            "[[provision.files]]\nsource = \"a\"\ntarget = \"/a\"\nmode = \"0999\"\n",
        )],
        file: "jails/web.toml",
        line: 4,
        column: 8,
        message: "mode must be an octal permission such as \"0644\" or 0o644",
    },
    Case {
        what: "autostart as a string",
        files: &[("jails/web.toml", "autostart = \"yes\"\n")],
        file: "jails/web.toml",
        line: 1,
        column: 13,
        message: "autostart must be true or false, not a string",
    },
    Case {
        what: "bad hostname",
        files: &[("jails/web.toml", "hostname = \"-web.example\"\n")],
        file: "jails/web.toml",
        line: 1,
        column: 12,
        message: "hostname \"-web.example\" has an invalid label \"-web\": use letters, digits and '-', 1-63 characters, not starting or ending with '-'",
    },
    Case {
        what: "unknown ZFS compression",
        files: &[("jails/web.toml", "[root]\ncompression = \"brotli\"\n")],
        file: "jails/web.toml",
        line: 2,
        column: 15,
        message: "unknown ZFS compression \"brotli\"",
    },
    Case {
        what: "reservation above quota",
        files: &[(
            "jails/web.toml",
            "[root]\nquota = \"1G\"\nreservation = \"2G\"\n",
        )],
        file: "jails/web.toml",
        line: 3,
        column: 15,
        message: "reservation 2G is larger than quota 1G",
    },
    Case {
        what: "unknown dependency",
        files: &[
            ("jails/db.toml", ""),
            ("jails/web.toml", "depends_on = [\"dbb\"]\n"),
        ],
        file: "jails/web.toml",
        line: 1,
        column: 15,
        message: "depends on unknown jail \"dbb\"; did you mean \"db\"?",
    },
    Case {
        what: "dependency cycle",
        files: &[
            ("jails/a.toml", "depends_on = [\"b\"]\n"),
            ("jails/b.toml", "depends_on = [\"a\"]\n"),
        ],
        file: "jails/b.toml",
        line: 1,
        column: 15,
        message: "dependency cycle: a -> b -> a",
    },
    Case {
        what: "jail depending on itself",
        files: &[("jails/web.toml", "depends_on = [\"web\"]\n")],
        file: "jails/web.toml",
        line: 1,
        column: 15,
        message: "dependency cycle: web -> web",
    },
    Case {
        what: "jail file name jail(8) cannot take",
        files: &[("jails/web.example.toml", "")],
        file: "jails/web.example.toml",
        line: 0,
        column: 0,
        message: "\"web.example\" is not a valid jail name: use letters, digits, '_' and '-', starting with a letter or digit (no dots)",
    },
    Case {
        what: "unknown template",
        files: &[("jails/web.toml", "extends = \"ngnix\"\n")],
        file: "jails/web.toml",
        line: 1,
        column: 11,
        message: "unknown template \"ngnix\"; did you mean \"nginx\"?",
    },
    Case {
        what: "extends that is not a string",
        files: &[("jails/web.toml", "extends = [\"nginx\"]\n")],
        file: "jails/web.toml",
        line: 1,
        column: 11,
        message: "extends must be a template name (a string), not an array",
    },
    Case {
        what: "template cycle",
        files: &[
            ("templates/a.toml", "extends = \"b\"\n"),
            ("templates/b.toml", "extends = \"a\"\n"),
            ("jails/web.toml", "extends = \"a\"\n"),
        ],
        file: "templates/b.toml",
        line: 1,
        column: 11,
        message: "templates extend each other in a cycle: a -> b -> a",
    },
    Case {
        what: "error inside a user template points into the template",
        files: &[
            ("templates/t.toml", "# mine\n[limits]\nthreds = 10\n"),
            ("jails/web.toml", "extends = \"t\"\n"),
        ],
        file: "templates/t.toml",
        line: 3,
        column: 1,
        message: "unknown key \"threds\" in [limits]; did you mean \"threads\"?",
    },
    Case {
        what: "TOML syntax error",
        files: &[("jails/web.toml", "hostname = \"web\"\nautostart = \n")],
        file: "jails/web.toml",
        line: 2,
        column: 13,
        message: "invalid TOML: string values must be quoted, expected literal string",
    },
    Case {
        what: "jailctl.toml without zfs_root",
        files: &[(
            "jailctl.toml",
            "mount_root = \"/jails\"\ndefault_base = \"14.3-RELEASE\"\n",
        )],
        file: "jailctl.toml",
        line: 1,
        column: 1,
        message: "jailctl.toml has no zfs_root",
    },
    Case {
        what: "misspelt global key",
        files: &[(
            "jailctl.toml",
            "zfs_root = \"zroot/j\"\ndefault_base = \"14.3-RELEASE\"\nparalellism = 4\n",
        )],
        file: "jailctl.toml",
        line: 3,
        column: 1,
        message: "unknown key \"paralellism\" in jailctl.toml; did you mean \"parallelism\"?",
    },
    Case {
        what: "relative mount_root",
        files: &[(
            "jailctl.toml",
            "zfs_root = \"zroot/j\"\nmount_root = \"jails\"\ndefault_base = \"14.3-RELEASE\"\n",
        )],
        file: "jailctl.toml",
        line: 2,
        column: 14,
        message: "mount_root \"jails\" is not an absolute path",
    },
    Case {
        what: "gateway outside the bridge pool",
        files: &[(
            "jailctl.toml",
            "zfs_root = \"zroot/j\"\ndefault_base = \"14.3-RELEASE\"\n[bridges.bridge0]\nip4_pool = \"10.0.0.0/24\"\ngateway4 = \"10.0.1.1\"\n",
        )],
        file: "jailctl.toml",
        line: 5,
        column: 12,
        message: "gateway4 10.0.1.1 is outside ip4_pool 10.0.0.0/24",
    },
    Case {
        what: "no base anywhere",
        files: &[
            ("jailctl.toml", "zfs_root = \"zroot/j\"\n"),
            ("jails/web.toml", "hostname = \"web\"\n"),
        ],
        file: "jails/web.toml",
        line: 0,
        column: 0,
        message: "jail \"web\" has no base",
    },
];

#[test]
fn invalid_configurations_name_file_line_column_and_message() {
    assert!(CASES.len() >= 30);
    let mut failures = vec![];
    for c in CASES {
        let (d, errs) = load_err(c.files);
        let Some(errs) = errs else {
            failures.push(format!("case {:?}: was accepted", c.what));
            continue;
        };
        let file = d.path().join(c.file);
        let hit = errs.errors.iter().any(|e| {
            e.file == file && e.line == c.line && e.column == c.column && e.message == c.message
        });
        if !hit || errs.errors.len() != 1 {
            failures.push(format!(
                "case {:?}: wanted exactly {}:{}:{}: {}\n  got:\n{}",
                c.what,
                c.file,
                c.line,
                c.column,
                c.message,
                errs.plain()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_errors_of_a_run_are_reported() {
    let (_d, errs) = load_err(&[
        ("jails/a.toml", "[limits]\nmemroy = \"1G\"\n"),
        ("jails/b.toml", "cpuset = \"x\"\nautostart = 1\n"),
    ]);
    let errs = errs.expect("rejected");
    assert_eq!(errs.errors.len(), 3, "{}", errs.plain());
    assert!(
        errs.to_string()
            .starts_with("3 errors in the configuration")
    );
}

fn examples_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

#[test]
fn examples_load_with_templates_defaults_and_dependencies() {
    let cfg = config::load(examples_dir()).unwrap_or_else(|e| panic!("{}", e.plain()));
    let names: Vec<&str> = cfg.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["cache", "db", "resolver", "web"]);
    let web = cfg.jail("web").unwrap();
    assert_eq!(web.extends, ["minimal", "nginx"]);
    assert_eq!(web.depends_on, ["db", "cache"]);
    assert_eq!(web.source, examples_dir().join("jails/web.toml"));
    // From [defaults] in jailctl.toml, not overridden.
    assert_eq!(web.root.compression.as_deref(), Some("lz4"));
    // From the nginx template; minimal's processes limit survives the table merge.
    assert_eq!(web.limits.memory, Some(512 << 20));
    assert_eq!(web.limits.processes, Some(512));
    assert_eq!(web.limits.raw.len(), 2);
    assert_eq!(web.hooks.start, ["/bin/sh /etc/rc"]);
    match &web.network {
        Network::Alias {
            interface,
            ip4,
            ip6,
        } => {
            assert_eq!(interface, "em0");
            assert_eq!(ip4[0].to_string(), "192.168.1.20/24");
            assert_eq!(ip6[0].to_string(), "2001:db8::20/64");
        }
        other => panic!("web network is {other:?}"),
    }
    // Relative provision sources resolve against the definition file.
    assert_eq!(
        web.provision.files[0].source,
        examples_dir().join("jails/files/nginx.conf")
    );
    assert_eq!(web.provision.files[0].mode, Some(0o644));
    let db = cfg.jail("db").unwrap();
    assert_eq!(db.volumes[0].target, Path::new("/var/db/postgres"));
    assert_eq!(db.root.quota, Some(10 << 30));
    assert!(cfg.jail("nope").is_none());
}

#[test]
fn every_shipped_template_validates_when_extended() {
    for (name, _) in config::templates::SHIPPED {
        let jail = format!("extends = \"{name}\"\n");
        let d = dir_with(&[("jails/t.toml", &jail)]);
        let cfg =
            config::load(d.path()).unwrap_or_else(|e| panic!("template {name}: {}", e.plain()));
        let spec = cfg.jail("t").unwrap();
        assert_eq!(spec.extends.last().map(String::as_str), Some(*name));
        if *name == "vnet" {
            assert!(matches!(
                &spec.network,
                Network::Vnet { bridge, gateway4: Some(_), .. } if bridge == "bridge0"
            ));
        }
    }
    assert!(config::templates::SHIPPED.len() >= 5);
}

#[test]
fn user_templates_win_over_shipped_ones_and_lists_replace() {
    let d = dir_with(&[
        (
            "templates/nginx.toml",
            "[limits]\nmemory = \"64M\"\n[provision]\npackages = [\"nginx-lite\"]\n",
        ),
        (
            "jails/web.toml",
            "extends = \"nginx\"\n[provision]\npackages = [\"nginx-full\", \"curl\"]\n",
        ),
    ]);
    let cfg = config::load(d.path()).unwrap_or_else(|e| panic!("{}", e.plain()));
    let web = cfg.jail("web").unwrap();
    assert_eq!(web.extends, ["nginx"]);
    assert_eq!(web.limits.memory, Some(64 << 20));
    assert_eq!(web.provision.packages, ["nginx-full", "curl"]);
}

#[test]
fn unchecked_and_dotted_params_are_accepted() {
    let d = dir_with(&[(
        "jails/web.toml",
        "[params]\nallow.mount.zfs = true\n\"allow.mount\" = true\n[params_unchecked]\n\"linux.osname\" = \"Linux\"\n",
    )]);
    let cfg = config::load(d.path()).unwrap_or_else(|e| panic!("{}", e.plain()));
    let p = &cfg.jail("web").unwrap().params;
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p.contains_key("allow.mount.zfs"));
    assert!(p.contains_key("linux.osname"));
}

#[test]
fn cli_validate_accepts_the_examples() {
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .args(["--config-dir"])
        .arg(examples_dir())
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("web: OK"), "{text}");
    assert!(text.contains("4 jails valid"), "{text}");
}

#[test]
fn cli_validate_fails_and_prints_every_error() {
    let d = dir_with(&[
        ("jails/a.toml", "[limits]\nmemroy = \"1G\"\n"),
        ("jails/b.toml", "cpuset = \"3-1\"\n"),
    ]);
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(d.path())
        .arg("validate")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("2 errors in the configuration"), "{err}");
    assert!(err.contains("a.toml:2:1: unknown key \"memroy\""), "{err}");
    assert!(err.contains("\"memory\"?"), "{err}");
    assert!(err.contains("goes"), "{err}");
    assert!(err.contains("b.toml:1:10"), "{err}");
}

#[test]
fn cli_show_json_parses_and_toml_is_printed() {
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(examples_dir())
        .args(["show", "db", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "db");
    assert_eq!(v["network"]["mode"], "alias");
    assert_eq!(v["volumes"][0]["name"], "pgdata");

    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(examples_dir())
        .args(["show", "db"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(parsed["hostname"].as_str(), Some("db.example.internal"));

    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(examples_dir())
        .args(["show", "wbe"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no jail \"wbe\"") && err.contains("did you mean \"web\"?"),
        "{err}"
    );
}

#[test]
fn reference_documents_every_key_the_parser_accepts() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let mut missing = vec![];
    for (table, keys) in config::schema::all_tables() {
        let heading = format!("## `{table}`");
        let Some(start) = doc.find(&heading) else {
            missing.push(format!("section {heading}"));
            continue;
        };
        let rest = &doc[start + heading.len()..];
        let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
        for key in keys {
            if !section.contains(&format!("`{key}`")) {
                missing.push(format!("{table}: `{key}`"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

/// `validate` and `up` agree on mount path lengths: FreeBSD's MNAMELEN is 88 bytes with the
/// NUL, so 87 characters pass and 88 fail, for every mount jailctl makes: devfs, fdescfs,
/// procfs, mount targets, mount sources, volume datasets (the nullfs source).
#[test]
fn mount_paths_of_87_characters_pass_and_88_fail() {
    let m = |k: usize| format!("/{}", "m".repeat(k));
    let global = |root: &str| {
        format!(
            "zfs_root = \"zroot/jailctl\"\ndefault_base = \"14.3-RELEASE\"\nmount_root = \"{root}\"\n"
        )
    };
    let check = |files: &[(&str, &str)], want: Option<&str>| {
        let d = dir_with(files);
        match (config::load(d.path()), want) {
            (Ok(cfg), None) => {
                for j in &cfg.jails {
                    if let Err(e) = jailctl::render::render(j, &cfg.global) {
                        panic!("validate passed what render refuses: {e}");
                    }
                }
            }
            (Err(e), Some(w)) => {
                assert_eq!(e.errors.len(), 1, "{}", e.plain());
                assert!(e.errors[0].message.contains(w), "{}", e.plain());
                assert!(
                    e.errors[0].message.contains("88 characters long"),
                    "{}",
                    e.plain()
                );
            }
            (Ok(_), Some(w)) => panic!("accepted; wanted an error about {w}: {files:?}"),
            (Err(e), None) => panic!("refused at 87 characters:\n{}", e.plain()),
        }
    };
    // devfs: <root>/web/dev is k + 9 characters.
    for (k, want) in [(78, None), (79, Some("devfs mount point"))] {
        check(
            &[("jailctl.toml", &global(&m(k))), ("jails/web.toml", "")],
            want,
        );
    }
    // fdescfs: <root>/web/dev/fd is k + 12; procfs: <root>/web/proc is k + 10.
    for (param, extra, what) in [
        ("mount.fdescfs", 12, "fdescfs mount point"),
        ("mount.procfs", 10, "procfs mount point"),
    ] {
        let jail = format!("[params]\n\"{param}\" = true\n");
        for (k, want) in [(87 - extra, None), (88 - extra, Some(what))] {
            check(
                &[("jailctl.toml", &global(&m(k))), ("jails/web.toml", &jail)],
                want,
            );
        }
        // Without the parameter, the same root is fine.
        check(
            &[
                ("jailctl.toml", &global(&m(88 - extra))),
                ("jails/web.toml", ""),
            ],
            None,
        );
    }
    // A mount target: /usr/local/jails/web is 20 characters.
    for (len, want) in [(67, None), (68, Some("mount point"))] {
        let jail = format!(
            "[[mounts]]\nsource = \"/srv\"\ntarget = \"{}\"\n",
            m(len - 1)
        );
        check(&[("jails/web.toml", &jail)], want);
    }
    // A mount source.
    for (len, want) in [(87, None), (88, Some("mount source"))] {
        let jail = format!(
            "[[mounts]]\nsource = \"{}\"\ntarget = \"/srv\"\n",
            m(len - 1)
        );
        check(&[("jails/web.toml", &jail)], want);
    }
    // A volume: /usr/local/jails/.volumes/web/ is 30 characters.
    for (len, want) in [(57, None), (58, Some("volume's mount point"))] {
        let jail = format!(
            "[[volumes]]\nname = \"{}\"\ntarget = \"/data\"\n",
            "v".repeat(len)
        );
        check(&[("jails/web.toml", &jail)], want);
    }
}

/// A shutdown budget rc.shutdown's 90 s watchdog would cut short is a warning, not an error;
/// the shipped example stays clear of it.
#[test]
fn validate_warns_when_the_shutdown_budget_reaches_rc_watchdog() {
    let run = |dir: &Path| {
        let o = Command::cargo_bin("jailctl")
            .unwrap()
            .arg("--config-dir")
            .arg(dir)
            .arg("validate")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    for (t, warned) in [("69s", false), ("70s", true), ("2m", true)] {
        let g = format!(
            "zfs_root = \"zroot/jailctl\"\ndefault_base = \"14.3-RELEASE\"\nshutdown_timeout = \"{t}\"\n"
        );
        let d = dir_with(&[("jailctl.toml", &g), ("jails/web.toml", "")]);
        let (code, err) = run(d.path());
        assert_eq!(code, Some(0), "{t}: {err}");
        assert_eq!(err.contains("warning:"), warned, "{t}: {err}");
        if warned {
            assert!(
                err.contains("rcshutdown_timeout") && err.contains("at most 69s"),
                "{err}"
            );
        }
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let (code, err) = run(&examples);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning:"), "{err}");
}

/// `validate --json`: every error as data (file, line, column, message, help), each jail's
/// verdict, and the exit status of the plain command.
#[test]
fn validate_json_reports_errors_as_data() {
    let d = dir_with(&[
        ("jails/cache.toml", "[limits]\nmemroy = \"1G\"\n"),
        ("jails/web.toml", ""),
    ]);
    let o = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(d.path())
        .args(["validate", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{v}");
    let e = &errors[0];
    assert_eq!(
        e["file"],
        d.path().join("jails/cache.toml").display().to_string()
    );
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        e["message"],
        "unknown key \"memroy\" in [limits]; did you mean \"memory\"?"
    );
    assert!(e["help"].as_str().unwrap().contains("memory"), "{v}");
    let verdict: Vec<(String, bool)> = v["jails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["name"].as_str().unwrap().to_string(), j["valid"] == true))
        .collect();
    assert_eq!(
        verdict,
        [("cache".to_string(), false), ("web".to_string(), true)]
    );

    std::fs::write(d.path().join("jails/cache.toml"), "").unwrap();
    let o = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(d.path())
        .args(["validate", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
}
