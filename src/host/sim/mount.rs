//! mount(8)/umount(8) on the simulated host: nullfs and devfs mounts, `mount -p`.

use super::Ctx;
use crate::host::Output;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MountState {}

pub fn run_mount(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "mount: not modelled by the simulated host yet\n")
}

pub fn run_umount(_ctx: &mut Ctx<'_>, _args: &[String]) -> Output {
    Output::fail(127, "umount: not modelled by the simulated host yet\n")
}
