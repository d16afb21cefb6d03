//! `report.html`: `report.md` as one page that opens from disk. The CSS and every chart are inside
//! the file (the charts as inline `<svg>`), so it can be mailed, archived or opened offline and
//! still shows everything; nothing is fetched.
//!
//! It is rendered from the Markdown, not from the summary, so the two reports cannot say
//! different things: each `## Section` becomes a `<section id="…">` (the verdict, which comes
//! first, is `#verdict`), and each `![…](chart.svg)` becomes the chart itself.

use std::path::Path;

use anyhow::Context;
use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The page's style: readable text; the verdict and its charts first, the charts side by side;
/// tables that wrap to the page rather than run past it; charts that shrink to the window.
const STYLE: &str = "
body { font: 15px/1.5 system-ui, sans-serif; color: #222; max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin: 0.4rem 0; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
section#verdict { background: #f3f7fc; border: 1px solid #c9d8ea; border-radius: 6px; padding: 0 1.2rem 0.4rem; }
section#verdict h2 { border: 0; margin-top: 0.8rem; }
section#verdict p:has(> svg) { display: grid; grid-auto-flow: column; grid-auto-columns: 1fr; gap: 1rem; }
section#verdict p > svg { margin: 0; }
table { border-collapse: collapse; font-size: 13px; margin: 0.8rem 0; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.4rem; }
td { overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
td:first-child { overflow-wrap: normal; }
th { background: #f4f4f4; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f2f2f2; padding: 0 0.2rem; border-radius: 3px; }
svg { display: block; max-width: 100%; height: auto; margin: 1rem 0; }
";

/// Renders `markdown` as a self-contained page; its `.svg` images are read from `dir` and put
/// inline. A chart that is missing is an error: the report would otherwise show a hole.
pub fn render(markdown: &str, dir: &Path) -> anyhow::Result<String> {
    let mut events: Vec<Event> = Vec::new();
    let mut title = String::new();
    let mut in_title = false;
    let mut section_open = false;
    let mut parser = Parser::new_ext(markdown, Options::ENABLE_TABLES);
    while let Some(event) = parser.next() {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H1,
                ..
            }) => {
                in_title = true;
                events.push(event);
            }
            Event::End(TagEnd::Heading(HeadingLevel::H1)) => {
                in_title = false;
                events.push(event);
            }
            Event::Text(ref text) if in_title => {
                title.push_str(text);
                events.push(event);
            }
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => {
                // The heading's text names the section.
                let heading: Vec<Event> = parser
                    .by_ref()
                    .take_while(|e| !matches!(e, Event::End(TagEnd::Heading(_))))
                    .collect();
                let name: String = heading
                    .iter()
                    .filter_map(|e| match e {
                        Event::Text(t) | Event::Code(t) => Some(t.as_ref()),
                        _ => None,
                    })
                    .collect();
                let close = if section_open { "</section>\n" } else { "" };
                events.push(Event::Html(format!("{close}<section id=\"{}\">\n", slug(&name)).into()));
                section_open = true;
                events.push(event);
                events.extend(heading);
                events.push(Event::End(TagEnd::Heading(HeadingLevel::H2)));
            }
            Event::Start(Tag::Image { dest_url, .. }) if is_local_svg(&dest_url) => {
                // The alt text becomes the chart's accessible name; the image's own events end here.
                let alt: String = parser
                    .by_ref()
                    .take_while(|e| !matches!(e, Event::End(TagEnd::Image)))
                    .filter_map(|e| match e {
                        Event::Text(t) => Some(t.into_string()),
                        _ => None,
                    })
                    .collect();
                events.push(Event::InlineHtml(inline_svg(dir, &dest_url, &alt)?.into()));
            }
            // The report's text comes from measured data (servers' error bodies among it): any
            // markup in it is shown as text, never run.
            Event::Html(raw) | Event::InlineHtml(raw) => events.push(Event::Text(raw)),
            other => events.push(other),
        }
    }
    if section_open {
        events.push(Event::Html("</section>\n".into()));
    }
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events.into_iter());
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(&title)
    ))
}

/// A chart file written beside the report: a plain file name ending in `.svg`.
fn is_local_svg(url: &CowStr) -> bool {
    url.ends_with(".svg") && !url.contains(['/', '\\', ':'])
}

/// The chart's SVG, ready to sit inside the page, labelled with `alt`.
fn inline_svg(dir: &Path, file: &str, alt: &str) -> anyhow::Result<String> {
    let path = dir.join(file);
    let svg = std::fs::read_to_string(&path).with_context(|| format!("reading the chart {}", path.display()))?;
    let start = svg
        .find("<svg")
        .with_context(|| format!("{} holds no <svg> element", path.display()))?;
    let svg = &svg[start..];
    Ok(svg.replacen(
        "<svg",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" data-file=\"{}\"",
            escape(alt),
            escape(file)
        ),
        1,
    ))
}

/// `How this was measured` → `how-this-was-measured`.
fn slug(heading: &str) -> String {
    let words: Vec<String> = heading
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.join("-")
}

fn escape(text: &str) -> String {
    let mut out = String::new();
    pulldown_cmark_escape::escape_html(&mut out, text).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: &str = "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\" \
                         xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"5\" height=\"5\"/></svg>\n";

    fn render_with_chart(markdown: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("throughput.svg"), CHART).unwrap();
        render(markdown, dir.path()).unwrap()
    }

    #[test]
    fn sections_get_ids_and_charts_are_inline() {
        let page = render_with_chart(
            "# Lab report\n\n## Conclusions\n\n- **Fastest: a.** More.\n\n## Charts\n\n![throughput](throughput.svg)\n\n\
             ## How this was measured\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("<title>Lab report</title>"), "{page}");
        assert!(
            page.contains("<section id=\"conclusions\">\n<h2>Conclusions</h2>"),
            "{page}"
        );
        assert!(page.contains("<strong>Fastest: a.</strong>"), "{page}");
        assert!(page.contains("</section>\n<section id=\"charts\">"), "{page}");
        assert!(page.contains("<section id=\"how-this-was-measured\">"), "{page}");
        assert!(
            page.contains("<svg role=\"img\" aria-label=\"throughput\" data-file=\"throughput.svg\" width=\"10\""),
            "{page}"
        );
        assert!(!page.contains("<?xml") && !page.contains("<img"), "{page}");
        assert!(page.contains("<td>2</td>"), "{page}");
        assert_eq!(
            page.matches("<section").count(),
            page.matches("</section>").count(),
            "{page}"
        );
    }

    #[test]
    fn markup_in_the_text_is_shown_not_run() {
        let page = render_with_chart("## Warnings\n\n- the server said <script>alert(1)</script> and <b>\n");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
    }

    #[test]
    fn nothing_points_outside_the_file() {
        let page = render_with_chart("# T\n\n![throughput](throughput.svg)\n");
        for fetching in ["src=", "href=", "url(", "@import"] {
            assert!(!page.contains(fetching), "{fetching} in {page}");
        }
    }

    #[test]
    fn a_missing_chart_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = render("![latency](latency.svg)", dir.path()).unwrap_err();
        assert!(format!("{error:#}").contains("latency.svg"), "{error:#}");
    }
}
