//! The lifecycle end to end on the strict simulator, through the real binary: `up` of the
//! shipped examples, `list --json`, an idempotent second `up`, a live limit change, `down`,
//! `destroy`; then fault injection on every mutating step of `up`, `down` and `destroy` of a
//! representative jail, with the host's state compared before and after.

use crate::support::{
    examples_config, history, host_state, host_with_base, jailctl, line, mutating, sim,
};
use assert_cmd::Command;
use jailctl_sim::{SimConfig, SimHost};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn list_json(simdir: &Path, config: &Path) -> Vec<Value> {
    let out = jailctl(simdir, config)
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn states(list: &[Value]) -> BTreeMap<String, String> {
    list.iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().to_string(),
                j["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn examples_up_list_idempotent_live_limit_down_destroy() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);

    jailctl(&s, &cfg).args(["up", "--all"]).assert().success();
    let list = list_json(&s, &cfg);
    assert_eq!(
        states(&list),
        [
            ("cache", "running"),
            ("db", "running"),
            ("resolver", "running"),
            ("web", "running")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .into()
    );
    let web = list.iter().find(|j| j["name"] == "web").unwrap();
    assert_eq!(web["ip4"], serde_json::json!(["192.168.1.20"]));
    assert_eq!(
        web["base"],
        "zroot/jailctl/bases/14.3-RELEASE@20260101-000000"
    );
    let jid = web["jid"].as_i64().unwrap();

    // A second up changes nothing: not one mutating command.
    let before = history(&s).len();
    jailctl(&s, &cfg).args(["up", "--all"]).assert().success();
    let again: Vec<String> = history(&s)[before..]
        .iter()
        .filter(|h| mutating(h))
        .map(line)
        .collect();
    assert!(again.is_empty(), "second up mutated: {again:?}");

    // A limit change is applied live: rctl -r then rctl -a, same jid, no restart.
    let f = cfg.join("jails/web.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replace("cpu_percent = 150", "cpu_percent = 90")).unwrap();
    let before = history(&s).len();
    jailctl(&s, &cfg)
        .args(["up", "--no-restart", "web"])
        .assert()
        .success();
    let changed: Vec<String> = history(&s)[before..]
        .iter()
        .filter(|h| mutating(h))
        .map(line)
        .collect();
    assert!(changed[0] == "rctl -r jail:web", "{changed:?}");
    assert!(changed[1].starts_with("rctl -a jail:web:"), "{changed:?}");
    assert!(changed[1].contains("jail:web:pcpu:deny=90"), "{changed:?}");
    assert!(
        changed.iter().all(|c| !c.starts_with("jail ")),
        "{changed:?}"
    );
    let list = list_json(&s, &cfg);
    let web = list.iter().find(|j| j["name"] == "web").unwrap();
    assert_eq!(web["jid"].as_i64(), Some(jid));
    assert!(
        web["limits"]
            .as_array()
            .unwrap()
            .contains(&Value::from("jail:web:pcpu:deny=90"))
    );

    // A network change needs a restart: --no-restart refuses it and changes nothing.
    std::fs::write(
        &f,
        std::fs::read_to_string(&f)
            .unwrap()
            .replace("192.168.1.20/24", "192.168.1.40/24"),
    )
    .unwrap();
    let before = history(&s).len();
    jailctl(&s, &cfg)
        .args(["up", "--no-restart", "web"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--no-restart"));
    assert!(!history(&s)[before..].iter().any(mutating));

    // down refuses db while web depends on it; --with-dependents stops both.
    jailctl(&s, &cfg)
        .args(["down", "db"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--with-dependents"));
    jailctl(&s, &cfg)
        .args(["down", "--with-dependents", "db"])
        .assert()
        .success();
    let st = states(&list_json(&s, &cfg));
    assert_eq!(st["db"], "stopped");
    assert_eq!(st["web"], "stopped");
    assert_eq!(st["cache"], "running");

    // destroy needs --yes off a terminal, keeps volumes unless asked.
    jailctl(&s, &cfg)
        .args(["destroy", "db"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--yes"));
    jailctl(&s, &cfg)
        .args(["destroy", "db", "--yes"])
        .assert()
        .success();
    let st = SimHost::open_with(&s, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    let ds = serde_json::to_string(&st.zfs).unwrap();
    assert!(!ds.contains("\"zroot/jailctl/jails/db\""));
    assert!(ds.contains("zroot/jailctl/volumes/db/pgdata"));
    assert_eq!(states(&list_json(&s, &cfg))["db"], "absent");
}

#[test]
fn exec_passes_the_exit_status_and_render_prints_the_block() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    jailctl(&s, &cfg)
        .args(["exec", "resolver", "--", "/bin/sh", "-c", "exit 3"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("jailctl up resolver"));
    jailctl(&s, &cfg)
        .args(["up", "resolver"])
        .assert()
        .success();
    jailctl(&s, &cfg)
        .args(["exec", "resolver", "--", "/bin/sh", "-c", "exit 3"])
        .assert()
        .code(3);
    // list: one zfs get and one jls for the whole host.
    let before = history(&s).len();
    list_json(&s, &cfg);
    let cmds: Vec<String> = history(&s)[before..].iter().map(line).collect();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds[0].starts_with("zfs get -H -p -r "), "{cmds:?}");
    assert!(cmds[1].starts_with("jls --libxo json -d "), "{cmds:?}");
    // status adds live usage (RACCT is on in the simulator) and the deployed limits. The
    // usage is one kernel query for all jails (rctl_get_racct(2) on FreeBSD), not an
    // `rctl -u` process per jail: status runs the same commands as list, plus the sysctl.
    let before = history(&s).len();
    let out = jailctl(&s, &cfg)
        .args(["status", "resolver", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let cmds: Vec<String> = history(&s)[before..].iter().map(line).collect();
    assert_eq!(cmds.len(), 3, "{cmds:?}");
    assert_eq!(cmds[2], "sysctl -n kern.racct.enable", "{cmds:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    // The figures are those rctl(8) prints for the jail.
    let rctl = jailctl(&s, &cfg)
        .args(["sim", "rctl", "-u", "jail:resolver"])
        .output()
        .unwrap();
    assert!(rctl.status.success());
    let printed = String::from_utf8(rctl.stdout).unwrap();
    assert_eq!(
        printed.lines().count(),
        v[0]["usage"].as_object().unwrap().len()
    );
    for l in printed.lines() {
        let (k, n) = l.split_once('=').unwrap();
        assert_eq!(
            v[0]["usage"][k].as_u64(),
            Some(n.parse().unwrap()),
            "{k} in {v}"
        );
    }
    assert!(
        v[0]["usage"]["memoryuse"].as_u64().is_some_and(|m| m > 0),
        "{v}"
    );
    assert!(
        v[0]["limits"]
            .as_array()
            .unwrap()
            .contains(&Value::from("jail:resolver:maxproc:deny=512")),
        "{v}"
    );
    jailctl(&s, &cfg)
        .args(["render", "resolver"])
        .assert()
        .success()
        .stdout(predicates::str::contains("resolver {"))
        .stdout(predicates::str::contains("192.168.1.23"));
}

#[test]
fn writes_into_a_jail_root_do_not_follow_links_planted_there() {
    use jailctl::host::HostFs;
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    let root = s.join("root");
    std::fs::write(root.join("etc/hostfile"), "host\n").unwrap();
    // In-process: the simulated host's HostFs refuses a linked directory.
    let h = SimHost::open_with(&s, SimConfig::default()).unwrap();
    let jr = Path::new("/usr/local/jails/x");
    std::fs::create_dir_all(root.join("usr/local/jails/x")).unwrap();
    std::os::unix::fs::symlink("../../../../etc", root.join("usr/local/jails/x/etc")).unwrap();
    let e = h
        .write_in_root(jr, Path::new("etc/hostfile"), b"owned\n", 0o644)
        .unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read(root.join("etc/hostfile")).unwrap(), b"host\n");

    // Through `up`: the running jail's root user links /etc/rc.conf to a host file; a change
    // that rewrites rc.conf replaces the link and leaves the host file alone.
    jailctl(&s, &cfg)
        .args(["up", "resolver"])
        .assert()
        .success();
    let rc = root.join("usr/local/jails/resolver/etc/rc.conf");
    std::fs::remove_file(&rc).unwrap();
    std::os::unix::fs::symlink("../../../../../etc/hostfile", &rc).unwrap();
    let f = cfg.join("jails/resolver.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(
        &f,
        text.replace("resolver.example.internal", "dns.example.internal"),
    )
    .unwrap();
    jailctl(&s, &cfg)
        .args(["up", "resolver"])
        .assert()
        .success();
    assert_eq!(std::fs::read(root.join("etc/hostfile")).unwrap(), b"host\n");
    assert!(!std::fs::symlink_metadata(&rc).unwrap().is_symlink());
    assert!(
        std::fs::read_to_string(&rc)
            .unwrap()
            .contains("dns.example.internal")
    );
}

#[test]
fn a_changed_base_needs_recreate_and_keeps_the_volume() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    let mp = "/usr/local/jails/.bases/15.0-RELEASE";
    sim(
        &s,
        &[
            "zfs",
            "create",
            "-o",
            &format!("mountpoint={mp}"),
            "zroot/jailctl/bases/15.0-RELEASE",
        ],
    );
    std::fs::create_dir_all(s.join("root").join(&mp[1..]).join("dev")).unwrap();
    sim(
        &s,
        &[
            "zfs",
            "snapshot",
            "zroot/jailctl/bases/15.0-RELEASE@20260301-101010",
        ],
    );
    jailctl(&s, &cfg).args(["up", "db"]).assert().success();
    let f = cfg.join("jails/db.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, format!("base = \"15.0-RELEASE\"\n{text}")).unwrap();
    jailctl(&s, &cfg)
        .args(["up", "db"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--recreate"));
    let before = history(&s).len();
    jailctl(&s, &cfg)
        .args(["up", "db", "--recreate"])
        .assert()
        .success();
    let run: Vec<String> = history(&s)[before..].iter().map(line).collect();
    assert!(
        run.contains(
            &"zfs rename zroot/jailctl/jails/db zroot/jailctl/jails/db.retired".to_string()
        ),
        "{run:?}"
    );
    assert!(
        run.contains(&"zfs destroy -r zroot/jailctl/jails/db.retired".to_string()),
        "{run:?}"
    );
    assert!(
        !run.iter()
            .any(|l| l.contains("volumes/db/pgdata") && l.starts_with("zfs destroy"))
    );
    let list = list_json(&s, &cfg);
    let db = list.iter().find(|j| j["name"] == "db").unwrap();
    assert_eq!(db["state"], "running");
    assert_eq!(
        db["base"],
        "zroot/jailctl/bases/15.0-RELEASE@20260301-101010"
    );
    assert_eq!(db["up_to_date"], true);
}

#[test]
fn restart_dry_run_prints_the_stop_and_the_start() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    jailctl(&s, &cfg).args(["up", "cache"]).assert().success();
    let before = history(&s).len();
    let out = jailctl(&s, &cfg)
        .args(["restart", "cache", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let stop = text.find("/usr/sbin/jail -f /var/run/jailctl/cache.conf -r cache");
    let start = text.find("/usr/sbin/jail -f /var/run/jailctl/cache.conf -c cache");
    assert!(stop.is_some() && start.is_some() && stop < start, "{text}");
    assert!(text.contains("/usr/bin/cpuset -l 1 -j cache"), "{text}");
    assert!(!history(&s)[before..].iter().any(mutating));
    let jid = |s: &Path| {
        list_json(s, &cfg)
            .iter()
            .find(|j| j["name"] == "cache")
            .unwrap()["jid"]
            .as_i64()
    };
    let old = jid(&s);
    jailctl(&s, &cfg)
        .args(["restart", "cache"])
        .assert()
        .success();
    assert_ne!(jid(&s), old);
    assert_eq!(states(&list_json(&s, &cfg))["cache"], "running");
}

#[test]
fn a_dying_jail_is_listed_as_such_and_up_waits_for_it() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    std::fs::create_dir_all(s.join("root/jails/cache")).unwrap();
    // A VNET jail removed by hand stays dying for a while (jls -d shows it); long enough
    // here that `list` still sees it.
    std::fs::write(s.join("faults.toml"), "dying_commands = 12\n").unwrap();
    sim(
        &s,
        &[
            "jail",
            "-c",
            "name=cache",
            "path=/jails/cache",
            "vnet=new",
            "persist",
        ],
    );
    sim(&s, &["jail", "-r", "cache"]);
    assert_eq!(states(&list_json(&s, &cfg))["cache"], "dying");
    // up waits for it (bounded) and starts the jail, over it if it were still dying.
    jailctl(&s, &cfg).args(["up", "cache"]).assert().success();
    assert_eq!(states(&list_json(&s, &cfg))["cache"], "running");
    let run: Vec<String> = history(&s).iter().map(line).collect();
    let create = run
        .iter()
        .rposition(|l| l.starts_with("jail -f") && l.ends_with("-c cache"))
        .expect("cache started");
    assert!(
        run[..create].iter().any(|l| l == "jls -d -j cache jid"),
        "up did not wait for the dying jail: {run:#?}"
    );
}

#[test]
fn mount_points_are_made_without_following_links_planted_in_the_root() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    std::fs::write(
        cfg.join("jails/m.toml"),
        "hostname = \"m.example.org\"\n[network]\nmode = \"inherit\"\n\n[[mounts]]\nsource = \"/srv/a\"\ntarget = \"/mnt/data/a\"\n",
    )
    .unwrap();
    jailctl(&s, &cfg).args(["up", "m"]).assert().success();
    jailctl(&s, &cfg).args(["down", "m"]).assert().success();
    // While it was running, the jail's root user replaced /mnt/data with a link to a host
    // directory: making the mount point through it would create /srv/evil/a on the host.
    let root = s.join("root");
    let jr = root.join("usr/local/jails/m");
    std::fs::remove_dir_all(jr.join("mnt/data")).unwrap();
    std::fs::create_dir_all(root.join("srv/evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../srv/evil", jr.join("mnt/data")).unwrap();
    let before = host_state(&s);
    let out = jailctl(&s, &cfg).args(["up", "m"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    // Without miette's line wrapping.
    let flat: String = err
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect();
    assert!(flat.contains("/usr/local/jails/m/mnt/data/a"), "{err}");
    assert!(flat.contains("symboliclink"), "{err}");
    assert!(
        !root.join("srv/evil/a").exists(),
        "created through the link"
    );
    let after = host_state(&s);
    assert_eq!(before.0, after.0, "the host changed");
    assert_eq!(before.1, after.1, "files changed");
}

/// `-v` tells the run step by step, each line under the jail and the step number it belongs
/// to; `-vv` adds each operation.
#[test]
fn verbose_up_tells_each_step_under_its_jail() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    let run = |v: &str| {
        let out = Command::cargo_bin("jailctl")
            .unwrap()
            .env_remove("JAILCTL_SIM_FAULTS")
            .env_remove("JAILCTL_SIM_LATENCY")
            .env_remove("JAILCTL_LOG")
            .args([v, "--simulate"])
            .arg(&s)
            .arg("--config-dir")
            .arg(&cfg)
            .args(["up", "resolver"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let err = run("-v");
    let steps: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("apply{jail=resolver step="))
        .collect();
    assert!(
        steps
            .iter()
            .any(|l| l.contains("step=1}") && l.contains("clone")),
        "{err}"
    );
    assert!(steps.len() >= 3, "{err}");
    assert!(!err.contains(" run "), "operations are -vv only:\n{err}");
    jailctl(&s, &cfg)
        .args(["down", "resolver"])
        .assert()
        .success();
    let err = run("-vv");
    assert!(
        err.lines()
            .any(|l| l.contains("apply{jail=resolver step=") && l.contains("run /usr/sbin/jail")),
        "{err}"
    );
}
