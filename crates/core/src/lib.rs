//! jailctl's planning core: everything between what the user wrote and the steps that
//! change a host, with no side effect of its own.
//!
//! ```text
//! TOML files ──config::load──▶ Vec<JailSpec> ─┐
//!                                             ├─plan::plan──▶ Plan (ordered Steps)
//! host ──observe (read-only commands)──▶ HostState ─┘
//! ```
//!
//! The modules form layers, each naming only lower ones (lowest first):
//! - [`config`] reads and validates what the user wrote (global file, one file per jail,
//!   `extends` templates); [`config::layout`] names everything jailctl puts on a host. It never
//!   looks at the host. Errors carry file, line and column.
//! - [`render`] turns a definition into the jail.conf block and the files written into a jail.
//! - [`observe`] runs read-only commands through the host seam (`jailctl_host::Runner`, passed
//!   in) and parses their output with pure parsers into [`observe::HostState`].
//! - [`vnet`] plans VNET networking: pool addresses, bridge/epair steps; it runs nothing.
//! - [`provision`] says what a jail's provisioning needs and whether it was applied.
//! - [`plan`] is pure: definitions + observed state → an ordered list of steps and reasons.
//!
//! This crate depends on the seam (`jailctl-host`) and never on the simulated host, which is
//! only a dev-dependency for tests; running steps (apply, ops, boot) lives in the `jailctl`
//! crate above it.

// No unsafe code at all in this crate (the workspace denies it; the one allowed block is in
// the binary's SIGPIPE handling).
#![forbid(unsafe_code)]

// The seam's modules under the names the core has always used (`crate::host::Runner`).
use jailctl_host as host;
use jailctl_host::{jail_params, platform};

pub mod config;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
pub mod observe;
pub mod plan;
pub mod provision;
pub mod render;
pub mod vnet;
