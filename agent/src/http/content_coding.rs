//! Content codings (`Content-Encoding`) as k6 v1.1.0 applies them
//! ([docs/k6-compatibility.md](../../../docs/k6-compatibility.md#compressed-bodies)):
//!
//! * responses: a body whose `Content-Encoding` lists only codings k6 knows (`gzip`, `deflate`
//!   — the zlib format —, `br`, `zstd`, `identity`) is decoded, last coding first; a body with
//!   any other coding is left as received. A body that does not decode fails the request with
//!   k6's code 1701 ([`super::error::DECOMPRESSION`]). The decoded size is bounded by
//!   [`MAX_DECODED_BODY`], so a small "compression bomb" cannot exhaust the agent's memory.
//! * requests: the `compression` param (`"gzip"`, `"deflate"`, `"br"`, `"zstd"` or a
//!   comma-separated list, applied in order) compresses the request body and names the codings
//!   in `Content-Encoding`.
//!
//! The codecs are flate2 (gzip, zlib), brotli and zstd.

use std::io::{Read, Write};

use bytes::Bytes;

/// The largest body decoding may produce (256 MiB, the request-body limit of `k6/http`).
pub const MAX_DECODED_BODY: u64 = 256 * 1024 * 1024;

/// A content coding k6 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// HTTP's `deflate`: the zlib format (RFC 1950), as Go and k6 read it.
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    /// The coding named `name` (exact, lower case, as k6 compares them).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "gzip" => Self::Gzip,
            "deflate" => Self::Deflate,
            "br" => Self::Brotli,
            "zstd" => Self::Zstd,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// Decodes a response body by its `Content-Encoding` header values. `Ok(None)`: nothing to
/// decode (no coding, only `identity`, or a coding k6 does not know). `Err` is the text of
/// k6's `error` (`error decompressing response body (…)`).
pub fn decode_response(content_encoding: &[&str], body: &Bytes) -> Result<Option<Bytes>, String> {
    let mut codings = Vec::new();
    for value in content_encoding {
        for name in value.split(',') {
            let name = name.trim();
            if name.is_empty() || name.eq_ignore_ascii_case("identity") {
                continue;
            }
            match Coding::from_name(&name.to_ascii_lowercase()) {
                Some(c) => codings.push(c),
                None => return Ok(None),
            }
        }
    }
    if codings.is_empty() {
        return Ok(None);
    }
    let mut data = body.clone();
    for coding in codings.iter().rev() {
        data = decode(*coding, &data, MAX_DECODED_BODY)
            .map_err(|e| format!("error decompressing response body ({e})"))?;
    }
    Ok(Some(data))
}

/// Decodes one coding, failing when the output would exceed `limit` bytes.
pub fn decode(coding: Coding, input: &[u8], limit: u64) -> Result<Bytes, String> {
    let reader: Box<dyn Read + '_> = match coding {
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Coding::Deflate => Box::new(flate2::read::ZlibDecoder::new(input)),
        Coding::Brotli => Box::new(brotli::Decompressor::new(input, 64 * 1024)),
        Coding::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input).map_err(|e| format!("zstd: {e}"))?,
        ),
    };
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(1 << 20));
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "unexpected EOF".to_owned(),
            _ => format!("{}: {e}", coding.name()),
        })?;
    if out.len() as u64 > limit {
        return Err(format!(
            "the decompressed body is larger than {limit} bytes, the limit of a response body"
        ));
    }
    Ok(Bytes::from(out))
}

/// Parses k6's `compression` param: a comma-separated list of codings, applied in order.
/// An empty value means no compression. Errors carry k6's wording.
pub fn parse_compression(param: &str) -> Result<Vec<Coding>, String> {
    let mut out = Vec::new();
    if param.trim().is_empty() {
        return Ok(out);
    }
    for name in param.split(',') {
        let name = name.trim();
        match Coding::from_name(name) {
            Some(c) => out.push(c),
            None => {
                return Err(format!(
                    "unknown compression algorithm {name}, supported algorithms are [gzip deflate zstd br]"
                ))
            }
        }
    }
    Ok(out)
}

/// Compresses `body` with each coding in turn; returns the body and the `Content-Encoding`
/// value naming them (`gzip, br`).
pub fn encode_all(codings: &[Coding], body: &[u8]) -> (Bytes, String) {
    let mut data = body.to_vec();
    for c in codings {
        data = encode(*c, &data);
    }
    let header = codings
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ");
    (Bytes::from(data), header)
}

/// Compresses `input` with one coding at the codec's default level. Writing into a `Vec`
/// cannot fail, so neither can this.
pub fn encode(coding: Coding, input: &[u8]) -> Vec<u8> {
    fn finish<W: Write>(mut w: W, input: &[u8]) -> W {
        // Writes into a Vec never fail.
        let _ = w.write_all(input);
        w
    }
    match coding {
        Coding::Gzip => finish(
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()),
            input,
        )
        .finish()
        .unwrap_or_default(),
        Coding::Deflate => finish(
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default()),
            input,
        )
        .finish()
        .unwrap_or_default(),
        Coding::Brotli => {
            let mut w = finish(
                brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22),
                input,
            );
            let _ = w.flush();
            w.into_inner()
        }
        Coding::Zstd => zstd::stream::encode_all(input, 0).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &[u8] = b"{\"hello\":\"world\",\"n\":[1,2,3,4,5,6,7,8,9,10]}";

    #[test]
    fn every_coding_round_trips() {
        for c in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            let packed = encode(c, DOC);
            assert_ne!(packed, DOC, "{c:?}");
            assert_eq!(&decode(c, &packed, 1 << 20).unwrap()[..], DOC, "{c:?}");
        }
    }

    #[test]
    fn response_codings_are_undone_last_first_and_unknown_ones_left_alone() {
        let (body, header) = encode_all(&[Coding::Deflate, Coding::Gzip], DOC);
        assert_eq!(header, "deflate, gzip");
        let out = decode_response(&[&header], &body).unwrap().unwrap();
        assert_eq!(&out[..], DOC);
        // The same with the codings in two header lines, one upper-case.
        let out = decode_response(&["Deflate", "gzip"], &body)
            .unwrap()
            .unwrap();
        assert_eq!(&out[..], DOC);
        let plain = Bytes::from_static(b"plain");
        assert_eq!(decode_response(&["foo"], &plain), Ok(None));
        assert_eq!(decode_response(&["identity"], &plain), Ok(None));
        assert_eq!(decode_response(&[], &plain), Ok(None));
    }

    #[test]
    fn a_body_that_does_not_decode_gives_k6s_error() {
        let e = decode_response(&["gzip"], &Bytes::from_static(b"notgzip")).unwrap_err();
        assert!(e.starts_with("error decompressing response body ("), "{e}");
        let e = decode_response(&["zstd"], &Bytes::from_static(b"nope")).unwrap_err();
        assert!(e.starts_with("error decompressing response body ("), "{e}");
    }

    #[test]
    fn decoding_stops_at_the_limit() {
        let big = vec![b'a'; 100_000];
        let packed = encode(Coding::Gzip, &big);
        assert!(packed.len() < 1000);
        let e = decode(Coding::Gzip, &packed, 99_999).unwrap_err();
        assert!(e.contains("larger than 99999 bytes"), "{e}");
        assert_eq!(
            decode(Coding::Gzip, &packed, 100_000).unwrap().len(),
            100_000
        );
    }

    #[test]
    fn the_compression_param_is_parsed_with_k6s_wording() {
        assert_eq!(parse_compression(""), Ok(vec![]));
        assert_eq!(
            parse_compression(" gzip , br"),
            Ok(vec![Coding::Gzip, Coding::Brotli])
        );
        assert_eq!(
            parse_compression("GZIP").unwrap_err(),
            "unknown compression algorithm GZIP, supported algorithms are [gzip deflate zstd br]"
        );
    }
}
