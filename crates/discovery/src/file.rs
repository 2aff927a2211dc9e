//! `file_sd_configs`: target groups read from JSON or YAML files matching
//! glob patterns, re-read when a file changes and every `refresh_interval`.
//!
//! Prometheus watches with fsnotify; we poll the matched files' size and
//! mtime (and the glob's match list) every second instead: one `stat` per
//! file per second costs nothing and needs no platform-specific watcher.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sightline_config::FileSdConfig;
use tokio::time::Instant;

use crate::{ADDRESS_LABEL, LabelSet, TargetGroup, Updates};

/// The label naming the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// How often file metadata is checked for changes.
const POLL: Duration = Duration::from_secs(1);

pub struct FileDiscovery {
    patterns: Vec<String>,
    refresh: Duration,
    poll: Duration,
    /// Groups last sent per file, so vanished ones can be cleared.
    sent: BTreeMap<PathBuf, usize>,
}

/// One entry of a file: `{targets: [...], labels: {...}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

type Fingerprint = Vec<(PathBuf, Option<(u64, SystemTime)>)>;

impl FileDiscovery {
    pub fn new(cfg: &FileSdConfig, base_dir: &Path) -> Self {
        let patterns = cfg
            .files
            .iter()
            .map(|f| {
                if Path::new(f).is_absolute() {
                    f.clone()
                } else {
                    base_dir.join(f).display().to_string()
                }
            })
            .collect();
        let refresh = cfg.refresh_interval.as_std().max(Duration::from_millis(10));
        FileDiscovery {
            patterns,
            refresh,
            poll: POLL,
            sent: BTreeMap::new(),
        }
    }

    /// Overrides the change-polling period (tests).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Files currently matching the patterns, sorted.
    fn list_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in &self.patterns {
            match glob::glob(p) {
                Ok(paths) => out.extend(paths.flatten()),
                Err(e) => tracing::error!(pattern = %p, error = %e, "invalid file_sd pattern"),
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn fingerprint(&self) -> Fingerprint {
        self.list_files()
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p)
                    .ok()
                    .and_then(|m| Some((m.len(), m.modified().ok()?)));
                (p, meta)
            })
            .collect()
    }

    /// Reads every file and returns the groups to send: current ones plus
    /// cleared sources for groups that disappeared. A file that fails to read
    /// or parse keeps its previous groups (Prometheus does the same).
    pub fn refresh(&mut self) -> Vec<TargetGroup> {
        let mut out = Vec::new();
        let mut now: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for path in self.list_files() {
            match read_file(&path) {
                Ok(groups) => {
                    now.insert(path.clone(), groups.len());
                    out.extend(groups);
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "error reading file_sd file");
                    if let Some(n) = self.sent.get(&path) {
                        now.insert(path.clone(), *n);
                    }
                }
            }
        }
        for (path, n) in &self.sent {
            let m = now.get(path).copied().unwrap_or(0);
            for i in m..*n {
                out.push(TargetGroup::cleared(source(path, i)));
            }
        }
        self.sent = now;
        out
    }

    pub async fn run(mut self, up: Updates) {
        let mut last = self.fingerprint();
        if !up.send(self.refresh()) {
            return;
        }
        let mut next_full = Instant::now() + self.refresh;
        loop {
            tokio::time::sleep(self.poll).await;
            let fp = self.fingerprint();
            if fp != last || Instant::now() >= next_full {
                last = fp;
                next_full = Instant::now() + self.refresh;
                if !up.send(self.refresh()) {
                    return;
                }
            }
        }
    }
}

fn source(path: &Path, i: usize) -> String {
    format!("{}:{i}", path.display())
}

/// Parses one file: JSON for `.json`, YAML otherwise.
pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let groups: Vec<FileGroup> = match ext.as_str() {
        "json" => serde_json::from_str(&text).map_err(|e| e.to_string())?,
        "yml" | "yaml" => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_saphyr::from_str::<Option<Vec<FileGroup>>>(&text)
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default()
            }
        }
        other => {
            return Err(format!(
                "retrieval target groups from {other:?} file is not supported"
            ));
        }
    };
    let filepath = path.display().to_string();
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        for name in g.labels.keys() {
            if name.is_empty() {
                return Err(format!("\"{name}\" is not a valid label name"));
            }
        }
        let mut labels = g.labels;
        labels.insert(FILEPATH_LABEL.to_string(), filepath.clone());
        let mut targets = Vec::with_capacity(g.targets.len());
        for t in g.targets {
            if t.contains('/') {
                return Err(format!("{t:?} is not a valid hostname"));
            }
            targets.push(LabelSet::from([(ADDRESS_LABEL.to_string(), t)]));
        }
        out.push(TargetGroup {
            source: source(path, i),
            targets,
            labels,
        });
    }
    Ok(out)
}
