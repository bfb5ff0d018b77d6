//! The accounts conformance suite holds of the in-memory accounts, which
//! checks the suite as much as the implementation.

use custos_kit::testing::accounts::run_all;

use crate::memory_accounts::MemoryAccounts;

#[tokio::test]
async fn memory_accounts_conform() {
    run_all(&MemoryAccounts::default()).await;
}
