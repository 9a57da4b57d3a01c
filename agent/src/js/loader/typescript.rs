//! TypeScript modules (`.ts`): types are stripped at load, so QuickJS runs plain JavaScript.
//!
//! Stripping uses `swc_ts_fast_strip` (the type stripper behind Node's `--strip-types`), which
//! replaces type syntax with whitespace: every line and column of the JavaScript it gives is the
//! `.ts` file's own, so error messages and stacks point into the TypeScript source without a
//! source map. Files with TypeScript syntax that has runtime meaning (`enum`, `namespace`,
//! constructor parameter properties) cannot be blanked out; they go through swc's TypeScript
//! transform instead, whose output is regenerated code (lines there may differ from the source).
//!
//! Why swc and not oxc: measured here (rustc 1.95, release build of a one-file program that
//! strips TypeScript, on the shared 2-core build machine, so build times are indicative only):
//!
//! | | crates | build | binary |
//! |---|---|---|---|
//! | nothing (baseline) | 0 | 1 s | 0.5 MB |
//! | oxc 0.146 (parser, semantic, transformer, codegen) | 150 | 564 s | 3.6 MB |
//! | swc_ts_fast_strip 60 | 178 | 961 s | 10.3 MB |
//!
//! oxc is smaller and builds faster, but it always regenerates code, so every position in an
//! error would have to be mapped back through a source map (QuickJS's stacks and messages
//! rewritten per module). swc's strip-only mode needs no mapping at all: line and column in an
//! error are the `.ts` file's, which is what a user debugging a script needs. We pay ~7 MB of
//! binary and a longer cold build for that.

use std::sync::{Arc, Mutex};

use swc_common::errors::{DiagnosticBuilder, Emitter, Handler, HANDLER};
use swc_common::{sync::Lrc, BytePos, Globals, SourceMap, GLOBALS};
use swc_ts_fast_strip::{operate, ErrorCode, Mode, Options};

/// Whether a module name is a TypeScript file.
pub fn is_typescript(name: &str) -> bool {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    path.ends_with(".ts") || path.ends_with(".mts") || path.ends_with(".cts")
}

/// One diagnostic of the stripper: its message and where it points.
type Diagnostic = (String, Option<BytePos>);

/// Diagnostics the stripper reports.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<Diagnostic>>>);

impl Emitter for Collected {
    fn emit(&mut self, db: &mut DiagnosticBuilder<'_>) {
        let at = db.span.primary_span().map(|s| s.lo);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((db.message(), at));
    }
}

/// The JavaScript of the TypeScript module `name`, or its syntax errors as
/// `name:line:col: message` lines.
pub fn strip(name: &str, source: &str) -> Result<String, String> {
    match run(name, source, Mode::StripOnly) {
        Err((ErrorCode::UnsupportedSyntax, _)) => {
            run(name, source, Mode::Transform).map_err(|(_, m)| m)
        }
        other => other.map_err(|(_, m)| m),
    }
}

fn run(name: &str, source: &str, mode: Mode) -> Result<String, (ErrorCode, String)> {
    let cm: Lrc<SourceMap> = Default::default();
    let collected = Collected::default();
    let handler = Handler::with_emitter(true, false, Box::new(collected.clone()));
    let result = GLOBALS.set(&Globals::new(), || {
        HANDLER.set(&handler, || {
            operate(
                &cm,
                &handler,
                source.to_string(),
                Options {
                    filename: Some(name.to_string()),
                    mode,
                    ..Default::default()
                },
            )
        })
    });
    match result {
        Ok(out) => Ok(out.code),
        Err(e) => {
            let diagnostics = collected.0.lock().unwrap_or_else(|e| e.into_inner());
            let lines: Vec<String> = diagnostics
                .iter()
                .map(|(msg, at)| match at {
                    Some(pos) => {
                        let loc = cm.lookup_char_pos(*pos);
                        format!("{name}:{}:{}: {msg}", loc.line, loc.col_display + 1)
                    }
                    None => format!("{name}: {msg}"),
                })
                .collect();
            let detail = if lines.is_empty() {
                format!("{name}: {}", e.message)
            } else {
                lines.join("\n")
            };
            Err((e.code, format!("TypeScript error: {detail}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_become_whitespace_so_positions_stay() {
        let ts = "interface U { name: string }\nconst u: U = { name: 'x' };\nexport function f(a: number, b?: string): string {\n  return (a as number) + (b ?? '')!;\n}\n";
        let js = strip("/t/a.ts", ts).expect("strips");
        assert_eq!(js.len(), ts.len(), "{js}");
        assert_eq!(js.lines().count(), ts.lines().count());
        assert!(js.contains("const u    = { name: 'x' };"), "{js}");
        assert!(
            !js.contains("interface") && !js.contains(": number"),
            "{js}"
        );
    }

    #[test]
    fn enums_are_transformed() {
        let js = strip(
            "/t/e.ts",
            "enum Color { Red, Green }\nexport const g = Color.Green;\n",
        )
        .expect("transforms");
        assert!(!js.contains("enum "), "{js}");
        assert!(js.contains("Green"), "{js}");
    }

    #[test]
    fn syntax_errors_name_the_file_line_and_column() {
        let e = strip("/t/bad.ts", "const a: number = 1;\nlet b = (;\n").unwrap_err();
        assert!(e.starts_with("TypeScript error: /t/bad.ts:2:"), "{e}");
    }

    #[test]
    fn typescript_names() {
        assert!(is_typescript("/a/b.ts"));
        assert!(is_typescript("https://x.example/m.ts?v=1"));
        assert!(!is_typescript("/a/b.js"));
        assert!(!is_typescript("/a/b.d.tsx"));
    }
}
