//! The `global:` section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{ByteSize, is_false, is_zero_u64, opt_string};
use crate::duration::Duration;
use crate::error::{FieldPath, Validation};
use crate::relabel::NameValidationScheme;
use crate::scrape::{ScrapeProtocol, validate_scrape_protocols};

pub(crate) const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// Settings shared by all other sections. Zero durations in the file mean
/// "use the default"; after loading they hold the effective values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default)]
    pub scrape_interval: Duration,
    #[serde(default)]
    pub scrape_timeout: Duration,
    /// Empty means "per job: the default protocols, proto-first when native
    /// histograms are scraped".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_protocols: Vec<ScrapeProtocol>,
    #[serde(default)]
    pub evaluation_interval: Duration,
    #[serde(default)]
    pub rule_query_offset: Duration,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub query_log_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub scrape_failure_log_file: String,
    /// After loading, `$VAR` / `${VAR}` in values are expanded from the
    /// environment, as Prometheus does (`$$` is a literal `$`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "ByteSize::is_zero")]
    pub body_size_limit: ByteSize,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub sample_limit: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub target_limit: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub label_limit: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub label_name_length_limit: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub label_value_length_limit: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub keep_dropped_targets: u64,
    #[serde(default, deserialize_with = "crate::scrape::opt_validation_scheme")]
    pub metric_name_validation_scheme: Option<NameValidationScheme>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub metric_name_escaping_scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub convert_classic_histograms_to_nhcb: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub always_scrape_classic_histograms: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub extra_scrape_metrics: bool,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        let mut g = GlobalConfig {
            scrape_interval: Duration::ZERO,
            scrape_timeout: Duration::ZERO,
            scrape_protocols: Vec::new(),
            evaluation_interval: Duration::ZERO,
            rule_query_offset: Duration::ZERO,
            query_log_file: String::new(),
            scrape_failure_log_file: String::new(),
            external_labels: BTreeMap::new(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: String::new(),
            scrape_native_histograms: None,
            convert_classic_histograms_to_nhcb: false,
            always_scrape_classic_histograms: false,
            extra_scrape_metrics: false,
        };
        // Cannot fail: the zero config is valid.
        let _ = g.validate(&FieldPath::root().key("global"));
        g
    }
}

impl GlobalConfig {
    /// The effective name validation scheme.
    pub fn name_validation_scheme(&self) -> NameValidationScheme {
        self.metric_name_validation_scheme.unwrap_or_default()
    }

    /// Prometheus's `GlobalConfig.UnmarshalYAML` checks and defaults.
    pub(crate) fn validate(&mut self, path: &FieldPath) -> Validation {
        let scheme = *self.metric_name_validation_scheme.get_or_insert_default();
        for name in self.external_labels.keys() {
            if !scheme.is_valid_label_name(name) {
                return Err(path
                    .key("external_labels")
                    .key(name)
                    .error(format!("{name:?} is not a valid label name")));
            }
        }
        if self.scrape_interval.is_zero() {
            self.scrape_interval = DEFAULT_SCRAPE_INTERVAL;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(path
                .key("scrape_timeout")
                .error("global scrape timeout greater than scrape interval"));
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval);
        }
        if self.evaluation_interval.is_zero() {
            self.evaluation_interval = DEFAULT_EVALUATION_INTERVAL;
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = Some(false);
        }
        if !self.scrape_protocols.is_empty() {
            validate_scrape_protocols(&self.scrape_protocols).map_err(|m| {
                path.key("scrape_protocols")
                    .error(format!("{m} for global config"))
            })?;
        }
        Ok(())
    }

    /// Expands `$VAR` / `${VAR}` in external label values with `lookup`
    /// (Go's `os.Expand`; `$$` stays a literal `$`, unset variables are empty).
    pub(crate) fn expand_external_labels(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for v in self.external_labels.values_mut() {
            *v = expand_env(v, &lookup);
        }
    }
}

fn is_shell_special(b: u8) -> bool {
    matches!(
        b,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

/// Go's `os.getShellName`: the variable name after a `$`, and how many
/// bytes it spans.
fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_shell_special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        for i in 1..b.len() {
            if b[i] == b'}' {
                if i == 1 {
                    return ("", 2);
                }
                return (&s[1..i], i + 1);
            }
        }
        return ("", 1);
    }
    if is_shell_special(b[0]) {
        return (&s[0..1], 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..n], n)
}

/// Go's `os.Expand` with Prometheus's mapping for external labels.
pub(crate) fn expand_env(s: &str, lookup: &impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.push_str(&s[i..j]);
            let (name, w) = shell_name(&s[j + 1..]);
            if name.is_empty() && w > 0 {
                // Invalid syntax such as `${}`: Go drops it.
            } else if name.is_empty() || name == "$" {
                // A lone `$`, or `$$`: a literal dollar sign.
                out.push('$');
            } else {
                out.push_str(&lookup(name).unwrap_or_default());
            }
            j += w;
            i = j + 1;
        }
        j += 1;
    }
    if i < s.len() {
        out.push_str(&s[i..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_matches_go() {
        let env = |k: &str| (k == "TEST").then(|| "TestValue".to_string());
        assert_eq!(expand_env("${TEST}", &env), "TestValue");
        assert_eq!(expand_env("foo${TEST}bar", &env), "fooTestValuebar");
        assert_eq!(expand_env("foo$${TEST}", &env), "foo${TEST}");
        assert_eq!(expand_env("foo$$bar", &env), "foo$bar");
        assert_eq!(expand_env("$UNSET", &env), "");
        assert_eq!(expand_env("plain", &env), "plain");
        assert_eq!(expand_env("end$", &env), "end$");
    }
}
