//! Configuration: what the user wrote, read and validated without looking at the host.
//!
//! Stage one parses the TOML (global `jailctl.toml`, one `jails/<name>.toml` per jail,
//! `extends` templates) into a raw mirror that keeps source spans. Stage two validates it into
//! the spec types of [`spec`], which the rest of jailctl consumes. Every error names the file,
//! line and column, and all errors of a run are reported together.

pub mod spec;

pub use spec::*;
