//! Subscribe, Unsubscribe, GetStreamingEvents and Autodiscover as test operations on the
//! simulator's server (auth, impersonation, streaming plumbing, faults, `/sim/stats`), until
//! the simulator implements them itself (branch `simops`).
//!
//! A change is made with [`NotifyOps::change`]: it becomes a notification on the streaming
//! connection that carries the mailbox's subscription, or waits in the subscription's queue
//! until a connection carries it (as Exchange queues events between connections).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ews_proto::autodiscover::{
    AutodiscoverServerVersionInfo, GetUserSettingsResponseMessage, UserResponse, settings, soap_response,
};
use ews_proto::ops::{
    ChangedObject, Event, GetStreamingEvents, GetStreamingEventsResponseMessage, Notification, ObjectChangedEvent,
    StoreFolderId, Subscribe, SubscribeResponse, SubscribeResponseMessage, UnsubscribeResponse, WireForm,
};
use ews_proto::response::StatusMessage;
use ews_proto::soap::{Body, Envelope, Fault, Header};
use ews_proto::values::DateTime;
use ews_proto::{FolderId, ItemId, ResponseCode, ResponseStatus, SubscriptionId, Watermark};
use exbridge_sim::server::streaming::{BoxFuture, ChannelSource, StreamPlan};
use exbridge_sim::server::{EwsOperations, RequestContext, StreamOpen};

#[derive(Debug)]
struct Sub {
    mailbox: String,
    folder: String,
    valid: bool,
    queue: Vec<Bytes>,
    stream: Option<tokio::sync::mpsc::Sender<Bytes>>,
}

/// What a request looked like, for affinity checks.
#[derive(Debug, Clone)]
pub struct SeenSubscribe {
    pub mailbox: String,
    pub anchor: Option<String>,
}

#[derive(Default)]
pub struct NotifyOps {
    subs: Mutex<HashMap<String, Sub>>,
    next: Mutex<u64>,
    /// Subscribe of these mailboxes fails with this code.
    pub fail: Mutex<HashMap<String, ResponseCode>>,
    /// Subscribe of these mailboxes fails with this code the next n times.
    pub fail_times: Mutex<HashMap<String, (ResponseCode, u32)>>,
    pub subscribes: Mutex<Vec<SeenSubscribe>>,
    pub unsubscribes: Mutex<Vec<String>>,
    /// Anchors (impersonated mailboxes) of the GetStreamingEvents requests.
    pub stream_anchors: Mutex<Vec<String>>,
    /// Grouping information per mailbox for Autodiscover answers.
    pub grouping: Mutex<HashMap<String, String>>,
}

fn folder_name(s: &Subscribe) -> String {
    match s.scope().folder_ids.as_ref().and_then(|f| f.first()) {
        Some(FolderId::Distinguished(d)) => d.id.to_string().to_ascii_lowercase(),
        Some(FolderId::Id { id, .. }) => id.to_string(),
        None => "all".into(),
    }
}

impl NotifyOps {
    pub fn new() -> Arc<NotifyOps> {
        Arc::new(NotifyOps::default())
    }

    /// Starts the simulator with `mailboxes` empty mailboxes (`user1@…` …) and these operations.
    pub async fn start(self: &Arc<Self>, cfg: exbridge_sim::SimConfig, mailboxes: u32) -> exbridge_sim::RunningSim {
        let seed = exbridge_sim::SeedConfig {
            tasks_per_mailbox: 0,
            ..exbridge_sim::SeedConfig::new(1, mailboxes, 0, cfg.domain.clone())
        };
        let store =
            tokio::task::spawn_blocking(move || exbridge_sim::seed::seeded_store(&seed)).await.unwrap().unwrap();
        exbridge_sim::server::start_with(cfg, Arc::new(store), self.clone()).await.unwrap()
    }

    /// Valid subscriptions now.
    pub fn active(&self) -> usize {
        self.subs.lock().unwrap().values().filter(|s| s.valid).count()
    }

    /// Marks every subscription invalid (as a server restart would).
    pub fn invalidate_all(&self) {
        for s in self.subs.lock().unwrap().values_mut() {
            s.valid = false;
        }
    }

    /// A change of `item` in `mailbox`'s `folder` ("calendar"): queued or sent at once.
    /// Returns false when the mailbox has no valid subscription for the folder.
    pub fn change(&self, mailbox: &str, folder: &str, item: &str, kind: &str) -> bool {
        let mut subs = self.subs.lock().unwrap();
        let Some((id, sub)) =
            subs.iter_mut().find(|(_, s)| s.valid && s.mailbox.eq_ignore_ascii_case(mailbox) && s.folder == folder)
        else {
            return false;
        };
        let change = ObjectChangedEvent {
            watermark: Some(Watermark::new(format!("wm-{item}"))),
            time_stamp: DateTime::utc(jiff::Timestamp::now()),
            object: ChangedObject::Item(ItemId::new(item, Some("ck1"))),
            parent_folder_id: StoreFolderId::new(format!("{folder}-of-{mailbox}"), None),
        };
        let event = match kind {
            "created" => Event::Created(change),
            "deleted" => Event::Deleted(change),
            _ => Event::Modified(ews_proto::ops::ModifiedEvent { change, unread_count: None }),
        };
        let n = Notification {
            subscription_id: SubscriptionId::new(id.clone()),
            previous_watermark: None,
            more_events: None,
            events: vec![event],
        };
        let msg = GetStreamingEventsResponseMessage {
            wire_form: WireForm::Exchange,
            ..GetStreamingEventsResponseMessage::with_notifications(vec![n])
        };
        let header = Header {
            server_version_info: Some(ews_proto::soap::ServerVersionInfo::exchange2016()),
            ..Header::default()
        };
        let bytes = Bytes::from(Envelope::new(header, Body::from(msg)).to_xml_string());
        match &sub.stream {
            Some(tx) if tx.try_send(bytes.clone()).is_ok() => {}
            _ => {
                sub.stream = None;
                sub.queue.push(bytes);
            }
        }
        true
    }
}

fn ok_status() -> ResponseStatus {
    ResponseStatus::success()
}

impl EwsOperations for NotifyOps {
    fn handle<'a>(&'a self, ctx: &'a RequestContext, body: Body) -> BoxFuture<'a, Result<Body, Fault>> {
        Box::pin(async move {
            match body {
                Body::Subscribe(s) => {
                    // Delegate access names the mailbox in the folder id.
                    let delegate = match s.scope().folder_ids.as_ref().and_then(|f| f.first()) {
                        Some(FolderId::Distinguished(d)) => d.mailbox.as_ref().and_then(|m| m.email_address.clone()),
                        _ => None,
                    };
                    let mbx = match delegate {
                        Some(addr) => {
                            exbridge_sim::auth::MailboxInfo { smtp: addr.to_ascii_lowercase(), display_name: addr }
                        }
                        None => match ctx.mailbox.clone() {
                            Some(m) => m,
                            None => return Err(Fault::ews(ResponseCode::ErrorNonExistentMailbox, "no mailbox", None)),
                        },
                    };
                    let mbx = &mbx;
                    self.subscribes
                        .lock()
                        .unwrap()
                        .push(SeenSubscribe { mailbox: mbx.smtp.clone(), anchor: ctx.anchor_mailbox.clone() });
                    let once = {
                        let mut f = self.fail_times.lock().unwrap();
                        match f.get_mut(&mbx.smtp.to_ascii_lowercase()) {
                            Some((code, n)) if *n > 0 => {
                                *n -= 1;
                                Some(code.clone())
                            }
                            _ => None,
                        }
                    };
                    if let Some(code) = once.as_ref().or(self.fail.lock().unwrap().get(&mbx.smtp.to_ascii_lowercase()))
                    {
                        let msg = SubscribeResponseMessage {
                            status: ResponseStatus::error(code.clone(), "refused by the test"),
                            subscription_id: None,
                            watermark: None,
                        };
                        return Ok(Body::SubscribeResponse(SubscribeResponse { messages: vec![msg] }));
                    }
                    let id = {
                        let mut n = self.next.lock().unwrap();
                        *n += 1;
                        format!("sub-{}-{}", *n, mbx.smtp)
                    };
                    self.subs.lock().unwrap().insert(
                        id.clone(),
                        Sub {
                            mailbox: mbx.smtp.clone(),
                            folder: folder_name(&s),
                            valid: true,
                            queue: Vec::new(),
                            stream: None,
                        },
                    );
                    let msg = SubscribeResponseMessage {
                        status: ok_status(),
                        subscription_id: Some(SubscriptionId::new(id)),
                        watermark: None,
                    };
                    Ok(Body::SubscribeResponse(SubscribeResponse { messages: vec![msg] }))
                }
                Body::Unsubscribe(u) => {
                    self.unsubscribes.lock().unwrap().push(u.subscription_id.to_string());
                    let found = self.subs.lock().unwrap().remove(u.subscription_id.as_str()).is_some();
                    let status = if found {
                        ok_status()
                    } else {
                        ResponseStatus::error(ResponseCode::ErrorSubscriptionNotFound, "not found")
                    };
                    Ok(Body::UnsubscribeResponse(UnsubscribeResponse { messages: vec![StatusMessage { status }] }))
                }
                other => Err(Fault::ews(
                    ResponseCode::ErrorInvalidOperation,
                    &format!("test ops: {} not implemented", other.element_name()),
                    None,
                )),
            }
        })
    }

    fn open_stream<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: GetStreamingEvents,
    ) -> BoxFuture<'a, Result<StreamOpen, Fault>> {
        Box::pin(async move {
            if let Some(m) = &ctx.mailbox {
                self.stream_anchors.lock().unwrap().push(m.smtp.clone());
            }
            let mut subs = self.subs.lock().unwrap();
            let bad: Vec<SubscriptionId> = request
                .subscription_ids
                .iter()
                .filter(|id| !subs.get(id.as_str()).is_some_and(|s| s.valid))
                .cloned()
                .collect();
            if !bad.is_empty() {
                let msg = GetStreamingEventsResponseMessage {
                    status: ResponseStatus::error(ResponseCode::ErrorInvalidSubscription, "Subscription is invalid."),
                    error_subscription_ids: bad,
                    connection_status: Some(ews_proto::ops::ConnectionStatus::Closed),
                    wire_form: WireForm::Exchange,
                    ..GetStreamingEventsResponseMessage::default()
                };
                return Ok(StreamOpen::Respond(Box::new(Body::from(msg))));
            }
            let (tx, rx) = tokio::sync::mpsc::channel(1024);
            for id in &request.subscription_ids {
                if let Some(s) = subs.get_mut(id.as_str()) {
                    for b in s.queue.drain(..) {
                        let _ = tx.try_send(b);
                    }
                    s.stream = Some(tx.clone());
                }
            }
            Ok(StreamOpen::Stream(StreamPlan {
                subscription_ids: request.subscription_ids.clone(),
                connection_timeout_minutes: request.connection_timeout.max(1),
                source: Box::new(ChannelSource(rx)),
            }))
        })
    }

    fn autodiscover_soap<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: Envelope,
    ) -> BoxFuture<'a, Result<Envelope, Fault>> {
        Box::pin(async move {
            let Body::GetUserSettingsRequest(req) = request.body else {
                return Err(Fault::ews(ResponseCode::ErrorInvalidRequest, "not GetUserSettings", None));
            };
            let ews = format!("{}/EWS/Exchange.asmx", ctx.base_url);
            let grouping = self.grouping.lock().unwrap().clone();
            let users = req
                .users
                .iter()
                .map(|u| {
                    let g = grouping.get(&u.to_ascii_lowercase()).cloned().unwrap_or_else(|| "GROUP-A".into());
                    UserResponse::with_settings([
                        (settings::EXTERNAL_EWS_URL, ews.as_str()),
                        (settings::GROUPING_INFORMATION, g.as_str()),
                        (settings::USER_DISPLAY_NAME, u.as_str()),
                        (settings::CAS_VERSION, "15.01.2507.006"),
                    ])
                })
                .collect();
            let msg = GetUserSettingsResponseMessage { user_responses: users, ..Default::default() };
            Ok(soap_response(msg, AutodiscoverServerVersionInfo::default()))
        })
    }
}
