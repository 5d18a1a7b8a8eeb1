//! The dry run of a plan that provisions a jail: the exact commands and file writes it lists
//! (the plan itself is checked in the core's plan tests; the text comes from `apply`).

use crate::apply::sim_tests::TestSim;
use crate::config::spec::JailSpec;
use crate::plan;
use jailctl_core::fixtures::{global, spec};

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
    // Planned against what observe reads of a simulated host with the base.
    let host = TestSim::with_base();
    let p = plan::plan(&[s], &global(), &host.state(), &["web".into()]).unwrap();
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
