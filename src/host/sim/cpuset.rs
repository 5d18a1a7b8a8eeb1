//! cpuset(1) on the simulated host: per-jail CPU masks.

use super::Ctx;
use crate::host::Output;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CpusetState {}

pub fn run(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "cpuset: not modelled by the simulated host yet\n")
}
