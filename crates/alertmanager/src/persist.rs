//! State snapshots in `<storage.path>/alertmanager/`: `silences.json`,
//! `nflog.json` and `alerts.json`, each written to a temporary file, synced
//! and renamed, so a crash leaves either the old or the new snapshot.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub const SILENCES: &str = "silences.json";
pub const NFLOG: &str = "nflog.json";
pub const ALERTS: &str = "alerts.json";

pub fn write_atomic<T: Serialize>(dir: &Path, name: &str, v: &T) -> std::io::Result<()> {
    let tmp: PathBuf = dir.join(format!("{name}.tmp"));
    {
        // Streamed: no in-memory copy of a large snapshot.
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer(&mut w, v).map_err(std::io::Error::other)?;
        w.flush()?;
        w.get_ref().sync_data()?;
    }
    std::fs::rename(&tmp, dir.join(name))
}

/// Reads a snapshot; a missing file is an empty state, a damaged one is reported and skipped.
pub fn read<T: DeserializeOwned + Default>(dir: &Path, name: &str) -> T {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::error!(path = %path.display(), error = %e, "damaged alertmanager snapshot ignored");
            T::default()
        }),
        Err(_) => T::default(),
    }
}
