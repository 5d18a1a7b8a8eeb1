//! The dry run of a plan that provisions a jail: the exact commands and file writes it lists
//! (the plan itself is checked in the core's plan tests; the text comes from `apply`).

use crate::config::spec::JailSpec;
use crate::observe::{Dataset, HostState};
use crate::plan;
use jailctl_core::fixtures::{global, spec};
use std::collections::BTreeMap;

fn host_with_base() -> HostState {
    let mut h = HostState {
        racct: Some(true),
        ..HostState::default()
    };
    for name in [
        "zroot/jailctl/bases/14.2-RELEASE@jailctl",
        "zroot/jailctl/jails",
        "zroot/jailctl/volumes",
    ] {
        h.datasets.insert(
            name.into(),
            Dataset {
                name: name.into(),
                props: BTreeMap::new(),
            },
        );
    }
    h
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
fn the_dry_run_lists_the_provisioning_commands_exactly() {
    let t = tempfile::tempdir().unwrap();
    let s = provisioned_spec(t.path());
    let p = plan::plan(&[s], &global(), &host_with_base(), &["web".into()]).unwrap();
    let dry = super::dry_run(&p);
    assert!(
        dry.contains("/usr/sbin/pkg -j web install -y nginx\n"),
        "{dry}"
    );
    assert!(
        dry.contains("# write /usr/local/jails/web/etc/motd (6 bytes, mode 644)"),
        "{dry}"
    );
    assert!(
        dry.contains("/usr/sbin/jexec -l web /bin/sh -c 'sysrc nginx_enable=YES'"),
        "{dry}"
    );
}
