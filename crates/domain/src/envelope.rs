//! Stored values: JSON envelopes that carry their schema, `{"schema":"case/1","data":{..}}`.
//!
//! The schema names the record kind and its version, so a later release can read old values
//! (or refuse them loudly) instead of misreading them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::case::{Case, CaseEvent};
use crate::delivery::Delivery;
use crate::feedback::Feedback;
use crate::notice::Notice;

/// A record kind that is stored, with its current schema.
pub trait Record: Serialize + DeserializeOwned {
    const SCHEMA: &'static str;
}

impl Record for Feedback {
    const SCHEMA: &'static str = "feedback/1";
}
impl Record for Case {
    const SCHEMA: &'static str = "case/1";
}
impl Record for CaseEvent {
    const SCHEMA: &'static str = "event/1";
}
impl Record for Notice {
    const SCHEMA: &'static str = "notice/1";
}
impl Record for Delivery {
    const SCHEMA: &'static str = "delivery/1";
}

impl Record for crate::access::ApiKey {
    const SCHEMA: &'static str = "api-key/1";
}
impl Record for crate::contact::DncEntry {
    const SCHEMA: &'static str = "do-not-contact/1";
}
impl Record for crate::privacy::ErasureRecord {
    const SCHEMA: &'static str = "erasure/1";
}

/// A pointer record: the id of another record (idempotency and index keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    pub id: String,
}
impl Record for Ref {
    const SCHEMA: &'static str = "ref/1";
}

#[derive(Serialize)]
struct Out<'a, T> {
    schema: &'static str,
    data: &'a T,
}

#[derive(Deserialize)]
struct In<T> {
    schema: String,
    data: T,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("stored value has schema {found}, expected {expected}")]
    Schema {
        found: String,
        expected: &'static str,
    },
    #[error("stored value is not a valid envelope: {0}")]
    Json(#[from] serde_json::Error),
}

pub fn encode<T: Record>(value: &T) -> Vec<u8> {
    serde_json::to_vec(&Out {
        schema: T::SCHEMA,
        data: value,
    })
    .expect("records always serialize")
}

pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, EnvelopeError> {
    let envelope: In<T> = serde_json::from_slice(bytes)?;
    if envelope.schema != T::SCHEMA {
        return Err(EnvelopeError::Schema {
            found: envelope.schema,
            expected: T::SCHEMA,
        });
    }
    Ok(envelope.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_the_schema() {
        let r = Ref { id: "x".into() };
        let bytes = encode(&r);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"schema":"ref/1","data":{"id":"x"}}"#
        );
        assert_eq!(decode::<Ref>(&bytes).unwrap(), r);
        assert!(matches!(
            decode::<Ref>(br#"{"schema":"ref/2","data":{"id":"x"}}"#),
            Err(EnvelopeError::Schema { .. })
        ));
        assert!(decode::<Ref>(b"nope").is_err());
    }
}
