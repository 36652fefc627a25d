//! The replay command as a library: reading a scenario file and replaying it through the core,
//! exactly as `gotrue-session replay` does (the command is a thin wrapper around [`replay`]).
//! The format is the scenario format of the contracts: hostile or malformed files get an error
//! that says what is wrong, never a panic (the fuzz targets hold it to that).

mod expect;
mod replay;
mod scenario;
mod steps;
mod trace;

pub use replay::Prepared;

/// Reads a scenario file's text and prepares its replay: an error says what is wrong with it.
pub fn prepare(text: &str) -> Result<Prepared, String> {
    Prepared::new(scenario::load(text)?)
}

/// A replay's outcome: the trace, and the expectations it did not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The trace, one JSON line per entry, as the command prints it.
    pub lines: Vec<String>,
    /// One sentence per expectation of the scenario the trace does not meet (none: all met).
    pub problems: Vec<String>,
}

/// Replays a prepared scenario once and checks its expectations.
pub fn replay(prepared: &Prepared) -> Result<Replayed, String> {
    let trace = prepared.run()?;
    let unreadable = |e: serde_json::Error| format!("the trace cannot be read back: {e}");
    let lines = trace.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>().map_err(unreadable)?;
    let problems = match &prepared.scenario().expect {
        Some(expect) => {
            let values = trace.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>().map_err(unreadable)?;
            expect::check(expect, &values)
        }
        None => Vec::new(),
    };
    Ok(Replayed { lines, problems })
}
