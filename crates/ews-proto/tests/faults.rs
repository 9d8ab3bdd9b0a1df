//! SOAP faults as the simulator sends them: schema-valid, and the back-off hint survives a
//! round trip.

use ews_proto::ResponseCode;
use ews_proto::soap::{Envelope, Fault, Header, ServerVersionInfo};

#[test]
fn server_busy_fault_validates_and_carries_the_back_off() {
    let header = Header { server_version_info: Some(ServerVersionInfo::exchange2016()), ..Header::default() };
    let busy = Envelope::new(
        header.clone(),
        Fault::ews(ResponseCode::ErrorServerBusy, "The server cannot service this request right now.", Some(1500)),
    );
    let schema = Envelope::new(
        header,
        Fault::ews(ResponseCode::ErrorSchemaValidation, "The request failed schema validation.", None),
    );
    let docs: Vec<(String, String)> =
        [("busy", &busy), ("schema", &schema)].iter().map(|(n, e)| (n.to_string(), e.to_xml_string())).collect();
    ews_schema_check::assert_all_valid(&docs);

    let back = Envelope::parse(docs[0].1.as_bytes()).unwrap();
    assert_eq!(back, busy);
    let ews_proto::Body::Fault(f) = back.body else { panic!("not a fault") };
    assert_eq!(f.response_code(), ResponseCode::ErrorServerBusy);
    assert_eq!(f.back_off(), Some(std::time::Duration::from_millis(1500)));
}

#[test]
fn the_real_server_busy_sample_gives_its_back_off() {
    let bytes =
        std::fs::read(ews_schema_check::samples_dir().join("Error-ServerBusy-BackOffMilliseconds-Fault.response.xml"))
            .unwrap();
    let env = Envelope::parse(&bytes).unwrap();
    let ews_proto::Body::Fault(f) = env.body else { panic!("not a fault") };
    assert_eq!(f.response_code(), ResponseCode::ErrorServerBusy);
    assert_eq!(f.back_off(), Some(std::time::Duration::from_millis(297_749)));
}
