use super::*;

fn record(id: u64, secret: &str, role: Role, revoked: bool) -> TokenRecord {
    TokenRecord {
        id,
        name: format!("t{id}"),
        role,
        project_id: id * 10,
        sha256: sha256_hex(secret),
        created: "2026-01-01T00:00:00Z".into(),
        revoked: revoked.then(|| "2026-01-02T00:00:00Z".into()),
    }
}

#[test]
fn secrets_are_random_prefixed_and_stored_as_hashes() {
    let a = generate_secret().unwrap();
    let b = generate_secret().unwrap();
    assert_ne!(a, b);
    assert!(a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 64);
    let h = sha256_hex(&a);
    assert_eq!(h.len(), 64);
    assert!(!h.contains(&a[SECRET_PREFIX.len()..]));
}

#[test]
fn authorization_takes_token_and_bearer() {
    assert_eq!(parse_authorization(b"Token abc").unwrap(), "abc");
    assert_eq!(parse_authorization(b"bearer abc").unwrap(), "abc");
    assert_eq!(parse_authorization(b"Basic abc"), Err(AuthError::Malformed));
    assert_eq!(parse_authorization(b"Token"), Err(AuthError::Malformed));
    assert_eq!(parse_authorization(b"Token a b"), Err(AuthError::Malformed));
}

#[test]
fn authenticate_finds_active_tokens_only() {
    let tokens = [
        record(1, "s1", Role::Read, false),
        record(2, "s2", Role::Admin, true),
    ];
    let c = authenticate(tokens.iter(), "s1").unwrap();
    assert_eq!(c.token_id, Some(1));
    assert_eq!(c.project_id, 10);
    assert!(c.has(Role::Read) && !c.has(Role::Submit));
    assert!(c.sees(10) && !c.sees(20));
    assert_eq!(
        authenticate(tokens.iter(), "s2"),
        Err(AuthError::Revoked(2))
    );
    assert_eq!(authenticate(tokens.iter(), "nope"), Err(AuthError::Unknown));
}

#[test]
fn admins_see_every_project() {
    let c = Caller::from_token(&record(3, "s3", Role::Admin, false));
    assert!(c.sees(0) && c.sees(99) && c.has(Role::Submit));
    assert!(Caller::open().has(Role::Admin));
}
