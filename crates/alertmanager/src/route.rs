//! The routing tree (`dispatch/route.go`): option inheritance, depth-first
//! matching with `continue`, and the route keys that prefix group keys.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::RouteConfig;
use crate::labels::LabelSet;
use crate::matchers::{MatchType, Matcher, Matchers, parse_matchers};

#[derive(Clone, Debug, PartialEq)]
pub enum GroupBy {
    /// `['...']`: every label.
    All,
    Labels(BTreeSet<String>),
}

#[derive(Clone, Debug)]
pub struct RouteOpts {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

#[derive(Clone, Debug)]
pub struct Route {
    /// Position in depth-first order; identifies the route within one config.
    pub id: usize,
    pub matchers: Matchers,
    pub continue_: bool,
    pub opts: RouteOpts,
    /// Not inherited: each node only uses its own lists.
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
    /// Matcher sets from the root, joined by `/`.
    pub key: String,
}

impl Route {
    /// Builds the tree from a validated config's root route.
    pub fn new(root: &RouteConfig) -> Route {
        let defaults = RouteOpts {
            receiver: String::new(),
            group_by: GroupBy::Labels(BTreeSet::new()),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        };
        let mut next_id = 0;
        build(root, &defaults, None, &mut next_id)
    }

    /// The routes an alert with `labels` is delivered through.
    pub fn match_labels(&self, labels: &LabelSet) -> Vec<&Route> {
        if !self.matchers.matches(labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let matches = child.match_labels(labels);
            let found = !matches.is_empty();
            all.extend(matches);
            if found && !child.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// The group labels of an alert on this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.opts.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels.filtered(|k| names.iter().any(|n| n == k)),
        }
    }

    /// Every route in depth-first order.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Route)) {
        f(self);
        for c in &self.routes {
            c.walk(f);
        }
    }

    pub fn find(&self, id: usize) -> Option<&Route> {
        if self.id == id {
            return Some(self);
        }
        self.routes.iter().find_map(|c| c.find(id))
    }
}

fn build(
    cr: &RouteConfig,
    parent: &RouteOpts,
    parent_key: Option<&str>,
    next_id: &mut usize,
) -> Route {
    let mut opts = parent.clone();
    if let Some(r) = cr.receiver.as_ref().filter(|r| !r.is_empty()) {
        opts.receiver = r.clone();
    }
    if let Some(gb) = &cr.group_by {
        // An explicit list replaces the parent's, including an empty one
        // (Alertmanager ≥0.31; 0.25 inherited the parent's on `[]`).
        opts.group_by = if gb.iter().any(|l| l == "...") {
            GroupBy::All
        } else {
            GroupBy::Labels(gb.iter().cloned().collect())
        };
    }
    if let Some(d) = cr.group_wait {
        opts.group_wait = d.as_std();
    }
    if let Some(d) = cr.group_interval {
        opts.group_interval = d.as_std();
    }
    if let Some(d) = cr.repeat_interval {
        opts.repeat_interval = d.as_std();
    }
    let mut ms = Vec::new();
    for (k, v) in &cr.match_ {
        ms.push(Matcher::new(MatchType::Equal, k, v).expect("equality matchers build"));
    }
    for (k, v) in &cr.match_re {
        // Alertmanager stores `match_re` values already anchored and prints
        // that form: the route key shows `^(?:<re>)$`.
        let anchored = format!("^(?:{})$", v.as_deref().unwrap_or(""));
        if let Ok(m) = Matcher::new(MatchType::Regexp, k, anchored) {
            ms.push(m);
        }
    }
    for s in &cr.matchers {
        ms.extend(parse_matchers(s).unwrap_or_default());
    }
    let mut matchers = Matchers(ms);
    matchers.sort();
    let key = match parent_key {
        Some(p) => format!("{p}/{matchers}"),
        None => matchers.to_string(),
    };
    let id = *next_id;
    *next_id += 1;
    let routes = cr
        .routes
        .iter()
        .map(|c| build(c, &opts, Some(&key), next_id))
        .collect();
    Route {
        id,
        matchers,
        continue_: cr.continue_,
        opts,
        mute_time_intervals: cr.mute_time_intervals.clone(),
        active_time_intervals: cr.active_time_intervals.clone(),
        routes,
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ls;

    fn tree(yaml: &str) -> Route {
        let cfg = crate::config::load_str(yaml, "t.yml").unwrap();
        Route::new(cfg.root_route())
    }

    const ISSUE: &str = r#"
route:
  receiver: 'default-slack'
  group_by: ['alertname', 'service']
  routes:
    - match: {severity: critical}
      receiver: 'pagerduty-oncall'
    - match_re: {service: ^(payment|billing)$}
      receiver: 'payments-slack'
      group_by: ['...']
    - matchers: ['team=~"a|b"', 'env!="dev"']
      receiver: 'team'
      continue: true
    - matchers: ['team="a"']
      receiver: 'team-a'
      group_wait: 1s
receivers:
  - name: 'default-slack'
  - name: 'pagerduty-oncall'
  - name: 'payments-slack'
  - name: 'team'
  - name: 'team-a'
"#;

    fn receivers(r: &Route, l: LabelSet) -> Vec<String> {
        r.match_labels(&l)
            .iter()
            .map(|r| r.opts.receiver.clone())
            .collect()
    }

    #[test]
    fn matching_and_continue() {
        let r = tree(ISSUE);
        assert_eq!(
            receivers(&r, ls([("severity", "critical"), ("service", "payment")])),
            ["pagerduty-oncall"]
        );
        assert_eq!(
            receivers(&r, ls([("service", "billing")])),
            ["payments-slack"]
        );
        assert_eq!(receivers(&r, ls([("service", "x")])), ["default-slack"]);
        assert_eq!(receivers(&r, ls([("team", "a")])), ["team", "team-a"]);
    }

    #[test]
    fn keys_and_inheritance() {
        let r = tree(ISSUE);
        assert_eq!(r.routes[0].key, r#"{}/{severity="critical"}"#);
        assert_eq!(
            r.routes[1].key,
            r#"{}/{service=~"^(?:^(payment|billing)$)$"}"#
        );
        assert_eq!(r.routes[2].key, r#"{}/{env!="dev",team=~"a|b"}"#);
        assert_eq!(r.routes[1].opts.group_by, GroupBy::All);
        assert_eq!(r.routes[3].opts.group_wait, Duration::from_secs(1));
        assert_eq!(r.routes[3].opts.group_interval, Duration::from_secs(300));
        let gl = r.routes[0].group_labels(&ls([
            ("alertname", "A"),
            ("severity", "critical"),
            ("x", "1"),
        ]));
        assert_eq!(gl, ls([("alertname", "A")]));
    }
}
