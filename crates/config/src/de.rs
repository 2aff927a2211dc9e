//! Small serde helpers shared by the config types.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Deserializes a YAML scalar as text. Go's YAML decoder happily puts
/// `bearer_token: 1234` into a string field, so we accept numbers and bools
/// too (and spell them back as text).
pub(crate) fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_string(V)
}

/// Like [`scalar_string`], but `key:` with no value means "not set", as in Go
/// where an empty YAML value leaves the string empty.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?
        .map(|s| s.0)
        .unwrap_or_default())
}

/// A scalar read through [`scalar_string`].
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_string(d).map(Scalar)
    }
}

/// A list whose elements must not be YAML nulls (`- ` with nothing after it).
/// Prometheus reports those with a dedicated message per list, so the
/// message is supplied by the list-specific wrapper functions below.
fn non_null_seq<'de, D, T>(d: D, what: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<Option<T>>()? {
                match item {
                    Some(item) => out.push(item),
                    None => return Err(de::Error::custom(self.0)),
                }
            }
            Ok(out)
        }
    }
    d.deserialize_option(V(what, std::marker::PhantomData))
}

macro_rules! non_null_lists {
    ($($name:ident => $msg:literal),* $(,)?) => {
        $(
            pub(crate) fn $name<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
            where
                D: Deserializer<'de>,
                T: Deserialize<'de>,
            {
                non_null_seq(d, $msg)
            }
        )*
    };
}

non_null_lists! {
    scrape_configs => "empty or null scrape config section",
    remote_write_configs => "empty or null remote write config section",
    remote_read_configs => "empty or null remote read config section",
    target_relabel_rules => "empty or null target relabeling rule",
    metric_relabel_rules => "empty or null metric relabeling rule",
    alert_relabel_rules => "empty or null alert relabeling rule",
    am_target_relabel_rules => "empty or null Alertmanager target relabeling rule",
    am_alert_relabel_rules => "empty or null Alertmanager alert relabeling rule",
    write_relabel_rules => "empty or null relabeling rule in remote write config",
    static_configs => "empty or null section in static_configs",
    sd_configs => "empty or null service discovery config",
}

/// A byte size such as `15MB` (`units.Base2Bytes`: powers of 1024, both
/// `MB` and `MiB` spellings). `0` means "no limit" where used as a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn bytes(self) -> u64 {
        self.0
    }

    pub const fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

const BYTE_UNITS: [(&str, u32); 14] = [
    ("B", 0),
    ("KB", 1),
    ("KiB", 1),
    ("MB", 2),
    ("MiB", 2),
    ("GB", 3),
    ("GiB", 3),
    ("TB", 4),
    ("TiB", 4),
    ("PB", 5),
    ("PiB", 5),
    ("EB", 6),
    ("EiB", 6),
    ("iB", 0),
];

/// Parses `units.ParseBase2Bytes` syntax: `<number><unit>` pairs such as
/// `1GB`, `512MiB`, `1GB512MB`; a bare number has no unit and is an error,
/// as in Go (`units: unknown unit  in 100`).
pub fn parse_byte_size(s: &str) -> Result<ByteSize, String> {
    if s == "0" {
        return Ok(ByteSize(0));
    }
    if s.starts_with('-') {
        return Err(format!("byte size must not be negative: {s:?}"));
    }
    let rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(format!("units: invalid {s}"));
    }
    let mut total: f64 = 0.0;
    let mut chars = rest;
    while !chars.is_empty() {
        let num_len = chars
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(chars.len());
        if num_len == 0 {
            return Err(format!("units: invalid {s}"));
        }
        let value: f64 = chars[..num_len]
            .parse()
            .map_err(|_| format!("units: invalid {s}"))?;
        chars = &chars[num_len..];
        let unit_len = chars
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(chars.len());
        let unit = &chars[..unit_len];
        chars = &chars[unit_len..];
        let Some((_, power)) = BYTE_UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("units: unknown unit {unit} in {s}"));
        };
        total += value * 1024f64.powi(*power as i32);
    }
    if total > i64::MAX as f64 {
        return Err(format!("units: overflow in {s}"));
    }
    Ok(ByteSize(total as u64))
}

impl fmt::Display for ByteSize {
    /// Formats like `units.Base2Bytes.String()`: the largest exact unit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let mut v = self.0;
        let mut i = 0;
        while v != 0 && v.is_multiple_of(1024) && i < NAMES.len() - 1 {
            v /= 1024;
            i += 1;
        }
        write!(f, "{v}{}", NAMES[i])
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = scalar_string(d)?;
        parse_byte_size(&s).map_err(de::Error::custom)
    }
}

pub(crate) fn default_true() -> bool {
    true
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

pub(crate) fn is_false_default() -> bool {
    false
}

/// A section where `key:` with no value means "all defaults" (Go leaves the
/// struct at its defaults for an empty YAML value).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("15MB").unwrap().0, 15 << 20);
        assert_eq!(parse_byte_size("1GiB").unwrap().0, 1 << 30);
        assert_eq!(parse_byte_size("0").unwrap().0, 0);
        assert_eq!(
            parse_byte_size("1GB512MB").unwrap().0,
            (1 << 30) + (512 << 20)
        );
        assert_eq!(
            parse_byte_size("100").unwrap_err(),
            "units: unknown unit  in 100"
        );
        assert!(parse_byte_size("-1GB").is_err());
        assert_eq!(ByteSize(15 << 20).to_string(), "15MiB");
        assert_eq!(ByteSize(0).to_string(), "0B");
    }
}
