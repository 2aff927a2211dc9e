//! Gorilla XOR chunks: delta-of-delta timestamps and XOR-compressed values in a
//! bit stream, preceded by a 2-byte big-endian sample count. Used by the head,
//! the WAL checkpoint and as the fallback encoding inside block chunks.

use sightline_model::Sample;

use super::bits::{BitReader, BitWriter};
use super::st::StEncoder;

/// Bytes before the bit stream: the sample count.
const HEADER: usize = 2;
/// Set in the count of a finished chunk that carries a start-timestamp
/// stream: the layout is then `count | xor stream | ST stream | u32 LE
/// length of count + xor stream`. Chunks without ST are unchanged.
const ST_FLAG: u16 = 0x8000;

#[derive(Clone, Debug)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    v: f64,
    t_delta: i64,
    values: ValueEncoder,
    /// Start timestamps, from the first sample that has one.
    st: Option<Box<StEncoder>>,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    pub fn new() -> Self {
        let mut w = BitWriter::with_capacity(32);
        w.write_bits(0, 16);
        XorAppender {
            w,
            count: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            values: ValueEncoder::new(),
            st: None,
        }
    }

    pub fn count(&self) -> u16 {
        self.count
    }

    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    pub fn last_t(&self) -> i64 {
        self.t
    }

    pub fn last_v(&self) -> f64 {
        self.v
    }

    /// The start-timestamp stream, if any sample of the chunk has an ST.
    pub fn st_bytes(&self) -> Option<&[u8]> {
        self.st.as_ref().map(|e| e.bytes())
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_size(&self) -> usize {
        self.w.bytes.capacity() + self.st.as_ref().map_or(0, |e| e.heap_size() + 48)
    }

    /// Finishes the chunk and hands its bytes over (shrunk to fit).
    pub fn into_bytes(self) -> Box<[u8]> {
        let Some(st) = self.st else {
            return self.w.bytes.into_boxed_slice();
        };
        let mut b = self.w.bytes;
        let xor_len = b.len() as u32;
        b[..HEADER].copy_from_slice(&(self.count | ST_FLAG).to_be_bytes());
        b.extend_from_slice(st.bytes());
        b.extend_from_slice(&xor_len.to_le_bytes());
        b.into_boxed_slice()
    }

    /// Appends a sample with its start timestamp (0 = none).
    pub fn append_st(&mut self, t: i64, v: f64, st: i64) {
        if st != 0 && self.st.is_none() {
            self.st = Some(Box::new(StEncoder::with_none(self.count as usize)));
        }
        self.append_xor(t, v);
        if let Some(e) = &mut self.st {
            e.put(t, st);
        }
    }

    #[inline]
    pub fn append(&mut self, t: i64, v: f64) {
        self.append_xor(t, v);
        if let Some(e) = &mut self.st {
            e.put(t, 0);
        }
    }

    #[inline]
    fn append_xor(&mut self, t: i64, v: f64) {
        match self.count {
            0 => self.w.write_bits(t as u64, 64),
            1 => {
                let delta = t - self.t;
                write_dod(&mut self.w, delta);
                self.t_delta = delta;
            }
            _ => {
                let delta = t - self.t;
                write_dod(&mut self.w, delta - self.t_delta);
                self.t_delta = delta;
            }
        }
        self.values.put(&mut self.w, v);
        self.t = t;
        self.v = v;
        self.count += 1;
        self.w.bytes[..HEADER].copy_from_slice(&self.count.to_be_bytes());
    }
}

/// XOR value compression on its own, shared by XOR chunks and block chunks.
#[derive(Clone, Debug)]
pub(crate) struct ValueEncoder {
    prev: u64,
    first: bool,
    leading: u8,
    trailing: u8,
}

impl ValueEncoder {
    pub(crate) fn new() -> Self {
        ValueEncoder {
            prev: 0,
            first: true,
            leading: 0xff,
            trailing: 0,
        }
    }

    pub(crate) fn put(&mut self, w: &mut BitWriter, v: f64) {
        let bits = v.to_bits();
        if self.first {
            self.first = false;
            self.prev = bits;
            w.write_bits(bits, 64);
            return;
        }
        let x = bits ^ self.prev;
        self.prev = bits;
        if x == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        // 5 bits hold the leading-zero count.
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            w.write_bits(x >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            w.write_bit(true);
            w.write_bits(leading as u64, 5);
            let sig = 64 - leading - trailing;
            // sig is 1..=64; 64 is stored as 0 in 6 bits.
            w.write_bits((sig & 63) as u64, 6);
            w.write_bits(x >> trailing, sig);
        }
    }
}

/// Inverse of [`ValueEncoder`]; `None` on truncated or inconsistent input.
pub(crate) struct ValueDecoder {
    prev: u64,
    first: bool,
    leading: u8,
    trailing: u8,
}

impl ValueDecoder {
    pub(crate) fn new() -> Self {
        ValueDecoder {
            prev: 0,
            first: true,
            leading: 0,
            trailing: 0,
        }
    }

    pub(crate) fn get(&mut self, r: &mut BitReader<'_>) -> Option<f64> {
        if self.first {
            self.first = false;
            self.prev = r.read_bits(64)?;
            return Some(f64::from_bits(self.prev));
        }
        // Fast path: control bits and value decoded from one 64-bit window.
        let (w, avail) = r.window();
        if avail >= 1 && w >> 63 == 0 {
            r.skip(1);
            return Some(f64::from_bits(self.prev));
        }
        if avail >= 2 && (w >> 62) & 1 == 0 {
            let sig = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)? as usize;
            if sig == 0 {
                return None;
            }
            if 2 + sig <= avail {
                r.skip(2 + sig);
                self.prev ^= ((w << 2) >> (64 - sig)) << self.trailing;
                return Some(f64::from_bits(self.prev));
            }
        } else if avail >= 13 {
            let leading = ((w >> 57) & 0x1f) as u8;
            let sig = match ((w >> 51) & 0x3f) as u8 {
                0 => 64,
                n => n,
            };
            let trailing = 64u8.checked_sub(leading)?.checked_sub(sig)?;
            let sig = sig as usize;
            if 13 + sig <= avail {
                r.skip(13 + sig);
                self.leading = leading;
                self.trailing = trailing;
                self.prev ^= ((w << 13) >> (64 - sig)) << trailing;
                return Some(f64::from_bits(self.prev));
            }
        }
        if r.read_bit()? {
            if r.read_bit()? {
                self.leading = r.read_bits(5)? as u8;
                let mut sig = r.read_bits(6)? as u8;
                if sig == 0 {
                    sig = 64;
                }
                self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(sig)?;
            }
            let sig = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
            if sig == 0 {
                return None;
            }
            self.prev ^= r.read_bits(sig)? << self.trailing;
        }
        Some(f64::from_bits(self.prev))
    }
}

fn write_dod(w: &mut BitWriter, dod: i64) {
    match dod {
        0 => w.write_bit(false),
        -8191..=8192 => {
            w.write_bits(0b10, 2);
            w.write_bits(dod as u64, 14);
        }
        -65535..=65536 => {
            w.write_bits(0b110, 3);
            w.write_bits(dod as u64, 17);
        }
        -524287..=524288 => {
            w.write_bits(0b1110, 4);
            w.write_bits(dod as u64, 20);
        }
        _ => {
            w.write_bits(0b1111, 4);
            w.write_bits(dod as u64, 64);
        }
    }
}

fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decodes an XOR chunk; stops (rather than panics) on truncated input.
pub struct XorIter<'a> {
    r: BitReader<'a>,
    remaining: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    values: ValueDecoder,
}

/// The parts of a finished chunk: its XOR bytes (count included) and its
/// start-timestamp stream, if it has one.
pub fn split_st(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    if bytes.len() < HEADER || u16::from_be_bytes([bytes[0], bytes[1]]) & ST_FLAG == 0 {
        return (bytes, None);
    }
    let n = bytes.len();
    let xor_len = match bytes.get(n.saturating_sub(4)..) {
        Some(b) if n >= HEADER + 4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
        _ => return (&[], None),
    };
    if xor_len < HEADER || xor_len > n - 4 {
        return (&[], None);
    }
    (&bytes[..xor_len], Some(&bytes[xor_len..n - 4]))
}

impl<'a> XorIter<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let (bytes, _) = split_st(bytes);
        let count = if bytes.len() >= HEADER {
            u16::from_be_bytes([bytes[0], bytes[1]]) & !ST_FLAG
        } else {
            0
        };
        let body = bytes.get(HEADER..).unwrap_or(&[]);
        XorIter {
            r: BitReader::new(body),
            remaining: count,
            read: 0,
            t: 0,
            t_delta: 0,
            values: ValueDecoder::new(),
        }
    }

    pub fn count(bytes: &[u8]) -> u16 {
        if bytes.len() >= HEADER {
            u16::from_be_bytes([bytes[0], bytes[1]]) & !ST_FLAG
        } else {
            0
        }
    }

    fn read_dod(&mut self) -> Option<i64> {
        if !self.r.read_bit()? {
            return Some(0);
        }
        if !self.r.read_bit()? {
            return Some(sign_extend(self.r.read_bits(14)?, 14));
        }
        if !self.r.read_bit()? {
            return Some(sign_extend(self.r.read_bits(17)?, 17));
        }
        if !self.r.read_bit()? {
            return Some(sign_extend(self.r.read_bits(20)?, 20));
        }
        Some(self.r.read_bits(64)? as i64)
    }

    fn step(&mut self) -> Option<Sample> {
        match self.read {
            0 => self.t = self.r.read_bits(64)? as i64,
            1 => {
                self.t_delta = self.read_dod()?;
                self.t = self.t.wrapping_add(self.t_delta);
            }
            _ => {
                let dod = self.read_dod()?;
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
            }
        }
        let v = self.values.get(&mut self.r)?;
        self.read += 1;
        Some(Sample { t: self.t, v })
    }
}

impl Iterator for XorIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let s = self.step();
        if s.is_none() {
            self.remaining = 0;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[Sample]) {
        let mut a = XorAppender::new();
        for s in samples {
            a.append(s.t, s.v);
        }
        let got: Vec<Sample> = XorIter::new(a.bytes()).collect();
        assert_eq!(got.len(), samples.len());
        for (g, w) in got.iter().zip(samples) {
            assert_eq!(g.t, w.t);
            assert_eq!(g.v.to_bits(), w.v.to_bits());
        }
    }

    #[test]
    fn regular_counter() {
        let s: Vec<Sample> = (0..120)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 15_000,
                v: (i * 7) as f64,
            })
            .collect();
        round_trip(&s);
    }

    #[test]
    fn irregular_and_special_values() {
        let vals = [
            0.0,
            -0.0,
            f64::NAN,
            sightline_model::stale_nan(),
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            1.5,
            1.5,
            f64::MAX,
            f64::MIN_POSITIVE,
            123456.789,
        ];
        let mut t = -5_000i64;
        let s: Vec<Sample> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                t += [1, 15_000, 3_000_000, 86_400_000_000, 7][i % 5];
                Sample { t, v }
            })
            .collect();
        round_trip(&s);
    }

    /// Values mixing tiny and full-width XOR differences, repeats and reuse of
    /// the previous leading/trailing window: every decoder path, including
    /// the one-window fast path and its fallback for long significands.
    #[test]
    fn random_values_round_trip() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..50 {
            let mut v = 1.0f64;
            let s: Vec<Sample> = (0..120)
                .map(|i| {
                    v = match next() % 5 {
                        0 => v,
                        1 => f64::from_bits(v.to_bits() ^ (next() & 0xff)),
                        2 => f64::from_bits(v.to_bits() ^ ((next() & 0xffff) << 20)),
                        3 => f64::from_bits(next()),
                        _ => v + (round as f64) * 0.1,
                    };
                    Sample {
                        t: 1_000 + i * 15_000,
                        v,
                    }
                })
                .collect();
            round_trip(&s);
        }
    }

    #[test]
    fn start_timestamps_ride_along() {
        let mut a = XorAppender::new();
        a.append(1000, 1.0);
        a.append_st(2000, 2.0, 1500);
        a.append(3000, 3.0);
        a.append_st(4000, 4.0, 1500);
        let b = a.into_bytes();
        let got: Vec<Sample> = XorIter::new(&b).collect();
        assert_eq!(
            got.iter().map(|s| s.t).collect::<Vec<_>>(),
            [1000, 2000, 3000, 4000]
        );
        let (_, st) = split_st(&b);
        let mut out = Vec::new();
        crate::chunk::st::decode(st.unwrap(), got.iter().map(|s| s.t), &mut out).unwrap();
        assert_eq!(out, [0, 1500, 0, 1500]);
        // Without ST the bytes are the plain XOR chunk.
        let mut a = XorAppender::new();
        a.append(1000, 1.0);
        assert_eq!(split_st(&a.clone().into_bytes()).1, None);
        assert_eq!(&*a.clone().into_bytes(), a.bytes());
    }

    #[test]
    fn truncated_input_does_not_panic() {
        let mut a = XorAppender::new();
        for i in 0..50 {
            a.append(i * 1000 + (i * i) % 7, (i as f64).sqrt());
        }
        let b = a.bytes();
        for n in 0..b.len() {
            let _ = XorIter::new(&b[..n]).count();
        }
    }
}
