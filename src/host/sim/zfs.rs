//! zfs(8) and zpool(8) on the simulated host: datasets, snapshots, clones and properties.

use super::{Ctx, SimState};
use crate::host::Output;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ZfsState {}

pub fn init_fresh(_s: &mut SimState) {}

pub fn run(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "zfs: not modelled by the simulated host yet\n")
}

pub fn run_zpool(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "zpool: not modelled by the simulated host yet\n")
}
