//! The block chunk encoding: denser than XOR because blocks are written once.
//!
//! Layout: `n` (uvarint), then timestamps as first value, first delta and
//! delta-of-deltas (zigzag varints: regular scrapes give runs of 0 bytes that
//! zstd squeezes to almost nothing), then a value-kind byte and the values:
//! - kind 0 (decimal): every value is `m / 10^e` with integer `|m| < 2^53`;
//!   stores `e`, then `m` deltas as zigzag varints. Counters, histogram buckets
//!   and most gauges are integers or short decimals, so deltas are a byte or two;
//! - kind 1 (xor): a Gorilla XOR value stream, for everything else
//!   (NaN, staleness markers, full-precision floats).
//!
//! A chunk of a series with start timestamps ends with their bit stream
//! (see `st`), taking the rest of the chunk's bytes; chunks without any ST
//! end after the values, exactly as before STs existed.

use sightline_model::Sample;

use super::bits::{BitReader, BitWriter};
use super::xor::{ValueDecoder, ValueEncoder};
use crate::varint::{Decoder, put_uvarint, put_varint};

const KIND_DECIMAL: u8 = 0;
const KIND_XOR: u8 = 1;
const MAX_EXP: u32 = 12;
const POW10: [f64; 13] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
];
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Appends the encoding of `samples` (sorted by time) to `out`.
pub fn encode(samples: &[Sample], out: &mut Vec<u8>) {
    encode_with_st(samples, None, out)
}

/// Like [`encode`], with the samples' start timestamps (0 = none), which
/// are only written if one of them is set.
pub fn encode_with_st(samples: &[Sample], sts: Option<&[i64]>, out: &mut Vec<u8>) {
    encode_values(samples, out);
    if let Some(sts) = sts.filter(|s| s.iter().any(|&x| x != 0)) {
        let mut e = super::st::StEncoder::with_none(0);
        for (s, &st) in samples.iter().zip(sts) {
            e.put(s.t, st);
        }
        out.extend_from_slice(e.bytes());
    }
}

fn encode_values(samples: &[Sample], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    if samples.is_empty() {
        return;
    }
    put_varint(out, samples[0].t);
    let mut prev_t = samples[0].t;
    let mut prev_delta = 0i64;
    for (i, s) in samples.iter().enumerate().skip(1) {
        let delta = s.t.wrapping_sub(prev_t);
        if i == 1 {
            put_varint(out, delta);
        } else {
            put_varint(out, delta.wrapping_sub(prev_delta));
        }
        prev_delta = delta;
        prev_t = s.t;
    }
    match decimal_exponent(samples) {
        Some(e) => {
            out.push(KIND_DECIMAL);
            out.push(e as u8);
            let p = POW10[e as usize];
            let mut prev = 0i64;
            for s in samples {
                let m = (s.v * p).round() as i64;
                put_varint(out, m.wrapping_sub(prev));
                prev = m;
            }
        }
        None => {
            out.push(KIND_XOR);
            let mut w = BitWriter::with_capacity(samples.len() * 2);
            let mut enc = ValueEncoder::new();
            for s in samples {
                enc.put(&mut w, s.v);
            }
            put_uvarint(out, w.bytes.len() as u64);
            out.extend_from_slice(&w.bytes);
        }
    }
}

/// The smallest exponent that represents every value exactly, if any.
fn decimal_exponent(samples: &[Sample]) -> Option<u32> {
    let mut e = 0u32;
    for s in samples {
        let v = s.v;
        if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
            return None;
        }
        while !exact_at(v, e) {
            e += 1;
            if e > MAX_EXP {
                return None;
            }
        }
    }
    Some(e)
}

#[inline]
fn exact_at(v: f64, e: u32) -> bool {
    let p = POW10[e as usize];
    let m = (v * p).round();
    m.abs() < MAX_EXACT && (m / p).to_bits() == v.to_bits()
}

/// Decodes one block chunk; `None` if the bytes are damaged.
pub fn decode(d: &mut Decoder<'_>) -> Option<Vec<Sample>> {
    let mut out = Vec::new();
    decode_into(d, &mut out)?;
    Some(out)
}

/// Decodes one block chunk (all of `d`) with its start timestamps, if it has any.
pub fn decode_with_st(d: &mut Decoder<'_>) -> Option<(Vec<Sample>, Option<Vec<i64>>)> {
    let mut samples = Vec::new();
    decode_into(d, &mut samples)?;
    if d.is_empty() {
        return Some((samples, None));
    }
    let mut sts = Vec::with_capacity(samples.len());
    super::st::decode(&d.buf[d.pos..], samples.iter().map(|s| s.t), &mut sts)?;
    Some((samples, Some(sts)))
}

/// Appends the chunk's samples to `all` (queries decode straight into the
/// series' sample buffer instead of a per-chunk vector). A start-timestamp
/// stream after the values is left unread.
pub fn decode_into(d: &mut Decoder<'_>, all: &mut Vec<Sample>) -> Option<()> {
    let n = d.uvarint()? as usize;
    // Each sample takes at least one byte: guards allocation against garbage counts.
    if n > d.buf.len().saturating_sub(d.pos).saturating_mul(8) + 1 {
        return None;
    }
    if n == 0 {
        return Some(());
    }
    let base = all.len();
    all.reserve(n);
    let mut t = d.varint()?;
    all.push(Sample { t, v: 0.0 });
    if n > 1 {
        let mut delta = d.varint()?;
        t = t.wrapping_add(delta);
        all.push(Sample { t, v: 0.0 });
        for _ in 2..n {
            let Some(dod) = d.varint() else {
                all.truncate(base);
                return None;
            };
            delta = delta.wrapping_add(dod);
            t = t.wrapping_add(delta);
            all.push(Sample { t, v: 0.0 });
        }
    }
    let out = &mut all[base..];
    let ok = decode_value_column(d, out);
    if ok.is_none() {
        all.truncate(base);
    }
    ok
}

fn decode_value_column(d: &mut Decoder<'_>, out: &mut [Sample]) -> Option<()> {
    match d.u8()? {
        KIND_DECIMAL => {
            let e = d.u8()? as usize;
            let p = *POW10.get(e)?;
            let mut m = 0i64;
            if e == 0 {
                // Integers (counters, bucket counts): no division needed.
                for s in out.iter_mut() {
                    m = m.wrapping_add(d.varint()?);
                    s.v = m as f64;
                }
            } else {
                for s in out.iter_mut() {
                    m = m.wrapping_add(d.varint()?);
                    s.v = m as f64 / p;
                }
            }
        }
        KIND_XOR => {
            let len = d.uvarint()? as usize;
            let bytes = d.bytes(len)?;
            let mut r = BitReader::new(bytes);
            let mut dec = ValueDecoder::new();
            for s in out.iter_mut() {
                s.v = dec.get(&mut r)?;
            }
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(samples: &[Sample]) -> usize {
        let mut b = Vec::new();
        encode(samples, &mut b);
        let got = decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(got.len(), samples.len());
        for (g, w) in got.iter().zip(samples) {
            assert_eq!(g.t, w.t);
            assert_eq!(g.v.to_bits(), w.v.to_bits(), "{} vs {}", g.v, w.v);
        }
        b.len()
    }

    #[test]
    fn integer_counter_is_small() {
        let s: Vec<Sample> = (0..480)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 15_000,
                v: (i * 37) as f64,
            })
            .collect();
        let n = rt(&s);
        assert!(n < 480 * 3, "{n} bytes");
    }

    #[test]
    fn decimals_and_fallbacks() {
        rt(&[
            Sample { t: 1, v: 0.1 },
            Sample { t: 2, v: 12.34 },
            Sample { t: 3, v: -7.5 },
        ]);
        rt(&[Sample { t: 1, v: 1.0 / 3.0 }, Sample { t: 2, v: f64::NAN }]);
        rt(&[
            Sample { t: 1, v: -0.0 },
            Sample {
                t: 9,
                v: sightline_model::stale_nan(),
            },
        ]);
        rt(&[
            Sample { t: 1, v: 1e300 },
            Sample {
                t: 5,
                v: f64::INFINITY,
            },
        ]);
        rt(&[
            Sample {
                t: i64::MIN,
                v: 0.0,
            },
            Sample {
                t: i64::MAX,
                v: 1.0,
            },
        ]);
        rt(&[]);
    }

    #[test]
    fn start_timestamps_are_appended_only_when_set() {
        let s: Vec<Sample> = (0..100)
            .map(|i| Sample {
                t: 1_000_000 + i * 15_000,
                v: i as f64,
            })
            .collect();
        let mut plain = Vec::new();
        encode(&s, &mut plain);
        let mut zeros = Vec::new();
        encode_with_st(&s, Some(&[0; 100]), &mut zeros);
        assert_eq!(plain, zeros);
        assert_eq!(decode_with_st(&mut Decoder::new(&plain)).unwrap().1, None);
        let sts: Vec<i64> = (0..100).map(|i| if i < 3 { 0 } else { 999_000 }).collect();
        let mut b = Vec::new();
        encode_with_st(&s, Some(&sts), &mut b);
        assert!(b.len() - plain.len() <= 25, "{}", b.len() - plain.len());
        let (got, st) = decode_with_st(&mut Decoder::new(&b)).unwrap();
        assert_eq!(got.len(), 100);
        assert_eq!(st.unwrap(), sts);
    }

    #[test]
    fn damaged_input_is_rejected_without_panic() {
        let s: Vec<Sample> = (0..100)
            .map(|i| Sample {
                t: i * 10,
                v: i as f64 * 0.5,
            })
            .collect();
        let mut b = Vec::new();
        encode(&s, &mut b);
        for n in 0..b.len() {
            let _ = decode(&mut Decoder::new(&b[..n]));
        }
        let mut bad = b.clone();
        bad[0] = 0xff;
        let _ = decode(&mut Decoder::new(&bad));
    }
}
