//! [`DsrError`]: how the machinery of data subject requests fails. The
//! worker records it as a request's last error; the HTTP side turns it into
//! an `ApiError` at the edge (`error.rs`).

use custos_store::StoreError;

use super::signing::SignerError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DsrError {
    /// Another worker holds the request now (this one's lease expired):
    /// what this one did is void, and the other carries on.
    #[error("the lease was lost to another worker")]
    LeaseLost,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// Writing an export's zip.
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Reading a stored batch, or writing a line of an export.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}
