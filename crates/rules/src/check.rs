//! `check rules`: what promtool prints for each rule file.

use std::path::Path;

use crate::file;

/// Checks one file; `Ok` holds the number of rules found.
pub fn check_file(path: &Path) -> Result<usize, String> {
    let groups = file::load_file(path).map_err(|e| e.to_string())?;
    Ok(groups.iter().map(|g| g.rules.len()).sum())
}

/// Checks every file, printing promtool-style lines; returns whether all passed.
pub fn check_files(files: &[impl AsRef<Path>], out: &mut impl std::io::Write) -> bool {
    let mut ok = true;
    for f in files {
        let f = f.as_ref();
        let _ = writeln!(out, "Checking {}", f.display());
        match check_file(f) {
            Ok(n) => {
                let _ = writeln!(out, "  SUCCESS: {n} rules found");
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "  FAILED:\n{e}");
            }
        }
        let _ = writeln!(out);
    }
    ok
}
