//! Who is calling: bearer-JWT verification shared by every leadflow service.
//!
//! Every RPC carries `authorization: Bearer <JWT>` with the claims `sub` (user
//! id), `org` (organisation id), `role`, `iss` and `exp`. [`AuthLayer`] verifies
//! it before any handler runs and puts a typed [`Caller`] into the request
//! extensions; handlers take it with [`Caller::from_request`].
//!
//! Tokens are verified with public keys (EdDSA or ES256, from PEM files or a
//! JWKS file) so that no service can forge a user's token. A shared HS256
//! secret is accepted only in [`Mode::Development`]; production refuses HS256
//! tokens outright. `alg: none` never parses.

mod caller;
mod dev;
mod layer;
mod mint;
mod verify;

pub use caller::{Caller, Role, UnknownRole};
pub use dev::{DEVELOPMENT_KEY_MARKER, is_development_key, mark_as_development};
pub use layer::{AuthLayer, AuthService, PUBLIC_PATH_PREFIXES};
pub use mint::{Ed25519KeyPair, TokenMinter};
pub use verify::{AuthArgs, AuthError, Claims, Mode, TokenVerifier};
