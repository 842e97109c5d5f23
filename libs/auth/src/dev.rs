//! Development keys: the ones `make run` / `leadflow --demo` generate into
//! `./data`. Each PEM file starts with an explanatory line (RFC 7468 allows
//! text before the encapsulation boundary) that marks it as a development key,
//! so that `LEADFLOW_ENV=production` can refuse it wherever it is copied to.

/// The first line of every generated development key file.
pub const DEVELOPMENT_KEY_MARKER: &str =
    "leadflow development key: generated for local use, refused when LEADFLOW_ENV=production";

/// Whether a PEM file was generated as a development key.
pub fn is_development_key(pem: &[u8]) -> bool {
    let marker = DEVELOPMENT_KEY_MARKER.as_bytes();
    pem.windows(marker.len()).any(|w| w == marker)
}

/// `pem` with the development marker line in front of it.
pub fn mark_as_development(pem: &str) -> String {
    format!("{DEVELOPMENT_KEY_MARKER}\n{pem}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Caller, Ed25519KeyPair, Mode, Role, TokenMinter, TokenVerifier};

    #[test]
    fn marked_keys_still_sign_and_verify_and_are_recognised() {
        let pair = Ed25519KeyPair::generate();
        let private = mark_as_development(&pair.private_pem);
        let public = mark_as_development(&pair.public_pem);
        assert!(is_development_key(private.as_bytes()));
        assert!(!is_development_key(pair.private_pem.as_bytes()));
        let minter = TokenMinter::ed25519(private.as_bytes(), "dev").unwrap();
        let verifier = TokenVerifier::new(Mode::Development)
            .with_public_key_pem(public.as_bytes(), None)
            .unwrap();
        let token = minter.mint(
            &Caller::new("ana", "demo", Role::Sales),
            std::time::Duration::from_secs(60),
        );
        assert_eq!(verifier.verify(&token).unwrap().user_id, "ana");
    }
}
