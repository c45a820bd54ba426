//! The HTML report: one self-contained page (inline SVG plots, inline CSS, no script, no
//! network), so it opens offline and can be attached to an issue or a CI run as one file.
//! It only assembles; the plots are `report::plot`'s and the figures the caller's.

use super::plot::Plot;
use std::fmt::Write as _;

/// One section of the page: a heading, HTML (tables, notes) and its plots.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub html: String,
    pub plots: Vec<Plot>,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table: a header row and rows of cells, all escaped here.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table>\n<tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", escape(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

/// The page.
pub fn page(title: &str, intro: &str, sections: &[Section]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>{}</p>\n",
        escape(title),
        CSS,
        escape(title),
        escape(intro)
    );
    for sec in sections {
        let _ = write!(
            s,
            "<section>\n<h2>{}</h2>\n{}",
            escape(&sec.title),
            sec.html
        );
        for p in &sec.plots {
            let _ = write!(
                s,
                "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
                strip_xml_declaration(&p.svg),
                escape(&p.title)
            );
        }
        s.push_str("</section>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

/// An inline `<svg>` may not carry an XML declaration.
fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;max-width:980px;color:#222}\n\
table{border-collapse:collapse;margin:1em 0}\n\
th,td{border:1px solid #bbb;padding:3px 8px;text-align:right;font-size:13px}\n\
th{background:#eee}td:first-child,th:first-child{text-align:left}\n\
figure{margin:1em 0}figcaption{font-size:12px;color:#555}\n\
section{border-top:1px solid #ddd;margin-top:2em}\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_svg_inlined() {
        let plot = Plot {
            name: "p".into(),
            title: "a < b".into(),
            svg: "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into(),
        };
        let html = page(
            "t&t",
            "intro",
            &[Section {
                title: "S".into(),
                html: table(&["x"], &[vec!["<y>".into()]]),
                plots: vec![plot],
            }],
        );
        assert!(html.contains("<title>t&amp;t</title>"));
        assert!(html.contains("<td>&lt;y&gt;</td>"));
        assert!(html.contains("<figure>\n<svg xmlns"));
        assert!(!html.contains("<?xml"));
        assert!(!html.contains("<script"));
    }
}
