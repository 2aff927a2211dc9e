//! Relabeling rule configuration (`model/relabel` Config + Validate).
//!
//! Only the configuration and its validation live here; applying rules to
//! label sets is the scrape/rules crates' business.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::de::{Scalar, is_zero_u64, opt_string};
use crate::error::{FieldPath, Validation};

/// How metric and label names are validated (`model.ValidationScheme`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameValidationScheme {
    /// Any non-empty UTF-8 string (the Prometheus 3 default).
    #[default]
    Utf8,
    /// `[a-zA-Z_][a-zA-Z0-9_]*` for labels, plus `:` for metric names.
    Legacy,
}

impl NameValidationScheme {
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidationScheme::Utf8 => !name.is_empty(),
            NameValidationScheme::Legacy => is_legacy_label_name(name),
        }
    }
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Legacy-charset label names that may contain `$1` / `${name}` references.
static RELABEL_TARGET_LEGACY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").expect("static regex compiles")
});

/// A relabel action. Parsed case-insensitively, as Prometheus lower-cases it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RelabelAction {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl RelabelAction {
    const ALL: [RelabelAction; 11] = [
        RelabelAction::Replace,
        RelabelAction::Keep,
        RelabelAction::Drop,
        RelabelAction::KeepEqual,
        RelabelAction::DropEqual,
        RelabelAction::HashMod,
        RelabelAction::LabelMap,
        RelabelAction::LabelDrop,
        RelabelAction::LabelKeep,
        RelabelAction::Lowercase,
        RelabelAction::Uppercase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        }
    }

    /// Parses an action name, ignoring case.
    pub fn parse(s: &str) -> Result<Self, String> {
        let lower = s.to_lowercase();
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| format!("unknown relabel action {s:?}"))
    }
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RelabelAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RelabelAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<Scalar>::deserialize(d)? {
            // `action: null` leaves Go's field empty, which Validate rejects.
            None => Err(de::Error::custom("relabel action cannot be empty")),
            Some(s) if s.0.is_empty() => Err(de::Error::custom("relabel action cannot be empty")),
            Some(s) => RelabelAction::parse(&s.0).map_err(de::Error::custom),
        }
    }
}

/// A relabel regex: the text as written plus the compiled, fully anchored
/// form `^(?s:(?:RE))$` (Prometheus 3 lets `.` match newlines).
#[derive(Clone, Debug)]
pub struct RelabelRegex {
    source: String,
    compiled: Regex,
}

/// The default regex text.
pub const DEFAULT_RELABEL_REGEX: &str = "(.*)";

impl RelabelRegex {
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let compiled = Regex::new(&format!("^(?s:(?:{source}))$"))?;
        Ok(RelabelRegex {
            source: source.to_string(),
            compiled,
        })
    }

    /// The regex as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The anchored, compiled regex.
    pub fn regex(&self) -> &Regex {
        &self.compiled
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.compiled.is_match(s)
    }

    fn is_default(&self) -> bool {
        self.source == DEFAULT_RELABEL_REGEX
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        RelabelRegex::new(DEFAULT_RELABEL_REGEX).expect("default regex compiles")
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `regex:` with no value is the empty regex (not the default), as in Go.
        let s = opt_string(d)?;
        RelabelRegex::new(&s).map_err(|e| {
            // regex's syntax errors are multi-line drawings; keep the gist.
            let text = e.to_string();
            let reason = text
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            de::Error::custom(format!("error parsing regexp {s:?}: {reason}"))
        })
    }
}

fn default_separator() -> String {
    ";".to_string()
}

fn default_replacement() -> String {
    "$1".to_string()
}

/// One relabeling rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator", deserialize_with = "opt_string")]
    pub separator: String,
    #[serde(default)]
    pub regex: RelabelRegex,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub modulus: u64,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub target_label: String,
    #[serde(default = "default_replacement", deserialize_with = "opt_string")]
    pub replacement: String,
    #[serde(default)]
    pub action: RelabelAction,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: default_separator(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: default_replacement(),
            action: RelabelAction::Replace,
        }
    }
}

impl RelabelConfig {
    /// Prometheus's `relabel.Config.Validate` with the given name scheme.
    pub fn validate(&self, scheme: NameValidationScheme) -> Result<(), String> {
        use RelabelAction::*;
        let action = self.action;
        if self.modulus == 0 && action == HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && self.target_label.is_empty()
        {
            return Err(format!(
                "relabel configuration for {action} action requires 'target_label' value"
            ));
        }
        // `$1` / `${name}` references are allowed in replace targets and
        // labelmap replacements; under UTF-8 any non-empty name is valid.
        let valid_with_vars = |v: &str| match scheme {
            NameValidationScheme::Legacy => RELABEL_TARGET_LEGACY.is_match(v),
            NameValidationScheme::Utf8 => scheme.is_valid_label_name(v),
        };
        let invalid_target = || {
            format!(
                "{:?} is invalid 'target_label' for {action} action",
                self.target_label
            )
        };
        if action == Replace {
            let ok = if self.target_label.contains('$') {
                valid_with_vars(&self.target_label)
            } else {
                scheme.is_valid_label_name(&self.target_label)
            };
            if !ok {
                return Err(invalid_target());
            }
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual) {
            if !scheme.is_valid_label_name(&self.target_label) {
                return Err(invalid_target());
            }
            if self.replacement != default_replacement() {
                return Err(format!("'replacement' can not be set for {action} action"));
            }
        }
        if action == LabelMap && !valid_with_vars(&self.replacement) {
            return Err(format!(
                "{:?} is invalid 'replacement' for {action} action",
                self.replacement
            ));
        }
        if action == HashMod && !scheme.is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if matches!(action, DropEqual | KeepEqual)
            && (!self.regex.is_default()
                || self.modulus != 0
                || self.separator != default_separator()
                || self.replacement != default_replacement())
        {
            return Err(format!(
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != default_separator()
                || self.replacement != default_replacement())
        {
            return Err(format!(
                "{action} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// Validates a list of rules, naming the failing one in the error.
pub(crate) fn validate_all(
    rules: &[RelabelConfig],
    path: &FieldPath,
    scheme: NameValidationScheme,
) -> Validation {
    for (i, rule) in rules.iter().enumerate() {
        rule.validate(scheme).map_err(|m| path.idx(i).error(m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Result<RelabelConfig, String> {
        let r: RelabelConfig = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        r.validate(NameValidationScheme::Utf8)?;
        Ok(r)
    }

    #[test]
    fn defaults() {
        let r = rule("target_label: foo").unwrap();
        assert_eq!(r.action, RelabelAction::Replace);
        assert_eq!(r.separator, ";");
        assert_eq!(r.replacement, "$1");
        assert_eq!(r.regex.as_str(), "(.*)");
        assert!(r.regex.is_match("a\nb"), "dot matches newline");
        assert!(!RelabelRegex::new("a").unwrap().is_match("ab"), "anchored");
    }

    #[test]
    fn action_is_case_insensitive() {
        assert_eq!(rule("action: DROP").unwrap().action, RelabelAction::Drop);
        assert_eq!(
            rule("action: LabelMap").unwrap().action,
            RelabelAction::LabelMap
        );
        assert!(
            rule("action: explode")
                .unwrap_err()
                .contains("unknown relabel action")
        );
    }

    #[test]
    fn validation_rules() {
        let cases = [
            ("action: replace", "requires 'target_label'"),
            ("action: hashmod\ntarget_label: x", "non-zero modulus"),
            (
                "action: hashmod\nmodulus: 2",
                "hashmod action requires 'target_label'",
            ),
            (
                "action: keepequal\nsource_labels: [a]",
                "keepequal action requires 'target_label'",
            ),
            (
                "action: dropequal\nsource_labels: [a]\ntarget_label: b\nregex: x",
                "requires only 'source_labels'",
            ),
            (
                "action: lowercase\nsource_labels: [a]",
                "lowercase action requires 'target_label'",
            ),
            (
                "action: uppercase\ntarget_label: a\nreplacement: x",
                "'replacement' can not be set",
            ),
            (
                "action: labeldrop\nsource_labels: [a]",
                "labeldrop action requires only 'regex'",
            ),
            (
                "action: labelkeep\nseparator: ','",
                "labelkeep action requires only 'regex'",
            ),
            ("regex: 'abc(def'", "error parsing regexp"),
            ("action: null", "relabel action cannot be empty"),
        ];
        for (yaml, want) in cases {
            let err = rule(yaml).expect_err(yaml);
            assert!(err.contains(want), "{yaml}: {err}");
        }
        rule("action: keepequal\nsource_labels: [a]\ntarget_label: b").unwrap();
        rule("action: labeldrop\nregex: foo.*").unwrap();
        rule("source_labels: [a]\ntarget_label: '${1}'").unwrap();
    }

    #[test]
    fn legacy_target_labels() {
        let r = RelabelConfig {
            target_label: "${1}_x".into(),
            ..Default::default()
        };
        r.validate(NameValidationScheme::Legacy).unwrap();
        let r = RelabelConfig {
            target_label: "a.b".into(),
            ..Default::default()
        };
        assert!(r.validate(NameValidationScheme::Legacy).is_err());
        r.validate(NameValidationScheme::Utf8).unwrap();
    }
}
