//! The project's own `uniffi-bindgen`, the same uniffi version as the bindings crate:
//! `cargo run -p gotrue-session-ffi --features bindgen --bin uniffi-bindgen -- generate ...`.
//!
//! uniffi's own command line (`uniffi/cli`) parses its arguments with clap's derive macros, a
//! crate this project's lock file does not hold. This binary reads the one form the project's
//! scripts use and hands it to uniffi's library API (`uniffi/bindgen`):
//!
//! ```text
//! uniffi-bindgen generate LIBRARY --language kotlin|swift [--language ...] --out-dir DIR
//!                [--config FILE] [--crate NAME] [--no-format] [--metadata-no-deps]
//! ```

use std::process::ExitCode;

const USAGE: &str = "usage: uniffi-bindgen generate LIBRARY --language kotlin|swift|python|ruby \
                     --out-dir DIR [--config FILE] [--crate NAME] [--no-format] [--metadata-no-deps]";

fn language(name: &str) -> Result<uniffi::TargetLanguage, String> {
    match name {
        "kotlin" => Ok(uniffi::TargetLanguage::Kotlin),
        "swift" => Ok(uniffi::TargetLanguage::Swift),
        "python" => Ok(uniffi::TargetLanguage::Python),
        "ruby" => Ok(uniffi::TargetLanguage::Ruby),
        other => Err(format!("unknown language {other:?}")),
    }
}

/// Reads `generate ...` into uniffi's options; a wrong word is an error naming it.
fn parse(args: &[String]) -> Result<uniffi::GenerateOptions, String> {
    let mut args = args.iter();
    if args.next().map(String::as_str) != Some("generate") {
        return Err("the only command is `generate`".into());
    }
    let mut languages = Vec::new();
    let (mut source, mut out_dir, mut config, mut crate_filter) = (None, None, None, None);
    let (mut format, mut metadata_no_deps) = (true, false);
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--language" | "-l" => languages.push(language(&value()?)?),
            "--out-dir" | "-o" => out_dir = Some(value()?),
            "--config" | "-c" => config = Some(value()?),
            "--crate" => crate_filter = Some(value()?),
            "--no-format" => format = false,
            "--metadata-no-deps" => metadata_no_deps = true,
            // Accepted for compatibility: library mode is detected from the path.
            "--library" => {}
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            path if source.is_none() => source = Some(path.to_owned()),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    if languages.is_empty() {
        return Err("at least one --language is needed".into());
    }
    Ok(uniffi::GenerateOptions {
        languages,
        source: source.ok_or("the library path is missing")?.into(),
        out_dir: out_dir.ok_or("--out-dir is missing")?.into(),
        config_override: config.map(Into::into),
        format,
        crate_filter,
        metadata_no_deps,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("uniffi-bindgen: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match uniffi::generate(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("uniffi-bindgen: {error:?}");
            ExitCode::FAILURE
        }
    }
}
