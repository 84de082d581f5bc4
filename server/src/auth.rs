//! Bearer tokens and roles: who may call the scoring routes and the admin routes.
//!
//! Two sources of tokens, which add up:
//! - `--admin-token` / `KEEL_ADMIN_TOKEN`: one token with the `admin` role (what turned the
//!   admin routes on before roles existed, and still does);
//! - `--tokens FILE` ([`Tokens::load`]): one `ROLE TOKEN` per line, roles `score` (the scoring
//!   routes, `predict` and `transform`) and `admin` (every route). With a tokens file the
//!   scoring routes need a token; without one they are open, as they always were.
//!
//! Answers: no `Authorization: Bearer ...` header (or a malformed one) or a token that is not
//! known → 401 `unauthorized` with `WWW-Authenticate: Bearer`; a known token whose role does
//! not allow the route → 403 `forbidden`. Admin routes with no admin token configured at all
//! stay 403 `admin_disabled`.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time with every known
//! digest (no early exit), so the response time says neither where a guess first differs, nor
//! its length, nor which entry matched. No token and no `Authorization` header is ever logged:
//! errors name line numbers, [`Tokens`]' `Debug` shows counts only.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use subtle::{Choice, ConstantTimeEq};

/// The shortest token a tokens file accepts: 16 characters, about 96 bits from a random
/// base64 generator, out of reach of guessing over HTTP.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The scoring routes (`predict`, `transform`).
    Score,
    /// Every route: scoring and `/v1/admin/...`.
    Admin,
}

impl Role {
    /// Whether this role may call a route that needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        matches!(
            (self, needed),
            (Role::Admin, _) | (Role::Score, Role::Score)
        )
    }

    fn name(self) -> &'static str {
        match self {
            Role::Score => "score",
            Role::Admin => "admin",
        }
    }
}

/// Why a tokens file was refused at startup. Messages name the file and line, never a token.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// The file could not be read.
    #[error("--tokens {}: cannot read: {source}", path.display())]
    Read {
        /// The tokens file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not `ROLE TOKEN` (one role, one token, whitespace between).
    #[error("--tokens {} line {line}: expected `ROLE TOKEN` (roles: score, admin)", path.display())]
    Malformed {
        /// The tokens file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
    },
    /// A role other than `score` and `admin`.
    #[error("--tokens {} line {line}: unknown role `{role}` (roles: score, admin)", path.display())]
    UnknownRole {
        /// The tokens file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// The role as written (a role is not a secret).
        role: String,
    },
    /// A token shorter than [`MIN_TOKEN_LEN`].
    #[error(
        "--tokens {} line {line}: the token is too short (at least {MIN_TOKEN_LEN} characters)",
        path.display()
    )]
    TooShort {
        /// The tokens file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
    },
    /// The same token twice (with the same or another role): which role it has would be
    /// ambiguous.
    #[error("--tokens {} line {line}: the same token as line {first}", path.display())]
    Duplicate {
        /// The tokens file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// The line where it first appears.
        first: usize,
    },
    /// No token at all: every scoring request would be refused, surely not what was meant.
    #[error("--tokens {}: no tokens (one `ROLE TOKEN` per line)", path.display())]
    Empty {
        /// The tokens file.
        path: PathBuf,
    },
}

/// A token's digest and role.
#[derive(Clone)]
struct Entry {
    digest: [u8; 32],
    role: Role,
}

/// The known tokens: digests and roles only, never the tokens themselves.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
    /// Whether the scoring routes need a token (a tokens file was given).
    protects_scoring: bool,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("tokens", &self.entries.len())
            .field("protects_scoring", &self.protects_scoring)
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// Reads a tokens file (see [`Tokens::parse`]).
    pub fn load(path: &Path) -> Result<Tokens, TokensError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Tokens::parse(&text, path)
    }

    /// Parses a tokens file: `ROLE TOKEN` per line, `#` comments and blank lines allowed. A
    /// tokens file turns on token checks for the scoring routes.
    pub fn parse(text: &str, path: &Path) -> Result<Tokens, TokensError> {
        let mut tokens = Tokens {
            entries: Vec::new(),
            protects_scoring: true,
        };
        let mut lines_of = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let path = || path.to_path_buf();
            let mut words = content.split_whitespace();
            let (Some(role), Some(token), None) = (words.next(), words.next(), words.next()) else {
                return Err(TokensError::Malformed { path: path(), line });
            };
            let role = match role {
                "score" => Role::Score,
                "admin" => Role::Admin,
                other => {
                    return Err(TokensError::UnknownRole {
                        path: path(),
                        line,
                        role: other.to_string(),
                    });
                }
            };
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(TokensError::TooShort { path: path(), line });
            }
            let digest = digest(token);
            // Startup only, so a plain comparison is fine here: no attacker times it.
            if let Some(first) = tokens.entries.iter().position(|e| e.digest == digest) {
                return Err(TokensError::Duplicate {
                    path: path(),
                    line,
                    first: lines_of[first],
                });
            }
            tokens.entries.push(Entry { digest, role });
            lines_of.push(line);
        }
        if tokens.entries.is_empty() {
            return Err(TokensError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(tokens)
    }

    /// Adds the `--admin-token` / `KEEL_ADMIN_TOKEN` token (any length: it always was).
    pub fn with_admin_token(mut self, token: &str) -> Tokens {
        let digest = digest(token);
        if !self.entries.iter().any(|e| e.digest == digest) {
            self.entries.push(Entry {
                digest,
                role: Role::Admin,
            });
        }
        self
    }

    /// Whether the scoring routes need a token.
    pub fn protects_scoring(&self) -> bool {
        self.protects_scoring
    }

    /// Whether any token may call the admin routes (which are off otherwise).
    pub fn has_admin(&self) -> bool {
        self.entries.iter().any(|e| e.role == Role::Admin)
    }

    /// How many tokens are known, by role (score, admin), for the startup log line.
    pub fn counts(&self) -> (usize, usize) {
        let admin = self
            .entries
            .iter()
            .filter(|e| e.role == Role::Admin)
            .count();
        (self.entries.len() - admin, admin)
    }

    /// The role of `given`, if it is a known token. Every entry is compared, in constant time,
    /// whatever matches: the time depends on the number of tokens only.
    pub fn role_of(&self, given: &str) -> Option<Role> {
        let given = digest(given);
        let mut score = Choice::from(0);
        let mut admin = Choice::from(0);
        for e in &self.entries {
            let hit = e.digest[..].ct_eq(&given[..]);
            match e.role {
                Role::Score => score |= hit,
                Role::Admin => admin |= hit,
            }
        }
        if bool::from(admin) {
            Some(Role::Admin)
        } else if bool::from(score) {
            Some(Role::Score)
        } else {
            None
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` header; `None` when the header is absent,
/// not text, another scheme, or has no token.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The answer to a request for a route that needs `needed`: `None` lets it through.
fn check(tokens: &Tokens, headers: &HeaderMap, needed: Role) -> Option<AppError> {
    let what = match needed {
        Role::Score => "the scoring API",
        Role::Admin => "the admin API",
    };
    let Some(token) = bearer(headers) else {
        return Some(AppError::unauthorized(format!(
            "{what} needs `Authorization: Bearer <token>`"
        )));
    };
    match tokens.role_of(token) {
        None => Some(AppError::unauthorized("the token is not valid")),
        Some(role) if role.allows(needed) => None,
        Some(role) => Some(AppError::forbidden(format!(
            "a `{}` token may not call {what}",
            role.name()
        ))),
    }
}

/// Middleware of the scoring routes: open without a tokens file; otherwise a `score` or
/// `admin` token.
pub async fn require_score(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = &state.tokens;
    if tokens.protects_scoring()
        && let Some(refusal) = check(tokens, request.headers(), Role::Score)
    {
        return refusal.into_response();
    }
    next.run(request).await
}

/// Middleware of the admin routes: 403 `admin_disabled` when no token has the admin role;
/// otherwise an `admin` token.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = &state.tokens;
    if !tokens.has_admin() {
        return AppError::admin_disabled().into_response();
    }
    match check(tokens, request.headers(), Role::Admin) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "score-token-0123456789";
    const A: &str = "admin-token-0123456789";

    fn parse(text: &str) -> Result<Tokens, TokensError> {
        Tokens::parse(text, Path::new("tokens.txt"))
    }

    #[test]
    fn roles_parse_with_comments_and_blank_lines() {
        let t = parse(&format!(
            "# keys\n\nscore {S}\n  admin\t{A}  # not a comment\n"
        ));
        // A trailing `# ...` is a third word: refused, not silently part of the token.
        assert!(matches!(t, Err(TokensError::Malformed { line: 4, .. })));
        let t = parse(&format!("# keys\n\nscore {S}\n  admin\t{A}\n")).unwrap();
        assert_eq!(t.role_of(S), Some(Role::Score));
        assert_eq!(t.role_of(A), Some(Role::Admin));
        assert_eq!(t.role_of("score-token-012345678"), None);
        assert_eq!(t.role_of(""), None);
        assert!(t.protects_scoring() && t.has_admin());
        assert_eq!(t.counts(), (1, 1));
    }

    #[test]
    fn bad_lines_are_named_and_tokens_never_shown() {
        let cases: [(String, usize, &str); 5] = [
            (format!("score {S}\nscore\n"), 2, "expected `ROLE TOKEN`"),
            (format!("reader {S}\n"), 1, "unknown role `reader`"),
            ("score short\n".into(), 1, "too short"),
            (
                format!("score {S}\n\nadmin {S}\n"),
                3,
                "same token as line 1",
            ),
            (format!("score {S} extra\n"), 1, "expected `ROLE TOKEN`"),
        ];
        for (text, line, what) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(&format!("tokens.txt line {line}:")), "{e}");
            assert!(e.contains(what), "{e}");
            assert!(!e.contains(S), "{e}");
        }
        let e = parse("# nothing\n\n").unwrap_err().to_string();
        assert!(e.contains("no tokens"), "{e}");
        assert!(!format!("{:?}", parse(&format!("score {S}")).unwrap()).contains(S));
    }

    #[test]
    fn the_admin_token_adds_an_admin_role() {
        let t = Tokens::default().with_admin_token("s3cret");
        assert!(!t.protects_scoring());
        assert_eq!(t.role_of("s3cret"), Some(Role::Admin));
        assert_eq!(t.role_of("s3cre"), None);
        assert_eq!(t.role_of("s3cret "), None);
        assert!(!Tokens::default().has_admin());
    }

    #[test]
    fn bearer_headers_parse_strictly() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, v.parse().unwrap());
            m
        };
        assert_eq!(bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&h("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&h("Basic abc")), None);
        assert_eq!(bearer(&h("Bearer")), None);
        assert_eq!(bearer(&h("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
        assert!(Role::Admin.allows(Role::Score) && !Role::Score.allows(Role::Admin));
    }
}
