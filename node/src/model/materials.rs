//! `school:S/materials-<class key>`: what a class's teachers share with it: links and files.
//!
//! A file is a content-addressed blob stored beside the documents (see
//! `crate::repository::Repository::put_blob`); the document holds only a [`FileRef`] to it. The
//! node accepts uploads up to [`MAX_UPLOAD_BYTES`].

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
pub use super::common::MAX_UPLOAD_BYTES;
use super::common::{
    FileRef, ItemId, MAX_TITLE_CHARS, MAX_URL_CHARS, ModelError, NodeTime, claim_identity, excerpt,
    school_doc, single_line, sourced_id, sourced_id_key,
};

/// Materials kept per class.
pub const MAX_MATERIALS_PER_CLASS: usize = 1_000;

/// `school:S/materials-<class key>`.
pub fn materials_doc(school: &SchoolCode, class_sourced_id: &str) -> DocId {
    school_doc(
        school,
        &format!("materials-{}", sourced_id_key(class_sourced_id)),
    )
}

/// A link or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum MaterialKind {
    #[autosurgeon(rename = "link")]
    Link { url: String },
    #[autosurgeon(rename = "file")]
    File { file: FileRef },
}

impl MaterialKind {
    fn validate(&self) -> Result<(), ModelError> {
        match self {
            MaterialKind::Link { url } => validate_url(url),
            MaterialKind::File { file } => file.validate(),
        }
    }
}

/// A link's URL: `http` or `https`, with a host, no whitespace or control characters, at most
/// [`MAX_URL_CHARS`]. Other schemes (`javascript:`, `file:`, `data:`) are refused because the
/// link is shown to pupils as something to click.
pub fn validate_url(url: &str) -> Result<(), ModelError> {
    let bad = |reason: &str| ModelError::Invalid {
        field: "url",
        reason: format!("{reason}: {:?}", excerpt(url)),
    };
    if url.chars().count() > MAX_URL_CHARS {
        return Err(ModelError::TooLong {
            field: "url",
            max: MAX_URL_CHARS,
            actual: url.chars().count(),
        });
    }
    if url
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return Err(bad("a URL contains no spaces or control characters"));
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| bad("a link starts with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_and_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_and_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_and_port.split(':').next().unwrap_or_default(),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|character| character.is_alphanumeric() || ".-:".contains(character));
    if host_ok {
        Ok(())
    } else {
        Err(bad("the link has no valid host name"))
    }
}

/// One shared item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Material {
    pub id: String,
    pub title: String,
    pub kind: MaterialKind,
    pub shared_by: UserId,
    pub shared_at: NodeTime,
}

/// The materials document of one class, by material id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct MaterialsDocument {
    pub class_sourced_id: String,
    pub items: BTreeMap<String, Material>,
}

impl MaterialsDocument {
    /// Binds a new document to its class, or checks an existing one is the class's.
    pub fn open_for(&mut self, class_sourced_id: &str) -> Result<(), ModelError> {
        claim_identity(&mut self.class_sourced_id, class_sourced_id, "class")
    }

    pub fn share(
        &mut self,
        id: &ItemId,
        title: &str,
        kind: MaterialKind,
        shared_by: &str,
        now: NodeTime,
    ) -> Result<&Material, ModelError> {
        if self.items.contains_key(id.as_str()) {
            return Err(ModelError::AlreadyExists {
                what: "material",
                id: id.to_string(),
            });
        }
        if self.items.len() >= MAX_MATERIALS_PER_CLASS {
            return Err(ModelError::LimitReached {
                what: "materials",
                max: MAX_MATERIALS_PER_CLASS,
            });
        }
        kind.validate()?;
        let material = Material {
            id: id.to_string(),
            title: single_line("title", title, MAX_TITLE_CHARS)?,
            kind,
            shared_by: sourced_id("shared by", shared_by)?,
            shared_at: now,
        };
        Ok(self.items.entry(id.to_string()).or_insert(material))
    }

    pub fn remove(&mut self, id: &str) -> Result<Material, ModelError> {
        self.items.remove(id).ok_or_else(|| ModelError::NotFound {
            what: "material",
            id: id.to_owned(),
        })
    }

    /// Newest first.
    pub fn newest_first(&self) -> Vec<&Material> {
        let mut materials: Vec<&Material> = self.items.values().collect();
        materials.sort_by(|a, b| (b.shared_at, &b.id).cmp(&(a.shared_at, &a.id)));
        materials
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    fn link(url: &str) -> MaterialKind {
        MaterialKind::Link {
            url: url.to_owned(),
        }
    }

    fn materials() -> MaterialsDocument {
        let mut materials = MaterialsDocument::default();
        materials.open_for("CLS-7A").expect("new");
        materials
            .share(
                &id("00000000000000d1"),
                "Yle Areena: Kalevala",
                link("https://areena.yle.fi/1-1234"),
                "T1",
                NodeTime(1),
            )
            .expect("valid");
        materials
            .share(
                &id("00000000000000d2"),
                "Tehtävämoniste",
                MaterialKind::File {
                    file: file("moniste", "moniste.pdf"),
                },
                "T1",
                NodeTime(2),
            )
            .expect("valid");
        materials
    }

    #[test]
    fn links_must_be_http_or_https_with_a_host() {
        for good in [
            "https://areena.yle.fi/1-1234",
            "http://example.fi",
            "https://user@example.fi:8443/path?q=1#x",
            "https://[2001:db8::1]/x",
            "HTTPS://EXAMPLE.FI",
        ] {
            assert_eq!(validate_url(good), Ok(()), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "ftp://example.fi",
            "https://",
            "https:///path",
            "https://exa mple.fi",
            "example.fi",
            "data:text/html,hi",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            validate_url(&format!("https://example.fi/{}", "a".repeat(MAX_URL_CHARS))),
            Err(ModelError::TooLong { .. })
        ));
    }

    #[test]
    fn sharing_validates_kind_and_title() {
        let mut materials = materials();
        assert!(
            materials
                .share(
                    &id("00000000000000d3"),
                    "Paha",
                    link("javascript:x"),
                    "T1",
                    NodeTime(3)
                )
                .is_err()
        );
        let huge = FileRef {
            size_bytes: MAX_UPLOAD_BYTES + 1,
            ..file("iso", "iso.mp4")
        };
        assert!(
            materials
                .share(
                    &id("00000000000000d3"),
                    "Iso",
                    MaterialKind::File { file: huge },
                    "T1",
                    NodeTime(3)
                )
                .is_err()
        );
        assert!(
            materials
                .share(
                    &id("00000000000000d3"),
                    "",
                    link("https://yle.fi"),
                    "T1",
                    NodeTime(3)
                )
                .is_err()
        );
        assert_eq!(materials.items.len(), 2);
        let titles: Vec<&str> = materials
            .newest_first()
            .iter()
            .map(|material| material.title.as_str())
            .collect();
        assert_eq!(titles, ["Tehtävämoniste", "Yle Areena: Kalevala"]);
        assert!(materials.remove("00000000000000d1").is_ok());
        assert_eq!(
            materials_doc(&school(), "CLS-7A").name(),
            format!("materials-{}", sourced_id_key("CLS-7A"))
        );
    }

    #[test]
    fn materials_round_trip_and_concurrent_shares_merge() {
        let base = materials();
        assert_round_trip(&base);
        let merged = merge_concurrent(
            &base,
            |document| {
                document
                    .share(
                        &id("00000000000000e1"),
                        "Linkki",
                        link("https://oph.fi"),
                        "T1",
                        NodeTime(5),
                    )
                    .expect("valid");
            },
            |document| {
                document.remove("00000000000000d1").expect("exists");
            },
        );
        let ids: Vec<&str> = merged.items.keys().map(String::as_str).collect();
        assert_eq!(ids, ["00000000000000d2", "00000000000000e1"]);
    }
}
