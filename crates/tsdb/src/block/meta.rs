use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::storage::{Result, StorageError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: String,
    /// Inclusive.
    pub min_time: i64,
    /// Exclusive, as in Prometheus.
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: CompactionMeta,
    pub version: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_samples: u64,
    pub num_series: u64,
    pub num_chunks: u64,
    pub num_exemplars: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CompactionMeta {
    pub level: u32,
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
}

impl BlockMeta {
    pub fn read(dir: &Path) -> Result<BlockMeta> {
        let p = dir.join("meta.json");
        let b = std::fs::read(&p)?;
        serde_json::from_slice(&b)
            .map_err(|e| StorageError::Corrupt(format!("{}: {e}", p.display())))
    }
}
