//! Request bodies as httpbin shows them: `application/x-www-form-urlencoded` and
//! `multipart/form-data` forms (parts with a `filename` are files), binary data as a base64
//! `data:` URL.

use base64::Engine as _;
use serde_json::{Map, Value};
use url::form_urlencoded;

/// httpbin's `(form, files)` of a request body with this `Content-Type`; both empty for other
/// types or an unreadable multipart body.
pub fn form_and_files(content_type: &str, body: &[u8]) -> (Map<String, Value>, Map<String, Value>) {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        (
            multi_map(
                form_urlencoded::parse(body)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))),
            ),
            Map::new(),
        )
    } else if mime.eq_ignore_ascii_case("multipart/form-data") {
        header_params(content_type)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .and_then(|(_, b)| parse_multipart(body, &b))
            .unwrap_or_default()
    } else {
        (Map::new(), Map::new())
    }
}

/// Query/form pairs as a JSON object; a repeated key becomes an array, like httpbin.
pub fn multi_map(pairs: impl Iterator<Item = (String, Value)>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in pairs {
        match out.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    out
}

/// UTF-8 text as is; anything else as a base64 `data:` URL, as httpbin does.
pub fn body_string(body: &[u8], content_type: &str) -> String {
    match std::str::from_utf8(body) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = format!("data:{content_type};base64,");
            base64::engine::general_purpose::STANDARD.encode_string(body, &mut out);
            out
        }
    }
}

/// Splits `type; a=1; b="x;y"` into its parameters, honouring quoted strings.
fn header_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = match value.split_once(';') {
        Some((_, rest)) => rest,
        None => return params,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return params;
        }
        let Some(eq) = rest.find('=') else {
            return params;
        };
        let key = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let mut val = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            rest = &quoted[end..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            val.push_str(rest[..end].trim());
            rest = &rest[end..];
        }
        params.push((key, val));
    }
}

/// Parses a `multipart/form-data` body into httpbin's `(form, files)`; parts with a `filename`
/// go to `files`. Returns `None` when the body does not use `boundary`.
pub fn parse_multipart(
    body: &[u8],
    boundary: &str,
) -> Option<(Map<String, Value>, Map<String, Value>)> {
    if boundary.is_empty() {
        return None;
    }
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let mut form = Vec::new();
    let mut files = Vec::new();
    let start = find(body, delim.as_bytes())?;
    let mut rest = &body[start + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let header_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..header_end]).ok()?;
        let content_start = header_end + 4;
        let content_len = find(&rest[content_start..], next_delim.as_bytes())?;
        let content = &rest[content_start..content_start + content_len];
        rest = &rest[content_start + content_len + next_delim.len()..];

        let mut name = None;
        let mut filename = None;
        let mut part_type = "application/octet-stream";
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                for (pk, pv) in header_params(v) {
                    if pk.eq_ignore_ascii_case("name") {
                        name = Some(pv);
                    } else if pk.eq_ignore_ascii_case("filename") {
                        filename = Some(pv);
                    }
                }
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                part_type = v.trim();
            }
        }
        let Some(name) = name else { continue };
        let value = Value::String(body_string(content, part_type));
        if filename.is_some() {
            files.push((name, value));
        } else {
            form.push((name, value));
        }
    }
    Some((multi_map(form.into_iter()), multi_map(files.into_iter())))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    let first = needle[0];
    (0..=haystack.len() - needle.len())
        .find(|&i| haystack[i] == first && haystack[i..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parser_handles_binary_and_garbage() {
        let body = b"preamble\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\nContent-Type: image/png\r\n\r\n\xff\xfe\r\n--b--";
        let (form, files) = parse_multipart(body, "b").unwrap();
        assert!(form.is_empty());
        assert_eq!(files["f"], "data:image/png;base64,//4=");
        assert!(parse_multipart(b"no delimiters here", "b").is_none());
        assert!(parse_multipart(
            b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nunterminated",
            "b"
        )
        .is_none());
        assert!(parse_multipart(b"--b--", "").is_none());
        let (form, _) = parse_multipart(b"--b--\r\n", "b").unwrap();
        assert!(form.is_empty());
    }

    #[test]
    fn header_params_and_find() {
        assert_eq!(
            header_params("form-data; name=\"a;b\"; filename=\"q\\\"x\"; size=3"),
            vec![
                ("name".into(), "a;b".into()),
                ("filename".into(), "q\"x".into()),
                ("size".into(), "3".into())
            ]
        );
        assert!(header_params("text/plain").is_empty());
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
    }
}
