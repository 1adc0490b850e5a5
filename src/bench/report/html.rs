//! `bench --report FILE.html` and `bench report FILE.json... --html OUT`:
//! one self-contained page that opens offline in any browser.
//!
//! The page carries everything inline: the reports as JSON (their
//! histograms replaced by percentile spectra computed here), the page's own
//! script and style (assets/report/), and uPlot, the chart library
//! (assets/uplot/, vendored from its npm package with its licence; version
//! and checksum in assets/uplot/VERSION). No fetch of any kind.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::bench::report::Report;
use crate::bench::report::histograms::decode;

const UPLOT_JS: &str = include_str!("../../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../../assets/uplot/LICENSE");
const PAGE_JS: &str = include_str!("../../../assets/report/report.js");
const PAGE_CSS: &str = include_str!("../../../assets/report/report.css");

/// Points of a spectrum: 1/(1-p) from 1 (p = 0) to 100,000 (p = 99.999%).
const SPECTRUM_POINTS: usize = 120;

/// One report as the page gets it.
#[derive(Serialize)]
struct PageReport<'a> {
    label: &'a str,
    report: serde_json::Value,
    spectra: Spectra,
}

/// (1/(1-p), microseconds) pairs for each histogram the report has.
#[derive(Serialize, Default)]
struct Spectra {
    latency: Vec<(f64, u64)>,
    latency_uncorrected: Vec<(f64, u64)>,
    send_lag: Vec<(f64, u64)>,
}

/// The page for `reports` (label, report), the first the baseline.
pub fn render(reports: &[(String, &Report)]) -> Result<String, String> {
    let mut page = Vec::with_capacity(reports.len());
    for (label, report) in reports {
        let spectra = Spectra {
            latency: spectrum(Some(&report.histograms.latency))?,
            latency_uncorrected: spectrum(report.histograms.latency_uncorrected.as_ref())?,
            send_lag: spectrum(report.histograms.send_lag.as_ref())?,
        };
        let mut value = serde_json::to_value(report).map_err(|err| err.to_string())?;
        // The spectra say what the page needs of them; the encodings would
        // only add to its size.
        if let Some(object) = value.as_object_mut() {
            object.remove("histograms");
        }
        page.push(PageReport {
            label,
            report: value,
            spectra,
        });
    }
    // `</` would end the script element holding the data: JSON allows `<\/`.
    let data = serde_json::to_string(&page)
        .map_err(|err| err.to_string())?
        .replace("</", "<\\/");
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>mio-echo bench report</title>
<style>{UPLOT_CSS}</style>
<style>{PAGE_CSS}</style>
</head>
<body>
<section id="run"></section>
<div class="top">
<div><h2>Headline figures</h2><section id="headline"></section></div>
<div><h2>The run</h2><section id="setup"></section></div>
</div>
<h2>Over time</h2><section id="time" class="charts"></section>
<h2>Latency spectrum</h2><section id="spectrum" class="charts"></section>
<section id="extras"></section>
<p class="note">mio-echo {version}. Charts by uPlot (MIT licence, below).</p>
<script type="application/json" id="reports">{data}</script>
<script>
/* uPlot, https://github.com/leeoniya/uPlot
{license}*/
{UPLOT_JS}
</script>
<script>
{PAGE_JS}
</script>
</body>
</html>
"#,
        version = env!("CARGO_PKG_VERSION"),
        license = UPLOT_LICENSE.replace("*/", "* /"),
    ))
}

/// The percentile spectrum of an encoded histogram (empty when absent or
/// empty), up to the last percentile its count can tell apart.
fn spectrum(encoded: Option<&String>) -> Result<Vec<(f64, u64)>, String> {
    let Some(encoded) = encoded else {
        return Ok(Vec::new());
    };
    let histogram: Histogram<u64> = decode(encoded)?;
    if histogram.is_empty() {
        return Ok(Vec::new());
    }
    let limit = (histogram.len() as f64).min(100_000.0);
    let mut points = Vec::with_capacity(SPECTRUM_POINTS + 1);
    for i in 0..=SPECTRUM_POINTS {
        let x = limit.powf(i as f64 / SPECTRUM_POINTS as f64);
        let quantile = 1.0 - 1.0 / x;
        points.push((x, histogram.value_at_quantile(quantile)));
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spectrum_climbs_to_the_tail_on_the_one_over_one_minus_p_axis() {
        let mut histogram = crate::bench::report::histograms::new_histogram();
        for value in 1..=10_000u64 {
            histogram.record(value).unwrap();
        }
        let encoded = crate::bench::report::histograms::encode(&histogram);
        let points = spectrum(Some(&encoded)).unwrap();
        assert_eq!(points.first().unwrap().0, 1.0);
        assert!(
            (points.last().unwrap().0 - 10_000.0).abs() < 1e-6,
            "{:?}",
            points.last()
        );
        assert!(points.windows(2).all(|w| w[1].1 >= w[0].1), "not monotonic");
        // p50 sits at x = 2.
        let (_, median) = points
            .iter()
            .find(|(x, _)| (x - 2.0).abs() < 0.1)
            .copied()
            .unwrap_or((0.0, 0));
        assert!(median == 0 || (4900..=5100).contains(&median), "{median}");
        assert!(points.last().unwrap().1 >= 9_990);
        assert!(spectrum(None).unwrap().is_empty());
    }

    /// The vendored chart library is the one assets/uplot/VERSION names.
    #[test]
    fn the_vendored_chart_library_matches_its_recorded_checksums() {
        let recorded = include_str!("../../../assets/uplot/VERSION");
        for (name, bytes) in [("uPlot.iife.min.js", UPLOT_JS), ("uPlot.min.css", UPLOT_CSS)] {
            let digest = ring::digest::digest(&ring::digest::SHA256, bytes.as_bytes());
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                recorded.contains(&format!("{hex}  {name}")),
                "{name}: sha256 {hex} not in VERSION"
            );
        }
    }

    #[test]
    fn the_page_is_self_contained_and_its_data_cannot_end_its_script() {
        let mut report: Report =
            serde_json::from_str(include_str!("../../../tests/data/report-open-loop.json")).unwrap();
        report.warnings.push("a warning with </script> in it".into());
        let page = render(&[("run".into(), &report)]).unwrap();
        assert_eq!(
            page.matches("</script>").count(),
            3,
            "the data ended its script early"
        );
        for fetch in [
            "src=\"http",
            "href=\"http",
            "@import",
            "url(http",
            "fetch(",
            "XMLHttpRequest",
        ] {
            assert!(!page.contains(fetch), "the page would fetch: {fetch}");
        }
    }
}
