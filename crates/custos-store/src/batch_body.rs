//! How a batch's body is kept: the JSON as received, compressed with zstd.
//!
//! Event batches are most of what the store holds, and their JSON repeats
//! the same keys: compressed, a typical batch of 2.5 KB takes about a
//! quarter of that, so several share a page instead of one filling it.
//! Compression runs where the batch is received, beside the other requests,
//! not on the single writer. Rows written before compression hold the JSON
//! itself; both read back the same.

use std::cell::RefCell;

use crate::{StoreError, StoreResult};

/// The first bytes of every zstd frame. JSON text cannot start with them.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// zstd's fastest level: already within a few percent of the default
/// level's ratio on batches, at half its cost.
const LEVEL: i32 = 1;

/// A batch's body in its stored form.
#[derive(Clone, PartialEq, Eq)]
pub struct BatchBody(Vec<u8>);

impl BatchBody {
    pub fn compress(json: &str) -> BatchBody {
        thread_local! {
            // A compression context is costly to set up: one per thread, kept.
            static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
        }
        let compressed = COMPRESSOR.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                *cell = zstd::bulk::Compressor::new(LEVEL).ok();
            }
            cell.as_mut().and_then(|compressor| compressor.compress(json.as_bytes()).ok())
        });
        // Should zstd ever fail, the JSON is kept as it is: it reads back the same.
        BatchBody(compressed.unwrap_or_else(|| json.as_bytes().to_vec()))
    }

    /// The bytes to store.
    pub fn stored(&self) -> &[u8] {
        &self.0
    }

    /// The stored size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for BatchBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A body holds personal data: show only its size.
        write!(f, "BatchBody({} bytes)", self.0.len())
    }
}

/// The JSON of a stored body, compressed or not.
pub(crate) fn decode(stored: Vec<u8>) -> StoreResult<String> {
    let json = if stored.starts_with(&ZSTD_MAGIC) {
        zstd::stream::decode_all(stored.as_slice())
            .map_err(|e| StoreError::Engine(format!("a stored batch does not decompress: {e}")))?
    } else {
        stored
    };
    String::from_utf8(json).map_err(|_| StoreError::Engine("a stored batch is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_read_back_as_received_compressed_or_not() {
        let json = format!(r#"{{"events":[{}]}}"#, vec![r#"{"event_type":"custom_event","data":{}}"#; 50].join(","));
        let body = BatchBody::compress(&json);
        assert!(body.stored().starts_with(&ZSTD_MAGIC));
        assert!(body.len() * 4 < json.len(), "{} bytes from {}", body.len(), json.len());
        assert_eq!(decode(body.stored().to_vec()).unwrap(), json);
        // Rows stored before compression hold the JSON itself.
        assert_eq!(decode(json.clone().into_bytes()).unwrap(), json);
        assert!(decode(vec![0x28, 0xB5, 0x2F, 0xFD, 0]).is_err());
    }
}
