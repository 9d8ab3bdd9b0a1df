//! The simulator's opaque identifiers and how they are made.
//!
//! Everything a client sees is URL-safe base64 (no padding) of a few binary fields and a
//! check value, so ids look like Exchange's, can travel in URL paths of the control API, and a
//! mangled or foreign value is recognised:
//!
//! | value | bytes | check |
//! |---|---|---|
//! | item / occurrence / folder id | `00 03 24` (base64 `AAMk`, as Exchange ids begin), kind, mailbox u32, number u64, instance u32 | 4 bytes, keyed with the *seed key* |
//! | change key | `09 00 00 00` (base64 `CQAAAA`), mailbox u32, item u64, version u32 | 4 bytes, seed key |
//! | watermark | `01`, mailbox u32, sequence u64 | 4 bytes, run key |
//! | sync state | `5a` version, mailbox u32, folder u8, cursor u64, known items as varint ranges | 16 bytes HMAC-SHA256, run key |
//! | subscription id | `5b`, run nonce u64, counter u64 | (looked up, not checked) |
//!
//! The *seed key* comes from the seed, so ids and change keys are the same in every run with
//! the same seed (the JSON listing is byte-identical). The *run key* is random per store, so a
//! sync state or watermark from an earlier run (whose changes are gone) is rejected, as
//! Exchange rejects a state it cannot resume.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// A keyed 32-bit check over a few words (splitmix64 finaliser chain). Not cryptographic: it
/// detects corruption and ids minted by another simulator, cheaply enough for 500,000 items.
pub(crate) fn check(key: u64, words: &[u64]) -> u32 {
    let mut h = key ^ 0x6a09_e667_f3bc_c908;
    for &w in words {
        h = mix(h ^ w);
    }
    (mix(h) >> 32) as u32
}

/// The splitmix64 finaliser.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d4_9bb1_3311_49eb);
    z ^ (z >> 31)
}

const ID_PREFIX: [u8; 3] = [0x00, 0x03, 0x24];

/// What an item-like id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A single item, a recurring master or a task.
    Item,
    /// The `instance`-th occurrence of the master `number` (modified or not).
    Occurrence,
    /// A folder: `number` is the folder kind.
    Folder,
}

impl IdKind {
    fn byte(self) -> u8 {
        match self {
            IdKind::Item => 1,
            IdKind::Occurrence => 2,
            IdKind::Folder => 3,
        }
    }
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(IdKind::Item),
            2 => Some(IdKind::Occurrence),
            3 => Some(IdKind::Folder),
            _ => None,
        }
    }
}

/// The decoded fields of an item, occurrence or folder id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawId {
    pub kind: IdKind,
    pub mailbox: u32,
    pub number: u64,
    pub instance: u32,
}

pub(crate) fn encode_id(key: u64, id: RawId) -> String {
    let mut b = [0u8; 24];
    b[..3].copy_from_slice(&ID_PREFIX);
    b[3] = id.kind.byte();
    b[4..8].copy_from_slice(&id.mailbox.to_be_bytes());
    b[8..16].copy_from_slice(&id.number.to_be_bytes());
    b[16..20].copy_from_slice(&id.instance.to_be_bytes());
    let c = check(key, &[u64::from(id.kind.byte()), u64::from(id.mailbox), id.number, u64::from(id.instance)]);
    b[20..].copy_from_slice(&c.to_be_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

/// Decodes an id; standard base64 (`+/`, padding) is accepted too, as a client may have
/// re-encoded it.
pub(crate) fn decode_id(key: u64, s: &str) -> Option<RawId> {
    let b = decode_b64(s, 200)?;
    if b.len() != 24 || b[..3] != ID_PREFIX {
        return None;
    }
    let kind = IdKind::from_byte(b[3])?;
    let mailbox = u32::from_be_bytes(b[4..8].try_into().ok()?);
    let number = u64::from_be_bytes(b[8..16].try_into().ok()?);
    let instance = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let c = u32::from_be_bytes(b[20..24].try_into().ok()?);
    (c == check(key, &[u64::from(kind.byte()), u64::from(mailbox), number, u64::from(instance)])).then_some(RawId {
        kind,
        mailbox,
        number,
        instance,
    })
}

const CK_PREFIX: [u8; 4] = [0x09, 0, 0, 0];

pub(crate) fn encode_change_key(key: u64, mailbox: u32, item: u64, version: u32) -> String {
    let mut b = [0u8; 24];
    b[..4].copy_from_slice(&CK_PREFIX);
    b[4..8].copy_from_slice(&mailbox.to_be_bytes());
    b[8..16].copy_from_slice(&item.to_be_bytes());
    b[16..20].copy_from_slice(&version.to_be_bytes());
    let c = check(key ^ 0x00c4_a9e1, &[u64::from(mailbox), item, u64::from(version)]);
    b[20..].copy_from_slice(&c.to_be_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

/// `(mailbox, item, version)` of a change key.
pub(crate) fn decode_change_key(key: u64, s: &str) -> Option<(u32, u64, u32)> {
    let b = decode_b64(s, 200)?;
    if b.len() != 24 || b[..4] != CK_PREFIX {
        return None;
    }
    let mailbox = u32::from_be_bytes(b[4..8].try_into().ok()?);
    let item = u64::from_be_bytes(b[8..16].try_into().ok()?);
    let version = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let c = u32::from_be_bytes(b[20..24].try_into().ok()?);
    (c == check(key ^ 0x00c4_a9e1, &[u64::from(mailbox), item, u64::from(version)])).then_some((mailbox, item, version))
}

pub(crate) fn encode_watermark(key: u64, mailbox: u32, seq: u64) -> String {
    let mut b = [0u8; 17];
    b[0] = 1;
    b[1..5].copy_from_slice(&mailbox.to_be_bytes());
    b[5..13].copy_from_slice(&seq.to_be_bytes());
    b[13..].copy_from_slice(&check(key ^ 0x003a_7e12, &[u64::from(mailbox), seq]).to_be_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

/// `(mailbox, sequence)` of a watermark.
pub(crate) fn decode_watermark(key: u64, s: &str) -> Option<(u32, u64)> {
    let b = decode_b64(s, 200)?;
    if b.len() != 17 || b[0] != 1 {
        return None;
    }
    let mailbox = u32::from_be_bytes(b[1..5].try_into().ok()?);
    let seq = u64::from_be_bytes(b[5..13].try_into().ok()?);
    let c = u32::from_be_bytes(b[13..17].try_into().ok()?);
    (c == check(key ^ 0x003a_7e12, &[u64::from(mailbox), seq])).then_some((mailbox, seq))
}

const SYNC_VERSION: u8 = 0x5a;
/// Most items a sync state may name (a guard; states are signed, so only ours are read).
const MAX_KNOWN: u64 = 50_000_000;

fn sync_mac(run_key: &[u8; 32], body: &[u8]) -> hmac::Hmac<Sha256> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(run_key).expect("HMAC takes any key length");
    mac.update(body);
    mac
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A sync state: mailbox, folder, cursor and the items the client knows (as ranges), signed
/// with HMAC-SHA256 (truncated to 16 bytes) under the run key.
pub(crate) fn encode_sync_state(
    run_key: &[u8; 32],
    mailbox: u32,
    folder: u8,
    cursor: u64,
    known: &BTreeSet<u64>,
) -> String {
    let mut b = Vec::with_capacity(32);
    b.push(SYNC_VERSION);
    b.extend_from_slice(&mailbox.to_be_bytes());
    b.push(folder);
    b.extend_from_slice(&cursor.to_be_bytes());
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &n in known {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => ranges.push((n, n)),
        }
    }
    put_varint(&mut b, ranges.len() as u64);
    let mut prev = 0;
    for (start, end) in ranges {
        put_varint(&mut b, start - prev);
        put_varint(&mut b, end - start);
        prev = end;
    }
    let mac = sync_mac(run_key, &b).finalize().into_bytes();
    b.extend_from_slice(&mac[..16]);
    URL_SAFE_NO_PAD.encode(b)
}

/// The decoded fields of a sync state.
pub(crate) struct SyncStateData {
    pub mailbox: u32,
    pub folder: u8,
    pub cursor: u64,
    pub known: BTreeSet<u64>,
}

/// Decodes a sync state whose HMAC is valid.
pub(crate) fn decode_sync_state(run_key: &[u8; 32], s: &str) -> Option<SyncStateData> {
    let b = decode_b64(s, 4_000_000)?;
    if b.len() < 14 + 1 + 16 || b[0] != SYNC_VERSION {
        return None;
    }
    let (body, mac) = b.split_at(b.len() - 16);
    sync_mac(run_key, body).verify_truncated_left(mac).ok()?;
    let mailbox = u32::from_be_bytes(body[1..5].try_into().ok()?);
    let folder = body[5];
    let cursor = u64::from_be_bytes(body[6..14].try_into().ok()?);
    let mut pos = 14;
    let count = get_varint(body, &mut pos)?;
    let mut known = BTreeSet::new();
    let mut prev = 0u64;
    let mut total = 0u64;
    for _ in 0..count {
        let start = prev.checked_add(get_varint(body, &mut pos)?)?;
        let end = start.checked_add(get_varint(body, &mut pos)?)?;
        total += end - start + 1;
        if total > MAX_KNOWN {
            return None;
        }
        known.extend(start..=end);
        prev = end;
    }
    (pos == body.len()).then_some(SyncStateData { mailbox, folder, cursor, known })
}

pub(crate) fn encode_subscription_id(nonce: u64, counter: u64) -> String {
    let mut b = [0u8; 17];
    b[0] = 0x5b;
    b[1..9].copy_from_slice(&nonce.to_be_bytes());
    b[9..].copy_from_slice(&counter.to_be_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_b64(s: &str, max_len: usize) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() > max_len {
        return None;
    }
    if s.contains(['+', '/', '=']) {
        let t: String = s
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        URL_SAFE_NO_PAD.decode(t).ok()
    } else {
        URL_SAFE_NO_PAD.decode(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_tampering() {
        let id = RawId { kind: IdKind::Occurrence, mailbox: 7, number: 42, instance: 3 };
        let s = encode_id(99, id);
        assert!(s.starts_with("AAMk"), "{s}");
        assert_eq!(decode_id(99, &s), Some(id));
        assert_eq!(decode_id(98, &s), None, "another seed's id");
        let mut t = s.clone().into_bytes();
        t[10] = if t[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(decode_id(99, std::str::from_utf8(&t).unwrap()), None);
        assert_eq!(decode_id(99, "not base64!"), None);
        assert_eq!(decode_id(99, ""), None);
        // Standard base64 spelling is accepted.
        let std_b64 = s.replace('-', "+").replace('_', "/");
        assert_eq!(decode_id(99, &std_b64), Some(id));

        let ck = encode_change_key(5, 7, 42, 9);
        assert!(ck.starts_with("CQAAAA"), "{ck}");
        assert_eq!(decode_change_key(5, &ck), Some((7, 42, 9)));
        assert_eq!(decode_change_key(6, &ck), None);

        let wm = encode_watermark(1, 3, 1000);
        assert_eq!(decode_watermark(1, &wm), Some((3, 1000)));
        assert_eq!(decode_watermark(2, &wm), None);

        let key = [7u8; 32];
        let known: BTreeSet<u64> = [1, 2, 3, 4, 9, 10, 1000].into_iter().chain(2000..3000).collect();
        let st = encode_sync_state(&key, 3, 1, 77, &known);
        let d = decode_sync_state(&key, &st).unwrap();
        assert_eq!((d.mailbox, d.folder, d.cursor), (3, 1, 77));
        assert_eq!(d.known, known);
        assert!(st.len() < 80, "ranges keep the state small: {}", st.len());
        assert!(decode_sync_state(&[8u8; 32], &st).is_none(), "another run's state");
        let mut bad = st.clone().into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert!(decode_sync_state(&key, std::str::from_utf8(&bad).unwrap()).is_none());
        let empty = encode_sync_state(&key, 1, 2, 0, &BTreeSet::new());
        assert!(decode_sync_state(&key, &empty).unwrap().known.is_empty());
    }
}
