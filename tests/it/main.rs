//! jailctl's integration tests: one test binary, one module per area.

mod base;
mod base_e2e;
mod base_provision;
mod base_real_zfs;
mod base_rollback;
mod boot_driver;
mod boot_sched;
mod cli_basics;
mod config;
mod destroy_owned;
mod lenient;
mod lifecycle_e2e;
mod lifecycle_faults;
mod lifecycle_procs;
mod lifecycle_prop;
mod packaging;
mod provision_e2e;
mod rc_script;
mod real_zfs;
mod render_templates;
mod sim_core;
mod sim_kernel;
mod sim_zfs;
mod vnet;
mod vnet_e2e;
