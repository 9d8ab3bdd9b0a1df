//! Hostile input: arbitrary bytes, truncated documents, wrong namespaces, DTDs and entity tricks
//! must give an error value, never a panic, and never expand entities.

use ews_proto::Envelope;
use ews_proto::xml;
use proptest::prelude::*;

fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = ews_schema_check::samples_dir();
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("samples dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Parses with both entry points; the only requirement is no panic.
fn parse_both(bytes: &[u8]) -> bool {
    let a = Envelope::parse(bytes).is_ok();
    let _ = xml::parse(bytes);
    let _ = pox_roundtrip(bytes);
    a
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_both(&bytes);
    }

    #[test]
    fn arbitrary_xmlish_text_never_panics(s in "(<[a-zA-Z:]{1,6}( [a-z:]{1,5}=\"[^\"<]{0,5}\")?/?>|</[a-zA-Z:]{1,6}>|&[a-z#0-9]{0,5};|[a-z 0-9]{0,8}){0,40}") {
        parse_both(s.as_bytes());
    }

    #[test]
    fn mutated_samples_never_panic(idx in 0usize..1000, pos in 0usize..100_000, byte in any::<u8>()) {
        let all = samples();
        let (_, mut bytes) = all[idx % all.len()].clone();
        if !bytes.is_empty() {
            let p = pos % bytes.len();
            bytes[p] = byte;
        }
        parse_both(&bytes);
    }
}

#[test]
fn every_truncation_of_every_sample_is_an_error_not_a_panic() {
    let mut checked = 0;
    for (name, bytes) in samples() {
        let text_end = bytes.len();
        // Every prefix that cuts inside the root element must fail to parse.
        let root_close = bytes.iter().rposition(|b| *b == b'>').unwrap_or(0);
        let step = (text_end / 200).max(1);
        let mut cut = 1;
        while cut < root_close {
            let prefix = &bytes[..cut];
            assert!(Envelope::parse(prefix).is_err(), "{name} truncated at {cut} parsed");
            let _ = pox_roundtrip(prefix);
            checked += 1;
            cut += step;
        }
    }
    assert!(checked > 1000, "only {checked} truncations checked");
}

#[test]
fn wrong_namespaces_are_rejected() {
    let good = std::fs::read(ews_schema_check::samples_dir().join("GetFolder.request.xml")).unwrap();
    let good = String::from_utf8(good).unwrap();
    assert!(Envelope::parse(good.as_bytes()).is_ok());
    let cases = [
        // SOAP 1.2 instead of SOAP 1.1
        good.replace("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"),
        // the messages namespace misspelt (the documentation's https:// bug)
        good.replace(
            "http://schemas.microsoft.com/exchange/services/2006/messages",
            "https://schemas.microsoft.com/exchange/services/2006/messages",
        ),
    ];
    for (i, doc) in cases.iter().enumerate() {
        let err = Envelope::parse(doc.as_bytes()).expect_err(&format!("case {i} parsed"));
        let msg = err.to_string();
        assert!(msg.contains("expected") || msg.contains("unexpected"), "case {i}: {msg}");
    }
}

#[test]
fn dtds_and_entities_are_refused() {
    let cases: &[&[u8]] = &[
        br#"<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&c;</s:Body></s:Envelope>"#,
        br#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&xxe;</s:Body></s:Envelope>"#,
        br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&undefined;</s:Body></s:Envelope>"#,
        br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&#0;</s:Body></s:Envelope>"#,
        br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x:Y/></s:Body></s:Envelope>"#,
        b"\xff\xfe<\x00s\x00",
    ];
    for (i, doc) in cases.iter().enumerate() {
        assert!(Envelope::parse(doc).is_err(), "case {i} parsed");
        assert!(xml::parse(doc).is_err(), "case {i} parsed as XML");
    }
}

#[test]
fn deep_nesting_is_refused() {
    let mut doc = String::from(r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>"#);
    for _ in 0..10_000 {
        doc.push_str("<a>");
    }
    assert!(Envelope::parse(doc.as_bytes()).is_err());
}

/// Parses a POX Autodiscover document (request or response) and writes it back.
fn pox_roundtrip(bytes: &[u8]) -> Result<String, ews_proto::Error> {
    use ews_proto::autodiscover::{PoxAutodiscoverRequest, PoxAutodiscoverResponse};
    let root = ews_proto::xml::parse(bytes)?;
    if root.ns == ews_proto::xml::Ns::PoxRequest {
        Ok(PoxAutodiscoverRequest::parse(bytes)?.to_xml_string())
    } else {
        Ok(PoxAutodiscoverResponse::parse(bytes)?.to_xml_string())
    }
}
