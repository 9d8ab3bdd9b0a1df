//! Test support: validates SOAP messages against Microsoft's EWS schema
//! (`../shared/ews-reference/schema/ews-soap-envelope.xsd`) with `xmllint`.
//!
//! Validation runs one `xmllint` process for a whole batch of documents, so the schema (about
//! 0.2 s to compile) is compiled once per batch. A missing `xmllint` is a panic, never a skip:
//! in CI a schema test that cannot run must fail. Install it with
//! `apt-get install -y libxml2-utils`.
//!
//! The reference folder is found at `$EXBRIDGE_EWS_REFERENCE`, else at `../shared/ews-reference`
//! beside the repository root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `ews-reference` folder (schema, samples).
pub fn reference_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("EXBRIDGE_EWS_REFERENCE") {
        return PathBuf::from(dir);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidate = root.join("../shared/ews-reference");
    candidate.canonicalize().unwrap_or_else(|_| {
        panic!(
            "EWS reference material not found at {}: set EXBRIDGE_EWS_REFERENCE to the shared/ews-reference folder",
            candidate.display()
        )
    })
}

/// The folder of real wire samples.
pub fn samples_dir() -> PathBuf {
    reference_dir().join("samples")
}

/// The result for one document: `Ok(())` or the validator's messages.
pub type Outcome = Result<(), String>;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Validates each `(label, xml)` SOAP message; returns one outcome per document, in order.
pub fn validate_envelopes(docs: &[(String, String)]) -> Vec<Outcome> {
    validate_with(docs, "ews-soap-envelope.xsd")
}

/// Validates one SOAP message, panicking with the validator's messages if it is invalid.
#[track_caller]
pub fn assert_valid_envelope(label: &str, xml: &str) {
    let out = validate_envelopes(&[(label.to_string(), xml.to_string())]);
    if let Err(e) = &out[0] {
        panic!("{label} does not validate against the EWS schema:\n{e}\n--- document ---\n{xml}");
    }
}

/// Validates every document and panics listing all invalid ones.
#[track_caller]
pub fn assert_all_valid(docs: &[(String, String)]) {
    let out = validate_envelopes(docs);
    let failures: Vec<String> = docs
        .iter()
        .zip(&out)
        .filter_map(|((label, xml), o)| o.as_ref().err().map(|e| format!("== {label}\n{e}\n{xml}")))
        .collect();
    if !failures.is_empty() {
        panic!("{} of {} documents do not validate:\n{}", failures.len(), docs.len(), failures.join("\n"));
    }
}

fn validate_with(docs: &[(String, String)], schema: &str) -> Vec<Outcome> {
    if docs.is_empty() {
        return Vec::new();
    }
    let schema = reference_dir().join("schema").join(schema);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ews-schema-check-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let files: Vec<PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, (_, xml))| {
            let p = dir.join(format!("doc{i}.xml"));
            std::fs::write(&p, xml).expect("write temp file");
            p
        })
        .collect();
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("xmllint could not be run ({e}); install it: apt-get install -y libxml2-utils"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("failed to compile") || stderr.contains("WXS schema") && stderr.contains("failed") {
        panic!("the EWS schema did not compile:\n{stderr}");
    }
    let outcomes = files
        .iter()
        .map(|f| {
            let name = f.display().to_string();
            let lines: Vec<&str> =
                stderr.lines().filter(|l| l.starts_with(&name) && !l.ends_with(" validates")).collect();
            if stderr.lines().any(|l| l == format!("{name} validates")) {
                Ok(())
            } else if lines.is_empty() {
                Err(format!("xmllint gave no verdict for this document:\n{stderr}"))
            } else {
                Err(lines.join("\n").replace(&name, "document"))
            }
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_real_sample_and_rejects_a_broken_one() {
        let good = std::fs::read_to_string(samples_dir().join("FindItem-CalendarView.request.xml")).unwrap();
        let bad = good.replace("m:FindItem", "m:FindItems");
        let out = validate_envelopes(&[("good".into(), good), ("bad".into(), bad)]);
        assert!(out[0].is_ok(), "{:?}", out[0]);
        let err = out[1].as_ref().unwrap_err();
        assert!(err.contains("No matching global element declaration"), "{err}");
    }
}
