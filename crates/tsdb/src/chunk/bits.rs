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
    /// Absolute position of the next unread bit (MSB first).
    bit: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, bit: 0 }
    }

    /// The next 64 bits from the current position, left-aligned, zero-padded
    /// past the end. Reads eight bytes at once: XOR-decoding spends most of
    /// its time here.
    #[inline]
    fn peek64(&self) -> u64 {
        let byte = self.bit >> 3;
        let word = match self.bytes.get(byte..byte + 8) {
            Some(b) => u64::from_be_bytes(b.try_into().unwrap()),
            None => {
                let mut buf = [0u8; 8];
                let tail = self.bytes.get(byte..).unwrap_or(&[]);
                buf[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(buf)
            }
        };
        word << (self.bit & 7)
    }

    /// The next bits, left-aligned, and how many of them are valid (≤ 57).
    #[inline]
    pub fn window(&self) -> (u64, usize) {
        (
            self.peek64(),
            (self.bytes.len() * 8).saturating_sub(self.bit).min(57),
        )
    }

    /// Consumes `n` bits already examined through [`Self::window`].
    #[inline]
    pub fn skip(&mut self, n: usize) {
        self.bit += n;
    }

    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        Some(self.read_bits(1)? == 1)
    }

    #[inline]
    pub fn read_bits(&mut self, n: u8) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        let n = n.min(64) as usize;
        if self.bit + n > self.bytes.len() * 8 {
            return None;
        }
        // One window holds at least 57 valid bits after the in-byte shift.
        if n <= 57 {
            let v = self.peek64() >> (64 - n);
            self.bit += n;
            Some(v)
        } else {
            let hi = self.peek64() >> 32;
            self.bit += 32;
            let lo = self.peek64() >> (64 - (n - 32));
            self.bit += n - 32;
            Some((hi << (n - 32)) | lo)
        }
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
