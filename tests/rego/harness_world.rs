//! Cases through the compiled filter in palisade-harness: the same runner `palisade test` uses,
//! with the file's JWTs minted.

use palisade_testkit::cases::Suite;

pub fn run_file(suite: &Suite) -> Vec<String> {
    let name = crate::name(suite);
    let tokens = crate::tokens::make_all(&suite.file.tokens);
    match crate::filter().run_suite(suite, &tokens) {
        Ok(results) => results.iter().flat_map(|r| r.problems(&name)).collect(),
        Err(err) => vec![format!(
            "{name}: the plugin did not start:\n{}",
            err.details().join("\n")
        )],
    }
}
