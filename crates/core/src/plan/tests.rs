//! Planning tests: creation, idempotency, live changes vs restarts, dependencies, down and
//! destroy. `converge` is a small model of what applying a plan does to [`HostState`], so a
//! second plan after it must be empty.

use super::*;
use crate::config::spec::{Network, VolumeSpec};
use crate::fixtures::{global, spec};
use crate::observe::{Dataset, JailInfo, MountEntry};

fn host_with_base() -> HostState {
    let mut h = HostState {
        racct: Some(true),
        ..HostState::default()
    };
    for snap in [
        "zroot/jailctl/bases/14.2-RELEASE@jailctl",
        "zroot/jailctl/jails",
        "zroot/jailctl/volumes",
    ] {
        h.datasets.insert(
            snap.into(),
            Dataset {
                name: snap.into(),
                props: BTreeMap::new(),
            },
        );
    }
    h
}

/// What applying `plan` does to the observed state, modelled on HostState.
fn converge(mut h: HostState, plan: &Plan) -> HostState {
    for (name, step) in plan.steps() {
        match step {
            Step::CreateVolume { dataset, .. } | Step::CreateParent { dataset } => {
                let mut props = BTreeMap::new();
                props.insert(props::MANAGED.to_string(), "yes".to_string());
                h.datasets.insert(
                    dataset.clone(),
                    Dataset {
                        name: dataset.clone(),
                        props,
                    },
                );
            }
            Step::CloneRoot { dataset, props, .. } => {
                h.datasets.insert(
                    dataset.clone(),
                    Dataset {
                        name: dataset.clone(),
                        props: props.clone(),
                    },
                );
            }
            Step::RetireRoot {
                dataset, retired, ..
            }
            | Step::RestoreRoot {
                kept: dataset,
                dataset: retired,
                ..
            } => {
                let d = h.datasets.remove(dataset).unwrap();
                h.datasets.insert(retired.clone(), d);
            }
            Step::HealthCheck { .. } => {}
            Step::DestroyDataset { dataset } => {
                h.datasets.remove(dataset);
            }
            Step::CreateJail { name, .. } => {
                let s = spec(name);
                h.jails.insert(
                    name.clone(),
                    JailInfo {
                        jid: 1,
                        name: name.clone(),
                        hostname: s.hostname,
                        ..JailInfo::default()
                    },
                );
            }
            Step::RemoveJail { name, .. } | Step::AwaitGone { name, .. } => {
                h.jails.remove(name);
            }
            Step::ModifyJail { name, params, .. } => {
                for p in params {
                    if let Some(v) = p.strip_prefix("host.hostname=") {
                        h.jails.get_mut(name).unwrap().hostname = v.into();
                    }
                }
            }
            Step::SetLimits { name, new, .. } => {
                if new.is_empty() {
                    h.rctl_rules.remove(name);
                } else {
                    h.rctl_rules.insert(name.clone(), new.clone());
                }
            }
            Step::SetProps { dataset, props, .. } => {
                let d = h.datasets.get_mut(dataset).unwrap();
                d.props.extend(props.clone());
            }
            Step::Provision(p) => {
                let ds = format!("zroot/jailctl/jails/{}", p.jail);
                h.datasets
                    .get_mut(&ds)
                    .unwrap()
                    .props
                    .insert(props::PROVISIONED.into(), p.fingerprint.clone());
            }
            Step::MakeDirs { .. }
            | Step::WriteFile { .. }
            | Step::Unmount { .. }
            | Step::CopyHostFile { .. }
            | Step::RemoveFile { .. }
            | Step::Cpuset { .. }
            | Step::Net(_) => {}
            Step::Pf(p) => {
                use super::pf::PfStep;
                let pf = h.pf.get_or_insert_with(|| crate::observe::pf::PfObserved {
                    available: true,
                    ..Default::default()
                });
                match p {
                    PfStep::Load { anchor, rules, .. } => {
                        pf.anchors.insert(anchor.clone(), rules.clone());
                    }
                    PfStep::Flush { anchor, .. } => {
                        pf.anchors.remove(anchor);
                    }
                    PfStep::TableAdd { addr } => {
                        pf.nat_table.insert(addr.clone());
                    }
                    PfStep::TableDelete { addr } => {
                        pf.nat_table.remove(addr);
                    }
                }
            }
        }
        let _ = name;
    }
    h
}

fn up(specs: &[JailSpec], h: &HostState, targets: &[&str]) -> Result<Plan, PlanError> {
    let t: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    plan(specs, &global(), h, &t)
}

#[test]
fn new_plain_jail_is_cloned_and_started() {
    let p = up(&[spec("web")], &host_with_base(), &["web"]).unwrap();
    insta::assert_snapshot!(p.to_string());
    insta::assert_json_snapshot!(p.jails[0].steps[0]);
    assert_eq!(p.jails[0].action, Action::Create);
}

#[test]
fn second_plan_after_apply_is_empty() {
    let mut s = spec("web");
    s.limits.memory = Some(512 << 20);
    s.cpuset = Some("0-1".into());
    s.volumes.push(VolumeSpec {
        name: "data".into(),
        target: "/var/db/data".into(),
        quota: None,
        read_only: false,
    });
    s.params
        .insert("allow.raw_sockets".into(), ParamValue::Bool(true));
    let specs = vec![s];
    let h = host_with_base();
    let p = up(&specs, &h, &[]).unwrap();
    let h = converge(h, &p);
    let again = up(&specs, &h, &[]).unwrap();
    assert!(again.is_empty(), "{again}");
    assert_eq!(again.jails[0].action, Action::UpToDate);
    assert_eq!(again.to_string(), "web: up to date\n");
}

fn deployed(specs: &[JailSpec]) -> HostState {
    let h = host_with_base();
    let p = up(specs, &h, &[]).unwrap();
    converge(h, &p)
}

use crate::config::spec::ParamValue;

#[test]
fn changed_limit_is_replaced_live() {
    let mut s = spec("web");
    s.limits.memory = Some(512 << 20);
    let h = deployed(std::slice::from_ref(&s));
    s.limits.memory = Some(1 << 30);
    s.limits.processes = Some(100);
    let p = up(&[s], &h, &[]).unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Update);
    assert_eq!(
        j.steps[0],
        Step::SetLimits {
            name: "web".into(),
            old: vec!["jail:web:memoryuse:deny=536870912".into()],
            new: vec![
                "jail:web:memoryuse:deny=1073741824".into(),
                "jail:web:maxproc:deny=100".into()
            ],
        }
    );
    assert!(matches!(j.steps[1], Step::SetProps { .. }));
    assert_eq!(j.steps.len(), 2, "{p}");
}

#[test]
fn hostname_and_param_change_live_without_restart() {
    let mut s = spec("web");
    s.params
        .insert("allow.raw_sockets".into(), ParamValue::Bool(false));
    let h = deployed(std::slice::from_ref(&s));
    s.hostname = "www.example.org".into();
    s.params
        .insert("allow.raw_sockets".into(), ParamValue::Bool(true));
    let p = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Update, "{p}");
    assert!(!j.steps.iter().any(|s| matches!(s, Step::RemoveJail { .. })));
    let modify = j
        .steps
        .iter()
        .find(|s| matches!(s, Step::ModifyJail { .. }))
        .unwrap();
    assert_eq!(
        modify,
        &Step::ModifyJail {
            name: "web".into(),
            params: vec![
                "host.hostname=www.example.org".into(),
                "allow.raw_sockets=true".into()
            ],
            undo: vec![
                "host.hostname=web.example.org".into(),
                "allow.raw_sockets=false".into()
            ],
        }
    );
    assert!(
        j.steps
            .iter()
            .any(|s| matches!(s, Step::WriteFile { path, .. } if path.ends_with("etc/rc.conf")))
    );
}

#[test]
fn network_change_restarts_and_says_why() {
    let s = spec("web");
    let h = deployed(std::slice::from_ref(&s));
    let mut s2 = s.clone();
    s2.network = Network::Alias {
        interface: "em0".into(),
        ip4: vec!["192.0.2.20/24".parse().unwrap()],
        ip6: vec![],
    };
    let p = up(std::slice::from_ref(&s2), &h, &[]).unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Restart);
    assert!(
        j.reasons.iter().any(|r| r == "network settings changed"),
        "{p}"
    );
    // Stop with the old conf, then write the new one, then start.
    let kinds: Vec<String> = j.steps.iter().map(|s| s.to_string()).collect();
    insta::assert_snapshot!(kinds.join("\n"));
    // After it, nothing left to do.
    let h = converge(h, &p);
    assert!(up(&[s2], &h, &[]).unwrap().is_empty());
}

#[test]
fn removed_param_needs_restart() {
    let mut s = spec("web");
    s.params
        .insert("allow.mlock".into(), ParamValue::Bool(true));
    let h = deployed(std::slice::from_ref(&s));
    s.params.clear();
    let p = up(&[s], &h, &[]).unwrap();
    assert_eq!(p.jails[0].action, Action::Restart);
    assert!(
        p.jails[0].reasons[0].contains("allow.mlock=true was removed"),
        "{p}"
    );
}

#[test]
fn stopped_deployed_jail_just_starts() {
    let s = spec("web");
    let mut h = deployed(std::slice::from_ref(&s));
    h.jails.clear();
    let p = up(&[s], &h, &[]).unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Start);
    assert!(matches!(j.steps[0], Step::WriteFile { .. }));
    assert!(matches!(j.steps[1], Step::CreateJail { .. }));
    assert_eq!(j.steps.len(), 2, "{p}");
}

fn dying(name: &str) -> JailInfo {
    JailInfo {
        jid: 7,
        name: name.into(),
        dying: true,
        ..JailInfo::default()
    }
}

#[test]
fn a_dying_jail_is_awaited_then_started_over() {
    let s = spec("web");
    let mut h = deployed(std::slice::from_ref(&s));
    h.jails.insert("web".into(), dying("web"));
    let p = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Start);
    assert!(matches!(j.steps[0], Step::WriteFile { .. }));
    assert_eq!(
        j.steps[1],
        Step::AwaitGone {
            name: "web".into(),
            dataset: "zroot/jailctl/jails/web".into(),
            timeout_ms: millis(std::time::Duration::from_secs(10)),
            retry: "jailctl up web".into(),
            replace: true,
        }
    );
    assert!(matches!(&j.steps[2], Step::CreateJail { name, .. } if name == "web"));
    assert_eq!(j.steps.len(), 3, "{p}");
    // Once it is gone, the same plan as for any stopped jail.
    let after = converge(h, &p);
    assert_eq!(
        up(&[s], &after, &[]).unwrap().jails[0].action,
        Action::UpToDate
    );
}

#[test]
fn a_dying_jail_without_its_root_is_awaited_before_the_new_jail_starts() {
    let s = spec("web");
    let mut h = host_with_base();
    h.jails.insert("web".into(), dying("web"));
    let p = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Create);
    let clone = j
        .steps
        .iter()
        .position(|s| matches!(s, Step::CloneRoot { .. }))
        .expect("cloned");
    let wait = j
        .steps
        .iter()
        .position(|s| matches!(s, Step::AwaitGone { replace: true, .. }))
        .expect("waits");
    let create = j
        .steps
        .iter()
        .position(|s| matches!(s, Step::CreateJail { .. }))
        .expect("started");
    assert!(clone < wait && wait + 1 == create, "{p}");
}

#[test]
fn a_dying_jail_with_a_changed_base_waits_once_and_gives_up_rather_than_replace() {
    let mut s = spec("web");
    let mut h = deployed(std::slice::from_ref(&s));
    h.jails.insert("web".into(), dying("web"));
    s.base = "14.3-RELEASE".into();
    let snap = "zroot/jailctl/bases/14.3-RELEASE@jailctl";
    h.datasets.insert(
        snap.into(),
        Dataset {
            name: snap.into(),
            props: BTreeMap::new(),
        },
    );
    let opts = UpOptions {
        recreate: true,
        ..UpOptions::default()
    };
    let p = plan_up(&[s], &global(), &h, &[], &opts).unwrap();
    let j = &p.jails[0];
    // Not running: nothing to stop; the root cannot move aside while the jail holds it.
    assert!(
        matches!(&j.steps[0], Step::AwaitGone { replace: false, retry, .. } if retry == "jailctl up web --recreate"),
        "{p}"
    );
    assert!(matches!(j.steps[1], Step::RetireRoot { .. }));
    let waits = j
        .steps
        .iter()
        .filter(|s| matches!(s, Step::AwaitGone { .. }))
        .count();
    assert_eq!(waits, 1, "{p}");
}

#[test]
fn changed_base_needs_recreate_and_keeps_volumes() {
    let mut s = spec("web");
    s.volumes.push(VolumeSpec {
        name: "data".into(),
        target: "/data".into(),
        quota: None,
        read_only: false,
    });
    let mut h = deployed(std::slice::from_ref(&s));
    s.base = "14.3-RELEASE".into();
    let e = up(std::slice::from_ref(&s), &h, &[]).unwrap_err();
    assert!(
        crate::host::explain(&e).contains("jailctl base create 14.3-RELEASE --from"),
        "{e}"
    );
    let snap = "zroot/jailctl/bases/14.3-RELEASE@jailctl";
    h.datasets.insert(
        snap.into(),
        Dataset {
            name: snap.into(),
            props: BTreeMap::new(),
        },
    );
    let e = up(std::slice::from_ref(&s), &h, &[]).unwrap_err();
    assert!(crate::host::explain(&e).contains("--recreate"), "{e}");
    let opts = UpOptions {
        recreate: true,
        ..UpOptions::default()
    };
    let mut stale = h.clone();
    let r = "zroot/jailctl/jails/web.retired";
    stale.datasets.insert(
        r.into(),
        Dataset {
            name: r.into(),
            props: BTreeMap::new(),
        },
    );
    let e = plan_up(std::slice::from_ref(&s), &global(), &stale, &[], &opts).unwrap_err();
    assert!(
        crate::host::explain(&e).contains("zfs destroy -r zroot/jailctl/jails/web.retired"),
        "{e}"
    );
    let p = plan_up(&[s], &global(), &h, &[], &opts).unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Recreate);
    assert!(matches!(j.steps[0], Step::RemoveJail { .. }));
    // The old jail may still be dying and holding its root: wait before moving it aside.
    assert!(matches!(&j.steps[1], Step::AwaitGone { name, .. } if name == "web"));
    assert!(matches!(j.steps[2], Step::RetireRoot { .. }));
    assert!(
        !j.steps
            .iter()
            .any(|s| matches!(s, Step::CreateVolume { .. }))
    );
    assert_eq!(
        j.steps.last(),
        Some(&Step::DestroyDataset {
            dataset: "zroot/jailctl/jails/web.retired".into()
        })
    );
}

#[test]
fn refusals_name_the_fix() {
    let s = spec("web");
    let e = up(std::slice::from_ref(&s), &HostState::default(), &[]).unwrap_err();
    assert!(matches!(e, PlanError::BaseMissing { .. }));
    assert!(
        crate::host::explain(&e)
            .contains("create it with `jailctl base create 14.2-RELEASE --from ...`"),
        "{e}"
    );

    let mut h = host_with_base();
    h.datasets.insert(
        "zroot/jailctl/jails/web".into(),
        Dataset {
            name: "zroot/jailctl/jails/web".into(),
            props: BTreeMap::new(),
        },
    );
    assert!(matches!(
        up(std::slice::from_ref(&s), &h, &[]),
        Err(PlanError::NotManaged { .. })
    ));

    let mut limited = s.clone();
    limited.limits.memory = Some(1);
    let mut h = host_with_base();
    h.racct = Some(false);
    let e = up(&[limited], &h, &[]).unwrap_err();
    assert!(
        crate::host::explain(&e).contains("kern.racct.enable=1"),
        "{e}"
    );

    assert!(matches!(
        up(&[s], &host_with_base(), &["nope"]),
        Err(PlanError::UnknownJail(_))
    ));
}

fn deps() -> Vec<JailSpec> {
    let db = spec("db");
    let mut cache = spec("cache");
    cache.depends_on = vec!["db".into()];
    let mut web = spec("web");
    web.depends_on = vec!["db".into(), "cache".into()];
    let other = spec("aaa");
    vec![web, cache, db, other]
}

#[test]
fn dependencies_come_first_and_are_pulled_in() {
    let specs = deps();
    let p = up(&specs, &host_with_base(), &["web"]).unwrap();
    let names: Vec<&str> = p.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["db", "cache", "web"]);
    assert_eq!(order(&specs, &[]).unwrap(), ["aaa", "db", "cache", "web"]);

    let mut cyclic = deps();
    cyclic[2].depends_on = vec!["web".into()];
    let e = order(&cyclic, &[]).unwrap_err();
    assert_eq!(
        crate::host::explain(&e),
        "jails depend on each other in a cycle: cache → db → web → cache; remove one depends_on entry"
    );
    let mut unknown = deps();
    unknown[3].depends_on = vec!["ghost".into()];
    assert!(matches!(
        order(&unknown, &[]),
        Err(PlanError::UnknownDependency { .. })
    ));
}

#[test]
fn down_refuses_running_dependents_unless_told() {
    let specs = deps();
    let h = deployed(&specs);
    let t = vec!["db".to_string()];
    let e = plan_down(&specs, &global(), &h, &t, &DownOptions::default()).unwrap_err();
    assert!(
        crate::host::explain(&e).contains("--with-dependents"),
        "{e}"
    );
    let p = plan_down(
        &specs,
        &global(),
        &h,
        &t,
        &DownOptions {
            with_dependents: true,
            volumes: false,
        },
    )
    .unwrap();
    let names: Vec<&str> = p.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["web", "cache", "db"]);
    assert!(p.jails.iter().all(|j| j.action == Action::Stop));
}

#[test]
fn a_dying_dependent_does_not_hold_its_dependency_up() {
    let specs = deps();
    let mut h = deployed(&specs);
    let web = h.jails["web"].clone();
    assert!(!web.dying);
    // Every jail but db was stopped a moment ago; the kernel is still tearing them down.
    for s in specs.iter().filter(|s| s.name != "db") {
        h.jails.insert(s.name.clone(), dying(&s.name));
    }
    let t = vec!["db".to_string()];
    let p = plan_down(&specs, &global(), &h, &t, &DownOptions::default()).unwrap();
    let names: Vec<&str> = p.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["db"]);
    assert_eq!(p.jails[0].action, Action::Stop);
    // One dependent still running is enough to refuse.
    h.jails.insert("web".into(), web);
    let e = plan_down(&specs, &global(), &h, &t, &DownOptions::default()).unwrap_err();
    assert!(
        crate::host::explain(&e).contains("--with-dependents"),
        "{e}"
    );
}

#[test]
fn down_removes_rules_and_stopped_jail_is_noop() {
    let mut s = spec("web");
    s.limits.memory = Some(1 << 20);
    let h = deployed(std::slice::from_ref(&s));
    let p = plan_down(
        std::slice::from_ref(&s),
        &global(),
        &h,
        &[],
        &DownOptions::default(),
    )
    .unwrap();
    // Rules go first: undoing a failed stop then only adds them back.
    assert!(matches!(&p.jails[0].steps[0], Step::SetLimits { new, .. } if new.is_empty()));
    assert!(matches!(p.jails[0].steps[1], Step::RemoveJail { .. }));
    let h = converge(h, &p);
    let p = plan_down(&[s], &global(), &h, &[], &DownOptions::default()).unwrap();
    assert!(p.is_empty());
    assert_eq!(p.jails[0].action, Action::AlreadyStopped);
}

#[test]
fn destroy_touches_only_managed_and_keeps_volumes() {
    let mut s = spec("web");
    s.volumes.push(VolumeSpec {
        name: "data".into(),
        target: "/data".into(),
        quota: None,
        read_only: false,
    });
    let h = deployed(std::slice::from_ref(&s));
    let t = vec!["web".to_string()];
    let p = plan_destroy(
        std::slice::from_ref(&s),
        &global(),
        &h,
        &t,
        &DownOptions::default(),
    )
    .unwrap();
    insta::assert_snapshot!(p.to_string());
    let p = plan_destroy(
        std::slice::from_ref(&s),
        &global(),
        &h,
        &t,
        &DownOptions {
            with_dependents: false,
            volumes: true,
        },
    )
    .unwrap();
    assert!(p.jails[0].steps.contains(&Step::DestroyDataset {
        dataset: "zroot/jailctl/volumes/web/data".into()
    }));
    // Stopped, but a mount is left under the root: refuse.
    let mut h2 = h.clone();
    h2.jails.clear();
    h2.mounts.push(MountEntry {
        source: "/srv".into(),
        target: "/usr/local/jails/web/mnt".into(),
        fstype: "nullfs".into(),
        options: "ro".into(),
    });
    let e = plan_destroy(&[s], &global(), &h2, &t, &DownOptions::default()).unwrap_err();
    assert!(
        crate::host::explain(&e).contains("/usr/local/jails/web/mnt"),
        "{e}"
    );
}

mod convergence {
    use super::*;
    use proptest::prelude::*;

    fn arb_spec() -> impl Strategy<Value = JailSpec> {
        (
            prop_oneof![Just("web.example.org"), Just("www.example.org")],
            proptest::option::of(1u64..4),
            proptest::option::of(10u64..12),
            0..3usize,
            proptest::option::of(any::<bool>()),
            proptest::option::of(prop_oneof![Just("0"), Just("0-1")]),
            proptest::collection::vec(prop_oneof![Just("logger a"), Just("logger b")], 0..2),
            proptest::option::of(prop_oneof![Just(1u64 << 30), Just(2u64 << 30)]),
        )
            .prop_map(|(host, mem, procs, net, raw, cpus, hooks, quota)| {
                let mut s = spec("web");
                s.hostname = host.into();
                s.limits.memory = mem.map(|m| m << 20);
                s.limits.processes = procs;
                s.network = match net {
                    0 => Network::Inherit,
                    1 => Network::None,
                    _ => Network::Alias {
                        interface: "em0".into(),
                        ip4: vec!["192.0.2.20/24".parse().unwrap()],
                        ip6: vec![],
                    },
                };
                if let Some(b) = raw {
                    s.params
                        .insert("allow.raw_sockets".into(), ParamValue::Bool(b));
                }
                s.cpuset = cpus.map(str::to_string);
                s.hooks.prestart = hooks.into_iter().map(str::to_string).collect();
                s.root.quota = quota;
                s
            })
    }

    proptest! {
        /// From any deployed definition, applying the plan for any other leaves nothing to do.
        #[test]
        fn plan_after_apply_is_empty(a in arb_spec(), b in arb_spec(), running in any::<bool>()) {
            let mut h = deployed(std::slice::from_ref(&a));
            if !running {
                h.jails.clear();
            }
            let p = up(std::slice::from_ref(&b), &h, &[]).unwrap();
            let h = converge(h, &p);
            let again = up(std::slice::from_ref(&b), &h, &[]).unwrap();
            prop_assert!(again.is_empty(), "from {:?}\nto {:?}\nfirst {}\nthen {}", a, b, p, again);
        }
    }
}

#[test]
fn new_jail_takes_the_newest_snapshot_and_old_ones_keep_theirs() {
    let s = spec("web");
    let mut h = host_with_base();
    for snap in [
        "zroot/jailctl/bases/14.2-RELEASE@20260101-120000",
        "zroot/jailctl/bases/14.2-RELEASE@20260101-120000-2",
        "zroot/jailctl/bases/14.2-RELEASE@20260101-120000-10",
        "zroot/jailctl/bases/14.2-RELEASE@20251231-235959",
        "zroot/jailctl/bases/14.2-RELEASEX@20991231-000000",
    ] {
        h.datasets.insert(
            snap.into(),
            Dataset {
                name: snap.into(),
                props: BTreeMap::new(),
            },
        );
    }
    let p = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    let newest = "zroot/jailctl/bases/14.2-RELEASE@20260101-120000-10";
    assert!(p.jails[0].steps.iter().any(
        |st| matches!(st, Step::CloneRoot { snapshot, props, .. } if snapshot == newest && props[props::BASE] == newest)
    ));
    // Deployed on it; then a newer snapshot appears: the jail keeps its own, plan says so.
    let mut h = converge(h, &p);
    let newer = "zroot/jailctl/bases/14.2-RELEASE@20260202-000000";
    h.datasets.insert(
        newer.into(),
        Dataset {
            name: newer.into(),
            props: BTreeMap::new(),
        },
    );
    let p = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    assert!(p.is_empty(), "{p}");
    assert_eq!(
        p.jails[0].reasons,
        [format!(
            "base has a newer snapshot: would move to {newer} on re-create"
        )]
    );
}

fn provisioned_spec(dir: &std::path::Path) -> JailSpec {
    let src = dir.join("motd");
    std::fs::write(&src, "hello\n").unwrap();
    let mut s = spec("web");
    s.provision.packages = vec!["nginx".into()];
    s.provision.files = vec![crate::config::ProvisionFile {
        source: src,
        target: "/etc/motd".into(),
        owner: Some("root:wheel".into()),
        mode: None,
    }];
    s.provision.commands = vec!["sysrc nginx_enable=YES".into()];
    s
}

#[test]
fn a_new_jail_is_provisioned_after_jail_c_and_before_its_limits() {
    let t = tempfile::tempdir().unwrap();
    let mut s = provisioned_spec(t.path());
    s.limits.memory = Some(512 << 20);
    let p = up(&[s], &host_with_base(), &["web"]).unwrap();
    let kinds: Vec<String> = p.jails[0]
        .steps
        .iter()
        .map(|s| s.to_string().split(' ').next().unwrap().to_string())
        .collect();
    let at = |k: &str| kinds.iter().position(|x| x == k).unwrap();
    assert!(
        at("start") < at("provision") && at("provision") < at("set"),
        "{kinds:?}"
    );
    let Some(Step::Provision(pp)) = p.jails[0]
        .steps
        .iter()
        .find(|s| matches!(s, Step::Provision(_)))
    else {
        unreachable!()
    };
    assert_eq!(pp.root, std::path::Path::new("/usr/local/jails/web"));
    assert!(
        pp.steps.last().unwrap().to_string().ends_with(&format!(
            "set jailctl:provisioned={} zroot/jailctl/jails/web",
            pp.fingerprint
        )),
        "{:?}",
        pp.steps.last()
    );
}

#[test]
fn provisioning_runs_once_and_a_change_is_only_reported() {
    let t = tempfile::tempdir().unwrap();
    let s = provisioned_spec(t.path());
    let h = host_with_base();
    let p = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    let h = converge(h, &p);
    // Applied: nothing more to do, nothing said.
    let again = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    assert!(again.is_empty(), "{again}");
    assert!(again.jails[0].reasons.is_empty(), "{again}");
    // A changed [provision] on the live jail is reported, never run.
    let mut changed = s.clone();
    changed.provision.commands.push("touch /var/log/x".into());
    let p2 = up(&[changed], &h, &[]).unwrap();
    assert!(p2.is_empty(), "{p2}");
    assert!(
        p2.to_string()
            .contains("provisioning changed; re-create the jail to apply it"),
        "{p2}"
    );
    // A source file's contents count too.
    std::fs::write(t.path().join("motd"), "other\n").unwrap();
    let p3 = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    assert!(p3.to_string().contains("provisioning changed"), "{p3}");
    assert!(p3.is_empty());
}

#[test]
fn an_existing_jail_without_a_record_is_not_provisioned() {
    let t = tempfile::tempdir().unwrap();
    let h = host_with_base();
    let p = up(&[spec("web")], &h, &[]).unwrap();
    let h = converge(h, &p);
    let s = provisioned_spec(t.path());
    let p = up(&[s], &h, &[]).unwrap();
    assert!(p.is_empty(), "{p}");
    assert!(
        p.to_string()
            .contains("[provision] has never run on this jail"),
        "{p}"
    );
}

#[test]
fn a_stopped_provisioned_jail_starts_without_provisioning() {
    let t = tempfile::tempdir().unwrap();
    let s = provisioned_spec(t.path());
    let h = host_with_base();
    let p = up(std::slice::from_ref(&s), &h, &[]).unwrap();
    let mut h = converge(h, &p);
    h.jails.remove("web");
    let p = up(&[s], &h, &[]).unwrap();
    assert_eq!(p.jails[0].action, Action::Start);
    assert!(
        !p.jails[0]
            .steps
            .iter()
            .any(|s| matches!(s, Step::Provision(_))),
        "{p}"
    );
}

#[test]
fn an_unreadable_provisioning_source_fails_the_plan_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let s = provisioned_spec(t.path());
    std::fs::remove_file(t.path().join("motd")).unwrap();
    let e = up(&[s], &host_with_base(), &[]).unwrap_err();
    let m = crate::host::explain(&e);
    assert!(m.contains("jail `web`") && m.contains("motd"), "{m}");
    assert!(m.contains("[[provision.files]]"), "{m}");
}

#[test]
fn dying_wait_values_are_seconds_up_to_a_day() {
    use std::time::Duration;
    assert_eq!(
        crate::config::parse_dying_wait("30"),
        Ok(Duration::from_secs(30))
    );
    assert_eq!(
        crate::config::parse_dying_wait(" 2.5 "),
        Ok(Duration::from_millis(2500))
    );
    for v in ["30s", "-1", "1e30", "NaN", "inf", ""] {
        let e = crate::config::parse_dying_wait(v).unwrap_err();
        assert!(
            e.contains("JAILCTL_DYING_WAIT=") && e.contains("e.g. 30"),
            "{v}: {e}"
        );
    }
}

/// A jail on a NATed alias network with forwards: `up` loads its anchor and adds its address
/// after `jail -c`; once converged nothing is left to do; a forward added later reloads the
/// anchor live (no restart, old rules kept for the undo); `down` flushes it and takes the
/// address out of the table.
#[test]
fn forwards_load_live_and_go_with_the_jail() {
    use super::pf::PfStep;
    use crate::config::spec::{NatSpec, NetworkSpec, PortForward, PortRange, Proto};
    let mut g = global();
    g.networks.insert(
        "lo1".into(),
        NetworkSpec {
            name: "lo1".into(),
            ip4_pool: None,
            nat: Some(NatSpec {
                interface: "em0".into(),
            }),
        },
    );
    let mut s = spec("web");
    s.network = Network::Alias {
        interface: "lo1".into(),
        ip4: vec!["10.30.0.5/24".parse().unwrap()],
        ip6: vec![],
    };
    let fwd = |h: u16, j: u16| PortForward {
        proto: Proto::Tcp,
        host: PortRange { first: h, last: h },
        jail: PortRange { first: j, last: j },
        address: None,
    };
    s.ports = vec![fwd(8080, 80)];
    let mut h = host_with_base();
    h.pf = Some(crate::observe::pf::PfObserved {
        available: true,
        ..Default::default()
    });
    let specs = vec![s.clone()];
    let p = plan(&specs, &g, &h, &["web".into()]).unwrap();
    let steps = &p.jails[0].steps;
    let at = |f: &dyn Fn(&Step) -> bool| steps.iter().position(f).unwrap();
    let create = at(&|s| matches!(s, Step::CreateJail { .. }));
    let load = at(&|s| matches!(s, Step::Pf(PfStep::Load { old: None, .. })));
    let add = at(&|s| matches!(s, Step::Pf(PfStep::TableAdd { addr }) if addr == "10.30.0.5"));
    assert!(create < load && load < add, "{p}");
    let h = converge(h, &p);
    let again = plan(&specs, &g, &h, &["web".into()]).unwrap();
    assert!(again.is_empty(), "{again}");

    // A new forward on the running jail: a live reload, no restart.
    let mut s2 = s.clone();
    s2.ports.push(fwd(8443, 443));
    let p = plan(std::slice::from_ref(&s2), &g, &h, &["web".into()]).unwrap();
    assert_eq!(p.jails[0].action, Action::Update, "{p}");
    assert!(
        !p.jails[0]
            .steps
            .iter()
            .any(|s| matches!(s, Step::RemoveJail { .. } | Step::CreateJail { .. })),
        "{p}"
    );
    let reload = p.jails[0]
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Pf(PfStep::Load { rules, old, .. }) => Some((rules.clone(), old.clone())),
            _ => None,
        })
        .expect("a reload");
    assert!(
        reload.0.contains("port 8443 -> 10.30.0.5 port 443"),
        "{}",
        reload.0
    );
    assert!(reload.1.unwrap().contains("port 8080"));
    assert!(
        p.to_string().contains("reload pf anchor jailctl/web"),
        "{p}"
    );

    // down: flush and table delete, after the stop.
    let p = super::plan_down(&specs, &g, &h, &["web".into()], &DownOptions::default()).unwrap();
    let steps = &p.jails[0].steps;
    let stop = steps
        .iter()
        .position(|s| matches!(s, Step::RemoveJail { .. }))
        .unwrap();
    let flush = steps
        .iter()
        .position(|s| matches!(s, Step::Pf(PfStep::Flush { .. })))
        .unwrap();
    assert!(stop < flush, "{p}");
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Pf(PfStep::TableDelete { addr }) if addr == "10.30.0.5")),
        "{p}"
    );

    // pf not loaded: refused before anything is touched.
    let mut off = h.clone();
    off.pf = Some(crate::observe::pf::PfObserved::default());
    off.jails.clear();
    let e = plan(&specs, &g, &off, &["web".into()]).unwrap_err();
    assert!(crate::host::explain(&e).contains("kldload pf"), "{e}");
}

#[test]
fn upgrade_keeps_the_old_root_checks_health_and_rollback_puts_it_back() {
    let mut s = spec("web");
    s.health = Some(crate::config::spec::HealthCheck {
        command: vec!["/usr/bin/true".into()],
        interval: std::time::Duration::from_millis(100),
        timeout: std::time::Duration::from_secs(1),
        retries: 2,
    });
    let mut h = deployed(std::slice::from_ref(&s));
    let old = h.datasets["zroot/jailctl/jails/web"].props[props::BASE].clone();
    let g = global();
    let names = vec!["web".to_string()];
    // The base must exist, and the definition must name it.
    let e = plan_upgrade(
        std::slice::from_ref(&s),
        &g,
        &h,
        &names,
        Some("14.3-RELEASE"),
    )
    .unwrap_err();
    assert!(matches!(e, PlanError::UpgradeBaseMissing { .. }), "{e}");
    let snap = "zroot/jailctl/bases/14.3-RELEASE@jailctl";
    h.datasets.insert(
        snap.into(),
        Dataset {
            name: snap.into(),
            props: BTreeMap::new(),
        },
    );
    let e = plan_upgrade(
        std::slice::from_ref(&s),
        &g,
        &h,
        &names,
        Some("14.3-RELEASE"),
    )
    .unwrap_err();
    assert!(
        crate::host::explain(&e).contains("set `base = \"14.3-RELEASE\"`"),
        "{e}"
    );
    s.base = "14.3-RELEASE".into();
    let p = plan_upgrade(
        std::slice::from_ref(&s),
        &g,
        &h,
        &names,
        Some("14.3-RELEASE"),
    )
    .unwrap();
    let j = &p.jails[0];
    assert_eq!(j.action, Action::Upgrade, "{p}");
    assert!(
        j.steps
            .iter()
            .any(|st| matches!(st, Step::RetireRoot { retired, .. }
            if retired == "zroot/jailctl/jails/web.pre-upgrade")),
        "{p}"
    );
    assert!(
        j.steps
            .iter()
            .any(|st| matches!(st, Step::CloneRoot { snapshot, props, .. }
            if snapshot == snap && props.get(props::UPGRADE_FROM) == Some(&old))),
        "{p}"
    );
    assert!(
        !j.steps
            .iter()
            .any(|st| matches!(st, Step::DestroyDataset { .. })),
        "an upgrade destroys nothing: {p}"
    );
    assert!(
        matches!(j.steps.last(), Some(Step::HealthCheck { retries: 2, .. })),
        "{p}"
    );
    let h = converge(h, &p);
    // Done: nothing more to upgrade, and `up` agrees with the new root.
    let again = plan_upgrade(std::slice::from_ref(&s), &g, &h, &names, None).unwrap();
    assert!(again.is_empty(), "{again}");
    assert!(up(std::slice::from_ref(&s), &h, &[]).unwrap().is_empty());
    // A kept root blocks a second upgrade.
    let mut newer = h.clone();
    let snap2 = "zroot/jailctl/bases/14.3-RELEASE@jailctm";
    newer.datasets.insert(
        snap2.into(),
        Dataset {
            name: snap2.into(),
            props: BTreeMap::new(),
        },
    );
    let e = plan_upgrade(std::slice::from_ref(&s), &g, &newer, &names, None).unwrap_err();
    assert!(matches!(e, PlanError::UpgradeKept { .. }), "{e}");
    // Rollback: the kept root back under the jail's name, the upgraded one destroyed last.
    let r = plan_rollback(std::slice::from_ref(&s), &g, &h, "web").unwrap();
    assert!(
        matches!(r.jails[0].steps.last(), Some(Step::DestroyDataset { dataset })
            if dataset == "zroot/jailctl/jails/web.upgraded"),
        "{r}"
    );
    let back = converge(h.clone(), &r);
    assert_eq!(
        back.datasets["zroot/jailctl/jails/web"].props[props::BASE],
        old
    );
    assert!(
        !back
            .datasets
            .contains_key("zroot/jailctl/jails/web.pre-upgrade")
    );
    let e = plan_finish(&g, &back, "web").unwrap_err();
    assert!(
        crate::host::explain(&e).contains("nothing to finish"),
        "{e}"
    );
    // Finish: only the kept root goes.
    let f = plan_finish(&g, &h, "web").unwrap();
    assert_eq!(
        f.jails[0].steps,
        vec![Step::DestroyDataset {
            dataset: "zroot/jailctl/jails/web.pre-upgrade".into()
        }]
    );
}

#[test]
fn an_unreadable_provisioning_file_keeps_its_cause_and_help() {
    let t = tempfile::tempdir().unwrap();
    let s = provisioned_spec(t.path());
    let missing = s.provision.files[0].source.clone();
    std::fs::remove_file(&missing).unwrap();
    let e = up(&[s], &host_with_base(), &["web"]).unwrap_err();
    assert!(matches!(e, PlanError::Provision { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("jail `web`: cannot read provisioning file"),
        "{msg}"
    );
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
    assert_eq!(
        help.as_deref(),
        Some("check `source` in [[provision.files]]; it is read on the host")
    );
    // The chain goes down to the OS error, which the report prints on its own line.
    let mut chain = std::error::Error::source(&e);
    let mut io = None;
    while let Some(c) = chain {
        io = io.or(c.downcast_ref::<std::io::Error>().map(|e| e.kind()));
        chain = c.source();
    }
    assert_eq!(io, Some(std::io::ErrorKind::NotFound));
    // Still Clone and Eq: a clone is equal.
    assert_eq!(e.clone(), e);
}
