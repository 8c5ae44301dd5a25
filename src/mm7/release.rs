//! MM7 schema releases and their XML namespaces (3GPP TS 23.140 Annex D: one schema, and so one
//! namespace, per release of the specification).

use std::fmt;

/// The prefix every 3GPP MM7 schema namespace shares; the release name follows it.
pub const NAMESPACE_PREFIX: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/";

/// The SOAP 1.1 envelope namespace, the one MM7 uses (3GPP TS 23.140 §9.2).
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The SOAP 1.2 envelope namespace; not MM7's, accepted with a warning.
pub const SOAP12_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// An MM7 schema release, named like its namespace (`REL-6-MM7-1-4`).
///
/// Decoding accepts any release; encoding writes the release the caller picks. The known
/// releases are the ones seen in the field; anything else is kept as [`Release::Other`] with the
/// namespace as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Release {
    /// `REL-5-MM7-1-0`.
    Rel5Mm7_1_0,
    /// `REL-5-MM7-1-1`.
    Rel5Mm7_1_1,
    /// `REL-5-MM7-1-2`.
    Rel5Mm7_1_2,
    /// `REL-5-MM7-1-3`.
    Rel5Mm7_1_3,
    /// `REL-6-MM7-1-0`.
    Rel6Mm7_1_0,
    /// `REL-6-MM7-1-1`.
    Rel6Mm7_1_1,
    /// `REL-6-MM7-1-2`.
    Rel6Mm7_1_2,
    /// `REL-6-MM7-1-3`.
    Rel6Mm7_1_3,
    /// `REL-6-MM7-1-4`.
    Rel6Mm7_1_4,
    /// Any other namespace, as received (possibly empty when the element had none).
    Other(String),
}

const KNOWN: &[(Release, &str, &str)] = &[
    (Release::Rel5Mm7_1_0, "REL-5-MM7-1-0", "5.3.0"),
    (Release::Rel5Mm7_1_1, "REL-5-MM7-1-1", "5.5.0"),
    (Release::Rel5Mm7_1_2, "REL-5-MM7-1-2", "5.6.0"),
    (Release::Rel5Mm7_1_3, "REL-5-MM7-1-3", "5.8.0"),
    (Release::Rel6Mm7_1_0, "REL-6-MM7-1-0", "6.3.0"),
    (Release::Rel6Mm7_1_1, "REL-6-MM7-1-1", "6.5.0"),
    (Release::Rel6Mm7_1_2, "REL-6-MM7-1-2", "6.6.0"),
    (Release::Rel6Mm7_1_3, "REL-6-MM7-1-3", "6.7.0"),
    (Release::Rel6Mm7_1_4, "REL-6-MM7-1-4", "6.8.0"),
];

impl Release {
    /// Every known release, oldest first.
    pub fn known() -> impl Iterator<Item = Release> {
        KNOWN.iter().map(|(r, _, _)| r.clone())
    }

    /// The release a namespace names. A namespace that is not one of the known releases gives
    /// [`Release::Other`]; the decoder names that in its warnings.
    pub fn from_namespace(ns: &str) -> Self {
        ns.strip_prefix(NAMESPACE_PREFIX)
            .and_then(|name| KNOWN.iter().find(|(_, n, _)| *n == name))
            .map_or_else(|| Release::Other(ns.to_owned()), |(r, _, _)| r.clone())
    }

    /// The release name (`REL-6-MM7-1-4`), or the whole namespace for [`Release::Other`].
    pub fn name(&self) -> &str {
        match self {
            Release::Other(ns) => ns,
            known => KNOWN
                .iter()
                .find(|(r, _, _)| r == known)
                .map_or("", |(_, n, _)| n),
        }
    }

    /// The namespace URI written on encode.
    pub fn namespace(&self) -> String {
        match self {
            Release::Other(ns) => ns.clone(),
            known => format!("{NAMESPACE_PREFIX}{}", known.name()),
        }
    }

    /// Whether this is one of the known releases.
    pub fn is_known(&self) -> bool {
        !matches!(self, Release::Other(_))
    }

    /// The 3GPP release number (5 or 6), read from the namespace when it follows the
    /// `REL-<n>-MM7-…` pattern.
    pub fn spec_release(&self) -> Option<u32> {
        let name = match self {
            Release::Other(ns) => ns.strip_prefix(NAMESPACE_PREFIX)?,
            known => known.name(),
        };
        name.strip_prefix("REL-")?.split('-').next()?.parse().ok()
    }

    /// The `MM7Version` written when the message does not carry one of the same release: the
    /// version field traffic pairs with the namespace.
    pub fn default_mm7_version(&self) -> &'static str {
        match self {
            Release::Other(_) => "6.8.0",
            known => KNOWN
                .iter()
                .find(|(r, _, _)| r == known)
                .map_or("6.8.0", |(_, _, v)| v),
        }
    }

    /// Whether an `MM7Version` value belongs to this release: its major number is the 3GPP
    /// release number. Minor numbers vary between vendors for the same namespace, so they are
    /// not compared.
    pub fn matches_version(&self, mm7_version: &str) -> bool {
        let major: Option<u32> = mm7_version.split('.').next().and_then(|m| m.parse().ok());
        match (self.spec_release(), major) {
            (Some(rel), Some(major)) => rel == major,
            _ => false,
        }
    }
}

impl Default for Release {
    /// `REL-6-MM7-1-4`, the last MM7 schema of Release 6 and the one most relays accept.
    fn default() -> Self {
        Release::Rel6Mm7_1_4
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_namespaces_round_trip() {
        for r in Release::known() {
            assert_eq!(Release::from_namespace(&r.namespace()), r);
            assert!(r.matches_version(r.default_mm7_version()), "{r}");
        }
    }

    #[test]
    fn unknown_namespaces_are_kept() {
        let ns = format!("{NAMESPACE_PREFIX}REL-7-MM7-1-0");
        let r = Release::from_namespace(&ns);
        assert_eq!(r, Release::Other(ns.clone()));
        assert_eq!(r.namespace(), ns);
        assert_eq!(r.spec_release(), Some(7));
        assert!(!Release::Rel5Mm7_1_2.matches_version("6.8.0"));
        assert!(Release::Rel5Mm7_1_2.matches_version("5.6.0"));
        assert!(!Release::Other(String::new()).matches_version("5.6.0"));
    }
}
