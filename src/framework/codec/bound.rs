//! How many values a message may decode into, counted on its bytes before
//! any tree is built: a decoded value costs tens of bytes per element
//! whatever its encoding cost, so a 256 MiB message of one-byte elements
//! would otherwise take gigabytes.

/// Most values one message may decode into: every element of a list, set,
/// map, object or tuple counts, and every key. The provider's schemas need
/// a few hundred; a state of 10,000 listed images about 200,000. At this
/// bound a decoded tree stays within about 100 MB.
pub const MAX_VALUES: usize = 1_000_000;

/// Whether the msgpack bytes hold more than `limit` values (containers,
/// their elements and map keys), read from the markers and lengths alone:
/// nothing is allocated. Malformed or truncated bytes stop the count; the
/// decoder then says what is wrong with them.
pub(super) fn msgpack_values_exceed(bytes: &[u8], limit: usize) -> bool {
    use rmp::Marker as M;
    /// Takes `n` bytes off the front of `rd`.
    fn take<'a>(rd: &mut &'a [u8], n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let (head, rest) = (rd.get(..n)?, rd.get(n..)?);
        *rd = rest;
        Some(head)
    }
    /// A big-endian length of `n` bytes.
    fn len(rd: &mut &[u8], n: u64) -> Option<u64> {
        Some(take(rd, n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
    let mut rd = bytes;
    let (mut pending, mut seen) = (1u64, 0usize);
    while pending > 0 {
        pending -= 1;
        seen += 1;
        if seen > limit {
            return true;
        }
        let Some(&first) = rd.first() else {
            return false;
        };
        rd = &rd[1..];
        // (payload bytes to skip, values it contains)
        let step = match M::from_u8(first) {
            M::FixPos(_) | M::FixNeg(_) | M::Null | M::True | M::False => Some((0, 0)),
            M::U8 | M::I8 => Some((1, 0)),
            M::U16 | M::I16 => Some((2, 0)),
            M::U32 | M::I32 | M::F32 => Some((4, 0)),
            M::U64 | M::I64 | M::F64 => Some((8, 0)),
            M::FixStr(n) => Some((u64::from(n), 0)),
            M::Str8 | M::Bin8 => len(&mut rd, 1).map(|n| (n, 0)),
            M::Str16 | M::Bin16 => len(&mut rd, 2).map(|n| (n, 0)),
            M::Str32 | M::Bin32 => len(&mut rd, 4).map(|n| (n, 0)),
            M::FixArray(n) => Some((0, u64::from(n))),
            M::Array16 => len(&mut rd, 2).map(|n| (0, n)),
            M::Array32 => len(&mut rd, 4).map(|n| (0, n)),
            M::FixMap(n) => Some((0, 2 * u64::from(n))),
            M::Map16 => len(&mut rd, 2).map(|n| (0, 2 * n)),
            M::Map32 => len(&mut rd, 4).map(|n| (0, 2 * n)),
            // The type byte, then the data.
            M::FixExt1 => Some((2, 0)),
            M::FixExt2 => Some((3, 0)),
            M::FixExt4 => Some((5, 0)),
            M::FixExt8 => Some((9, 0)),
            M::FixExt16 => Some((17, 0)),
            M::Ext8 => len(&mut rd, 1).map(|n| (n + 1, 0)),
            M::Ext16 => len(&mut rd, 2).map(|n| (n + 1, 0)),
            M::Ext32 => len(&mut rd, 4).map(|n| (n + 1, 0)),
            M::Reserved => None,
        };
        let Some((skip, contains)) = step else {
            return false;
        };
        if take(&mut rd, skip).is_none() {
            return false;
        }
        pending = pending.saturating_add(contains);
    }
    false
}

/// Whether JSON text holds more than `limit` values and keys: an upper
/// bound counted from the structural characters outside strings (every
/// value or key but the first follows a `[`, `{`, `,` or `:`).
pub(super) fn json_values_exceed(bytes: &[u8], limit: usize) -> bool {
    let (mut in_string, mut escaped, mut count) = (false, false, 1usize);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' | b',' | b':' => count += 1,
                _ => {}
            }
            if count > limit {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_on_the_bytes_containers_elements_and_keys() {
        // [nil, "abc", {"k": [1, 2]}]: 1 + 3 + 2 (key, value) + 2 = 8 values.
        let bytes = [0x93, 0xc0, 0xa3, b'a', b'b', b'c', 0x81, 0xa1, b'k', 0x92, 0x01, 0x02];
        assert!(!msgpack_values_exceed(&bytes, 8));
        assert!(msgpack_values_exceed(&bytes, 7));
        // Payloads are skipped, not counted: a str8 of 3 bytes, an ext8, a fixext4, a float64.
        let bytes = [
            0x94, 0xd9, 0x03, b'x', b'y', b'z', 0xc7, 0x02, 0x00, 0xaa, 0xbb, 0xd6, 0x00, 1, 2, 3, 4, 0xcb, 0, 0, 0, 0,
            0, 0, 0, 0,
        ];
        assert!(!msgpack_values_exceed(&bytes, 5));
        assert!(msgpack_values_exceed(&bytes, 4));
        // Truncated or reserved bytes stop the count; the decoder reports them.
        assert!(!msgpack_values_exceed(&[0x93, 0xc0], 3));
        assert!(!msgpack_values_exceed(&[0xc1, 0xc0, 0xc0], 1));
    }

    #[test]
    fn json_values_are_bounded_from_structure_outside_strings() {
        let text = br#"{"a": [1, 2, 3], "b": "x,y:[{"}"#;
        // 1, then {, a's colon, [, two commas, the comma before b, b's colon: 8.
        assert!(!json_values_exceed(text, 8));
        assert!(json_values_exceed(text, 7));
        assert!(!json_values_exceed(br#""a\",[,,,""#, 1));
    }
}
