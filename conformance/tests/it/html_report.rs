//! `run --html FILE`: the HTML report of a failing run shows the failed check with its fix
//! and evidence, each evidence line linked to its highlighted row of the scenario's
//! swimlane timeline; the page is self-contained; the JSON report carries the whole
//! timeline the evidence is a slice of.

use std::path::PathBuf;

use libtest_mimic::Trial;

use crate::support::{bin, tmp};

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![a_failing_runs_html_shows_the_check_and_highlights_its_evidence]
}

/// A scenario the reference subject fails (`via`: results by poll, while every pingback
/// arrives first), run with `--html` and `--json`; the two report paths.
pub(crate) fn failing_run(label: &str) -> (PathBuf, PathBuf) {
    let file = tmp(&format!("{label}-impossible.toml"));
    std::fs::write(
        &file,
        "name = \"impossible\"\ndescription = \"expects polling where pingbacks win\"\nseed = 3\n\n[mock]\nsolve-time = { fixed = \"5s\" }\n\n[expect]\nvia = \"poll\"\n\n[workload]\ntasks = [{ method = \"turnstile\" }]\n",
    )
    .unwrap();
    let (html, json) = (tmp(&format!("{label}.html")), tmp(&format!("{label}.json")));
    let out = bin()
        .args(["run", file.to_str().unwrap(), "--html"])
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a failing run: {stdout}");
    (html, json)
}

/// The `id="..."` anchors an HTML page links to with `href="#..."`.
fn links(html: &str) -> Vec<&str> {
    html.split("href=\"#")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect()
}

/// The opening tag of the element with this id.
fn tag_with_id<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    Some(&html[start..=end])
}

fn a_failing_runs_html_shows_the_check_and_highlights_its_evidence() {
    let (html, json) = failing_run("html-report");
    let page = std::fs::read_to_string(&html).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();

    // Self-contained: nothing is fetched.
    for outside in ["src=\"http", "href=\"http", "<link", "@import", "src=\"//"] {
        assert!(!page.contains(outside), "{outside} in the page");
    }
    // The verdict table links to the failed check, whose row says FAILED and the fix.
    let row = tag_with_id(&page, "s0-via").expect("the via check's row");
    assert!(row.starts_with("<tr"), "{row}");
    assert!(
        links(&page).contains(&"s0-via"),
        "linked from the verdict table"
    );
    let check = &page[page.find("id=\"s0-via\"").unwrap()..];
    let check = &check[..check.find("</tr>").unwrap()];
    assert!(check.contains("badge v-FAILED"), "{check}");
    assert!(
        check.contains("follow the configured strategy"),
        "the fix: {check}"
    );

    // Every evidence line links to a row of the timeline, highlighted and citing `via`; the
    // pingback that proves the failure is among them, in the pingback lane.
    let via = report["scenarios"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "via")
        .expect("via in the JSON");
    let evidence = via["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty());
    let timeline = report["scenarios"][0]["timeline"].as_array().unwrap();
    for e in evidence {
        assert!(
            timeline
                .iter()
                .any(|t| t["source"] == e["source"] && t["seq"] == e["seq"]),
            "the JSON timeline holds the evidence {e}"
        );
        let id = format!("s0-e-{}-{}", e["source"].as_str().unwrap(), e["seq"]);
        assert!(
            links(check).contains(&id.as_str()),
            "{id} linked from the check"
        );
        let row = tag_with_id(&page, &id).unwrap_or_else(|| panic!("row {id}"));
        assert!(
            row.contains("class=\"cited\"") && row.contains("data-checks=\"via\""),
            "{row}"
        );
    }
    let delivery = evidence
        .iter()
        .find(|e| e["event"] == "delivery")
        .expect("the pingback is evidence");
    let id = format!("s0-e-dispatcher-{}", delivery["seq"]);
    let row = &page[page.find(&format!("id=\"{id}\"")).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let cells: Vec<&str> = row.split("<td").skip(1).collect();
    assert_eq!(cells.len(), 6, "time and five lanes: {row}");
    assert!(
        cells[2].contains("delivered 200"),
        "the pingback sits in the second lane: {row}"
    );
    // Rows no check cites are not highlighted.
    assert!(timeline.len() >= evidence.len());
    assert_eq!(page.matches("class=\"cited\"").count(), evidence.len());
}
