//! Online-meeting join links in an event's location and body.
//!
//! [`JoinDetector::detect`] looks for the URL of a Teams, Zoom, Webex, Google Meet, GoToMeeting
//! or Jitsi meeting in the location, then in the body (plain text or HTML), and returns the first
//! one as a [`JoinLink`]. Only the URL shapes that open a meeting count: ordinary pages on the
//! same hosts (`zoom.us/download`, a Teams channel link, `meet.google.com` alone, …) do not.
//!
//! ## Rules
//!
//! * **Order.** The location is searched before the body; within a text the first meeting URL
//!   (in document order) wins. Ordinary URLs before it are skipped.
//! * **HTML bodies.** Character references are decoded (`&amp;` → `&`, `&lt;`, `&#39;`, `&#x2F;`,
//!   …) before URLs are looked for, so `href` attribute values and URLs in the text are both
//!   seen, in document order.
//! * **URL ends.** A URL ends at white space, `<`, `>`, `"`, `'` or a backtick, and trailing
//!   `.`, `,`, `;`, `:`, `)`, `>`, `]`, `"`, `'` are not part of it. This covers Outlook's plain
//!   text rendering of Teams invitations, `Click here to join the meeting<https://…>`.
//! * **SafeLinks.** A `https://<region>.safelinks.protection.outlook.com/?url=<percent-encoded>&…`
//!   URL stands for its decoded `url` parameter, which is what is classified and returned.
//! * **Keywords.** When no meeting URL is found anywhere, the configured keywords (e.g.
//!   `("@webex", "webex")`) are looked for, case-insensitively, in the location and then the
//!   body (the text of an HTML body, tags removed). A keyword match yields the configured
//!   provider with the first `https://` URL of the *same* text as its URL, or no URL when that
//!   text has none ([`JoinLink::url`] is an `Option` for this case). A provider name that is one
//!   of the [`Provider::as_str`] names maps to that provider; any other name gives
//!   [`Provider::Other`] carrying the name.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// The online-meeting service of a [`JoinLink`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Provider {
    Teams,
    Zoom,
    Webex,
    GoogleMeet,
    GoToMeeting,
    Jitsi,
    /// A provider named in the keyword configuration that is none of the above.
    Other(String),
}

impl Provider {
    /// `"teams"`, `"zoom"`, `"webex"`, `"google_meet"`, `"gotomeeting"`, `"jitsi"`, or the
    /// configured name of an [`Provider::Other`].
    pub fn as_str(&self) -> &str {
        match self {
            Provider::Teams => "teams",
            Provider::Zoom => "zoom",
            Provider::Webex => "webex",
            Provider::GoogleMeet => "google_meet",
            Provider::GoToMeeting => "gotomeeting",
            Provider::Jitsi => "jitsi",
            Provider::Other(name) => name,
        }
    }

    /// The provider called `name` (one of the [`Provider::as_str`] names, compared
    /// case-insensitively), else [`Provider::Other`] with `name`.
    pub fn from_name(name: &str) -> Provider {
        match name.to_ascii_lowercase().as_str() {
            "teams" => Provider::Teams,
            "zoom" => Provider::Zoom,
            "webex" => Provider::Webex,
            "google_meet" => Provider::GoogleMeet,
            "gotomeeting" => Provider::GoToMeeting,
            "jitsi" => Provider::Jitsi,
            _ => Provider::Other(name.to_string()),
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A detected online meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    pub provider: Provider,
    /// The join URL. `None` only for a keyword match in a text without an `https://` URL.
    pub url: Option<String>,
}

/// Finds join links; built once from the keyword configuration, then used for many events.
#[derive(Debug, Clone, Default)]
pub struct JoinDetector {
    /// Lowercased keyword and its provider, in configuration order.
    keywords: Vec<(String, Provider)>,
}

/// A URL candidate in text: scheme, then everything up to a delimiter.
static URL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"(?i)\bhttps?://[^\s<>"'`]+"#).expect("URL regex"));

/// An `https://` URL, for keyword matches.
static HTTPS_URL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"(?i)\bhttps://[^\s<>"'`]+"#).expect("URL regex"));

/// A SafeLinks wrapper.
static SAFELINKS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^https?://([a-z0-9-]+\.)*safelinks\.protection\.outlook\.com/?\?").expect("SafeLinks regex")
});

/// An HTML tag or comment, for the text of an HTML body.
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->|<[^>]*>").expect("tag regex"));

/// The meeting URL shapes, anchored at the URL's start (so the host is the URL's host).
static SHAPES: LazyLock<Vec<(Provider, Regex)>> = LazyLock::new(|| {
    // Host labels before the provider's domain, e.g. `contoso.` in `contoso.zoom.us`.
    const SUB: &str = r"(?:[a-z0-9-]+\.)*";
    // The end of a path segment.
    const END: &str = r"(?:[/?#]|$)";
    let shapes = [
        (
            Provider::Teams,
            format!(
                r"^https?://teams\.microsoft\.com/(?:l/meetup-join/[^/?#]+|meet/\d+{END})|^https?://teams\.live\.com/meet/[^/?#]+"
            ),
        ),
        (Provider::Zoom, format!(r"^https?://{SUB}(?:zoom\.us|zoomgov\.com)/(?:j/\d+|w/\d+|my/[^/?#]+){END}")),
        (
            Provider::Webex,
            format!(
                r"^https?://{SUB}webex\.com/(?:meet/[^/?#]+|join/[^/?#]+|[a-z0-9_-]+/j\.php\?(?:[^#]*&)?MTID=|wbxmjs/joinservice/.)"
            ),
        ),
        (Provider::GoogleMeet, format!(r"^https?://meet\.google\.com/[a-z]{{3}}-[a-z]{{4}}-[a-z]{{3}}{END}")),
        (
            Provider::GoToMeeting,
            format!(
                r"^https?://{SUB}gotomeeting\.com/join/\d+{END}|^https?://meet\.goto\.com/\d+{END}|^https?://gotomeet\.me/[a-z0-9_-]+{END}"
            ),
        ),
        (Provider::Jitsi, r"^https?://meet\.jit\.si/[a-z0-9_.%-]+(?:[?#]|$)".to_string()),
    ];
    shapes
        .into_iter()
        .map(|(provider, pattern)| {
            let regex = Regex::new(&format!("(?i){pattern}")).expect("meeting URL regex");
            (provider, regex)
        })
        .collect()
});

impl JoinDetector {
    /// A detector with `(keyword, provider name)` pairs for texts that name a meeting without
    /// a recognisable URL, e.g. `("@webex", "webex")` or `("@meet", "google_meet")`. Empty
    /// keywords are ignored.
    pub fn new(keywords: &[(String, String)]) -> JoinDetector {
        let keywords = keywords
            .iter()
            .filter(|(keyword, _)| !keyword.is_empty())
            .map(|(keyword, name)| (keyword.to_lowercase(), Provider::from_name(name)))
            .collect();
        JoinDetector { keywords }
    }

    /// The join link of an event: the first meeting URL of the location, else of the body; else
    /// a keyword match (see the [module documentation](self)).
    pub fn detect(&self, location: Option<&str>, body: Option<&str>, body_is_html: bool) -> Option<JoinLink> {
        let location = location.filter(|s| !s.is_empty());
        let body = body.filter(|s| !s.is_empty());
        // The texts URLs are looked for in: an HTML body with its character references decoded.
        let body_urls: Option<Cow<'_, str>> =
            body.map(|b| if body_is_html { Cow::Owned(decode_entities(b)) } else { Cow::Borrowed(b) });

        let found = location.and_then(first_meeting_url).or_else(|| body_urls.as_deref().and_then(first_meeting_url));
        if found.is_some() {
            return found;
        }
        if self.keywords.is_empty() {
            return None;
        }
        if let Some(location) = location
            && let Some(provider) = self.keyword(location)
        {
            return Some(JoinLink { provider, url: first_https_url(location) });
        }
        let (body, body_urls) = (body?, body_urls?);
        let text =
            if body_is_html { Cow::Owned(decode_entities(&TAG.replace_all(body, " "))) } else { Cow::Borrowed(body) };
        let provider = self.keyword(&text)?;
        Some(JoinLink { provider, url: first_https_url(&body_urls) })
    }

    /// The provider of the first configured keyword found in `text`.
    fn keyword(&self, text: &str) -> Option<Provider> {
        let text = text.to_lowercase();
        self.keywords.iter().find(|(keyword, _)| text.contains(keyword.as_str())).map(|(_, p)| p.clone())
    }
}

/// The URLs of `text` in order, trailing punctuation removed and SafeLinks unwrapped.
fn urls<'a>(regex: &'a Regex, text: &'a str) -> impl Iterator<Item = String> + 'a {
    regex.find_iter(text).map(|m| trim_url(m.as_str())).filter(|u| !u.is_empty()).map(unwrap_safelinks)
}

fn first_meeting_url(text: &str) -> Option<JoinLink> {
    urls(&URL, text).find_map(|url| classify(&url).map(|provider| JoinLink { provider, url: Some(url) }))
}

fn first_https_url(text: &str) -> Option<String> {
    urls(&HTTPS_URL, text).next()
}

/// The provider whose meeting URL shape `url` has.
fn classify(url: &str) -> Option<Provider> {
    SHAPES.iter().find(|(_, regex)| regex.is_match(url)).map(|(provider, _)| provider.clone())
}

/// `url` without trailing `.,;:)>]"'`.
fn trim_url(url: &str) -> &str {
    url.trim_end_matches(['.', ',', ';', ':', ')', '>', ']', '"', '\''])
}

/// The target of a SafeLinks URL (its percent-decoded `url` query parameter), else `url`.
fn unwrap_safelinks(url: &str) -> String {
    if SAFELINKS.is_match(url) {
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=')
                && name.eq_ignore_ascii_case("url")
                && !value.is_empty()
            {
                let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                return trim_url(decoded.trim()).to_string();
            }
        }
    }
    url.to_string()
}

/// `html` with its character references decoded: the named ones that matter in URLs and
/// around them (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;`) and all numeric ones.
/// Anything else is kept as written. Each reference is decoded once (`&amp;lt;` is `&lt;`).
fn decode_entities(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest[1..]
            .find(';')
            .filter(|&end| end <= 10)
            .and_then(|end| decode_entity(&rest[1..1 + end]).map(|c| (c, end + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character of a reference's name (between `&` and `;`).
fn decode_entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAMS: &str = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjA1YjE4ZmEtZmQ1Mi00%40thread.v2/0?context=%7b%22Tid%22%3a%22abcd1234%22%7d";
    const ZOOM: &str = "https://contoso.zoom.us/j/81234567890?pwd=QWxhZGRpbjpvcGVuIHNlc2FtZQ";
    const WEBEX: &str = "https://contoso.webex.com/meet/jdoe";
    const MEET: &str = "https://meet.google.com/abc-defg-hij";
    const GOTO: &str = "https://global.gotomeeting.com/join/123456789";
    const JITSI: &str = "https://meet.jit.si/QuarterlyPlanningContoso";

    fn all() -> Vec<(Provider, &'static str)> {
        vec![
            (Provider::Teams, TEAMS),
            (Provider::Zoom, ZOOM),
            (Provider::Webex, WEBEX),
            (Provider::GoogleMeet, MEET),
            (Provider::GoToMeeting, GOTO),
            (Provider::Jitsi, JITSI),
        ]
    }

    fn link(provider: Provider, url: &str) -> Option<JoinLink> {
        Some(JoinLink { provider, url: Some(url.to_string()) })
    }

    fn detect(location: Option<&str>, body: Option<&str>, html: bool) -> Option<JoinLink> {
        JoinDetector::default().detect(location, body, html)
    }

    /// Escapes `&` as an HTML writer does in attribute values and text.
    fn html_escape(s: &str) -> String {
        s.replace('&', "&amp;")
    }

    #[test]
    fn provider_names() {
        let providers = all();
        let names: Vec<&str> = providers.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["teams", "zoom", "webex", "google_meet", "gotomeeting", "jitsi"]);
        for (p, _) in all() {
            assert_eq!(Provider::from_name(p.as_str()), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Provider::from_name("Skype"), Provider::Other("Skype".into()));
        assert_eq!(Provider::Other("bluejeans".into()).as_str(), "bluejeans");
    }

    #[test]
    fn every_provider_in_the_location() {
        for (provider, url) in all() {
            assert_eq!(detect(Some(url), None, false), link(provider.clone(), url), "{url}");
            let text = format!("Online: {url}");
            assert_eq!(detect(Some(&text), Some("Agenda"), false), link(provider, url), "{url}");
        }
    }

    #[test]
    fn every_provider_in_a_plain_text_body() {
        for (provider, url) in all() {
            let body = format!("Hello,\n\nplease join here:\n{url}\n\nThanks");
            assert_eq!(detect(Some("Room 2.14"), Some(&body), false), link(provider, url), "{url}");
        }
    }

    #[test]
    fn every_provider_in_an_html_body() {
        for (provider, url) in all() {
            let body = format!(
                "<html><body><p>Agenda</p><p><a href=\"{}\" target=\"_blank\">Join the meeting now</a></p></body></html>",
                html_escape(url)
            );
            assert_eq!(detect(Some("Board room"), Some(&body), true), link(provider.clone(), url), "{url}");
            // The URL only in the text, escaped.
            let body = format!("<div>Join: <span>{}</span></div>", html_escape(url));
            assert_eq!(detect(None, Some(&body), true), link(provider, url), "{url}");
        }
    }

    #[test]
    fn more_url_shapes() {
        let cases = [
            (Provider::Teams, "https://teams.live.com/meet/9876543210123?p=AbCdEf"),
            (Provider::Teams, "https://teams.microsoft.com/meet/2345678901234?p=x1y2z3"),
            (Provider::Zoom, "https://zoom.us/j/5551234567"),
            (Provider::Zoom, "https://us02web.zoom.us/w/81234567890?tk=abc"),
            (Provider::Zoom, "https://contoso.zoom.us/my/jane.doe"),
            (Provider::Zoom, "https://agency.zoomgov.com/j/1601234567"),
            (Provider::Webex, "https://contoso.webex.com/join/jdoe"),
            (Provider::Webex, "https://contoso.webex.com/contoso/j.php?MTID=m0123456789abcdef0123456789abcdef"),
            (Provider::Webex, "https://contoso.my.webex.com/wbxmjs/joinservice/sites/contoso/meeting/download/abc"),
            (Provider::GoToMeeting, "https://meet.goto.com/123456789"),
            (Provider::GoToMeeting, "https://gotomeet.me/JaneDoe"),
            (Provider::Jitsi, "https://meet.jit.si/Team-Sync_42"),
            (Provider::GoogleMeet, "https://meet.google.com/xyz-abcd-uvw?authuser=0"),
        ];
        for (provider, url) in cases {
            assert_eq!(detect(Some(url), None, false), link(provider, url), "{url}");
        }
    }

    #[test]
    fn ordinary_urls_are_not_meetings() {
        let urls = [
            "https://intranet.contoso.com/wiki/Quarterly-Planning",
            "https://docs.contoso.com/sites/projects/Shared%20Documents/agenda.docx",
            "https://teams.microsoft.com/l/channel/19%3a4f1d2c7e%40thread.tacv2/General?groupId=7c1e",
            "https://teams.microsoft.com/l/team/19%3a4f1d2c7e%40thread.tacv2/conversations?groupId=7c1e",
            "https://teams.microsoft.com/",
            "https://zoom.us/download",
            "https://zoom.us/pricing",
            "https://zoom.us/",
            "https://contoso.zoom.us/j/",
            "https://zoom.us/join",
            "https://www.webex.com/downloads.html",
            "https://www.webex.com/pricing/index.html",
            "https://contoso.webex.com/meet/",
            "https://meet.google.com",
            "https://meet.google.com/",
            "https://meet.google.com/landing",
            "https://meet.google.com/abcd-defg-hij",
            "https://www.google.com/search?q=zoom",
            "https://www.gotomeeting.com/pricing",
            "https://meet.goto.com/install",
            "https://meet.jit.si/",
            "https://jitsi.org/downloads/",
            "https://maps.example.com/?q=Contoso+Conference+Center",
            "https://github.com/contoso/roadmap/issues/42",
            "https://blog.example.com/zoom-vs-teams",
            "https://example.com/?next=https://zoom.us/j/123",
            "https://zoom.us.example.com/j/123",
            "https://notzoom.us/j/123",
            "https://example.com/teams.microsoft.com/l/meetup-join/19%3ameeting",
        ];
        for url in urls {
            assert_eq!(detect(Some(url), Some(url), false), None, "{url}");
            let html = format!("<a href=\"{url}\">{url}</a>");
            assert_eq!(detect(None, Some(&html), true), None, "{url}");
        }
        assert_eq!(detect(Some("Zoom"), Some("We will use zoom. Join Zoom Meeting (link follows)"), false), None);
        assert_eq!(detect(None, None, false), None);
        assert_eq!(detect(Some(""), Some(""), true), None);
    }

    #[test]
    fn ordinary_urls_before_the_meeting_url_are_skipped() {
        let body = format!("Docs: https://zoom.us/download and https://intranet.contoso.com/x\nJoin: {ZOOM}");
        assert_eq!(detect(None, Some(&body), false), link(Provider::Zoom, ZOOM));
    }

    /// The exact formats `crates/sim/src/seed.rs` generates (`join_link`, `meeting_text`,
    /// `PLAIN_URLS`).
    #[test]
    fn simulator_seed_formats() {
        let teams = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7s%40thread.v2/0?context=%7b%22Tid%22%3a%22Xy12Ab34%22%7d";
        let zoom = "https://contoso.zoom.us/j/48151623420?pwd=Zx9Yw8Vu7Ts6Rq5Po4Nm3L";
        let webex = "https://contoso.webex.com/meet/qwertyuiop";
        let plain = "https://teams.microsoft.com/l/channel/19%3a4f1d2c7e%40thread.tacv2/General?groupId=7c1e";

        // A link in the location with a plain-text agenda body (with and without documents).
        for url in [teams, zoom, webex] {
            let body = format!("Agenda for Roadmap:\n1. Status\n2. Open issues\n3. Next steps\n\nDocuments: {plain}");
            let expected = link(classify(url).unwrap(), url);
            assert_eq!(detect(Some(url), Some(&body), false), expected);
        }
        // Teams: HTML body with an optional documents paragraph.
        for location in ["Microsoft Teams Meeting", "Conference room Orion"] {
            for docs in [String::new(), format!("<p>Documents: <a href=\"{plain}\">{plain}</a></p>")] {
                let body = format!(
                    "<html><body><p>Agenda for Roadmap.</p>{docs}<hr><p>Microsoft Teams meeting</p><p><a href=\"{teams}\">Join the meeting now</a></p></body></html>"
                );
                assert_eq!(detect(Some(location), Some(&body), true), link(Provider::Teams, teams));
            }
        }
        // Zoom and Webex: plain-text bodies.
        for docs in ["", "\n\nDocuments: https://zoom.us/download"] {
            let body = format!("Join Zoom Meeting\n{zoom}{docs}");
            assert_eq!(detect(Some("Zoom"), Some(&body), false), link(Provider::Zoom, zoom));
            let body = format!("Join the Webex meeting: {webex}{docs}");
            assert_eq!(detect(Some("Webex"), Some(&body), false), link(Provider::Webex, webex));
        }
        // Items without a meeting: "Notes: <plain>" and "See <plain>".
        for plain in [
            "https://intranet.contoso.com/wiki/Quarterly-Planning",
            "https://docs.contoso.com/sites/projects/Shared%20Documents/agenda.docx",
            plain,
            "https://zoom.us/download",
            "https://www.webex.com/downloads.html",
            "https://maps.example.com/?q=Contoso+Conference+Center",
            "https://github.com/contoso/roadmap/issues/42",
        ] {
            assert_eq!(detect(Some("Room 1.01"), Some(&format!("Notes: {plain}")), false), None);
            assert_eq!(detect(None, Some(&format!("See {plain}")), false), None);
        }
    }

    #[test]
    fn outlook_plain_text_teams_invitation() {
        let body = format!(
            "________________________________________________________________________________\r\n\
             Microsoft Teams meeting\r\n\
             Join on your computer, mobile app or room device\r\n\
             Click here to join the meeting<{TEAMS}>\r\n\
             Meeting ID: 123 456 789 012\r\n\
             Learn More<https://aka.ms/JoinTeamsMeeting> | Meeting options<https://teams.microsoft.com/meetingOptions/?organizerId=1>\r\n"
        );
        assert_eq!(detect(Some("Microsoft Teams Meeting"), Some(&body), false), link(Provider::Teams, TEAMS));
        // The same, rendered in HTML with the angle brackets escaped.
        let html = format!("<p>Click here to join the meeting&lt;{}&gt;</p>", html_escape(TEAMS));
        assert_eq!(detect(None, Some(&html), true), link(Provider::Teams, TEAMS));
    }

    #[test]
    fn trailing_punctuation_is_not_part_of_the_url() {
        for (provider, url) in all() {
            for text in [
                format!("Join at {url}."),
                format!("Join at {url}, thanks"),
                format!("({url})"),
                format!("[{url}]"),
                format!("<{url}>"),
                format!("\"{url}\""),
                format!("'{url}'"),
                format!("{url};"),
                format!("{url}:"),
                format!("Link: {url}).\n"),
            ] {
                assert_eq!(detect(Some(&text), None, false), link(provider.clone(), url), "{text}");
            }
        }
    }

    #[test]
    fn safelinks_are_unwrapped() {
        let encoded: String =
            percent_encoding::utf8_percent_encode(ZOOM, percent_encoding::NON_ALPHANUMERIC).to_string();
        let wrapped = format!(
            "https://nam12.safelinks.protection.outlook.com/?url={encoded}&data=05%7C01%7Cjdoe%40contoso.com&sdata=abc%3D&reserved=0"
        );
        assert_eq!(detect(Some(&wrapped), None, false), link(Provider::Zoom, ZOOM));
        let html = format!("<a href=\"{}\" originalsrc=\"{ZOOM}\">Join</a>", html_escape(&wrapped));
        assert_eq!(detect(None, Some(&html), true), link(Provider::Zoom, ZOOM));

        // Teams URLs keep their own percent-encoding once unwrapped (double-encoded in the wrapper).
        let encoded: String =
            percent_encoding::utf8_percent_encode(TEAMS, percent_encoding::NON_ALPHANUMERIC).to_string();
        let wrapped = format!("https://eur01.safelinks.protection.outlook.com/?url={encoded}&data=x&reserved=0");
        let body = format!("Click here to join the meeting<{wrapped}>");
        assert_eq!(detect(None, Some(&body), false), link(Provider::Teams, TEAMS));

        // A wrapped ordinary URL is still ordinary.
        let wrapped = "https://nam12.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fdownload&data=x";
        assert_eq!(detect(Some(wrapped), None, false), None);
    }

    #[test]
    fn html_entities_in_hrefs() {
        let url = "https://contoso.webex.com/contoso/j.php?MTID=m0123456789abcdef&lang=en&x=1";
        let html = format!("<a href=\"{}\">Join Webex meeting</a>", html_escape(url));
        assert!(html.contains("&amp;lang"));
        assert_eq!(detect(None, Some(&html), true), link(Provider::Webex, url));
        // Numeric references and a single-quoted attribute.
        let html = "<a href='https:&#x2F;&#47;meet.google.com/abc-defg-hij'>Meet</a>";
        assert_eq!(detect(None, Some(html), true), link(Provider::GoogleMeet, MEET));
        // A plain-text body is not decoded.
        assert_eq!(decode_entities("a&amp;lt;b &unknown; & &#xZZ; &amp"), "a&lt;b &unknown; & &#xZZ; &amp");
    }

    #[test]
    fn case_and_white_space() {
        let url = "HTTPS://Contoso.Zoom.US/j/81234567890";
        assert_eq!(detect(Some(url), None, false), link(Provider::Zoom, url));
        // `&nbsp;` (and a raw no-break space) ends a URL.
        let html = format!("<p>Join:&nbsp;{MEET}&nbsp;(Google Meet)</p>");
        assert_eq!(detect(None, Some(&html), true), link(Provider::GoogleMeet, MEET));
        let text = format!("{JITSI}\u{a0}room");
        assert_eq!(detect(Some(&text), None, false), link(Provider::Jitsi, JITSI));
    }

    #[test]
    fn location_wins_over_body() {
        let body = format!("<a href=\"{TEAMS}\">Join</a>");
        assert_eq!(detect(Some(ZOOM), Some(&body), true), link(Provider::Zoom, ZOOM));
        assert_eq!(
            detect(Some(&format!("Rooms: {MEET} or {JITSI}")), Some(ZOOM), false),
            link(Provider::GoogleMeet, MEET)
        );
        // No meeting URL in the location: the body's.
        assert_eq!(detect(Some("https://intranet.contoso.com/rooms"), Some(&body), true), link(Provider::Teams, TEAMS));
        // The first meeting URL of a text wins.
        let body = format!("{WEBEX}\n{ZOOM}");
        assert_eq!(detect(None, Some(&body), false), link(Provider::Webex, WEBEX));
    }

    #[test]
    fn keywords() {
        let detector = JoinDetector::new(&[
            ("@webex".to_string(), "webex".to_string()),
            ("@meet".to_string(), "google_meet".to_string()),
            ("Skype:".to_string(), "skype".to_string()),
            (String::new(), "ignored".to_string()),
        ]);
        // Keyword without a URL: provider, no URL.
        assert_eq!(
            detector.detect(Some("@Webex Personal Room"), None, false),
            Some(JoinLink { provider: Provider::Webex, url: None })
        );
        // Keyword with an ordinary https URL in the same text: that URL.
        assert_eq!(
            detector.detect(Some("@meet https://intranet.contoso.com/meet/room7."), None, false),
            link(Provider::GoogleMeet, "https://intranet.contoso.com/meet/room7")
        );
        // An http URL is not taken.
        assert_eq!(
            detector.detect(Some("@meet http://intranet.contoso.com/room7"), None, false),
            Some(JoinLink { provider: Provider::GoogleMeet, url: None })
        );
        // In the body; a URL of the location is not used for a body keyword.
        assert_eq!(
            detector.detect(Some("Room 7"), Some("Dial in via skype: sip:jdoe@contoso.com"), false),
            Some(JoinLink { provider: Provider::Other("skype".into()), url: None })
        );
        // In an HTML body: the text is matched, the href is the URL.
        let html = "<p>Join <b>@webex</b>: <a href=\"https://portal.contoso.com/r?id=1&amp;k=2\">here</a></p>";
        assert_eq!(
            detector.detect(None, Some(html), true),
            link(Provider::Webex, "https://portal.contoso.com/r?id=1&k=2")
        );
        // Tags alone do not match a keyword.
        assert_eq!(detector.detect(None, Some("<x-meet class=\"skype:\"></x-meet>"), true), None);
        // The location's keyword wins over the body's.
        assert_eq!(
            detector.detect(Some("@meet"), Some("@webex"), false),
            Some(JoinLink { provider: Provider::GoogleMeet, url: None })
        );
        // A meeting URL anywhere wins over keywords.
        assert_eq!(detector.detect(Some("@webex"), Some(ZOOM), false), link(Provider::Zoom, ZOOM));
        // Without keywords, nothing.
        assert_eq!(JoinDetector::new(&[]).detect(Some("@webex"), None, false), None);
        assert_eq!(detector.detect(Some("Room 7"), Some("Agenda"), false), None);
    }
}
