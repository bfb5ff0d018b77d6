//! A short-lived cache of input keys, so that authenticating a request on
//! the ingestion paths does not cost a database read.
//!
//! Entries live [`TTL`]: a key deleted or rotated in the store stops working
//! within that time on every node. Unknown keys are cached too (briefly, and
//! the cache is bounded), so a flood of bad keys does not reach the store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use custos_store::{Store, StoreResult, StoredInput};

const TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct InputCache {
    entries: Mutex<HashMap<String, Entry>>,
}

/// What the store answered for a key, and when.
struct Entry {
    at: Instant,
    input: Option<StoredInput>,
}

impl InputCache {
    pub(crate) async fn find(&self, store: &dyn Store, key: &str) -> StoreResult<Option<StoredInput>> {
        if let Some(entry) = self.entries.lock().expect("cache lock").get(key) {
            if entry.at.elapsed() < TTL {
                return Ok(entry.input.clone());
            }
        }
        let input = store.find_input(key).await?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), Entry { at: Instant::now(), input: input.clone() });
        Ok(input)
    }
}
