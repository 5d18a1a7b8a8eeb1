//! Stage one: what the user wrote, as a tree that remembers where every key and value came
//! from (file and byte span). Layers (defaults, templates, the jail file) are merged on this
//! tree before validation, so an error in a value inherited from a template points into the
//! template.

use super::error::{ConfigError, Sources};
use std::collections::BTreeMap;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// A value and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub val: Val,
    pub file: usize,
    pub span: Range<usize>,
}

#[derive(Clone, Debug)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Float,
    Bool(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Table),
}

impl Val {
    /// How the type is called in messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float => "a float",
            Val::Bool(_) => "a boolean",
            Val::Datetime => "a date-time",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }
}

/// A table entry: the key's position and the value.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key_file: usize,
    pub key_span: Range<usize>,
    pub node: Node,
}

pub(crate) type Table = BTreeMap<String, Entry>;

/// Parse one file's text into a table; a TOML syntax error becomes a located error.
pub(crate) fn parse(sources: &Sources, file: usize) -> Result<Table, ConfigError> {
    let text = sources.text(file);
    match DeTable::parse(text) {
        Ok(t) => Ok(convert_table(t.into_inner(), file)),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().to_string();
            Err(sources.error(
                file,
                span,
                format!("invalid TOML: {msg}"),
                Some("see https://toml.io for the syntax".into()),
            ))
        }
    }
}

fn convert_table(t: DeTable<'_>, file: usize) -> Table {
    t.into_iter()
        .map(|(k, v)| {
            let key_span = k.span();
            let node = convert(v, file);
            (
                k.into_inner().into_owned(),
                Entry {
                    key_file: file,
                    key_span,
                    node,
                },
            )
        })
        .collect()
}

fn convert(v: toml::Spanned<DeValue<'_>>, file: usize) -> Node {
    let span = v.span();
    let val = match v.into_inner() {
        DeValue::String(s) => Val::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Val::Int(n),
                // Out of range for i64: keep the text so validation can say so.
                Err(_) => Val::Str(i.to_string()),
            }
        }
        DeValue::Float(_) => Val::Float,
        DeValue::Boolean(b) => Val::Bool(b),
        DeValue::Datetime(_) => Val::Datetime,
        DeValue::Array(a) => Val::Array(a.into_iter().map(|x| convert(x, file)).collect()),
        DeValue::Table(t) => Val::Table(convert_table(t, file)),
    };
    Node { val, file, span }
}

/// Lay `over` on top of `base`: tables merge key by key, everything else (lists included)
/// is replaced by the later layer.
pub(crate) fn merge(base: &mut Table, over: Table) {
    for (k, e) in over {
        match (base.get_mut(&k), e.node.val) {
            (
                Some(Entry {
                    node:
                        Node {
                            val: Val::Table(bt),
                            ..
                        },
                    ..
                }),
                Val::Table(ot),
            ) => merge(bt, ot),
            (_, val) => {
                base.insert(
                    k,
                    Entry {
                        key_file: e.key_file,
                        key_span: e.key_span,
                        node: Node {
                            val,
                            file: e.node.file,
                            span: e.node.span,
                        },
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(s: &mut Sources, text: &str) -> Table {
        let id = s.add(format!("f{}.toml", s.files.len()).into(), text.into());
        parse(s, id).unwrap()
    }

    #[test]
    fn tables_merge_and_lists_replace() {
        let mut s = Sources::default();
        let mut a = load(
            &mut s,
            "x = [1, 2]\n[limits]\nmemory = \"1G\"\nswap = \"1G\"\n",
        );
        let b = load(&mut s, "x = [3]\n[limits]\nmemory = \"2G\"\n");
        merge(&mut a, b);
        let Val::Array(x) = &a["x"].node.val else {
            panic!("x is not an array")
        };
        assert_eq!(x.len(), 1);
        let Val::Table(l) = &a["limits"].node.val else {
            panic!("limits is not a table")
        };
        assert!(matches!(&l["memory"].node.val, Val::Str(v) if v == "2G"));
        assert_eq!(l["memory"].node.file, 1);
        assert!(matches!(&l["swap"].node.val, Val::Str(v) if v == "1G"));
        assert_eq!(l["swap"].node.file, 0);
    }

    #[test]
    fn syntax_errors_are_located() {
        let mut s = Sources::default();
        let id = s.add("bad.toml".into(), "a = 1\nb = \n".into());
        let e = parse(&s, id).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("invalid TOML"), "{}", e.message);
    }
}
