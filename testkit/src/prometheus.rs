//! Reading one series out of a Prometheus text answer (`GET /metrics`).

/// The value of the series `name{labels}` (labels in any order, and no others), if present.
pub fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching = text.lines().filter(|line| !line.starts_with('#')).find(|line| {
        let Some(rest) = line.strip_prefix(name) else { return false };
        let series = match rest.strip_prefix('{') {
            Some(labelled) => labelled.split('}').next().unwrap_or_default(),
            None if rest.starts_with(' ') => "",
            None => return false, // another metric whose name starts with this one
        };
        labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
            && series.matches('=').count() == labels.len()
    })?;
    matching.rsplit(' ').next()?.parse().ok()
}

/// The value of the series `name{labels}`; panics with the whole answer when it is absent.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::{series, value};

    const TEXT: &str =
        "# TYPE a_total counter\na_total{x=\"1\",y=\"2\"} 3\na_total_more 9\nb 4.5\n";

    #[test]
    fn finds_a_series_by_its_labels_in_any_order() {
        assert_eq!(value(TEXT, "a_total", &[("y", "2"), ("x", "1")]), 3.0);
        assert_eq!(value(TEXT, "b", &[]), 4.5);
        assert_eq!(series(TEXT, "a_total", &[("x", "1")]), None, "labels must match exactly");
        assert_eq!(series(TEXT, "a", &[]), None, "a prefix is another metric");
    }
}
