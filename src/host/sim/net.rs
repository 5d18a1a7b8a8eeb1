//! ifconfig(8) on the simulated host: interfaces, epair pairs, bridges, aliases, vnet moves.

use super::Ctx;
use crate::host::Output;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetState {}

pub fn run(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "ifconfig: not modelled by the simulated host yet\n")
}

pub fn init_fresh(_s: &mut super::SimState) {}
