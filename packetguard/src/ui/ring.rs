//! A fixed-capacity ring of `Copy` values: the storage behind every series of the live
//! page. Its buffer is allocated once, when the ring is made; pushing overwrites the
//! oldest value and never allocates, so the run loop can feed it on its hot path.

/// The last `capacity` values pushed, oldest first on iteration.
#[derive(Clone, Debug)]
pub struct Ring<T: Copy> {
    buf: Vec<T>,
    capacity: usize,
    /// Index of the oldest value once the ring is full.
    head: usize,
}

impl<T: Copy> Ring<T> {
    /// An empty ring holding at most `capacity` values (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring {
            buf: Vec::with_capacity(capacity),
            capacity,
            head: 0,
        }
    }

    pub fn push(&mut self, value: T) {
        if self.buf.len() < self.capacity {
            self.buf.push(value);
        } else {
            self.buf[self.head] = value;
            self.head = (self.head + 1) % self.capacity;
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        let (newer, older) = self.buf.split_at(self.head);
        older.iter().chain(newer.iter())
    }

    /// Newest first, mutable: for folding a value into a recent entry.
    pub fn iter_mut_newest_first(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        let (newer, older) = self.buf.split_at_mut(self.head);
        newer.iter_mut().rev().chain(older.iter_mut().rev())
    }

    /// The newest value.
    pub fn last(&self) -> Option<&T> {
        self.iter().next_back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_values_oldest_first_without_growing() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        for v in 1..=7 {
            r.push(v);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), [5, 6, 7]);
        assert_eq!(r.last(), Some(&7));
        assert_eq!(
            r.buf.capacity(),
            3,
            "the buffer never grows past its capacity"
        );
        let newest: Vec<i32> = r.iter_mut_newest_first().map(|v| *v).collect();
        assert_eq!(newest, [7, 6, 5]);
    }

    #[test]
    fn a_ring_not_yet_full_iterates_in_push_order() {
        let mut r = Ring::new(4);
        r.push('a');
        r.push('b');
        assert_eq!(r.iter().collect::<String>(), "ab");
        *r.iter_mut_newest_first().next().unwrap() = 'c';
        assert_eq!(r.iter().collect::<String>(), "ac");
    }
}
