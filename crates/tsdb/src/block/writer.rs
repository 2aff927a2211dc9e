use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use sightline_model::{Exemplar, Labels, Sample};

use super::meta::{BlockMeta, BlockStats, CompactionMeta};
use super::{CHUNKS_MAGIC, EXEMPLARS_MAGIC, FRAME_RAW_BYTES, INDEX_MAGIC, ZSTD_LEVEL};
use crate::chunk::block_codec;
use crate::storage::{Result, StorageError};
use crate::varint::{put_str, put_uvarint, put_varint};
use crate::wal::sync_dir;

/// Samples per block chunk: a query over a short range decodes at most this many extra.
const CHUNK_MAX_SAMPLES: usize = 960;

/// One series handed to the block writer.
pub struct BlockSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    /// Start timestamps of `samples` (0 = none); `None` when no sample has one.
    pub st: Option<Vec<i64>>,
    pub exemplars: Vec<Exemplar>,
}

struct ChunkMetaW {
    mint: i64,
    maxt: i64,
    frame: u32,
    offset: u32,
    len: u32,
}

/// A written series: label symbol pairs and its chunks.
type SeriesW = (Vec<(u32, u32)>, Vec<ChunkMetaW>);

struct Writer {
    chunks: BufWriter<File>,
    chunks_pos: u64,
    frame_buf: Vec<u8>,
    frames: Vec<(u64, u32, u32, u32)>,
    symbols: HashMap<String, u32>,
    symbol_list: Vec<String>,
    series: Vec<SeriesW>,
    postings: HashMap<(u32, u32), Vec<u32>>,
    /// Distinct values seen per label name (by symbol).
    distinct: HashMap<u32, u32>,
    /// Encoded series waiting to be laid out in frames (see `flush_pending`).
    pending: Vec<PendingSeries>,
    pending_bytes: usize,
    exemplars: Vec<u8>,
    stats: BlockStats,
}

/// One series' encoded chunks before they are placed in a frame.
struct PendingSeries {
    idx: u32,
    data: Vec<u8>,
    /// (mint, maxt, length) of each chunk in `data`.
    parts: Vec<(i64, i64, u32)>,
}

/// Encoded bytes gathered before they are reordered and cut into frames: four
/// frames, so a scan in index order within one window stays in the reader's
/// frame cache.
const PENDING_BYTES: usize = 16 << 20;

impl Writer {
    fn symbol(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.symbols.get(s) {
            return i;
        }
        let i = self.symbol_list.len() as u32;
        self.symbols.insert(s.to_string(), i);
        self.symbol_list.push(s.to_string());
        i
    }

    fn flush_frame(&mut self) -> Result<()> {
        if self.frame_buf.is_empty() {
            return Ok(());
        }
        let compressed = zstd::bulk::compress(&self.frame_buf, ZSTD_LEVEL)?;
        let crc = crc32fast::hash(&compressed);
        self.chunks.write_all(&compressed)?;
        self.frames.push((
            self.chunks_pos,
            compressed.len() as u32,
            self.frame_buf.len() as u32,
            crc,
        ));
        self.chunks_pos += compressed.len() as u64;
        self.frame_buf.clear();
        Ok(())
    }

    fn add(&mut self, s: BlockSeries, mint: i64, maxt: i64) -> Result<()> {
        let in_range = |x: &Sample| x.t >= mint && x.t < maxt;
        let mut sts: Option<Vec<i64>> = None;
        let samples: Vec<Sample> = match s.st.filter(|v| v.len() == s.samples.len()) {
            Some(st) => {
                let (a, b): (Vec<Sample>, Vec<i64>) = s
                    .samples
                    .into_iter()
                    .zip(st)
                    .filter(|(x, _)| in_range(x))
                    .unzip();
                if b.iter().any(|&x| x != 0) {
                    sts = Some(b);
                }
                a
            }
            None => s.samples.into_iter().filter(in_range).collect(),
        };
        if samples.is_empty() {
            return Ok(());
        }
        let idx = self.series.len() as u32;
        let mut labels = Vec::with_capacity(s.labels.len());
        for l in &s.labels {
            let n = self.symbol(&l.name);
            let v = self.symbol(&l.value);
            labels.push((n, v));
            let list = self.postings.entry((n, v)).or_default();
            if list.is_empty() {
                *self.distinct.entry(n).or_default() += 1;
            }
            list.push(idx);
        }
        let mut pending = PendingSeries {
            idx,
            data: Vec::new(),
            parts: Vec::new(),
        };
        for (k, part) in samples.chunks(CHUNK_MAX_SAMPLES).enumerate() {
            let start = pending.data.len();
            let part_st = sts
                .as_ref()
                .map(|v| &v[k * CHUNK_MAX_SAMPLES..k * CHUNK_MAX_SAMPLES + part.len()]);
            block_codec::encode_with_st(part, part_st, &mut pending.data);
            pending.parts.push((
                part[0].t,
                part[part.len() - 1].t,
                (pending.data.len() - start) as u32,
            ));
        }
        self.stats.num_samples += samples.len() as u64;
        self.stats.num_chunks += pending.parts.len() as u64;
        self.pending_bytes += pending.data.len();
        self.pending.push(pending);
        let metas = Vec::new();
        self.stats.num_series += 1;
        let exemplars: Vec<&Exemplar> = s
            .exemplars
            .iter()
            .filter(|e| e.t >= mint && e.t < maxt)
            .collect();
        for e in exemplars {
            encode_exemplar(&mut self.exemplars, idx, e);
            self.stats.num_exemplars += 1;
        }
        self.series.push((labels, metas));
        if self.pending_bytes >= PENDING_BYTES {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Lays pending series out in frames, ordered so that series differing only
    /// in their most varied label (usually the pod or instance) sit next to each
    /// other: their data is alike, and zstd finds it within one frame. Index
    /// order (by labels) is unchanged; only the chunk file's layout differs.
    fn flush_pending(&mut self) -> Result<()> {
        let name_sym = self.symbols.get(sightline_model::METRIC_NAME).copied();
        let varied = self
            .distinct
            .iter()
            .filter(|(n, _)| Some(**n) != name_sym)
            .max_by_key(|(n, c)| (**c, std::cmp::Reverse(**n)))
            .map(|(n, _)| *n);
        let mut pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let syms = &self.symbol_list;
        let series = &self.series;
        let key = |p: &PendingSeries| -> (Vec<(&str, &str)>, &str) {
            let labels = &series[p.idx as usize].0;
            let mut rest = Vec::with_capacity(labels.len());
            let mut last = "";
            for &(n, v) in labels {
                if Some(n) == varied {
                    last = &syms[v as usize];
                } else {
                    rest.push((syms[n as usize].as_str(), syms[v as usize].as_str()));
                }
            }
            (rest, last)
        };
        pending.sort_by_cached_key(|p| {
            let (rest, last) = key(p);
            let owned: Vec<(String, String)> = rest
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            (owned, last.to_string())
        });
        for p in pending {
            let mut pos = 0usize;
            for (mint, maxt, len) in p.parts {
                if self.frame_buf.len() >= FRAME_RAW_BYTES {
                    self.flush_frame()?;
                }
                let offset = self.frame_buf.len() as u32;
                self.frame_buf
                    .extend_from_slice(&p.data[pos..pos + len as usize]);
                pos += len as usize;
                let meta = ChunkMetaW {
                    mint,
                    maxt,
                    frame: self.frames.len() as u32,
                    offset,
                    len,
                };
                self.series[p.idx as usize].1.push(meta);
            }
        }
        Ok(())
    }

    /// The index file: magic, zstd-compressed body, CRC32 of all before it, magic.
    fn index_bytes(&self) -> Result<Vec<u8>> {
        let mut b = Vec::with_capacity(1 << 16);
        put_uvarint(&mut b, self.symbol_list.len() as u64);
        for s in &self.symbol_list {
            put_str(&mut b, s);
        }
        put_uvarint(&mut b, self.series.len() as u64);
        for (labels, chunks) in &self.series {
            put_uvarint(&mut b, labels.len() as u64);
            for &(n, v) in labels {
                put_uvarint(&mut b, n as u64);
                put_uvarint(&mut b, v as u64);
            }
            put_uvarint(&mut b, chunks.len() as u64);
            for c in chunks {
                put_varint(&mut b, c.mint);
                put_uvarint(&mut b, (c.maxt - c.mint) as u64);
                put_uvarint(&mut b, c.frame as u64);
                put_uvarint(&mut b, c.offset as u64);
                put_uvarint(&mut b, c.len as u64);
            }
        }
        let mut pairs: Vec<(&(u32, u32), &Vec<u32>)> = self.postings.iter().collect();
        pairs.sort_by(|a, b| {
            let sa = (
                &self.symbol_list[a.0.0 as usize],
                &self.symbol_list[a.0.1 as usize],
            );
            let sb = (
                &self.symbol_list[b.0.0 as usize],
                &self.symbol_list[b.0.1 as usize],
            );
            sa.cmp(&sb)
        });
        put_uvarint(&mut b, pairs.len() as u64);
        for ((n, v), list) in pairs {
            put_uvarint(&mut b, *n as u64);
            put_uvarint(&mut b, *v as u64);
            put_uvarint(&mut b, list.len() as u64);
            let mut prev = 0u32;
            for &id in list {
                put_uvarint(&mut b, (id - prev) as u64);
                prev = id;
            }
        }
        put_uvarint(&mut b, self.frames.len() as u64);
        for &(off, clen, rlen, crc) in &self.frames {
            put_uvarint(&mut b, off);
            put_uvarint(&mut b, clen as u64);
            put_uvarint(&mut b, rlen as u64);
            put_uvarint(&mut b, crc as u64);
        }
        let mut out = INDEX_MAGIC.to_vec();
        out.extend_from_slice(&zstd::bulk::compress(&b, ZSTD_LEVEL)?);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(INDEX_MAGIC);
        Ok(out)
    }
}

/// Writes a block covering `[mint, maxt)` under `parent` from series sorted by
/// labels. Returns `None` (and writes nothing) when no sample falls in range.
pub fn write_block(
    parent: &Path,
    mint: i64,
    maxt: i64,
    compaction: CompactionMeta,
    series: impl Iterator<Item = BlockSeries>,
) -> Result<Option<BlockMeta>> {
    let ulid = ulid::Ulid::new().to_string();
    let tmp = parent.join(format!("{ulid}.tmp"));
    fs::create_dir_all(&tmp)?;
    let result = (|| {
        let mut chunks = BufWriter::with_capacity(1 << 20, File::create(tmp.join("chunks"))?);
        chunks.write_all(CHUNKS_MAGIC)?;
        let mut w = Writer {
            chunks,
            chunks_pos: CHUNKS_MAGIC.len() as u64,
            frame_buf: Vec::with_capacity(FRAME_RAW_BYTES + 8192),
            frames: Vec::new(),
            symbols: HashMap::new(),
            symbol_list: Vec::new(),
            series: Vec::new(),
            postings: HashMap::new(),
            distinct: HashMap::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            exemplars: Vec::new(),
            stats: BlockStats::default(),
        };
        let mut prev: Option<Labels> = None;
        for s in series {
            if prev.as_ref().is_some_and(|p| p >= &s.labels) {
                return Err(StorageError::Invalid(format!(
                    "block writer: series not sorted or duplicated at {}",
                    s.labels
                )));
            }
            prev = Some(s.labels.clone());
            w.add(s, mint, maxt)?;
        }
        w.flush_pending()?;
        w.flush_frame()?;
        if w.series.is_empty() {
            return Ok(None);
        }
        w.chunks.flush()?;
        w.chunks.get_ref().sync_all()?;
        let index = w.index_bytes()?;
        write_synced(&tmp.join("index"), &index)?;
        write_exemplars(&tmp, &w.exemplars)?;
        let meta = BlockMeta {
            ulid: ulid.clone(),
            min_time: mint,
            max_time: maxt,
            stats: w.stats.clone(),
            compaction: CompactionMeta {
                sources: if compaction.sources.is_empty() {
                    vec![ulid.clone()]
                } else {
                    compaction.sources
                },
                ..compaction
            },
            version: 1,
        };
        let json =
            serde_json::to_vec_pretty(&meta).map_err(|e| StorageError::Invalid(e.to_string()))?;
        write_synced(&tmp.join("meta.json"), &json)?;
        sync_dir(&tmp);
        Ok(Some(meta))
    })();
    match result {
        Ok(Some(meta)) => {
            fs::rename(&tmp, parent.join(&ulid))?;
            sync_dir(parent);
            Ok(Some(meta))
        }
        other => {
            let _ = fs::remove_dir_all(&tmp);
            other
        }
    }
}

/// One exemplar entry of a block's `exemplars` file (before compression).
pub(crate) fn encode_exemplar(out: &mut Vec<u8>, series_idx: u32, e: &Exemplar) {
    put_uvarint(out, series_idx as u64);
    put_varint(out, e.t);
    out.extend_from_slice(&e.v.to_bits().to_le_bytes());
    put_uvarint(out, e.labels.len() as u64);
    for l in &e.labels {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// Writes (or replaces, atomically) a block's `exemplars` file from encoded entries.
pub(crate) fn write_exemplars(block_dir: &Path, raw: &[u8]) -> Result<()> {
    let mut ex = EXEMPLARS_MAGIC.to_vec();
    ex.extend_from_slice(&zstd::bulk::compress(raw, ZSTD_LEVEL)?);
    let tmp = block_dir.join("exemplars.tmp");
    write_synced(&tmp, &ex)?;
    fs::rename(&tmp, block_dir.join("exemplars"))?;
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
