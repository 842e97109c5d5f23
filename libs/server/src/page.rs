//! One way to page through a list, for every list RPC.
//!
//! A page token is the last row's cursor (whatever the list sorts by, as
//! JSON), sealed with a checksum over the cursor and the query it belongs to.
//! A token is therefore opaque to callers, a token altered by hand is refused,
//! and a token from one filter (or one caller, or one list) cannot page
//! another: each is INVALID_ARGUMENT naming `page_token`. The checksum is not
//! a secret: it guards against mistakes, and every list also checks the
//! caller's organisation, so a forged cursor can only skip rows the caller may
//! see anyway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::InvalidField;

/// The page sizes of one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// What `page_size: 0` (unset) means.
    pub default_size: u64,
    /// The largest page a caller may ask for; more is INVALID_ARGUMENT rather
    /// than silently less, so a client never mistakes a short page for the end.
    pub max_size: u64,
}

impl PageLimits {
    /// The page size to fetch for a request's `page_size`.
    pub fn size(&self, requested: i32) -> Result<u64, InvalidField> {
        match requested {
            0 => Ok(self.default_size),
            n if n > 0 && n as u64 <= self.max_size => Ok(n as u64),
            _ => Err(InvalidField::new(
                "page_size",
                format!(
                    "must be between 1 and {} (0 for {})",
                    self.max_size, self.default_size
                ),
            )),
        }
    }
}

/// What a page token is bound to: the list, and everything that shapes its
/// rows (the caller's view, the filter, the order), in any `Debug` form.
pub fn fingerprint(list: &str, query: &impl std::fmt::Debug) -> [u8; 32] {
    Sha256::digest(format!("{list}|{query:?}").as_bytes()).into()
}

fn checksum(payload: &[u8], fingerprint: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(payload)
        .chain_update(fingerprint)
        .finalize();
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// Seals `cursor` into a page token for the query `fingerprint` names.
pub fn encode_token(cursor: &impl Serialize, fingerprint: &[u8; 32]) -> String {
    let payload = serde_json::to_vec(cursor).expect("a cursor serialises");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        checksum(&payload, fingerprint)
    )
}

/// Reads a page token back: `None` for the first page (an empty token).
pub fn decode_token<C: DeserializeOwned>(
    token: &str,
    fingerprint: &[u8; 32],
) -> Result<Option<C>, InvalidField> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        InvalidField::new(
            "page_token",
            "is not a page token of this query (it was altered, or the filter or order changed)",
        )
    };
    let (payload, sum) = token.split_once('.').ok_or_else(invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    if checksum(&payload, fingerprint) != sum {
        return Err(invalid());
    }
    serde_json::from_slice(&payload)
        .map(Some)
        .map_err(|_| invalid())
}

/// Cuts `rows`, fetched with `limit + 1`, to one page, and makes the token of
/// the next page from its last row (empty when this is the last page).
pub fn cut<T, C: Serialize>(
    mut rows: Vec<T>,
    limit: u64,
    fingerprint: &[u8; 32],
    cursor_of: impl Fn(&T) -> C,
) -> (Vec<T>, String) {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = match rows.last() {
        Some(last) if more => encode_token(&cursor_of(last), fingerprint),
        _ => String::new(),
    };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PageLimits = PageLimits {
        default_size: 20,
        max_size: 100,
    };

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(LIMITS.size(0), Ok(20));
        assert_eq!(LIMITS.size(100), Ok(100));
        assert_eq!(LIMITS.size(101).unwrap_err().field, "page_size");
        assert_eq!(LIMITS.size(-1).unwrap_err().field, "page_size");
    }

    #[test]
    fn a_token_pages_only_the_query_it_came_from() {
        let mine = fingerprint("inbox", &("org-a", "ana", true));
        let other = fingerprint("inbox", &("org-a", "ana", false));
        let token = encode_token(&41_i64, &mine);
        assert_eq!(decode_token::<i64>(&token, &mine), Ok(Some(41)));
        assert_eq!(
            decode_token::<i64>(&token, &other).unwrap_err().field,
            "page_token"
        );
        assert_eq!(decode_token::<i64>("", &mine), Ok(None));
    }

    #[test]
    fn an_altered_token_is_refused() {
        let print = fingerprint("audit", &"org-a");
        let token = encode_token(&7_i64, &print);
        let forged = token.replacen(&token[..2], "AA", 1);
        assert!(decode_token::<i64>(&forged, &print).is_err());
        assert!(decode_token::<i64>("not a token", &print).is_err());
        assert!(decode_token::<i64>("e30.AAAA", &print).is_err());
    }

    #[test]
    fn the_last_page_has_no_next_token() {
        let print = fingerprint("audit", &"org-a");
        let (page, next) = cut(vec![5, 4, 3], 2, &print, |id| *id);
        assert_eq!(page, [5, 4]);
        assert_eq!(decode_token::<i32>(&next, &print), Ok(Some(4)));
        let (page, next) = cut(vec![5, 4], 2, &print, |id| *id);
        assert_eq!(page, [5, 4]);
        assert!(next.is_empty());
    }
}
