//! sysctl(8) on the simulated host: the few OIDs jailctl reads.

use super::Ctx;
use crate::host::Output;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SysctlState {}

pub fn run(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "sysctl: not modelled by the simulated host yet\n")
}

pub fn init_fresh(_s: &mut super::SimState) {}
