//! The server side of NTLM (MS-NLMP), NTLMv2 only.
//!
//! NTLM authenticates a TCP connection, not a request: the client sends a NEGOTIATE message
//! (type 1), the server answers 401 with a CHALLENGE (type 2), the client proves knowledge of the
//! password in an AUTHENTICATE message (type 3) on the *same* connection. The caller keeps the
//! [`PendingChallenge`] in the connection's state between the two requests.
//!
//! Verification composes MD4, HMAC-MD5 and RC4 from RustCrypto crates as MS-NLMP 3.3.2 and
//! 3.2.5.1.2 describe: `ResponseKeyNT = HMAC_MD5(MD4(UTF16(password)), UTF16(UPPER(user) ‖ domain))`,
//! `NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge ‖ blob)`; when the client says it sent
//! a MIC, the MIC is checked too. LM, NTLMv1 and anonymous responses are refused.

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{Rc4, StreamCipher};

type HmacMd5 = Hmac<Md5>;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
pub const NEGOTIATE_OEM: u32 = 0x0000_0002;
pub const REQUEST_TARGET: u32 = 0x0000_0004;
pub const NEGOTIATE_SIGN: u32 = 0x0000_0010;
pub const NEGOTIATE_SEAL: u32 = 0x0000_0020;
pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;
pub const NEGOTIATE_128: u32 = 0x2000_0000;
pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
pub const NEGOTIATE_56: u32 = 0x8000_0000;

/// Flags the server answers with when the client asked for them.
const MIRRORED: u32 = NEGOTIATE_SIGN | NEGOTIATE_SEAL | NEGOTIATE_KEY_EXCH | NEGOTIATE_128 | NEGOTIATE_56;

const AV_EOL: u16 = 0;
const AV_NB_COMPUTER_NAME: u16 = 1;
const AV_NB_DOMAIN_NAME: u16 = 2;
const AV_DNS_COMPUTER_NAME: u16 = 3;
const AV_DNS_DOMAIN_NAME: u16 = 4;
const AV_DNS_TREE_NAME: u16 = 5;
const AV_FLAGS: u16 = 6;
const AV_TIMESTAMP: u16 = 7;
/// `MsvAvFlags` bit: the AUTHENTICATE message carries a MIC.
const AV_FLAG_MIC: u32 = 0x2;

/// Why an NTLM message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    #[error("malformed NTLM message: {0}")]
    Malformed(&'static str),
    #[error("expected an NTLM type {expected} message, got type {found}")]
    WrongType { expected: u32, found: u32 },
    #[error("LM, NTLMv1 and anonymous responses are not accepted (NT response of {0} bytes)")]
    NotV2(usize),
    #[error("the NTLMv2 proof does not match (wrong password, user or domain)")]
    BadProof,
    #[error("the message integrity code does not match")]
    BadMic,
}

/// The names the server announces in its challenge.
#[derive(Debug, Clone)]
pub struct ServerNames {
    /// NetBIOS domain name, e.g. `CONTOSO`.
    pub nb_domain: String,
    /// NetBIOS computer name, e.g. `EXCH01`.
    pub nb_computer: String,
    /// DNS domain, e.g. `contoso.test`.
    pub dns_domain: String,
    /// DNS name of the server, e.g. `exch01.contoso.test`.
    pub dns_computer: String,
}

impl ServerNames {
    /// Names derived from a mail domain: `contoso.test` → `CONTOSO`, `EXCH01`.
    pub fn for_domain(domain: &str) -> Self {
        let first = domain.split('.').next().unwrap_or(domain);
        let nb_domain: String = first.to_uppercase().chars().take(15).collect();
        ServerNames {
            nb_domain,
            nb_computer: "EXCH01".into(),
            dns_domain: domain.to_string(),
            dns_computer: format!("exch01.{domain}"),
        }
    }
}

/// What the server remembers between the CHALLENGE it sent and the AUTHENTICATE it expects.
#[derive(Debug, Clone)]
pub struct PendingChallenge {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    server_challenge: [u8; 8],
}

/// A parsed AUTHENTICATE message.
#[derive(Debug, Clone)]
pub struct Authenticate {
    pub user: String,
    pub domain: String,
    pub workstation: String,
    pub flags: u32,
    nt_response: Vec<u8>,
    encrypted_session_key: Vec<u8>,
    raw: Vec<u8>,
}

impl Authenticate {
    /// The login the client gave: `user@domain` (UPN) as is, `DOMAIN\user` otherwise.
    pub fn login(&self) -> String {
        if self.domain.is_empty() || self.user.contains('@') {
            self.user.clone()
        } else {
            format!("{}\\{}", self.domain, self.user)
        }
    }
}

/// The first message's type, for dispatch: 1, 2 or 3.
pub fn message_type(msg: &[u8]) -> Result<u32, NtlmError> {
    if msg.len() < 12 || &msg[..8] != SIGNATURE {
        return Err(NtlmError::Malformed("no NTLMSSP signature"));
    }
    Ok(u32_at(msg, 8))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a security buffer (`Len`, `MaxLen`, `Offset`) at `at` and returns its bytes.
fn field(msg: &[u8], at: usize) -> Result<&[u8], NtlmError> {
    if msg.len() < at + 8 {
        return Err(NtlmError::Malformed("truncated header"));
    }
    let len = usize::from(u16_at(msg, at));
    let offset = u32_at(msg, at + 4) as usize;
    if len == 0 {
        return Ok(&[]);
    }
    msg.get(offset..offset.checked_add(len).ok_or(NtlmError::Malformed("field overflows"))?)
        .ok_or(NtlmError::Malformed("field points outside the message"))
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn decode_string(bytes: &[u8], unicode: bool) -> Result<String, NtlmError> {
    if unicode {
        if !bytes.len().is_multiple_of(2) {
            return Err(NtlmError::Malformed("odd length of a UTF-16 string"));
        }
        let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16(&units).map_err(|_| NtlmError::Malformed("invalid UTF-16 string"))
    } else {
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

fn av_pair(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

/// Iterates the AV pairs of a target-info block (stops at `MsvAvEOL`).
fn av_pairs(mut b: &[u8]) -> Result<Vec<(u16, &[u8])>, NtlmError> {
    let mut out = Vec::new();
    loop {
        if b.len() < 4 {
            return Err(NtlmError::Malformed("AV pair list without MsvAvEOL"));
        }
        let id = u16_at(b, 0);
        let len = usize::from(u16_at(b, 2));
        if id == AV_EOL {
            return Ok(out);
        }
        let value = b.get(4..4 + len).ok_or(NtlmError::Malformed("truncated AV pair"))?;
        out.push((id, value));
        b = &b[4 + len..];
    }
}

/// Windows FILETIME of now: 100 ns units since 1601-01-01.
fn filetime_now() -> u64 {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (unix.as_secs() + 11_644_473_600) * 10_000_000 + u64::from(unix.subsec_nanos() / 100)
}

/// Answers a NEGOTIATE message with a CHALLENGE built around `server_challenge` (8 random
/// bytes from the caller). Returns the state to keep for the connection and the message to send.
pub fn challenge(
    names: &ServerNames,
    negotiate: &[u8],
    server_challenge: [u8; 8],
) -> Result<(PendingChallenge, Vec<u8>), NtlmError> {
    let ty = message_type(negotiate)?;
    if ty != 1 {
        return Err(NtlmError::WrongType { expected: 1, found: ty });
    }
    if negotiate.len() < 16 {
        return Err(NtlmError::Malformed("truncated NEGOTIATE message"));
    }
    let client_flags = u32_at(negotiate, 12);
    let unicode = client_flags & NEGOTIATE_UNICODE != 0;
    if !unicode && client_flags & NEGOTIATE_OEM == 0 {
        return Err(NtlmError::Malformed("neither Unicode nor OEM character set offered"));
    }
    let flags = NEGOTIATE_NTLM
        | REQUEST_TARGET
        | NEGOTIATE_ALWAYS_SIGN
        | TARGET_TYPE_DOMAIN
        | NEGOTIATE_EXTENDED_SESSIONSECURITY
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_VERSION
        | if unicode { NEGOTIATE_UNICODE } else { NEGOTIATE_OEM }
        | (client_flags & MIRRORED);

    let target_name = if unicode { utf16(&names.nb_domain) } else { names.nb_domain.as_bytes().to_vec() };
    let mut info = Vec::new();
    av_pair(&mut info, AV_NB_DOMAIN_NAME, &utf16(&names.nb_domain));
    av_pair(&mut info, AV_NB_COMPUTER_NAME, &utf16(&names.nb_computer));
    av_pair(&mut info, AV_DNS_DOMAIN_NAME, &utf16(&names.dns_domain));
    av_pair(&mut info, AV_DNS_COMPUTER_NAME, &utf16(&names.dns_computer));
    av_pair(&mut info, AV_DNS_TREE_NAME, &utf16(&names.dns_domain));
    av_pair(&mut info, AV_TIMESTAMP, &filetime_now().to_le_bytes());
    av_pair(&mut info, AV_EOL, &[]);

    const HEADER: usize = 56;
    let mut msg = Vec::with_capacity(HEADER + target_name.len() + info.len());
    msg.extend_from_slice(SIGNATURE);
    msg.extend_from_slice(&2u32.to_le_bytes());
    let name_offset = HEADER as u32;
    msg.extend_from_slice(&(target_name.len() as u16).to_le_bytes());
    msg.extend_from_slice(&(target_name.len() as u16).to_le_bytes());
    msg.extend_from_slice(&name_offset.to_le_bytes());
    msg.extend_from_slice(&flags.to_le_bytes());
    msg.extend_from_slice(&server_challenge);
    msg.extend_from_slice(&[0; 8]);
    let info_offset = name_offset + target_name.len() as u32;
    msg.extend_from_slice(&(info.len() as u16).to_le_bytes());
    msg.extend_from_slice(&(info.len() as u16).to_le_bytes());
    msg.extend_from_slice(&info_offset.to_le_bytes());
    // Version: Windows Server 2019 (10.0.17763), NTLMSSP_REVISION_W2K3.
    msg.extend_from_slice(&[10, 0]);
    msg.extend_from_slice(&17763u16.to_le_bytes());
    msg.extend_from_slice(&[0, 0, 0, 0x0f]);
    msg.extend_from_slice(&target_name);
    msg.extend_from_slice(&info);

    Ok((PendingChallenge { negotiate: negotiate.to_vec(), challenge: msg.clone(), server_challenge }, msg))
}

/// Parses an AUTHENTICATE message (without checking it).
pub fn parse_authenticate(msg: &[u8]) -> Result<Authenticate, NtlmError> {
    let ty = message_type(msg)?;
    if ty != 3 {
        return Err(NtlmError::WrongType { expected: 3, found: ty });
    }
    if msg.len() < 64 {
        return Err(NtlmError::Malformed("truncated AUTHENTICATE message"));
    }
    let flags = u32_at(msg, 60);
    let unicode = flags & NEGOTIATE_UNICODE != 0;
    let nt_response = field(msg, 20)?.to_vec();
    Ok(Authenticate {
        domain: decode_string(field(msg, 28)?, unicode)?,
        user: decode_string(field(msg, 36)?, unicode)?,
        workstation: decode_string(field(msg, 44)?, unicode)?,
        encrypted_session_key: field(msg, 52)?.to_vec(),
        flags,
        nt_response,
        raw: msg.to_vec(),
    })
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <HmacMd5 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `NTOWFv2` of MS-NLMP 3.3.2.
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash: [u8; 16] = Md4::digest(utf16(password)).into();
    hmac_md5(&nt_hash, &[&utf16(&(user.to_uppercase() + domain))])
}

/// Checks an AUTHENTICATE message against the challenge sent on this connection and the
/// password the server knows for the user.
pub fn verify(pending: &PendingChallenge, auth: &Authenticate, password: &str) -> Result<(), NtlmError> {
    let nt = &auth.nt_response;
    // 24 bytes is an NTLMv1 (or NTLM2 session) response; 0 is anonymous or LM only.
    if nt.len() < 16 + 28 {
        return Err(NtlmError::NotV2(nt.len()));
    }
    let (proof, blob) = nt.split_at(16);
    if blob[0] != 1 || blob[1] != 1 {
        return Err(NtlmError::NotV2(nt.len()));
    }
    let key = ntowf_v2(password, &auth.user, &auth.domain);
    let expected = hmac_md5(&key, &[&pending.server_challenge, blob]);
    if !constant_time_eq(&expected, proof) {
        return Err(NtlmError::BadProof);
    }

    // The client's copy of the target info follows the 28 fixed bytes of the blob.
    let client_info = av_pairs(&blob[28..])?;
    let mic_sent = client_info
        .iter()
        .find(|(id, v)| *id == AV_FLAGS && v.len() == 4)
        .is_some_and(|(_, v)| u32_at(v, 0) & AV_FLAG_MIC != 0);
    if mic_sent {
        let session_base_key = hmac_md5(&key, &[proof]);
        let mut exported = session_base_key;
        if auth.flags & NEGOTIATE_KEY_EXCH != 0 {
            if auth.encrypted_session_key.len() != 16 {
                return Err(NtlmError::Malformed("key exchange without a 16-byte session key"));
            }
            exported.copy_from_slice(&auth.encrypted_session_key);
            let mut rc4 = <Rc4 as KeyInit>::new_from_slice(&session_base_key).expect("RC4 takes 16-byte keys");
            rc4.apply_keystream(&mut exported);
        }
        // The MIC sits after the 8-byte version at offset 72.
        let mut raw = auth.raw.clone();
        let mic: [u8; 16] =
            raw.get(72..88).ok_or(NtlmError::Malformed("MIC announced but absent"))?.try_into().unwrap();
        raw[72..88].fill(0);
        let computed = hmac_md5(&exported, &[&pending.negotiate, &pending.challenge, &raw]);
        if !constant_time_eq(&computed, &mic) {
            return Err(NtlmError::BadMic);
        }
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MS-NLMP 4.2.4.1.1: NTOWFv2("Password", "User", "Domain").
    #[test]
    fn ntowf_v2_matches_the_specification() {
        let got = ntowf_v2("Password", "User", "Domain");
        let want = [0x0c, 0x86, 0x8a, 0x40, 0x3b, 0xfd, 0x7a, 0x93, 0xa3, 0x00, 0x1e, 0xf2, 0x2e, 0xf0, 0x2e, 0x3f];
        assert_eq!(got, want);
    }

    /// MS-NLMP 4.2.4.2.2: NTProofStr for the specification's example blob.
    #[test]
    fn nt_proof_matches_the_specification() {
        let key = ntowf_v2("Password", "User", "Domain");
        let server_challenge = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let client_challenge = [0xaa; 8];
        let mut info = Vec::new();
        av_pair(&mut info, AV_NB_DOMAIN_NAME, &utf16("Domain"));
        av_pair(&mut info, AV_NB_COMPUTER_NAME, &utf16("Server"));
        av_pair(&mut info, AV_EOL, &[]);
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&[0; 8]); // time stamp zero in the example
        blob.extend_from_slice(&client_challenge);
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&info);
        blob.extend_from_slice(&[0; 4]);
        let proof = hmac_md5(&key, &[&server_challenge, &blob]);
        let want = [0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5, 0x1c, 0x96, 0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef, 0x6a, 0x1c];
        assert_eq!(proof, want);
    }

    #[test]
    fn rejects_ntlm_v1_length() {
        let pending = PendingChallenge { negotiate: Vec::new(), challenge: Vec::new(), server_challenge: [0; 8] };
        let auth = Authenticate {
            user: "u".into(),
            domain: String::new(),
            workstation: String::new(),
            flags: NEGOTIATE_UNICODE,
            nt_response: vec![0; 24],
            encrypted_session_key: Vec::new(),
            raw: Vec::new(),
        };
        assert_eq!(verify(&pending, &auth, "pw"), Err(NtlmError::NotV2(24)));
    }

    #[test]
    fn challenge_mirrors_the_client_and_carries_target_info() {
        let mut negotiate = SIGNATURE.to_vec();
        negotiate.extend_from_slice(&1u32.to_le_bytes());
        negotiate.extend_from_slice(&(NEGOTIATE_UNICODE | NEGOTIATE_KEY_EXCH | NEGOTIATE_128).to_le_bytes());
        negotiate.extend_from_slice(&[0; 16]);
        let names = ServerNames::for_domain("contoso.test");
        let (_, msg) = challenge(&names, &negotiate, [7; 8]).unwrap();
        assert_eq!(message_type(&msg).unwrap(), 2);
        let flags = u32_at(&msg, 20);
        assert_ne!(flags & NEGOTIATE_KEY_EXCH, 0);
        assert_ne!(flags & NEGOTIATE_TARGET_INFO, 0);
        assert_eq!(&msg[24..32], &[7; 8]);
        assert_eq!(decode_string(field(&msg, 12).unwrap(), true).unwrap(), "CONTOSO");
        let info = av_pairs(field(&msg, 40).unwrap()).unwrap();
        assert!(info.iter().any(|(id, _)| *id == AV_TIMESTAMP));
    }
}
