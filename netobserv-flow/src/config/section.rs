//! One stage kind's section of a stage's parameters: `{type: X, X: {...}}`, kept as data until
//! the factory registered for `X` reads its settings into its own type.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{ConfigErrorKind, Error};

/// The section of one stage kind (`ingest`, `transform`, `extract`, `encode` or `write`): its
/// `type` and the other keys as data. Upstream puts a type's settings under a key named after it
/// (`write: {type: loki, loki: {...}}`), with a few exceptions (`file_loop` reads `file`); the
/// stage factory says which key it reads, and a key that no factory reads is an error.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StageSection {
    /// The stage type, `type:`.
    pub type_name: String,
    /// Every other key of the section, as given.
    pub settings: BTreeMap<String, Json>,
}

impl StageSection {
    /// A section of type `type_name` with no settings.
    pub fn new(type_name: impl Into<String>) -> Self {
        StageSection {
            type_name: type_name.into(),
            settings: BTreeMap::new(),
        }
    }

    /// Adds settings under `key`, serialized from `value`.
    pub fn with_settings(mut self, key: &str, value: impl Serialize) -> Result<Self, Error> {
        let v = serde_json::to_value(value).map_err(|e| ConfigErrorKind::Serialize {
            what: Some(format!("settings `{key}`")),
            source: e.into(),
        })?;
        self.settings.insert(key.to_string(), v);
        Ok(self)
    }

    /// Reads the settings under `key` into `T`, rejecting unknown keys as `T` does; errors name
    /// the YAML path below `path` (the section's own path, such as `parameters[1].transform`).
    /// `Ok(None)` when the key is absent.
    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
    ) -> Result<Option<T>, Error> {
        let Some(v) = self.settings.get(key) else {
            return Ok(None);
        };
        parse_value(v.clone(), &format!("{path}.{key}")).map(Some)
    }
}

/// Deserializes a JSON-shaped value into `T`, naming the path of the offending key below `path`.
fn parse_value<T: serde::de::DeserializeOwned>(v: Json, path: &str) -> Result<T, Error> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let at = if inner.is_empty() || inner == "." {
            path.to_string()
        } else {
            format!("{path}.{inner}")
        };
        ConfigErrorKind::Settings {
            path: at,
            source: e.into_inner(),
        }
        .into()
    })
}

impl Serialize for StageSection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.settings.len() + 1))?;
        m.serialize_entry("type", &self.type_name)?;
        for (k, v) in &self.settings {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for StageSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StageSection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with a `type` key and the type's settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StageSection, A::Error> {
                let mut type_name = None;
                let mut settings = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "type" {
                        if type_name.is_some() {
                            return Err(de::Error::duplicate_field("type"));
                        }
                        type_name = Some(map.next_value::<String>()?);
                    } else {
                        let v: Json = map.next_value()?;
                        if settings.insert(key.clone(), v).is_some() {
                            return Err(de::Error::custom(format!("duplicate key `{key}`")));
                        }
                    }
                }
                let type_name = type_name.ok_or_else(|| de::Error::missing_field("type"))?;
                Ok(StageSection {
                    type_name,
                    settings,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// `follows`: upstream's single stage name, or (netobserv-rs) a list of names for a stage that
/// reads from several (fan-in).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Follows(pub Vec<String>);

impl Follows {
    /// Follows nothing (an ingest stage).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stages followed.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

impl From<&str> for Follows {
    fn from(s: &str) -> Self {
        Follows(vec![s.to_string()])
    }
}

impl Serialize for Follows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Follows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => Ok(Follows(vec![s])),
            OneOrMany::Many(v) if v.is_empty() => Err(de::Error::custom(
                "`follows` lists no stage: remove it for an ingest stage",
            )),
            OneOrMany::Many(v) => Ok(Follows(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_keeps_type_and_settings_and_round_trips() {
        let s: StageSection =
            serde_yaml_ng::from_str("type: clickhouse\nclickhouse: {url: 'http://x'}\n").unwrap();
        assert_eq!(s.type_name, "clickhouse");
        assert_eq!(s.settings["clickhouse"]["url"], "http://x");
        let back: StageSection =
            serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let err = serde_yaml_ng::from_str::<StageSection>("stdout: {}\n").unwrap_err();
        assert!(err.to_string().contains("missing field `type`"), "{err}");
    }

    #[test]
    fn parse_names_the_path_of_the_bad_key() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            url: String,
        }
        let s: StageSection = serde_yaml_ng::from_str("type: x\nx: {url: a, urll: b}\n").unwrap();
        let err = s.parse::<Inner>("parameters[3].write", "x").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("parameters[3].write.x.urll"), "{msg}");
        assert_eq!(msg.matches("parameters[3]").count(), 1, "{msg}");
        assert!(s.parse::<Inner>("p", "absent").unwrap().is_none());
    }

    #[test]
    fn follows_is_one_name_or_a_list() {
        let one: Follows = serde_yaml_ng::from_str("a").unwrap();
        assert_eq!(one.names(), ["a"]);
        let many: Follows = serde_yaml_ng::from_str("[a, b]").unwrap();
        assert_eq!(many.names(), ["a", "b"]);
        assert_eq!(serde_yaml_ng::to_string(&one).unwrap().trim(), "a");
        assert!(serde_yaml_ng::from_str::<Follows>("[]").is_err());
    }
}
