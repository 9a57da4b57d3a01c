//! `multipart/form-data` bodies: what `http.post(url, { f: http.file(…), x: 'v' })` sends.
//!
//! As k6 does (measured with k6 v1.1.0, docs/k6-compatibility.md#multipart-bodies): one part per
//! field of the object in its key order; a file part names its field, its file name and its
//! content type, any other part only its field; the boundary is 30 random bytes in hex.

use rand::Rng;

/// One part of the body.
pub struct Part {
    pub name: String,
    /// The file name and content type of a file part; `None` for a plain field.
    pub file: Option<(String, String)>,
    pub data: Vec<u8>,
}

/// A fresh boundary: 60 hexadecimal digits, as k6's.
pub fn random_boundary() -> String {
    let mut b = [0u8; 30];
    rand::rng().fill(&mut b[..]);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Escapes a field or file name for its quoted place in `Content-Disposition`.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The body of `parts` separated by `boundary`.
pub fn encode(parts: &[Part], boundary: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.data.len() + 160).sum::<usize>() + 64);
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match &p.file {
            Some((filename, content_type)) => format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n",
                quote(&p.name),
                quote(filename)
            ),
            None => format!(
                "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                quote(&p.name)
            ),
        };
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(&p.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_files_in_order_with_k6s_headers() {
        let parts = [
            Part {
                name: "field".into(),
                file: None,
                data: "héllo".as_bytes().to_vec(),
            },
            Part {
                name: "bin".into(),
                file: Some(("b.bin".into(), "application/x-thing".into())),
                data: vec![0, 1, 2, 255],
            },
        ];
        let body = encode(&parts, "XYZ");
        let mut want =
            b"--XYZ\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nh\xc3\xa9llo\r\n\
            --XYZ\r\nContent-Disposition: form-data; name=\"bin\"; filename=\"b.bin\"\r\n\
            Content-Type: application/x-thing\r\n\r\n"
                .to_vec();
        want.extend_from_slice(&[0, 1, 2, 255]);
        want.extend_from_slice(b"\r\n--XYZ--\r\n");
        assert_eq!(body, want);
    }

    #[test]
    fn boundaries_are_60_hex_digits_and_differ() {
        let (a, b) = (random_boundary(), random_boundary());
        assert_eq!(a.len(), 60);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn quotes_in_names_are_escaped() {
        let body = encode(
            &[Part {
                name: "a\"b".into(),
                file: None,
                data: vec![],
            }],
            "B",
        );
        assert!(String::from_utf8(body).unwrap().contains("name=\"a\\\"b\""));
    }
}
