//! `{{name}}`: summarises CSV tables. Written by `cordon new tool {{name}} --lang rust`;
//! make it yours. Build with `cordon build`, install with `cordon tools add .`, call with
//! `cordon run {{name}} --json '{"csv": "a,b\n1,2\n"}'`.

wit_bindgen::generate!({
    path: "wit",
    world: "local:{{name}}/{{name}}@0.1.0",
    // The host's logging interface comes from the SDK, so it is bound once.
    with: { "cordon:tool/logging@0.1.0": cordon_sdk::logging },
});

use cordon_sdk::{Error, log};

struct Tool;

export!(Tool);

impl Guest for Tool {
    fn summarize(csv: String) -> Result<Summary, String> {
        let summary = summarize_csv(&csv)?;
        log::info("summarised a table", &[("rows", &summary.rows.to_string())]);
        Ok(summary)
    }
}

fn summarize_csv(csv: &str) -> Result<Summary, Error> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error::invalid_input("the table is empty"))?
        .split(',')
        .map(str::trim)
        .collect();
    let mut filled = vec![0u32; header.len()];
    // A column's numbers while every value so far is one.
    let mut numbers: Vec<Option<Vec<f64>>> = vec![Some(Vec::new()); header.len()];
    let mut rows = 0u32;
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != header.len() {
            return Err(Error::invalid_input(format!(
                "row {} has {} fields, the header {}",
                i + 1,
                fields.len(),
                header.len()
            )));
        }
        rows += 1;
        for (c, field) in fields.iter().enumerate() {
            if field.is_empty() {
                continue;
            }
            filled[c] += 1;
            match (&mut numbers[c], field.parse::<f64>()) {
                (Some(column), Ok(n)) => column.push(n),
                (slot, Err(_)) => *slot = None,
                (None, Ok(_)) => {}
            }
        }
    }
    let columns = header
        .iter()
        .enumerate()
        .map(|(c, name)| Column {
            name: (*name).to_owned(),
            filled: filled[c],
            numeric: numbers[c]
                .as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| NumericStats {
                    min: v.iter().copied().fold(f64::INFINITY, f64::min),
                    max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    mean: v.iter().sum::<f64>() / v.len() as f64,
                }),
        })
        .collect();
    Ok(Summary { rows, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_small_table() {
        let s = summarize_csv("city,population\nOslo,709000\nBergen,291000\n").unwrap();
        assert_eq!(s.rows, 2);
        assert!(s.columns[0].numeric.is_none());
        let population = s.columns[1].numeric.as_ref().unwrap();
        assert_eq!((population.min, population.max), (291000.0, 709000.0));
    }

    #[test]
    fn a_ragged_row_is_invalid_input() {
        let e = summarize_csv("a,b\n1\n").unwrap_err();
        assert_eq!(e.kind, cordon_sdk::ErrorKind::InvalidInput);
    }
}
