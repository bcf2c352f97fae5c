//! A byte buffer with a read position: bytes are appended at the end (read
//! straight into the spare room, or decoded into it) and consumed from the
//! front; the unconsumed tail moves to the front only when room runs out.

pub struct ByteBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ByteBuf {
    pub fn with_capacity(n: usize) -> Self {
        ByteBuf {
            data: vec![0; n.max(16)],
            start: 0,
            end: 0,
        }
    }

    /// The bytes not consumed yet.
    #[inline]
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    #[inline]
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Room for at least `min` more bytes after the end; returns all the
    /// room there is (write into it, then [`commit`](Self::commit)).
    #[inline]
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.data.len() - self.end < min {
            self.make_room(min);
        }
        &mut self.data[self.end..]
    }

    #[cold]
    fn make_room(&mut self, min: usize) {
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.data.len() - self.end < min {
            let want = (self.data.len() * 2).max(self.end + min);
            self.data.resize(want, 0);
        }
    }

    /// Marks `n` bytes of the spare room as filled.
    #[inline]
    pub fn commit(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.data.len());
        self.end += n;
    }

    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.spare(n)[..n].copy_from_slice(bytes);
        self.end += n;
    }

    pub fn capacity(&self) -> usize {
        self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_consume_compact_grow() {
        let mut b = ByteBuf::with_capacity(16);
        b.extend(b"hello world");
        b.consume(6);
        assert_eq!(b.filled(), b"world");
        b.extend(b"0123456789abcdef");
        assert_eq!(b.filled(), b"world0123456789abcdef");
        b.consume(b.len());
        assert!(b.is_empty());
        let s = b.spare(100);
        assert!(s.len() >= 100);
        s[..3].copy_from_slice(b"abc");
        b.commit(3);
        assert_eq!(b.filled(), b"abc");
    }
}
