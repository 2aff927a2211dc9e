//! Label sets as Alertmanager (`prometheus/common/model`) sees them: their
//! fingerprint, their Go string form and their ordering. These strings end up
//! in group keys and webhook payloads, so they must match byte for byte.

use std::cmp::Ordering;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Labels or annotations: name/value pairs sorted by name, unique names.
///
/// A sorted vector rather than a `BTreeMap`: alerts carry a handful of
/// labels, and a B-tree node costs ~550 bytes however few entries it holds,
/// which dominated memory with tens of thousands of alerts.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSet(Vec<(String, String)>);

impl LabelSet {
    pub fn new() -> LabelSet {
        LabelSet(Vec::new())
    }

    fn find(&self, k: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(k))
    }

    pub fn get(&self, k: &str) -> Option<&String> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.find(k).is_ok()
    }

    /// Sets `k`, returning the previous value.
    pub fn insert(&mut self, k: String, v: String) -> Option<String> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &str) -> Option<String> {
        self.find(k).ok().map(|i| self.0.remove(i).1)
    }

    pub fn retain(&mut self, mut f: impl FnMut(&String, &mut String) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        let mut v: Vec<(String, String)> = it.into_iter().collect();
        // Stable sort keeps insertion order among equal names; keep the last.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(v.len());
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

impl std::ops::Index<&str> for LabelSet {
    type Output = String;
    fn index(&self, k: &str) -> &String {
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
                while let Some((k, val)) = m.next_entry::<String, String>()? {
                    v.push((k, val));
                }
                Ok(v.into_iter().collect())
            }
        }
        d.deserialize_any(V)
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
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
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
        assert_eq!(
            l.get("b").map(String::as_str),
            Some("3"),
            "later duplicates win"
        );
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"{"a":"2","b":"3"}"#);
        let mut m = l.clone();
        assert_eq!(m.insert("0".into(), "x".into()), None);
        assert_eq!(m.remove("a"), Some("2".into()));
        assert_eq!(
            m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["0", "b"]
        );
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
