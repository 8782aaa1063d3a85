//! The few columns the intake stores for every delivery, read without typing the event.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{Error as ValueError, MapAccessDeserializer};
use serde::de::{Deserializer, IgnoredAny, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::types::{InstallationId, RepoName};

/// What the intake records about any delivery, handled or not, valid or not, so
/// deliveries can be listed per installation and repository. Each field is `None`
/// when the body lacks it or has it in an unexpected shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryEnvelope {
    /// The payload's `action`, when it is a string.
    pub action: Option<String>,
    /// `installation.id`, when it is a non-negative integer.
    pub installation: Option<InstallationId>,
    /// `repository.full_name`, when it is a string.
    pub repository: Option<RepoName>,
}

impl DeliveryEnvelope {
    /// Reads the envelope; never fails. Everything but these three fields is skipped
    /// without being stored, and a field of the wrong shape only loses that field.
    /// A body that is not a JSON object gives all `None`s.
    pub fn from_body(body: &[u8]) -> DeliveryEnvelope {
        serde_json::from_slice::<Wire>(body)
            .map(|wire| DeliveryEnvelope {
                action: wire.action.0,
                installation: wire.installation.0.and_then(|i| i.id.0),
                repository: wire.repository.0.and_then(|r| r.full_name.0),
            })
            .unwrap_or_default()
    }
}

/// The top level of a delivery, as far as the envelope cares.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    action: Lenient<String>,
    #[serde(default)]
    installation: Lenient<IdOnly>,
    #[serde(default)]
    repository: Lenient<NameOnly>,
}

/// `installation`, as far as the envelope cares.
#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Lenient<InstallationId>,
}

/// `repository`, as far as the envelope cares.
#[derive(Deserialize)]
struct NameOnly {
    #[serde(default)]
    full_name: Lenient<RepoName>,
}

/// A value kept only when it has the shape `T` expects; any other JSON value is
/// consumed and becomes `None` instead of failing the whole envelope.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(LenientVisitor(PhantomData))
    }
}

/// Visits any JSON value and tries it as a `T`.
struct LenientVisitor<T>(PhantomData<T>);

impl<T> LenientVisitor<T> {
    /// Tries a scalar as a `T`; a scalar is already fully read, so failing is free.
    fn scalar<'de, V, E>(value: V) -> Result<Lenient<T>, E>
    where
        T: Deserialize<'de>,
        V: IntoDeserializer<'de, ValueError>,
    {
        Ok(Lenient(T::deserialize(value.into_deserializer()).ok()))
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Self::scalar(v)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Self::scalar(v)
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Self::scalar(v)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Self::scalar(v)
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Self::scalar(v.to_owned())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Lenient(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match T::deserialize(MapAccessDeserializer::new(&mut map)) {
            Ok(value) => Ok(Lenient(Some(value))),
            // `T` is not an object type: it refused the map before reading it.
            Err(_) => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
        }
    }
}
