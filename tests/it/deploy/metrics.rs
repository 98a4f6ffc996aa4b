//! The metrics side of the deployment files: the Grafana dashboard, the README's table, the
//! compose file's metrics listener and Prometheus, and the alert rules all name the metrics
//! the code records.

use serde_yaml::Value;

use super::{compose, env, root};

#[test]
fn the_dashboard_and_the_readme_use_the_metrics_the_code_records() {
    let dashboard = std::fs::read_to_string(root().join("deploy/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
    let code = telemetry_code();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let names = metric_names;
    let recorded = names(&code);
    assert!(recorded.len() >= 11, "{recorded:?}");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queried = std::collections::BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            queried.extend(names(target["expr"].as_str().unwrap()));
        }
    }
    assert!(
        queried.is_subset(&recorded),
        "the dashboard queries {:?}",
        queried.difference(&recorded)
    );
    assert_eq!(queried, recorded, "every metric has a panel");
    for name in &recorded {
        assert!(readme.contains(&format!("`{name}`")), "{name} is documented in the README");
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn metrics_are_served_on_the_compose_network_only_and_scraped_there() {
    let compose = compose();
    let services = &compose["services"];
    let metrics = env(&services["app"], "OIDC_METRICS");
    let address: std::net::SocketAddr = metrics.parse().expect("OIDC_METRICS is an address");
    let port = address.port().to_string();
    assert_ne!(port, env(&services["app"], "ROCKET_PORT"), "a listener of its own");
    for app in ["app", "app2"] {
        // Reachable on the compose network, published to the host never.
        let published: Vec<&str> = services[app]["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().rsplit(':').next().unwrap())
            .collect();
        assert!(!published.contains(&port.as_str()), "{app} publishes {port}: {published:?}");
        let exposed = serde_yaml::to_string(&services[app]["expose"]).unwrap();
        assert!(exposed.contains(&port), "{app} exposes {port} to the network: {exposed}");
        assert_eq!(env(&services[app], "OIDC_METRICS"), metrics, "{app}");
    }
    // The scraper: its own profile, scraping both instances on that port, its UI on the
    // host's loopback only.
    let scraper = &services["prometheus"];
    assert_eq!(scraper["profiles"][0].as_str(), Some("metrics"));
    let mount = scraper["volumes"][0].as_str().unwrap();
    let config = mount.split(':').next().unwrap();
    let config: Value =
        serde_yaml::from_str(&std::fs::read_to_string(root().join(config)).unwrap()).unwrap();
    let job = &config["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    let targets: Vec<&str> = job["static_configs"][0]["targets"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(targets, [format!("app:{port}"), format!("app2:{port}")]);
    for published in scraper["ports"].as_sequence().unwrap() {
        let published = published.as_str().unwrap();
        assert!(published.starts_with("127.0.0.1:"), "the scraper's UI on loopback: {published}");
    }
    // The app reads it as a listener; without the variable (Rocket.toml alone) nothing is
    // served.
    let rocket_toml = std::fs::read_to_string(root().join("Rocket.toml")).unwrap();
    figment::Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", &rocket_toml)?;
        let read = || rocket_keycloak::OidcConfig::from_figment(&rocket_keycloak::figment());
        assert_eq!(read().map_err(|e| e.to_string())?.metrics, rocket_keycloak::MetricsConfig::Off);
        jail.set_env("OIDC_METRICS", metrics);
        let config = read().map_err(|e| e.to_string())?;
        assert_eq!(config.metrics, rocket_keycloak::MetricsConfig::Listener(address));
        Ok(())
    });
}

/// The `rocket_keycloak_*` names in `text` (a histogram's `_bucket` series by its name).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("rocket_keycloak_") && w.len() > "rocket_keycloak_".len())
        .map(|w| w.trim_end_matches("_bucket").to_owned())
        .collect()
}

/// The code that names the metrics: `telemetry.rs`, and `telemetry/meters.rs` for the series
/// counted on every request.
fn telemetry_code() -> String {
    let read = |file| std::fs::read_to_string(root().join("rocket_keycloak/src").join(file));
    read("telemetry.rs").unwrap() + &read("telemetry/meters.rs").unwrap()
}

/// The metrics the telemetry code records, and those of them labelled by realm.
fn recorded_metrics() -> (std::collections::BTreeSet<String>, std::collections::BTreeSet<String>) {
    let code = telemetry_code();
    let by_realm = code
        .split("metrics::")
        .filter_map(|call| call.split(';').next())
        .filter(|call| call.contains("\"realm\""))
        .flat_map(metric_names)
        .collect();
    (metric_names(&code), by_realm)
}

#[test]
fn the_scraper_loads_alert_rules_that_name_metrics_the_app_exports() {
    let compose = compose();
    let scraper = &compose["services"]["prometheus"];
    let mounts: Vec<(&str, &str)> = scraper["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            let mut parts = v.as_str().unwrap().split(':');
            (parts.next().unwrap(), parts.next().unwrap())
        })
        .collect();
    let read = |path: &str| -> Value {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is valid YAML: {e}"))
    };
    let config = read(mounts[0].0);
    let rule_files: Vec<&str> = config["rule_files"]
        .as_sequence()
        .expect("rule_files")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(!rule_files.is_empty());
    let (recorded, _) = recorded_metrics();
    let mut alerted = std::collections::BTreeSet::new();
    for inside in rule_files {
        let (source, _) = mounts.iter().find(|(_, target)| *target == inside).expect("mounted");
        let rules = read(source);
        let groups = rules["groups"].as_sequence().expect("groups");
        for rule in groups.iter().flat_map(|g| g["rules"].as_sequence().unwrap()) {
            let name = rule["alert"].as_str().expect("an alert name");
            let expr = rule["expr"].as_str().unwrap_or_else(|| panic!("{name} has an expr"));
            assert!(rule["labels"]["severity"].is_string(), "{name} has a severity");
            assert!(rule["annotations"]["summary"].is_string(), "{name} has a summary");
            // Label values (the job's name) are not metric names.
            let unquoted: String = expr.split('"').step_by(2).collect();
            let names = metric_names(&unquoted);
            assert!(names.is_subset(&recorded), "{name} names {:?}", names.difference(&recorded));
            alerted.extend(names);
        }
    }
    // The README's alerts, each a rule.
    for metric in [
        "jwks_last_success_timestamp_seconds",
        "token_rejections_total",
        "refresh_total",
        "auth_total",
    ] {
        assert!(alerted.contains(&format!("rocket_keycloak_{metric}")), "no alert on {metric}");
    }
}

#[test]
fn the_dashboards_realm_level_panels_keep_the_realm_label() {
    let dashboard = std::fs::read_to_string(root().join("deploy/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let (_, by_realm) = recorded_metrics();
    assert!(by_realm.len() >= 3, "{by_realm:?}");
    let mut seen = 0;
    for target in dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
    {
        let expr = target["expr"].as_str().unwrap();
        if metric_names(expr).is_disjoint(&by_realm) {
            continue;
        }
        seen += 1;
        // An aggregation keeps `realm` among its groups, and the legend tells realms apart.
        for (_, groups) in expr.match_indices("by (").map(|(i, _)| ((), &expr[i..])) {
            let groups = groups.split(')').next().unwrap();
            assert!(groups.contains("realm"), "{expr} aggregates the realm away");
        }
        let legend = target["legendFormat"].as_str().unwrap_or("");
        assert!(legend.contains("{{realm}}"), "{expr}: legend {legend:?}");
    }
    assert!(seen >= 3, "every realm-level metric has a panel");
}
