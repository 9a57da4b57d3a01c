// Volley: the crate root of the vendored hyper (VOLLEY.md). The build script copies upstream's
// `src/` to `OUT_DIR`, applies the patch series there and moves the crate-level attributes and
// documentation of the copied `lib.rs` here (an included file cannot hold inner attributes): the
// attributes below are upstream's `src/lib.rs` lines verbatim, and the build stops if upstream's
// change (see `volley/build.rs`).
#![doc = include_str!(concat!(env!("OUT_DIR"), "/crate-doc.md"))]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(test, deny(rust_2018_idioms))]
#![cfg_attr(all(test, feature = "full"), deny(unreachable_pub))]
#![cfg_attr(all(test, feature = "full"), deny(warnings))]
#![cfg_attr(all(test, feature = "nightly"), feature(test))]
#![cfg_attr(docsrs, feature(doc_cfg))]

include!(concat!(env!("OUT_DIR"), "/src/lib.rs"));
