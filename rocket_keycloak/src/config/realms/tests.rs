//! Unit tests of the `oidc.issuers` entries' own settings, read through [`OidcConfig`]: an
//! entry's `allowed_azp` and `acr_levels`, what a further realm does not inherit, and what
//! launch refuses.

use rocket::figment::Figment;
use serde_json::{Value, json};

use super::super::error::ConfigError;
use super::super::load::OidcConfig;

const MAIN: &str = "https://sso.example/realms/main";
const PARTNER: &str = "https://sso.example/realms/partner";

/// The config with `client_id` and these `oidc` keys.
fn config(keys: Value) -> Result<OidcConfig, ConfigError> {
    let mut oidc = json!({"client_id": "app"});
    for (key, value) in keys.as_object().unwrap() {
        oidc[key] = value.clone();
    }
    OidcConfig::from_figment(&Figment::new().merge(("oidc", oidc)))
}

fn list(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|name| (*name).to_owned()).collect())
}

#[test]
fn an_entry_carries_its_own_allowed_azp_and_acr_levels() {
    let mut partner = json!({"issuer": PARTNER, "allowed_azp": ["partner-cli"]});
    partner["acr_levels"] = json!(["bronze", "gold"]);
    let mut keys = json!({"issuers": [MAIN, partner], "allowed_azp": ["app"]});
    keys["acr_levels"] = json!(["silver", "gold"]);
    let config = config(keys).unwrap();
    let [main, partner] = &config.realms[..] else { panic!("two realms") };
    assert_eq!(main.allowed_azp, list(&["app"]));
    assert_eq!(main.acr_levels.names(), ["silver", "gold"]);
    assert_eq!(partner.allowed_azp, list(&["partner-cli"]));
    assert_eq!(partner.acr_levels.names(), ["bronze", "gold"]);
    assert_eq!(partner.acr_levels.rank("silver"), None, "not the sign-in realm's");
}

#[test]
fn a_further_realm_inherits_neither_clients_nor_levels() {
    let config = config(json!({"issuers": [MAIN, PARTNER], "acr_levels": ["gold"]})).unwrap();
    assert_eq!(config.realms[1].allowed_azp, None, "no realm restricts azp");
    assert!(config.realms[1].acr_levels.names().is_empty(), "no levels");
    assert_eq!(config.realms[0].acr_levels, config.acr_levels);
}

#[test]
fn a_further_realm_without_allowed_azp_is_refused_when_the_sign_in_realm_has_one() {
    let error = config(json!({"issuers": [MAIN, PARTNER], "allowed_azp": ["app"]})).unwrap_err();
    assert_eq!(error.key, "oidc.issuers");
    assert!(error.message.contains("\"partner\""), "{error}");
    // The same list in the sign-in realm's own entry is the same restriction.
    let first = json!({"issuer": MAIN, "allowed_azp": ["app"]});
    assert_eq!(config(json!({"issuers": [first, PARTNER]})).unwrap_err().key, "oidc.issuers");
}

#[test]
fn the_sign_in_realms_lists_may_sit_in_its_entry_but_not_differ_from_the_top_level() {
    let first = json!({"issuer": MAIN, "allowed_azp": ["app"], "acr_levels": ["gold"]});
    let config_of = |top: Value| {
        let mut keys = json!({"issuers": [first.clone()]});
        keys.as_object_mut().unwrap().extend(top.as_object().unwrap().clone());
        config(keys)
    };
    let from_entry = config_of(json!({})).unwrap();
    assert_eq!(from_entry.allowed_azp, list(&["app"]));
    assert_eq!(from_entry.acr_levels.names(), ["gold"]);
    assert!(config_of(json!({"allowed_azp": ["app"], "acr_levels": ["gold"]})).is_ok());
    for top in [json!({"allowed_azp": ["other"]}), json!({"acr_levels": ["silver", "gold"]})] {
        let error = config_of(top.clone()).unwrap_err();
        assert_eq!(error.key, "oidc.issuers", "{top}");
        assert!(error.message.contains("differs"), "{error}");
    }
}

#[test]
fn an_entrys_lists_must_not_be_empty_or_unusable() {
    for (key, bad) in [
        ("allowed_azp", json!([])),
        ("allowed_azp", json!([" "])),
        ("acr_levels", json!([])),
        ("acr_levels", json!(["gold level"])),
        ("acr_levels", json!(["gold", "gold"])),
    ] {
        let mut partner = json!({"issuer": PARTNER, "allowed_azp": ["partner-cli"]});
        partner[key] = bad.clone();
        let error = config(json!({"issuers": [MAIN, partner]})).unwrap_err();
        assert_eq!(error.key, "oidc.issuers", "{key} {bad}");
        assert!(error.message.contains(&format!("partner's {key}")), "{error}");
    }
}
