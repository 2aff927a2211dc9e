//! Bit-level writer/reader for the XOR chunk encoding.

#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    pub bytes: Vec<u8>,
    /// Bits still free in the last byte (0 means a new byte is needed).
    free: u8,
}

impl BitWriter {
    pub fn with_capacity(n: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(n),
            free: 0,
        }
    }

    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    /// Writes the low `n` bits of `v`, most significant first.
    #[inline]
    pub fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let shift = n - take;
            let chunk = ((v >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (self.free - take);
            self.free -= take;
            n -= take;
        }
    }
}

pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Bits still unread in bytes[pos].
    left: u8,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader {
            bytes,
            pos: 0,
            left: 8,
        }
    }

    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        if self.left == 0 {
            self.pos += 1;
            self.left = 8;
        }
        let b = *self.bytes.get(self.pos)?;
        self.left -= 1;
        Some((b >> self.left) & 1 == 1)
    }

    #[inline]
    pub fn read_bits(&mut self, mut n: u8) -> Option<u64> {
        let mut v = 0u64;
        while n > 0 {
            if self.left == 0 {
                self.pos += 1;
                self.left = 8;
            }
            let b = *self.bytes.get(self.pos)? as u64;
            let take = n.min(self.left);
            let shift = self.left - take;
            v = (v << take) | ((b >> shift) & ((1u64 << take) - 1));
            self.left -= take;
            n -= take;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_mixed_widths() {
        let mut w = BitWriter::default();
        let items: Vec<(u64, u8)> = (0..200u64)
            .map(|i| {
                (
                    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 64),
                    (i % 64) as u8 + 1,
                )
            })
            .collect();
        for &(v, n) in &items {
            w.write_bits(v, n);
            w.write_bit(n % 2 == 0);
        }
        let mut r = BitReader::new(&w.bytes);
        for &(v, n) in &items {
            let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            assert_eq!(r.read_bits(n).unwrap(), v & mask);
            assert_eq!(r.read_bit().unwrap(), n % 2 == 0);
        }
    }
}
