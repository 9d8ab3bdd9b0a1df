//! Splitting a `GetStreamingEvents` HTTP body into its SOAP envelopes.
//!
//! Exchange answers `GetStreamingEvents` with one chunked HTTP response that stays open for up
//! to `ConnectionTimeout` minutes and carries **several complete XML documents one after
//! another**, each a `soap:Envelope` holding a `GetStreamingEventsResponse`, each possibly
//! preceded by its own XML declaration: notifications, `ConnectionStatus` `OK` heartbeats, and
//! a final `ConnectionStatus` `Closed` (DIGEST §3). [`EnvelopeSplitter`] takes the body (after
//! HTTP chunked decoding, i.e. what an HTTP client yields) in whatever pieces the network
//! delivers and hands back each document once it is complete, for [`crate::Envelope::parse`].
//! Stop reading after a document whose response [`is_closed`](crate::ops::GetStreamingEventsResponse::is_closed).
//!
//! The splitter only finds document boundaries: it follows the markup (tags and their quoted
//! attribute values, comments, CDATA sections, processing instructions) with a small state
//! machine that keeps its state between chunks, so each byte is looked at once, whatever the
//! chunking (a chunk may end inside a tag, a comment, a CDATA section or a multibyte
//! character: all delimiters are ASCII, which never occurs inside a UTF-8 sequence). It
//! enforces a maximum document size and rejects what no EWS stream contains (document type
//! declarations, text outside the root element, end tags without a start tag). Everything
//! else (well-formedness, namespaces) is checked by the parser.

use crate::error::{Error, Result};

/// Default maximum size of one document: 16 MiB. A streaming notification carries at most
/// 50 events per subscription (DIGEST §3); 200 subscriptions with 50 events each
/// take about 2 MB (see the tests).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between documents: white space is skipped.
    Between,
    /// Inside a document, outside markup.
    Text,
    /// Just after `<`.
    Lt,
    /// In a start tag; `quote` is the open attribute quote, `slash` whether the last byte
    /// outside quotes was `/`.
    StartTag { quote: Option<u8>, slash: bool },
    /// In an end tag.
    EndTag,
    /// In a processing instruction or the XML declaration; `q`: last byte was `?`.
    Pi { q: bool },
    /// After `<!`: `n` bytes of `--` (comment) or `[CDATA[` matched.
    Bang { n: u8, cdata: bool },
    /// In a comment; `dashes`: trailing `-` count (capped at 2).
    Comment { dashes: u8 },
    /// In a CDATA section; `brackets`: trailing `]` count (capped at 2).
    CData { brackets: u8 },
}

const CDATA_OPEN: &[u8] = b"[CDATA[";
const COMMENT_OPEN: &[u8] = b"--";

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// An incremental splitter of a stream of concatenated XML documents.
///
/// ```
/// use ews_proto::stream::EnvelopeSplitter;
/// let mut s = EnvelopeSplitter::new();
/// let mut docs = s.push(b"<?xml version=\"1.0\"?><a><b/></").unwrap();
/// assert!(docs.is_empty());
/// docs = s.push(b"a>\r\n<?xml version=\"1.0\"?><c/>").unwrap();
/// assert_eq!(docs, vec![b"<?xml version=\"1.0\"?><a><b/></a>".to_vec(), b"<?xml version=\"1.0\"?><c/>".to_vec()]);
/// s.finish().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct EnvelopeSplitter {
    /// Bytes of the current, incomplete document.
    buf: Vec<u8>,
    state: State,
    /// Open elements of the current document.
    depth: usize,
    /// Whether the root element of the current document has started.
    root_started: bool,
    max_document: usize,
    /// Bytes consumed so far (for error messages).
    consumed: u64,
    /// The first error; every later call returns it again.
    failed: Option<Error>,
}

impl Default for EnvelopeSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvelopeSplitter {
    /// A splitter with the default limit ([`DEFAULT_MAX_DOCUMENT_BYTES`]).
    pub fn new() -> Self {
        Self::with_max_document_bytes(DEFAULT_MAX_DOCUMENT_BYTES)
    }

    /// A splitter that fails when one document grows beyond `max` bytes.
    pub fn with_max_document_bytes(max: usize) -> Self {
        EnvelopeSplitter {
            buf: Vec::new(),
            state: State::Between,
            depth: 0,
            root_started: false,
            max_document: max,
            consumed: 0,
            failed: None,
        }
    }

    /// Bytes of the incomplete document held so far.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether the splitter is between documents (nothing pending).
    pub fn is_idle(&self) -> bool {
        self.state == State::Between
    }

    /// Feeds the next chunk; returns the documents it completes, in order. After an error the
    /// splitter stays failed: every later call returns the same error.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut out = Vec::new();
        match self.scan(chunk, &mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.buf = Vec::new();
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Checks that the stream ended between documents. Comments, processing instructions or
    /// white space after the last document are ignored; a document cut short is an error.
    pub fn finish(&self) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.state {
            State::Between => Ok(()),
            State::Text if !self.root_started => Ok(()),
            _ => Err(Error::syntax(format!(
                "stream ended inside a document ({} bytes pending, {} elements open)",
                self.buf.len(),
                self.depth
            ))),
        }
    }

    /// Splits a complete body at once.
    pub fn split_all(body: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut s = EnvelopeSplitter::new();
        let docs = s.push(body)?;
        s.finish()?;
        Ok(docs)
    }

    fn error(&self, at: usize, msg: &str) -> Error {
        Error::syntax(format!("{msg} (stream byte {})", self.consumed + at as u64))
    }

    fn check_size(&self, len: usize, at: usize) -> Result<()> {
        if len > self.max_document {
            return Err(self.error(at, &format!("document exceeds the limit of {} bytes", self.max_document)));
        }
        Ok(())
    }

    fn scan(&mut self, chunk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<()> {
        // Start in `chunk` of the bytes that belong to the current document.
        let mut seg = 0usize;
        let mut i = 0usize;
        while i < chunk.len() {
            let b = chunk[i];
            match self.state {
                State::Between => {
                    if is_space(b) {
                        i += 1;
                        seg = i;
                        continue;
                    }
                    seg = i;
                    self.state = State::Text;
                    self.depth = 0;
                    self.root_started = false;
                    continue; // reprocess this byte as document content
                }
                State::Text => {
                    if self.depth > 0 {
                        // Fast path: jump to the next markup.
                        match chunk[i..].iter().position(|&c| c == b'<') {
                            Some(p) => {
                                i += p + 1;
                                self.state = State::Lt;
                            }
                            None => i = chunk.len(),
                        }
                        continue;
                    }
                    if b == b'<' {
                        self.state = State::Lt;
                    } else if !(is_space(b) || matches!(b, 0xEF | 0xBB | 0xBF)) {
                        return Err(self.error(i, "text outside the root element"));
                    }
                }
                State::Lt => {
                    self.state = match b {
                        b'/' => State::EndTag,
                        b'?' => State::Pi { q: false },
                        b'!' => State::Bang { n: 0, cdata: false },
                        b'>' | b' ' | b'\t' | b'\r' | b'\n' | b'<' => {
                            return Err(self.error(i, "malformed markup after `<`"));
                        }
                        _ => {
                            self.root_started = true;
                            State::StartTag { quote: None, slash: false }
                        }
                    };
                }
                State::StartTag { quote: Some(q), .. } => {
                    if b == q {
                        self.state = State::StartTag { quote: None, slash: false };
                    }
                }
                State::StartTag { quote: None, slash } => match b {
                    b'"' | b'\'' => self.state = State::StartTag { quote: Some(b), slash: false },
                    b'>' => {
                        self.state = State::Text;
                        if !slash {
                            self.depth += 1;
                        } else if self.depth == 0 {
                            self.complete(chunk, &mut seg, i, out)?;
                        }
                    }
                    _ => self.state = State::StartTag { quote: None, slash: b == b'/' },
                },
                State::EndTag => {
                    if b == b'>' {
                        if self.depth == 0 {
                            return Err(self.error(i, "end tag without a start tag"));
                        }
                        self.depth -= 1;
                        self.state = State::Text;
                        if self.depth == 0 {
                            self.complete(chunk, &mut seg, i, out)?;
                        }
                    }
                }
                State::Pi { q } => {
                    self.state = if b == b'>' && q { State::Text } else { State::Pi { q: b == b'?' } };
                }
                State::Bang { n, cdata } => {
                    let (pattern, cdata) = if n == 0 {
                        match b {
                            b'-' => (COMMENT_OPEN, false),
                            b'[' => (CDATA_OPEN, true),
                            _ => {
                                return Err(self.error(i, "document type declarations are not allowed in EWS messages"));
                            }
                        }
                    } else if cdata {
                        (CDATA_OPEN, true)
                    } else {
                        (COMMENT_OPEN, false)
                    };
                    if pattern[n as usize] != b {
                        return Err(self.error(i, "malformed comment or CDATA section"));
                    }
                    let n = n + 1;
                    self.state = if n as usize == pattern.len() {
                        if cdata { State::CData { brackets: 0 } } else { State::Comment { dashes: 0 } }
                    } else {
                        State::Bang { n, cdata }
                    };
                }
                State::Comment { dashes } => {
                    self.state = match b {
                        b'-' => State::Comment { dashes: (dashes + 1).min(2) },
                        b'>' if dashes >= 2 => State::Text,
                        _ => State::Comment { dashes: 0 },
                    };
                }
                State::CData { brackets } => {
                    self.state = match b {
                        b']' => State::CData { brackets: (brackets + 1).min(2) },
                        b'>' if brackets >= 2 => State::Text,
                        _ => State::CData { brackets: 0 },
                    };
                }
            }
            i += 1;
        }
        if self.state != State::Between {
            let tail = &chunk[seg..];
            self.check_size(self.buf.len() + tail.len(), chunk.len())?;
            self.buf.extend_from_slice(tail);
        }
        self.consumed += chunk.len() as u64;
        Ok(())
    }

    /// The root element closed at `chunk[i]`: emit the document.
    fn complete(&mut self, chunk: &[u8], seg: &mut usize, i: usize, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let part = &chunk[*seg..=i];
        self.check_size(self.buf.len() + part.len(), i)?;
        let mut doc = std::mem::take(&mut self.buf);
        doc.extend_from_slice(part);
        out.push(doc);
        *seg = i + 1;
        self.state = State::Between;
        self.root_started = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ItemId, SubscriptionId, Watermark};
    use crate::ops::*;
    use crate::soap::{Body, Envelope, Header, ServerVersionInfo};
    use crate::values::DateTime;
    use crate::xml::XmlText;
    use proptest::prelude::*;

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(ews_schema_check::samples_dir().join(name)).unwrap()
    }

    fn stream_envelope(msg: GetStreamingEventsResponseMessage) -> String {
        let header = Header { server_version_info: Some(ServerVersionInfo::exchange2016()), ..Header::default() };
        Envelope::new(header, GetStreamingEventsResponse::from(msg)).to_xml_string()
    }

    fn notification(id: &str, n: usize) -> Notification {
        let events = (0..n)
            .map(|k| {
                Event::Created(ObjectChangedEvent {
                    watermark: None,
                    time_stamp: DateTime::from_text("2026-03-29T09:00:00Z").unwrap(),
                    object: ChangedObject::Item(ItemId::new(format!("AAMk-{k}-é日本🗓"), Some("CQAAAA=="))),
                    parent_folder_id: StoreFolderId::new("AQMk/ü", Some("AQAAAA==")),
                })
            })
            .collect();
        Notification { subscription_id: SubscriptionId::new(id), previous_watermark: None, more_events: None, events }
    }

    /// A hand-written document with every construct the state machine must follow.
    const TRICKY: &str = "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- a comment with <tags> and a - dash -->\
<?pi with > inside ?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" x='a>b/>c' y=\"/\"><s:Body>\
<m:GetStreamingEventsResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" \
xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>\
<m:GetStreamingEventsResponseMessage ResponseClass=\"Success\"><!-- </m:ResponseMessages> -->\
<m:MessageText><![CDATA[</s:Envelope> ]] ]> ]]]]><![CDATA[]]></m:MessageText><m:ResponseCode>NoError</m:ResponseCode>\
<m:ConnectionStatus>OK</m:ConnectionStatus></m:GetStreamingEventsResponseMessage></m:ResponseMessages>\
</m:GetStreamingEventsResponse></s:Body></s:Envelope>";

    /// The documents of a realistic stream, in order, and the stream itself (with the white
    /// space and line breaks Exchange puts between documents).
    fn stream() -> (Vec<Vec<u8>>, Vec<u8>) {
        let docs: Vec<Vec<u8>> = vec![
            stream_envelope(GetStreamingEventsResponseMessage::heartbeat()).into_bytes(),
            stream_envelope(GetStreamingEventsResponseMessage::with_notifications(vec![
                notification("JgBibjFwcjAz-1", 3),
                notification("JgBibjFwcjAz-2", 1),
            ]))
            .into_bytes(),
            TRICKY.as_bytes().to_vec(),
            stream_envelope(GetStreamingEventsResponseMessage {
                wire_form: WireForm::Exchange,
                ..GetStreamingEventsResponseMessage::with_notifications(vec![notification("Jg-3", 2)])
            })
            .into_bytes(),
            stream_envelope(GetStreamingEventsResponseMessage::heartbeat()).into_bytes(),
            sample("GetStreamingEvents-ConnectionStatus-Closed.response.xml").trim_ascii_end().to_vec(),
        ];
        let mut body = Vec::new();
        for (k, d) in docs.iter().enumerate() {
            body.extend_from_slice(d);
            body.extend_from_slice(if k % 2 == 0 { b"\r\n" } else { b"" });
        }
        (docs, body)
    }

    fn feed(body: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>> {
        let mut s = EnvelopeSplitter::new();
        let mut docs = Vec::new();
        let mut last = 0;
        for &c in cuts {
            docs.extend(s.push(&body[last..c])?);
            last = c;
        }
        docs.extend(s.push(&body[last..])?);
        s.finish()?;
        Ok(docs)
    }

    #[test]
    fn whole_stream_parses_into_the_expected_envelopes() {
        let (docs, body) = stream();
        let got = EnvelopeSplitter::split_all(&body).unwrap();
        assert_eq!(got, docs);
        let parsed: Vec<GetStreamingEventsResponse> = got
            .iter()
            .map(|d| match Envelope::parse(d).unwrap().body {
                Body::GetStreamingEventsResponse(r) => r,
                other => panic!("unexpected body {}", other.element_name()),
            })
            .collect();
        assert_eq!(parsed[0].messages[0].connection_status, Some(ConnectionStatus::OK));
        assert_eq!(parsed[1].notifications().count(), 2);
        assert_eq!(parsed[1].notifications().map(|n| n.events.len()).sum::<usize>(), 4);
        let id = parsed[1].messages[0].notifications[0].events[2].change().unwrap().object.item_id().unwrap();
        assert_eq!(id.id.as_str(), "AAMk-2-é日本🗓");
        assert_eq!(parsed[2].messages[0].status.message_text.as_deref(), Some("</s:Envelope> ]] ]> ]]"));
        assert_eq!(parsed[3].messages[0].wire_form, WireForm::Exchange);
        assert_eq!(parsed[3].notifications().next().unwrap().subscription_id.as_str(), "Jg-3");
        assert!(!parsed[4].is_closed());
        assert!(parsed[5].is_closed());
    }

    #[test]
    fn every_two_chunk_split() {
        let (docs, body) = stream();
        for cut in 0..=body.len() {
            assert_eq!(feed(&body, &[cut]).unwrap(), docs, "cut at byte {cut}");
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let (docs, body) = stream();
        let cuts: Vec<usize> = (1..body.len()).collect();
        assert_eq!(feed(&body, &cuts).unwrap(), docs);
    }

    proptest! {
        #[test]
        fn random_chunks(mut cuts in proptest::collection::vec(0usize..1_000_000, 0..40)) {
            let (docs, body) = stream();
            for c in cuts.iter_mut() {
                *c %= body.len() + 1;
            }
            cuts.sort_unstable();
            prop_assert_eq!(feed(&body, &cuts).unwrap(), docs);
        }
    }

    #[test]
    fn large_document_fed_byte_by_byte_is_linear() {
        // 200 subscriptions with 50 events each (the most one connection delivers): about
        // 2 MB. A splitter that rescanned its buffer on every push would need ~10^12 steps.
        let notes: Vec<Notification> = (0..200).map(|k| notification(&format!("id-{k}"), 50)).collect();
        let doc = stream_envelope(GetStreamingEventsResponseMessage::with_notifications(notes)).into_bytes();
        assert!(doc.len() > 1_000_000);
        let mut s = EnvelopeSplitter::new();
        let mut got = Vec::new();
        for b in doc.chunks(1) {
            got.extend(s.push(b).unwrap());
        }
        s.finish().unwrap();
        assert_eq!(got, vec![doc]);
    }

    #[test]
    fn size_limit_is_an_error_and_sticks() {
        let (_, body) = stream();
        let mut s = EnvelopeSplitter::with_max_document_bytes(300);
        let mut err = None;
        for chunk in body.chunks(7) {
            if let Err(e) = s.push(chunk) {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("the limit must trigger").to_string();
        assert!(err.contains("exceeds the limit of 300 bytes"), "{err}");
        assert!(s.push(b" ").unwrap_err().to_string().contains("exceeds"));
        assert!(s.finish().is_err());
        assert!(s.pending_bytes() <= 300);
        // The same limit inside one big chunk.
        assert!(EnvelopeSplitter::with_max_document_bytes(100).push(&body).is_err());
    }

    #[test]
    fn not_well_formed_doc_samples_are_errors() {
        // `</soap:Body>` closes the `s:Envelope` and `</s:Envelope>` is missing.
        let b = sample("GetStreamingEvents-Notifications.response.xml");
        assert!(Envelope::parse(&b).is_err());
        let mut s = EnvelopeSplitter::new();
        assert!(s.push(&b).unwrap().is_empty());
        let e = s.finish().unwrap_err().to_string();
        assert!(e.contains("stream ended inside a document"), "{e}");

        // `</m:GetStreamingEventsResponseMessage>` is missing.
        let b = sample("GetStreamingEvents-Error-InvalidSubscription-Closed.response.xml");
        assert!(Envelope::parse(&b).is_err());
        assert!(EnvelopeSplitter::split_all(&b).is_err());

        // A bare `soap:Header` followed by a `soap:Body`: two roots, neither an envelope.
        let b = sample("GetStreamingEvents-Notifications.fragment.response.xml");
        let e = Envelope::parse(&b).unwrap_err().to_string();
        assert!(e.contains("content after the root element"), "{e}");
        let docs = EnvelopeSplitter::split_all(&b).unwrap();
        assert_eq!(docs.len(), 2);
        for d in &docs {
            let e = Envelope::parse(d).unwrap_err().to_string();
            assert!(e.contains("expected soap:Envelope"), "{e}");
        }
    }

    #[test]
    fn rejects_what_no_stream_contains() {
        let cases: &[(&[u8], &str)] = &[
            (b"<!DOCTYPE a [<!ENTITY x 'y'>]><a/>", "document type declarations"),
            (b"garbage<a/>", "text outside the root element"),
            (b"</a>", "end tag without a start tag"),
            (b"< a/>", "malformed markup"),
            (b"<a><!-x--></a>", "malformed comment"),
            (b"<a><![CDATX[x]]></a>", "malformed comment or CDATA"),
        ];
        for (input, expected) in cases {
            let e = EnvelopeSplitter::split_all(input).unwrap_err().to_string();
            assert!(e.contains(expected), "{:?}: {e}", String::from_utf8_lossy(input));
            assert!(e.contains("stream byte"), "{e}");
        }
        // Misc after the last document is ignored; a cut-off one is not.
        assert_eq!(EnvelopeSplitter::split_all(b"<a/>\n<!-- bye -->\n").unwrap(), vec![b"<a/>".to_vec()]);
        assert!(EnvelopeSplitter::split_all(b"<a/><b>").is_err());
        assert!(EnvelopeSplitter::split_all(b"<a/><b x='>").is_err());
        let mut s = EnvelopeSplitter::new();
        assert!(s.is_idle());
        s.push(b"<a>").unwrap();
        assert!(!s.is_idle());
        assert_eq!(s.pending_bytes(), 3);
    }

    #[test]
    fn watermarks_survive_the_stream() {
        let mut n = notification("w", 1);
        n.previous_watermark = Some(Watermark::new("AAAAAMAGAAAAAAAAAQ=="));
        let doc = stream_envelope(GetStreamingEventsResponseMessage::with_notifications(vec![n.clone()]));
        let docs = EnvelopeSplitter::split_all(doc.as_bytes()).unwrap();
        let env = Envelope::parse(&docs[0]).unwrap();
        let Body::GetStreamingEventsResponse(r) = env.body else { panic!() };
        assert_eq!(r.messages[0].notifications[0], n);
    }
}
