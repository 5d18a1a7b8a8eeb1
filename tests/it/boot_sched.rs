//! Scheduler tests for `jailctl::boot`: ordering, parallelism bound, work conservation, failure
//! propagation, health gating, shutdown order and the shutdown budget. A scripted driver
//! records a global sequence number for every call so ordering is checked without clocks.

use jailctl::boot::*;
use jailctl::config::HealthCheck;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default, Clone)]
struct Script {
    start_latency: Duration,
    start_error: Option<String>,
    /// Results of successive health probes; after the list, the last one repeats.
    probes: Vec<bool>,
    stop_latency: Duration,
    stop_error: Option<String>,
    /// The stop blocks until the test opens [`Driver::gate`] (a stop that hangs).
    stop_hangs: bool,
}

/// (starts wanted in flight, (starts so far, someone gave up), wake-up)
type Rendezvous = (usize, Mutex<(usize, bool)>, Condvar);

#[derive(Default)]
struct Driver {
    script: HashMap<String, Script>,
    seq: AtomicU64,
    /// name → (seq when start began, seq when it was up and healthy)
    log: Mutex<HashMap<String, (u64, u64)>>,
    starts: Mutex<Vec<String>>,
    probes: Mutex<HashMap<String, usize>>,
    stops: Mutex<HashMap<String, (u64, u64)>>,
    forced: Mutex<Vec<String>>,
    /// name → seq when its force-stop returned
    forced_at: Mutex<HashMap<String, u64>>,
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// When set: every start waits until this many starts are in flight (or 30 s pass: a
    /// generous limit so a loaded machine cannot make it give up; only a bug reaches it).
    rendezvous: Option<Rendezvous>,
    /// Opened by the test to release stops that hang (`Script::stop_hangs`).
    gate: (Mutex<bool>, Condvar),
}

impl Driver {
    fn new(script: HashMap<String, Script>) -> Self {
        Driver {
            script,
            ..Default::default()
        }
    }
    fn tick(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }
    fn enter(&self) {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
    fn sc(&self, name: &str) -> Script {
        self.script.get(name).cloned().unwrap_or_default()
    }
}

impl JailDriver for Driver {
    fn start(&self, name: &str) -> Result<(), DriverError> {
        self.enter();
        let begin = self.tick();
        self.starts.lock().unwrap().push(name.to_string());
        if let Some((want, m, cv)) = &self.rendezvous {
            let mut g = m.lock().unwrap();
            g.0 += 1;
            cv.notify_all();
            let t0 = Instant::now();
            while g.0 < *want && t0.elapsed() < Duration::from_secs(30) {
                g = cv.wait_timeout(g, Duration::from_millis(50)).unwrap().0;
            }
            if g.0 < *want {
                g.1 = true;
            }
        }
        let s = self.sc(name);
        std::thread::sleep(s.start_latency);
        let end = self.tick();
        self.log
            .lock()
            .unwrap()
            .insert(name.to_string(), (begin, end));
        self.leave();
        match s.start_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
    fn healthy(&self, name: &str) -> Result<bool, DriverError> {
        let mut p = self.probes.lock().unwrap();
        let k = p.entry(name.to_string()).or_default();
        *k += 1;
        let s = self.sc(name);
        let r = s
            .probes
            .get(*k - 1)
            .or(s.probes.last())
            .copied()
            .unwrap_or(true);
        // The jail counts as up only after a passing probe: move its "up" mark here.
        if r {
            let t = self.tick();
            if let Some(e) = self.log.lock().unwrap().get_mut(name) {
                e.1 = t;
            }
        }
        Ok(r)
    }
    fn stop(&self, name: &str) -> Result<(), DriverError> {
        self.enter();
        let begin = self.tick();
        let s = self.sc(name);
        std::thread::sleep(s.stop_latency);
        if s.stop_hangs {
            let (open, cv) = &self.gate;
            let _open = cv.wait_while(open.lock().unwrap(), |o| !*o).unwrap();
        }
        let end = self.tick();
        self.stops
            .lock()
            .unwrap()
            .insert(name.to_string(), (begin, end));
        self.leave();
        match s.stop_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
    fn force_stop(&self, name: &str) -> Result<(), DriverError> {
        self.forced.lock().unwrap().push(name.to_string());
        let t = self.tick();
        self.forced_at.lock().unwrap().insert(name.to_string(), t);
        Ok(())
    }
}

fn entry(name: &str, deps: &[&str]) -> GraphEntry {
    GraphEntry {
        name: name.into(),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        health: None,
    }
}

fn health(retries: u32) -> HealthCheck {
    HealthCheck {
        command: vec!["/usr/bin/true".into()],
        interval: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
        retries,
    }
}

fn opts(p: usize) -> BootOptions {
    BootOptions { parallelism: p }
}

/// Random DAG: jail i may depend on any jail j < i.
fn dag() -> impl Strategy<Value = (Vec<Vec<usize>>, usize, Vec<u8>, Vec<u8>)> {
    (1usize..24).prop_flat_map(|n| {
        (
            proptest::collection::vec(
                proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
                n,
            )
            .prop_map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(i, ix)| {
                        let mut d: Vec<usize> = if i == 0 {
                            vec![]
                        } else {
                            ix.iter().map(|x| x.index(i)).collect()
                        };
                        d.sort();
                        d.dedup();
                        d
                    })
                    .collect::<Vec<_>>()
            }),
            1usize..6,
            proptest::collection::vec(0u8..3, n),
            proptest::collection::vec(0u8..3, n),
        )
    })
}

fn name(i: usize) -> String {
    format!("j{i}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every jail starts after all its dependencies finished healthy; the bound holds.
    #[test]
    fn boot_respects_every_edge_and_the_bound((deps, p, lat, fails) in dag()) {
        let entries: Vec<GraphEntry> = deps.iter().enumerate().map(|(i, d)| GraphEntry {
            name: name(i),
            depends_on: d.iter().map(|&j| name(j)).collect(),
            // Some jails have a health check that fails once or twice before passing.
            health: (fails[i] > 0).then(|| health(3)),
        }).collect();
        let script = (0..deps.len()).map(|i| (name(i), Script {
            start_latency: Duration::from_micros(300 * lat[i] as u64),
            probes: (0..fails[i]).map(|k| k + 1 == fails[i]).collect(),
            ..Default::default()
        })).collect();
        let d = Driver::new(script);
        let mut events = Vec::new();
        let report = boot_with(&BootGraph::new(entries), &d, &opts(p), &mut |e| events.push(e.clone()));
        prop_assert!(report.ok(), "{report}");
        // The event stream tells the same story, in order: a dependency is Up before its
        // dependent is Starting.
        let at = |want: &dyn Fn(&BootEvent) -> bool| events.iter().position(want).unwrap();
        for (i, ds) in deps.iter().enumerate() {
            let starting = at(&|e| matches!(e, BootEvent::Starting { name: n } if *n == name(i)));
            for &j in ds {
                let up = at(&|e| matches!(e, BootEvent::Up { name: n, .. } if *n == name(j)));
                prop_assert!(up < starting);
            }
        }
        let log = d.log.lock().unwrap();
        for (i, ds) in deps.iter().enumerate() {
            for &j in ds {
                prop_assert!(log[&name(j)].1 < log[&name(i)].0, "j{i} started before j{j} was healthy");
            }
        }
        prop_assert!(d.max_active.load(Ordering::SeqCst) <= p);
        prop_assert_eq!(d.starts.lock().unwrap().len(), deps.len());
    }

    /// A jail stops only after every jail depending on it stopped; the bound holds.
    #[test]
    fn shutdown_reverses_every_edge((deps, p, lat, _f) in dag()) {
        let entries: Vec<GraphEntry> = deps.iter().enumerate().map(|(i, d)| GraphEntry {
            name: name(i),
            depends_on: d.iter().map(|&j| name(j)).collect(),
            health: None,
        }).collect();
        let script = (0..deps.len()).map(|i| (name(i), Script {
            stop_latency: Duration::from_micros(300 * lat[i] as u64),
            ..Default::default()
        })).collect();
        let d = Arc::new(Driver::new(script));
        let o = ShutdownOptions { parallelism: p, ..ShutdownOptions::default() };
        let report = shutdown(&BootGraph::new(entries), d.clone(), &o);
        prop_assert!(report.ok(), "{report}");
        let stops = d.stops.lock().unwrap();
        for (i, ds) in deps.iter().enumerate() {
            for &j in ds {
                prop_assert!(stops[&name(i)].1 < stops[&name(j)].0, "j{j} stopped before its dependent j{i}");
            }
        }
        prop_assert!(d.max_active.load(Ordering::SeqCst) <= p);
    }
}

#[test]
fn boot_fills_every_slot_while_jails_are_ready() {
    // Six independent jails, four slots: each start waits until four starts are in flight.
    // A scheduler that left a slot idle would make them time out.
    let mut d = Driver::new(HashMap::new());
    d.rendezvous = Some((4, Mutex::new((0, false)), Condvar::new()));
    let g = BootGraph::new((0..6).map(|i| entry(&name(i), &[])).collect());
    let report = boot(&g, &d, &opts(4));
    assert!(report.ok(), "{report}");
    let (_, m, _) = d.rendezvous.as_ref().unwrap();
    assert!(
        !m.lock().unwrap().1,
        "a start waited in vain for 4 concurrent starts"
    );
    assert_eq!(d.max_active.load(Ordering::SeqCst), 4);
}

#[test]
fn a_failure_skips_its_dependents_transitively_and_spares_the_rest() {
    let script = HashMap::from([(
        "db".to_string(),
        Script {
            start_error: Some("zfs clone failed: dataset is busy".into()),
            ..Default::default()
        },
    )]);
    let d = Driver::new(script);
    let g = BootGraph::new(vec![
        entry("db", &[]),
        entry("app", &["db"]),
        entry("web", &["app", "cache"]),
        entry("cache", &[]),
        entry("dns", &[]),
    ]);
    let mut events = Vec::new();
    let report = boot_with(&g, &d, &opts(2), &mut |e| events.push(e.clone()));
    assert!(!report.ok());
    assert_eq!(
        report.failed(),
        vec![("db", "zfs clone failed: dataset is busy")]
    );
    for n in ["app", "web"] {
        assert_eq!(
            report.outcome(n),
            Some(&BootOutcome::NotStarted {
                dependency: "db".into(),
                reason: "zfs clone failed: dataset is busy".into()
            })
        );
    }
    assert!(matches!(
        report.outcome("cache"),
        Some(BootOutcome::Up { .. })
    ));
    assert!(matches!(
        report.outcome("dns"),
        Some(BootOutcome::Up { .. })
    ));
    let started = d.starts.lock().unwrap().clone();
    assert!(!started.contains(&"app".to_string()) && !started.contains(&"web".to_string()));
    let text = report.to_string();
    assert!(
        text.contains("web: not started: dependency db failed: zfs clone failed"),
        "{text}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, BootEvent::Skipped { name, .. } if name == "web"))
    );
}

#[test]
fn a_dependent_waits_for_health_retries() {
    let script = HashMap::from([(
        "db".to_string(),
        Script {
            probes: vec![false, false, true],
            ..Default::default()
        },
    )]);
    let d = Driver::new(script);
    let mut db = entry("db", &[]);
    db.health = Some(health(3));
    let g = BootGraph::new(vec![db, entry("web", &["db"])]);
    let report = boot(&g, &d, &opts(4));
    assert!(report.ok(), "{report}");
    assert_eq!(d.probes.lock().unwrap()["db"], 3);
    let log = d.log.lock().unwrap();
    assert!(log["db"].1 < log["web"].0);
}

#[test]
fn a_dependent_never_starts_when_health_never_passes() {
    let script = HashMap::from([(
        "db".to_string(),
        Script {
            probes: vec![false],
            ..Default::default()
        },
    )]);
    let d = Driver::new(script);
    let mut db = entry("db", &[]);
    db.health = Some(health(4));
    let g = BootGraph::new(vec![db, entry("web", &["db"])]);
    let report = boot(&g, &d, &opts(4));
    assert_eq!(d.probes.lock().unwrap()["db"], 4);
    let (_, reason) = report.failed()[0];
    assert!(
        reason.contains("never healthy") && reason.contains("4 probe"),
        "{reason}"
    );
    assert!(
        matches!(report.outcome("web"), Some(BootOutcome::NotStarted { dependency, .. }) if dependency == "db")
    );
    assert_eq!(*d.starts.lock().unwrap(), vec!["db".to_string()]);
}

#[test]
fn undefined_dependencies_and_cycles_fail_only_their_jails() {
    let d = Driver::new(HashMap::new());
    let g = BootGraph::new(vec![
        entry("a", &["ghost"]),
        entry("b", &["a"]),
        entry("c", &["d"]),
        entry("d", &["c"]),
        entry("e", &["d"]),
        entry("f", &[]),
    ]);
    let report = boot(&g, &d, &opts(2));
    let BootOutcome::Failed { reason } = report.outcome("a").unwrap() else {
        panic!("{report}")
    };
    assert!(reason.contains("`ghost`, which is not defined"), "{reason}");
    assert!(
        matches!(report.outcome("b"), Some(BootOutcome::NotStarted { dependency, .. }) if dependency == "a")
    );
    for n in ["c", "d"] {
        let Some(BootOutcome::Failed { reason }) = report.outcome(n) else {
            panic!("{report}")
        };
        assert!(reason.contains("dependency cycle"), "{reason}");
    }
    assert!(matches!(
        report.outcome("e"),
        Some(BootOutcome::NotStarted { .. })
    ));
    assert!(matches!(report.outcome("f"), Some(BootOutcome::Up { .. })));
    assert_eq!(*d.starts.lock().unwrap(), vec!["f".to_string()]);
}

#[test]
fn a_panicking_driver_fails_that_jail_only() {
    struct Boom;
    impl JailDriver for Boom {
        fn start(&self, name: &str) -> Result<(), DriverError> {
            if name == "bad" {
                panic!("driver exploded");
            }
            Ok(())
        }
        fn healthy(&self, _: &str) -> Result<bool, DriverError> {
            Ok(true)
        }
        fn stop(&self, _: &str) -> Result<(), DriverError> {
            Ok(())
        }
        fn force_stop(&self, _: &str) -> Result<(), DriverError> {
            Ok(())
        }
    }
    let g = BootGraph::new(vec![entry("bad", &[]), entry("good", &[])]);
    let report = boot(&g, &Boom, &opts(2));
    assert!(report.failed()[0].1.contains("driver exploded"));
    assert!(matches!(
        report.outcome("good"),
        Some(BootOutcome::Up { .. })
    ));
}

/// A driver's error reaches the boot report with its fix: the message and the help apart in
/// `DriverError`, both in the report's line.
#[test]
fn a_driver_errors_help_reaches_the_report() {
    struct Refuses;
    impl JailDriver for Refuses {
        fn start(&self, _: &str) -> Result<(), DriverError> {
            Err(DriverError {
                message: "cannot clone the root".into(),
                help: Some("free space in the pool".into()),
            })
        }
        fn healthy(&self, _: &str) -> Result<bool, DriverError> {
            Ok(true)
        }
        fn stop(&self, _: &str) -> Result<(), DriverError> {
            Ok(())
        }
        fn force_stop(&self, _: &str) -> Result<(), DriverError> {
            Ok(())
        }
    }
    let g = BootGraph::new(vec![entry("web", &[])]);
    let report = boot(&g, &Refuses, &opts(1));
    let why = &report.failed()[0].1;
    assert!(why.contains("cannot clone the root"), "{why}");
    assert!(why.contains("free space in the pool"), "{why}");
}

#[test]
fn shutdown_forces_what_does_not_stop_within_the_budget() {
    let script = HashMap::from([(
        "app".to_string(),
        Script {
            stop_hangs: true,
            ..Default::default()
        },
    )]);
    let d = Arc::new(Driver::new(script));
    let g = BootGraph::new(vec![
        entry("db", &[]),
        entry("app", &["db"]),
        entry("dns", &[]),
    ]);
    // A budget of seconds: dns's stop returns at once, so it is done long before the budget
    // runs out even on a loaded machine; app's stop never returns until the gate opens.
    let o = ShutdownOptions {
        parallelism: 4,
        timeout: Duration::from_secs(3),
        force_timeout: Duration::from_secs(30),
    };
    let mut events = Vec::new();
    let report = shutdown_with(&g, d.clone(), &o, &mut |e| events.push(e.clone()));
    // The report came back while app's stop was still blocked: it did not wait for it.
    assert!(
        !d.stops.lock().unwrap().contains_key("app"),
        "app's hung stop returned before the report"
    );
    {
        let (open, cv) = &d.gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    assert!(matches!(
        report.outcome("dns"),
        Some(StopOutcome::Stopped { .. })
    ));
    // app hung; db was still waiting for it: both forced, neither got an orderly stop of db.
    for n in ["app", "db"] {
        let Some(StopOutcome::Forced { reason }) = report.outcome(n) else {
            panic!("{report}")
        };
        assert!(reason.contains("shutdown budget"), "{reason}");
    }
    let mut forced = d.forced.lock().unwrap().clone();
    forced.sort();
    assert_eq!(forced, vec!["app", "db"]);
    assert!(!d.stops.lock().unwrap().contains_key("db"));
    assert!(!report.ok());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ShutdownEvent::Forced { name } if name == "app"))
    );
}

#[test]
fn a_failed_stop_is_forced_and_releases_its_dependencies() {
    let script = HashMap::from([(
        "app".to_string(),
        Script {
            stop_error: Some("jail: app: exec.stop failed".into()),
            ..Default::default()
        },
    )]);
    let d = Arc::new(Driver::new(script));
    let g = BootGraph::new(vec![entry("db", &[]), entry("app", &["db"])]);
    let report = shutdown(&g, d.clone(), &ShutdownOptions::default());
    let Some(StopOutcome::Forced { reason }) = report.outcome("app") else {
        panic!("{report}")
    };
    assert!(reason.contains("exec.stop failed"), "{reason}");
    assert!(matches!(
        report.outcome("db"),
        Some(StopOutcome::Stopped { .. })
    ));
    assert_eq!(*d.forced.lock().unwrap(), vec!["app".to_string()]);
    // db's orderly stop began only after app was forced down.
    assert!(d.forced_at.lock().unwrap()["app"] < d.stops.lock().unwrap()["db"].0);
}

fn spec(name: &str, autostart: bool, deps: &[&str]) -> jailctl::config::JailSpec {
    use jailctl::config::*;
    JailSpec {
        name: name.into(),
        source: format!("/usr/local/etc/jailctl/jails/{name}.toml").into(),
        extends: vec![],
        hostname: name.into(),
        autostart,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        base: "14.2-RELEASE".into(),
        root: RootProps::default(),
        limits: Limits::default(),
        cpuset: None,
        network: Network::None,
        mounts: vec![],
        volumes: vec![],
        params: Default::default(),
        hooks: Hooks::default(),
        health: None,
        provision: Provision::default(),
        ports: vec![],
    }
}

fn names(g: &BootGraph) -> Vec<&str> {
    let mut v: Vec<&str> = g.nodes().iter().map(|n| n.name.as_str()).collect();
    v.sort();
    v
}

#[test]
fn boot_graph_takes_autostart_jails_and_pulls_in_their_dependencies() {
    let specs = vec![
        spec("db", false, &[]),
        spec("app", true, &["db"]),
        spec("scratch", false, &[]),
        spec("dns", true, &[]),
    ];
    let g = BootGraph::for_boot(&specs, &[]).unwrap();
    assert_eq!(names(&g), vec!["app", "db", "dns"]);
    let g = BootGraph::for_boot(&specs, &["scratch".into()]).unwrap();
    assert_eq!(names(&g), vec!["scratch"]);
    let err = BootGraph::for_boot(&specs, &["dsn".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no jail named `dsn` is defined (did you mean `dns`?)"
    );
    assert_eq!(
        jailctl::host::help_of(&err).as_deref(),
        Some("`jailctl list` shows the defined jails")
    );
}

#[test]
fn shutdown_graph_takes_named_jails_and_their_running_dependents() {
    let specs = vec![
        spec("db", true, &[]),
        spec("app", true, &["db"]),
        spec("web", true, &["app"]),
        spec("dns", true, &[]),
    ];
    let running: Vec<String> = ["db", "app", "web", "dns", "foreign"]
        .map(String::from)
        .to_vec();
    let g = BootGraph::for_shutdown(&specs, &running, &[]).unwrap();
    assert_eq!(names(&g), vec!["app", "db", "dns", "web"]);
    let g = BootGraph::for_shutdown(&specs, &running, &["app".into()]).unwrap();
    assert_eq!(names(&g), vec!["app", "web"]);
    // `app` is the only edge into `db`'s side that survives: db is not in this graph.
    assert!(g.index_of("db").is_none());
    let g = BootGraph::for_shutdown(&specs, &["db".into()], &[]).unwrap();
    assert_eq!(names(&g), vec!["db"]);
    assert!(g.nodes()[0].dependents.is_empty());
}
