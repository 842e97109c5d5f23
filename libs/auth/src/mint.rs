//! Minting tokens, for tests, `leadctl token mint` and leadflow's own
//! service-to-service calls. Production user tokens come from the platform's
//! identity provider, not from here.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

use crate::{AuthError, Caller, Claims};

/// A freshly generated Ed25519 key pair in PEM form.
pub struct Ed25519KeyPair {
    /// PKCS#8 private key. Keep it secret.
    pub private_pem: String,
    /// SPKI public key, for `LEADFLOW_AUTH_PUBLIC_KEYS`.
    pub public_pem: String,
    /// The raw public key, base64url, as a JWK's `x`.
    pub public_x: String,
}

impl fmt::Debug for Ed25519KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519KeyPair")
            .field("public_x", &self.public_x)
            .finish_non_exhaustive()
    }
}

impl Ed25519KeyPair {
    pub fn generate() -> Self {
        let signing = SigningKey::generate(&mut rand_core::OsRng);
        let private_pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes as PKCS#8")
            .to_string();
        let verifying = signing.verifying_key();
        let public_pem = verifying
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes as SPKI");
        let public_x =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(verifying.as_bytes());
        Ed25519KeyPair {
            private_pem,
            public_pem,
            public_x,
        }
    }

    /// A one-key JWKS document for this pair's public half.
    pub fn jwks_json(&self, kid: &str) -> String {
        serde_json::json!({
            "keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": self.public_x}]
        })
        .to_string()
    }
}

/// Signs tokens with one key, for one issuer.
#[derive(Clone)]
pub struct TokenMinter {
    /// The header's `alg`, matching `key`; verifiers pick the kind of key they try by it.
    algorithm: Algorithm,
    /// The private key (or development secret) every token is signed with.
    key: EncodingKey,
    /// Put in the header as `kid` so a verifier with a JWKS tries only the matching key.
    kid: Option<String>,
    /// Every token's `iss`, which verifiers with `LEADFLOW_AUTH_ISSUERS` check.
    issuer: String,
}

impl fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMinter")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenMinter {
    /// Signs with an Ed25519 private key (PKCS#8 PEM).
    pub fn ed25519(private_pem: &[u8], issuer: impl Into<String>) -> Result<Self, AuthError> {
        let key = EncodingKey::from_ed_pem(private_pem)
            .map_err(|e| AuthError::Config(format!("Ed25519 private key: {e}")))?;
        Ok(TokenMinter {
            algorithm: Algorithm::EdDSA,
            key,
            kid: None,
            issuer: issuer.into(),
        })
    }

    /// Signs with a P-256 private key (PKCS#8 PEM).
    pub fn es256(private_pem: &[u8], issuer: impl Into<String>) -> Result<Self, AuthError> {
        let key = EncodingKey::from_ec_pem(private_pem)
            .map_err(|e| AuthError::Config(format!("P-256 private key: {e}")))?;
        Ok(TokenMinter {
            algorithm: Algorithm::ES256,
            key,
            kid: None,
            issuer: issuer.into(),
        })
    }

    /// Development only: signs with a shared HS256 secret.
    pub fn hs256(secret: &[u8], issuer: impl Into<String>) -> Self {
        TokenMinter {
            algorithm: Algorithm::HS256,
            key: EncodingKey::from_secret(secret),
            kid: None,
            issuer: issuer.into(),
        }
    }

    /// Names the key in the token header, so verifiers with a JWKS pick it.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// A token for `caller`, valid for `ttl`.
    pub fn mint(&self, caller: &Caller, ttl: Duration) -> String {
        let exp = chrono::Utc::now().timestamp().max(0) as u64 + ttl.as_secs();
        self.mint_claims(&Claims {
            sub: caller.user_id.clone(),
            org: caller.org_id.clone(),
            role: caller.role.as_str().to_owned(),
            iss: self.issuer.clone(),
            exp,
        })
    }

    /// A token with exactly these claims (tests use it for expired tokens).
    pub fn mint_claims(&self, claims: &Claims) -> String {
        self.mint_json(&serde_json::to_value(claims).expect("claims serialise"))
    }

    /// A token with arbitrary claims, e.g. one missing a required claim.
    pub fn mint_json(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = self.kid.clone();
        encode(&header, claims, &self.key).expect("signing with a parsed key cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mode, Role, TokenVerifier};

    fn sales() -> Caller {
        Caller::new("u-ana", "org-1", Role::Sales)
    }

    fn verifier_for(pair: &Ed25519KeyPair, mode: Mode) -> TokenVerifier {
        TokenVerifier::new(mode)
            .with_public_key_pem(pair.public_pem.as_bytes(), None)
            .unwrap()
    }

    #[test]
    fn an_ed25519_token_verifies_and_names_the_caller() {
        let pair = Ed25519KeyPair::generate();
        let minter = TokenMinter::ed25519(pair.private_pem.as_bytes(), "test").unwrap();
        let token = minter.mint(&sales(), Duration::from_secs(60));
        let caller = verifier_for(&pair, Mode::Production)
            .verify(&token)
            .unwrap();
        assert_eq!(caller, sales());
    }

    #[test]
    fn an_es256_token_verifies_with_a_p256_pem_key() {
        use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let private_pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let public_pem = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let token = TokenMinter::es256(private_pem.as_bytes(), "idp")
            .unwrap()
            .mint(&sales(), Duration::from_secs(60));
        let verifier = TokenVerifier::new(Mode::Production)
            .with_public_key_pem(public_pem.as_bytes(), None)
            .unwrap();
        assert_eq!(verifier.verify(&token).unwrap(), sales());
    }

    #[test]
    fn a_jwks_key_verifies_by_kid() {
        let pair = Ed25519KeyPair::generate();
        let other = Ed25519KeyPair::generate();
        let keys = |pair: &Ed25519KeyPair, kid: &str| -> serde_json::Value {
            serde_json::from_str::<serde_json::Value>(&pair.jwks_json(kid)).unwrap()["keys"][0]
                .clone()
        };
        let json = serde_json::json!({"keys": [keys(&other, "k0"), keys(&pair, "k1")]}).to_string();
        let verifier = TokenVerifier::new(Mode::Production)
            .with_jwks_json(&json)
            .unwrap();
        let minter = TokenMinter::ed25519(pair.private_pem.as_bytes(), "test")
            .unwrap()
            .with_kid("k1");
        let token = minter.mint(&sales(), Duration::from_secs(60));
        assert_eq!(verifier.verify(&token).unwrap(), sales());
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        let trusted = Ed25519KeyPair::generate();
        let attacker = Ed25519KeyPair::generate();
        let token = TokenMinter::ed25519(attacker.private_pem.as_bytes(), "test")
            .unwrap()
            .mint(&sales(), Duration::from_secs(60));
        assert_eq!(
            verifier_for(&trusted, Mode::Production).verify(&token),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let pair = Ed25519KeyPair::generate();
        let minter = TokenMinter::ed25519(pair.private_pem.as_bytes(), "test").unwrap();
        let token = minter.mint_claims(&Claims {
            sub: "u".into(),
            org: "o".into(),
            role: "sales".into(),
            iss: "test".into(),
            exp: (chrono::Utc::now().timestamp() - 3600) as u64,
        });
        assert_eq!(
            verifier_for(&pair, Mode::Production).verify(&token),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let pair = Ed25519KeyPair::generate();
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let exp = chrono::Utc::now().timestamp() + 600;
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(
                r#"{{"sub":"u","org":"o","role":"owner","iss":"x","exp":{exp}}}"#
            ))
        );
        assert_eq!(
            verifier_for(&pair, Mode::Development).verify(&token),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn hs256_is_accepted_in_development_and_refused_in_production() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = TokenMinter::hs256(secret, "dev").mint(&sales(), Duration::from_secs(60));
        let dev = TokenVerifier::new(Mode::Development)
            .with_hs256_secret(secret)
            .unwrap();
        assert_eq!(dev.verify(&token).unwrap(), sales());

        let pair = Ed25519KeyPair::generate();
        assert_eq!(
            verifier_for(&pair, Mode::Production).verify(&token),
            Err(AuthError::SymmetricRefused)
        );
        assert!(
            TokenVerifier::new(Mode::Production)
                .with_hs256_secret(secret)
                .is_err(),
            "production must refuse to even load an HS256 secret"
        );
    }

    #[test]
    fn a_missing_or_unknown_claim_is_refused() {
        let pair = Ed25519KeyPair::generate();
        let minter = TokenMinter::ed25519(pair.private_pem.as_bytes(), "test").unwrap();
        let verifier = verifier_for(&pair, Mode::Production);
        let exp = chrono::Utc::now().timestamp() + 600;
        let no_org =
            minter.mint_json(&serde_json::json!({"sub":"u","role":"sales","iss":"t","exp":exp}));
        assert!(matches!(
            verifier.verify(&no_org),
            Err(AuthError::InvalidClaims(_))
        ));
        let no_exp =
            minter.mint_json(&serde_json::json!({"sub":"u","org":"o","role":"sales","iss":"t"}));
        assert!(matches!(
            verifier.verify(&no_exp),
            Err(AuthError::InvalidClaims(_))
        ));
        let bad_role = minter
            .mint_json(&serde_json::json!({"sub":"u","org":"o","role":"root","iss":"t","exp":exp}));
        assert!(matches!(
            verifier.verify(&bad_role),
            Err(AuthError::InvalidClaims(_))
        ));
    }

    #[test]
    fn an_untrusted_issuer_is_refused_when_issuers_are_pinned() {
        let pair = Ed25519KeyPair::generate();
        let verifier = verifier_for(&pair, Mode::Production).with_issuers(vec!["idp".into()]);
        let token = TokenMinter::ed25519(pair.private_pem.as_bytes(), "elsewhere")
            .unwrap()
            .mint(&sales(), Duration::from_secs(60));
        assert!(matches!(
            verifier.verify(&token),
            Err(AuthError::InvalidClaims(_))
        ));
    }
}
