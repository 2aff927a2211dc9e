//! Deleted time ranges per series (`/api/v1/admin/tsdb/delete_series`).
//! Reads hide samples inside a tombstone; `clean_tombstones` rewrites the
//! blocks that hold such samples and drops the tombstones they covered.
//! Persisted as `tombstones.json` (written via tmp + rename).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use sightline_model::{Labels, Matcher, Sample};

use crate::block::{Block, BlockSeries, write_block};
use crate::db::Db;
use crate::storage::{Queryable, Result, SelectHints, StorageError};

pub struct Tombstones {
    path: PathBuf,
    map: RwLock<HashMap<Labels, Vec<(i64, i64)>>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    labels: Labels,
    intervals: Vec<(i64, i64)>,
}

/// Sorted, merged, inclusive intervals.
fn merge(mut iv: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    iv.sort();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(iv.len());
    for (a, b) in iv {
        match out.last_mut() {
            Some(l) if a <= l.1.saturating_add(1) => l.1 = l.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

impl Tombstones {
    pub fn load(dir: &Path) -> Result<Tombstones> {
        let path = dir.join("tombstones.json");
        let mut map = HashMap::new();
        match fs::read(&path) {
            Ok(bytes) => {
                let entries: Vec<Entry> = serde_json::from_slice(&bytes)
                    .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))?;
                for e in entries {
                    map.insert(e.labels, e.intervals);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Tombstones {
            path,
            map: RwLock::new(map),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    /// Removes samples of series `l` that fall into one of its tombstones.
    pub fn filter(&self, l: &Labels, samples: &mut Vec<Sample>) {
        let map = self.map.read();
        if let Some(iv) = map.get(l) {
            samples.retain(|s| !iv.iter().any(|(a, b)| s.t >= *a && s.t <= *b));
        }
    }

    /// `filter` for samples with an optional start-timestamp column.
    pub fn filter_st(&self, l: &Labels, samples: &mut Vec<Sample>, st: &mut Option<Vec<i64>>) {
        let Some(sts) = st.as_mut() else {
            return self.filter(l, samples);
        };
        let map = self.map.read();
        if let Some(iv) = map.get(l) {
            let keep: Vec<bool> = samples
                .iter()
                .map(|s| !iv.iter().any(|(a, b)| s.t >= *a && s.t <= *b))
                .collect();
            let mut i = 0;
            samples.retain(|_| {
                i += 1;
                keep[i - 1]
            });
            let mut i = 0;
            sts.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
    }

    fn persist(&self, map: &HashMap<Labels, Vec<(i64, i64)>>) -> Result<()> {
        let entries: Vec<Entry> = map
            .iter()
            .map(|(l, iv)| Entry {
                labels: l.clone(),
                intervals: iv.clone(),
            })
            .collect();
        let tmp = self.path.with_extension("json.tmp");
        fs::write(
            &tmp,
            serde_json::to_vec(&entries).map_err(|e| StorageError::Invalid(e.to_string()))?,
        )?;
        fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

impl Db {
    /// Deletes `[mint, maxt]` (inclusive) of every series matching any of the
    /// matcher sets; returns how many series got a tombstone.
    pub fn delete_series(&self, sets: &[Vec<Matcher>], mint: i64, maxt: i64) -> Result<usize> {
        let q = self.querier(mint, maxt)?;
        let mut hit: Vec<Labels> = Vec::new();
        for ms in sets {
            for s in q.select(
                ms,
                &SelectHints {
                    series_only: true,
                    limit: 0,
                },
            )? {
                hit.push(s.labels);
            }
        }
        drop(q);
        let ts = &self.tombstones;
        let mut map = ts.map.write();
        for l in &hit {
            let mut iv = map.remove(l).unwrap_or_default();
            iv.push((mint, maxt));
            map.insert(l.clone(), merge(iv));
        }
        ts.persist(&map)?;
        Ok(hit.len())
    }

    /// Rewrites every block holding deleted samples without them, then drops
    /// the tombstones that only covered block data (those reaching into the
    /// head stay until the head data is cut into a block).
    pub fn clean_tombstones(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        if self.tombstones.is_empty() {
            return Ok(());
        }
        let blocks: Vec<std::sync::Arc<Block>> = self.blocks.read().clone();
        for b in blocks {
            let affected = {
                let map = self.tombstones.map.read();
                map.values().any(|iv| {
                    iv.iter()
                        .any(|(a, z)| *a < b.meta.max_time && *z >= b.meta.min_time)
                })
            };
            if !affected {
                continue;
            }
            let mut series = Vec::new();
            for r in b.all_series_st() {
                let (labels, mut samples, mut st) = r?;
                self.tombstones.filter_st(&labels, &mut samples, &mut st);
                series.push(BlockSeries {
                    labels,
                    samples,
                    st,
                    exemplars: Vec::new(),
                });
            }
            let meta = write_block(
                &self.dir,
                b.meta.min_time,
                b.meta.max_time,
                b.meta.compaction.clone(),
                series.into_iter(),
            )?;
            let new_block = match &meta {
                Some(m) => Some(std::sync::Arc::new(Block::open(&self.dir.join(&m.ulid))?)),
                None => None,
            };
            {
                let mut list = self.blocks.write();
                list.retain(|x| x.meta.ulid != b.meta.ulid);
                if let Some(nb) = new_block {
                    list.push(nb);
                }
                list.sort_by_key(|x| x.meta.min_time);
            }
            let _ = fs::remove_dir_all(self.dir.join(&b.meta.ulid));
            tracing::info!(old = %b.meta.ulid, new = ?meta.map(|m| m.ulid), "block rewritten without deleted samples");
        }
        // Tombstones entirely before the head's data are fully applied now.
        let head_min = self.head.min_t.load(std::sync::atomic::Ordering::Relaxed);
        let mut map = self.tombstones.map.write();
        for iv in map.values_mut() {
            iv.retain(|(_, z)| *z >= head_min);
        }
        map.retain(|_, iv| !iv.is_empty());
        self.tombstones.persist(&map)
    }
}
