//! Keycloak Organizations: the `organization` claim, read into [`Membership`]s.
//!
//! Keycloak 26's `organization` client scope (its mapper `oidc-organization-membership-mapper`)
//! writes the claim in one of two forms, checked against Keycloak 26.7.3:
//! - by default, a list of aliases: `"organization": ["acme"]`;
//! - with the mapper's `addOrganizationId` or `addOrganizationAttributes`, a map of alias to
//!   an object: `{"acme": {"id": "<uuid>", "tier": ["gold"]}}`. The object is `{}` when
//!   neither option is on any more, `id` is a string only with `addOrganizationId`, and every
//!   attribute is a list of strings (an attribute named `id` too: `"id": ["x"]`).
//!
//! The rules, every one of which refuses the whole token when it fails (so the claim is read
//! entirely or not at all, never half; `TokenError::BadClaim`, 401 `invalid_token`):
//! 1. the claim is one of the two forms: not a string, number, boolean or `null`;
//! 2. at most [`MAX_ORGANIZATIONS`] organizations;
//! 3. every alias is 1 to [`MAX_ALIAS_CHARS`] characters without control characters (Keycloak
//!    allows 255), and no alias comes twice;
//! 4. in the map form, each value is an object whose members are lists of strings, but for
//!    `id`, which may be a string (the organization's id, held to the alias's bounds).
//!
//! Decisions:
//! - The attributes are checked, not kept: [`Membership`] holds the alias and the id, which is
//!   what a guard decides by. The whole claim is bounded by the token's size (16 KiB).
//! - No claim at all is no organization (`None`), which a guard tells apart from an empty
//!   list: the caller did not ask for the scope.
//! - The claim is read while the token's claims are (once per token: the verified-token
//!   cache keeps the result), and costs nothing for a token without it.
//! - This file uses nothing of its parent (`identity.rs` re-exports it), so the module graph
//!   stays acyclic.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The most organizations one token may name (rule 2); a token naming more is refused. A
/// member of more asks for the scope `organization:<alias>` instead of `organization:*`.
pub const MAX_ORGANIZATIONS: usize = 100;

/// The longest alias (and id), in characters (rule 3): Keycloak's own limit.
pub const MAX_ALIAS_CHARS: usize = 255;

/// An organization the caller is a member of, as the token names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The organization's alias, unique within its realm (what routes and markers name).
    pub alias: String,
    /// The organization's id, when the mapper adds it (`addOrganizationId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Whether `alias` could be an organization's alias (rule 3): what a token may carry, and
/// what a route's alias must be before it is named in an answer.
pub(crate) fn valid_alias(alias: &str) -> bool {
    !alias.is_empty()
        && alias.chars().count() <= MAX_ALIAS_CHARS
        && !alias.chars().any(char::is_control)
}

/// Reads the `organization` claim (for `#[serde(deserialize_with)]` with `default`): both of
/// Keycloak's forms, or an error that refuses the token.
pub(crate) fn claim<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Membership>>, D::Error> {
    deserializer.deserialize_any(ClaimVisitor).map(Some)
}

struct ClaimVisitor;

impl<'de> Visitor<'de> for ClaimVisitor {
    type Value = Vec<Membership>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of organization aliases, or a map of alias to organization")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = Vec::new();
        while let Some(alias) = seq.next_element::<String>()? {
            admit(&mut found, Membership { alias, id: None })?;
        }
        Ok(found)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Vec::new();
        while let Some(alias) = map.next_key::<String>()? {
            let Details(id) = map.next_value()?;
            admit(&mut found, Membership { alias, id })?;
        }
        Ok(found)
    }
}

/// Adds `membership` to `found` if rules 2 and 3 allow (checked as each one is read, so a
/// huge list is refused at its 101st entry).
fn admit<E: de::Error>(found: &mut Vec<Membership>, membership: Membership) -> Result<(), E> {
    if found.len() == MAX_ORGANIZATIONS {
        return Err(E::custom(format_args!("organization: more than {MAX_ORGANIZATIONS}")));
    }
    if !valid_alias(&membership.alias)
        || membership.id.as_deref().is_some_and(|id| !valid_alias(id))
    {
        return Err(E::custom("organization: an alias or id is empty, too long or not text"));
    }
    if found.iter().any(|known| known.alias == membership.alias) {
        return Err(E::custom("organization: an alias comes twice"));
    }
    found.push(membership);
    Ok(())
}

/// One organization's object in the map form (rule 4): its id, if the object has one.
struct Details(Option<String>);

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DetailsVisitor)
    }
}

struct DetailsVisitor;

impl<'de> Visitor<'de> for DetailsVisitor {
    type Value = Details;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an organization's id and attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Details, A::Error> {
        let mut id = None;
        while let Some(name) = map.next_key::<String>()? {
            match map.next_value::<Member>()? {
                // Only `id` may be a string, and only once.
                Member::Text(text) if name == "id" && id.is_none() => id = Some(text),
                Member::Text(_) => {
                    return Err(de::Error::custom("organization: an attribute is not a list"));
                }
                // An attribute, one named `id` included (Keycloak's form without the id).
                Member::List => {}
            }
        }
        Ok(Details(id))
    }
}

/// A member of an organization's object: a string, or a list of strings (not kept).
enum Member {
    Text(String),
    List,
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Member, E> {
        Ok(Member::Text(text.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member, A::Error> {
        while seq.next_element::<String>()?.is_some() {}
        Ok(Member::List)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The claim as a token's claims carry it.
    #[derive(Debug, Deserialize)]
    struct Token {
        #[serde(default, deserialize_with = "claim")]
        organization: Option<Vec<Membership>>,
    }

    fn read(claims: Value) -> Result<Option<Vec<Membership>>, String> {
        serde_json::from_value::<Token>(claims).map(|t| t.organization).map_err(|e| e.to_string())
    }

    fn member(alias: &str, id: Option<&str>) -> Membership {
        Membership { alias: alias.into(), id: id.map(Into::into) }
    }

    #[test]
    fn both_of_keycloaks_forms_are_read() {
        assert_eq!(read(json!({})), Ok(None), "no claim, no organizations");
        assert_eq!(read(json!({"organization": ["acme"]})), Ok(Some(vec![member("acme", None)])));
        // What 26.7.3 writes with addOrganizationId and addOrganizationAttributes, then with
        // attributes only (an attribute named `id` is a list), then with neither.
        let full = json!({"organization": {
            "globex": {"x": ["1"], "id": "5a93"},
            "acme": {"tier": ["gold"], "region": ["eu", "us"], "id": "66e5"}}});
        let mut read_full = read(full).unwrap().unwrap();
        read_full.sort_by(|a, b| a.alias.cmp(&b.alias));
        assert_eq!(read_full, [member("acme", Some("66e5")), member("globex", Some("5a93"))]);
        let attributes_only = json!({"organization": {"globex": {"id": ["attr-id"], "x": ["1"]}}});
        assert_eq!(read(attributes_only), Ok(Some(vec![member("globex", None)])));
        assert_eq!(
            read(json!({"organization": {"acme": {}}})),
            Ok(Some(vec![member("acme", None)]))
        );
        assert_eq!(read(json!({"organization": []})), Ok(Some(vec![])), "a claim, no members");
    }

    #[test]
    fn a_claim_of_another_shape_is_refused_whole() {
        let many: Vec<String> = (0..=MAX_ORGANIZATIONS).map(|n| format!("org{n}")).collect();
        let cases = [
            ("a string", json!("acme")),
            ("a number", json!(7)),
            ("null", Value::Null),
            ("a boolean", json!(true)),
            ("numbers in the list", json!([1, 2])),
            ("a list in the list", json!([["acme"]])),
            ("an object in the list", json!([{"alias": "acme"}])),
            ("one good alias, then junk", json!(["acme", {"x": 1}])),
            ("an empty alias", json!([""])),
            ("an alias too long", json!(["a".repeat(MAX_ALIAS_CHARS + 1)])),
            ("a control character", json!(["ac\nme"])),
            ("an alias twice", json!(["acme", "acme"])),
            ("more than the maximum", json!(many)),
            ("a map to a string", json!({"acme": "id"})),
            ("a map to a list", json!({"acme": ["id"]})),
            ("an id that is a number", json!({"acme": {"id": 7}})),
            ("an attribute that is a string", json!({"acme": {"tier": "gold"}})),
            ("an attribute of numbers", json!({"acme": {"tier": [1]}})),
            ("nested junk", json!({"acme": {"tier": [{"deep": ["x"]}]}})),
            ("an id too long", json!({"acme": {"id": "i".repeat(MAX_ALIAS_CHARS + 1)}})),
            ("an empty alias key", json!({"": {}})),
        ];
        for (name, claim) in cases {
            let result = read(json!({ "organization": claim }));
            assert!(result.is_err(), "{name}: {result:?}");
        }
        let exactly_the_maximum: Vec<String> =
            (0..MAX_ORGANIZATIONS).map(|n| format!("org{n}")).collect();
        let read_max = read(json!({ "organization": exactly_the_maximum })).unwrap().unwrap();
        assert_eq!(read_max.len(), MAX_ORGANIZATIONS);
    }

    #[test]
    fn two_ids_for_one_organization_are_refused() {
        // serde_json keeps duplicate members of an object as they come.
        let token = r#"{"organization": {"acme": {"id": "a", "id": "b"}}}"#;
        assert!(serde_json::from_str::<Token>(token).is_err());
        let token = r#"{"organization": {"acme": {}, "acme": {"id": "b"}}}"#;
        assert!(serde_json::from_str::<Token>(token).is_err(), "an alias twice in the map");
    }

    #[test]
    fn aliases_of_keycloaks_alphabet_are_valid() {
        assert!(valid_alias("acme") && valid_alias("x.y-z_1") && valid_alias("Ünï"));
        assert!(valid_alias(&"é".repeat(MAX_ALIAS_CHARS)), "characters, not bytes");
        assert!(!valid_alias("") && !valid_alias("a\u{7f}") && !valid_alias(&"a".repeat(256)));
    }
}
