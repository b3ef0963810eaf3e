//! How a document is fingerprinted for the comparison: by its version or by its whole content.

use std::hash::{Hash, Hasher};

use serde_json::Value;

/// How documents are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fingerprint {
    /// `versionNumber` when the document has one, else a hash of the whole document.
    Version,
    /// Always a hash of the whole document.
    Content,
}

impl Fingerprint {
    /// The fingerprint of a document.
    pub fn of(self, doc: &Value) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        match doc
            .get("versionNumber")
            .filter(|v| self == Fingerprint::Version && !v.is_null())
        {
            Some(version) => ("v", version.to_string()).hash(&mut hasher),
            // serde_json's maps are ordered, so the text is canonical.
            None => ("h", doc.to_string()).hash(&mut hasher),
        }
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_fingerprints_follow_the_version_and_content_fingerprints_the_whole_document() {
        let a = json!({"id": "1", "name": "a", "versionNumber": 3});
        let b = json!({"id": "1", "name": "b", "versionNumber": 3});
        assert_eq!(Fingerprint::Version.of(&a), Fingerprint::Version.of(&b));
        assert_ne!(Fingerprint::Content.of(&a), Fingerprint::Content.of(&b));
        let unversioned_a = json!({"id": "1", "name": "a"});
        let unversioned_b = json!({"name": "a", "id": "1"});
        assert_eq!(
            Fingerprint::Version.of(&unversioned_a),
            Fingerprint::Version.of(&unversioned_b)
        );
        assert_ne!(
            Fingerprint::Version.of(&unversioned_a),
            Fingerprint::Version.of(&json!({"id": "1", "name": "c"}))
        );
    }
}
