//! What jailctl may destroy. `jailctl:managed` is a ZFS *user property*, and user properties
//! are inherited: a dataset an administrator creates below a jail's root (or below a volume,
//! or a base) reads `jailctl:managed=yes` too, with the source `inherited from ...`. Before a
//! `zfs destroy -r`, jailctl therefore lists the dataset and everything below it with the
//! property's *source*, and owns only what carries the property itself (`local`). Anything
//! else below is named and the destroy is refused, so an admin's data is never taken along.
//! Snapshots are part of the dataset they belong to and are not checked.

use crate::host::{Cmd, Host, ProcessError, tools};

/// The property that marks what jailctl created.
pub const MANAGED: &str = "jailctl:managed";

/// `zfs get -H -p -r -o name,property,value,source jailctl:managed DATASET`.
pub fn get_cmd(dataset: &str) -> Cmd {
    Cmd::new(
        tools::ZFS,
        [
            "get",
            "-H",
            "-p",
            "-r",
            "-o",
            "name,property,value,source",
            MANAGED,
            dataset,
        ],
    )
}

/// One dataset at or below the one to destroy that jailctl did not create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    pub name: String,
    /// Why: `jailctl:managed=VALUE (SOURCE)`.
    pub why: String,
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.why)
    }
}

/// The datasets (not snapshots) in `get_cmd`'s output that jailctl does not own: those
/// without `jailctl:managed=yes` set locally.
pub fn foreign_in(output: &str) -> Vec<Foreign> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let mut f = l.splitn(4, '\t');
            let (name, _prop, value, source) = (f.next()?, f.next()?, f.next()?, f.next()?);
            if name.contains('@') || (value == "yes" && source == "local") {
                return None;
            }
            let why = match (value, source) {
                ("-", "-") => format!("{MANAGED} is not set"),
                (v, s) => format!("{MANAGED}={v}, {s}"),
            };
            Some(Foreign {
                name: name.to_string(),
                why,
            })
        })
        .collect()
}

/// The datasets at or below `dataset` that a `zfs destroy -r` would take but jailctl does
/// not own.
pub fn foreign_below(host: &dyn Host, dataset: &str) -> Result<Vec<Foreign>, ProcessError> {
    let out = host.run(&get_cmd(dataset))?;
    Ok(foreign_in(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_locally_set_yes_is_owned() {
        let out = "z/j/web\tjailctl:managed\tyes\tlocal\n\
z/j/web/data\tjailctl:managed\tyes\tinherited from z/j/web\n\
z/j/web@s1\tjailctl:managed\tyes\tinherited from z/j/web\n\
z/j/web/own\tjailctl:managed\tyes\tlocal\n\
z/j/web/x\tjailctl:managed\t-\t-\n\
z/j/web/r\tjailctl:managed\tyes\treceived\n";
        let f = foreign_in(out);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["z/j/web/data", "z/j/web/x", "z/j/web/r"]);
        assert_eq!(
            f[0].to_string(),
            "z/j/web/data (jailctl:managed=yes, inherited from z/j/web)"
        );
        assert_eq!(f[1].why, "jailctl:managed is not set");
        assert!(foreign_in("z/j/web\tjailctl:managed\tyes\tlocal\n").is_empty());
    }

    #[test]
    fn the_query_asks_for_the_source() {
        assert_eq!(
            get_cmd("z/j/web").to_string(),
            "/sbin/zfs get -H -p -r -o name,property,value,source jailctl:managed z/j/web"
        );
    }
}
