//! SOAP (`GetUserSettings`) and POX Autodiscover for the simulator's mailboxes.
//!
//! * Every mailbox gets ExternalEwsUrl/InternalEwsUrl = `ctx.base_url` + `/EWS/Exchange.asmx`,
//!   its display name, a `UserDN`, `CasVersion`, `EwsSupportedSchemas`, and a
//!   `GroupingInformation` derived from its address ([`grouping_information`]: one of
//!   [`GROUPS`] groups, stable across runs), so that affinity grouping can be tested.
//! * The redirect case: an address `local@redirect.<domain>` whose `local@<domain>` is a
//!   mailbox answers `RedirectAddress` (SOAP) / `redirectAddr` (POX) to that mailbox.
//! * An unknown address is `InvalidUser` (SOAP) / POX error 500.

use ews_proto::autodiscover::*;
use ews_proto::soap::{Body, Envelope, Fault};

use crate::server::RequestContext;
use crate::server::faults;
use crate::store::{Mailbox, Store};

/// The prefix of the redirect domain: `user@redirect.<domain>` → `user@<domain>`.
pub const REDIRECT_PREFIX: &str = "redirect.";

/// How many GroupingInformation groups mailboxes are spread over.
pub const GROUPS: u64 = 4;

const CAS_VERSION: &str = "15.01.2507.006";
const SUPPORTED_SCHEMAS: &str = "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2015, Exchange2016";

/// The stable GroupingInformation of an address (FNV-1a of the lowercase address, modulo
/// [`GROUPS`]).
pub fn grouping_information(smtp: &str, domain: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in smtp.to_ascii_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("EXSIMGRP{:02}.{}", h % GROUPS, domain)
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

enum Lookup {
    Found(std::sync::Arc<Mailbox>),
    Redirect(String),
    Unknown,
}

fn lookup(store: &Store, address: &str) -> Lookup {
    if let Ok(m) = store.mailbox(address) {
        return Lookup::Found(m);
    }
    if let Some((local, domain)) = address.trim().rsplit_once('@')
        && let Some(real) = domain.to_ascii_lowercase().strip_prefix(REDIRECT_PREFIX)
        && let Ok(m) = store.mailbox(&format!("{local}@{real}"))
    {
        return Lookup::Redirect(m.smtp().to_string());
    }
    Lookup::Unknown
}

fn ews_url(ctx: &RequestContext) -> String {
    format!("{}/EWS/Exchange.asmx", ctx.base_url.trim_end_matches('/'))
}

fn user_dn(m: &Mailbox) -> String {
    let local = m.smtp().to_string();
    let local = local.split('@').next().unwrap_or("");
    format!("/o=ExBridgeSim/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={local}")
}

fn deployment_id(m: &Mailbox) -> String {
    let n = m.number();
    format!("5e1d0000-0000-4000-8000-{n:012x}")
}

fn settings_for(ctx: &RequestContext, m: &Mailbox) -> Vec<(&'static str, String)> {
    let smtp = m.smtp().to_string();
    let domain = domain_of(&smtp).to_string();
    let url = ews_url(ctx);
    vec![
        (settings::USER_DISPLAY_NAME, m.display_name().to_string()),
        (settings::USER_DN, user_dn(m)),
        (settings::USER_DEPLOYMENT_ID, deployment_id(m)),
        (settings::CAS_VERSION, CAS_VERSION.to_string()),
        (settings::EWS_SUPPORTED_SCHEMAS, SUPPORTED_SCHEMAS.to_string()),
        (settings::INTERNAL_MAILBOX_SERVER, format!("exch01.{domain}")),
        (settings::EXTERNAL_MAILBOX_SERVER, format!("exch01.{domain}")),
        (
            settings::MAILBOX_DN,
            format!(
                "/o=ExBridgeSim/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=exch01.{domain}/cn=Microsoft Private MDB"
            ),
        ),
        (settings::ACTIVE_DIRECTORY_SERVER, format!("dc01.{domain}")),
        (settings::INTERNAL_EWS_URL, url.clone()),
        (settings::EXTERNAL_EWS_URL, url),
        (settings::GROUPING_INFORMATION, grouping_information(&smtp, &domain)),
    ]
}

fn user_response(store: &Store, ctx: &RequestContext, address: &str, requested: &[String]) -> UserResponse {
    match lookup(store, address) {
        Lookup::Found(m) => {
            let all = settings_for(ctx, &m);
            let mut settings = Vec::new();
            let mut errors = Vec::new();
            for name in requested {
                match all.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    Some((n, v)) => settings.push(UserSetting::string(*n, v.clone())),
                    None => errors.push(UserSettingError {
                        error_code: AutodiscoverErrorCode::InvalidSetting,
                        error_message: Some(format!("The requested setting, {name}, isn't supported by the client.")),
                        setting_name: Some(name.clone()),
                    }),
                }
            }
            UserResponse {
                error_code: AutodiscoverErrorCode::NoError,
                error_message: Some("No error.".into()),
                redirect_target: None,
                user_setting_errors: errors,
                user_settings: settings,
            }
        }
        Lookup::Redirect(target) => UserResponse::redirecting(&Redirect::Address(target)),
        Lookup::Unknown => UserResponse {
            error_code: AutodiscoverErrorCode::InvalidUser,
            error_message: Some(format!("Invalid user: '{address}'")),
            redirect_target: None,
            user_setting_errors: Vec::new(),
            user_settings: Vec::new(),
        },
    }
}

fn server_version() -> AutodiscoverServerVersionInfo {
    AutodiscoverServerVersionInfo {
        major_version: Some(15),
        minor_version: Some(1),
        major_build_number: Some(2507),
        minor_build_number: Some(6),
        version: Some("Exchange2015".into()),
    }
}

/// SOAP Autodiscover `GetUserSettings`.
pub fn soap(store: &Store, ctx: &RequestContext, request: Envelope) -> Result<Envelope, Fault> {
    let Body::GetUserSettingsRequest(r) = request.body else {
        return Err(faults::schema_validation(
            "the body of an Autodiscover request must be GetUserSettingsRequestMessage",
        ));
    };
    let message = if r.users.is_empty() {
        GetUserSettingsResponseMessage::error(AutodiscoverErrorCode::InvalidRequest, "No users were requested.")
    } else if r.requested_settings.is_empty() {
        GetUserSettingsResponseMessage::error(AutodiscoverErrorCode::InvalidRequest, "No settings were requested.")
    } else {
        GetUserSettingsResponseMessage {
            user_responses: r.users.iter().map(|u| user_response(store, ctx, u, &r.requested_settings)).collect(),
            ..Default::default()
        }
    };
    Ok(soap_response(message, server_version()))
}

/// POX Autodiscover (`/autodiscover/autodiscover.xml`); `None` for a request that is not a
/// POX request (the server answers it with its own error).
pub fn pox(store: &Store, ctx: &RequestContext, request: &[u8]) -> Option<String> {
    let req = PoxAutodiscoverRequest::parse(request).ok()?;
    let address = req.email_address.clone().unwrap_or_default();
    let response = match lookup(store, &address) {
        Lookup::Redirect(target) => PoxAutodiscoverResponse::redirecting(&Redirect::Address(target)),
        Lookup::Unknown => PoxAutodiscoverResponse {
            error: Some(PoxError {
                time: Some(jiff::Timestamp::now().strftime("%H:%M:%S%.7f").to_string()),
                id: Some("2712127367".into()),
                error_code: Some(500),
                message: Some("The email address can't be found.".into()),
                debug_data: Some(String::new()),
            }),
            ..Default::default()
        },
        Lookup::Found(m) => {
            let smtp = m.smtp().to_string();
            let domain = domain_of(&smtp).to_string();
            let url = ews_url(ctx);
            let protocol = |kind: PoxProtocolType, server: String| PoxProtocol {
                protocol_type: Some(kind),
                server: Some(server),
                server_version: Some("73C18880".into()),
                as_url: Some(url.clone()),
                ews_url: Some(url.clone()),
                oof_url: Some(url.clone()),
                ssl: Some(if url.starts_with("https") { "On" } else { "Off" }.into()),
                auth_package: Some(if kind == PoxProtocolType::Exch { "Ntlm" } else { "Basic" }.into()),
                ..Default::default()
            };
            PoxAutodiscoverResponse {
                user: Some(PoxUser {
                    display_name: Some(m.display_name().to_string()),
                    legacy_dn: Some(user_dn(&m)),
                    auto_discover_smtp_address: Some(smtp.clone()),
                    deployment_id: Some(deployment_id(&m)),
                    other: Vec::new(),
                }),
                account: Some(PoxAccount {
                    account_type: Some("email".into()),
                    action: Some(PoxAction::Settings),
                    microsoft_online: Some("False".into()),
                    redirect_addr: None,
                    redirect_url: None,
                    protocols: vec![
                        protocol(PoxProtocolType::Exch, format!("{}@{domain}", deployment_id(&m))),
                        protocol(PoxProtocolType::Expr, format!("exch01.{domain}")),
                    ],
                    other: Vec::new(),
                }),
                ..Default::default()
            }
        }
    };
    Some(response.to_xml_string())
}
