//! A bloom filter hashed with xxh3, so the on-disk format never depends on a third-party
//! crate's hashing. Encoding: `hashes u8 | bit count varint | bits (ceil(bits/8) bytes)`.

use xxhash_rust::xxh3::xxh3_64;

use crate::codec::{DResult, Reader, put_varint};

/// Largest filter accepted on decode (bits), so damaged sizes cannot force huge allocations.
const MAX_BITS: u64 = 1 << 36;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    hashes: u8,
    bits: u64,
    words: Vec<u8>,
}

impl Bloom {
    pub(crate) fn build(hashes: &[u64], bits_per_key: u32) -> Self {
        let bits = (hashes.len() as u64 * u64::from(bits_per_key)).max(64);
        let k = ((f64::from(bits_per_key) * 0.69) as u8).clamp(1, 30);
        let mut words = vec![0u8; bits.div_ceil(8) as usize];
        for &h in hashes {
            for i in probe(h, k, bits) {
                if let Some(b) = words.get_mut((i / 8) as usize) {
                    *b |= 1 << (i % 8);
                }
            }
        }
        Self {
            hashes: k,
            bits,
            words,
        }
    }

    pub(crate) fn hash(key: &[u8]) -> u64 {
        xxh3_64(key)
    }

    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        let h = Self::hash(key);
        probe(h, self.hashes, self.bits).all(|i| {
            self.words
                .get((i / 8) as usize)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.hashes);
        put_varint(out, self.bits);
        out.extend_from_slice(&self.words);
    }

    pub(crate) fn decode(bytes: &[u8]) -> DResult<Self> {
        let mut r = Reader::new(bytes);
        let hashes = r.u8()?;
        if hashes == 0 || hashes > 30 {
            return Err(r.err("bad bloom hash count"));
        }
        let bits = r.varint()?;
        if bits == 0 || bits > MAX_BITS {
            return Err(r.err("bad bloom bit count"));
        }
        let len = usize::try_from(bits.div_ceil(8)).map_err(|_| r.err("bloom too large"))?;
        if len != r.remaining() {
            return Err(r.err("bloom length does not match its bit count"));
        }
        let words = r.take(len)?.to_vec();
        Ok(Self {
            hashes,
            bits,
            words,
        })
    }
}

fn probe(h: u64, k: u8, bits: u64) -> impl Iterator<Item = u64> {
    let h1 = h;
    let h2 = h.rotate_left(32) | 1;
    (0..u64::from(k)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let hashes: Vec<u64> = keys.iter().map(|k| Bloom::hash(k)).collect();
        let bloom = Bloom::build(&hashes, 10);
        assert!(keys.iter().all(|k| bloom.may_contain(k)));
        let fp = (1000..11000u32)
            .filter(|i| bloom.may_contain(&i.to_le_bytes()))
            .count();
        assert!(fp < 500, "false positives {fp}");
        let mut out = Vec::new();
        bloom.encode(&mut out);
        assert_eq!(Bloom::decode(&out).unwrap(), bloom);
    }
}
