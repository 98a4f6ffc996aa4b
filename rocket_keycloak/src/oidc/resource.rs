//! `GET /.well-known/oauth-protected-resource`: the app's protected-resource metadata
//! (RFC 9728), mounted by `OidcFairing` unless `resource_metadata = false`. What is in it is
//! decided by the configuration (`config/resource.rs`); every challenge names its URL
//! (`error/challenge.rs`).

use rocket::serde::json::{Json, Value, json};
use rocket::{Route, State, get, routes};

use super::verify::Oidc;

/// The route, at the RFC's path (`config::WELL_KNOWN`, which the challenges name).
pub(super) fn routes() -> Vec<Route> {
    routes![protected_resource]
}

#[get("/.well-known/oauth-protected-resource")]
fn protected_resource(oidc: &State<Oidc>) -> Json<Value> {
    Json(document(oidc))
}

/// The metadata document (RFC 9728 §2): the fields the configuration sets, and only those.
pub(crate) fn document(oidc: &Oidc) -> Value {
    let config = oidc.config();
    let mut document = json!({
        "resource": config.app_url.as_str().trim_end_matches('/'),
        "authorization_servers": config.realms.iter().map(|r| r.issuer.as_str()).collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
    });
    let metadata = &config.resource_metadata;
    if !metadata.scopes_supported.is_empty() {
        document["scopes_supported"] = json!(metadata.scopes_supported);
    }
    if let Some(docs) = &metadata.documentation {
        document["resource_documentation"] = json!(docs.as_str());
    }
    if cfg!(feature = "dpop") {
        let algorithms: Vec<String> = config.algorithms.iter().map(|a| format!("{a:?}")).collect();
        document["dpop_signing_alg_values_supported"] = json!(algorithms);
        document["dpop_bound_access_tokens_required"] =
            json!(config.dpop == crate::config::DpopPolicy::Required);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_is_where_the_challenges_say() {
        let route = &routes()[0];
        assert_eq!(route.uri.path(), crate::config::WELL_KNOWN);
    }
}
