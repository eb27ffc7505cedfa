//! Repeated entries in user-given lists (CLI index lists, sweep axes and datasets): a repeat would
//! silently duplicate work or output rows, so callers refuse it with an error naming the value.

/// The first element of `xs` equal to an earlier one (`None` when all are distinct). O(len²):
/// the lists are short (axes, indices), and `T` needs only `PartialEq` (floats' values included).
pub fn first_repeat<T: PartialEq>(xs: &[T]) -> Option<&T> {
    xs.iter().enumerate().find_map(|(i, x)| xs[..i].contains(x).then_some(x))
}

#[cfg(test)]
mod tests {
    use super::first_repeat;

    #[test]
    fn finds_the_first_value_seen_twice() {
        assert_eq!(first_repeat::<u8>(&[]), None);
        assert_eq!(first_repeat(&[1, 2, 3]), None);
        assert_eq!(first_repeat(&[1, 2, 3, 2, 1]), Some(&2));
        assert_eq!(first_repeat(&["a", "b", "a"]), Some(&"a"));
    }
}
