//! Per-TCP-connection state: an id, the peer, NTLM state and a switch that closes the socket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::auth::ConnectionAuth;

/// Closes a TCP connection at once when flipped (the connection task drops the socket).
#[derive(Debug, Clone)]
pub struct KillSwitch(Arc<watch::Sender<bool>>);

impl Default for KillSwitch {
    fn default() -> Self {
        KillSwitch(Arc::new(watch::channel(false).0))
    }
}

impl KillSwitch {
    pub fn kill(&self) {
        self.0.send_replace(true);
    }

    pub fn is_killed(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`KillSwitch::kill`] was called.
    pub async fn killed(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`, so this only ends when flipped.
        let _ = rx.wait_for(|k| *k).await;
    }
}

/// What every request on one TCP connection shares (a request extension).
#[derive(Debug)]
pub struct ConnInfo {
    pub id: u64,
    pub peer: SocketAddr,
    pub tls: bool,
    pub auth: Mutex<ConnectionAuth>,
    pub kill: KillSwitch,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl ConnInfo {
    pub fn new(peer: SocketAddr, tls: bool) -> Arc<Self> {
        Arc::new(ConnInfo {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            peer,
            tls,
            auth: Mutex::new(ConnectionAuth::default()),
            kill: KillSwitch::default(),
        })
    }
}
