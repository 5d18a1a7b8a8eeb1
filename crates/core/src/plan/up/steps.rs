//! The step sequences a jail's `up` is built from, shared by its phases: writing its
//! files, making its volumes, cloning its root, and creating and starting the jail.

use super::{Jail, root_props};
use crate::plan::step::Step;
use crate::plan::{millis, pf, props};
use crate::render;

impl Jail<'_> {
    /// Write the jail's /etc/rc.conf into its root.
    pub(super) fn files_steps(&self, steps: &mut Vec<Step>) {
        steps.push(Step::WriteFile {
            path: self.root.join("etc/rc.conf"),
            contents: self.r.rc_conf.clone(),
            mode: 0o644,
            root: Some(self.root.clone()),
        });
    }

    /// Steps that create and start the jail from a root that exists; a root just cloned is
    /// provisioned right after `jail -c` (the jail must run), before its limits apply.
    pub(super) fn start_steps(&self, steps: &mut Vec<Step>, fresh_root: bool) {
        let (spec, global, host, name, r) = (self.spec, self.global, self.host, self.name, &self.r);
        if !r.mount_points.is_empty() {
            steps.push(Step::MakeDirs {
                paths: r.mount_points.clone(),
                root: Some(self.root.clone()),
            });
        }
        steps.push(Step::WriteFile {
            path: self.conf.clone(),
            contents: r.conf.clone(),
            mode: 0o600,
            root: None,
        });
        // VNET: bridge and epair before jail(8) moves the jail end in.
        let net = crate::vnet::start_steps(spec, global, host);
        steps.extend(net.into_iter().map(Step::Net));
        // A re-create has already waited (it had to, to move the root aside).
        if self.dying && !steps.iter().any(|s| matches!(s, Step::AwaitGone { .. })) {
            steps.push(Step::AwaitGone {
                name: name.clone(),
                dataset: self.ds_name.clone(),
                timeout_ms: millis(global.dying_wait),
                retry: format!("jailctl up {name}"),
                replace: true,
            });
        }
        steps.push(Step::CreateJail {
            name: name.clone(),
            conf: self.conf.clone(),
        });
        // pf: the anchor and the table entry once the jail (and its address) exists.
        if let Some(w) = &self.pf_want {
            steps.extend(pf::start_steps(w, host.datasets.get(&self.ds_name), host));
        } else {
            // No longer NATed (a network change restarts the jail): its rules go.
            steps.extend(pf::stop_steps(
                name,
                Some(spec),
                host.datasets.get(&self.ds_name),
                host,
            ));
        }
        if fresh_root && let Some(p) = &self.prov {
            steps.push(Step::Provision(p.clone()));
        }
        if !self.rules.is_empty() || !self.observed_rules.is_empty() {
            steps.push(Step::SetLimits {
                name: name.clone(),
                old: self.observed_rules.clone(),
                new: self.rules.clone(),
            });
        }
        if let Some(c) = &spec.cpuset {
            steps.push(Step::Cpuset {
                name: name.clone(),
                cpus: c.clone(),
                old: "all".into(),
            });
        }
    }

    /// Create the volumes the host does not have yet.
    pub(super) fn volume_steps(&self, steps: &mut Vec<Step>) {
        let (global, name) = (self.global, self.name);
        for v in &self.spec.volumes {
            let ds = render::volume_dataset(global, name, &v.name);
            if !self.host.datasets.contains_key(&ds) {
                steps.push(Step::CreateVolume {
                    dataset: ds,
                    mountpoint: render::volume_mountpoint(global, name, &v.name),
                    quota: v.quota,
                });
            }
        }
    }

    /// Clone the root from the base snapshot with every recorded property, then write its
    /// files and copy the host's resolv.conf.
    pub(super) fn clone_step(&self, steps: &mut Vec<Step>) {
        let mut p = root_props(self.spec);
        p.insert("mountpoint".into(), self.root.display().to_string());
        p.extend(self.record_props());
        p.extend(self.net_props.clone());
        if self.upgrade
            && let Some(old) = &self.recorded_base
        {
            p.insert(props::UPGRADE_FROM.into(), old.clone());
        }
        steps.push(Step::CloneRoot {
            snapshot: self.snapshot.clone(),
            dataset: self.ds_name.clone(),
            props: p,
        });
        self.files_steps(steps);
        steps.push(Step::CopyHostFile {
            from: "/etc/resolv.conf".into(),
            to: self.root.join("etc/resolv.conf"),
            mode: 0o644,
            root: self.root.clone(),
        });
    }
}
