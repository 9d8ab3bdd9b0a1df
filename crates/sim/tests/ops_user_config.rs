//! GetUserConfiguration, CreateUserConfiguration and UpdateUserConfiguration over HTTP: the
//! master category list of a mailbox created, read back, updated and kept per mailbox. Every
//! response document is validated against the EWS schema.

use ews_proto::ResponseCode;
use ews_proto::soap::{Body, Envelope};
use exbridge_sim::config::SimConfig;
use exbridge_sim::server::{self, RunningSim};

const SVC: &str = "svc@contoso.test";
const PASSWORD: &str = "secret";
const U1: &str = "user1@contoso.test";
const U2: &str = "user2@contoso.test";
const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";

async fn call(sim: &RunningSim, docs: &mut Vec<(String, String)>, label: &str, mailbox: &str, body: &str) -> Body {
    let xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{T}" xmlns:m="{M}">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header>
<soap:Body>{body}</soap:Body></soap:Envelope>"#
    );
    let text = reqwest::Client::new()
        .post(sim.ews_url())
        .basic_auth(SVC, Some(PASSWORD))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(xml)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    docs.push((label.to_string(), text.clone()));
    Envelope::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{label}: {e}\n{text}")).body
}

const NAME: &str = r#"<t:UserConfigurationName Name="CategoryList"><t:DistinguishedFolderId Id="calendar"/></t:UserConfigurationName>"#;

fn get() -> String {
    r#"<m:GetUserConfiguration><m:UserConfigurationName Name="CategoryList"><t:DistinguishedFolderId Id="calendar"/></m:UserConfigurationName><m:UserConfigurationProperties>Id XmlData</m:UserConfigurationProperties></m:GetUserConfiguration>"#.to_string()
}

fn write(op: &str, xml: &str) -> String {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(xml);
    format!(r#"<m:{op}><m:UserConfiguration>{NAME}<t:XmlData>{data}</t:XmlData></m:UserConfiguration></m:{op}>"#)
}

/// The status code and XML data of a GetUserConfiguration response.
fn read(body: Body) -> (ResponseCode, Option<String>, bool) {
    let Body::GetUserConfigurationResponse(r) = body else { panic!("not a GetUserConfigurationResponse: {body:?}") };
    let m = &r.messages[0];
    let c = m.configuration.as_ref();
    (
        m.status.code(),
        c.and_then(|c| c.xml_data.clone()).map(|d| String::from_utf8(d).unwrap()),
        c.is_some_and(|c| c.item_id.is_some()),
    )
}

fn status(body: Body) -> ResponseCode {
    match body {
        Body::CreateUserConfigurationResponse(r) => r.messages[0].status.code(),
        Body::UpdateUserConfigurationResponse(r) => r.messages[0].status.code(),
        other => panic!("not a user configuration write response: {other:?}"),
    }
}

#[tokio::test]
async fn category_list_create_read_update_per_mailbox() {
    let mut c = SimConfig::for_tests();
    c.service_user = SVC.into();
    c.service_password = PASSWORD.into();
    let sim = server::start(c).await.unwrap();
    let docs = &mut Vec::new();

    assert_eq!(read(call(&sim, docs, "get missing", U1, &get()).await), (ResponseCode::ErrorItemNotFound, None, false));
    let update_missing = call(&sim, docs, "update missing", U1, &write("UpdateUserConfiguration", "<x/>")).await;
    assert_eq!(status(update_missing), ResponseCode::ErrorItemNotFound);

    let v1 = r#"<?xml version="1.0"?><categories xmlns="CategoryList.xsd"><category name="Customer visit" color="4"/></categories>"#;
    let created = call(&sim, docs, "create", U1, &write("CreateUserConfiguration", v1)).await;
    assert_eq!(status(created), ResponseCode::NoError);
    assert_eq!(read(call(&sim, docs, "get created", U1, &get()).await), (ResponseCode::NoError, Some(v1.into()), true));
    let again = call(&sim, docs, "create again", U1, &write("CreateUserConfiguration", v1)).await;
    assert_eq!(status(again), ResponseCode::ErrorItemSave);

    let v2 = v1.replace("</categories>", r#"<category name="Internal" color="-1"/></categories>"#);
    let updated = call(&sim, docs, "update", U1, &write("UpdateUserConfiguration", &v2)).await;
    assert_eq!(status(updated), ResponseCode::NoError);
    assert_eq!(read(call(&sim, docs, "get updated", U1, &get()).await), (ResponseCode::NoError, Some(v2), true));

    // Another mailbox has its own (none).
    assert_eq!(read(call(&sim, docs, "other mailbox", U2, &get()).await).0, ResponseCode::ErrorItemNotFound);
    // Only what was asked for comes back.
    let id_only = get().replace("Id XmlData", "Id");
    assert_eq!(read(call(&sim, docs, "id only", U1, &id_only).await), (ResponseCode::NoError, None, true));

    ews_schema_check::assert_all_valid(docs);
    let stats = sim.stats();
    assert!(stats.requests.get("GetUserConfiguration").copied().unwrap_or(0) >= 5, "{:?}", stats.requests);
    sim.shutdown().await;
}
