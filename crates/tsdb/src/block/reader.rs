use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use parking_lot::Mutex;
use sightline_model::{Exemplar, Label, Labels, Matcher, Sample};

use super::frame_cache;
use super::meta::BlockMeta;
use super::{CHUNKS_MAGIC, EXEMPLARS_MAGIC, INDEX_MAGIC};
use crate::chunk::block_codec;
use crate::postings::{self, PostingsSource};
use crate::storage::{Result, StorageError};
use crate::varint::Decoder;

/// Decompressed frames kept per block; queries scan series in index order,
/// which is frame order, so a small FIFO catches nearly every reuse.
const FRAME_CACHE: usize = 6;

#[derive(Clone, Copy)]
struct ChunkMeta {
    mint: i64,
    maxt: i64,
    frame: u32,
    offset: u32,
    len: u32,
}

struct SeriesEntry {
    labels: Box<[(u32, u32)]>,
    chunks: Box<[ChunkMeta]>,
}

struct Frame {
    offset: u64,
    clen: u32,
    rlen: u32,
    crc: u32,
}

/// An open, immutable block. The index is decoded into memory; chunk bytes
/// stay in the mmapped file and are decompressed a frame at a time.
pub struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    symbols: Vec<Box<str>>,
    symbol_ids: HashMap<Box<str>, u32>,
    series: Vec<SeriesEntry>,
    postings: HashMap<u32, HashMap<u32, Box<[u32]>>>,
    frames: Vec<Frame>,
    chunks: Mmap,
    cache: Mutex<VecDeque<(u32, Arc<Vec<u8>>)>>,
    /// This block's key in the shared `frame_cache`.
    cache_id: u64,
    pub size_bytes: u64,
}

impl Drop for Block {
    fn drop(&mut self) {
        frame_cache::global().forget_block(self.cache_id);
    }
}

fn corrupt(dir: &Path, what: &str) -> StorageError {
    StorageError::Corrupt(format!("block {}: {what}", dir.display()))
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block> {
        let meta = BlockMeta::read(dir)?;
        let index = std::fs::read(dir.join("index"))?;
        let n = index.len();
        if n < 20 || &index[..8] != INDEX_MAGIC || &index[n - 8..] != INDEX_MAGIC {
            return Err(corrupt(dir, "index: bad magic"));
        }
        let crc = u32::from_le_bytes(index[n - 12..n - 8].try_into().unwrap());
        if crc32fast::hash(&index[..n - 12]) != crc {
            return Err(corrupt(dir, "index: checksum mismatch"));
        }
        let body = zstd::stream::decode_all(&index[8..n - 12])
            .map_err(|e| corrupt(dir, &format!("index: {e}")))?;
        let mut d = Decoder::new(&body);
        let bad = || corrupt(dir, "index: truncated or malformed");
        let nsym = d.uvarint().ok_or_else(bad)? as usize;
        let mut symbols = Vec::with_capacity(nsym.min(1 << 24));
        for _ in 0..nsym {
            symbols.push(Box::<str>::from(d.str().ok_or_else(bad)?));
        }
        let sym_ok = |i: u64| -> Option<u32> { ((i as usize) < symbols.len()).then_some(i as u32) };
        let nseries = d.uvarint().ok_or_else(bad)? as usize;
        let mut series = Vec::with_capacity(nseries.min(1 << 24));
        for _ in 0..nseries {
            let nl = d.uvarint().ok_or_else(bad)? as usize;
            let mut labels = Vec::with_capacity(nl.min(256));
            for _ in 0..nl {
                let a = d.uvarint().and_then(sym_ok).ok_or_else(bad)?;
                let b = d.uvarint().and_then(sym_ok).ok_or_else(bad)?;
                labels.push((a, b));
            }
            let nc = d.uvarint().ok_or_else(bad)? as usize;
            let mut chunks = Vec::with_capacity(nc.min(1 << 16));
            for _ in 0..nc {
                let mint = d.varint().ok_or_else(bad)?;
                let maxt = mint.wrapping_add(d.uvarint().ok_or_else(bad)? as i64);
                chunks.push(ChunkMeta {
                    mint,
                    maxt,
                    frame: d.uvarint().ok_or_else(bad)? as u32,
                    offset: d.uvarint().ok_or_else(bad)? as u32,
                    len: d.uvarint().ok_or_else(bad)? as u32,
                });
            }
            series.push(SeriesEntry {
                labels: labels.into(),
                chunks: chunks.into(),
            });
        }
        let npairs = d.uvarint().ok_or_else(bad)? as usize;
        let mut postings: HashMap<u32, HashMap<u32, Box<[u32]>>> = HashMap::new();
        for _ in 0..npairs {
            let name = d.uvarint().and_then(sym_ok).ok_or_else(bad)?;
            let value = d.uvarint().and_then(sym_ok).ok_or_else(bad)?;
            let cnt = d.uvarint().ok_or_else(bad)? as usize;
            let mut list = Vec::with_capacity(cnt.min(series.len()));
            let mut prev = 0u64;
            for _ in 0..cnt {
                prev += d.uvarint().ok_or_else(bad)?;
                if prev as usize >= series.len() {
                    return Err(bad());
                }
                list.push(prev as u32);
            }
            postings.entry(name).or_default().insert(value, list.into());
        }
        let nframes = d.uvarint().ok_or_else(bad)? as usize;
        let mut frames = Vec::with_capacity(nframes.min(1 << 20));
        for _ in 0..nframes {
            frames.push(Frame {
                offset: d.uvarint().ok_or_else(bad)?,
                clen: d.uvarint().ok_or_else(bad)? as u32,
                rlen: d.uvarint().ok_or_else(bad)? as u32,
                crc: d.uvarint().ok_or_else(bad)? as u32,
            });
        }
        let file = File::open(dir.join("chunks"))?;
        // Safety: block files are immutable once renamed into place and only
        // deleted after the block is dropped from the DB's block list.
        let chunks = unsafe { Mmap::map(&file)? };
        if chunks.len() < 8 || &chunks[..8] != CHUNKS_MAGIC {
            return Err(corrupt(dir, "chunks: bad magic"));
        }
        if let Some(f) = frames.last()
            && f.offset + f.clen as u64 > chunks.len() as u64
        {
            return Err(corrupt(dir, "chunks: file shorter than its index says"));
        }
        let symbol_ids = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            symbols,
            symbol_ids,
            series,
            postings,
            frames,
            chunks,
            cache: Mutex::new(VecDeque::new()),
            cache_id: frame_cache::next_block_id(),
            size_bytes: crate::wal::dir_size(dir),
        })
    }

    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    fn frame(&self, i: u32) -> Result<Arc<Vec<u8>>> {
        {
            let c = self.cache.lock();
            if let Some((_, f)) = c.iter().find(|(k, _)| *k == i) {
                return Ok(f.clone());
            }
        }
        if let Some(f) = frame_cache::global().get(self.cache_id, i) {
            self.remember(i, f.clone());
            return Ok(f);
        }
        let f = self
            .frames
            .get(i as usize)
            .ok_or_else(|| corrupt(&self.dir, "chunk frame out of range"))?;
        let bytes = self
            .chunks
            .get(f.offset as usize..f.offset as usize + f.clen as usize)
            .ok_or_else(|| corrupt(&self.dir, &format!("chunks: frame {i} beyond end of file")))?;
        if crc32fast::hash(bytes) != f.crc {
            return Err(corrupt(
                &self.dir,
                &format!("chunks: checksum mismatch in frame {i}"),
            ));
        }
        let raw = zstd::bulk::decompress(bytes, f.rlen as usize)
            .map_err(|e| corrupt(&self.dir, &format!("chunks: frame {i}: {e}")))?;
        let raw = Arc::new(raw);
        frame_cache::global().insert(self.cache_id, i, raw.clone());
        self.remember(i, raw.clone());
        Ok(raw)
    }

    fn remember(&self, i: u32, frame: Arc<Vec<u8>>) {
        let mut c = self.cache.lock();
        if c.len() >= FRAME_CACHE {
            c.pop_front();
        }
        c.push_back((i, frame));
    }

    pub fn labels_of(&self, idx: u32) -> Labels {
        let e = &self.series[idx as usize];
        Labels::from_sorted(
            e.labels
                .iter()
                .map(|&(n, v)| Label {
                    name: self.symbols[n as usize].to_string(),
                    value: self.symbols[v as usize].to_string(),
                })
                .collect(),
        )
    }

    pub fn select_ids(&self, matchers: &[Matcher]) -> Vec<u64> {
        postings::select(self, matchers)
    }

    /// Samples of series `idx` in `[mint, maxt]`.
    pub fn samples(&self, idx: u32, mint: i64, maxt: i64, out: &mut Vec<Sample>) -> Result<()> {
        self.read_series(idx, mint, maxt, out, None)
    }

    /// `samples` with start timestamps: `st` becomes a column aligned with
    /// `out` as soon as one chunk in range has STs (left `None` otherwise).
    pub fn samples_st(
        &self,
        idx: u32,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
        st: &mut Option<Vec<i64>>,
    ) -> Result<()> {
        self.read_series(idx, mint, maxt, out, Some(st))
    }

    /// Decodes the series' chunks overlapping `[mint, maxt]` straight into
    /// `out`, and their start timestamps into `st` when asked for.
    fn read_series(
        &self,
        idx: u32,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
        mut st: Option<&mut Option<Vec<i64>>>,
    ) -> Result<()> {
        for c in self.series[idx as usize].chunks.iter() {
            if c.maxt < mint || c.mint > maxt {
                continue;
            }
            let frame = self.frame(c.frame)?;
            let bytes = frame
                .get(c.offset as usize..(c.offset + c.len) as usize)
                .ok_or_else(|| corrupt(&self.dir, "chunk outside its frame"))?;
            let mut d = Decoder::new(bytes);
            let base = out.len();
            block_codec::decode_into(&mut d, out)
                .ok_or_else(|| corrupt(&self.dir, "undecodable chunk"))?;
            let mut col = st.as_deref_mut();
            if d.is_empty() {
                // No start timestamps in this chunk: keep the column aligned.
                if let Some(v) = col.as_mut().and_then(|c| c.as_mut()) {
                    v.resize(out.len(), 0);
                }
            } else if let Some(c) = col.as_mut() {
                let v = c.get_or_insert_with(|| vec![0; base]);
                crate::chunk::st::decode(&d.buf[d.pos..], out[base..].iter().map(|s| s.t), v)
                    .ok_or_else(|| corrupt(&self.dir, "undecodable start timestamps"))?;
                if v.len() != out.len() {
                    return Err(corrupt(&self.dir, "start timestamps do not match samples"));
                }
            }
            // Chunks are time-ordered: trim the part outside [mint, maxt] in place.
            if out[base..].first().is_some_and(|s| s.t < mint)
                || out.last().is_some_and(|s| s.t > maxt)
            {
                let mut v = col.and_then(|c| c.as_mut());
                let mut k = base;
                for i in base..out.len() {
                    let smp = out[i];
                    if smp.t >= mint && smp.t <= maxt {
                        out[k] = smp;
                        if let Some(v) = v.as_mut() {
                            v[k] = v[i];
                        }
                        k += 1;
                    }
                }
                out.truncate(k);
                if let Some(v) = v {
                    v.truncate(k);
                }
            }
        }
        Ok(())
    }

    /// Every series with all of its samples and start timestamps, in label
    /// order (for compaction).
    #[allow(clippy::type_complexity)]
    pub fn all_series_st(
        &self,
    ) -> impl Iterator<Item = Result<(Labels, Vec<Sample>, Option<Vec<i64>>)>> + '_ {
        (0..self.series.len() as u32).map(move |i| {
            let mut s = Vec::new();
            let mut st = None;
            self.samples_st(i, i64::MIN, i64::MAX, &mut s, &mut st)?;
            Ok((self.labels_of(i), s, st))
        })
    }

    /// Every series with all of its samples, in label order (for compaction).
    pub fn all_series(&self) -> impl Iterator<Item = Result<(Labels, Vec<Sample>)>> + '_ {
        (0..self.series.len() as u32).map(move |i| {
            let mut s = Vec::new();
            self.samples(i, i64::MIN, i64::MAX, &mut s)?;
            Ok((self.labels_of(i), s))
        })
    }

    pub fn label_names(&self) -> Vec<String> {
        self.postings
            .keys()
            .map(|&n| self.symbols[n as usize].to_string())
            .collect()
    }

    pub fn label_values(&self, name: &str) -> Vec<String> {
        let Some(id) = self.symbol_ids.get(name) else {
            return Vec::new();
        };
        self.postings
            .get(id)
            .map(|m| {
                m.keys()
                    .map(|&v| self.symbols[v as usize].to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All exemplars of the block, by series index.
    pub fn exemplars(&self) -> Result<HashMap<u32, Vec<Exemplar>>> {
        let path = self.dir.join("exemplars");
        let raw = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        if raw.len() < 8 || &raw[..8] != EXEMPLARS_MAGIC {
            return Err(corrupt(&self.dir, "exemplars: bad magic"));
        }
        let data = zstd::stream::decode_all(&raw[8..])
            .map_err(|e| corrupt(&self.dir, &format!("exemplars: {e}")))?;
        let mut d = Decoder::new(&data);
        let mut out: HashMap<u32, Vec<Exemplar>> = HashMap::new();
        let bad = || corrupt(&self.dir, "exemplars: malformed");
        while !d.is_empty() {
            let idx = d.uvarint().ok_or_else(bad)? as u32;
            let t = d.varint().ok_or_else(bad)?;
            let v = f64::from_bits(d.u64_le().ok_or_else(bad)?);
            let n = d.uvarint().ok_or_else(bad)? as usize;
            let mut pairs = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                let name = d.str().ok_or_else(bad)?.to_string();
                let value = d.str().ok_or_else(bad)?.to_string();
                pairs.push((name, value));
            }
            out.entry(idx).or_default().push(Exemplar {
                labels: Labels::from_pairs(pairs),
                t,
                v,
            });
        }
        Ok(out)
    }
}

impl PostingsSource for Block {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(vals) = self
            .symbol_ids
            .get(name)
            .and_then(|id| self.postings.get(id))
        {
            for &v in vals.keys() {
                f(&self.symbols[v as usize]);
            }
        }
    }

    fn postings(&self, name: &str, value: &str, out: &mut Vec<u64>) {
        let (Some(n), Some(v)) = (self.symbol_ids.get(name), self.symbol_ids.get(value)) else {
            return;
        };
        if let Some(list) = self.postings.get(n).and_then(|m| m.get(v)) {
            out.extend(list.iter().map(|&i| i as u64));
        }
    }

    fn all(&self, out: &mut Vec<u64>) {
        out.extend(0..self.series.len() as u64);
    }
}
