//! The committed vectors against a fresh generation, and the command that
//! rewrites them.

use std::collections::BTreeSet;

use super::derived::{WRONG_LABEL_TEXT, asymmetric_with_label};
use super::valid::{CHALLENGE, long_text};
use super::{Vector, derived, folder, keys, valid};
use crate::envelope::FreshnessCheck;
use crate::limits::SIGNATURE_LABEL;

/// The vector files in the folder, by name: everything but the README and
/// the keys.
fn committed() -> BTreeSet<String> {
    std::fs::read_dir(folder())
        .expect("the testkit folder")
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md" && !name.ends_with(".pem"))
        .collect()
}

/// Every vector, valid ones first.
fn all() -> Vec<Vector> {
    let valid = valid::all();
    let mut all = derived::all(&valid);
    all.splice(0..0, valid);
    all
}

fn find<'a>(vectors: &'a [Vector], name: &str) -> &'a Vector {
    vectors.iter().find(|v| v.name == name).unwrap()
}

#[test]
fn the_committed_vectors_are_regenerated_byte_for_byte() {
    let vectors = all();
    let generated: BTreeSet<String> = vectors.iter().map(|v| v.name.clone()).collect();
    assert_eq!(generated.len(), vectors.len(), "two vectors of one name");
    assert_eq!(
        committed(),
        generated,
        "the folder holds other vectors than the generator makes: run scripts/make-testkit.sh"
    );
    for vector in &vectors {
        let file = std::fs::read_to_string(folder().join(&vector.name)).unwrap();
        assert!(
            file == vector.render(),
            "{} differs from what sealing under its seed gives now: the format changed \
             (if on purpose, run scripts/make-testkit.sh and review the diff)",
            vector.name
        );
    }
}

#[test]
fn the_wrong_label_vector_differs_from_seal_in_its_label_alone() {
    let vectors = all();
    // Crafted with the right label, the envelope is seal's to the byte...
    let crafted = asymmetric_with_label(SIGNATURE_LABEL, 1, &long_text());
    assert_eq!(
        crafted,
        find(&vectors, "envelope_asymmetric").bytes("envelope")
    );
    // ...and made the same way under the wrong label's seed, it opens: so
    // the wrong label alone is what the recipient refuses.
    let right = asymmetric_with_label(SIGNATURE_LABEL, 7, WRONG_LABEL_TEXT);
    let wrong = find(&vectors, "fail_envelope_wrong_signature_label").bytes("envelope");
    let open = |bytes: &[u8]| {
        crate::decrypt(&keys().server, bytes, &Default::default())
            .unwrap()
            .verify(keys().client.public(), FreshnessCheck::Expect(&CHALLENGE))
    };
    assert_eq!(open(&right).unwrap().plaintext, WRONG_LABEL_TEXT);
    assert!(open(wrong).is_err());
}

/// Rewrites the folder. Ignored, and a no-op unless `CLOAK_WRITE_TESTKIT=1`,
/// so that no ordinary test run (even with `--include-ignored`) rewrites
/// committed files: `scripts/make-testkit.sh` runs it.
#[test]
#[ignore = "rewrites tests/testdata/testkit; run by scripts/make-testkit.sh"]
fn write_the_testkit() {
    if std::env::var_os("CLOAK_WRITE_TESTKIT").is_none_or(|v| v != "1") {
        eprintln!("CLOAK_WRITE_TESTKIT=1 is not set: nothing written");
        return;
    }
    let vectors = all();
    let names: BTreeSet<String> = vectors.iter().map(|v| v.name.clone()).collect();
    for stale in committed().difference(&names) {
        std::fs::remove_file(folder().join(stale)).unwrap();
    }
    for vector in vectors {
        std::fs::write(folder().join(&vector.name), vector.render()).unwrap();
    }
}
