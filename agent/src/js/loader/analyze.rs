//! What a module's source says about how to load it, read from its syntax tree (swc's parser,
//! the one the TypeScript stripper uses): whether it is an ES module (any `import`/`export`
//! statement) or CommonJS, which modules it imports statically and by which names, and which
//! ones it `require()`s with a literal specifier.

use swc_common::{sync::Lrc, FileName, SourceMap};
use swc_ecma_ast::{
    EsVersion, ExportSpecifier, ImportSpecifier, ModuleDecl, ModuleExportName, ModuleItem, Program,
};
use swc_ecma_parser::{lexer::Lexer, EsSyntax, Parser, StringInput, Syntax};

/// A module's imports and kind.
#[derive(Debug, Default, PartialEq)]
pub struct Analysis {
    /// It has `import` or `export` statements (otherwise it is loaded as CommonJS).
    pub esm: bool,
    /// Static imports and re-exports, in source order.
    pub imports: Vec<Import>,
    /// `require("…")` calls with a string literal, in source order.
    pub requires: Vec<String>,
}

/// One static import (or `export … from`).
#[derive(Debug, Default, PartialEq)]
pub struct Import {
    pub specifier: String,
    /// The names it imports by name (`import { a, b as c }` gives `a`, `b`).
    pub names: Vec<String>,
    /// `import * as ns from …`: where it is in the source, to be rewritten when the module
    /// imported is CommonJS (see [`super::commonjs::namespace_imports`]).
    pub namespace: Option<NamespaceImport>,
    /// `export * from …`: the names importers ask of this module may come from there.
    pub star: bool,
}

/// An `import * as local from …` in a module's source.
#[derive(Debug, PartialEq)]
pub struct NamespaceImport {
    /// The binding (`ns`).
    pub local: String,
    /// Byte range of `* as ns` in the source.
    pub star: (usize, usize),
    /// Byte offset just after the whole import declaration.
    pub end: usize,
}

/// Analyzes JavaScript source; `None` when it does not parse (QuickJS then reports the error).
pub fn analyze(js: &str) -> Option<Analysis> {
    let cm: Lrc<SourceMap> = Default::default();
    let fm = cm.new_source_file(FileName::Anon.into(), js.to_string());
    let syntax = Syntax::Es(EsSyntax {
        import_attributes: true,
        allow_return_outside_function: true,
        explicit_resource_management: true,
        ..Default::default()
    });
    let lexer = Lexer::new(syntax, EsVersion::latest(), StringInput::from(&*fm), None);
    let mut parser = Parser::new_from(lexer);
    let program = parser.parse_program().ok()?;
    let offset = |pos: swc_common::BytePos| (pos.0 - fm.start_pos.0) as usize;
    let mut out = Analysis {
        requires: required_literals(js),
        ..Analysis::default()
    };
    let Program::Module(module) = program else {
        return Some(out);
    };
    for item in &module.body {
        let ModuleItem::ModuleDecl(decl) = item else {
            continue;
        };
        out.esm = true;
        match decl {
            ModuleDecl::Import(i) if !i.type_only => {
                let names = i
                    .specifiers
                    .iter()
                    .filter_map(|s| match s {
                        ImportSpecifier::Named(n) if !n.is_type_only => Some(match &n.imported {
                            Some(name) => export_name(name),
                            None => n.local.sym.to_string(),
                        }),
                        _ => None,
                    })
                    .collect();
                let namespace = i.specifiers.iter().find_map(|s| match s {
                    ImportSpecifier::Namespace(n) => Some(NamespaceImport {
                        local: n.local.sym.to_string(),
                        star: (offset(n.span.lo), offset(n.span.hi)),
                        end: offset(i.span.hi),
                    }),
                    _ => None,
                });
                out.imports.push(Import {
                    specifier: i.src.value.to_string_lossy().into_owned(),
                    names,
                    namespace,
                    star: false,
                });
            }
            ModuleDecl::ExportNamed(e) => {
                if let Some(src) = &e.src {
                    let names = e
                        .specifiers
                        .iter()
                        .filter_map(|s| match s {
                            ExportSpecifier::Named(n) => Some(export_name(&n.orig)),
                            _ => None,
                        })
                        .collect();
                    out.imports.push(Import {
                        specifier: src.value.to_string_lossy().into_owned(),
                        names,
                        namespace: None,
                        star: false,
                    });
                }
            }
            ModuleDecl::ExportAll(e) => out.imports.push(Import {
                specifier: e.src.value.to_string_lossy().into_owned(),
                names: Vec::new(),
                namespace: None,
                star: true,
            }),
            _ => {}
        }
    }
    Some(out)
}

fn export_name(n: &ModuleExportName) -> String {
    match n {
        ModuleExportName::Ident(i) => i.sym.to_string(),
        ModuleExportName::Str(s) => s.value.to_string_lossy().into_owned(),
    }
}

/// Specifiers of `require('…')` / `require("…")` calls. A textual scan: it only decides which
/// modules are looked at ahead of time (a miss is loaded when it is required).
fn required_literals(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in js.match_indices("require(") {
        if at > 0 {
            let b = js.as_bytes()[at - 1];
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.' {
                continue;
            }
        }
        let rest = js[at + "require(".len()..].trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = rest[1..].find(q) {
            let spec = &rest[1..1 + end];
            if !spec.contains('\n') && !out.iter().any(|s| s == spec) {
                out.push(spec.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es_modules_and_their_imports() {
        let a = analyze(
            "import http from 'k6/http';\nimport def, { a, b as c, 'd-e' as f } from './x.js';\n\
             import * as ns from './ns.js';\nexport { g } from './g.js';\nexport * from './all.js';\n\
             const u = require('./u.js');\nexport default function () {}\n",
        )
        .expect("parses");
        assert!(a.esm);
        let got: Vec<(&str, Vec<&str>)> = a
            .imports
            .iter()
            .map(|i| {
                (
                    i.specifier.as_str(),
                    i.names.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("k6/http", vec![]),
                ("./x.js", vec!["a", "b", "d-e"]),
                ("./ns.js", vec![]),
                ("./g.js", vec!["g"]),
                ("./all.js", vec![]),
            ]
        );
        assert_eq!(a.requires, vec!["./u.js"]);
        let stars: Vec<bool> = a.imports.iter().map(|i| i.star).collect();
        assert_eq!(stars, [false, false, false, false, true]);
    }

    #[test]
    fn namespace_imports_and_where_they_are() {
        let src = "import x from './x.js';\nimport d, * as ns from './ns.js'\nexport {};\n";
        let a = analyze(src).expect("parses");
        assert_eq!(a.imports[0].namespace, None);
        let ns = a.imports[1].namespace.as_ref().expect("namespace");
        assert_eq!(ns.local, "ns");
        assert_eq!(&src[ns.star.0..ns.star.1], "* as ns");
        assert_eq!(
            &src[..ns.end],
            "import x from './x.js';\nimport d, * as ns from './ns.js'"
        );
    }

    #[test]
    fn commonjs_is_whatever_has_no_import_or_export() {
        let a = analyze(
            "const x = require(\"./x.js\"); const y = obj.require('no'); module.exports = { x };\n\
             return;\n",
        )
        .expect("parses");
        assert!(!a.esm);
        assert!(a.imports.is_empty());
        assert_eq!(a.requires, vec!["./x.js"]);
        // A dynamic import alone does not make an ES module.
        assert!(!analyze("import('./x.js')").expect("parses").esm);
        assert!(analyze("export {}").expect("parses").esm);
        assert!(analyze("this is not javascript").is_none());
    }
}
