//! rctl(8) on the simulated host: rules keyed by jail name, usage, RACCT state.

use super::Ctx;
use crate::host::Output;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RctlState {}

pub fn run(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "rctl: not modelled by the simulated host yet\n")
}
