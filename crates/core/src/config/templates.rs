//! The templates shipped with jailctl, compiled into the binary so an installed jailctl always
//! has them. A file `<config_dir>/templates/<name>.toml` with the same name wins.

use std::path::PathBuf;

/// Name and TOML text of every shipped template.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "minimal",
        include_str!("../../../../templates/minimal.toml"),
    ),
    ("nginx", include_str!("../../../../templates/nginx.toml")),
    (
        "postgresql",
        include_str!("../../../../templates/postgresql.toml"),
    ),
    ("vnet", include_str!("../../../../templates/vnet.toml")),
    (
        "unbound",
        include_str!("../../../../templates/unbound.toml"),
    ),
    ("redis", include_str!("../../../../templates/redis.toml")),
    ("build", include_str!("../../../../templates/build.toml")),
];

pub fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// How error messages name a shipped template (they are not files on the host).
pub fn shipped_path(name: &str) -> PathBuf {
    PathBuf::from(format!("<shipped>/templates/{name}.toml"))
}
