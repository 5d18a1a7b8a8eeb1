//! Pure parsers of zfs(8) output, for observing jailctl's datasets. They read the scripted
//! forms only (`-H`: no header, one tab between fields, `-` for none), which are the same on
//! FreeBSD's OpenZFS and on zfs-fuse, and refuse anything else with the line that did not fit,
//! so a format change shows up as an error rather than as a wrong plan.

use super::Dataset;
use std::collections::BTreeMap;

/// A line of tool output that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("cannot read line {line} of `{command}` output ({reason}): {text:?}")]
#[diagnostic(help(
    "run the command by hand to see what it answers; if it looks normal, this is a bug in jailctl, please report it"
))]
pub struct ParseError {
    pub command: &'static str,
    /// 1-based.
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// Parse `zfs get -H -p [-r] -o name,property,value PROPS DATASET...`: one line per dataset
/// and property. Datasets keep the order of their first line; the value is kept verbatim
/// (`-` for none; [`Dataset::prop`] hides it).
pub fn parse_zfs_get(stdout: &str) -> Result<BTreeMap<String, Dataset>, ParseError> {
    let command = "zfs get -H -p -o name,property,value";
    let rows = crate::host::zfs::parse_rows(stdout, false).map_err(|e| row_error(command, e))?;
    let mut out: BTreeMap<String, Dataset> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        add_prop(&mut out, r.name, r.property, r.value).map_err(|reason| ParseError {
            command,
            line: i + 1,
            text: format!("{}\t{}\t{}", r.name, r.property, r.value),
            reason: reason.to_string(),
        })?;
    }
    Ok(out)
}

fn row_error(command: &'static str, e: crate::host::zfs::RowError) -> ParseError {
    ParseError {
        command,
        line: e.line,
        text: e.text,
        reason: e.reason.to_string(),
    }
}

/// Record one `name property value` line; the reason when the line cannot be right.
fn add_prop(
    out: &mut BTreeMap<String, Dataset>,
    name: &str,
    prop: &str,
    value: &str,
) -> Result<(), &'static str> {
    if name.is_empty() || prop.is_empty() {
        return Err("empty dataset or property name");
    }
    if prop.contains(' ') {
        return Err("property name with a space; was -H given?");
    }
    // Lines come grouped by dataset: look the last one up first.
    let ds = match out.get_mut(name) {
        Some(d) => d,
        None => out.entry(name.to_string()).or_insert_with(|| Dataset {
            name: name.to_string(),
            props: BTreeMap::new(),
        }),
    };
    if ds
        .props
        .insert(prop.to_string(), value.to_string())
        .is_some()
    {
        return Err("property listed twice for the same dataset");
    }
    Ok(())
}

/// Datasets by name, and the source of one property by dataset name.
pub type Sourced = (BTreeMap<String, Dataset>, BTreeMap<String, String>);

/// Parse `zfs get -H -p [-r|-d N] -o name,property,value,source PROPS DATASET...`: the
/// datasets as [`parse_zfs_get`] gives them, and each dataset's source of property `keep`
/// (`local`, `default`, `inherited from DATASET`, `-`). The value may contain tabs (user
/// properties); the source never does, so it is the text after the last tab.
pub fn parse_zfs_get_sourced(stdout: &str, keep: &str) -> Result<Sourced, ParseError> {
    let (datasets, mut sources) = parse_zfs_get_sources(stdout, &[keep])?;
    Ok((datasets, sources.remove(keep).unwrap_or_default()))
}

/// Datasets by name, and the sources of several properties, by property then dataset.
pub type Sources = (
    BTreeMap<String, Dataset>,
    BTreeMap<String, BTreeMap<String, String>>,
);

/// [`parse_zfs_get_sourced`] for several properties in one pass: the sources of each of
/// `keep`, by property, then by dataset.
pub fn parse_zfs_get_sources(stdout: &str, keep: &[&str]) -> Result<Sources, ParseError> {
    let mut datasets = BTreeMap::new();
    let mut sources: BTreeMap<String, BTreeMap<String, String>> = keep
        .iter()
        .map(|k| (k.to_string(), BTreeMap::new()))
        .collect();
    let command = "zfs get -H -p -o name,property,value,source";
    let rows = crate::host::zfs::parse_rows(stdout, true).map_err(|e| row_error(command, e))?;
    for (i, r) in rows.iter().enumerate() {
        if let Some(by_name) = sources.get_mut(r.property) {
            by_name.insert(r.name.to_string(), r.source.to_string());
        }
        add_prop(&mut datasets, r.name, r.property, r.value).map_err(|reason| ParseError {
            command,
            line: i + 1,
            text: format!("{}\t{}\t{}\t{}", r.name, r.property, r.value, r.source),
            reason: reason.to_string(),
        })?;
    }
    Ok((datasets, sources))
}

/// Parse `zfs list -H -o COLUMNS ...` where `columns` are the `-o` names in order (one must
/// be `name`). Rows keep the tool's order; each becomes a [`Dataset`] whose props are the
/// other columns.
pub fn parse_zfs_list(stdout: &str, columns: &[&str]) -> Result<Vec<Dataset>, ParseError> {
    let name_col = columns.iter().position(|c| *c == "name");
    let mut out = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let fail = |reason: String| ParseError {
            command: "zfs list -H -o",
            line: i + 1,
            text: line.to_string(),
            reason,
        };
        let Some(name_col) = name_col else {
            return Err(fail("the columns must include `name`".into()));
        };
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != columns.len() {
            return Err(fail(format!(
                "expected {} tab-separated fields ({}), found {}",
                columns.len(),
                columns.join(","),
                fields.len()
            )));
        }
        let mut props = BTreeMap::new();
        for (c, v) in columns.iter().zip(&fields) {
            if *c != "name" {
                props.insert(c.to_string(), v.to_string());
            }
        }
        out.push(Dataset {
            name: fields[name_col].to_string(),
            props,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &str = include_str!("../../../../tests/fixtures/zfs/get-Hpr-zfs-fuse.txt");
    const LIST: &str = include_str!("../../../../tests/fixtures/zfs/list-H-zfs-fuse.txt");

    #[test]
    fn get_fixture_from_a_real_zfs() {
        let m = parse_zfs_get(GET).unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["tp", "tp/a", "tp/bad name", "tp/c", "tp/c@s1", "tp/c@s4"]
        );
        let c = &m["tp/c"];
        assert_eq!(c.prop("quota"), Some("104857600"));
        assert_eq!(c.prop("jailctl:managed"), Some("yes"));
        assert_eq!(c.prop("origin"), None);
        assert_eq!(c.props["origin"], "-");
        assert_eq!(m["tp/a"].prop("origin"), Some("tp/c@s1"));
        assert_eq!(
            m["tp/bad name"].prop("mountpoint"),
            Some("/tmp/zfsprobe/tp/bad name")
        );
        assert_eq!(m["tp/c@s1"].prop("mountpoint"), None);
    }

    #[test]
    fn get_rejects_what_is_not_scripted_output() {
        let e = parse_zfs_get("NAME  PROPERTY  VALUE  SOURCE\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("3 tab-separated fields"), "{e}");
        let e = parse_zfs_get("a\tquota\t0\na\tquota\t1\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("listed twice"));
        assert_eq!(parse_zfs_get("").unwrap().len(), 0);
        // A user property value with a tab stays whole.
        let m = parse_zfs_get("a\tjailctl:spec\tx\ty\n").unwrap();
        assert_eq!(m["a"].props["jailctl:spec"], "x\ty");
    }

    #[test]
    fn get_with_sources_keeps_the_source_of_one_property() {
        let out = "z/j\texec\toff\tlocal\nz/j/w\texec\toff\tinherited from z/j\nz/j/w\tjailctl:spec\tx\ty\tlocal\n";
        let (m, src) = parse_zfs_get_sourced(out, "exec").unwrap();
        assert_eq!(m["z/j/w"].prop("exec"), Some("off"));
        assert_eq!(m["z/j/w"].props["jailctl:spec"], "x\ty");
        assert_eq!(src["z/j"], "local");
        assert_eq!(src["z/j/w"], "inherited from z/j");
        assert_eq!(src.len(), 2);
        let e = parse_zfs_get_sourced("z/j\texec\toff\n", "exec").unwrap_err();
        assert!(e.reason.contains("4 tab-separated"), "{e}");
    }

    #[test]
    fn list_fixture_from_a_real_zfs() {
        let cols = ["name", "used", "avail", "refer", "mountpoint", "origin"];
        let v = parse_zfs_list(LIST, &cols).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(v[1].name, "tp/a");
        assert_eq!(v[1].prop("origin"), Some("tp/c@s1"));
        assert_eq!(v[2].name, "tp/bad name");
        assert_eq!(v[4].name, "tp/c@s1");
        assert_eq!(v[4].prop("avail"), None);
        assert_eq!(v[4].prop("refer"), Some("112K"));
    }

    #[test]
    fn list_rejects_wrong_column_count_and_missing_name() {
        let e = parse_zfs_list("tp\t1\n", &["name", "used", "origin"]).unwrap_err();
        assert!(e.reason.contains("expected 3"), "{e}");
        assert!(parse_zfs_list("tp\n", &["used"]).is_err());
    }
}
