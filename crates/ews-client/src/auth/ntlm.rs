//! NTLMv2 client messages from `sspi`: the negotiate (type 1) and authenticate (type 3)
//! tokens for one connection's handshake, with the TLS channel binding when there is one.

use secrecy::{ExposeSecret, SecretString};
use sspi::{
    AuthIdentity, AuthIdentityBuffers, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm,
    SecurityBuffer, SecurityStatus, Sspi, SspiImpl, Username,
};

/// One handshake (one connection). Not reusable.
pub(crate) struct NtlmHandshake {
    ntlm: Ntlm,
    credentials: Option<AuthIdentityBuffers>,
    target: String,
}

impl NtlmHandshake {
    /// `username` is `DOMAIN\user` or `user@domain` (UPN); `target` is the SPN
    /// (`HTTP/host`); `channel_binding` is the `tls-server-end-point` application data.
    pub fn new(
        username: &str,
        password: &SecretString,
        target: String,
        channel_binding: Option<&[u8]>,
    ) -> Result<Self, String> {
        let username = Username::parse(username).map_err(|e| format!("user name {username:?}: {e}"))?;
        let identity = AuthIdentity { username, password: password.expose_secret().to_string().into() };
        let mut ntlm = Ntlm::new();
        if let Some(cb) = channel_binding {
            ntlm.set_channel_bindings(cb);
        }
        let acquired = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&identity)
            .execute(&mut ntlm)
            .map_err(|e| format!("NTLM credentials: {e}"))?;
        Ok(NtlmHandshake { ntlm, credentials: acquired.credentials_handle, target })
    }

    /// The type 1 (negotiate) message.
    pub fn negotiate(&mut self) -> Result<Vec<u8>, String> {
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.credentials)
            .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target)
            .with_output(&mut output);
        let result = self
            .ntlm
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut g| g.resolve_to_result())
            .map_err(|e| format!("NTLM negotiate message: {e}"))?;
        if result.status != SecurityStatus::ContinueNeeded {
            return Err(format!("NTLM negotiate message: unexpected status {:?}", result.status));
        }
        Ok(std::mem::take(&mut output[0].buffer))
    }

    /// The type 3 (authenticate) message answering the server's type 2 (challenge).
    pub fn authenticate(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let mut input = vec![SecurityBuffer::new(challenge.to_vec(), BufferType::Token)];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut builder = self
            .ntlm
            .initialize_security_context()
            .with_credentials_handle(&mut self.credentials)
            .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target)
            .with_input(&mut input)
            .with_output(&mut output);
        let result = self
            .ntlm
            .initialize_security_context_impl(&mut builder)
            .and_then(|mut g| g.resolve_to_result())
            .map_err(|e| format!("NTLM challenge from the server could not be answered: {e}"))?;
        if matches!(result.status, SecurityStatus::CompleteNeeded | SecurityStatus::CompleteAndContinue) {
            self.ntlm.complete_auth_token(&mut output).map_err(|e| format!("NTLM authenticate message: {e}"))?;
        }
        Ok(std::mem::take(&mut output[0].buffer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_ntlmssp_signatures() {
        let mut h =
            NtlmHandshake::new("CONTOSO\\svc", &SecretString::from("pw"), "HTTP/mail.contoso.test".into(), None)
                .unwrap();
        let t1 = h.negotiate().unwrap();
        assert!(t1.starts_with(b"NTLMSSP\0\x01\0\0\0"), "{t1:?}");
    }
}
