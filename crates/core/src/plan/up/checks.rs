//! The host conditions that refuse a jail's `up` before any step is planned: a root
//! dataset that does not allow exec, resource limits on a kernel without RACCT.

use crate::observe::HostState;
use crate::plan::PlanError;

/// Refuse a jail whose root (or, for a new jail, the parent its clone inherits from) has
/// `exec=off`: jail(8)'s `/bin/sh /etc/rc` and every jexec would fail with "Permission
/// denied" part-way through the start.
pub(super) fn exec_check(host: &HostState, jail: &str, root_ds: &str) -> Result<(), PlanError> {
    let nearest = std::iter::successors(Some(root_ds), |d| d.rsplit_once('/').map(|(p, _)| p))
        .find_map(|d| host.datasets.get(d));
    let Some(d) = nearest.filter(|d| d.prop("exec") == Some("off")) else {
        return Ok(());
    };
    let from = match host.exec_sources.get(&d.name).map(String::as_str) {
        Some(s) => s.strip_prefix("inherited from ").unwrap_or(&d.name),
        None => &d.name,
    };
    Err(PlanError::ExecOff {
        jail: jail.to_string(),
        from: from.to_string(),
        dataset: root_ds.to_string(),
    })
}

/// Why the kernel cannot enforce resource limits (`None`: RACCT is on).
pub(super) fn racct_state(host: &HostState) -> Option<&'static str> {
    match host.racct {
        Some(true) => None,
        Some(false) => Some("disabled"),
        None => Some("not in this kernel"),
    }
}
