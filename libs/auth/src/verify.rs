//! Token verification: which keys are trusted, and which tokens are refused.

use std::fmt;
use std::path::PathBuf;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::{Caller, Role};

/// How strict the deployment is. Development (`make run`, tests) accepts a
/// shared HS256 secret; production accepts only public-key signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Development,
    Production,
}

/// The claims every leadflow token carries. All are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Becomes [`Caller::user_id`]: the user (or integration / service name) who acts.
    pub sub: String,
    /// Becomes [`Caller::org_id`]: the organisation the request is scoped to.
    pub org: String,
    /// Becomes [`Caller::role`] (one of the [`Role`] claim spellings); unknown ones are refused.
    pub role: String,
    /// Who issued the token; checked against `LEADFLOW_AUTH_ISSUERS` when that is set.
    pub iss: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// Where trusted keys come from. Flatten it into a service's configuration.
#[derive(clap::Args, Clone)]
pub struct AuthArgs {
    /// `development` accepts HS256 tokens signed with LEADFLOW_AUTH_HS256_SECRET;
    /// `production` refuses them.
    #[arg(
        long = "env",
        env = "LEADFLOW_ENV",
        value_enum,
        default_value = "development"
    )]
    pub mode: Mode,
    /// PEM files with EdDSA (Ed25519) or ES256 (P-256) public keys, comma-separated.
    #[arg(long, env = "LEADFLOW_AUTH_PUBLIC_KEYS", value_delimiter = ',')]
    pub auth_public_keys: Vec<PathBuf>,
    /// A JWKS file with EdDSA or ES256 public keys (matched by `kid`).
    #[arg(long, env = "LEADFLOW_AUTH_JWKS_FILE")]
    pub auth_jwks_file: Option<PathBuf>,
    /// Development only: the HS256 shared secret.
    #[arg(long, env = "LEADFLOW_AUTH_HS256_SECRET", hide_env_values = true)]
    pub auth_hs256_secret: Option<String>,
    /// Accepted `iss` values, comma-separated. Empty: any issuer.
    #[arg(long, env = "LEADFLOW_AUTH_ISSUERS", value_delimiter = ',')]
    pub auth_issuers: Vec<String>,
}

impl AuthArgs {
    /// Whether this deployment runs with `LEADFLOW_ENV=production`, where
    /// development shortcuts (SQLite, HS256, development keys) are refused.
    pub fn is_production(&self) -> bool {
        self.mode == Mode::Production
    }
}

impl fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("AuthArgs")
            .field("mode", &self.mode)
            .field("auth_public_keys", &self.auth_public_keys)
            .field("auth_jwks_file", &self.auth_jwks_file)
            .field(
                "auth_hs256_secret",
                &self.auth_hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("auth_issuers", &self.auth_issuers)
            .finish()
    }
}

/// Why a token (or the key configuration) was refused. Every token error is
/// UNAUTHENTICATED on the wire; the message says which rule it broke without
/// echoing the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed bearer token")]
    Malformed,
    #[error("token expired")]
    Expired,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("HS256 tokens are refused in production")]
    SymmetricRefused,
    #[error("token algorithm {0} is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("token claims are invalid: {0}")]
    InvalidClaims(String),
    #[error("auth configuration: {0}")]
    Config(String),
}

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        tonic::Status::unauthenticated(error.to_string())
    }
}

/// One trusted public key.
struct PublicKey {
    /// From the JWKS: a token naming another `kid` is not tried against this key.
    kid: Option<String>,
    /// EdDSA or ES256: only tokens whose header names it are tried against this key.
    algorithm: Algorithm,
    /// Checks the signatures of tokens that pass the two filters above.
    key: DecodingKey,
}

/// Most verified tokens remembered at once (a few MB at most).
const VERIFIED_CACHE_SIZE: usize = 10_000;

/// Verifies bearer tokens against the configured keys.
pub struct TokenVerifier {
    /// Production refuses HS256 tokens even when a secret is somehow configured.
    mode: Mode,
    /// Every trusted key (PEM files and JWKS); EdDSA and ES256 tokens must verify against one.
    public_keys: Vec<PublicKey>,
    /// Only ever set in development mode.
    hs256: Option<DecodingKey>,
    /// Accepted `iss` values (empty: any); other issuers are refused even with a trusted key.
    issuers: Vec<String>,
    /// Tokens already verified, with their expiry: a caller reusing its token
    /// (leads calling routing thousands of times a second) pays for the
    /// signature check once. Only the exact same token string hits.
    verified: std::sync::Mutex<std::collections::HashMap<String, (Caller, u64)>>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("mode", &self.mode)
            .field("public_keys", &self.public_keys.len())
            .field("hs256", &self.hs256.is_some())
            .field("issuers", &self.issuers)
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier with no keys yet; add them with the `with_*` methods.
    pub fn new(mode: Mode) -> Self {
        TokenVerifier {
            mode,
            public_keys: Vec::new(),
            hs256: None,
            issuers: Vec::new(),
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Builds the verifier a service's configuration asks for. Refuses a
    /// configuration that could never verify a token, and an HS256 secret in
    /// production.
    pub fn from_args(args: &AuthArgs) -> Result<Self, AuthError> {
        let mut verifier = TokenVerifier::new(args.mode).with_issuers(args.auth_issuers.clone());
        for path in &args.auth_public_keys {
            let pem = std::fs::read(path)
                .map_err(|e| AuthError::Config(format!("reading {}: {e}", path.display())))?;
            if args.mode == Mode::Production && crate::is_development_key(&pem) {
                return Err(AuthError::Config(format!(
                    "{} is a development key (generated by `make run`); in production \
                     LEADFLOW_AUTH_PUBLIC_KEYS must name your identity provider's public keys",
                    path.display()
                )));
            }
            verifier = verifier.with_public_key_pem(&pem, None)?;
        }
        if let Some(path) = &args.auth_jwks_file {
            let json = std::fs::read_to_string(path)
                .map_err(|e| AuthError::Config(format!("reading {}: {e}", path.display())))?;
            verifier = verifier.with_jwks_json(&json)?;
        }
        if let Some(secret) = &args.auth_hs256_secret {
            verifier = verifier.with_hs256_secret(secret.as_bytes())?;
        }
        if verifier.public_keys.is_empty() && verifier.hs256.is_none() {
            return Err(AuthError::Config(
                "no verification keys: set LEADFLOW_AUTH_PUBLIC_KEYS or LEADFLOW_AUTH_JWKS_FILE \
                 (or LEADFLOW_AUTH_HS256_SECRET in development)"
                    .into(),
            ));
        }
        Ok(verifier)
    }

    /// Only tokens whose `iss` is one of these are accepted (empty: any).
    pub fn with_issuers(mut self, issuers: Vec<String>) -> Self {
        self.issuers = issuers;
        self
    }

    /// Trusts an EdDSA (Ed25519) or ES256 (P-256) public key in PEM form.
    pub fn with_public_key_pem(
        mut self,
        pem: &[u8],
        kid: Option<String>,
    ) -> Result<Self, AuthError> {
        let (algorithm, key) = if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            (Algorithm::EdDSA, key)
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            (Algorithm::ES256, key)
        } else {
            return Err(AuthError::Config(
                "public key PEM is neither Ed25519 nor P-256".into(),
            ));
        };
        self.public_keys.push(PublicKey {
            kid,
            algorithm,
            key,
        });
        Ok(self)
    }

    /// Trusts every Ed25519 and P-256 key of a JWKS document.
    pub fn with_jwks_json(mut self, json: &str) -> Result<Self, AuthError> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| AuthError::Config(format!("JWKS: {e}")))?;
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                    Algorithm::EdDSA
                }
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => continue, // Keys of other types are not trusted, not fatal.
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| AuthError::Config(format!("JWKS key: {e}")))?;
            self.public_keys.push(PublicKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            });
        }
        if self.public_keys.is_empty() {
            return Err(AuthError::Config("JWKS has no Ed25519 or P-256 key".into()));
        }
        Ok(self)
    }

    /// Development only: trusts HS256 tokens signed with this secret.
    pub fn with_hs256_secret(mut self, secret: &[u8]) -> Result<Self, AuthError> {
        if self.mode == Mode::Production {
            return Err(AuthError::Config(
                "LEADFLOW_AUTH_HS256_SECRET is refused in production; use public keys".into(),
            ));
        }
        if secret.len() < 16 {
            return Err(AuthError::Config(
                "LEADFLOW_AUTH_HS256_SECRET must be at least 16 bytes".into(),
            ));
        }
        self.hs256 = Some(DecodingKey::from_secret(secret));
        Ok(self)
    }

    /// The deployment mode this verifier enforces.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Verifies a raw `authorization` header value (`Bearer <jwt>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?
            .trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        self.verify(token)
    }

    /// Verifies a compact JWT and returns the caller it names.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        {
            let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((caller, exp)) = verified.get(token)
                && *exp > now
            {
                return Ok(caller.clone());
            }
        }
        let (caller, exp) = self.verify_uncached(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CACHE_SIZE {
            verified.retain(|_, (_, exp)| *exp > now);
            if verified.len() >= VERIFIED_CACHE_SIZE {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), (caller.clone(), exp));
        Ok(caller)
    }

    fn verify_uncached(&self, token: &str) -> Result<(Caller, u64), AuthError> {
        // `alg: none` (and any name jsonwebtoken does not know) fails here.
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        let claims = match header.alg {
            Algorithm::HS256 => {
                if self.mode == Mode::Production {
                    return Err(AuthError::SymmetricRefused);
                }
                let key = self.hs256.as_ref().ok_or(AuthError::SymmetricRefused)?;
                self.decode_with(token, Algorithm::HS256, key)?
            }
            alg @ (Algorithm::EdDSA | Algorithm::ES256) => {
                let mut candidates = self.public_keys.iter().filter(|k| {
                    k.algorithm == alg
                        && match (&header.kid, &k.kid) {
                            (Some(wanted), Some(have)) => wanted == have,
                            _ => true,
                        }
                });
                let mut outcome = Err(AuthError::BadSignature);
                for candidate in &mut candidates {
                    outcome = self.decode_with(token, alg, &candidate.key);
                    if !matches!(outcome, Err(AuthError::BadSignature)) {
                        break;
                    }
                }
                outcome?
            }
            other => return Err(AuthError::UnsupportedAlgorithm(format!("{other:?}"))),
        };
        let role: Role = claims
            .role
            .parse()
            .map_err(|e: crate::UnknownRole| AuthError::InvalidClaims(e.to_string()))?;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::InvalidClaims("empty sub".into()));
        }
        if claims.org.trim().is_empty() {
            return Err(AuthError::InvalidClaims("empty org".into()));
        }
        Ok((Caller::new(claims.sub, claims.org, role), claims.exp))
    }

    fn decode_with(
        &self,
        token: &str,
        alg: Algorithm,
        key: &DecodingKey,
    ) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.validate_aud = false;
        validation.leeway = 30;
        if !self.issuers.is_empty() {
            validation.set_issuer(&self.issuers);
        }
        decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::InvalidClaims(format!("missing {claim}"))
                }
                ErrorKind::InvalidIssuer => AuthError::InvalidClaims("issuer not trusted".into()),
                ErrorKind::Json(_) => AuthError::InvalidClaims("missing or malformed claim".into()),
                _ => AuthError::Malformed,
            })
    }
}
