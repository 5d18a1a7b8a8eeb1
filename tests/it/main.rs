//! jailctl's integration tests: one test binary, one module per area.

mod base;
mod cli_basics;
