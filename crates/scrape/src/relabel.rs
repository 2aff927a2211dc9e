//! Prometheus relabeling (`model/relabel`): applied to discovered targets
//! (`relabel_configs`) and to scraped series (`metric_relabel_configs`).

use md5::{Digest, Md5};
use sightline_config::{RelabelAction, RelabelConfig};
use sightline_model::{Labels, LabelsBuilder};

/// Applies the rules in order; `None` when a rule drops the label set.
pub fn process(labels: &Labels, rules: &[RelabelConfig]) -> Option<Labels> {
    if rules.is_empty() {
        return Some(labels.clone());
    }
    let mut b = labels.to_builder();
    for r in rules {
        if !apply(&mut b, r) {
            return None;
        }
    }
    Some(b.build())
}

/// Prometheus's hashmod hash: the low 64 bits of the MD5 digest, big endian.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let d = Md5::digest(value.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&d[8..16]);
    u64::from_be_bytes(low) % modulus
}

fn source_value(b: &LabelsBuilder, r: &RelabelConfig) -> String {
    let mut out = String::new();
    for (i, n) in r.source_labels.iter().enumerate() {
        if i > 0 {
            out.push_str(&r.separator);
        }
        out.push_str(b.get(n).unwrap_or(""));
    }
    out
}

/// Applies one rule; false means "drop the whole label set".
fn apply(b: &mut LabelsBuilder, r: &RelabelConfig) -> bool {
    let re = r.regex.regex();
    match r.action {
        RelabelAction::Drop => !re.is_match(&source_value(b, r)),
        RelabelAction::Keep => re.is_match(&source_value(b, r)),
        RelabelAction::DropEqual => source_value(b, r) != b.get(&r.target_label).unwrap_or(""),
        RelabelAction::KeepEqual => source_value(b, r) == b.get(&r.target_label).unwrap_or(""),
        RelabelAction::Replace => {
            let val = source_value(b, r);
            let Some(caps) = re.captures(&val) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&r.target_label, &mut target);
            if !valid_label_name(&target) {
                return true;
            }
            let mut res = String::new();
            caps.expand(&r.replacement, &mut res);
            if res.is_empty() {
                b.del(&target);
            } else {
                b.set(target, res);
            }
            true
        }
        RelabelAction::Lowercase => {
            let v = source_value(b, r).to_lowercase();
            b.set(r.target_label.clone(), v);
            true
        }
        RelabelAction::Uppercase => {
            let v = source_value(b, r).to_uppercase();
            b.set(r.target_label.clone(), v);
            true
        }
        RelabelAction::HashMod => {
            let v = hashmod(&source_value(b, r), r.modulus.max(1));
            b.set(r.target_label.clone(), v.to_string());
            true
        }
        RelabelAction::LabelMap => {
            let current = b.clone().build();
            for l in &current {
                if re.is_match(&l.name) {
                    let name = re.replace_all(&l.name, r.replacement.as_str()).into_owned();
                    b.set(name, l.value.clone());
                }
            }
            true
        }
        RelabelAction::LabelDrop => {
            let current = b.clone().build();
            for l in &current {
                if re.is_match(&l.name) {
                    b.del(&l.name);
                }
            }
            true
        }
        RelabelAction::LabelKeep => {
            let current = b.clone().build();
            for l in &current {
                if !re.is_match(&l.name) {
                    b.del(&l.name);
                }
            }
            true
        }
    }
}

/// Label names a replace may write: the UTF-8 scheme of Prometheus 3 accepts
/// any non-empty valid UTF-8 name; we keep the legacy charset check for names
/// produced by templates so typos like `${1` do not create junk labels.
fn valid_label_name(s: &str) -> bool {
    !s.is_empty() && !s.contains('$')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<RelabelConfig> {
        let cfg = sightline_config::load_str(
            &format!("scrape_configs:\n  - job_name: x\n    relabel_configs:\n{yaml}"),
            "test.yml",
        )
        .unwrap();
        cfg.scrape_configs[0].relabel_configs.clone()
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn hashmod_known_answers() {
        assert_eq!(hashmod("baz", 1000), 976);
        assert_eq!(hashmod("foo\nbar", 1000), 734);
    }

    #[test]
    fn replace_with_defaults_and_groups() {
        let r = rules(
            "      - source_labels: [a, b]\n        target_label: c\n        regex: '(.*);(.*)'\n        replacement: '${2}-$1'\n",
        );
        assert_eq!(
            process(&l(&[("a", "x"), ("b", "y")]), &r).unwrap().get("c"),
            Some("y-x")
        );
        // Unanchored-looking regexes are anchored: no match, no change.
        let r = rules("      - source_labels: [a]\n        target_label: c\n        regex: 'x'\n");
        assert_eq!(process(&l(&[("a", "xx")]), &r).unwrap().get("c"), None);
        // An empty replacement result deletes the target label.
        let r = rules("      - source_labels: [nope]\n        target_label: a\n");
        assert_eq!(process(&l(&[("a", "1")]), &r).unwrap().get("a"), None);
    }

    #[test]
    fn keep_drop_and_equal() {
        let r = rules("      - source_labels: [a]\n        regex: 'true'\n        action: keep\n");
        assert!(process(&l(&[("a", "true")]), &r).is_some());
        assert!(process(&l(&[("a", "false")]), &r).is_none());
        assert!(process(&l(&[]), &r).is_none());
        let r = rules("      - source_labels: [a]\n        regex: 'x.*'\n        action: drop\n");
        assert!(process(&l(&[("a", "xy")]), &r).is_none());
        let r = rules(
            "      - source_labels: [a]\n        target_label: b\n        action: keepequal\n",
        );
        assert!(process(&l(&[("a", "1"), ("b", "1")]), &r).is_some());
        assert!(process(&l(&[("a", "1"), ("b", "2")]), &r).is_none());
        let r = rules(
            "      - source_labels: [a]\n        target_label: b\n        action: dropequal\n",
        );
        assert!(process(&l(&[("a", "1"), ("b", "1")]), &r).is_none());
    }

    #[test]
    fn label_actions_and_case() {
        let r = rules("      - regex: '__meta_(.+)'\n        action: labelmap\n");
        let out = process(&l(&[("__meta_pod", "p")]), &r).unwrap();
        assert_eq!(out.get("pod"), Some("p"));
        assert_eq!(out.get("__meta_pod"), Some("p"));
        let r = rules("      - regex: 'tmp.*'\n        action: labeldrop\n");
        assert_eq!(
            process(&l(&[("tmp1", "a"), ("keep", "b")]), &r).unwrap(),
            l(&[("keep", "b")])
        );
        let r = rules("      - regex: 'keep|__name__'\n        action: labelkeep\n");
        assert_eq!(
            process(&l(&[("tmp1", "a"), ("keep", "b")]), &r).unwrap(),
            l(&[("keep", "b")])
        );
        let r = rules(
            "      - source_labels: [a]\n        target_label: b\n        action: uppercase\n",
        );
        assert_eq!(
            process(&l(&[("a", "aBc")]), &r).unwrap().get("b"),
            Some("ABC")
        );
        let r = rules(
            "      - source_labels: [a]\n        target_label: b\n        action: lowercase\n",
        );
        assert_eq!(
            process(&l(&[("a", "aBc")]), &r).unwrap().get("b"),
            Some("abc")
        );
        let r = rules(
            "      - source_labels: [a]\n        target_label: h\n        modulus: 1000\n        action: hashmod\n",
        );
        assert_eq!(
            process(&l(&[("a", "baz")]), &r).unwrap().get("h"),
            Some("976")
        );
    }
}
