//! Running VNET steps: the epair created under a unit noted in the journal first, the
//! bridge ensured or dropped under the host-wide network lock, and each step's undo. The
//! planning side (addresses, names, which steps) is [`crate::vnet`], which runs nothing.

use super::{Op, Undo};
use crate::host::{Host, ProcessError};
use crate::vnet::{EpairOp, NetStep, bridge_members, create_bridge_cmd, destroy_cmd, ifconfig};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Units the epair cloner accepts (the kernel's IF_MAXUNIT is 0x7fff).
/// Why a VNET operation failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum NetError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(#[from] ProcessError),
    #[error("`ifconfig {want} create` printed {printed:?}, not {want}a")]
    #[diagnostic(help("check `ifconfig -l` for a stray epair"))]
    Renamed { want: String, printed: String },
    #[error("neither epair{unit}a nor epair{unit}b exists: nothing was left unnamed")]
    NoUnnamed { unit: u32 },
    #[error("cannot take the network lock: {0}")]
    Lock(
        #[source]
        #[diagnostic_source]
        super::lock::LockError,
    ),
    /// The unit about to be used could not be noted in the undo journal.
    #[error(
        "cannot write the undo journal {}: {source}; the epair was not created",
        .path.display()
    )]
    #[diagnostic(help("check that /var/db is writable"))]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) const EPAIR_UNITS: u32 = 0x8000;

/// How many units [`create_epair`] tries before giving up: the first is almost always free.
const EPAIR_TRIES: u32 = 32;

/// The first unit [`create_epair`] tries for a jail: spread by name so that jails created at
/// the same time rarely want the same one (a renamed pair keeps its unit, invisible to
/// `ifconfig -l`, so "the lowest free unit" cannot be read off the host cheaply).
pub(crate) fn first_unit(jail: &str) -> u32 {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let h = jail.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h % EPAIR_UNITS
}

/// Create the epair of `op` under a unit chosen here, so the exact interface is known before
/// it exists: `note(N)` is called first (the executor records "destroy epairNa if a killed
/// run left it unnamed" in the journal and saves it), then `ifconfig epairN create`, then the
/// ends are renamed and the host end joins the bridge. A SIGKILL at any point therefore
/// leaves either nothing or an interface the journal names. A unit another pair holds is
/// refused by the kernel (`SIOCIFCREATE2: File exists`): the next one is noted and tried.
/// A failure part-way destroys what this call created, so nothing is left behind; the error
/// says which command failed.
pub fn create_epair(
    host: &dyn Host,
    op: &EpairOp,
    note: &mut dyn FnMut(u32) -> Result<(), NetError>,
) -> Result<(), NetError> {
    let fail = NetError::Process;
    let mut unit = first_unit(&op.jail);
    let mut tries = 0;
    loop {
        note(unit)?;
        let want = format!("epair{unit}");
        let out = host
            .output(&ifconfig([want.as_str(), "create"]))
            .map_err(fail)?;
        if out.success() {
            // ifconfig prints the kernel's name when it differs from the one asked for.
            let printed = out.stdout.trim();
            if printed != format!("{want}a") {
                let _ = host.run(&destroy_cmd(&format!("{want}a")));
                return Err(NetError::Renamed {
                    want,
                    printed: printed.to_string(),
                });
            }
            break;
        }
        tries += 1;
        if !out.stderr.contains("File exists") || tries >= EPAIR_TRIES {
            let cmd = ifconfig([want.as_str(), "create"]);
            return Err(fail(ProcessError::failed(&cmd, out)));
        }
        unit = (unit + 1) % EPAIR_UNITS;
    }
    let a = format!("epair{unit}a");
    let b = format!("epair{unit}b");
    let cleanup = |iface: &str| {
        let _ = host.run(&destroy_cmd(iface));
    };
    if let Err(e) = host.run(&ifconfig([a.as_str(), "up", "name", &op.names.host])) {
        cleanup(&a);
        return Err(fail(e));
    }
    if let Err(e) = host.run(&ifconfig([b.as_str(), "name", &op.names.jail])) {
        cleanup(&op.names.host);
        return Err(fail(e));
    }
    if let Err(e) = host.run(&ifconfig([op.bridge.as_str(), "addm", &op.names.host])) {
        cleanup(&op.names.host);
        return Err(fail(e));
    }
    Ok(())
}

/// Undo of a [`create_epair`] that may have been killed before renaming the ends: destroy
/// `epairNa`, or `epairNb` when only the first end was renamed. Neither there is an error,
/// which the journal ignores for a pending entry (the kill came before the create, or after
/// both renames, when the jail-named undo applies), so an undo report lists this only when
/// it destroyed something. Runs under the network lock, so no live run is between its create
/// and its rename.
fn destroy_unnamed(host: &dyn Host, unit: u32) -> Result<(), NetError> {
    for end in ['a', 'b'] {
        let iface = format!("epair{unit}{end}");
        let exists = host
            .output(&ifconfig([iface.as_str()]))
            .map_err(NetError::from)?
            .success();
        if exists {
            return host
                .run(&destroy_cmd(&iface))
                .map(|_| ())
                .map_err(NetError::from);
        }
    }
    Err(NetError::NoUnnamed { unit })
}

/// The ops of a [`NetStep`] with their undo, for [`super::ops`].
pub fn ops(step: &NetStep) -> Vec<(Op, Vec<Undo>)> {
    match step {
        NetStep::CreateBridge { bridge, uplink } => vec![(
            Op::Net(NetOp::EnsureBridge {
                bridge: bridge.clone(),
                uplink: uplink.clone(),
            }),
            vec![Undo::Net(NetOp::DropUnusedBridge {
                bridge: bridge.clone(),
                uplink: uplink.clone(),
            })],
        )],
        NetStep::CreateEpair(e) => vec![(
            Op::Net(NetOp::Epair(e.clone())),
            vec![Undo::Run {
                cmd: destroy_cmd(&e.names.host),
            }],
        )],
        NetStep::DestroyEpair { iface, restore } => vec![(
            Op::Run(destroy_cmd(iface)),
            restore
                .iter()
                .cloned()
                .map(|e| Undo::Net(NetOp::Epair(e)))
                .collect(),
        )],
    }
}

/// A VNET operation of several commands that depend on each other's output or on the host's
/// current state, run by [`run`] under the host-wide network lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NetOp {
    /// Create a jail's epair (under a unit noted in the journal first; see [`create_epair`]).
    Epair(EpairOp),
    /// Undo of an [`NetOp::Epair`] still pending: destroy `epair<unit>a`/`b` if a killed run
    /// left them unnamed (see [`destroy_unnamed`]).
    DestroyUnnamedEpair { unit: u32 },
    /// Create a bridge unless it exists: jails started in parallel (at boot) may each have
    /// planned it.
    EnsureBridge {
        bridge: String,
        uplink: Option<String>,
    },
    /// Undo of `EnsureBridge`: destroy the bridge unless a member other than its uplink is
    /// still on it (another jail's epair).
    DropUnusedBridge {
        bridge: String,
        uplink: Option<String>,
    },
}

impl fmt::Display for NetOp {
    /// The commands, as `--dry-run` shows them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetOp::Epair(e) => write!(f, "{e}"),
            NetOp::EnsureBridge { bridge, uplink } => write!(
                f,
                "{}  # unless {bridge} exists",
                create_bridge_cmd(bridge, uplink.as_deref())
            ),
            NetOp::DropUnusedBridge { bridge, .. } => {
                write!(f, "{}  # unless a jail uses it", destroy_cmd(bridge))
            }
            NetOp::DestroyUnnamedEpair { unit } => write!(
                f,
                "{}  # if a killed run left it unnamed (or epair{unit}b)",
                destroy_cmd(&format!("epair{unit}a"))
            ),
        }
    }
}

impl NetOp {
    /// How this op reads as an undo action.
    pub fn undo_text(&self) -> String {
        match self {
            NetOp::Epair(e) => format!(
                "re-create epair {}/{} on {}",
                e.names.host, e.names.jail, e.bridge
            ),
            other => other.to_string(),
        }
    }
}

/// Run one [`NetOp`]. A failure leaves nothing behind that the op created. An epair's unit
/// is not recorded anywhere (an undo re-creating a pair runs outside any journal entry).
pub fn run(host: &dyn Host, op: &NetOp) -> Result<(), NetError> {
    run_noting(host, op, &mut |_| Ok(()))
}

/// [`run`], calling `note(N)` under the network lock before `ifconfig epairN create` (see
/// [`create_epair`]): the executor journals the unit there. Holds the network lock of
/// [`crate::apply::lock`] for the length of the op: bridge creation, membership and removal
/// by concurrent jailctl processes (and boot threads) take turns. It is taken with nothing
/// below it in the hierarchy held by the op (the jail and base locks of the run come before it
/// in the one order), and nothing is taken while it is held.
pub fn run_noting(
    host: &dyn Host,
    op: &NetOp,
    note: &mut dyn FnMut(u32) -> Result<(), NetError>,
) -> Result<(), NetError> {
    use crate::apply::lock::{Held, LockKey, Mode};
    let _lock = Held::acquire(host, &[(LockKey::Network, Mode::Exclusive)], |_| {})
        .map_err(NetError::Lock)?;
    match op {
        NetOp::Epair(e) => create_epair(host, e, note),
        NetOp::DestroyUnnamedEpair { unit } => destroy_unnamed(host, *unit),
        NetOp::EnsureBridge { bridge, uplink } => {
            let exists = host
                .output(&ifconfig([bridge.as_str()]))
                .is_ok_and(|o| o.success());
            if exists {
                return Ok(());
            }
            host.run(&create_bridge_cmd(bridge, uplink.as_deref()))
                .map(|_| ())
                .map_err(NetError::from)
        }
        NetOp::DropUnusedBridge { bridge, uplink } => {
            let out = host
                .output(&ifconfig([bridge.as_str()]))
                .map_err(NetError::from)?;
            if !out.success() {
                return Ok(()); // already gone
            }
            let in_use = bridge_members(&out.stdout)
                .iter()
                .any(|m| Some(m) != uplink.as_ref());
            if in_use {
                return Ok(());
            }
            host.run(&destroy_cmd(bridge))
                .map(|_| ())
                .map_err(NetError::from)
        }
    }
}
