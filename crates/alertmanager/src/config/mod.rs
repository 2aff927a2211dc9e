//! `alertmanager.yml`: the document model, loading and validation.
//!
//! Unknown keys are errors (Alertmanager decodes strictly). We accept the
//! union of the fields of 0.25 and later releases. Integrations we do not
//! deliver to (VictorOps, Pushover, ...) are still parsed and validated the
//! way Alertmanager validates them, so such configs load unchanged.

mod load;
mod locate;
mod receivers;
mod yaml_out;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use sightline_config::{Duration, HttpClientConfig, Secret};

pub use load::{ConfigError, SLACK_POST_MESSAGE, canonical_header, load_file, load_str};
pub use receivers::*;

fn is_false(b: &bool) -> bool {
    !*b
}

/// The whole file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub route: Option<RouteConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    pub templates: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<TimeIntervalConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_intervals: Vec<TimeIntervalConfig>,
    /// Accepted (Alertmanager ≥0.28) but not used.
    #[serde(default, skip_serializing)]
    pub tracing: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    pub event_recorder: Option<serde_json::Value>,
    /// Directory that relative `*_file` and template paths are resolved against.
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
    /// MD5 of the text the config was loaded from (upstream hashes its
    /// `original` text for `alertmanager_config_hash`); `None` when the
    /// config was built in code.
    #[serde(skip)]
    pub source_md5: Option<[u8; 16]>,
}

/// `global:`; unset values are copied into integrations at load time.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default = "default_resolve_timeout")]
    pub resolve_timeout: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_from: Option<String>,
    #[serde(default = "default_smtp_hello")]
    pub smtp_hello: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_smarthost: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_auth_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_auth_password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_auth_password_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_auth_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_auth_secret_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_auth_identity: Option<String>,
    #[serde(default = "default_true")]
    pub smtp_require_tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_tls_config: Option<sightline_config::TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_api_url: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_api_url_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_app_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_app_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_app_url: Option<String>,
    #[serde(default = "default_pagerduty_url")]
    pub pagerduty_url: String,
    #[serde(default = "default_opsgenie_url")]
    pub opsgenie_api_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsgenie_api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsgenie_api_key_file: Option<String>,
    #[serde(default = "default_wechat_url")]
    pub wechat_api_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_secret_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_corp_id: Option<String>,
    #[serde(default = "default_victorops_url")]
    pub victorops_api_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victorops_api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victorops_api_key_file: Option<String>,
    #[serde(default = "default_telegram_url")]
    pub telegram_api_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token_file: Option<String>,
    #[serde(default = "default_webex_url")]
    pub webex_api_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mattermost_webhook_url: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mattermost_webhook_url_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_api_url: Option<String>,
}

fn default_resolve_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_smtp_hello() -> String {
    "localhost".into()
}
pub(crate) fn default_true() -> bool {
    true
}
fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}
fn default_opsgenie_url() -> String {
    "https://api.opsgenie.com/".into()
}
fn default_wechat_url() -> String {
    "https://qyapi.weixin.qq.com/cgi-bin/".into()
}
fn default_victorops_url() -> String {
    "https://alert.victorops.com/integrations/generic/20131114/alert/".into()
}
fn default_telegram_url() -> String {
    "https://api.telegram.org".into()
}
fn default_webex_url() -> String {
    "https://webexapis.com/v1/messages".into()
}

impl Default for GlobalConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("all global fields have defaults")
    }
}

/// One node of the routing tree as written.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    #[serde(default, rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub match_: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_re: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_time_intervals: Vec<String>,
    #[serde(default, rename = "continue", skip_serializing_if = "is_false")]
    pub continue_: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<Duration>,
    /// Alertmanager ≥0.34 route labels; accepted, not used.
    #[serde(default, skip_serializing)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match_re: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match_re: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSpec>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<TimeRangeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_of_month: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeConfig {
    pub start_time: String,
    pub end_time: String,
}

impl Config {
    /// The configuration used when none is given: one receiver without integrations.
    pub fn minimal() -> Config {
        load_str(
            "route:\n  receiver: default\nreceivers:\n  - name: default\n",
            "<default>",
        )
        .expect("built-in config is valid")
    }

    /// The root route (validation guarantees it exists).
    pub fn root_route(&self) -> &RouteConfig {
        self.route.as_ref().expect("validated config has a route")
    }

    /// Both lists of named time intervals.
    pub fn all_time_intervals(&self) -> impl Iterator<Item = &TimeIntervalConfig> {
        self.time_intervals.iter().chain(&self.mute_time_intervals)
    }

    /// The configuration as YAML with secrets hidden (`config.original` of `/api/v2/status`).
    pub fn to_yaml(&self) -> String {
        match serde_json::to_value(self) {
            Ok(v) => yaml_out::to_yaml(&v),
            Err(e) => format!("# cannot render config: {e}\n"),
        }
    }
}
