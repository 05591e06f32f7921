//! Authentication (API keys, anonymous access) and authorization (the admin list), as
//! Weaviate does them, for REST and gRPC alike.
//!
//! * Anonymous access disabled and no `Authorization: Bearer …` → 401 (gRPC
//!   `UNAUTHENTICATED`) with Weaviate's message; an unknown key → 401 `unauthorized: invalid api
//!   key`. Keys are compared in constant time and never logged.
//! * With the admin list enabled, admins may do everything, read-only users may read, everyone
//!   else gets 403 (gRPC `PERMISSION_DENIED`) with Weaviate's message.
//! * Open without credentials, as in Weaviate: `/v1`, `/v1/.well-known/live`, `…/ready`,
//!   `…/openid-configuration`, and the gRPC health service.

use std::collections::HashSet;

/// Settings, filled by the binary from Weaviate's variables.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// `AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED` (true when no method is enabled).
    pub anonymous: bool,
    /// `AUTHENTICATION_APIKEY_ENABLED`.
    pub apikey: bool,
    /// (key, user) pairs from `AUTHENTICATION_APIKEY_ALLOWED_KEYS` / `_USERS`.
    pub keys: Vec<(String, String)>,
    /// `AUTHORIZATION_ADMINLIST_ENABLED` with `_USERS` and `_READONLY_USERS`.
    pub adminlist: Option<AdminList>,
}

// Keys must never reach a log line, not even through `{:?}`.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("anonymous", &self.anonymous)
            .field("apikey", &self.apikey)
            .field("keys", &format_args!("{} keys (hidden)", self.keys.len()))
            .field("adminlist", &self.adminlist)
            .finish()
    }
}

/// Who may do what when the admin list is enabled.
#[derive(Debug, Clone, Default)]
pub struct AdminList {
    /// May read and write.
    pub admins: HashSet<String>,
    /// May read.
    pub readonly: HashSet<String>,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name (`anonymous` without credentials).
    pub user: String,
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only.
    Read,
    /// Changes data or schema.
    Write,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// 401 / UNAUTHENTICATED.
    Unauthenticated(String),
    /// 403 / PERMISSION_DENIED.
    Forbidden(String),
}

/// Compares in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

impl AuthConfig {
    /// Anonymous access only (the default when nothing is configured).
    pub fn open() -> Self {
        Self {
            anonymous: true,
            ..Self::default()
        }
    }

    fn methods(&self) -> String {
        if self.apikey {
            "API-keys".into()
        } else {
            String::new()
        }
    }

    /// Who sent a request with this `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            if self.anonymous {
                return Ok(Principal {
                    user: "anonymous".into(),
                });
            }
            return Err(AuthError::Unauthenticated(format!(
                "anonymous access not enabled. Please authenticate through one of the available methods: [{}]",
                self.methods()
            )));
        };
        // Every key is compared, so the time does not tell which one (nearly) matched.
        let mut found = None;
        for (key, user) in &self.keys {
            if constant_time_eq(key.as_bytes(), token.as_bytes()) && found.is_none() {
                found = Some(user);
            }
        }
        match found {
            Some(user) if self.apikey => Ok(Principal { user: user.clone() }),
            _ => Err(AuthError::Unauthenticated(
                "unauthorized: invalid api key".into(),
            )),
        }
    }

    /// Whether `who` may `access` (`verb` and `resource` name it in the refusal).
    pub fn authorize(
        &self,
        who: &Principal,
        access: Access,
        verb: &str,
        resource: &str,
    ) -> Result<(), AuthError> {
        let Some(list) = &self.adminlist else {
            return Ok(());
        };
        if list.admins.contains(&who.user)
            || (access == Access::Read && list.readonly.contains(&who.user))
        {
            return Ok(());
        }
        Err(AuthError::Forbidden(format!(
            "adminlist: authorization, forbidden action: user '{}' has insufficient permissions to {verb} [{resource}]",
            who.user
        )))
    }
}

/// Paths answered without credentials, as in Weaviate.
pub fn is_open_path(path: &str) -> bool {
    matches!(
        path,
        "/v1"
            | "/v1/"
            | "/v1/.well-known/live"
            | "/v1/.well-known/ready"
            | "/v1/.well-known/openid-configuration"
    )
}

/// What a REST request does: reads are GET/HEAD and the POSTs that only read.
pub fn rest_access(method: &axum::http::Method, path: &str) -> (Access, &'static str) {
    use axum::http::Method;
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => (Access::Read, "read"),
        Method::POST
            if path == "/v1/graphql"
                || path == "/v1/graphql/batch"
                || path == "/v1/objects/validate" =>
        {
            (Access::Read, "read")
        }
        Method::POST => (Access::Write, "create"),
        Method::DELETE => (Access::Write, "delete"),
        _ => (Access::Write, "update"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig {
            anonymous: false,
            apikey: true,
            keys: vec![
                ("admin-key".into(), "alice".into()),
                ("reader-key".into(), "bob".into()),
            ],
            adminlist: Some(AdminList {
                admins: ["alice".to_string()].into(),
                readonly: ["bob".to_string()].into(),
            }),
        }
    }

    #[test]
    fn keys_authenticate_their_users_and_nothing_else_does() {
        let c = config();
        assert_eq!(
            c.authenticate(Some("Bearer admin-key")).unwrap().user,
            "alice"
        );
        assert_eq!(
            c.authenticate(Some("Bearer reader-key")).unwrap().user,
            "bob"
        );
        for bad in [
            Some("Bearer admin-ke"),
            Some("Bearer admin-key2"),
            Some("Basic admin-key"),
        ] {
            assert!(
                matches!(c.authenticate(bad), Err(AuthError::Unauthenticated(_))),
                "{bad:?}"
            );
        }
        let Err(AuthError::Unauthenticated(m)) = c.authenticate(None) else {
            panic!("anonymous was let in")
        };
        assert_eq!(
            m,
            "anonymous access not enabled. Please authenticate through one of the available methods: [API-keys]"
        );
        let open = AuthConfig::open();
        assert_eq!(open.authenticate(None).unwrap().user, "anonymous");
    }

    #[test]
    fn the_admin_list_lets_readers_read_and_admins_write() {
        let c = config();
        let alice = Principal {
            user: "alice".into(),
        };
        let bob = Principal { user: "bob".into() };
        let eve = Principal { user: "eve".into() };
        assert!(c.authorize(&alice, Access::Write, "create", "x").is_ok());
        assert!(c.authorize(&bob, Access::Read, "read", "x").is_ok());
        let Err(AuthError::Forbidden(m)) =
            c.authorize(&bob, Access::Write, "create", "/v1/objects")
        else {
            panic!("a reader wrote")
        };
        assert_eq!(
            m,
            "adminlist: authorization, forbidden action: user 'bob' has insufficient permissions to create [/v1/objects]"
        );
        assert!(c.authorize(&eve, Access::Read, "read", "x").is_err());
        let no_list = AuthConfig {
            adminlist: None,
            ..c
        };
        assert!(
            no_list
                .authorize(&eve, Access::Write, "create", "x")
                .is_ok()
        );
    }

    #[test]
    fn graphql_queries_are_reads() {
        use axum::http::Method;
        for path in ["/v1/graphql", "/v1/graphql/batch", "/v1/objects/validate"] {
            assert_eq!(rest_access(&Method::POST, path).0, Access::Read, "{path}");
        }
        assert_eq!(rest_access(&Method::POST, "/v1/objects").0, Access::Write);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn debug_output_hides_the_keys() {
        let text = format!("{:?}", config());
        assert!(
            !text.contains("admin-key") && !text.contains("reader-key"),
            "{text}"
        );
    }
}
