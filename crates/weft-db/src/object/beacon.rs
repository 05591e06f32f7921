//! Cross-reference beacons: `weaviate://localhost/<Class>/<uuid>` (and the class-less legacy
//! form `weaviate://localhost/<uuid>`) naming a target, and the long form
//! `weaviate://localhost/<Class>/<uuid>/<property>` naming the source of a batch reference.
//! Parse errors use Weaviate's wording (`entities/schema/crossref`).

use std::fmt;

use uuid::Uuid;

/// The only peer a beacon may name: weft is one node.
pub const LOCAL_HOST: &str = "localhost";

/// A parsed target beacon.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Beacon {
    /// The peer (`localhost` for every beacon weft stores).
    pub host: String,
    /// Target class; `None` in the legacy class-less form.
    pub class: Option<String>,
    /// Target id.
    pub id: Uuid,
}

/// A parsed source beacon of `POST /v1/batch/references`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBeacon {
    /// Source class.
    pub class: String,
    /// Source object.
    pub id: Uuid,
    /// The reference property.
    pub property: String,
}

/// Splits `scheme://host/path` into host and path (`url.Parse`'s view of these beacons).
fn host_and_path(s: &str) -> (&str, &str) {
    let rest = match s.find("://") {
        Some(i)
            if s[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+') =>
        {
            &s[i + 1..]
        }
        _ => s,
    };
    match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        },
        None => ("", rest),
    }
}

fn parse_uuid(s: &str) -> Option<Uuid> {
    // Weaviate's `strfmt.IsUUID` wants the hyphenated form.
    if s.len() != 36 {
        return None;
    }
    Uuid::parse_str(s).ok()
}

impl Beacon {
    /// A beacon to `class`/`id` on this node.
    pub fn local(class: &str, id: Uuid) -> Self {
        Self {
            host: LOCAL_HOST.into(),
            class: Some(class.to_string()),
            id,
        }
    }

    /// Parses a target beacon.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (host, path) = host_and_path(s);
        if path.is_empty() {
            return Err("invalid cref URI: %!w(<nil>)".into());
        }
        let segments: Vec<&str> = path.split('/').collect();
        let (class, id, idx) = match segments.as_slice() {
            [_, class, id] => (Some(*class), *id, 2),
            [_, id] => (None, *id, 1),
            _ => {
                return Err(format!(
                    "invalid cref URI: path must be of format '<class>/<uuid>', but got '{path}'"
                ));
            }
        };
        let id = parse_uuid(id).ok_or_else(|| {
            format!("invalid cref URI: {idx}nd path segment must be uuid, but got '{id}'")
        })?;
        Ok(Self {
            host: host.to_string(),
            class: class.filter(|c| !c.is_empty()).map(str::to_string),
            id,
        })
    }

    /// Whether the beacon names this node.
    pub fn is_local(&self) -> bool {
        self.host == LOCAL_HOST
    }
}

impl fmt::Display for Beacon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.class {
            Some(class) => write!(
                f,
                "weaviate://{}/{class}/{}",
                self.host,
                self.id.hyphenated()
            ),
            None => write!(f, "weaviate://{}/{}", self.host, self.id.hyphenated()),
        }
    }
}

impl SourceBeacon {
    /// Parses the `from` of a batch reference.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (host, path) = host_and_path(s);
        if path.is_empty() {
            return Err("invalid cref URI: %!w(<nil>)".into());
        }
        let segments: Vec<&str> = path.split('/').collect();
        let [_, class, id, property] = segments.as_slice() else {
            return Err(format!(
                "invalid cref URI: must use long-form: path must be of format \
                 '/<className>/<uuid>/<propertyName>', but got '{path}'"
            ));
        };
        let id = parse_uuid(id).ok_or_else(|| {
            format!("invalid cref URI: 2nd path segment must be uuid, but got '{id}'")
        })?;
        if class.is_empty() {
            return Err("className cannot be empty".into());
        }
        if !class.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(format!(
                "className must start with an uppercase letter, but got {class}"
            ));
        }
        if property.is_empty() {
            return Err("property cannot be empty".into());
        }
        if host != LOCAL_HOST {
            return Err(format!(
                "source class must always point to the local peer, but got {host}"
            ));
        }
        Ok(Self {
            class: class.to_string(),
            id,
            property: property.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8d5a3aa2-3c8d-4589-9ae1-3f638f506970";

    #[test]
    fn target_forms() {
        let b = Beacon::parse(&format!("weaviate://localhost/Author/{ID}")).unwrap();
        assert_eq!(b.class.as_deref(), Some("Author"));
        assert!(b.is_local());
        assert_eq!(b.to_string(), format!("weaviate://localhost/Author/{ID}"));
        let legacy = Beacon::parse(&format!("weaviate://localhost/{ID}")).unwrap();
        assert_eq!(legacy.class, None);
        assert_eq!(legacy.to_string(), format!("weaviate://localhost/{ID}"));
        let upper =
            Beacon::parse(&format!("weaviate://localhost/A/{}", ID.to_uppercase())).unwrap();
        assert_eq!(upper.id.to_string(), ID, "ids are stored lower-case");
        let remote = Beacon::parse(&format!("weaviate://peer/A/{ID}")).unwrap();
        assert!(!remote.is_local());
    }

    #[test]
    fn target_errors_use_weaviates_wording() {
        let e = Beacon::parse("weaviate://localhost/A/b/c").unwrap_err();
        assert_eq!(
            e,
            "invalid cref URI: path must be of format '<class>/<uuid>', but got '/A/b/c'"
        );
        let e = Beacon::parse("weaviate://localhost/A/nope").unwrap_err();
        assert_eq!(
            e,
            "invalid cref URI: 2nd path segment must be uuid, but got 'nope'"
        );
        let e = Beacon::parse("weaviate://localhost/nope").unwrap_err();
        assert!(e.contains("1nd path segment"), "{e}");
        assert!(Beacon::parse("weaviate://localhost").is_err());
        assert!(Beacon::parse("").is_err());
    }

    #[test]
    fn source_forms_and_errors() {
        let s = SourceBeacon::parse(&format!("weaviate://localhost/Book/{ID}/writtenBy")).unwrap();
        assert_eq!(
            (s.class.as_str(), s.property.as_str()),
            ("Book", "writtenBy")
        );
        let e = SourceBeacon::parse(&format!("weaviate://localhost/Book/{ID}")).unwrap_err();
        assert!(e.contains("must use long-form"), "{e}");
        let e = SourceBeacon::parse(&format!("weaviate://localhost/book/{ID}/p")).unwrap_err();
        assert_eq!(
            e,
            "className must start with an uppercase letter, but got book"
        );
        let e = SourceBeacon::parse(&format!("weaviate://other/Book/{ID}/p")).unwrap_err();
        assert_eq!(
            e,
            "source class must always point to the local peer, but got other"
        );
        let e = SourceBeacon::parse(&format!("weaviate://localhost/Book/{ID}/")).unwrap_err();
        assert_eq!(e, "property cannot be empty");
    }
}
