//! jailctl's integration tests: one test binary, one module per area.

mod cli_basics;
mod real_zfs;
mod sim_core;
mod sim_zfs;
