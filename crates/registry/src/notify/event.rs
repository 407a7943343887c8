//! The events, as CNCF Distribution's receivers expect them (field names and omissions).

use serde::Serialize;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A manifest was pushed.
    Push,
    /// A manifest or tag was deleted.
    Delete,
    /// A manifest was fetched.
    Pull,
}

impl Action {
    pub(super) fn parse(s: &str) -> Option<Action> {
        match s {
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            "pull" => Some(Action::Pull),
            _ => None,
        }
    }
}

/// What an event is about (Distribution's `target`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Media type of the manifest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Its size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Its digest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// The size again (Distribution keeps it for older receivers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// The repository.
    pub repository: String,
    /// Where the content can be fetched.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The tag, when the action named one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tag: String,
}

/// The request behind an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// The request id (`X-Request-Id`).
    pub id: String,
    /// The client's address and port.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// The `Host` the client asked for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// The HTTP method.
    pub method: String,
    /// The client's `User-Agent`.
    pub useragent: String,
}

/// Who did it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The user (absent for anonymous requests or without access control).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Which registry instance reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Source {
    /// `hostname:port` of this registry.
    pub addr: String,
    /// Changes at every start.
    #[serde(rename = "instanceID")]
    pub instance_id: String,
}

/// One event (an element of the envelope's `events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Unique id.
    pub id: String,
    /// When (RFC 3339, UTC).
    pub timestamp: String,
    /// What happened.
    pub action: Action,
    /// To what.
    pub target: Target,
    /// The request that did it.
    pub request: RequestRecord,
    /// Who.
    pub actor: Actor,
    /// Where it was reported.
    pub source: Source,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_distribution_does() {
        let ev = Event {
            id: "e1".into(),
            timestamp: "2024-01-01T00:00:00.000000000Z".into(),
            action: Action::Push,
            target: Target {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: Some(7),
                digest: "sha256:ab".into(),
                length: Some(7),
                repository: "a/b".into(),
                url: "http://h/v2/a/b/manifests/sha256:ab".into(),
                tag: "v1".into(),
            },
            request: RequestRecord {
                id: "r1".into(),
                addr: "127.0.0.1:5".into(),
                host: "h".into(),
                method: "PUT".into(),
                useragent: "ua".into(),
            },
            actor: Actor { name: None },
            source: Source {
                addr: "host:5000".into(),
                instance_id: "i".into(),
            },
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["action"], "push");
        assert_eq!(
            v["target"]["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(v["target"]["length"], 7);
        assert_eq!(v["request"]["useragent"], "ua");
        assert_eq!(v["source"]["instanceID"], "i");
        assert_eq!(v["actor"], serde_json::json!({}));
    }
}
