//! Control messages: enrolment and certificate renewal.
//!
//! They travel on their own QUIC streams, beside (never inside) the sync stream: enrolment on a
//! connection with the [`crate::ALPN_ENROL`] protocol, renewal on an extra bidirectional stream of a
//! sync connection. Each stream carries one request and one response, each a 4-byte big-endian length
//! and a postcard payload of at most [`MAX_CONTROL_MESSAGE_BYTES`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest control message accepted or produced (64 KiB): a CSR or a certificate chain is a few
/// kilobytes.
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 64 * 1024;

/// Bytes of random secret in an enrolment token.
pub const TOKEN_SECRET_BYTES: usize = 20;

/// A single-use enrolment token as an operator hands it to school IT:
/// `<id>.<secret>.<sha256 of the fleet CA certificate>`, all lowercase hexadecimal. The id names the
/// token on the relay; the secret proves possession; the CA hash lets the node check, before it sends
/// anything, that it is talking to the fleet's relay and not to whoever answered at that address.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnrolmentToken {
    pub id: String,
    pub secret: String,
    pub ca_sha256: [u8; 32],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "an enrolment token is `<id>.<secret>.<ca hash>`: 16, 40 and 64 lowercase hexadecimal digits separated by dots, as `digione-relay enrol` prints it"
)]
pub struct TokenFormatError;

impl FromStr for EnrolmentToken {
    type Err = TokenFormatError;
    fn from_str(text: &str) -> Result<Self, TokenFormatError> {
        let is_hex = |part: &str, len: usize| {
            part.len() == len
                && part
                    .bytes()
                    .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        };
        let mut parts = text.trim().split('.');
        let (Some(id), Some(secret), Some(ca), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenFormatError);
        };
        if !is_hex(id, 16) || !is_hex(secret, TOKEN_SECRET_BYTES * 2) || !is_hex(ca, 64) {
            return Err(TokenFormatError);
        }
        let mut ca_sha256 = [0u8; 32];
        hex::decode_to_slice(ca, &mut ca_sha256).map_err(|_| TokenFormatError)?;
        Ok(Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
            ca_sha256,
        })
    }
}

impl TryFrom<String> for EnrolmentToken {
    type Error = TokenFormatError;
    fn try_from(text: String) -> Result<Self, TokenFormatError> {
        text.parse()
    }
}

impl From<EnrolmentToken> for String {
    fn from(token: EnrolmentToken) -> String {
        token.to_string()
    }
}

impl fmt::Display for EnrolmentToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}.{}.{}",
            self.id,
            self.secret,
            hex::encode(self.ca_sha256)
        )
    }
}

impl fmt::Debug for EnrolmentToken {
    /// The secret never reaches a log.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "EnrolmentToken({}.…)", self.id)
    }
}

/// What a node asks of the relay on a control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlRequest {
    /// Tag 0. First contact: the token and a PKCS#10 request for the node's own key.
    Enrol {
        token: EnrolmentToken,
        csr_der: Vec<u8>,
    },
    /// Tag 1. A new certificate for the identity the current one names, for a new key.
    Renew { csr_der: Vec<u8> },
}

/// Why a control request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalCode {
    /// 0: the token is unknown, already used, or its secret is wrong.
    TokenInvalid,
    /// 1: the token has expired.
    TokenExpired,
    /// 2: the certificate signing request could not be parsed or its signature is wrong.
    BadRequest,
    /// 3: the node has been revoked.
    Revoked,
    /// 4: the relay failed on its side.
    Internal,
    /// 5: this request is not allowed on this connection (renewal without a certificate).
    NotAllowed,
}

/// The relay's answer on a control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlResponse {
    /// Tag 0. The node's new certificate (DER) and the fleet CA certificate (DER) that issued it.
    Certificate {
        certificate_der: Vec<u8>,
        ca_der: Vec<u8>,
    },
    /// Tag 1. The request was refused; nothing was issued.
    Refused { code: RefusalCode, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control message of {len} bytes exceeds the limit of {MAX_CONTROL_MESSAGE_BYTES}")]
    TooLarge { len: usize },
    #[error("control message could not be decoded: {0}")]
    Malformed(String),
    #[error("control stream failed: {0}")]
    Stream(String),
}

/// Encodes a control message with its length prefix.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, ControlError> {
    let payload =
        postcard::to_stdvec(message).map_err(|error| ControlError::Malformed(error.to_string()))?;
    if payload.len() > MAX_CONTROL_MESSAGE_BYTES {
        return Err(ControlError::TooLarge { len: payload.len() });
    }
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Reads one length-prefixed control message; the length is checked before the payload is read.
pub async fn read<T: for<'de> Deserialize<'de>>(
    stream: &mut quinn::RecvStream,
) -> Result<T, ControlError> {
    let mut header = [0u8; 4];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|error| ControlError::Stream(error.to_string()))?;
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_CONTROL_MESSAGE_BYTES {
        return Err(ControlError::TooLarge { len });
    }
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|error| ControlError::Stream(error.to_string()))?;
    postcard::from_bytes(&payload).map_err(|error| ControlError::Malformed(error.to_string()))
}

/// Writes one control message and finishes the stream.
pub async fn write<T: Serialize>(
    stream: &mut quinn::SendStream,
    message: &T,
) -> Result<(), ControlError> {
    let frame = encode(message)?;
    stream
        .write_all(&frame)
        .await
        .map_err(|error| ControlError::Stream(error.to_string()))?;
    stream
        .finish()
        .map_err(|error| ControlError::Stream(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_hide_their_secret() {
        let text = format!(
            "{}.{}.{}",
            "0123456789abcdef",
            "ab".repeat(20),
            "cd".repeat(32)
        );
        let token: EnrolmentToken = text.parse().expect("valid token");
        assert_eq!(token.to_string(), text);
        assert!(!format!("{token:?}").contains(&token.secret));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for text in [
            "",
            "abc",
            "0123456789abcdef.ab.cd",
            &format!(
                "{}.{}.{}",
                "0123456789ABCDEF",
                "ab".repeat(20),
                "cd".repeat(32)
            ),
            &format!(
                "{}.{}.{}.x",
                "0123456789abcdef",
                "ab".repeat(20),
                "cd".repeat(32)
            ),
        ] {
            assert_eq!(
                text.parse::<EnrolmentToken>(),
                Err(TokenFormatError),
                "{text}"
            );
        }
    }

    #[test]
    fn an_oversized_message_is_refused_before_sending() {
        let request = ControlRequest::Renew {
            csr_der: vec![0; MAX_CONTROL_MESSAGE_BYTES + 1],
        };
        assert!(matches!(
            encode(&request),
            Err(ControlError::TooLarge { .. })
        ));
    }
}
