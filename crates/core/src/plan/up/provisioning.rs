//! `[provision]` in a jail's `up`: the provisioning steps of a jail about to be created,
//! and why a deployed jail's provisioning differs from its definition (only reported).

use crate::config::spec::JailSpec;
use crate::observe::Dataset;
use crate::plan::{PlanError, props};
use std::path::Path;

/// The provisioning steps of a jail about to be created (`None` when `[provision]` is
/// empty). Reads the provisioning source files: what is fingerprinted is what is written.
pub(super) fn provision_plan(
    spec: &JailSpec,
    dataset: &str,
    root: &Path,
) -> Result<Option<crate::provision::Plan>, PlanError> {
    if crate::provision::is_empty(&spec.provision) {
        return Ok(None);
    }
    crate::provision::plan(&spec.name, dataset, root, &spec.provision)
        .map(Some)
        .map_err(|e| PlanError::Provision {
            jail: spec.name.clone(),
            cause: crate::plan::Shared::new(e),
        })
}

/// Why an existing jail's provisioning is not what its definition says. Provisioning runs
/// once, when the jail is created: it is never run again on a live jail (its effects would
/// be duplicated), so these are only reported.
pub(super) fn provision_reasons(
    spec: &JailSpec,
    ds: &Dataset,
    prov: Option<&crate::provision::Plan>,
) -> Option<String> {
    use crate::provision::{Status, status};
    let recorded = ds.prop(props::PROVISIONED);
    match (prov, status(recorded, "")) {
        (None, Status::Pending) => None,
        (None, _) => Some(format!(
            "[provision] was removed from {}'s definition; what it installed stays until the jail is re-created",
            spec.name
        )),
        (Some(p), _) => match status(recorded, &p.fingerprint) {
            Status::Done => None,
            Status::Changed { .. } => Some(
                "provisioning changed; re-create the jail to apply it (it runs once, at creation)"
                    .into(),
            ),
            Status::Pending => Some(
                "[provision] has never run on this jail (it was created without it); re-create the jail to apply it"
                    .into(),
            ),
        },
    }
}
