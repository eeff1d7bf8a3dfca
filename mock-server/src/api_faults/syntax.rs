//! How an [`ApiFault`] is written: a name (`"none"`, `"reset"`, `"truncated"`) or a table
//! with one key (`{ stall = "90s" }`), or `status` with an optional `body`. Serde's
//! externally tagged enums take one key per table, so the form is read by hand, each value
//! with its own type so that an error points at it.

use std::{fmt, time::Duration};

use schemars::JsonSchema;
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, MapAccess, Visitor},
};

use super::{ApiFault, PageBody};
use crate::dist::Distribution;

/// The names of the faults written as a string.
const NAMED: [&str; 3] = ["none", "reset", "truncated"];
/// The keys of the faults written as a table.
const KEYS: [&str; 5] = ["status", "body", "stall", "delay", "answer"];

impl<'de> Deserialize<'de> for ApiFault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FaultVisitor)
    }
}

/// Reads `"reset"` or `{ status = 502, body = "html" }`: a string or a table, each key's value
/// read with its own type so that an error points at the value.
struct FaultVisitor;

/// A humantime duration, as a table's value.
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        humantime_serde::deserialize(d).map(HumanDuration)
    }
}

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = ApiFault;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "\"none\", \"reset\", \"truncated\", or a table with status (and body), stall, delay or answer",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ApiFault, E> {
        match v {
            "none" => Ok(ApiFault::None),
            "reset" => Ok(ApiFault::Reset),
            "truncated" => Ok(ApiFault::Truncated),
            other => Err(E::unknown_variant(other, &NAMED)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ApiFault, A::Error> {
        let (mut status, mut body, mut stall, mut delay, mut answer) =
            (None, None, None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "status" => status = Some(map.next_value::<u16>()?),
                "body" => body = Some(map.next_value::<PageBody>()?),
                "stall" => stall = Some(map.next_value::<HumanDuration>()?.0),
                "delay" => delay = Some(map.next_value::<Distribution>()?),
                "answer" => answer = Some(map.next_value::<String>()?),
                other => return Err(de::Error::unknown_field(other, &KEYS)),
            }
        }
        let given = [
            status.is_some(),
            stall.is_some(),
            delay.is_some(),
            answer.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 || (body.is_some() && status.is_none()) {
            return Err(de::Error::custom(
                "a fault table has exactly one of status (with an optional body), stall, delay, answer",
            ));
        }
        Ok(if let Some(status) = status {
            ApiFault::Page {
                status,
                body: body.unwrap_or_default(),
            }
        } else if let Some(d) = stall {
            ApiFault::Stall(d)
        } else if let Some(d) = delay {
            ApiFault::Delay(d)
        } else {
            ApiFault::Answer(answer.unwrap_or_default())
        })
    }
}

impl Serialize for ApiFault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut table = FaultTable::default();
        match self {
            ApiFault::None => return s.serialize_str("none"),
            ApiFault::Reset => return s.serialize_str("reset"),
            ApiFault::Truncated => return s.serialize_str("truncated"),
            ApiFault::Page { status, body } => {
                table.status = Some(*status);
                table.body = Some(*body);
            }
            ApiFault::Stall(d) => table.stall = Some(humantime::format_duration(*d).to_string()),
            ApiFault::Delay(d) => table.delay = Some(d),
            ApiFault::Answer(code) => table.answer = Some(code),
        }
        table.serialize(s)
    }
}

/// The table form of [`ApiFault`], as it is written.
#[derive(Default, Serialize)]
struct FaultTable<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<PageBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stall: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<&'a Distribution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<&'a str>,
}

/// The schema of [`ApiFault`]: a name, or one of the tables.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: never built
enum ApiFaultSchema {
    /// `"none"`, `"reset"` or `"truncated"`.
    Named(NamedFault),
    /// An HTTP error page instead of the answer.
    Page {
        /// HTTP status, 400 to 599.
        status: u16,
        /// `"html"` (default) or `"empty"`.
        #[serde(default)]
        body: Option<PageBody>,
    },
    /// No answer for this long, then the connection closed.
    Stall {
        /// A duration, e.g. `"90s"`.
        stall: String,
    },
    /// The real answer, late.
    Delay {
        /// The delay's distribution.
        delay: Distribution,
    },
    /// This code instead of the answer.
    Answer {
        /// A service code, e.g. `"ERROR_SERVER_ERROR"`.
        answer: String,
    },
}

#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // a schema only: never built
enum NamedFault {
    None,
    Reset,
    Truncated,
}

impl JsonSchema for ApiFault {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ApiFault".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ApiFaultSchema::json_schema(generator)
    }
}
