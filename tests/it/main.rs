//! jailctl's integration tests: one test binary, one module per area.

mod cli_basics;
mod sim_core;
mod sim_zfs;
