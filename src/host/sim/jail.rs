//! jail(8), jls(8) and jexec(8) on the simulated host.

use super::Ctx;
use crate::host::Output;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One jail the simulated kernel knows about.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimJail {
    pub jid: i32,
    pub name: String,
    pub path: String,
    /// Kernel parameters as jls(8) would print them (`host.hostname`, `ip4.addr`, ...).
    pub params: BTreeMap<String, String>,
    pub dying: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JailState {
    /// Jails by name.
    pub jails: BTreeMap<String, SimJail>,
    pub last_jid: i32,
}

pub fn run_jail(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "jail: not modelled by the simulated host yet\n")
}

pub fn run_jls(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "jls: not modelled by the simulated host yet\n")
}

pub fn run_jexec(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "jexec: not modelled by the simulated host yet\n")
}
