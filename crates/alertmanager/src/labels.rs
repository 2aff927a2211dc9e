//! Label sets as Alertmanager (`prometheus/common/model`) sees them: their
//! fingerprint, their Go string form and their ordering. These strings end up
//! in group keys and webhook payloads, so they must match byte for byte.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Labels or annotations: name/value pairs sorted by name, unique names.
///
/// A sorted vector rather than a `BTreeMap`: alerts carry a handful of
/// labels, and a B-tree node costs ~550 bytes however few entries it holds,
/// which dominated memory with tens of thousands of alerts. Names and values
/// are interned ([`intern`]): tens of thousands of alerts share a few
/// distinct names and mostly repeated values, so a pair costs two pointers.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSet(Vec<(Sym, Sym)>);

/// An interned string (see [`intern`]).
pub type Sym = Arc<str>;

impl LabelSet {
    pub fn new() -> LabelSet {
        LabelSet(Vec::new())
    }

    fn find(&self, k: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| (**n).cmp(k))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.find(k).ok().map(|i| &*self.0[i].1)
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.find(k).is_ok()
    }

    /// Sets `k`, returning the previous value.
    pub fn insert(&mut self, k: String, v: String) -> Option<String> {
        let v = intern::sym_owned(v);
        match self.find(&k) {
            Ok(i) => Some(unsym(std::mem::replace(&mut self.0[i].1, v))),
            Err(i) => {
                self.0.insert(i, (intern::sym_owned(k), v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &str) -> Option<String> {
        self.find(k).ok().map(|i| unsym(self.0.remove(i).1))
    }

    pub fn retain(&mut self, mut f: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(k, v)| f(k, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs whose name passes `keep` (sharing their strings).
    pub fn filtered(&self, mut keep: impl FnMut(&str) -> bool) -> LabelSet {
        LabelSet(self.0.iter().filter(|(k, _)| keep(k)).cloned().collect())
    }

    /// Builds from interned pairs; later duplicates win, as in a map.
    fn from_syms(mut v: Vec<(Sym, Sym)>) -> LabelSet {
        // Stable sort keeps insertion order among equal names; keep the last.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Sym, Sym)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        out.shrink_to_fit();
        LabelSet(out)
    }
}

fn unsym(s: Sym) -> String {
    s.to_string()
}

/// Process-wide string interning for label names and values (and other
/// strings repeated across alerts). Entries nobody else references are
/// swept when a shard has doubled since its last sweep.
pub mod intern {
    use std::borrow::Borrow;
    use std::collections::HashSet;
    use std::hash::{Hash, Hasher};
    use std::sync::{Arc, LazyLock};

    use parking_lot::Mutex;

    struct Key<T: ?Sized>(Arc<T>);

    impl<T: ?Sized + Borrow<str>> Borrow<str> for Key<T> {
        fn borrow(&self) -> &str {
            (*self.0).borrow()
        }
    }
    impl<T: ?Sized + Borrow<str>> Hash for Key<T> {
        fn hash<H: Hasher>(&self, h: &mut H) {
            Borrow::<str>::borrow(&*self.0).hash(h)
        }
    }
    impl<T: ?Sized + Borrow<str>> PartialEq for Key<T> {
        fn eq(&self, o: &Self) -> bool {
            Borrow::<str>::borrow(&*self.0) == Borrow::<str>::borrow(&*o.0)
        }
    }
    impl<T: ?Sized + Borrow<str>> Eq for Key<T> {}

    struct Shard<T: ?Sized> {
        set: HashSet<Key<T>>,
        sweep_at: usize,
    }

    const SHARDS: usize = 16;

    struct Table<T: ?Sized>(Vec<Mutex<Shard<T>>>);

    impl<T: ?Sized + Borrow<str>> Table<T> {
        fn new() -> Self {
            Table(
                (0..SHARDS)
                    .map(|_| {
                        Mutex::new(Shard {
                            set: HashSet::new(),
                            sweep_at: 1024,
                        })
                    })
                    .collect(),
            )
        }

        fn get<S: AsRef<str>>(&self, s: S, make: impl FnOnce(S) -> Arc<T>) -> Arc<T> {
            let b = s.as_ref().as_bytes();
            let h = b.len()
                ^ b.last().map_or(0, |&c| c as usize * 7)
                ^ b.get(b.len() / 2).map_or(0, |&c| c as usize * 31);
            let mut sh = self.0[h % SHARDS].lock();
            if let Some(k) = sh.set.get(s.as_ref()) {
                return k.0.clone();
            }
            if sh.set.len() >= sh.sweep_at {
                sh.set.retain(|k| Arc::strong_count(&k.0) > 1);
                sh.sweep_at = (sh.set.len() * 2).max(1024);
            }
            let a = make(s);
            sh.set.insert(Key(a.clone()));
            a
        }
    }

    static STRS: LazyLock<Table<str>> = LazyLock::new(Table::new);

    pub fn sym(s: &str) -> Arc<str> {
        STRS.get(s, Arc::from)
    }

    pub fn sym_owned(s: String) -> Arc<str> {
        STRS.get(s, Arc::from)
    }

    /// An interned `Arc<str>` (generator URLs).
    pub fn arc_str(s: &str) -> Arc<str> {
        STRS.get(s, Arc::from)
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, String)> for LabelSet {
    /// Later duplicates win, as in a map.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(it: I) -> LabelSet {
        LabelSet::from_syms(
            it.into_iter()
                .map(|(k, v)| (intern::sym_owned(k), intern::sym_owned(v)))
                .collect(),
        )
    }
}

impl std::ops::Index<&str> for LabelSet {
    type Output = str;
    fn index(&self, k: &str) -> &str {
        self.get(k).expect("label present")
    }
}

impl Serialize for LabelSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LabelSet, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of label names to values")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<LabelSet, E> {
                Ok(LabelSet::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<LabelSet, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(4));
                while let Some((k, val)) = m.next_entry::<Str<'de>, Str<'de>>()? {
                    v.push((k.sym(), val.sym()));
                }
                Ok(LabelSet::from_syms(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string borrowed from the input when possible (interned right away).
enum Str<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Str<'_> {
    fn sym(self) -> Sym {
        match self {
            Str::Borrowed(s) => intern::sym(s),
            Str::Owned(s) => intern::sym_owned(s),
        }
    }
}

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Str<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str::Borrowed(s))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str::Owned(s.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Str<'de>, E> {
                Ok(Str::Owned(s))
            }
        }
        d.deserialize_str(V)
    }
}

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;

fn fnv_add(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// `model.LabelSet.Fingerprint`: FNV-1a 64 over `name 0xff value 0xff` in name order.
pub fn fingerprint(ls: &LabelSet) -> u64 {
    let mut h = FNV_OFFSET;
    for (n, v) in ls.iter() {
        h = fnv_add(h, n.as_bytes());
        h = fnv_add(h, &[0xff]);
        h = fnv_add(h, v.as_bytes());
        h = fnv_add(h, &[0xff]);
    }
    h
}

/// `model.Fingerprint.String`: 16 lowercase hex digits.
pub fn fp_string(fp: u64) -> String {
    format!("{fp:016x}")
}

/// Go's `strconv.Quote` (what `%q` prints).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `strconv.IsPrint` for non-ASCII: everything but
/// C1 controls, the replacement character and a few format characters.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    !((0x80..0xa0).contains(&u)
        || u == 0xad
        || (0x200b..=0x200f).contains(&u)
        || (0x2028..=0x202e).contains(&u)
        || u == 0xfeff
        || u == 0xfffd)
}

/// `model.LabelSet.String`: `{a="1", b="2"}` with the `name="value"` strings sorted.
pub fn labelset_string(ls: &LabelSet) -> String {
    let mut parts: Vec<String> = ls
        .iter()
        .map(|(n, v)| format!("{n}={}", go_quote(v)))
        .collect();
    parts.sort();
    format!("{{{}}}", parts.join(", "))
}

/// `model.LabelSet.Before`: shorter sets first, then the first differing label.
pub fn labelset_before(a: &LabelSet, b: &LabelSet) -> bool {
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    let mut names: Vec<&str> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        let Some(av) = a.get(n) else { return true };
        let Some(bv) = b.get(n) else { return false };
        match av.cmp(bv) {
            Ordering::Less => return true,
            Ordering::Greater => return false,
            Ordering::Equal => {}
        }
    }
    false
}

/// `types.AlertSlice.Less`: by `job`, then `instance` (alerts that have the
/// label first), then by the whole label set.
pub fn alert_order(a: &LabelSet, b: &LabelSet) -> Ordering {
    for key in ["job", "instance"] {
        match (a.get(key), b.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    if labelset_before(a, b) {
        Ordering::Less
    } else if labelset_before(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// Label names as Alertmanager 0.25 accepts them.
pub fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn ls<const N: usize>(pairs: [(&str, &str); N]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_alertmanager() {
        // From the captured baseline webhook payloads (Alertmanager 0.25).
        let l = ls([
            ("alertname", "InhibTest"),
            ("service", "checkout"),
            ("severity", "critical"),
        ]);
        let want = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/bench/alertmanager/results/baseline-am0.25-debian/webhooks.jsonl"
        ))
        .unwrap();
        let line = want
            .lines()
            .find(|l| l.contains("\"InhibTest\"") && l.contains("\"critical\""))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let fp = v["payload"]["alerts"][0]["fingerprint"].as_str().unwrap();
        assert_eq!(fp_string(fingerprint(&l)), fp);
        assert_eq!(fp_string(fingerprint(&LabelSet::new())), "cbf29ce484222325");
    }

    #[test]
    fn string_forms() {
        let l = ls([("a", "x\"y"), ("a0", "1")]);
        // Go sorts the formatted pairs: `a0=` sorts before `a=`.
        assert_eq!(labelset_string(&l), r#"{a0="1", a="x\"y"}"#);
        assert_eq!(go_quote("tab\there\u{1}"), r#""tab\there\x01""#);
    }

    #[test]
    fn label_set_is_a_sorted_map() {
        let l: LabelSet = serde_json::from_str(r#"{"b":"1","a":"2","b":"3"}"#).unwrap();
        assert_eq!(l.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(l.get("b"), Some("3"), "later duplicates win");
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"{"a":"2","b":"3"}"#);
        let mut m = l.clone();
        assert_eq!(m.insert("0".into(), "x".into()), None);
        assert_eq!(m.remove("a"), Some("2".into()));
        assert_eq!(m.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["0", "b"]);
    }

    #[test]
    fn ordering() {
        let a = ls([("job", "a"), ("x", "1")]);
        let b = ls([("x", "0")]);
        assert_eq!(alert_order(&a, &b), Ordering::Less);
        let c = ls([("x", "0"), ("y", "1")]);
        assert_eq!(alert_order(&b, &c), Ordering::Less);
    }
}
