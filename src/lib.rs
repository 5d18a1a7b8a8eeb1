//! jailctl: a declarative FreeBSD jail manager.
//!
//! # Architecture map
//!
//! A workspace of four crates (ARCHITECTURE.md draws the graph): `jailctl-host` (the seam,
//! [`host`], [`platform`], [`jail_params`]), `jailctl-sim` (the simulated host, [`sim`] with
//! the default `sim` feature), `jailctl-core` ([`config`], [`render`], [`observe`], [`vnet`],
//! [`provision`], [`plan`]) and this crate (`apply`, `ops`, `base`, `boot`, `doctor`, `cli`),
//! which re-exports the others' modules under the names below.
//!
//! ```text
//! TOML files ──config::load──▶ Vec<JailSpec> ─┐
//!                                             ├─plan::plan──▶ Plan (ordered Steps) ──apply──▶ Host
//! host ──observe (read-only commands)──▶ HostState ─┘                                 (real or simulated)
//! ```
//!
//! - [`config`] reads and validates what the user wrote (global file, one file per jail,
//!   `extends` templates). It never looks at the host. Errors carry file, line and column.
//! - [`observe`] runs read-only commands through the [`host::Runner`] seam and parses their
//!   output with pure parsers into [`observe::HostState`].
//! - [`plan`] is pure: definitions + observed state → an ordered list of steps and the reasons.
//! - [`render`] turns a definition into the jail.conf block and the files written into a jail.
//! - [`apply`] turns steps into exact argv ([`host::Cmd`]) and runs them with an undo journal;
//!   it also holds the lock hierarchy ([`apply::lock`]: fleet → jails → bases → network →
//!   layout, held locks passed explicitly), the host layout ensured once under its lock
//!   ([`apply::layout`]) and the check of an undo against the state before ([`apply::verify`]).
//! - [`ops`] are the operations the CLI calls (`up`, `down`, `destroy`, `status`, ...).
//! - [`host`] is the only place with side effects: the [`host::Runner`] and [`host::HostFs`]
//!   traits and the real implementation; the strict simulated FreeBSD host is its own crate
//!   (`jailctl_sim`, re-exported as `sim`).
//!   Read and preview commands get [`host::readonly::ReadOnlyHost`], which refuses every
//!   changing command and file write; every command runs under a per-tool deadline
//!   ([`host::deadline`]).
//! - [`jail_params`] is the one list of jail(8)'s `allow.*` parameters, read by the
//!   configuration checks and by the simulated kernel.
//! - [`boot`] starts the fleet in dependency order at boot and stops it at shutdown, over the
//!   [`boot::JailDriver`] trait (one jail's up/health/stop/force-stop).
//! - [`platform`] reads the FreeBSD kernel directly where that beats spawning a tool (RACCT
//!   state, running jails); off FreeBSD a stub says what is missing.
//! - [`vnet`] plans VNET networking: pool addresses, bridge/epair steps ([`apply::net`] runs
//!   them; the epair names are in [`config::layout`]).
//! - [`doctor`] checks that a host is ready for jails (pool, datasets, RACCT, VIMAGE,
//!   modules, mount path lengths), for `jailctl doctor` and before `up`/`boot`.
//! - [`cli`] is the command line: one file per subcommand, each a thin `run` over the library.
//!
//! Nothing below `cli` chooses between the real and the simulated host: a [`host::Host`] is
//! passed in explicitly.
//!
//! The modules form layers, each naming only lower ones (lowest first): `jail_params` and
//! `platform`; `host`; `config` (with [`config::layout`], the names of everything jailctl puts
//! on a host); `render`; `observe`; `vnet`; `provision`; `plan`; `apply`; `base`; `ops`;
//! `boot` and `doctor`; `sim`; `cli`. `tests/it/module_graph.rs` fails on a reference that runs back
//! up; ARCHITECTURE.md draws the graph.

// The layers below `apply` live in their own crates (see ARCHITECTURE.md); they are re-exported
// under the names the modules here and the tests use.
pub use jailctl_core::{config, observe, plan, provision, render, vnet};
pub use jailctl_host as host;
pub use jailctl_host::{jail_params, platform};
/// The simulated FreeBSD host (the `sim` feature, on by default).
#[cfg(feature = "sim")]
pub use jailctl_sim as sim;

pub mod apply;
pub mod base;
pub mod boot;
pub mod cli;
pub mod doctor;
pub mod ops;
