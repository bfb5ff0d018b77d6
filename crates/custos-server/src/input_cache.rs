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
    entries: Mutex<HashMap<String, (Instant, Option<StoredInput>)>>,
}

impl InputCache {
    pub(crate) async fn find(&self, store: &dyn Store, key: &str) -> StoreResult<Option<StoredInput>> {
        if let Some((at, input)) = self.entries.lock().expect("cache lock").get(key) {
            if at.elapsed() < TTL {
                return Ok(input.clone());
            }
        }
        let input = store.find_input(key).await?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (Instant::now(), input.clone()));
        Ok(input)
    }
}
