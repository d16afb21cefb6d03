//! `results.csv`: one row per entry of `summary.json`'s `results`, for spreadsheets and
//! pandas. The columns are the entries' keys, nested objects flattened with dotted names
//! (`rps.min`, `rps.max`), as hyperfine's `--export-csv` gives one row per command. A key an
//! entry lacks, or a `null`, is an empty cell.

use serde_json::Value;

use loadtest_model::summary::RunSummary;

/// The CSV text of `summary`'s results.
pub fn results_csv(summary: &RunSummary) -> anyhow::Result<String> {
    let rows: Vec<Vec<(String, String)>> = summary
        .results
        .iter()
        .map(|result| {
            let mut cells = Vec::new();
            flatten("", &serde_json::to_value(result)?, &mut cells);
            Ok(cells)
        })
        .collect::<anyhow::Result<_>>()?;
    // Columns in the order they first appear, so every row's keys keep the struct's order.
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for (key, _) in row {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&columns)?;
    for row in &rows {
        writer.write_record(columns.iter().map(|column| {
            row.iter()
                .find(|(key, _)| key == column)
                .map_or("", |(_, value)| value.as_str())
        }))?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// Appends `value`'s leaves to `cells`, named by their path from `prefix`.
fn flatten(prefix: &str, value: &Value, cells: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, cells);
            }
        }
        Value::Null => cells.push((prefix.to_owned(), String::new())),
        Value::String(text) => cells.push((prefix.to_owned(), text.clone())),
        // Numbers and booleans as JSON writes them; an array (none in `results` today) as JSON.
        other => cells.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_result_with_dotted_columns_that_read_back() {
        let summary = crate::charts::tests::fake_summary(true);
        let text = results_csv(&summary).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        for column in [
            "server",
            "work",
            "concurrency",
            "rps_median",
            "rps.min",
            "rps.max",
            "latency_p50.median",
        ] {
            assert!(header.iter().any(|h| h == column), "{column} not in {header:?}");
        }
        assert!(!header.iter().any(|h| h == "rps"), "objects are flattened: {header:?}");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), summary.results.len());
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        for (row, result) in rows.iter().zip(&summary.results) {
            assert_eq!(&row[column("server")], result.server);
            assert_eq!(
                row[column("concurrency")].parse::<u32>().unwrap(),
                result.scenario.concurrency
            );
            let rps: f64 = row[column("rps_median")].parse().unwrap();
            assert_eq!(Some(rps), result.rps_median);
            let min: f64 = row[column("rps.min")].parse().unwrap();
            assert_eq!(Some(min), result.rps.map(|s| s.min));
        }
    }

    #[test]
    fn a_missing_or_null_value_is_an_empty_cell() {
        let mut cells = Vec::new();
        flatten(
            "",
            &serde_json::json!({"a": null, "b": {"c": 1.5, "d": "x"}, "e": true}),
            &mut cells,
        );
        assert_eq!(
            cells,
            [("a", ""), ("b.c", "1.5"), ("b.d", "x"), ("e", "true")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
