//! Reading `alertmanager.yml`: strict parsing, Alertmanager's validation
//! rules (with its messages), and copying `global` values into integrations.

use std::collections::HashSet;
use std::path::Path;

use super::locate::{FieldPath, line_of};
use super::*;
use crate::labels::valid_label_name;
use crate::matchers::parse_matchers;

/// A config error: `file:line: field: problem` (the config crate's type).
pub use sightline_config::ConfigError;

struct Invalid {
    path: FieldPath,
    message: String,
}

type V = Result<(), Invalid>;

fn invalid(path: &FieldPath, message: impl Into<String>) -> Invalid {
    Invalid {
        path: path.clone(),
        message: message.into(),
    }
}

/// Reads and validates a config file; relative paths resolve against its directory.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: name.clone(),
        line: None,
        field: String::new(),
        message: format!("reading file: {e}"),
    })?;
    let mut cfg = load_str(&text, &name)?;
    cfg.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(cfg)
}

/// Parses and validates a config held in memory.
pub fn load_str(yaml: &str, file: &str) -> Result<Config, ConfigError> {
    let blank = yaml.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    });
    let src = if blank { "{}" } else { yaml };
    let mut failed_at = None;
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(src, options, |de| {
        let mut track = serde_path_to_error::Track::new();
        let r = Config::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        if r.is_err() {
            failed_at = Some(track.path());
        }
        r
    });
    let mut cfg = parsed.map_err(|e| {
        let msg = e
            .without_snippet()
            .render_with_formatter(&serde_saphyr::UserMessageFormatter);
        let msg = match msg.split_once(", expected one of ") {
            Some((head, _)) if head.starts_with("unknown field") => head.to_string(),
            _ => msg,
        };
        ConfigError {
            file: file.to_string(),
            line: e.location().map(|l| l.line()).filter(|l| *l > 0),
            field: failed_at
                .as_ref()
                .map(|p| FieldPath::from_serde(p).to_string())
                .unwrap_or_default(),
            message: msg.trim().to_string(),
        }
    })?;
    validate(&mut cfg).map_err(|inv| ConfigError {
        file: file.to_string(),
        line: line_of(src, &inv.path),
        field: inv.path.to_string(),
        message: inv.message,
    })?;
    cfg.source_md5 = Some(crate::metrics::md5(yaml));
    Ok(cfg)
}

/// Slack's Web API endpoint for bot tokens.
pub const SLACK_POST_MESSAGE: &str = "https://slack.com/api/chat.postMessage";

fn set(s: &Option<Secret>) -> bool {
    s.as_ref().is_some_and(|s| !s.is_empty())
}
fn set_str(s: &Option<String>) -> bool {
    s.as_ref().is_some_and(|s| !s.is_empty())
}
fn gset(g: &Generic, k: &str) -> bool {
    match g.get(k) {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn exclusive(path: &FieldPath, a: bool, b: bool, an: &str, bn: &str) -> V {
    if a && b {
        return Err(invalid(
            path,
            format!("at most one of {an} & {bn} must be configured"),
        ));
    }
    Ok(())
}

fn validate(cfg: &mut Config) -> V {
    let root = FieldPath::default();
    validate_global(&cfg.global, &root.key("global"))?;

    // Receivers: unique names, integrations valid, globals copied in.
    let mut names = HashSet::new();
    let global = cfg.global.clone();
    for (i, r) in cfg.receivers.iter_mut().enumerate() {
        let p = root.key("receivers").idx(i);
        if r.name.is_empty() {
            return Err(invalid(&p.key("name"), "missing name in receiver"));
        }
        if !names.insert(r.name.clone()) {
            return Err(invalid(
                &p.key("name"),
                format!("notification config name {:?} is not unique", r.name),
            ));
        }
        validate_receiver(r, &global, &p)?;
    }

    // Time intervals: unique names across both lists.
    let mut intervals = HashSet::new();
    for (list, key) in [
        (&cfg.time_intervals, "time_intervals"),
        (&cfg.mute_time_intervals, "mute_time_intervals"),
    ] {
        for (i, ti) in list.iter().enumerate() {
            let p = root.key(key).idx(i);
            if ti.name.is_empty() {
                return Err(invalid(&p.key("name"), "missing name in time interval"));
            }
            if !intervals.insert(ti.name.clone()) {
                return Err(invalid(
                    &p.key("name"),
                    format!("time interval {:?} is not unique", ti.name),
                ));
            }
            crate::timeinterval::TimeInterval::parse(ti).map_err(|e| invalid(&p, e))?;
        }
    }

    for (i, t) in cfg.templates.iter().enumerate() {
        if t.is_empty() {
            return Err(invalid(
                &root.key("templates").idx(i),
                "empty template path",
            ));
        }
    }

    let Some(route) = cfg.route.as_ref() else {
        return Err(invalid(&root, "no routes provided"));
    };
    let rp = root.key("route");
    if route.receiver.as_deref().unwrap_or("").is_empty() {
        return Err(invalid(&rp, "root route must specify a default receiver"));
    }
    if !route.match_.is_empty() || !route.match_re.is_empty() || !route.matchers.is_empty() {
        return Err(invalid(&rp, "root route must not have any matchers"));
    }
    if route.continue_ {
        return Err(invalid(&rp, "cannot have continue in root route"));
    }
    if !route.mute_time_intervals.is_empty() {
        return Err(invalid(
            &rp,
            "root route must not have any mute time intervals",
        ));
    }
    if !route.active_time_intervals.is_empty() {
        return Err(invalid(
            &rp,
            "root route must not have any active time intervals",
        ));
    }
    validate_route(route, &rp, &names, &intervals)?;

    for (i, ir) in cfg.inhibit_rules.iter().enumerate() {
        let p = root.key("inhibit_rules").idx(i);
        for (side, m, re, ms) in [
            (
                "source",
                &ir.source_match,
                &ir.source_match_re,
                &ir.source_matchers,
            ),
            (
                "target",
                &ir.target_match,
                &ir.target_match_re,
                &ir.target_matchers,
            ),
        ] {
            check_match(m, &p.key(format!("{side}_match")))?;
            check_match_re(re, &p.key(format!("{side}_match_re")))?;
            check_matchers(ms, &p.key(format!("{side}_matchers")))?;
        }
        for (j, l) in ir.equal.iter().enumerate() {
            if !valid_label_name(l) {
                return Err(invalid(
                    &p.key("equal").idx(j),
                    format!("invalid label name {l:?} in equal list"),
                ));
            }
        }
    }
    Ok(())
}

fn check_match(m: &std::collections::BTreeMap<String, String>, p: &FieldPath) -> V {
    for k in m.keys() {
        if !valid_label_name(k) {
            return Err(invalid(&p.key(k), format!("invalid label name {k:?}")));
        }
    }
    Ok(())
}

fn check_match_re(m: &std::collections::BTreeMap<String, Option<String>>, p: &FieldPath) -> V {
    for (k, v) in m {
        if !valid_label_name(k) {
            return Err(invalid(&p.key(k), format!("invalid label name {k:?}")));
        }
        let Some(v) = v else {
            return Err(invalid(
                &p.key(k),
                format!("invalid regular expression: {k} has no value"),
            ));
        };
        crate::matchers::Matcher::new(crate::matchers::MatchType::Regexp, k, v)
            .map_err(|e| invalid(&p.key(k), e))?;
    }
    Ok(())
}

fn check_matchers(ms: &[String], p: &FieldPath) -> V {
    for (i, m) in ms.iter().enumerate() {
        parse_matchers(m).map_err(|e| invalid(&p.idx(i), e))?;
    }
    Ok(())
}

fn validate_route(
    r: &RouteConfig,
    p: &FieldPath,
    receivers: &HashSet<String>,
    intervals: &HashSet<String>,
) -> V {
    if let Some(recv) = &r.receiver
        && !receivers.contains(recv)
    {
        return Err(invalid(
            &p.key("receiver"),
            format!("undefined receiver {recv:?} used in route"),
        ));
    }
    if let Some(gb) = &r.group_by {
        let mut seen = HashSet::new();
        for (i, l) in gb.iter().enumerate() {
            if l == "..." {
                if gb.len() > 1 {
                    return Err(invalid(
                        &p.key("group_by"),
                        "cannot have wildcard group_by (`...`) and other other labels at the same time",
                    ));
                }
            } else if !valid_label_name(l) {
                return Err(invalid(
                    &p.key("group_by").idx(i),
                    format!("invalid label name {l:?} in group_by list"),
                ));
            }
            if !seen.insert(l) {
                return Err(invalid(
                    &p.key("group_by").idx(i),
                    format!("duplicated label {l:?} in group_by"),
                ));
            }
        }
    }
    if r.group_interval.is_some_and(|d| d.is_zero()) {
        return Err(invalid(
            &p.key("group_interval"),
            "group_interval cannot be zero",
        ));
    }
    if r.repeat_interval.is_some_and(|d| d.is_zero()) {
        return Err(invalid(
            &p.key("repeat_interval"),
            "repeat_interval cannot be zero",
        ));
    }
    check_match(&r.match_, &p.key("match"))?;
    check_match_re(&r.match_re, &p.key("match_re"))?;
    check_matchers(&r.matchers, &p.key("matchers"))?;
    for (key, list) in [
        ("mute_time_intervals", &r.mute_time_intervals),
        ("active_time_intervals", &r.active_time_intervals),
    ] {
        for (i, n) in list.iter().enumerate() {
            if !intervals.contains(n) {
                return Err(invalid(
                    &p.key(key).idx(i),
                    format!("undefined time interval {n:?} used in route"),
                ));
            }
        }
    }
    for (i, c) in r.routes.iter().enumerate() {
        validate_route(c, &p.key("routes").idx(i), receivers, intervals)?;
    }
    Ok(())
}

fn validate_global(g: &GlobalConfig, p: &FieldPath) -> V {
    exclusive(
        p,
        set(&g.smtp_auth_password),
        set_str(&g.smtp_auth_password_file),
        "smtp_auth_password",
        "smtp_auth_password_file",
    )?;
    exclusive(
        p,
        set(&g.smtp_auth_secret),
        set_str(&g.smtp_auth_secret_file),
        "smtp_auth_secret",
        "smtp_auth_secret_file",
    )?;
    exclusive(
        p,
        set(&g.slack_api_url),
        set_str(&g.slack_api_url_file),
        "slack_api_url",
        "slack_api_url_file",
    )?;
    exclusive(
        p,
        set(&g.slack_app_token),
        set_str(&g.slack_app_token_file),
        "slack_app_token",
        "slack_app_token_file",
    )?;
    // The bot-token URL may be combined with an app token (upstream's old workaround).
    let bot_url = g
        .slack_api_url
        .as_ref()
        .is_some_and(|u| u.expose() == SLACK_POST_MESSAGE);
    exclusive(
        p,
        set(&g.slack_app_token) || set_str(&g.slack_app_token_file),
        (set(&g.slack_api_url) && !bot_url) || set_str(&g.slack_api_url_file),
        "slack_app_token/slack_app_token_file",
        "slack_api_url/slack_api_url_file",
    )?;
    exclusive(
        p,
        set(&g.opsgenie_api_key),
        set_str(&g.opsgenie_api_key_file),
        "opsgenie_api_key",
        "opsgenie_api_key_file",
    )?;
    exclusive(
        p,
        set(&g.victorops_api_key),
        set_str(&g.victorops_api_key_file),
        "victorops_api_key",
        "victorops_api_key_file",
    )?;
    exclusive(
        p,
        set(&g.wechat_api_secret),
        set_str(&g.wechat_api_secret_file),
        "wechat_api_secret",
        "wechat_api_secret_file",
    )?;
    exclusive(
        p,
        set(&g.telegram_bot_token),
        set_str(&g.telegram_bot_token_file),
        "telegram_bot_token",
        "telegram_bot_token_file",
    )?;
    exclusive(
        p,
        set(&g.rocketchat_token),
        set_str(&g.rocketchat_token_file),
        "rocketchat_token",
        "rocketchat_token_file",
    )?;
    exclusive(
        p,
        set(&g.rocketchat_token_id),
        set_str(&g.rocketchat_token_id_file),
        "rocketchat_token_id",
        "rocketchat_token_id_file",
    )?;
    exclusive(
        p,
        set(&g.mattermost_webhook_url),
        set_str(&g.mattermost_webhook_url_file),
        "mattermost_webhook_url",
        "mattermost_webhook_url_file",
    )?;
    Ok(())
}

fn inherit_http(h: &mut Option<HttpClientConfig>, g: &GlobalConfig) {
    if h.is_none() {
        h.clone_from(&g.http_config);
    }
}

fn validate_receiver(r: &mut ReceiverConfig, g: &GlobalConfig, p: &FieldPath) -> V {
    for (i, c) in r.webhook_configs.iter_mut().enumerate() {
        let p = p.key("webhook_configs").idx(i);
        exclusive(&p, set(&c.url), set_str(&c.url_file), "url", "url_file")?;
        if !set(&c.url) && !set_str(&c.url_file) {
            return Err(invalid(&p, "one of url or url_file must be configured"));
        }
        inherit_http(&mut c.http_config, g);
    }
    for (i, c) in r.slack_configs.iter_mut().enumerate() {
        let p = p.key("slack_configs").idx(i);
        exclusive(
            &p,
            set(&c.api_url),
            set_str(&c.api_url_file),
            "api_url",
            "api_url_file",
        )?;
        exclusive(
            &p,
            set(&c.app_token),
            set_str(&c.app_token_file),
            "app_token",
            "app_token_file",
        )?;
        let bot_url = c
            .api_url
            .as_ref()
            .is_some_and(|u| u.expose() == SLACK_POST_MESSAGE);
        exclusive(
            &p,
            set(&c.app_token) || set_str(&c.app_token_file),
            (set(&c.api_url) && !bot_url) || set_str(&c.api_url_file),
            "app_token/app_token_file",
            "api_url/api_url_file",
        )?;
        let own = set(&c.api_url)
            || set_str(&c.api_url_file)
            || set(&c.app_token)
            || set_str(&c.app_token_file);
        if !own {
            c.api_url.clone_from(&g.slack_api_url);
            c.api_url_file.clone_from(&g.slack_api_url_file);
            c.app_token.clone_from(&g.slack_app_token);
            c.app_token_file.clone_from(&g.slack_app_token_file);
            if !(set(&c.api_url)
                || set_str(&c.api_url_file)
                || set(&c.app_token)
                || set_str(&c.app_token_file))
            {
                return Err(invalid(
                    &p,
                    "no Slack API URL nor App token set either inline or in a file",
                ));
            }
        }
        if c.app_url.is_none() {
            c.app_url.clone_from(&g.slack_app_url);
        }
        if c.update_message
            && !(set(&c.app_token) || set_str(&c.app_token_file))
            && c.api_url.as_ref().map(|u| u.expose()) != Some(SLACK_POST_MESSAGE)
        {
            return Err(invalid(
                &p,
                "update_message can only be used with bot tokens. api_url must be set to https://slack.com/api/chat.postMessage",
            ));
        }
        inherit_http(&mut c.http_config, g);
    }
    for (i, c) in r.pagerduty_configs.iter_mut().enumerate() {
        let p = p.key("pagerduty_configs").idx(i);
        exclusive(
            &p,
            set(&c.routing_key),
            set_str(&c.routing_key_file),
            "routing_key",
            "routing_key_file",
        )?;
        exclusive(
            &p,
            set(&c.service_key),
            set_str(&c.service_key_file),
            "service_key",
            "service_key_file",
        )?;
        if !set(&c.routing_key)
            && !set_str(&c.routing_key_file)
            && !set(&c.service_key)
            && !set_str(&c.service_key_file)
        {
            return Err(invalid(
                &p,
                "missing service or routing key in PagerDuty config",
            ));
        }
        // Events API v1 (service_key) posts to its fixed endpoint unless a
        // `url` is given explicitly; v2 defaults to `global.pagerduty_url`.
        if c.url.is_none() && (set(&c.routing_key) || set_str(&c.routing_key_file)) {
            c.url = Some(g.pagerduty_url.clone());
        }
        inherit_http(&mut c.http_config, g);
    }
    for (i, c) in r.email_configs.iter_mut().enumerate() {
        let p = p.key("email_configs").idx(i);
        if c.to.is_empty() {
            return Err(invalid(&p, "missing to address in email config"));
        }
        exclusive(
            &p,
            set(&c.auth_password),
            set_str(&c.auth_password_file),
            "auth_password",
            "auth_password_file",
        )?;
        exclusive(
            &p,
            set(&c.auth_secret),
            set_str(&c.auth_secret_file),
            "auth_secret",
            "auth_secret_file",
        )?;
        if c.smarthost.is_none() {
            c.smarthost.clone_from(&g.smtp_smarthost);
            if !set_str(&c.smarthost) {
                return Err(invalid(&p, "no global SMTP smarthost set"));
            }
        }
        if c.from.is_none() {
            c.from.clone_from(&g.smtp_from);
            if !set_str(&c.from) {
                return Err(invalid(&p, "no global SMTP from set"));
            }
        }
        if c.hello.is_none() {
            c.hello = Some(g.smtp_hello.clone());
        }
        if c.auth_username.is_none() {
            c.auth_username.clone_from(&g.smtp_auth_username);
        }
        if c.auth_password.is_none() && c.auth_password_file.is_none() {
            c.auth_password.clone_from(&g.smtp_auth_password);
            c.auth_password_file.clone_from(&g.smtp_auth_password_file);
        }
        if c.auth_secret.is_none() && c.auth_secret_file.is_none() {
            c.auth_secret.clone_from(&g.smtp_auth_secret);
            c.auth_secret_file.clone_from(&g.smtp_auth_secret_file);
        }
        if c.auth_identity.is_none() {
            c.auth_identity.clone_from(&g.smtp_auth_identity);
        }
        if c.require_tls.is_none() {
            c.require_tls = Some(g.smtp_require_tls);
        }
        if c.tls_config.is_none() {
            c.tls_config.clone_from(&g.smtp_tls_config);
        }
        // Header names are case-insensitive: normalise like Go's textproto.
        c.headers = std::mem::take(&mut c.headers)
            .into_iter()
            .map(|(k, v)| (canonical_header(&k), v))
            .collect();
    }
    for (i, c) in r.opsgenie_configs.iter_mut().enumerate() {
        let p = p.key("opsgenie_configs").idx(i);
        exclusive(
            &p,
            set(&c.api_key),
            set_str(&c.api_key_file),
            "api_key",
            "api_key_file",
        )?;
        for (j, resp) in c.responders.iter().enumerate() {
            if resp.id.is_empty() && resp.name.is_empty() && resp.username.is_empty() {
                return Err(invalid(
                    &p.key("responders").idx(j),
                    "opsGenieConfig responder must have at least an id, a name or a username defined",
                ));
            }
        }
        if !set(&c.api_key) && !set_str(&c.api_key_file) {
            if !set(&g.opsgenie_api_key) && !set_str(&g.opsgenie_api_key_file) {
                return Err(invalid(
                    &p,
                    "no global OpsGenie API Key set either inline or in a file",
                ));
            }
            c.api_key.clone_from(&g.opsgenie_api_key);
            c.api_key_file.clone_from(&g.opsgenie_api_key_file);
        }
        if c.api_url.is_none() {
            c.api_url = Some(g.opsgenie_api_url.clone());
        }
        inherit_http(&mut c.http_config, g);
    }
    for (i, c) in r.msteams_configs.iter_mut().enumerate() {
        let p = p.key("msteams_configs").idx(i);
        exclusive(
            &p,
            set(&c.webhook_url),
            set_str(&c.webhook_url_file),
            "webhook_url",
            "webhook_url_file",
        )?;
        if !set(&c.webhook_url) && !set_str(&c.webhook_url_file) {
            return Err(invalid(
                &p,
                "one of webhook_url or webhook_url_file must be configured",
            ));
        }
        inherit_http(&mut c.http_config, g);
    }
    validate_generic(r, g, p)
}

/// Integrations we parse loosely: the required-key checks Alertmanager makes.
fn validate_generic(r: &ReceiverConfig, g: &GlobalConfig, p: &FieldPath) -> V {
    for (i, c) in r.victorops_configs.iter().enumerate() {
        let p = p.key("victorops_configs").idx(i);
        exclusive(
            &p,
            gset(c, "api_key"),
            gset(c, "api_key_file"),
            "api_key",
            "api_key_file",
        )?;
        if !gset(c, "routing_key") {
            return Err(invalid(&p, "missing Routing key in VictorOps config"));
        }
        if !gset(c, "api_key")
            && !gset(c, "api_key_file")
            && !set(&g.victorops_api_key)
            && !set_str(&g.victorops_api_key_file)
        {
            return Err(invalid(&p, "no global VictorOps API Key set"));
        }
    }
    for (i, c) in r.wechat_configs.iter().enumerate() {
        let p = p.key("wechat_configs").idx(i);
        exclusive(
            &p,
            gset(c, "api_secret"),
            gset(c, "api_secret_file"),
            "api_secret",
            "api_secret_file",
        )?;
        if !gset(c, "api_secret")
            && !gset(c, "api_secret_file")
            && !set(&g.wechat_api_secret)
            && !set_str(&g.wechat_api_secret_file)
        {
            return Err(invalid(
                &p,
                "no global Wechat Api Secret set either inline or in a file",
            ));
        }
    }
    for (i, c) in r.pushover_configs.iter().enumerate() {
        let p = p.key("pushover_configs").idx(i);
        if !gset(c, "user_key") && !gset(c, "user_key_file") {
            return Err(invalid(
                &p,
                "one of user_key or user_key_file must be configured",
            ));
        }
        if !gset(c, "token") && !gset(c, "token_file") {
            return Err(invalid(&p, "one of token or token_file must be configured"));
        }
    }
    for (i, c) in r.sns_configs.iter().enumerate() {
        let p = p.key("sns_configs").idx(i);
        let n = ["target_arn", "topic_arn", "phone_number"]
            .iter()
            .filter(|k| gset(c, k))
            .count();
        if n == 0 {
            return Err(invalid(
                &p,
                "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
            ));
        }
    }
    for (i, c) in r.telegram_configs.iter().enumerate() {
        let p = p.key("telegram_configs").idx(i);
        exclusive(
            &p,
            gset(c, "bot_token"),
            gset(c, "bot_token_file"),
            "bot_token",
            "bot_token_file",
        )?;
        if !gset(c, "bot_token")
            && !gset(c, "bot_token_file")
            && !set(&g.telegram_bot_token)
            && !set_str(&g.telegram_bot_token_file)
        {
            return Err(invalid(
                &p,
                "missing bot_token or bot_token_file on telegram_config",
            ));
        }
        if !gset(c, "chat_id") {
            return Err(invalid(&p, "missing chat_id on telegram_config"));
        }
    }
    for (i, c) in r.rocketchat_configs.iter().enumerate() {
        let p = p.key("rocketchat_configs").idx(i);
        exclusive(
            &p,
            gset(c, "token"),
            gset(c, "token_file"),
            "token",
            "token_file",
        )?;
        exclusive(
            &p,
            gset(c, "token_id"),
            gset(c, "token_id_file"),
            "token_id",
            "token_id_file",
        )?;
        if !gset(c, "token")
            && !gset(c, "token_file")
            && !set(&g.rocketchat_token)
            && !set_str(&g.rocketchat_token_file)
        {
            return Err(invalid(
                &p,
                "no global Rocketchat Token set either inline or in a file",
            ));
        }
        if !gset(c, "token_id")
            && !gset(c, "token_id_file")
            && !set(&g.rocketchat_token_id)
            && !set_str(&g.rocketchat_token_id_file)
        {
            return Err(invalid(
                &p,
                "no global Rocketchat Token ID set either inline or in a file",
            ));
        }
    }
    for (i, c) in r.mattermost_configs.iter().enumerate() {
        let p = p.key("mattermost_configs").idx(i);
        exclusive(
            &p,
            gset(c, "webhook_url"),
            gset(c, "webhook_url_file"),
            "webhook_url",
            "webhook_url_file",
        )?;
        if !gset(c, "webhook_url")
            && !gset(c, "webhook_url_file")
            && !set(&g.mattermost_webhook_url)
            && !set_str(&g.mattermost_webhook_url_file)
        {
            return Err(invalid(
                &p,
                "missing webhook_url or webhook_url_file on mattermost_config",
            ));
        }
    }
    for (key, list) in [
        ("discord_configs", &r.discord_configs),
        ("msteamsv2_configs", &r.msteamsv2_configs),
        ("incidentio_configs", &r.incidentio_configs),
    ] {
        for (i, c) in list.iter().enumerate() {
            let p = p.key(key).idx(i);
            let (a, b) = if key == "incidentio_configs" {
                ("url", "url_file")
            } else {
                ("webhook_url", "webhook_url_file")
            };
            exclusive(&p, gset(c, a), gset(c, b), a, b)?;
            if !gset(c, a) && !gset(c, b) {
                return Err(invalid(&p, format!("one of {a} or {b} must be configured")));
            }
        }
    }
    for (i, c) in r.webex_configs.iter().enumerate() {
        if !gset(c, "room_id") {
            return Err(invalid(
                &p.key("webex_configs").idx(i),
                "missing room_id on webex_config",
            ));
        }
    }
    for (i, c) in r.jira_configs.iter().enumerate() {
        let p = p.key("jira_configs").idx(i);
        for k in ["project", "issue_type"] {
            if !gset(c, k) {
                return Err(invalid(&p, format!("missing {k} in jira_config")));
            }
        }
    }
    Ok(())
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`.
pub fn canonical_header(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut upper = true;
    for c in k.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}
