//! Write-ahead log: numbered segment files of framed records
//! (`u32 len | u32 crc32 | payload`, little endian), plus at most one
//! checkpoint directory holding what the deleted segments still owed the head.
//!
//! A commit is acknowledged after its frames are written to the segment file
//! (one `write` call), so it survives the process being killed; fsync happens
//! on segment rotation and close.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::storage::{Result, StorageError};

pub const SEGMENT_SIZE: u64 = 128 << 20;
pub(crate) const HEADER: usize = 8;
/// Largest record accepted when reading; anything bigger is damage.
pub(crate) const MAX_RECORD: usize = 1 << 30;

#[cfg(test)]
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends a record to `out` framed, building the payload in place (no copy).
pub fn frame_with(out: &mut Vec<u8>, build: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER]);
    build(out);
    let payload = &out[start + HEADER..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
}

pub(crate) fn segment_name(i: u32) -> String {
    format!("{i:08}")
}

/// Segment indexes present in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        if let Some(i) = name.to_str().and_then(|s| s.parse::<u32>().ok()) {
            v.push(i);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// The newest complete checkpoint: (first segment it stands in front of, its dir).
pub(crate) fn latest_checkpoint(dir: &Path) -> Result<Option<(u32, PathBuf)>> {
    let mut best: Option<(u32, PathBuf)> = None;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(s) = name.to_str() else { continue };
        if let Some(n) = s
            .strip_prefix("checkpoint.")
            .and_then(|n| n.parse::<u32>().ok())
            && best.as_ref().is_none_or(|(b, _)| n > *b)
        {
            best = Some((n, e.path()));
        }
    }
    Ok(best)
}

/// What a replay found besides the records it handed over.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    pub segments: usize,
    pub records: u64,
    pub bytes: u64,
    /// Human-readable descriptions of damage found (torn tails, bad checksums).
    pub corruptions: Vec<String>,
    /// Highest sample timestamp seen per segment (drives WAL truncation).
    pub segment_max_t: BTreeMap<u32, i64>,
    pub last_segment: Option<u32>,
}

/// Reads one segment file record by record. Returns the offset of the end of the
/// last good record and a description of the damage, if any.
fn read_segment(path: &Path, f: &mut dyn FnMut(&[u8])) -> Result<(u64, u64, Option<String>)> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    let mut pos = 0usize;
    let mut n = 0u64;
    while pos < buf.len() {
        if buf.len() - pos < HEADER {
            return Ok((
                pos as u64,
                n,
                Some(format!(
                    "{}: torn record header at offset {pos}",
                    path.display()
                )),
            ));
        }
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().unwrap());
        if len > MAX_RECORD || buf.len() - pos - HEADER < len {
            return Ok((
                pos as u64,
                n,
                Some(format!(
                    "{}: torn record at offset {pos} (length {len})",
                    path.display()
                )),
            ));
        }
        let payload = &buf[pos + HEADER..pos + HEADER + len];
        if crc32fast::hash(payload) != crc {
            return Ok((
                pos as u64,
                n,
                Some(format!(
                    "{}: checksum mismatch at offset {pos}",
                    path.display()
                )),
            ));
        }
        f(payload);
        n += 1;
        pos += HEADER + len;
    }
    Ok((pos as u64, n, None))
}

/// Replays the checkpoint and then every later segment, in order. A damaged
/// tail of the last segment is cut off (it was never acknowledged: the write
/// that produced it did not finish); damage elsewhere is reported and the
/// readable records around it are still replayed.
pub fn replay(dir: &Path, f: &mut dyn FnMut(u32, &[u8])) -> Result<ReplayReport> {
    fs::create_dir_all(dir)?;
    let mut rep = ReplayReport::default();
    let mut first = 0u32;
    if let Some((n, cp)) = latest_checkpoint(dir)? {
        first = n;
        for i in list_segments(&cp)? {
            let p = cp.join(segment_name(i));
            let (_, recs, damage) = read_segment(&p, &mut |b| f(u32::MAX, b))?;
            rep.records += recs;
            if let Some(d) = damage {
                rep.corruptions.push(d);
            }
        }
    }
    let segs: Vec<u32> = list_segments(dir)?
        .into_iter()
        .filter(|&i| i >= first)
        .collect();
    for (k, &i) in segs.iter().enumerate() {
        let p = dir.join(segment_name(i));
        let (good, recs, damage) = read_segment(&p, &mut |b| f(i, b))?;
        rep.records += recs;
        rep.bytes += good;
        rep.segments += 1;
        if let Some(d) = damage {
            if k + 1 == segs.len() {
                // Torn tail: truncate so the next writer never appends after garbage.
                OpenOptions::new().write(true).open(&p)?.set_len(good)?;
                rep.corruptions
                    .push(format!("{d}; truncated to {good} bytes"));
            } else {
                rep.corruptions.push(d);
            }
        }
    }
    rep.last_segment = segs.last().copied();
    Ok(rep)
}

/// The appending side of the WAL.
pub struct Wal {
    dir: PathBuf,
    index: u32,
    file: File,
    size: u64,
    /// Max sample timestamp written per segment (including replayed ones).
    max_t: BTreeMap<u32, i64>,
    total_bytes: u64,
}

impl Wal {
    /// Opens a fresh segment after `last` (replay has run before).
    pub fn open(dir: &Path, rep: &ReplayReport) -> Result<Wal> {
        fs::create_dir_all(dir)?;
        let index = rep.last_segment.map_or(0, |i| i + 1);
        let file = create_segment(dir, index)?;
        let total_bytes = dir_size(dir);
        Ok(Wal {
            dir: dir.to_path_buf(),
            index,
            file,
            size: 0,
            max_t: rep.segment_max_t.clone(),
            total_bytes,
        })
    }

    pub fn size_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Writes already-framed records; `max_t` is the newest sample timestamp among them.
    pub fn write(&mut self, frames: &[u8], max_t: Option<i64>) -> Result<()> {
        if self.size > 0 && self.size + frames.len() as u64 > SEGMENT_SIZE {
            self.rotate()?;
        }
        self.file.write_all(frames)?;
        self.size += frames.len() as u64;
        self.total_bytes += frames.len() as u64;
        if let Some(t) = max_t {
            let e = self.max_t.entry(self.index).or_insert(i64::MIN);
            *e = (*e).max(t);
        }
        Ok(())
    }

    /// Closes the current segment (fsynced) and starts the next one.
    pub fn rotate(&mut self) -> Result<u32> {
        self.file.sync_data()?;
        self.index += 1;
        self.file = create_segment(&self.dir, self.index)?;
        self.size = 0;
        Ok(self.index)
    }

    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data()?;
        Ok(())
    }

    /// Segments before the current one whose samples are all older than `t`:
    /// the ones a checkpoint at `t` may replace. Returns the first segment to keep.
    pub fn truncation_point(&self, t: i64) -> u32 {
        self.max_t
            .range(..self.index)
            .filter(|&(_, &m)| m >= t)
            .map(|(&i, _)| i)
            .min()
            .unwrap_or(self.index)
    }

    /// Installs a checkpoint holding `records` (framed) in front of segment
    /// `first_kept`, then deletes the segments and checkpoints it replaces.
    pub fn checkpoint(&mut self, first_kept: u32, records: &[u8]) -> Result<()> {
        let final_dir = self.dir.join(format!("checkpoint.{first_kept:08}"));
        let tmp = self.dir.join(format!("checkpoint.{first_kept:08}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        {
            let mut f = File::create(tmp.join(segment_name(0)))?;
            f.write_all(records)?;
            f.sync_all()?;
        }
        let _ = fs::remove_dir_all(&final_dir);
        fs::rename(&tmp, &final_dir)?;
        sync_dir(&self.dir);
        for i in list_segments(&self.dir)? {
            if i < first_kept {
                fs::remove_file(self.dir.join(segment_name(i)))?;
                self.max_t.remove(&i);
            }
        }
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(s) = name.to_str() else { continue };
            if let Some(n) = s.strip_prefix("checkpoint.") {
                let older = n.parse::<u32>().map(|n| n < first_kept).unwrap_or(true);
                if older {
                    fs::remove_dir_all(e.path())?;
                }
            }
        }
        self.total_bytes = dir_size(&self.dir);
        Ok(())
    }
}

fn create_segment(dir: &Path, i: u32) -> Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(segment_name(i)))
        .map_err(|e| {
            StorageError::Io(std::io::Error::new(
                e.kind(),
                format!("create WAL segment {i}: {e}"),
            ))
        })?;
    sync_dir(dir);
    Ok(f)
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(dir: &Path) -> (Vec<Vec<u8>>, ReplayReport) {
        let mut got = Vec::new();
        let rep = replay(dir, &mut |_, b| got.push(b.to_vec())).unwrap();
        (got, rep)
    }

    #[test]
    fn write_replay_and_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let (_, rep) = collect(d.path());
        let mut w = Wal::open(d.path(), &rep).unwrap();
        let mut buf = Vec::new();
        frame(&mut buf, b"one");
        frame(&mut buf, b"two");
        w.write(&buf, Some(5)).unwrap();
        drop(w);
        // Simulate a write cut short by a crash: half a record at the end.
        let seg = d.path().join(segment_name(0));
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        let mut tail = Vec::new();
        frame(&mut tail, b"three-never-acknowledged");
        f.write_all(&tail[..10]).unwrap();
        drop(f);
        let (got, rep) = collect(d.path());
        assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(rep.corruptions.len(), 1, "{:?}", rep.corruptions);
        assert!(rep.corruptions[0].contains("torn"));
        // The tail was cut: a second replay is clean.
        let (got, rep) = collect(d.path());
        assert_eq!(got.len(), 2);
        assert!(rep.corruptions.is_empty());
    }

    #[test]
    fn checksum_damage_in_older_segment_keeps_later_data() {
        let d = tempfile::tempdir().unwrap();
        let (_, rep) = collect(d.path());
        let mut w = Wal::open(d.path(), &rep).unwrap();
        let mut buf = Vec::new();
        frame(&mut buf, b"aaaa");
        w.write(&buf, None).unwrap();
        w.rotate().unwrap();
        buf.clear();
        frame(&mut buf, b"bbbb");
        w.write(&buf, None).unwrap();
        drop(w);
        let seg0 = d.path().join(segment_name(0));
        let mut bytes = fs::read(&seg0).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&seg0, bytes).unwrap();
        let (got, rep) = collect(d.path());
        assert_eq!(got, vec![b"bbbb".to_vec()]);
        assert!(rep.corruptions[0].contains("checksum"));
    }

    #[test]
    fn checkpoint_replaces_old_segments() {
        let d = tempfile::tempdir().unwrap();
        let (_, rep) = collect(d.path());
        let mut w = Wal::open(d.path(), &rep).unwrap();
        let mut buf = Vec::new();
        frame(&mut buf, b"old");
        w.write(&buf, Some(10)).unwrap();
        w.rotate().unwrap();
        buf.clear();
        frame(&mut buf, b"new");
        w.write(&buf, Some(100)).unwrap();
        let keep = w.truncation_point(50);
        assert_eq!(keep, 1);
        let mut cp = Vec::new();
        frame(&mut cp, b"checkpointed");
        w.checkpoint(keep, &cp).unwrap();
        drop(w);
        let (got, _) = collect(d.path());
        assert_eq!(got, vec![b"checkpointed".to_vec(), b"new".to_vec()]);
    }
}
