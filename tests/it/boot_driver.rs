//! The boot scheduler driving the real lifecycle operations ([`OpsDriver`]) on the strict
//! simulated host: dependency order read back from the simulator's command history, failures
//! contained to dependents, health gating through the simulated jexec, a hanging probe that
//! cannot hold the boot, and shutdown order with force removal. [`Fleet`] sets up a simulated
//! host with a base and a configuration directory; the rc.d tests reuse it.

use jailctl::boot::{
    self, BootGraph, BootOptions, BootOutcome, OpsDriver, ShutdownOptions, StopOutcome,
};
use jailctl::config;
use jailctl::host::{Cmd, Runner};
use jailctl_sim::faults::FaultRule;
use jailctl_sim::{SimConfig, SimHost};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A simulated host (`DIR/sim`) holding the base `14.2` (snapshot `@jailctl`, with the `dev`
/// and `etc` a jail root needs) and the parent dataset of jail roots, plus a configuration
/// directory (`DIR/cfg`) whose jails are written with [`Fleet::jail`].
pub struct Fleet {
    pub dir: tempfile::TempDir,
}

impl Fleet {
    pub fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let f = Fleet { dir };
        let host = SimHost::open_with(&f.sim(), SimConfig::default()).unwrap();
        let root = f.sim().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
        for args in [
            &[
                "create",
                "-p",
                "-o",
                "mountpoint=/usr/local/jails/.bases/14.2",
                "zroot/jailctl/bases/14.2",
            ][..],
            &["create", "zroot/jailctl/jails"],
        ] {
            host.run(&Cmd::new("/sbin/zfs", args.iter().copied()))
                .unwrap();
        }
        for d in ["dev", "etc", "bin"] {
            std::fs::create_dir_all(root.join("usr/local/jails/.bases/14.2").join(d)).unwrap();
        }
        host.run(&Cmd::new(
            "/sbin/zfs",
            ["snapshot", "zroot/jailctl/bases/14.2@jailctl"],
        ))
        .unwrap();
        std::fs::create_dir_all(f.cfg().join("jails")).unwrap();
        std::fs::write(
            f.cfg().join("jailctl.toml"),
            "zfs_root = \"zroot/jailctl\"\ndefault_base = \"14.2\"\n",
        )
        .unwrap();
        f
    }

    pub fn sim(&self) -> PathBuf {
        self.dir.path().join("sim")
    }

    pub fn cfg(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    /// Define a jail: `autostart`, `depends_on`, and extra TOML (e.g. a `[health]` table).
    pub fn jail(&self, name: &str, autostart: bool, deps: &[&str], extra: &str) {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        std::fs::write(
            self.cfg().join("jails").join(format!("{name}.toml")),
            format!(
                "autostart = {autostart}\ndepends_on = [{}]\n{extra}",
                deps.join(", ")
            ),
        )
        .unwrap();
    }

    pub fn host(&self, config: SimConfig) -> Arc<SimHost> {
        Arc::new(SimHost::open_with(&self.sim(), config).unwrap())
    }

    /// Names of the running (not dying) jails on the simulated host, sorted.
    pub fn running(&self) -> Vec<String> {
        let out = self.sim_output("/usr/sbin/jls", &["name"]);
        let mut v: Vec<String> = out.stdout.lines().map(String::from).collect();
        v.sort();
        v
    }

    /// Run one read-only tool command on the simulated host, without faults or latency.
    pub fn sim_output(&self, tool: &str, args: &[&str]) -> jailctl::host::Output {
        SimHost::open_with(&self.sim(), SimConfig::default())
            .unwrap()
            .output(&Cmd::new(tool, args.iter().copied()))
            .unwrap()
    }

    /// The simulator's history as display strings (`/usr/sbin/jail -f ... -c web`), with
    /// their exit status.
    pub fn history(&self) -> Vec<(String, i32)> {
        SimHost::open_with(&self.sim(), SimConfig::default())
            .unwrap()
            .snapshot()
            .unwrap()
            .history
            .iter()
            .map(|h| (h.cmd.to_string(), h.status))
            .collect()
    }
}

fn driver(f: &Fleet, config: SimConfig) -> (Arc<OpsDriver>, Vec<jailctl::config::JailSpec>) {
    let cfg = config::load(&f.cfg()).unwrap();
    let host = f.host(config);
    (
        Arc::new(OpsDriver::new(host, cfg.jails.clone(), cfg.global.clone())),
        cfg.jails,
    )
}

/// Index of the first successful history entry satisfying `pred`.
fn first(h: &[(String, i32)], pred: impl Fn(&str) -> bool) -> Option<usize> {
    h.iter().position(|(c, s)| *s == 0 && pred(c))
}

fn created(h: &[(String, i32)], name: &str) -> Option<usize> {
    let tail = format!(" -c {name}");
    first(h, |c| {
        c.starts_with("/usr/sbin/jail -f ") && c.ends_with(&tail)
    })
}

fn cloned(h: &[(String, i32)], name: &str) -> Option<usize> {
    let tail = format!(" zroot/jailctl/jails/{name}");
    first(h, |c| {
        c.starts_with("/sbin/zfs clone ") && c.ends_with(&tail)
    })
}

fn removed(h: &[(String, i32)], name: &str) -> Option<usize> {
    let tail = format!(" -r {name}");
    first(h, |c| {
        c.starts_with("/usr/sbin/jail -f ") && c.ends_with(&tail)
    })
}

/// db ← {api, cache}; api ← web; {cache, web} ← edge; lone has no edge.
fn diamond(f: &Fleet) -> Vec<(&'static str, &'static str)> {
    let edges = [
        ("api", "db"),
        ("cache", "db"),
        ("web", "api"),
        ("edge", "cache"),
        ("edge", "web"),
    ];
    for n in ["db", "api", "cache", "web", "edge", "lone"] {
        let deps: Vec<&str> = edges
            .iter()
            .filter(|(a, _)| *a == n)
            .map(|(_, b)| *b)
            .collect();
        f.jail(n, true, &deps, "");
    }
    edges.to_vec()
}

#[test]
fn boot_respects_every_edge_and_shutdown_reverses_them() {
    let f = Fleet::new();
    let edges = diamond(&f);
    let (d, specs) = driver(&f, SimConfig::default());
    let graph = BootGraph::for_boot(&specs, &[]).unwrap();
    let report = boot::boot(&graph, d.as_ref(), &BootOptions { parallelism: 3 });
    assert!(report.ok(), "{report}");
    assert_eq!(
        f.running(),
        ["api", "cache", "db", "edge", "lone", "web"],
        "every autostart jail runs"
    );
    let h = f.history();
    for (a, b) in &edges {
        let dep_up = created(&h, b).unwrap_or_else(|| panic!("{b} was never created"));
        let start = cloned(&h, a).unwrap_or_else(|| panic!("{a} was never cloned"));
        assert!(
            dep_up < start,
            "{a} began (history #{start}) before its dependency {b} was up (#{dep_up})"
        );
    }
    // Each jail was planned alone: nothing was cloned or created twice.
    for n in ["db", "api", "cache", "web", "edge", "lone"] {
        let clones = h
            .iter()
            .filter(|(c, _)| c.starts_with("/sbin/zfs clone ") && c.ends_with(&format!("/{n}")))
            .count();
        assert_eq!(clones, 1, "{n} cloned {clones} times");
    }

    let running: Vec<String> = f.running();
    let graph = BootGraph::for_shutdown(&specs, &running, &[]).unwrap();
    let before = f.history().len();
    let report = boot::shutdown(&graph, d, &ShutdownOptions::default());
    assert!(report.ok(), "{report}");
    assert!(f.running().is_empty(), "{:?}", f.running());
    let h = f.history()[before..].to_vec();
    for (a, b) in &edges {
        let dependent_down = removed(&h, a).unwrap_or_else(|| panic!("{a} never removed"));
        let dep_down = removed(&h, b).unwrap_or_else(|| panic!("{b} never removed"));
        assert!(
            dependent_down < dep_down,
            "{b} stopped (#{dep_down}) while its dependent {a} still ran (#{dependent_down})"
        );
    }
}

#[test]
fn a_failing_jail_stops_its_dependents_only() {
    let f = Fleet::new();
    diamond(&f);
    let config = SimConfig {
        faults: vec![FaultRule {
            pattern: "jail -f * -c cache".into(),
            nth: 1,
            count: 1,
            status: 1,
            stderr: "jail: cache: simulated failure\n".into(),
        }],
        ..SimConfig::default()
    };
    let (d, specs) = driver(&f, config);
    let graph = BootGraph::for_boot(&specs, &[]).unwrap();
    let report = boot::boot(&graph, d.as_ref(), &BootOptions { parallelism: 2 });
    assert!(!report.ok());
    match report.outcome("cache") {
        Some(BootOutcome::Failed { reason }) => {
            assert!(reason.contains("simulated failure"), "{reason}")
        }
        o => panic!("cache: {o:?}"),
    }
    match report.outcome("edge") {
        Some(BootOutcome::NotStarted { dependency, .. }) => assert_eq!(dependency, "cache"),
        o => panic!("edge: {o:?}"),
    }
    assert_eq!(f.running(), ["api", "db", "lone", "web"]);
    let h = f.history();
    assert_eq!(
        cloned(&h, "edge"),
        None,
        "a skipped dependent is not touched"
    );
    // The failed start was undone: no root left for cache.
    let ds = f.sim_output(
        "/sbin/zfs",
        &["list", "-H", "-o", "name", "zroot/jailctl/jails/cache"],
    );
    assert_eq!(
        ds.status, 1,
        "cache's root outlived its failed start: {}",
        ds.stdout
    );
}

#[test]
fn health_gating_uses_the_simulated_jexec() {
    let f = Fleet::new();
    f.jail("db", true, &[], "[health]\ncommand = [\"hostname\"]\n");
    f.jail(
        "web",
        true,
        &[],
        "[health]\ncommand = [\"/usr/local/bin/probe\"]\ninterval = \"10ms\"\nretries = 2\n",
    );
    f.jail("app", true, &["web"], "");
    let (d, specs) = driver(&f, SimConfig::default());
    let graph = BootGraph::for_boot(&specs, &[]).unwrap();
    let mut probes = BTreeMap::<String, u32>::new();
    let report = boot::boot_with(
        &graph,
        d.as_ref(),
        &BootOptions { parallelism: 4 },
        &mut |e| {
            if let boot::BootEvent::Probe { name, .. } = e {
                *probes.entry(name.clone()).or_default() += 1;
            }
        },
    );
    assert!(matches!(report.outcome("db"), Some(BootOutcome::Up { .. })));
    assert!(
        matches!(report.outcome("web"), Some(BootOutcome::Failed { .. })),
        "{report}"
    );
    match report.outcome("app") {
        Some(BootOutcome::NotStarted { dependency, .. }) => assert_eq!(dependency, "web"),
        o => panic!("app: {o:?}"),
    }
    assert_eq!(probes.get("web"), Some(&2), "retries = 2 probes");
    assert_eq!(probes.get("db"), Some(&1));
    // The probes ran through jexec in the jail, and failed there as the model says.
    let h = f.history();
    let web_probes = h
        .iter()
        .filter(|(c, _)| c == "/usr/sbin/jexec web /usr/local/bin/probe")
        .collect::<Vec<_>>();
    assert_eq!(web_probes.len(), 2);
    assert!(web_probes.iter().all(|(_, s)| *s == 1));
    assert_eq!(cloned(&h, "app"), None);
}

#[test]
fn a_probe_that_does_not_answer_cannot_hold_the_boot() {
    let f = Fleet::new();
    f.jail(
        "slow",
        true,
        &[],
        "[health]\ncommand = [\"true\"]\ntimeout = \"200ms\"\ninterval = \"10ms\"\nretries = 1\n",
    );
    f.jail("other", true, &[], "");
    let mut latency = BTreeMap::new();
    // The probe would answer after 10 minutes: a boot that waited for it could not finish
    // within the generous limit below, however loaded the machine.
    latency.insert("jexec".to_string(), Duration::from_secs(600));
    let (d, specs) = driver(
        &f,
        SimConfig {
            latency,
            ..SimConfig::default()
        },
    );
    let graph = BootGraph::for_boot(&specs, &[]).unwrap();
    let began = Instant::now();
    let report = boot::boot(&graph, d.as_ref(), &BootOptions { parallelism: 2 });
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(120),
        "boot waited {took:?} for a 10 min probe with a 200 ms timeout"
    );
    match report.outcome("slow") {
        Some(BootOutcome::Failed { reason }) => {
            assert!(reason.contains("did not answer within"), "{reason}")
        }
        o => panic!("slow: {o:?}"),
    }
    assert!(matches!(
        report.outcome("other"),
        Some(BootOutcome::Up { .. })
    ));
}

#[test]
fn a_failed_orderly_stop_is_forced_with_jail_r_and_rules_removed() {
    let f = Fleet::new();
    f.jail("db", true, &[], "[limits]\nmemory = \"256M\"\n");
    f.jail("web", true, &["db"], "");
    let (d, specs) = driver(&f, SimConfig::default());
    let graph = BootGraph::for_boot(&specs, &[]).unwrap();
    assert!(boot::boot(&graph, d.as_ref(), &BootOptions { parallelism: 2 }).ok());
    drop(d);
    let config = SimConfig {
        faults: vec![FaultRule {
            pattern: "jail -f * -r db".into(),
            nth: 1,
            count: 1,
            status: 1,
            stderr: "jail: db: simulated stop failure\n".into(),
        }],
        ..SimConfig::default()
    };
    let (d, specs) = driver(&f, config);
    let graph = BootGraph::for_shutdown(&specs, &f.running(), &["db".to_string()]).unwrap();
    let report = boot::shutdown(&graph, d, &ShutdownOptions::default());
    assert!(matches!(
        report.outcome("web"),
        Some(StopOutcome::Stopped { .. })
    ));
    match report.outcome("db") {
        Some(StopOutcome::Forced { reason }) => {
            assert!(reason.contains("simulated stop failure"), "{reason}")
        }
        o => panic!("db: {o:?}"),
    }
    assert!(f.running().is_empty());
    let h = f.history();
    assert!(first(&h, |c| c == "/usr/sbin/jail -R db").is_some());
    let rules = f.sim_output("/usr/bin/rctl", &["jail:db"]);
    assert_eq!(rules.stdout.trim(), "", "db's rctl rules outlived it");
}

fn jailctl(f: &Fleet, args: &[&str]) -> std::process::Output {
    crate::support::jailctl_loud(&f.sim(), &f.cfg())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn boot_and_shutdown_commands_report_progress_and_refuse_bad_input() {
    let f = Fleet::new();
    f.jail("db", false, &[], "");
    let o = jailctl(&f, &["boot"]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("no jail to start"));
    let o = jailctl(&f, &["boot", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot boot") && err.contains("nosuch"),
        "{err}"
    );
    let o = jailctl(&f, &["boot", "--parallel", "0", "db"]);
    assert_eq!(o.status.code(), Some(2), "clap refuses --parallel 0");
    let o = jailctl(&f, &["boot", "--parallel", "1", "db"]);
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("db: starting") && out.contains("db: up"),
        "{out}"
    );
    let o = jailctl(&f, &["shutdown", "--timeout", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a duration"));
    let o = jailctl(&f, &["shutdown", "--timeout", "10s"]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("db: stopped"));
    assert!(f.running().is_empty());
    let o = jailctl(&f, &["shutdown"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("no running jail to stop"));
}
