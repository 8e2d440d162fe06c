//! Which API key a command-line client of `caravan` presents.

use std::path::Path;

use caravan_platform::Secret;

/// Where `caravan serve` writes its bootstrap key (`auth.bootstrap_key_file`'s default).
pub const BOOTSTRAP_KEY_FILE: &str = ".caravan/admin.key";

/// The key given on the command line (or in `CARAVAN_API_KEY`), else the bootstrap key file
/// of an embedded installation in the working directory, else none.
pub fn api_key(explicit: Option<&str>) -> Result<Option<Secret>, String> {
    if let Some(key) = explicit.map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(Some(Secret::new(key)));
    }
    let path = Path::new(BOOTSTRAP_KEY_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    std::fs::read_to_string(path)
        .map(|key| Some(Secret::new(key.trim())))
        .map_err(|e| format!("cannot read {BOOTSTRAP_KEY_FILE}: {e}"))
}
