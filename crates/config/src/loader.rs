//! Reading, parsing and validating config files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;

use crate::Config;
use crate::error::{ConfigError, FieldPath, Invalid, Node, Validation, line_of};
use crate::scrape::{ScrapeConfig, ScrapeConfigsFile};

/// Reads and validates a `prometheus.yml`, including the files named by
/// `scrape_config_files` (relative to the config file's directory).
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let yaml = read(path)?;
    let mut cfg = load_str(&yaml, &name)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    cfg.file_scrape_configs = load_scrape_config_files(&cfg, dir)?;
    Ok(cfg)
}

/// Parses and validates a `prometheus.yml` held in memory; `path_for_errors`
/// names it in errors. `scrape_config_files` are not read.
pub fn load_str(yaml: &str, path_for_errors: &str) -> Result<Config, ConfigError> {
    let mut cfg: Config = parse(yaml, path_for_errors)?;
    validate(&mut cfg).map_err(|inv| locate(inv, yaml, path_for_errors))?;
    cfg.global
        .expand_external_labels(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    Ok(cfg)
}

pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            &path.display().to_string(),
            None,
            String::new(),
            format!("reading file: {e}"),
        )
    })
}

/// Whether the document has no content (only blanks and comments): Go then
/// yields the default config, while a YAML parser sees no document at all.
fn is_blank_document(yaml: &str) -> bool {
    yaml.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// Deserializes `yaml` into `T`, reporting the failing field path and line.
pub(crate) fn parse<T: DeserializeOwned>(yaml: &str, file: &str) -> Result<T, ConfigError> {
    let yaml = if is_blank_document(yaml) { "{}" } else { yaml };
    let mut failed_at: Option<serde_path_to_error::Path> = None;
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let result = serde_saphyr::with_deserializer_from_str_with_options(yaml, options, |de| {
        let mut track = serde_path_to_error::Track::new();
        let r = T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        if r.is_err() {
            failed_at = Some(track.path());
        }
        r
    });
    result.map_err(|e| {
        let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
        let field = failed_at
            .as_ref()
            .map(|p| FieldPath::from_serde(p).to_string())
            .unwrap_or_default();
        ConfigError::new(file, line, field, parse_message(&e))
    })
}

/// The parser's message in its end-user wording, without its own location
/// suffix (we print the location ourselves) and without serde's list of
/// every accepted field after an unknown one.
fn parse_message(e: &serde_saphyr::Error) -> String {
    static LOCATION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\s*,?\s*\(?\s*at line \d+,? column \d+\)?\s*$")
            .expect("static regex compiles")
    });
    let msg = e
        .without_snippet()
        .render_with_formatter(&serde_saphyr::UserMessageFormatter);
    let msg = LOCATION.replace(msg.trim(), "").into_owned();
    match msg.split_once(", expected one of ") {
        Some((head, _)) if head.starts_with("unknown field") => head.to_string(),
        _ => msg,
    }
}

/// Turns a validation failure into a located [`ConfigError`].
pub(crate) fn locate(inv: Invalid, yaml: &str, file: &str) -> ConfigError {
    let line = Node::parse(yaml).and_then(|tree| line_of(&tree, &inv.path));
    ConfigError::new(file, line, inv.path.to_string(), inv.message)
}

/// Matches rule and scrape config file globs Prometheus accepts: at most
/// one `*`, in the last path element.
static PAT_RULE_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^*]*(\*[^/]*)?$").expect("static regex compiles"));

/// All semantic checks and defaulting, in Prometheus's order.
pub(crate) fn validate(cfg: &mut Config) -> Validation {
    let root = FieldPath::root();
    cfg.global.validate(&root.key("global"))?;
    let scheme = cfg.global.name_validation_scheme();
    cfg.storage.validate(&root.key("storage"))?;
    cfg.tracing.validate(&root.key("tracing"))?;
    cfg.otlp.validate(&root.key("otlp"))?;
    cfg.sightline.validate(&root.key("sightline"))?;

    for (i, rf) in cfg.rule_files.iter().enumerate() {
        if !PAT_RULE_PATH.is_match(rf) {
            return Err(root
                .key("rule_files")
                .idx(i)
                .error(format!("invalid rule file path {rf:?}")));
        }
    }
    for (i, sf) in cfg.scrape_config_files.iter().enumerate() {
        if !PAT_RULE_PATH.is_match(sf) {
            return Err(root
                .key("scrape_config_files")
                .idx(i)
                .error(format!("invalid scrape config file path {sf:?}")));
        }
    }

    let mut job_names = HashSet::new();
    for (i, sc) in cfg.scrape_configs.iter_mut().enumerate() {
        let p = root.key("scrape_configs").idx(i);
        sc.validate_syntax(&p)?;
        sc.validate(&cfg.global, &p)?;
        if !job_names.insert(sc.job_name.clone()) {
            return Err(p.key("job_name").error(format!(
                "found multiple scrape configs with job name {:?}",
                sc.job_name
            )));
        }
    }

    cfg.alerting.validate(&root.key("alerting"), scheme)?;

    let mut names = HashSet::new();
    for (i, rw) in cfg.remote_write.iter_mut().enumerate() {
        let p = root.key("remote_write").idx(i);
        rw.validate(&p, scheme)?;
        // Unnamed queues get a hash-based name later; only names must be unique.
        if !rw.name.is_empty() && !names.insert(rw.name.clone()) {
            return Err(p.key("name").error(format!(
                "found multiple remote write configs with job name {:?}",
                rw.name
            )));
        }
    }
    let mut names = HashSet::new();
    for (i, rr) in cfg.remote_read.iter_mut().enumerate() {
        let p = root.key("remote_read").idx(i);
        rr.validate(&p)?;
        if !rr.name.is_empty() && !names.insert(rr.name.clone()) {
            return Err(p.key("name").error(format!(
                "found multiple remote read configs with job name {:?}",
                rr.name
            )));
        }
    }

    let strategy = cfg.otlp.translation_strategy.as_str();
    let p = root.key("otlp").key("translation_strategy");
    match strategy {
        "UnderscoreEscapingWithSuffixes" | "UnderscoreEscapingWithoutSuffixes" => {}
        "NoTranslation" | "NoUTF8EscapingWithSuffixes" => {
            if scheme == crate::NameValidationScheme::Legacy {
                return Err(p.error(format!(
                    "OTLP translation strategy {strategy:?} is not allowed when UTF8 is disabled"
                )));
            }
        }
        _ => {
            return Err(p.error(format!(
                "unsupported OTLP translation strategy {strategy:?}"
            )));
        }
    }
    Ok(())
}

/// Expands globs relative to `base_dir`, pattern by pattern (each
/// pattern's matches sorted, as Go's `filepath.Glob`). A file matched by two
/// patterns appears twice, so a doubly imported scrape config file is
/// reported as duplicate jobs, like Prometheus does.
pub(crate) fn expand_globs(
    patterns: &[String],
    base_dir: &Path,
    field: &str,
) -> Result<Vec<PathBuf>, ConfigError> {
    let mut out = Vec::new();
    for (i, pat) in patterns.iter().enumerate() {
        let full = if Path::new(pat).is_absolute() {
            PathBuf::from(pat)
        } else {
            base_dir.join(pat)
        };
        let full = full.to_string_lossy().into_owned();
        let entries = glob::glob(&full).map_err(|e| {
            ConfigError::new(
                &base_dir.display().to_string(),
                None,
                format!("{field}[{i}]"),
                format!("invalid pattern {pat:?}: {e}"),
            )
        })?;
        let mut matches: Vec<PathBuf> = entries.filter_map(Result::ok).collect();
        matches.sort();
        out.extend(matches);
    }
    Ok(out)
}

/// Loads the jobs from `scrape_config_files`, validated against the main
/// file's `global` section; job names must be unique across all files.
fn load_scrape_config_files(cfg: &Config, dir: &Path) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let mut seen: HashSet<String> = cfg
        .scrape_configs
        .iter()
        .map(|s| s.job_name.clone())
        .collect();
    let mut out = Vec::new();
    for file in expand_globs(&cfg.scrape_config_files, dir, "scrape_config_files")? {
        let name = file.display().to_string();
        let yaml = read(&file)?;
        let parsed: ScrapeConfigsFile = parse(&yaml, &name)?;
        for (i, mut sc) in parsed.scrape_configs.into_iter().enumerate() {
            let p = FieldPath::root().key("scrape_configs").idx(i);
            sc.validate_syntax(&p)
                .and_then(|()| sc.validate(&cfg.global, &p))
                .map_err(|inv| locate(inv, &yaml, &name))?;
            if !seen.insert(sc.job_name.clone()) {
                let inv = p.key("job_name").error(format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                ));
                return Err(locate(inv, &yaml, &name));
            }
            out.push(sc);
        }
    }
    Ok(out)
}
