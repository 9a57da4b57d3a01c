//! `k6/experimental/csv`: `csv.parse(file, options)` and `new csv.Parser(file, options)` over a
//! file of `k6/experimental/fs`
//! ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#k6experimentalcsv)).
//!
//! The records are read as k6 reads them (Go's `encoding/csv`): fields quoted with `"` (a
//! doubled `""` inside), line breaks inside quotes kept, `\r\n` read as `\n`, empty lines
//! skipped, a bare `"` in an unquoted field an error, and every record with as many fields as
//! the first. The options, `SharedArray` and `{done, value}` shapes live in `csv.js`.

use std::rc::Rc;

use rquickjs::{Ctx, Exception, Function, Value};

use super::convert::bytes_of;
use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::VuCtx;

type R<T> = rquickjs::Result<T>;

/// `k6/experimental/csv`.
pub const MODULE: K6Module = K6Module {
    name: "k6/experimental/csv",
    js: include_str!("csv.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, _vu: &Rc<VuCtx>) -> R<()> {
    v.set(
        "csvRecords",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, data: Value<'js>, delimiter: String| -> R<String> {
                let bytes = bytes_of(&data)
                    .ok_or_else(|| Exception::throw_type(&ctx, "csv: the data is no buffer"))?;
                let mut chars = delimiter.chars();
                let (Some(d), None) = (chars.next(), chars.next()) else {
                    return Err(Exception::throw_type(
                        &ctx,
                        "csv: the delimiter must be one character",
                    ));
                };
                let items: Vec<serde_json::Value> = records(&String::from_utf8_lossy(&bytes), d)
                    .into_iter()
                    .map(|r| match r {
                        Ok(fields) => serde_json::json!({ "r": fields }),
                        Err(e) => serde_json::json!({ "e": e }),
                    })
                    .collect();
                Ok(serde_json::Value::Array(items).to_string())
            },
        )?,
    )?;
    Ok(())
}

/// Every record of `text`, or the error reading it (in Go's words, which k6 shows), in order:
/// after an error the reading goes on at the next line, as Go's reader does.
pub fn records(text: &str, delimiter: char) -> Vec<Result<Vec<String>, String>> {
    let mut out = Vec::new();
    let mut lines = Lines::new(text);
    let mut fields_per_record = None;
    while let Some(read) = read_record(&mut lines, delimiter) {
        out.push(read.and_then(|(start, fields)| {
            match fields_per_record {
                None => fields_per_record = Some(fields.len()),
                Some(n) if n != fields.len() => {
                    return Err(format!("record on line {start}: wrong number of fields"))
                }
                Some(_) => {}
            }
            Ok(fields)
        }));
    }
    out
}

/// The text's lines, each with its `\n` (a `\r\n` ending read as `\n`), numbered from 1.
struct Lines<'a> {
    rest: &'a str,
    number: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            rest: text,
            number: 0,
        }
    }

    fn next(&mut self) -> Option<String> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.number += 1;
        let mut line = line.to_owned();
        if line.ends_with("\r\n") {
            line.truncate(line.len() - 2);
            line.push('\n');
        }
        Some(line)
    }
}

/// One record: the line it starts on and its fields; `None` at the end of the text.
fn read_record(
    lines: &mut Lines<'_>,
    delimiter: char,
) -> Option<Result<(usize, Vec<String>), String>> {
    // Empty lines are skipped.
    let mut line = loop {
        let l = lines.next()?;
        if l != "\n" {
            break l;
        }
    };
    let start = lines.number;
    let mut fields = Vec::new();
    let mut pos = 0; // byte index into `line`
    loop {
        let rest = &line[pos..];
        if !rest.starts_with('"') {
            // An unquoted field: up to the delimiter or the line's end.
            let end = rest
                .find(delimiter)
                .unwrap_or_else(|| rest.strip_suffix('\n').map_or(rest.len(), str::len));
            let field = &rest[..end];
            if let Some(i) = field.find('"') {
                let col = line[..pos + i].chars().count() + 1;
                return Some(Err(parse_error(
                    start,
                    lines.number,
                    col,
                    "bare \" in non-quoted-field",
                )));
            }
            fields.push(field.to_owned());
            if rest[end..].starts_with(delimiter) {
                pos += end + delimiter.len_utf8();
                continue;
            }
            return Some(Ok((start, fields)));
        }
        // A quoted field: `""` is a quote; it may run over several lines.
        let mut field = String::new();
        pos += 1;
        loop {
            let rest = &line[pos..];
            match rest.find('"') {
                Some(i) => {
                    field.push_str(&rest[..i]);
                    let after = &rest[i + 1..];
                    if after.starts_with('"') {
                        field.push('"');
                        pos += i + 2;
                    } else if after.starts_with(delimiter) {
                        pos += i + 1 + delimiter.len_utf8();
                        fields.push(std::mem::take(&mut field));
                        break;
                    } else if after.is_empty() || after == "\n" {
                        fields.push(std::mem::take(&mut field));
                        return Some(Ok((start, fields)));
                    } else {
                        let col = line[..pos + i + 1].chars().count() + 1;
                        return Some(Err(parse_error(
                            start,
                            lines.number,
                            col,
                            "extraneous or missing \" in quoted-field",
                        )));
                    }
                }
                None => {
                    field.push_str(rest);
                    match lines.next() {
                        Some(next) => {
                            line = next;
                            pos = 0;
                        }
                        None => {
                            let col = line.chars().count() + 1;
                            return Some(Err(parse_error(
                                start,
                                lines.number,
                                col,
                                "extraneous or missing \" in quoted-field",
                            )));
                        }
                    }
                }
            }
        }
    }
}

fn parse_error(start: usize, line: usize, col: usize, what: &str) -> String {
    if start == line {
        format!("parse error on line {line}, column {col}: {what}")
    } else {
        format!("record on line {start}; parse error on line {line}, column {col}: {what}")
    }
}

#[cfg(test)]
mod tests {
    use super::records;

    fn ok(rows: &[&[&str]]) -> Vec<Result<Vec<String>, String>> {
        rows.iter()
            .map(|r| Ok(r.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn quotes_line_breaks_and_empty_lines_as_go_reads_them() {
        assert_eq!(
            records("name,age\nalice,30\n\n\"bob \"\"b\"\"\",\"4,2\"\n", ','),
            ok(&[&["name", "age"], &["alice", "30"], &["bob \"b\"", "4,2"]])
        );
        assert_eq!(
            records("a;b\r\n1;\"x\ny\"\r\n\r\n3;4", ';'),
            ok(&[&["a", "b"], &["1", "x\ny"], &["3", "4"]])
        );
        assert_eq!(records("", ','), ok(&[]));
        assert_eq!(records("a,,\n", ','), ok(&[&["a", "", ""]]));
        assert_eq!(records("h1,h2\n", '\t'), ok(&[&["h1,h2"]]));
    }

    #[test]
    fn errors_in_gos_words_and_reading_goes_on() {
        let got = records("a,b\n1,2\n3\n4,5\n", ',');
        assert_eq!(
            got[2],
            Err("record on line 3: wrong number of fields".into())
        );
        assert_eq!(got[3], Ok(vec!["4".into(), "5".into()]));
        assert_eq!(
            records("a,b\n1,x\"y\n", ',')[1],
            Err("parse error on line 2, column 4: bare \" in non-quoted-field".into())
        );
        assert_eq!(
            records("a,\"b\"c\n", ',')[0],
            Err("parse error on line 1, column 6: extraneous or missing \" in quoted-field".into())
        );
        assert_eq!(
            records("a,\"b\nc", ',')[0],
            Err(
                "record on line 1; parse error on line 2, column 2: extraneous or missing \" in quoted-field"
                    .into()
            )
        );
    }

    /// The module over a real file: options, shapes and errors as k6 v1.1.0 gives them.
    #[test]
    fn parse_and_parser_as_k6() {
        use crate::js::modulestest::TestVu;
        use crate::js::vu_ctx::Phase;

        let dir = std::env::temp_dir().join(format!("volley-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.csv");
        std::fs::write(&path, "h1,h2\nv1,v2\nv3,v4\n3\n").unwrap();
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run(&format!(
            "import {{ open }} from 'k6/experimental/fs';
             import csv from 'k6/experimental/csv';
             const p = {path:?};
             const why = async (f) => {{ try {{ await f(); return 'no error'; }} catch (e) {{ return String(e); }} }};
             const f = await open(p);
             await f.read(new Uint8Array(6));
             globalThis.out = [
               await csv.parse(await open(p), {{ toLine: 2 }}),
               await csv.parse(f, {{ toLine: 1 }}),
               await csv.parse(await open(p), {{ asObjects: true, toLine: 1 }}),
               await why(async () => csv.parse(await open(p))),
               await why(async () => csv.parse(await open(p), {{ delimiter: '' }})),
               await why(async () => new csv.Parser({{}})),
             ];
             globalThis.parser = new csv.Parser(await open(p), {{ fromLine: 1 }});",
            path = path.display().to_string()
        ))
        .unwrap();
        vu.set_phase(Phase::Iteration);
        vu.run(
            "const why = async (f) => { try { return await f(); } catch (e) { return String(e); } };
             globalThis.next = [];
             for (let i = 0; i < 4; i++) next.push(await why(() => parser.next()));",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                [["h1", "h2"], ["v1", "v2"], ["v3", "v4"]],
                [["v1", "v2"], ["v3", "v4"]],
                [{"h1": "v1", "h2": "v2"}],
                "failed to read record; reason: record on line 4: wrong number of fields",
                "failed to interpret the provided Parser options; reason: delimiter must be a single character",
                "GoError: first argument expected to be a fs.File instance, got object instead",
            ])
        );
        assert_eq!(
            vu.json("next"),
            serde_json::json!([
                {"done": false, "value": ["v1", "v2"]},
                {"done": false, "value": ["v3", "v4"]},
                "record on line 4: wrong number of fields",
                {"done": true, "value": []},
            ])
        );
    }
}
