//! Provisioning through the real binary on `--simulate`: `up` of a new jail installs its
//! packages, writes its file with owner and mode, runs its commands and records
//! `jailctl:provisioned`; a second `up`, and a stop and start, never run it again; a failure
//! of any provisioning command leaves the host exactly as before; and the README's quick
//! start (`examples/quickstart.sh`: a base made from a distribution set, then `up --all`)
//! ends with every example jail running and provisioned.

use super::support::{examples_config, history, host_state, host_with_base, jailctl, line};
use assert_cmd::Command;
use jailctl_sim::{SimConfig, SimHost};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const APP: &str = r#"
hostname = "app.example.org"

[network]
mode = "alias"
interface = "em0"
ip4 = ["192.168.1.40/24"]

[limits]
processes = 200

[provision]
packages = ["nginx", "redis"]
commands = ["sysrc nginx_enable=YES", "test -d /var/db/app || service nginx start"]

[[provision.files]]
source = "files/app.conf"
target = "/usr/local/etc/app/app.conf"
owner = "www:www"
mode = "0640"
"#;

/// A host with a base and a config dir holding the examples plus the jail `app`.
fn setup(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (s, cfg) = (root.join("start"), root.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    std::fs::write(cfg.join("jails/app.toml"), APP).unwrap();
    std::fs::write(cfg.join("jails/files/app.conf"), "listen 8080;\n").unwrap();
    (s, cfg)
}

/// `zfs get` one property of a dataset on the simulated host.
fn zget(sim: &Path, prop: &str, ds: &str) -> String {
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .env_remove("JAILCTL_SIM_FAULTS")
        .args(["-q", "--simulate"])
        .arg(sim)
        .args(["sim", "zfs", "get", "-H", "-o", "value", prop, ds])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn packages(sim: &Path, jail: &str) -> Vec<String> {
    let st = SimHost::open_with(sim, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    st.jail
        .jails
        .values()
        .find(|j| j.name == jail)
        .map(|j| j.packages.clone())
        .unwrap_or_default()
}

/// The provisioning commands (pkg, jexec, the record) among history lines.
fn provisioning(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            l.starts_with("pkg ")
                || l.starts_with("jexec ")
                || l.starts_with("zfs set jailctl:provisioned=")
        })
        .cloned()
        .collect()
}

#[test]
fn up_provisions_a_new_jail_once_and_records_it() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());

    // The dry run lists the provisioning exactly as it will run.
    let dry = jailctl(&s, &cfg)
        .args(["up", "app", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success());
    let dry = String::from_utf8(dry.stdout).unwrap();
    for want in [
        "/usr/sbin/pkg -j app install -y nginx redis",
        "# write /usr/local/jails/app/usr/local/etc/app/app.conf (13 bytes, mode 640)",
        "/usr/sbin/jexec app /usr/sbin/chown www:www /usr/local/etc/app/app.conf",
        "/usr/sbin/jexec -l app /bin/sh -c 'sysrc nginx_enable=YES'",
        "/usr/sbin/jexec -l app /bin/sh -c 'test -d /var/db/app || service nginx start'",
        "/sbin/zfs set jailctl:provisioned=",
    ] {
        assert!(dry.contains(want), "missing `{want}` in:\n{dry}");
    }

    let before = history(&s).len();
    jailctl(&s, &cfg).args(["up", "app"]).assert().success();
    let lines: Vec<String> = history(&s)[before..].iter().map(line).collect();
    let prov = provisioning(&lines);
    assert_eq!(prov.len(), 5, "{prov:#?}");
    assert_eq!(prov[0], "pkg -j app install -y nginx redis");
    assert_eq!(
        prov[1],
        "jexec app /usr/sbin/chown www:www /usr/local/etc/app/app.conf"
    );
    assert_eq!(prov[2], "jexec -l app /bin/sh -c sysrc nginx_enable=YES");
    assert!(prov[4].starts_with("zfs set jailctl:provisioned="));
    // After `jail -c`, before the limits.
    let at = |p: &str| lines.iter().position(|l| l.starts_with(p)).unwrap();
    assert!(at("jail -f ") < at("pkg -j app"), "{lines:#?}");
    assert!(
        at("zfs set jailctl:provisioned=") < at("rctl -a"),
        "{lines:#?}"
    );

    // What it did, on the host.
    assert_eq!(packages(&s, "app"), ["nginx", "redis"]);
    let root = s.join("root/usr/local/jails/app");
    let conf = root.join("usr/local/etc/app/app.conf");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "listen 8080;\n");
    assert_eq!(
        std::fs::metadata(&conf).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let rc = std::fs::read_to_string(root.join("etc/rc.conf")).unwrap();
    assert!(rc.contains("nginx_enable=\"YES\""), "{rc}");
    let fp = zget(&s, "jailctl:provisioned", "zroot/jailctl/jails/app");
    assert_eq!(fp.len(), 64, "{fp}");
    assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()), "{fp}");
    assert_eq!(
        prov[4],
        format!("zfs set jailctl:provisioned={fp} zroot/jailctl/jails/app")
    );

    // A second up runs nothing again.
    let before = history(&s).len();
    jailctl(&s, &cfg).args(["up", "app"]).assert().success();
    let again: Vec<String> = history(&s)[before..].iter().map(line).collect();
    assert!(provisioning(&again).is_empty(), "{again:#?}");

    // Neither does a stop and a start of the same root.
    jailctl(&s, &cfg).args(["down", "app"]).assert().success();
    let before = history(&s).len();
    jailctl(&s, &cfg).args(["up", "app"]).assert().success();
    let restart: Vec<String> = history(&s)[before..].iter().map(line).collect();
    assert!(
        restart.iter().any(|l| l.starts_with("jail -f ")),
        "{restart:#?}"
    );
    assert!(provisioning(&restart).is_empty(), "{restart:#?}");

    // A changed [provision] is reported by plan, not run.
    std::fs::write(cfg.join("jails/files/app.conf"), "listen 9090;\n").unwrap();
    let plan = jailctl(&s, &cfg).args(["plan", "app"]).output().unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("provisioning changed; re-create the jail to apply it"),
        "{text}"
    );
    let before = history(&s).len();
    jailctl(&s, &cfg).args(["up", "app"]).assert().success();
    let changed: Vec<String> = history(&s)[before..].iter().map(line).collect();
    assert!(provisioning(&changed).is_empty(), "{changed:#?}");
    assert_eq!(
        zget(&s, "jailctl:provisioned", "zroot/jailctl/jails/app"),
        fp
    );
}

fn copy(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_failed_provisioning_step_leaves_the_host_as_before() {
    let t = tempfile::tempdir().unwrap();
    let (start, cfg) = setup(t.path());
    // The provisioning commands of a clean run, each made to fail in turn.
    let golden = t.path().join("golden");
    copy(&start, &golden);
    jailctl(&golden, &cfg)
        .args(["up", "app"])
        .assert()
        .success();
    let lines: Vec<String> = history(&golden).iter().map(line).collect();
    let prov = provisioning(&lines);
    assert_eq!(prov.len(), 5, "{prov:#?}");
    for (k, cmd) in prov.iter().enumerate() {
        let d = t.path().join(format!("f{k}"));
        copy(&start, &d);
        let rule = format!(
            "[[fault]]\ncommand = {}\nstderr = {}\n",
            toml::Value::String(glob::Pattern::escape(cmd)),
            toml::Value::String("injected failure".into())
        );
        std::fs::write(d.join("faults.toml"), rule).unwrap();
        let before = host_state(&d);
        let out = jailctl(&d, &cfg).args(["up", "app"]).output().unwrap();
        assert!(
            !out.status.success(),
            "up succeeded although `{cmd}` failed"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("provision app"), "{err}");
        assert!(err.contains("injected failure"), "{err}");
        assert!(err.contains("the host is as before"), "{err}");
        let after = host_state(&d);
        assert_eq!(before.0, after.0, "state differs after failing `{cmd}`");
        assert_eq!(
            before.1.keys().collect::<Vec<_>>(),
            after.1.keys().collect::<Vec<_>>(),
            "files differ after failing `{cmd}`"
        );
        assert_eq!(before.1, after.1, "file contents differ after `{cmd}`");
        // Fixed, the next up provisions the jail.
        std::fs::remove_file(d.join("faults.toml")).unwrap();
        jailctl(&d, &cfg).args(["up", "app"]).assert().success();
        assert_eq!(packages(&d, "app"), ["nginx", "redis"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn quickstart_ends_with_every_example_jail_running_and_provisioned() {
    for tool in ["tar", "xz", "sha256sum"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap()
            .status
            .success();
        assert!(
            found,
            "quickstart needs {tool}; install it (Debian: tar xz-utils coreutils)"
        );
    }
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("qs");
    let out = std::process::Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.sh"))
        .env("QUICKSTART_DIR", &work)
        .env("JAILCTL", env!("CARGO_BIN_EXE_jailctl"))
        .env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last thing it prints is the list: every example jail running.
    let list: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("NAME "))
        .skip(1)
        .collect();
    let running: Vec<&str> = list
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some("running"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(running, ["cache", "db", "resolver", "web"], "{stdout}");
    assert_eq!(list.len(), 4, "{stdout}");
    // Each was provisioned from the fresh base: templates' packages and web's file.
    let host = work.join("host");
    for (jail, pkg) in [
        ("cache", "redis"),
        ("db", "postgresql16-server"),
        ("resolver", "unbound"),
        ("web", "nginx"),
    ] {
        let fp = zget(
            &host,
            "jailctl:provisioned",
            &format!("zroot/jailctl/jails/{jail}"),
        );
        assert_eq!(fp.len(), 64, "{jail}: {fp}");
        assert!(packages(&host, jail).iter().any(|p| p == pkg), "{jail}");
    }
    let conf = host.join("root/usr/local/jails/web/usr/local/etc/nginx/nginx.conf");
    assert_eq!(
        std::fs::read(&conf).unwrap(),
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/jails/files/nginx.conf")
        )
        .unwrap()
    );
}
