//! Following the WAL from another component (remote write's queues), as
//! Prometheus's WAL watcher does: the checkpoint for series, then every
//! segment's series and samples in order, then the live segment as it grows.
//! Readers never block the writer; they read the files behind it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sightline_model::{Exemplar, Labels};

use crate::record::{self, Record};
use crate::storage::{Result, SeriesRef};
use crate::wal::{HEADER, MAX_RECORD, latest_checkpoint, list_segments, segment_name};

/// What a follower gets from the WAL.
#[derive(Debug, Clone, PartialEq)]
pub enum TailRecord {
    Series(Vec<(SeriesRef, Labels)>),
    /// `(series, t, v, st)`; `st` 0 when the sample has no start timestamp.
    Samples(Vec<(SeriesRef, i64, f64, i64)>),
    Exemplars(Vec<(SeriesRef, Exemplar)>),
}

/// Why a segment read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEnd {
    /// At the end of the bytes written so far (the tail may still grow).
    Written,
    /// At a record that will never become readable (bad checksum, absurd length).
    Damaged,
}

/// The WAL directory of a storage directory.
pub fn wal_dir(storage: &Path) -> PathBuf {
    storage.join("wal")
}

/// Segment numbers present, ascending.
pub fn segments(wal: &Path) -> Result<Vec<u32>> {
    list_segments(wal)
}

pub fn segment_path(wal: &Path, i: u32) -> PathBuf {
    wal.join(segment_name(i))
}

/// Series (ref and labels) a checkpoint holds.
pub type CheckpointSeries = Vec<(SeriesRef, Labels)>;

/// The series records of the newest checkpoint and the first segment after
/// it, if there is a checkpoint.
pub fn checkpoint_series(wal: &Path) -> Result<Option<(u32, CheckpointSeries)>> {
    let Some((first, dir)) = latest_checkpoint(wal)? else {
        return Ok(None);
    };
    let mut series = Vec::new();
    for i in list_segments(&dir)? {
        read_from(&dir.join(segment_name(i)), 0, &mut |r| {
            if let TailRecord::Series(s) = r {
                series.extend(s);
            }
        })?;
    }
    Ok(Some((first, series)))
}

/// Reads the complete records of a segment file from byte `offset`, handing
/// series and sample records to `f`. Returns the offset after the last record
/// read and why it stopped; a record still being written is left for later.
pub fn read_from(
    path: &Path,
    offset: u64,
    f: &mut dyn FnMut(TailRecord),
) -> Result<(u64, SegmentEnd)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let mut pos = 0usize;
    while buf.len() - pos >= HEADER {
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            return Ok((offset + pos as u64, SegmentEnd::Damaged));
        }
        if buf.len() - pos - HEADER < len {
            break;
        }
        let payload = &buf[pos + HEADER..pos + HEADER + len];
        if crc32fast::hash(payload) != crc {
            return Ok((offset + pos as u64, SegmentEnd::Damaged));
        }
        match record::decode(payload) {
            Some(Record::Series(s)) => f(TailRecord::Series(s)),
            Some(Record::Samples(s)) => f(TailRecord::Samples(
                s.into_iter().map(|x| (x.r, x.t, x.v, 0)).collect(),
            )),
            Some(Record::SamplesSt(s, st)) => f(TailRecord::Samples(
                s.into_iter()
                    .zip(st)
                    .map(|(x, st)| (x.r, x.t, x.v, st))
                    .collect(),
            )),
            Some(Record::Exemplars(e)) => f(TailRecord::Exemplars(e)),
            _ => {}
        }
        pos += HEADER + len;
    }
    Ok((offset + pos as u64, SegmentEnd::Written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Appendable, Db, Options};

    #[test]
    fn follows_series_and_samples_as_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let mut app = db.appender();
        app.append(&l, 1000, 1.0).unwrap();
        app.commit().unwrap();
        let wal = wal_dir(dir.path());
        let segs = segments(&wal).unwrap();
        let last = *segs.last().unwrap();
        let mut got = Vec::new();
        let (off, end) = read_from(&segment_path(&wal, last), 0, &mut |r| got.push(r)).unwrap();
        assert_eq!(end, SegmentEnd::Written);
        let TailRecord::Series(s) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(s[0].1, l);
        let r = s[0].0;
        assert_eq!(got[1], TailRecord::Samples(vec![(r, 1000, 1.0, 0)]));
        // Later appends are read from where the last read stopped.
        let mut app = db.appender();
        app.append(&l, 2000, 2.0).unwrap();
        app.commit().unwrap();
        let mut more = Vec::new();
        let (off2, _) = read_from(&segment_path(&wal, last), off, &mut |r| more.push(r)).unwrap();
        assert!(off2 > off);
        assert_eq!(more, vec![TailRecord::Samples(vec![(r, 2000, 2.0, 0)])]);
        // A torn tail (a record still being written) is left for later.
        let p = segment_path(&wal, last);
        let full = std::fs::read(&p).unwrap();
        let torn = dir.path().join("torn");
        std::fs::write(&torn, &full[..full.len() - 3]).unwrap();
        let mut n = 0;
        let (o, end) = read_from(&torn, off, &mut |_| n += 1).unwrap();
        assert_eq!((o, end, n), (off, SegmentEnd::Written, 0));
        db.close().unwrap();
    }
}
