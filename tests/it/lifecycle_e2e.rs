//! The lifecycle end to end on the strict simulator, through the real binary: `up` of the
//! shipped examples, `list --json`, an idempotent second `up`, a live limit change, `down`,
//! `destroy`; then fault injection on every mutating step of `up`, `down` and `destroy` of a
//! representative jail, with the host's state compared before and after.

use assert_cmd::Command;
use jailctl_sim::{HistoryEntry, SimConfig, SimHost, SimState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn jailctl(sim: &Path, config: &Path) -> Command {
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_LATENCY")
        .env_remove("JAILCTL_SIM_REAL_ZFS")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .arg("-q")
        .arg("--simulate")
        .arg(sim)
        .arg("--config-dir")
        .arg(config);
    c
}

/// Run a `jailctl sim TOOL ARGS...` command that must succeed.
pub fn sim(simdir: &Path, args: &[&str]) {
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .arg("-q")
        .arg("--simulate")
        .arg(simdir)
        .arg("sim")
        .args(args)
        .assert()
        .success();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_dir(&e.path(), &t);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &t).unwrap();
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A simulated host with base `14.3-RELEASE` (a dataset holding the directories a jail
/// needs, snapshotted under a timestamp name as `jailctl base create` does) and the host
/// directories the examples mount. The base is made with `jailctl sim zfs` commands: the
/// distribution-set path of `jailctl base create` is covered by tests/it/base.rs.
pub fn host_with_base(simdir: &Path) {
    base_only(simdir);
    with_layout(simdir);
}

/// [`host_with_base`] without the rest of the host layout: the base's dataset (and the
/// parents `zfs create -p` made for it) and nothing for jails yet, as a host whose base was
/// made by hand. The first `up` or `boot` must lay out the rest.
pub fn base_only(simdir: &Path) {
    let mp = "/usr/local/jails/.bases/14.3-RELEASE";
    sim(
        simdir,
        &[
            "zfs",
            "create",
            "-p",
            "-o",
            &format!("mountpoint={mp}"),
            "zroot/jailctl/bases/14.3-RELEASE",
        ],
    );
    let root = simdir.join("root");
    for d in ["dev", "etc", "tmp", "var/run", "usr/local"] {
        std::fs::create_dir_all(root.join(mp.trim_start_matches('/')).join(d)).unwrap();
    }
    std::fs::write(
        root.join(mp.trim_start_matches('/')).join("etc/rc.conf"),
        "",
    )
    .unwrap();
    // The accounts of a FreeBSD base that provisioning's chown resolves in the jail.
    std::fs::write(
        root.join(mp.trim_start_matches('/')).join("etc/passwd"),
        "root:*:0:0:Charlie &:/root:/bin/sh\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(
        root.join(mp.trim_start_matches('/')).join("etc/group"),
        "wheel:*:0:root\nwww:*:80:\n",
    )
    .unwrap();
    sim(
        simdir,
        &[
            "zfs",
            "snapshot",
            "zroot/jailctl/bases/14.3-RELEASE@20260101-000000",
        ],
    );
    for d in ["srv/www/example.org", "srv/a", "srv/b"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
}

/// The rest of the host layout that `base create` leaves (the parents of jail roots and
/// volumes, the mount root, the runtime directories), so a test's "before" is a prepared
/// host. A fresh host is tested in `shared_layout`.
pub fn with_layout(simdir: &Path) {
    for ds in ["zroot/jailctl/jails", "zroot/jailctl/volumes"] {
        sim(simdir, &["zfs", "create", "-o", "mountpoint=none", ds]);
    }
    for d in [
        "usr/local/jails",
        "var/run/jailctl",
        "var/db/jailctl/journal",
    ] {
        std::fs::create_dir_all(simdir.join("root").join(d)).unwrap();
    }
}

pub fn examples_config(to: &Path) {
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"), to);
}

pub fn history(simdir: &Path) -> Vec<HistoryEntry> {
    SimHost::open_with(simdir, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap()
        .history
}

/// `TOOL ARG...` as the fault rules see it.
pub fn line(h: &HistoryEntry) -> String {
    let tool = Path::new(&h.cmd.program)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    std::iter::once(tool)
        .chain(h.cmd.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Commands that change the host (everything but the read-only queries jailctl makes).
pub fn mutating(h: &HistoryEntry) -> bool {
    let l = line(h);
    let ro = [
        "zfs get ",
        "zpool list ",
        "kldstat ",
        "zfs list ",
        "jls ",
        "sysctl -n ",
        "rctl jail:",
        "rctl -u ",
        "ifconfig -l",
        "mount -p",
    ];
    // pfctl: its `-s` and `-T show` forms only read (the seam's own classification).
    let pf_read = h.cmd.program == jailctl::host::tools::PFCTL
        && jailctl::host::readonly::is_read_only(&h.cmd);
    !ro.iter().any(|p| l.starts_with(p)) && l != "rctl" && !pf_read
}

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

/// Everything the lifecycle can change, without the command history and fault counters.
pub fn host_state(simdir: &Path) -> (Value, BTreeMap<PathBuf, Option<Vec<u8>>>) {
    let st: SimState = SimHost::open_with(simdir, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    // Counters that move forward on a real host too (ZFS txg, the kernel's last jid) and the
    // log of hooks run are history, not state.
    let zfs = serde_json::to_value(&st.zfs).unwrap();
    let jail = serde_json::to_value(&st.jail).unwrap();
    // cpusets by jail name: the kernel keys them by jid, which a restart changes.
    let names: BTreeMap<i32, String> = st
        .jail
        .jails
        .values()
        .map(|j| (j.jid, j.name.clone()))
        .collect();
    let cpusets: BTreeMap<String, Vec<u32>> = st
        .cpuset
        .masks
        .iter()
        .map(|(jid, m)| {
            let n = names
                .get(jid)
                .cloned()
                .unwrap_or_else(|| format!("jid {jid}"));
            (n, m.clone())
        })
        .collect();
    let v = serde_json::json!({
        "zfs": {"datasets": zfs["datasets"], "pools": zfs["pools"]},
        "jail": jail["jails"],
        "rctl": st.rctl,
        "cpuset": cpusets,
        "net": st.net,
        "mount": st.mount,
        "sysctl": st.sysctl,
    });
    let mut files = BTreeMap::new();
    for dir in [
        "usr/local/jails",
        "var/run/jailctl",
        "var/db/jailctl",
        "srv",
    ] {
        walk(
            &simdir.join("root").join(dir),
            &simdir.join("root"),
            &mut files,
        );
    }
    (v, files)
}

fn walk(p: &Path, base: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return;
    };
    let rel = p.strip_prefix(base).unwrap().to_path_buf();
    if md.is_dir() {
        // Directories are compared through the files in them: mounting a dataset makes its
        // mount point's parents and destroying it leaves them empty, as ZFS does, and
        // jailctl's own lock directory stays.
        for e in std::fs::read_dir(p).unwrap() {
            walk(&e.unwrap().path(), base, out);
        }
    } else if md.is_symlink() {
        // A link counts as its target, never followed.
        let to = std::fs::read_link(p).unwrap();
        out.insert(rel, Some(format!("-> {}", to.display()).into_bytes()));
    } else if !(rel.starts_with("var/db/jailctl/locks")
        && rel.extension().is_some_and(|e| e == "lock"))
    {
        // Lock files stay (flock needs a file); everything else counts.
        out.insert(rel, Some(std::fs::read(p).unwrap()));
    }
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
