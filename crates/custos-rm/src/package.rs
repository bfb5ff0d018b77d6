//! An access request's package: one zip holding each connection's results
//! (the processor's own zip, unpacked into a folder named after the
//! connection) and a `manifest.json` saying what each connection returned.

use std::collections::HashSet;
use std::io::{Cursor, Read, Write};

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::domain::job::JobStatus;
use crate::store::RequestRecord;

/// One connection's share of the package.
pub struct ConnectionResults {
    pub name: String,
    pub status: JobStatus,
    /// What its processor returned, if anything.
    pub results: Option<Vec<u8>>,
}

pub fn build(
    request: &RequestRecord,
    connections: &[ConnectionResults],
    generated_at: OffsetDateTime,
) -> zip::result::ZipResult<Vec<u8>> {
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut folders = HashSet::new();
    let mut manifest = Vec::new();
    for connection in connections {
        let folder = unique_folder(&connection.name, &mut folders);
        let mut files = Vec::new();
        if let Some(results) = &connection.results {
            match ZipArchive::new(Cursor::new(results.as_slice())) {
                Ok(mut archive) => {
                    for index in 0..archive.len() {
                        let mut entry = archive.by_index(index)?;
                        // A name that would escape its folder is not copied.
                        let Some(path) = entry.enclosed_name() else { continue };
                        if entry.is_dir() {
                            continue;
                        }
                        let name =
                            path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                        let mut bytes = Vec::new();
                        entry.read_to_end(&mut bytes)?;
                        zip.start_file(format!("{folder}/{name}"), options)?;
                        zip.write_all(&bytes)?;
                        files.push(name);
                    }
                }
                // Not a zip: kept as the processor sent it.
                Err(_) => {
                    zip.start_file(format!("{folder}/results.bin"), options)?;
                    zip.write_all(results)?;
                    files.push("results.bin".to_owned());
                }
            }
        }
        manifest.push(json!({
            "connection": connection.name,
            "folder": folder,
            "status": connection.status.as_str(),
            "files": files,
        }));
    }
    let manifest = json!({
        "request_id": request.id,
        "type": request.kind.as_str(),
        "regulation": request.regulation.as_str(),
        "generated_at": generated_at.format(&Rfc3339).unwrap_or_default(),
        "connections": manifest,
    });
    zip.start_file("manifest.json", options)?;
    zip.write_all(serde_json::to_string_pretty(&manifest).unwrap_or_default().as_bytes())?;
    Ok(zip.finish()?.into_inner())
}

/// A folder name from a connection's name: safe characters only, and unique.
fn unique_folder(name: &str, taken: &mut HashSet<String>) -> String {
    let base: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect::<String>()
        .trim_matches('.')
        .to_owned();
    let base = if base.is_empty() { "connection".to_owned() } else { base };
    let mut folder = base.clone();
    let mut n = 2;
    while !taken.insert(folder.clone()) {
        folder = format!("{base}-{n}");
        n += 1;
    }
    folder
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::request::{Regulation, RequestKind, RequestStatus};

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, text) in files {
            zip.start_file(*name, SimpleFileOptions::default()).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn read(zip: &[u8]) -> Vec<(String, String)> {
        let mut archive = ZipArchive::new(Cursor::new(zip)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut entry = archive.by_index(i).unwrap();
                let mut text = String::new();
                entry.read_to_string(&mut text).unwrap();
                (entry.name().unwrap().into_owned(), text)
            })
            .collect()
    }

    #[test]
    fn each_connections_results_get_a_folder_and_the_manifest_says_what_came_back() {
        let request = RequestRecord {
            id: "r1".into(),
            kind: RequestKind::Access,
            regulation: Regulation::Gdpr,
            status: RequestStatus::Completed,
            subject_kinds: vec!["email".into()],
            received_at: datetime!(2025-01-01 0:00 UTC),
            deadline: datetime!(2025-02-01 0:00 UTC),
            created_at: datetime!(2025-01-01 0:00 UTC),
            finished_at: None,
            verify: false,
            needs_approval: false,
            timer_at: None,
            extension: None,
            denial_reason: None,
            notices: 0,
        };
        let connections = [
            ConnectionResults {
                name: "EU / web".into(),
                status: JobStatus::Completed,
                results: Some(zip_of(&[("profile.jsonl", "{\"id\":1}\n"), ("../escape.txt", "x")])),
            },
            ConnectionResults { name: "EU / web".into(), status: JobStatus::NoData, results: None },
            ConnectionResults {
                name: "raw".into(),
                status: JobStatus::Completed,
                results: Some(b"not a zip".to_vec()),
            },
        ];
        let files = read(&build(&request, &connections, datetime!(2025-01-02 0:00 UTC)).unwrap());
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["EU___web/profile.jsonl", "raw/results.bin", "manifest.json"]);
        assert_eq!(files[0].1, "{\"id\":1}\n");
        let manifest: serde_json::Value = serde_json::from_str(&files[2].1).unwrap();
        assert_eq!(manifest["connections"][1]["folder"], "EU___web-2");
        assert_eq!(manifest["connections"][1]["status"], "no_data");
        assert_eq!(manifest["request_id"], "r1");
    }
}
