//! One broken jail definition must not stop the fleet: the lenient loader attributes every
//! error to the jail it makes unusable (cross-jail checks included) and loads the valid rest;
//! `boot`, `shutdown`, `list`, `up NAME`, `exec` act on that rest through the real binary on
//! the simulated host, while `validate` and `up --all` still refuse.

use super::boot_driver::Fleet;
use jailctl::config::{self, ConfigErrors};

const GLOBAL: &str = "zfs_root = \"zroot/jailctl\"\ndefault_base = \"14.2\"\n";

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

fn valid(l: &config::Lenient) -> Vec<&str> {
    l.config.jails.iter().map(|j| j.name.as_str()).collect()
}

fn broken(l: &config::Lenient) -> Vec<&str> {
    l.broken.iter().map(|(n, _)| n.as_str()).collect()
}

fn messages(e: &ConfigErrors) -> Vec<&str> {
    e.errors.iter().map(|e| e.message.as_str()).collect()
}

#[test]
fn a_bad_key_puts_only_its_jail_aside() {
    let d = dir_with(&[
        ("jails/cache.toml", "[limits]\nmemroy = \"1G\"\n"),
        ("jails/db.toml", ""),
        ("jails/web.toml", "depends_on = [\"db\"]\n"),
    ]);
    let l = config::load_lenient(d.path()).unwrap();
    assert_eq!(valid(&l), ["db", "web"]);
    assert_eq!(broken(&l), ["cache"]);
    let e = l.broken("cache").unwrap();
    assert_eq!(e.errors.len(), 1, "{}", e.plain());
    assert_eq!(e.errors[0].file, d.path().join("jails/cache.toml"));
    assert_eq!((e.errors[0].line, e.errors[0].column), (2, 1));
    // The strict load still fails, with the same error.
    let all = config::load(d.path()).unwrap_err();
    assert_eq!(all.plain(), e.plain());
}

#[test]
fn an_unknown_dependency_is_its_dependents_error_and_dependents_of_broken_jails_are_flagged() {
    let d = dir_with(&[
        ("jails/web.toml", "depends_on = [\"nosuchjail\"]\n"),
        ("jails/resolver.toml", ""),
        ("jails/cache.toml", "cpuset = \"x\"\n"),
        (
            "jails/app.toml",
            "autostart = false\ndepends_on = [\"cache\"]\n",
        ),
        ("jails/front.toml", "depends_on = [\"app\"]\n"),
    ]);
    let l = config::load_lenient(d.path()).unwrap();
    assert_eq!(broken(&l), ["cache", "web"]);
    assert_eq!(valid(&l), ["app", "front", "resolver"]);
    assert_eq!(
        messages(l.broken("web").unwrap()),
        ["depends on unknown jail \"nosuchjail\""]
    );
    // Depending on a broken jail is not an unknown dependency: app is valid, but needs cache.
    assert_eq!(l.broken_deps("app"), ["cache"]);
    assert_eq!(l.broken_deps("front"), ["cache"]);
    assert!(l.broken_deps("resolver").is_empty());
}

#[test]
fn a_shared_address_breaks_both_jails_and_a_cycle_every_member() {
    let net =
        |ip: &str| format!("[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"{ip}\"]\n");
    let (a, b, c) = (net("192.0.2.5"), net("192.0.2.5"), net("192.0.2.6"));
    let d = dir_with(&[
        ("jails/a.toml", &a),
        ("jails/b.toml", &b),
        ("jails/c.toml", &c),
        ("jails/x.toml", "depends_on = [\"y\"]\n"),
        ("jails/y.toml", "depends_on = [\"x\"]\n"),
    ]);
    let l = config::load_lenient(d.path()).unwrap();
    assert_eq!(valid(&l), ["c"]);
    assert_eq!(broken(&l), ["a", "b", "x", "y"]);
    assert_eq!(
        messages(l.broken("a").unwrap()),
        ["address 192.0.2.5 is also used by jail \"b\""]
    );
    assert_eq!(
        messages(l.broken("b").unwrap()),
        ["address 192.0.2.5 is also used by jail \"a\""]
    );
    for j in ["x", "y"] {
        let m = messages(l.broken(j).unwrap());
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("dependency cycle: "), "{m:?}");
    }
}

#[test]
fn a_broken_template_breaks_every_jail_extending_it() {
    let d = dir_with(&[
        ("templates/small.toml", "[limits]\nmemroy = \"1G\"\n"),
        ("jails/a.toml", "extends = \"small\"\n"),
        ("jails/b.toml", "extends = \"small\"\n"),
        ("jails/c.toml", ""),
    ]);
    let l = config::load_lenient(d.path()).unwrap();
    assert_eq!(valid(&l), ["c"]);
    assert_eq!(broken(&l), ["a", "b"]);
    for j in ["a", "b"] {
        let e = l.broken(j).unwrap();
        assert_eq!(e.errors.len(), 1, "{}", e.plain());
        assert_eq!(e.errors[0].file, d.path().join("templates/small.toml"));
    }
    // Reported once by the strict load.
    assert_eq!(config::load(d.path()).unwrap_err().errors.len(), 1);
}

#[test]
fn only_global_errors_fail_the_lenient_load() {
    let d = dir_with(&[
        (
            "jailctl.toml",
            "zfs_root = \"zroot/jailctl\"\nparalelism = 2\n",
        ),
        ("jails/a.toml", "cpuset = \"x\"\n"),
    ]);
    let e = config::load_lenient(d.path()).unwrap_err();
    assert_eq!(e.errors.len(), 1, "{}", e.plain());
    assert_eq!(e.errors[0].file, d.path().join("jailctl.toml"));
}

fn run(f: &Fleet, args: &[&str]) -> (Option<i32>, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_jailctl"))
        .arg("--simulate")
        .arg(f.sim())
        .arg("--config-dir")
        .arg(f.cfg())
        .args(args)
        .env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_LATENCY")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write(f: &Fleet, file: &str, text: &str) {
    std::fs::write(f.cfg().join(file), text).unwrap();
}

#[test]
fn boot_starts_everything_a_broken_file_does_not_touch() {
    let f = Fleet::new();
    f.jail("db", true, &[], "");
    f.jail("resolver", true, &[], "");
    f.jail("app", true, &["cache"], "");
    f.jail("web", true, &["nosuch"], "");
    write(
        &f,
        "jails/cache.toml",
        "autostart = true\n[limits]\nmemroy = \"512M\"\n",
    );
    let (code, out, err) = run(&f, &["boot"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(f.running(), ["db", "resolver"], "{out}{err}");
    assert!(
        out.contains("app: not started: dependency cache has an invalid definition"),
        "{out}"
    );
    assert!(
        out.contains("cache: FAILED: its definition is invalid"),
        "{out}"
    );
    assert!(
        out.contains("web: FAILED: its definition is invalid"),
        "{out}"
    );
    // Full diagnostics: the source line and the help, not only a summary.
    assert!(err.contains("memroy = \"512M\""), "{err}");
    assert!(err.contains("depends on unknown jail \"nosuch\""), "{err}");
    assert!(err.contains("known keys in [limits]"), "{err}");

    // A named valid jail works regardless; --all and validate still refuse.
    let (code, out, err) = run(&f, &["down", "db"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = run(&f, &["up", "db"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = run(&f, &["up", "--all"]);
    assert_eq!(code, Some(3), "an invalid configuration exits 3");
    assert!(err.contains("memroy"), "{err}");
    let (code, _, err) = run(&f, &["validate"]);
    assert_eq!(code, Some(3));
    assert!(err.contains("2 errors in the configuration"), "{err}");
    let (code, _, err) = run(&f, &["up", "app"]);
    assert_eq!(code, Some(3));
    assert!(
        err.contains("jail \"app\" depends on \"cache\", whose definition is invalid"),
        "{err}"
    );
    let (code, _, err) = run(&f, &["up", "cache"]);
    assert_eq!(code, Some(3));
    assert!(err.contains("memroy"), "{err}");
    let (code, out, err) = run(&f, &["show", "db"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("# jail `db`"), "{out}");
    let (code, _, err) = run(&f, &["show", "cache"]);
    assert_eq!(code, Some(3));
    assert!(err.contains("memroy"), "{err}");
}

#[test]
fn shutdown_stops_a_jail_whose_file_broke_after_it_started() {
    let f = Fleet::new();
    f.jail("cache", true, &[], "");
    f.jail("web", true, &["cache"], "");
    f.jail("db", true, &[], "");
    let (code, out, err) = run(&f, &["boot"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(f.running(), ["cache", "db", "web"]);
    write(
        &f,
        "jails/cache.toml",
        "autostart = true\n[limits]\nmemroy = \"512M\"\n",
    );
    // db's file is gone and so is its rendered jail.conf (as after a reboot cleared /var/run):
    // it still runs and jailctl still manages it.
    std::fs::remove_file(f.cfg().join("jails/db.toml")).unwrap();
    std::fs::remove_file(f.sim().join("root/var/run/jailctl/db.conf")).unwrap();

    // list: a report, exit 0; the broken jail is `invalid`, its errors in the JSON.
    let (code, out, err) = run(&f, &["list"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let row = out.lines().find(|l| l.starts_with("cache ")).unwrap();
    assert!(row.contains(" invalid "), "{out}");
    assert!(err.contains("invalid definition: cache"), "{err}");
    let (code, out, _) = run(&f, &["list", "--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cache = v
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "cache")
        .unwrap();
    assert_eq!(cache["state"], "invalid");
    assert!(
        cache["errors"][0]
            .as_str()
            .unwrap()
            .contains("unknown key \"memroy\""),
        "{cache}"
    );
    let web = v
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "web")
        .unwrap();
    assert_eq!(web["state"], "running");
    assert!(web.get("errors").is_none());
    let (code, out, _) = run(&f, &["status", "cache"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(" invalid "), "{out}");

    let (code, out, err) = run(&f, &["shutdown"]);
    assert_eq!(code, Some(1), "a broken definition is reported: {out}{err}");
    assert!(f.running().is_empty(), "{out}{err}");
    assert!(
        out.contains("web: stopped") && out.contains("cache: stopped"),
        "{out}"
    );
    assert!(!out.contains("forc"), "every stop was orderly: {out}");
    assert!(err.contains("memroy"), "{err}");
    let h = f.history();
    let pos = |want: &str| {
        h.iter()
            .position(|(c, s)| c == want && *s == 0)
            .unwrap_or_else(|| panic!("{want} not in {h:#?}"))
    };
    // Stopped through its last rendered jail.conf (exec.stop runs), after its dependent.
    let cache = pos("/usr/sbin/jail -f /var/run/jailctl/cache.conf -r cache");
    let web = pos("/usr/sbin/jail -f /var/run/jailctl/web.conf -r web");
    assert!(web < cache, "{h:#?}");
    // Without a jail.conf: `jail -r NAME`.
    pos("/usr/sbin/jail -r db");
    assert!(
        err.contains("db is running and managed by jailctl but it has no definition any more"),
        "{err}"
    );
}

#[test]
fn exec_and_console_of_an_undefined_jail_say_so_with_a_suggestion() {
    let f = Fleet::new();
    f.jail("web", false, &[], "");
    write(&f, "jails/cache.toml", "[limits]\nmemroy = \"512M\"\n");
    for args in [&["exec", "wbe", "--", "ps"][..], &["console", "wbe"]] {
        let (code, _, err) = run(&f, args);
        assert_eq!(code, Some(3), "an undefined jail exits 3");
        assert!(err.contains("no jail \"wbe\" in"), "{err}");
        assert!(err.contains("did you mean \"web\"?"), "{err}");
        assert!(!err.contains("not running"), "{err}");
    }
    // Defined (even broken) but not running: the old advice stands.
    let (code, _, err) = run(&f, &["exec", "web", "--", "ps"]);
    assert_eq!(code, Some(4), "a jail in the wrong state is a refusal");
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn a_configuration_report_has_no_empty_error_line() {
    let d = dir_with(&[("jails/cache.toml", "[limits]\nmemroy = \"1G\"\n")]);
    for args in [&["validate"][..], &["up", "--all", "--dry-run"]] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_jailctl"))
            .arg("--config-dir")
            .arg(d.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("1 error in the configuration"), "{err}");
        assert!(err.contains("unknown key \"memroy\""), "{err}");
        assert!(
            !err.lines()
                .any(|l| l.trim().trim_end_matches(':') == "Error"),
            "{err}"
        );
    }
}

/// `list` through the binary: with a jail holding an IPv4 and an IPv6 address (wider than the
/// ADDRESSES header) and a long name, every column still starts at the same place on every line.
#[test]
fn list_columns_stay_aligned_with_long_addresses() {
    let f = Fleet::new();
    f.jail(
        "web",
        false,
        &[],
        "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.168.1.20/24\"]\nip6 = [\"2001:db8::20/64\"]\n",
    );
    f.jail("a-rather-long-jail-name", false, &[], "");
    let (code, out, err) = run(&f, &["up", "web", "a-rather-long-jail-name"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = run(&f, &["list"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let web = lines.iter().find(|l| l.starts_with("web ")).unwrap();
    assert!(web.contains("192.168.1.20,2001:db8::20"), "{out}");
    for header in ["STATE", "JID", "ADDRESSES", "CURRENT", "BASE"] {
        let at = lines[0].find(header).unwrap();
        for l in &lines[1..] {
            // The cell under each left-aligned header starts there (JID is right-aligned: its
            // cell ends where the header ends).
            let (start, end) = if header == "JID" {
                (at + header.len() - 1, at + header.len())
            } else {
                (at, at + 1)
            };
            let c = &l[start..end];
            assert!(c != " ", "{header} misaligned:\n{out}");
            assert_eq!(&l[start - 2..start], "  ", "{header} misaligned:\n{out}");
        }
    }
}

/// The boot graph with broken definitions: without names every broken jail is in it (failing
/// with its reason), with names only those needed; a broken name is a known name.
#[test]
fn the_boot_graph_carries_broken_jails_as_problems() {
    use jailctl::boot::BootGraph;
    let d = dir_with(&[
        (
            "jails/app.toml",
            "autostart = false\ndepends_on = [\"cache\"]\n",
        ),
        ("jails/db.toml", "autostart = true\n"),
        ("jails/cache.toml", "cpuset = \"x\"\n"),
        ("jails/other.toml", "cpuset = \"y\"\n"),
    ]);
    let l = config::load_lenient(d.path()).unwrap();
    let broken: Vec<(String, String)> = l
        .broken
        .iter()
        .map(|(n, _)| (n.clone(), format!("{n} is broken")))
        .collect();
    let names = |g: &BootGraph| -> Vec<(String, Option<String>)> {
        let mut v: Vec<_> = g
            .nodes()
            .iter()
            .map(|n| (n.name.clone(), n.problem.clone()))
            .collect();
        v.sort();
        v
    };
    let all = BootGraph::for_boot_with_broken(&l.config.jails, &broken, &[]).unwrap();
    assert_eq!(
        names(&all),
        [
            ("cache".to_string(), Some("cache is broken".to_string())),
            ("db".to_string(), None),
            ("other".to_string(), Some("other is broken".to_string())),
        ]
    );
    let app =
        BootGraph::for_boot_with_broken(&l.config.jails, &broken, &["app".to_string()]).unwrap();
    assert_eq!(
        names(&app),
        [
            ("app".to_string(), None),
            ("cache".to_string(), Some("cache is broken".to_string())),
        ]
    );
    let i = app.index_of("app").unwrap();
    assert_eq!(app.nodes()[i].deps, [app.index_of("cache").unwrap()]);
    let e = BootGraph::for_boot_with_broken(&l.config.jails, &broken, &["cahce".to_string()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `cache`?"), "{e}");
}
