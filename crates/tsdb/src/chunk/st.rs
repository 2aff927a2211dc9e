//! The start-timestamp (ST) stream of a chunk: one entry per sample, only
//! present in chunks of series that have start timestamps at all.
//!
//! Each entry is `d = T - ST` (or "no ST", stored as ST 0), encoded
//! delta-of-delta in a bit stream:
//! - `0`: `d` continues the previous step (same delta; "no ST" after "no ST");
//! - `10` + 14 bits, `110` + 17 bits, `1110` + 20 bits: delta-of-delta;
//! - `11110` + 64 bits: `d` itself (first entry, after "no ST", big jumps);
//! - `11111`: no ST.
//!
//! The usual shapes cost a bit per sample: a constant ST (cumulative
//! counter; `d` grows by the scrape interval), `ST = previous T` (delta;
//! `d` is the interval) and `ST = T - 1ms` (`d` is 1).

use super::bits::{BitReader, BitWriter};

#[derive(Clone, Debug, Default)]
pub struct StEncoder {
    pub(crate) w: BitWriter,
    prev: Option<i64>,
    delta: i64,
}

impl StEncoder {
    /// An encoder whose first `n` entries are "no ST" (samples appended to the
    /// chunk before its first ST).
    pub fn with_none(n: usize) -> Self {
        let mut e = StEncoder {
            w: BitWriter::with_capacity(16),
            prev: None,
            delta: 0,
        };
        if n > 0 {
            e.put(0, 0);
            for _ in 1..n {
                e.w.write_bit(false);
            }
        }
        e
    }

    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    pub fn heap_size(&self) -> usize {
        self.w.bytes.capacity()
    }

    /// Appends the ST of the sample at `t` (0 = none).
    pub fn put(&mut self, t: i64, st: i64) {
        if st == 0 {
            if self.prev.is_none() && !self.w.bytes.is_empty() {
                self.w.write_bit(false);
            } else {
                self.w.write_bits(0b11111, 5);
            }
            self.prev = None;
            self.delta = 0;
            return;
        }
        let d = t.wrapping_sub(st);
        let Some(prev) = self.prev else {
            self.raw(d, 0);
            return;
        };
        let delta = d.wrapping_sub(prev);
        let dod = delta.wrapping_sub(self.delta);
        match dod {
            0 => self.w.write_bit(false),
            -8191..=8192 => {
                self.w.write_bits(0b10, 2);
                self.w.write_bits(dod as u64, 14);
            }
            -65535..=65536 => {
                self.w.write_bits(0b110, 3);
                self.w.write_bits(dod as u64, 17);
            }
            -524287..=524288 => {
                self.w.write_bits(0b1110, 4);
                self.w.write_bits(dod as u64, 20);
            }
            _ => {
                self.raw(d, delta);
                return;
            }
        }
        self.prev = Some(d);
        self.delta = delta;
    }

    fn raw(&mut self, d: i64, delta: i64) {
        self.w.write_bits(0b11110, 5);
        self.w.write_bits(d as u64, 64);
        self.prev = Some(d);
        self.delta = delta;
    }
}

fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Decodes an ST stream for samples with the given timestamps; `None` when
/// the stream is damaged.
pub fn decode(bytes: &[u8], ts: impl Iterator<Item = i64>, out: &mut Vec<i64>) -> Option<()> {
    let mut r = BitReader::new(bytes);
    let mut prev: Option<i64> = None;
    let mut delta = 0i64;
    let mut first = true;
    for t in ts {
        // `code` ones then a zero, or five ones.
        let mut code = 0u8;
        while code < 5 && r.read_bit()? {
            code += 1;
        }
        let d: Option<i64> = match code {
            0 => {
                if first {
                    // A stream never starts with a bare repeat.
                    return None;
                }
                prev.map(|p| p.wrapping_add(delta))
            }
            1..=3 => {
                let bits = [14u8, 17, 20][code as usize - 1];
                let dod = sign_extend(r.read_bits(bits)?, bits);
                let p = prev?;
                delta = delta.wrapping_add(dod);
                Some(p.wrapping_add(delta))
            }
            4 => {
                // `11110`: the fifth bit was 0.
                let d = r.read_bits(64)? as i64;
                delta = prev.map_or(0, |p| d.wrapping_sub(p));
                Some(d)
            }
            _ => {
                delta = 0;
                None
            }
        };
        first = false;
        prev = d;
        out.push(match d {
            Some(d) => t.wrapping_sub(d),
            None => 0,
        });
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(ts: &[i64], sts: &[i64]) -> usize {
        let mut e = StEncoder::with_none(0);
        for (t, st) in ts.iter().zip(sts) {
            e.put(*t, *st);
        }
        let mut out = Vec::new();
        decode(e.bytes(), ts.iter().copied(), &mut out).unwrap();
        assert_eq!(out, sts);
        e.bytes().len()
    }

    #[test]
    fn shapes_round_trip_and_are_small() {
        let ts: Vec<i64> = (0..120).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        // Constant ST (cumulative counter).
        let n = rt(&ts, &vec![1_600_000_000_000; 120]);
        assert!(n <= 30, "{n}");
        // ST = previous T (delta).
        let sts: Vec<i64> = ts.iter().map(|t| t - 15_000).collect();
        assert!(rt(&ts, &sts) <= 30);
        // ST = T - 1ms, ST = T.
        let sts: Vec<i64> = ts.iter().map(|t| t - 1).collect();
        assert!(rt(&ts, &sts) <= 30);
        assert!(rt(&ts, &ts) <= 30);
        // Mixed, with gaps, resets and invalid (ST > T) values.
        let sts: Vec<i64> = ts
            .iter()
            .enumerate()
            .map(|(i, t)| match i % 7 {
                0 => 0,
                1 => t + 5,
                2 | 3 => 1_700_000_000_000 + (i as i64 / 10) * 1000,
                4 => t - 1,
                _ => t - 15_000 * (i as i64 % 3),
            })
            .collect();
        rt(&ts, &sts);
        rt(&[5, 6, 7], &[0, 0, 0]);
        rt(&[5, 6, 7], &[0, 3, 0]);
        rt(&[i64::MIN, 0, i64::MAX], &[i64::MAX, -1, i64::MIN]);
    }

    #[test]
    fn leading_none_and_damage() {
        let mut e = StEncoder::with_none(3);
        e.put(40, 10);
        e.put(50, 10);
        let mut out = Vec::new();
        decode(e.bytes(), [10, 20, 30, 40, 50].into_iter(), &mut out).unwrap();
        assert_eq!(out, vec![0, 0, 0, 10, 10]);
        for n in 0..e.bytes().len() {
            let mut o = Vec::new();
            let _ = decode(&e.bytes()[..n], [10, 20, 30, 40, 50].into_iter(), &mut o);
        }
    }
}
