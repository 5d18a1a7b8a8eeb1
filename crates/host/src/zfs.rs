//! The one `zfs get` jailctl runs, as a typed query: [`Get`] builds the argv (always the
//! scripted form: `-H`, `-p`, named columns) and [`parse_rows`] reads the answer back into
//! [`Row`]s. Observing jails, checking ownership, taking snapshots and managing bases all ask
//! ZFS for properties; they differ in the properties, the datasets and the depth, never in how
//! the command is spelled or how its lines are split, so those live here once.
//!
//! Lines: one per dataset and property, fields separated by one tab. A user property's value
//! may itself hold tabs; the source never does, so it is the text after the last tab
//! (zfs(8), `zfs get`: "-H  Display output in a form more easily parsed by scripts").

use super::{Cmd, tools};

/// How far below the named datasets a [`Get`] looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// The named datasets only.
    Named,
    /// Everything below them, snapshots included (`-r`).
    All,
    /// Down to this many levels (`-d N`).
    Levels(u32),
}

/// A `zfs get -H -p` of some properties of some datasets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Get {
    props: Vec<String>,
    datasets: Vec<String>,
    depth: Depth,
    source: bool,
    /// `-t TYPES`: only datasets of these types (`filesystem`, `volume`, `snapshot`, ...).
    types: Vec<String>,
    /// `-s SOURCES`: only properties from these sources (`local`, `received`, ...).
    sources: Vec<String>,
}

impl Get {
    /// `props` of `datasets`, with the source column, the named datasets only.
    pub fn new<P, D>(props: P, datasets: D) -> Self
    where
        P: IntoIterator,
        P::Item: Into<String>,
        D: IntoIterator,
        D::Item: Into<String>,
    {
        Get {
            props: props.into_iter().map(Into::into).collect(),
            datasets: datasets.into_iter().map(Into::into).collect(),
            depth: Depth::Named,
            source: true,
            types: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Only datasets of these types (`-t filesystem,volume`): with [`Depth::All`], leaves the
    /// snapshots below out.
    pub fn only_types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Only properties whose source is one of `sources` (`-s local`).
    pub fn only_sources<S: Into<String>>(mut self, sources: impl IntoIterator<Item = S>) -> Self {
        self.sources = sources.into_iter().map(Into::into).collect();
        self
    }

    pub fn depth(mut self, depth: Depth) -> Self {
        self.depth = depth;
        self
    }

    /// Leave the source column out (`-o name,property,value`).
    pub fn without_source(mut self) -> Self {
        self.source = false;
        self
    }

    /// The argv: `-H -p`, the depth, then `-o`, `-t`, `-s` in the order of zfs(8)'s synopsis
    /// of `zfs get` (`[-r|-d depth] [-Hp] [-o field...] [-t type...] [-s source...]
    /// property... [dataset...]`; the flags are getopt(3) options, so `-H -p` leading is the
    /// same command), then the properties and the datasets.
    pub fn cmd(&self) -> Cmd {
        let mut a: Vec<String> = vec!["get".into(), "-H".into(), "-p".into()];
        match self.depth {
            Depth::Named => {}
            Depth::All => a.push("-r".into()),
            Depth::Levels(n) => {
                a.push("-d".into());
                a.push(n.to_string());
            }
        }
        a.push("-o".into());
        a.push(if self.source {
            "name,property,value,source".into()
        } else {
            "name,property,value".into()
        });
        if !self.types.is_empty() {
            a.push("-t".into());
            a.push(self.types.join(","));
        }
        if !self.sources.is_empty() {
            a.push("-s".into());
            a.push(self.sources.join(","));
        }
        a.push(self.props.join(","));
        a.extend(self.datasets.iter().cloned());
        Cmd::new(tools::ZFS, a)
    }
}

/// One line of a [`Get`]'s answer. `source` is empty for a query without that column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    pub name: &'a str,
    pub property: &'a str,
    pub value: &'a str,
    pub source: &'a str,
}

/// A line of `zfs get` output that is not in the scripted form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("line {line} of `zfs get` ({reason}): {text:?}")]
#[diagnostic(help(
    "jailctl reads `zfs get -H -p` in the form zfs(8) documents; run the command by hand to see what this zfs answers"
))]
pub struct RowError {
    /// 1-based.
    pub line: usize,
    pub text: String,
    pub reason: &'static str,
}

/// The lines of a [`Get`]'s answer (`with_source`: the query had the source column). Empty
/// lines are skipped.
pub fn parse_rows(stdout: &str, with_source: bool) -> Result<Vec<Row<'_>>, RowError> {
    let mut rows = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let fail = |reason: &'static str| RowError {
            line: i + 1,
            text: line.to_string(),
            reason,
        };
        let mut f = line.splitn(3, '\t');
        let (Some(name), Some(property), Some(rest)) = (f.next(), f.next(), f.next()) else {
            return Err(fail(if with_source {
                "expected 4 tab-separated fields: name, property, value, source"
            } else {
                "expected 3 tab-separated fields: name, property, value"
            }));
        };
        let (value, source) = if with_source {
            rest.rsplit_once('\t').ok_or_else(|| {
                fail("expected 4 tab-separated fields: name, property, value, source")
            })?
        } else {
            (rest, "")
        };
        if name.is_empty() || property.is_empty() {
            return Err(fail("empty dataset or property name"));
        }
        if property.contains(' ') {
            return Err(fail("property name with a space; was -H given?"));
        }
        rows.push(Row {
            name,
            property,
            value,
            source,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_by_depth_and_columns() {
        let g = Get::new(["quota", "jailctl:managed"], ["z/a", "z/b"]);
        assert_eq!(
            g.cmd().to_string(),
            "/sbin/zfs get -H -p -o name,property,value,source quota,jailctl:managed z/a z/b"
        );
        assert_eq!(
            g.clone().depth(Depth::All).cmd().args[3],
            "-r",
            "{:?}",
            g.cmd()
        );
        let d = g.clone().depth(Depth::Levels(2)).without_source().cmd();
        assert_eq!(
            d.args[3..7],
            ["-d", "2", "-o", "name,property,value"].map(String::from)
        );
        let local = Get::new(["all"], ["z/a"])
            .without_source()
            .only_sources(["local"]);
        assert_eq!(
            local.cmd().to_string(),
            "/sbin/zfs get -H -p -o name,property,value -s local all z/a"
        );
    }

    #[test]
    fn types_come_after_the_columns_and_before_the_sources() {
        let g = Get::new(["exec"], ["z/j"])
            .depth(Depth::All)
            .only_sources(["local", "inherited"])
            .only_types(["filesystem", "volume"]);
        assert_eq!(
            g.cmd().to_string(),
            "/sbin/zfs get -H -p -r -o name,property,value,source -t filesystem,volume -s local,inherited exec z/j"
        );
        let plain = Get::new(["exec"], ["z/j"]).only_types(["snapshot"]).cmd();
        assert_eq!(
            plain.args[5..8],
            ["-t", "snapshot", "exec"].map(String::from)
        );
    }

    #[test]
    fn rows_keep_tabs_in_values_and_refuse_other_shapes() {
        let rows = parse_rows(
            "z/a\tjc:note\ta\tb\tlocal\n\nz/a\tquota\t0\tdefault\n",
            true,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].value, rows[0].source), ("a\tb", "local"));
        assert_eq!(rows[1].property, "quota");
        let plain = parse_rows("z/a\tjc:note\ta\tb\n", false).unwrap();
        assert_eq!(plain[0].value, "a\tb");
        let e = parse_rows("z/a\tquota\t0\n", true).unwrap_err();
        assert_eq!((e.line, e.reason.contains("4 tab-separated")), (1, true));
        let e = parse_rows("NAME  PROPERTY\tx y\tz\n", false).unwrap_err();
        assert!(e.reason.contains("space"), "{e}");
    }
}
