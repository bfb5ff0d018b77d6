//! Access and portability exports: a zip of JSON Lines, `profile.jsonl`
//! (one line per profile reached) and `<request id>-batches.jsonl` (one event
//! batch per line, as stored, with its `mpid`), written in chunks to the
//! store as it is built, so memory stays bounded whatever the subject's volume.

use std::io::Write;
use std::sync::{Arc, Mutex};

use custos_store::{ExportDone, SubjectRequest};
use serde_json::Value;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{unix_ms, DsrError, DsrRuntime};
use crate::profile_view;

/// Bytes per stored chunk; also the most the zip writer buffers.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Batches read per query.
const PAGE: i64 = 500;

/// What the zip writer has produced and not yet stored.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("no panics while holding the export buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stores what is pending as numbered chunks.
struct Chunks<'a> {
    dsr: &'a DsrRuntime,
    request: &'a SubjectRequest,
    pending: Pending,
    next_seq: i64,
    bytes: i64,
}

impl Chunks<'_> {
    /// Stores full chunks, or everything when `all`.
    async fn store(&mut self, all: bool) -> Result<(), DsrError> {
        loop {
            let chunk: Vec<u8> = {
                let mut pending = self.pending.0.lock().expect("no panics while holding the export buffer");
                if pending.is_empty() || (!all && pending.len() < CHUNK_BYTES) {
                    return Ok(());
                }
                let take = pending.len().min(CHUNK_BYTES);
                pending.drain(..take).collect()
            };
            let (ws, id) = (self.request.workspace_id, &self.request.request_id);
            self.dsr.store.put_export_chunk(ws, id, self.next_seq, &chunk).await?;
            self.next_seq += 1;
            self.bytes += chunk.len() as i64;
        }
    }
}

pub(super) async fn run(dsr: &DsrRuntime, owner: &str, request: &SubjectRequest) -> Result<(), DsrError> {
    let (ws, id) = (request.workspace_id, request.request_id.as_str());
    let store = &dsr.store;
    let profiles = store.begin_export(ws, id, owner, dsr.clock.now()).await?;
    if profiles.is_empty() {
        return match store.complete_subject_request(ws, id, owner, 0, None, dsr.clock.now()).await? {
            true => Ok(()),
            false => Err(DsrError::LeaseLost),
        };
    }
    let pending = Pending::default();
    let mut chunks = Chunks { dsr, request, pending: pending.clone(), next_seq: 0, bytes: 0 };
    let mut zip = ZipWriter::new_stream(pending);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).large_file(true);

    zip.start_file("profile.jsonl", options)?;
    for mpid in &profiles {
        if let Some(profile) = store.profile(ws, *mpid).await? {
            let mut line = profile_view::render(&profile, &profile_view::FIELDS);
            line["id"] = Value::from(mpid.0);
            serde_json::to_writer(&mut zip, &line)?;
            zip.write_all(b"\n")?;
        }
    }

    zip.start_file(format!("{id}-batches.jsonl"), options)?;
    let mut batches = 0u64;
    for mpid in &profiles {
        let mut after = 0;
        loop {
            let page = store.batch_page(ws, *mpid, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for stored in &page {
                let mut batch: Value = serde_json::from_str(&stored.body)?;
                if let Value::Object(fields) = &mut batch {
                    fields.insert("mpid".into(), Value::from(mpid.0.to_string()));
                    fields.insert("batch_id".into(), Value::from(stored.id));
                }
                serde_json::to_writer(&mut zip, &batch)?;
                zip.write_all(b"\n")?;
                batches += 1;
            }
            chunks.store(false).await?;
        }
    }
    zip.finish()?;
    chunks.store(true).await?;
    tracing::info!(profiles = profiles.len(), batches, bytes = chunks.bytes, "access export written");
    let now = dsr.clock.now();
    let export = ExportDone { export_bytes: chunks.bytes, expires_at_ms: unix_ms(now + dsr.config.export_ttl) };
    if !store.complete_subject_request(ws, id, owner, profiles.len() as i64, Some(export), now).await? {
        return Err(DsrError::LeaseLost);
    }
    Ok(())
}
