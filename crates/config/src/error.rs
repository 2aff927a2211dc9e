//! Errors with `file:line: field: problem` locations.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A config loading error. Displays as `file:line: field: problem`, leaving
/// out the parts that are unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or name given to [`crate::load_str`]).
    pub file: String,
    /// 1-based line of the offending YAML node, when known.
    pub line: Option<u64>,
    /// Dotted field path such as `scrape_configs[0].scrape_interval`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(file: &str, line: Option<u64>, field: String, message: String) -> Self {
        ConfigError {
            file: file.to_string(),
            line,
            field,
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A field path built during validation (`scrape_configs[2].relabel_configs[0]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Seg>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.into()));
        p
    }

    pub fn idx(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// Builds a path from `serde_path_to_error`'s rendering, e.g.
    /// `scrape_configs[0].scrape_interval`.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let mut out = FieldPath::root();
        for seg in path.iter() {
            match seg {
                Segment::Seq { index } => out.0.push(Seg::Index(*index)),
                Segment::Map { key } => out.0.push(Seg::Key(key.clone())),
                Segment::Enum { variant } => out.0.push(Seg::Key(variant.clone())),
                Segment::Unknown => {}
            }
        }
        out
    }

    pub(crate) fn error(&self, msg: impl Into<String>) -> Invalid {
        Invalid {
            path: self.clone(),
            message: msg.into(),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A semantic validation failure, located by field path. Turned into a
/// [`ConfigError`] (with a line number) by the loader.
#[derive(Clone, Debug)]
pub(crate) struct Invalid {
    pub(crate) path: FieldPath,
    pub(crate) message: String,
}

pub(crate) type Validation = Result<(), Invalid>;

/// The shape of the YAML document with the position of every node, used to
/// find the line for errors found after deserialization.
#[derive(Debug)]
pub(crate) enum Node {
    Map(Vec<(String, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl Node {
    /// Parses `yaml` into a position tree; `None` if it cannot be parsed
    /// (the caller then simply reports no line).
    pub(crate) fn parse(yaml: &str) -> Option<Spanned<Node>> {
        serde_saphyr::from_str::<Spanned<Node>>(yaml).ok()
    }
}

/// The line in `yaml` of the deepest node of `path` that exists there; other
/// config formats (alertmanager.yml, rule files) locate their errors with it.
pub fn line_of_path(yaml: &str, path: &FieldPath) -> Option<u64> {
    line_of(&Node::parse(yaml)?, path)
}

/// The line of the deepest node of `path` that exists in the tree.
pub(crate) fn line_of(tree: &Spanned<Node>, path: &FieldPath) -> Option<u64> {
    let mut node = tree;
    let mut line = None;
    for seg in &path.0 {
        let next = match (&node.value, seg) {
            (Node::Map(entries), Seg::Key(k)) => {
                entries.iter().find(|(ek, _)| ek == k).map(|(_, v)| v)
            }
            (Node::Seq(items), Seg::Index(i)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => {
                node = n;
                let l = n.referenced.line();
                if l > 0 {
                    line = Some(l);
                }
            }
            None => break,
        }
    }
    line
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.0, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key of any scalar type, as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<KeyText, E> {
                Ok(KeyText(String::from_utf8_lossy(v).into_owned()))
            }
        }
        d.deserialize_any(V)
    }
}
