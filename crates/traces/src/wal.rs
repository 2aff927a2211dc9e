//! Write-ahead log for spans not yet in a segment. One file per head
//! generation (`wal/<gen>.wal`); each record is `len u32 | crc32 u32 | batch`.
//! `append` returns once the record is in the kernel (a `write(2)`), which is
//! what survives `kill -9`; an fsync runs on a timer and on rotation for power
//! loss. A torn tail (crash mid-write) is cut off at replay.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub struct Wal {
    dir: PathBuf,
    file: File,
    pub generation: u64,
    dirty: bool,
}

fn gen_path(dir: &Path, g: u64) -> PathBuf {
    dir.join(format!("{g:012}.wal"))
}

/// WAL generations on disk, oldest first.
pub fn generations(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(g) = name.strip_suffix(".wal").and_then(|s| s.parse().ok()) {
            v.push(g);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Reads every intact record of one generation; truncates the file after the last good one.
pub fn read_generation(dir: &Path, g: u64) -> io::Result<Vec<Vec<u8>>> {
    let path = gen_path(dir, g);
    let mut data = Vec::new();
    File::open(&path)?.read_to_end(&mut data)?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap());
        let Some(body) = data.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        out.push(body.to_vec());
        pos += 8 + len;
    }
    if pos < data.len() {
        tracing::warn!(file = %path.display(), kept = pos, dropped = data.len() - pos, "trace WAL: cutting torn tail");
        OpenOptions::new()
            .write(true)
            .open(&path)?
            .set_len(pos as u64)?;
    }
    Ok(out)
}

impl Wal {
    /// Opens a fresh generation after `last` (the newest one replayed).
    pub fn create(dir: &Path, generation: u64) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(gen_path(dir, generation))?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            generation,
            dirty: false,
        })
    }

    pub fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut rec = Vec::with_capacity(payload.len() + 8);
        rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        rec.extend_from_slice(payload);
        // One write call per record keeps records whole unless the machine itself dies.
        self.file.write_all(&rec)?;
        self.dirty = true;
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Syncs and closes the current generation, starting the next; returns the closed one.
    pub fn rotate(&mut self) -> io::Result<u64> {
        self.sync()?;
        let old = self.generation;
        *self = Wal::create(&self.dir, old + 1)?;
        Ok(old)
    }

    pub fn remove(dir: &Path, generation: u64) -> io::Result<()> {
        match fs::remove_file(gen_path(dir, generation)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
