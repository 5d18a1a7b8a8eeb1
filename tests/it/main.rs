//! jailctl's integration tests: one test binary, one module per area.

mod boot_sched;
mod base;
mod cli_basics;
mod rc_script;
mod sim_kernel;
mod config;
