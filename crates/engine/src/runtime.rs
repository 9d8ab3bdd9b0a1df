//! The running engine.
//!
//! STUB: the signatures are the interface the binary codes against; the bodies come next.

use std::sync::Arc;

use exbridge_config::Config;
use exbridge_store::Store;

use crate::api::EngineError;
use crate::context::Context;

/// The running engine. Implements [`crate::api::Connector`].
pub struct Engine {
    ctx: Context,
}

impl Engine {
    /// Builds the [`Context`] from the configuration (one EWS client per `[[exchange]]`,
    /// Autodiscover when there is no `ews_url`) and starts the engine: directory load/refresh,
    /// mailbox resolution, initial syncs, streaming, reconcile, presence and OOF polling.
    pub async fn start(config: &Config, store: Arc<dyn Store>) -> Result<Arc<Engine>, EngineError> {
        let _ = (config, store);
        todo!("Engine::start")
    }

    /// Starts the engine on a ready context (tests).
    pub async fn start_with(ctx: Context) -> Result<Arc<Engine>, EngineError> {
        let _ = ctx;
        todo!("Engine::start_with")
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Stops every task, letting running syncs finish their store transaction; ends streaming
    /// connections. The store stays open (the caller closes it after the server stopped).
    pub async fn shutdown(&self) {
        todo!("Engine::shutdown")
    }
}
